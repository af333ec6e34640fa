import type { FailureClass, ProviderErrorCode } from './errors';

/** A delivery channel. */
export type Channel = 'email' | 'sms';

/** Built-in email providers. */
export type EmailProviderName = 'sendgrid' | 'mailgun' | 'postmark' | 'ses' | 'smtp';
/** Built-in SMS providers. */
export type SmsProviderName = 'twilio' | 'termii' | 'sns';
/** Built-in providers of either channel. */
export type BuiltInProviderName = EmailProviderName | SmsProviderName;

/** An email address with an optional display name, after validation. */
export interface EmailAddress {
  email: string;
  name?: string;
}

/** An attachment after validation: content is always bytes. */
export interface EmailAttachment {
  filename: string;
  /** The bytes, shared by every attempt of a send (typed arrays cannot be frozen): adapters must only read them. */
  content: Uint8Array;
  contentType?: string;
  /** Set for inline parts referenced from HTML as `cid:…`. */
  contentId?: string;
  disposition: 'attachment' | 'inline';
}

/** The email an adapter receives: validated, normalised and frozen. */
export interface OutboundEmail {
  channel: 'email';
  from: EmailAddress;
  to: EmailAddress[];
  cc: EmailAddress[];
  bcc: EmailAddress[];
  replyTo: EmailAddress[];
  subject: string;
  text?: string;
  html?: string;
  attachments: EmailAttachment[];
  headers: Record<string, string>;
  tags: string[];
  metadata: Record<string, string>;
}

/** The SMS an adapter receives: validated, normalised and frozen. */
export interface OutboundSms {
  channel: 'sms';
  /** E.164, e.g. `+2348012345678`. */
  to: string;
  body: string;
  /** Sender id or number given on this message; when set, it wins over everything else. */
  from?: string;
  /** The project's alphanumeric sender id (SMS sender configuration), for providers and routes that take one. */
  senderId?: string;
  /** The project's from number (SMS sender configuration), E.164. */
  senderNumber?: string;
}

/** The message an adapter of a channel receives. */
export type OutboundMessage<C extends Channel = Channel> = C extends 'email' ? OutboundEmail : OutboundSms;

/**
 * Whether a provider's credentials have been checked against its API, and how that went. `unchecked` with a
 * `checkedAt` means a check ran but could not tell (a send-only key may not call the check): the provider stays in
 * the failover chain, since only `invalid` takes it out.
 */
export interface CredentialState {
  status: 'unchecked' | 'valid' | 'invalid';
  /** ISO time of the last check. */
  checkedAt?: string;
  /** Why the provider refused the credentials, or why they could not be checked. */
  reason?: string;
}

/** A provider record as returned to callers: never holds a secret value. */
export interface ProviderRecord {
  id: string;
  projectId: string;
  channel: Channel;
  provider: string;
  name: string;
  enabled: boolean;
  /** Lower is tried first. */
  priority: number;
  /** Share of sends among providers of the same priority (round robin when all are equal). Absent means 1. */
  weight?: number;
  credentials: CredentialState;
  /**
   * Dotted paths of the secret fields that are set (e.g. `['apiKey']`, `['auth.pass']`), so a form can show
   * "set; leave blank to keep". Never their values.
   */
  secretFields: string[];
  /** Non-secret config fields. */
  config: Record<string, unknown>;
  /** Incremented on every write; used for optimistic concurrency. */
  version: number;
  /** ISO time. */
  createdAt: string;
  /** ISO time. */
  updatedAt: string;
}

/**
 * A provider record as the dispatcher hands it to a {@link ProviderStore}. `config` holds only non-secret fields;
 * the secret fields travel in `secrets`, an opaque string the store keeps verbatim.
 */
export interface StoredProviderRecord extends ProviderRecord {
  secrets: string;
}

/** Email sender configuration of a project. */
export interface EmailSenderConfig {
  projectId: string;
  channel: 'email';
  senderEmail: string;
  senderName?: string;
  enabled: boolean;
  updatedAt: string;
}

/** SMS sender configuration of a project: an alphanumeric sender id and/or a from number. */
export interface SmsSenderConfig {
  projectId: string;
  channel: 'sms';
  senderId?: string;
  /** E.164 number. */
  from?: string;
  enabled: boolean;
  updatedAt: string;
}

/** Sender configuration of a project for one channel. */
export type SenderConfig = EmailSenderConfig | SmsSenderConfig;

/** The error of a failed attempt, as plain data (safe to log or serialise). */
export interface AttemptError {
  code: ProviderErrorCode;
  failureClass: FailureClass;
  message: string;
  status?: number;
  providerCode?: string | number;
  retryAfterMs?: number;
  ambiguous?: boolean;
}

/** One try of one provider during a send. */
export interface Attempt {
  providerConfigId: string;
  provider: string;
  outcome: 'sent' | 'failed' | 'skipped';
  /** Present when the outcome is `failed` or `skipped`. */
  error?: AttemptError;
  /** Provider message id, when sent. */
  messageId?: string;
  /**
   * When sent: recipients the provider refused while accepting the message for the others (an SMTP server's
   * refused RCPTs, Postmark's inactive addresses). They do not receive it; the others do.
   */
  rejectedRecipients?: string[];
  durationMs: number;
}

/** What a successful send returns. */
export interface SendResult {
  provider: string;
  providerConfigId: string;
  messageId: string;
  idempotencyKey: string;
  /** Recipients the provider refused while accepting the message for the others (see {@link Attempt}). */
  rejectedRecipients?: string[];
  /** Every attempt in order, the successful one last. */
  attempts: Attempt[];
}

/**
 * The outcome of a credential check. `valid: null` means the provider answered but these credentials may not call
 * the check (a key allowed only to send): nothing is known either way, so the provider stays in the chain, with the
 * reason recorded, rather than being taken out as if the credentials were bad.
 */
export type VerifyResult =
  | { valid: true; details?: Record<string, unknown> }
  | { valid: false; reason: string }
  | { valid: null; reason: string };

/** Verification state of one sending domain or sender, in one shape for every provider. */
export interface DomainStatus {
  domain: string;
  verified: boolean;
  /** Provider-specific detail (DNS record states, sending enabled…), never a secret. */
  details: Record<string, unknown>;
}
