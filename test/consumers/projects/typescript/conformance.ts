import { providerStoreConformance } from 'messagepipe/testing';
import { describe, it } from 'vitest';
import { MyStore } from './my-store.js';

describe('MyStore', () => {
  const checks = providerStoreConformance({
    create: () => MyStore.open({ database: 'test' }), // an empty store for each case
    destroy: (store) => store.close(), // a MyStore: close connections, drop tables…
  });
  for (const check of checks) it(check.name, check.run);
});
