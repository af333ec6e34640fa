import { InMemoryProviderStore } from 'messagepipe';
import { providerStoreConformance } from 'messagepipe/testing';
import { describe, it } from 'vitest';

describe('InMemoryProviderStore conformance', () => {
  for (const check of providerStoreConformance({ create: () => new InMemoryProviderStore() })) {
    it(check.name, check.run);
  }
});
