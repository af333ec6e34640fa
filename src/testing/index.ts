export {
  createMockAdapter,
  type MockAdapter,
  type MockAdapterOptions,
  type MockBehaviour,
  type MockCall,
  type MockFailure,
  type MockSuccess,
} from './mock-adapter';
export {
  type ConformanceCase,
  providerStoreConformance,
  type StoreConformanceOptions,
  sampleRecord,
  scanAll,
} from './store-conformance';
