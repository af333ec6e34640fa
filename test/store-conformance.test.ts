import { CachingProviderStore, InMemoryMessageLog, InMemoryProviderStore } from 'messagepipe';
import { messageLogStoreConformance, providerStoreConformance } from 'messagepipe/testing';
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

describe('the message log of InMemoryProviderStore', () => {
  for (const check of messageLogStoreConformance({ create: () => new InMemoryProviderStore() })) {
    it(check.name, check.run);
  }
});

describe('InMemoryMessageLog', () => {
  for (const check of messageLogStoreConformance({ create: () => new InMemoryMessageLog() })) {
    it(check.name, check.run);
  }
});
