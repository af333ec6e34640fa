export {
  type Adapter,
  type AdapterCallContext,
  type AdapterDefinition,
  type AnyAdapter,
  type BuiltInAdapter,
  ClientPool,
  defaultLogger,
  defineAdapter,
  type Logger,
  loadOptional,
  type ProviderLimits,
  type SendContext,
  type SendReceipt,
} from './adapter';
export {
  type AddSuppressionInput,
  type GetMessageInput,
  type ListSuppressionsInput,
  type MessageState,
  MessagesApi,
  type MessageView,
  type SuppressionList,
  type SuppressionRef,
  SuppressionsApi,
} from './delivery/apis';
export { correlationIdOf, normaliseRecipient } from './delivery/normalise';
export type { AutoSuppressPolicy, SuppressionOptions } from './delivery/service';
export {
  compareDeliveryEvents,
  InMemoryMessageLog,
  isMessageLogStore,
  type MessageLogStore,
  type SentMessageQuery,
  type SentMessageRecord,
  type SuppressionPage,
  type SuppressionReason,
  type SuppressionRecord,
} from './delivery/store';
export type {
  AdapterWebhook,
  DeliveryEvent,
  DeliveryEventType,
  PendingSubscription,
  ProviderDeliveryEvent,
  ReplayCache,
  WebhookCache,
  WebhookContext,
  WebhookRequest,
  WebhookVerdict,
} from './delivery/types';
export {
  type FetchHandlerOptions,
  MemoryReplayCache,
  type WebhookInput,
  type WebhookOptions,
  type WebhookResult,
  WebhooksApi,
} from './delivery/webhooks-api';
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
  isProviderErrorCode,
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
  ConfigUpdatesOf,
  ListProvidersInput,
  ProviderConfigInput,
  ProviderConfigUpdate,
  ProviderNameOf,
  ProviderPatch,
  ProviderRef,
  ProvidersApi,
  ProviderTestMessage,
  ResealFailure,
  ResealOptions,
  ResealProgress,
  ResealResult,
  SchemaProviderName,
  ValidationResult,
  WriteOptions,
} from './providers-api';
export { addProviderInputSchema, providerPatchSchema } from './providers-api';
export type { ConfigInput, ConfigUpdateInput } from './schemas/config-input';
export {
  assertWellFormed,
  credentialTarget,
  idempotencyKeySchema,
  isIdempotencyKey,
  isWellFormedText,
  type Secret,
  type SecretMark,
  secret,
  toIssues,
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
  type BuiltInProviders,
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
export { emailSenderSchema, type SenderInput, smsSenderSchema } from './schemas/sender';
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
