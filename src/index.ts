export {
  type Adapter,
  type AdapterCallContext,
  type AdapterDefinition,
  type AnyAdapter,
  ClientPool,
  defaultLogger,
  defineAdapter,
  type Logger,
  loadOptional,
  type SendContext,
  type SendReceipt,
} from './adapter';
export {
  Dispatcher,
  type DispatcherOptions,
  type EmailSendInput,
  type SendInput,
  type SendOptions,
  type SmsSendInput,
} from './dispatcher';
export {
  type CoreErrorCode,
  type ErrorCode,
  type FailureClass,
  failureClassOf,
  isMessagePipeError,
  isProviderError,
  MessagePipeError,
  type MessagePipeErrorOptions,
  ProviderError,
  type ProviderErrorCode,
  type ProviderErrorOptions,
  type ValidationIssue,
} from './errors';
export type { BreakerEvent, DispatcherEventName, DispatcherEvents, SendEventBase } from './events';
export type { BreakerSnapshot, BreakerState, CircuitBreakerOptions } from './failover/breaker';
export type { RetryOptions } from './failover/engine';
export type { ProviderStats } from './failover/stats';
export type {
  AddProviderInput,
  ListProvidersInput,
  ProviderPatch,
  ProviderRef,
  ProvidersApi,
  ResealFailure,
  ResealOptions,
  ResealProgress,
  ResealResult,
  ValidationResult,
  WriteOptions,
} from './providers-api';
export {
  assertWellFormed,
  credentialTarget,
  idempotencyKeySchema,
  isIdempotencyKey,
  isWellFormedText,
  secret,
} from './schemas/fields';
export type { JsonSchema } from './schemas/json-schema';
export {
  EMAIL_LIMITS,
  type EmailMessageInput,
  emailMessageSchema,
  type SmsMessageInput,
  smsMessageSchema,
} from './schemas/message';
export {
  type BuiltInConfigs,
  builtInProviders,
  type MailgunConfig,
  mailgunConfigSchema,
  type PostmarkConfig,
  postmarkConfigSchema,
  type SendgridConfig,
  type SesConfig,
  type SmtpConfig,
  type SnsConfig,
  sendgridConfigSchema,
  sesConfigSchema,
  smtpConfigSchema,
  snsConfigSchema,
  type TermiiConfig,
  type TwilioConfig,
  termiiConfigSchema,
  twilioConfigSchema,
} from './schemas/providers';
export type { SenderInput } from './schemas/sender';
export { generateSecretKey, type SecretsOptions } from './sealing';
export type { GetSenderInput, SendersApi } from './senders-api';
export { CachingProviderStore, type ProviderCacheOptions } from './store/caching';
export { compareProviderRecords, InMemoryProviderStore } from './store/in-memory';
export type { ProviderCursor, ProviderListFilter, ProviderScanPage, ProviderStore } from './store/types';
export type { SpanLike, TracerLike, TracingOptions } from './telemetry';
export type {
  Attempt,
  AttemptError,
  BuiltInProviderName,
  Channel,
  CredentialState,
  DomainStatus,
  EmailAddress,
  EmailAttachment,
  EmailProviderName,
  EmailSenderConfig,
  OutboundEmail,
  OutboundMessage,
  OutboundSms,
  ProviderRecord,
  SenderConfig,
  SendResult,
  SmsProviderName,
  SmsSenderConfig,
  StoredProviderRecord,
  VerifyResult,
} from './types';
