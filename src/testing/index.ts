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
  type MessageLogConformanceOptions,
  messageLogStoreConformance,
  providerStoreConformance,
  type StoreConformanceOptions,
  sampleDeliveryEvent,
  sampleRecord,
  sampleSend,
  scanAll,
} from './store-conformance';
