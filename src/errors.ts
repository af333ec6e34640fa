import type { Attempt } from './types';

/**
 * How a failed attempt is handled by the dispatcher.
 * - `transient`: the provider may accept the same request later (network, timeout, 429, 5xx): retry, then fail over.
 * - `provider`: this provider cannot send for this project right now (auth, unverified sender, suspended account):
 *   fail over at once.
 * - `message`: the message itself is refused (invalid or suppressed recipient, rejected content): stop, because
 *   another provider would fail the same way or deliver what should not be delivered.
 */
export type FailureClass = 'transient' | 'provider' | 'message';

/** Error codes raised by the core for bad input, missing records and dispatcher outcomes. */
export type CoreErrorCode =
  | 'CONFIG_INVALID'
  | 'MESSAGE_INVALID'
  | 'SENDER_INVALID'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'NOT_SUPPORTED'
  | 'NO_PROVIDERS'
  | 'CHANNEL_DISABLED'
  | 'ALL_PROVIDERS_FAILED'
  | 'ABORTED'
  | 'DISPATCHER_CLOSED'
  /**
   * The provider store did not answer a send's reads (providers, sender) within the send deadline
   * (`sendTimeoutMs`). Transient: nothing was sent, and the queue runs the job again.
   */
  | 'STORE_UNAVAILABLE'
  /** Stored secrets are sealed with a key id the dispatcher was not given (`secrets.keys`). */
  | 'SECRET_KEY_MISSING'
  /** Stored secrets cannot be opened: wrong key, altered text, or sealed for another record. */
  | 'SECRET_INVALID';

/**
 * Error codes that classify one failed provider call. Each maps to exactly one {@link FailureClass}
 * (see {@link failureClassOf}), so the class never disagrees with the code.
 */
export type ProviderErrorCode =
  // transient
  | 'PROVIDER_UNAVAILABLE'
  | 'PROVIDER_RATE_LIMITED'
  | 'PROVIDER_TIMEOUT'
  | 'NETWORK_ERROR'
  /** Not a call: the provider was skipped because its circuit breaker is open. */
  | 'CIRCUIT_OPEN'
  // provider-level
  | 'PROVIDER_INVALID_CREDENTIALS'
  | 'SENDER_UNVERIFIED'
  | 'ACCOUNT_SUSPENDED'
  | 'PROVIDER_REJECTED'
  | 'ADAPTER_MISSING'
  | 'ADAPTER_ERROR'
  /**
   * Not a call: the message is over a documented limit of this provider (an adapter's `limits`), so it was
   * skipped and the next provider tried. Does not count against the provider's circuit breaker.
   */
  | 'PROVIDER_LIMIT_EXCEEDED'
  // message-level
  | 'RECIPIENT_INVALID'
  | 'RECIPIENT_SUPPRESSED'
  | 'MESSAGE_REJECTED';

/** Every stable error code MessagePipe raises. */
export type ErrorCode = CoreErrorCode | ProviderErrorCode;

const FAILURE_CLASS: Record<ProviderErrorCode, FailureClass> = {
  PROVIDER_UNAVAILABLE: 'transient',
  PROVIDER_RATE_LIMITED: 'transient',
  PROVIDER_TIMEOUT: 'transient',
  NETWORK_ERROR: 'transient',
  CIRCUIT_OPEN: 'transient',
  PROVIDER_INVALID_CREDENTIALS: 'provider',
  SENDER_UNVERIFIED: 'provider',
  ACCOUNT_SUSPENDED: 'provider',
  PROVIDER_REJECTED: 'provider',
  ADAPTER_MISSING: 'provider',
  ADAPTER_ERROR: 'provider',
  PROVIDER_LIMIT_EXCEEDED: 'provider',
  RECIPIENT_INVALID: 'message',
  RECIPIENT_SUPPRESSED: 'message',
  MESSAGE_REJECTED: 'message',
};

/** Whether a code is one of the {@link ProviderErrorCode}s, whose failure class the code fixes ({@link failureClassOf}). */
export function isProviderErrorCode(code: string): code is ProviderErrorCode {
  return Object.hasOwn(FAILURE_CLASS, code);
}

/** The failure class a provider error code belongs to. */
export function failureClassOf(code: ProviderErrorCode): FailureClass {
  return FAILURE_CLASS[code];
}

/** One problem found while validating input: where it is and what is wrong. */
export interface ValidationIssue {
  /** Path to the offending field, e.g. `['to', 0, 'email']`. */
  path: (string | number)[];
  message: string;
}

const MARKER = Symbol.for('messagepipe.error');

/** Options accepted by every MessagePipe error. */
export interface MessagePipeErrorOptions {
  cause?: unknown;
  /** Validation problems, for `CONFIG_INVALID`, `MESSAGE_INVALID` and `SENDER_INVALID`. */
  issues?: ValidationIssue[];
  /** Every attempt made, for `ALL_PROVIDERS_FAILED`. */
  attempts?: Attempt[];
  /** Provider involved, where there is one. */
  provider?: string;
}

/**
 * Base class of every error MessagePipe throws. `code` is stable and meant for programs; `message` is for people.
 * Neither ever holds a credential.
 */
export class MessagePipeError extends Error {
  /** Marker that survives duplicate copies of the package; see {@link isMessagePipeError}. */
  readonly [MARKER] = true;
  readonly code: ErrorCode;
  /** Field paths and reasons, for validation errors. */
  readonly issues?: ValidationIssue[];
  /** Every attempt of the send, for `ALL_PROVIDERS_FAILED`. */
  readonly attempts?: Attempt[];
  readonly provider?: string;

  constructor(code: ErrorCode, message: string, options: MessagePipeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MessagePipeError';
    this.code = code;
    if (options.issues) this.issues = options.issues;
    if (options.attempts) this.attempts = options.attempts;
    if (options.provider) this.provider = options.provider;
  }
}

/** Options for {@link ProviderError}. */
export interface ProviderErrorOptions {
  /** Provider name, e.g. `sendgrid`. */
  provider: string;
  /** HTTP status or SMTP reply code, when the provider answered. */
  status?: number;
  /** The provider's own error code (Twilio `21211`, Postmark `406`, SES `MessageRejected`…). */
  providerCode?: string | number;
  /** How long the provider asked us to wait before trying again (Retry-After, rate-limit reset). */
  retryAfterMs?: number;
  /** True when the request may have reached the provider although no answer came back (timeout after sending). */
  ambiguous?: boolean;
  /** Every attempt of the send, when this error ends one (a message-level refusal). */
  attempts?: Attempt[];
  cause?: unknown;
}

/**
 * A classified failure of one provider call. Adapters throw it; the dispatcher reads {@link ProviderError.failureClass}
 * to decide whether to retry, fail over or stop.
 */
export class ProviderError extends MessagePipeError {
  declare readonly code: ProviderErrorCode;
  readonly failureClass: FailureClass;
  declare readonly provider: string;
  readonly status?: number;
  readonly providerCode?: string | number;
  readonly retryAfterMs?: number;
  readonly ambiguous: boolean;

  constructor(code: ProviderErrorCode, message: string, options: ProviderErrorOptions) {
    super(code, message, { cause: options.cause, provider: options.provider, attempts: options.attempts });
    this.name = 'ProviderError';
    this.failureClass = failureClassOf(code);
    if (options.status !== undefined) this.status = options.status;
    if (options.providerCode !== undefined) this.providerCode = options.providerCode;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    this.ambiguous = options.ambiguous ?? false;
  }
}

/** True for any MessagePipe error, even one thrown by another copy of the package. */
export function isMessagePipeError(value: unknown): value is MessagePipeError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARKER] === true;
}

/** True for a classified provider failure, even one thrown by another copy of the package. */
export function isProviderError(value: unknown): value is ProviderError {
  return isMessagePipeError(value) && typeof (value as ProviderError).failureClass === 'string';
}
