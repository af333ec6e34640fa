import type { Logger } from '../adapter';
import type { Channel } from '../types';

/**
 * What happened to a message after a provider accepted it, in one vocabulary for every provider. Email providers
 * report `accepted` … `clicked`; SMS providers `sent`, `delivered`, `undelivered`, `failed` (and `unsubscribed`
 * for STOP replies where the provider reports them). A status no mapping knows is `unknown`, never dropped.
 */
export type DeliveryEventType =
  | 'accepted'
  | 'sent'
  | 'delivered'
  | 'deferred'
  | 'bounced'
  | 'dropped'
  | 'complained'
  | 'unsubscribed'
  | 'opened'
  | 'clicked'
  | 'undelivered'
  | 'failed'
  | 'unknown';

/** A verified, normalised delivery event. Holds no secret; `raw` is the provider's event minus signatures. */
export interface DeliveryEvent {
  /** Content key (project, provider, message id, type, recipient, provider timestamp): equal for duplicates. */
  id: string;
  type: DeliveryEventType;
  /** The provider's own name for what happened (`bounce`, `HardBounce`, `TEXT_BLOCKED`, `undelivered`…). */
  status: string;
  provider: string;
  providerConfigId: string;
  projectId: string;
  channel: Channel;
  /** The provider message id, as the send returned it (Mailgun without `<>`, SendGrid without its suffix). */
  messageId: string;
  /** The send's idempotency key, when the send is in the message log. */
  idempotencyKey?: string;
  /** Normalised: email addresses in lower case, phone numbers in E.164. */
  recipient: string;
  /** When the provider says it happened (ISO); the time it was received when the provider gives none. */
  at: string;
  /** When this process received it (ISO). */
  receivedAt: string;
  /** Why, for bounces, drops, failures and deferrals, when the provider says. */
  reason?: string;
  /** For bounces (and SMS failures a provider classifies): permanent (`hard`) or temporary (`soft`). */
  bounceClass?: 'hard' | 'soft';
  /** The provider's id of this event, when it has one (SendGrid `sg_event_id`, Mailgun `id`…). */
  providerEventId?: string;
  /** The provider's event, minus signatures and anything secret. */
  raw: Record<string, unknown>;
}

/** One event as a provider's webhook normaliser returns it; the dispatcher adds ids, project and correlation. */
export interface ProviderDeliveryEvent {
  type: DeliveryEventType;
  status: string;
  messageId: string;
  recipient: string;
  /** Provider timestamp: ISO text, epoch milliseconds, or `undefined` when the provider sends none. */
  at?: string | number;
  reason?: string;
  bounceClass?: 'hard' | 'soft';
  providerEventId?: string;
  raw: Record<string, unknown>;
}

/** A webhook request as an adapter's verifier sees it. */
export interface WebhookRequest {
  /** Header lookup; names are case-insensitive. */
  headers: Headers;
  /** The body exactly as received: signatures are over these bytes. */
  rawBody: Buffer;
  /** The URL the request was made to, as the provider saw it (scheme, host, path and query). */
  url: string;
  /** The client address, for IP allow-lists (behind a proxy: the address the proxy reports). */
  remoteAddress?: string;
}

/** A small cache with expiry, for signing certificates and the like. */
export interface WebhookCache {
  get<T>(key: string): T | undefined;
  set(key: string, value: unknown, ttlMs: number): void;
}

/**
 * Remembers one-time values (Mailgun tokens) for a while. The default keeps them in this process; pass one backed
 * by Redis or a database when several processes receive webhooks.
 */
export interface ReplayCache {
  /** Remembers `key` for `ttlMs`; resolves `false` when it was already remembered (a replay). */
  remember(key: string, ttlMs: number): boolean | Promise<boolean>;
}

/** What a webhook verifier gets besides the request. */
export interface WebhookContext<Config = Record<string, unknown>> {
  /** The provider config, secrets included. Never log it. */
  config: Config;
  projectId: string;
  providerConfigId: string;
  /** Milliseconds since the epoch; tests move it. */
  now(): number;
  /** For SNS certificates and subscription confirmations. */
  fetch: typeof fetch;
  cache: WebhookCache;
  replay: ReplayCache;
  /** How far a signed timestamp may be from now. @default 300000 (5 min) */
  toleranceMs: number;
  logger: Logger;
}

/** An SNS subscription waiting for confirmation (SES and SNS webhooks). */
export interface PendingSubscription {
  topicArn: string;
  subscribeUrl: string;
  /** Calls the SubscribeURL (https, an `sns.<region>.amazonaws.com` host) through the injected fetch. */
  confirm(): Promise<void>;
}

/** The outcome of verifying a webhook request. */
export type WebhookVerdict =
  | { ok: true; payload: unknown; subscription?: PendingSubscription }
  | { ok: false; status: 400 | 401; reason: string };

/**
 * How an adapter receives delivery events: verification with the provider's own scheme, then normalisation.
 * `normalise` only ever sees payloads `verify` accepted.
 */
export interface AdapterWebhook<Config = Record<string, unknown>> {
  verify(request: WebhookRequest, ctx: WebhookContext<Config>): Promise<WebhookVerdict>;
  normalise(payload: unknown, ctx: WebhookContext<Config>): ProviderDeliveryEvent[];
}
