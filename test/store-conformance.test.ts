import { CachingProviderStore, InMemoryProviderStore } from 'messagepipe';
import { providerStoreConformance } from 'messagepipe/testing';
import { describe, it } from 'vitest';

describe('InMemoryProviderStore', () => {
  for (const check of providerStoreConformance({ create: () => new InMemoryProviderStore() })) {
    it(check.name, check.run);
  }
});

describe('CachingProviderStore around the memory store', () => {
  for (const check of providerStoreConformance({
    create: () => new CachingProviderStore(new InMemoryProviderStore(), { ttlMs: 60_000 }),
  })) {
    it(check.name, check.run);
  }
});
