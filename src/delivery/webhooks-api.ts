import { z } from 'zod';
import { isMessagePipeError } from '../errors';
import { type DispatcherCore, openConfig, scrubDeep } from '../providers-api';
import { parseOrThrow } from '../schemas/fields';
import { CachingProviderStore } from '../store/caching';
import type { StoredProviderRecord } from '../types';
import { deliveryEventId, normaliseRecipient, toIsoTime } from './normalise';
import type { DeliveryService } from './service';
import type {
  AdapterWebhook,
  DeliveryEvent,
  PendingSubscription,
  ReplayCache,
  WebhookCache,
  WebhookContext,
  WebhookRequest,
} from './types';

/** Options of `new Dispatcher({ webhooks })`. */
export interface WebhookOptions {
  /**
   * The fetch SNS signing certificates and subscription confirmations go through. Tests inject one that serves
   * their own certificate. @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /** Where Mailgun tokens are remembered against replays. @default one in this process */
  replayCache?: ReplayCache;
  /** How far a signed timestamp (Mailgun) may be from now. @default 300000 (5 minutes) */
  toleranceMs?: number;
  /**
   * SNS `SubscriptionConfirmation` for an allowed topic: `true` (default) confirms it through `fetch`; `false`
   * leaves it to the app, which finds it on the result of `handle` (`subscription.confirm()`).
   */
  confirmSubscriptions?: boolean;
  /** Clock, in epoch milliseconds. @default Date.now */
  now?: () => number;
}

/** Input of `pipe.webhooks.handle`: the request exactly as it arrived. */
export interface WebhookInput {
  /** Provider name from the webhook URL, e.g. `sendgrid`. */
  provider: string;
  /** Provider config id from the webhook URL. */
  providerConfigId: string;
  /** The project, when the route knows it; otherwise found from the provider config id. */
  projectId?: string;
  headers: Headers | Record<string, string | string[] | undefined>;
  /** The raw body bytes (never a re-serialised object: signatures are over the bytes). */
  rawBody: Uint8Array | ArrayBuffer | string;
  /** The full URL the provider called (Twilio signs it). */
  url: string;
  /** Client address, for Postmark's IP allow-list. */
  remoteAddress?: string;
}

/** What `pipe.webhooks.handle` resolves. */
export interface WebhookResult {
  /**
   * The HTTP status to answer: 200 (accepted), 400 (unreadable body), 401 (verification failed: no event was
   * read), 404 (no such provider config, or a provider without webhooks), 500 (stored secrets cannot be opened).
   */
  status: 200 | 400 | 401 | 404 | 500;
  /** The verified, normalised events that were new (duplicates are left out; see `duplicates`). */
  events: DeliveryEvent[];
  /** How many verified events had been received before. */
  duplicates: number;
  /** Why the request was refused (for logs; never holds a secret). */
  reason?: string;
  /** An SNS subscription confirmation, when `confirmSubscriptions` is off (or it failed). */
  subscription?: PendingSubscription;
}

/** Options of `pipe.webhooks.fetchHandler`. */
export interface FetchHandlerOptions {
  /** Fixed provider; by default the second-to-last path segment (`/webhooks/{provider}/{providerConfigId}`). */
  provider?: string;
  /** Fixed provider config id; by default the last path segment. */
  providerConfigId?: string;
  projectId?: string;
  /** The public URL of a request, when a proxy rewrote it (Twilio signs the public one). */
  publicUrl?: (request: Request) => string;
  /** The client address of a request, for IP allow-lists. */
  remoteAddress?: (request: Request) => string | undefined;
}

const inputSchema = z.looseObject({
  provider: z.string().min(1).max(100),
  providerConfigId: z.string().min(1).max(200),
  projectId: z.string().min(1).max(200).optional(),
  url: z.string().min(1).max(8192),
});

const MAX_BODY_BYTES = 10 * 1024 * 1024;
const CACHE_MAX_ENTRIES = 1000;

/** `pipe.webhooks`: verified delivery events in, normalised events out. */
export class WebhooksApi {
  readonly #core: DispatcherCore;
  readonly #delivery: () => DeliveryService | undefined;
  readonly #options: WebhookOptions;
  readonly #cache = new ExpiringCache(CACHE_MAX_ENTRIES);
  readonly #replay: ReplayCache;
  /** Provider config id → project, for requests that do not name the project. */
  readonly #projectOf = new Map<string, string>();

  constructor(
    core: DispatcherCore,
    delivery: () => DeliveryService | undefined,
    options: WebhookOptions = {},
  ) {
    this.#core = core;
    this.#delivery = delivery;
    this.#options = options;
    this.#replay = options.replayCache ?? new MemoryReplayCache();
  }

  /**
   * Verifies a webhook request with the provider's own scheme and returns its normalised events, each recorded,
   * correlated with its send, deduplicated and applied to the suppression list. A body is never read before its
   * signature checks out.
   *
   * @example
   * ```ts
   * const { status } = await pipe.webhooks.handle({ provider, providerConfigId, headers, rawBody, url });
   * res.status(status).end();
   * ```
   */
  async handle(input: WebhookInput): Promise<WebhookResult> {
    const parsed = parseOrThrow(inputSchema, input, 'CONFIG_INVALID', 'webhook input');
    const record = await this.#findRecord(parsed.providerConfigId, parsed.projectId);
    if (!record || record.provider !== parsed.provider) {
      return refused(404, 'No such provider config');
    }
    const adapter = this.#core.catalog.adapterFor(record.provider);
    const webhook = adapter.webhook as AdapterWebhook | undefined;
    if (!webhook) return refused(404, `The ${record.provider} adapter receives no webhooks`);
    let opened: ReturnType<typeof openConfig>;
    try {
      opened = openConfig(this.#core, record);
    } catch (error) {
      this.#core.logger.warn('A webhook arrived for a provider config whose secrets cannot be opened', {
        providerConfigId: record.id,
        error: isMessagePipeError(error) ? error.code : 'unknown',
      });
      return refused(500, 'Stored secrets cannot be opened');
    }
    const rawBody = toBuffer(input.rawBody);
    if (rawBody.length > MAX_BODY_BYTES) return refused(400, 'Body too large');
    const request: WebhookRequest = {
      headers: toHeaders(input.headers),
      rawBody,
      url: parsed.url,
      ...(input.remoteAddress ? { remoteAddress: input.remoteAddress } : {}),
    };
    const ctx: WebhookContext = {
      config: opened.config,
      projectId: record.projectId,
      providerConfigId: record.id,
      now: this.#options.now ?? Date.now,
      fetch: this.#options.fetch ?? globalThis.fetch,
      cache: this.#cache,
      replay: this.#replay,
      toleranceMs: this.#options.toleranceMs ?? 300_000,
      logger: this.#core.logger,
    };

    let verdict: Awaited<ReturnType<AdapterWebhook['verify']>>;
    try {
      verdict = await webhook.verify(request, ctx);
    } catch (error) {
      // A verifier that cannot decide refuses: nothing unverified goes further.
      this.#core.logger.warn(`Verifying a ${record.provider} webhook failed`, {
        providerConfigId: record.id,
        error: error instanceof Error ? scrubDeep(error.message, opened.secrets) : 'unknown',
      });
      return refused(401, 'Verification failed');
    }
    if (!verdict.ok) return refused(verdict.status, verdict.reason);

    let subscription: PendingSubscription | undefined;
    if (verdict.subscription) {
      subscription = await this.#subscribe(verdict.subscription, record);
    }

    let normalised: ReturnType<AdapterWebhook['normalise']>;
    try {
      normalised = webhook.normalise(verdict.payload, ctx);
    } catch (error) {
      this.#core.logger.warn(`A verified ${record.provider} webhook could not be read`, {
        providerConfigId: record.id,
        error: error instanceof Error ? scrubDeep(error.message, opened.secrets) : 'unknown',
      });
      return refused(400, 'Unreadable body');
    }

    const delivery = this.#delivery();
    const receivedAt = new Date(ctx.now()).toISOString();
    const events: DeliveryEvent[] = [];
    let duplicates = 0;
    await delivery?.flush();
    for (const item of normalised) {
      const recipient = normaliseRecipient(record.channel, item.recipient);
      const providerTime = toIsoTime(item.at);
      const event: DeliveryEvent = {
        id: deliveryEventId({
          projectId: record.projectId,
          provider: record.provider,
          messageId: item.messageId,
          type: item.type,
          status: item.status,
          recipient,
          providerTime: providerTime ?? '',
        }),
        type: item.type,
        status: item.status,
        provider: record.provider,
        providerConfigId: record.id,
        projectId: record.projectId,
        channel: record.channel,
        messageId: item.messageId,
        recipient,
        at: providerTime ?? receivedAt,
        receivedAt,
        raw: scrubDeep(item.raw, opened.secrets),
      };
      if (item.reason) event.reason = scrubDeep(item.reason, opened.secrets);
      if (item.bounceClass) event.bounceClass = item.bounceClass;
      if (item.providerEventId) event.providerEventId = item.providerEventId;
      if (!delivery) {
        events.push(event);
        continue;
      }
      const kept = await delivery.ingest(event);
      if (kept) events.push(kept);
      else duplicates++;
    }
    const result: WebhookResult = { status: 200, events, duplicates };
    if (subscription) result.subscription = subscription;
    return result;
  }

  /**
   * A fetch-standard handler, `(Request) => Promise<Response>`, for any framework that speaks it (Hono, Next.js,
   * Bun, Deno, `@hono/node-server`). By default the provider and config id are the last two path segments, as in
   * `POST /webhooks/{provider}/{providerConfigId}`.
   *
   * @example
   * ```ts
   * app.post('/webhooks/:provider/:providerConfigId', (c) => pipe.webhooks.fetchHandler()(c.req.raw));
   * ```
   */
  fetchHandler(options: FetchHandlerOptions = {}): (request: Request) => Promise<Response> {
    return async (request) => {
      if (request.method !== 'POST') return text(405, 'Method Not Allowed', { allow: 'POST' });
      const url = options.publicUrl?.(request) ?? request.url;
      const segments = new URL(request.url).pathname.split('/').filter(Boolean).map(safeDecode);
      const provider = options.provider ?? segments.at(-2);
      const providerConfigId = options.providerConfigId ?? segments.at(-1);
      if (!provider || !providerConfigId) return text(404, 'Not Found');
      let rawBody: ArrayBuffer;
      try {
        rawBody = await request.arrayBuffer();
      } catch {
        return text(400, 'Bad Request');
      }
      const remoteAddress = options.remoteAddress?.(request);
      try {
        const result = await this.handle({
          provider,
          providerConfigId,
          ...(options.projectId ? { projectId: options.projectId } : {}),
          headers: request.headers,
          rawBody,
          url,
          ...(remoteAddress ? { remoteAddress } : {}),
        });
        if (result.status !== 200) return text(result.status, STATUS_TEXT[result.status]);
        return new Response(
          JSON.stringify({ received: result.events.length, duplicates: result.duplicates }),
          {
            status: 200,
            headers: { 'content-type': 'application/json' },
          },
        );
      } catch (error) {
        if (isMessagePipeError(error) && error.code === 'CONFIG_INVALID') return text(400, 'Bad Request');
        this.#core.logger.warn('Handling a webhook failed', {
          error: isMessagePipeError(error) ? error.code : 'unknown',
        });
        // 5xx: the provider retries later, which is what a store outage needs.
        return text(500, 'Internal Server Error');
      }
    };
  }

  async #subscribe(
    pending: PendingSubscription,
    record: StoredProviderRecord,
  ): Promise<PendingSubscription | undefined> {
    const info = pending;
    if (this.#options.confirmSubscriptions === false) return info;
    try {
      await pending.confirm();
      return undefined;
    } catch (error) {
      this.#core.logger.warn('Confirming an SNS subscription failed', {
        providerConfigId: record.id,
        topicArn: pending.topicArn,
        error: error instanceof Error ? error.message : String(error),
      });
      return info;
    }
  }

  async #findRecord(id: string, projectId: string | undefined): Promise<StoredProviderRecord | undefined> {
    const { store: outer } = this.#core;
    if (projectId) return outer.getProvider(projectId, id);
    // Single-record reads bypass the provider cache anyway.
    const store = outer instanceof CachingProviderStore ? outer.inner : outer;
    const known = this.#projectOf.get(id);
    if (known) {
      const record = await store.getProvider(known, id);
      if (record) return record;
      this.#projectOf.delete(id);
    }
    let found: StoredProviderRecord | undefined;
    if (store.findProvider) {
      found = await store.findProvider(id);
    } else {
      // A store without a lookup by id is scanned; the answer is remembered.
      let after: { projectId: string; id: string } | undefined;
      for (;;) {
        const page = await store.scanProviders({ after, limit: 500 });
        if (page.length === 0) break;
        found = page.find((candidate) => candidate.id === id);
        if (found) break;
        const last = page[page.length - 1]!;
        after = { projectId: last.projectId, id: last.id };
      }
    }
    if (found) {
      if (this.#projectOf.size >= 10_000) this.#projectOf.clear();
      this.#projectOf.set(id, found.projectId);
    }
    return found;
  }
}

const STATUS_TEXT: Record<WebhookResult['status'], string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  500: 'Internal Server Error',
};

function refused(status: WebhookResult['status'], reason: string): WebhookResult {
  return { status, events: [], duplicates: 0, reason };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function toBuffer(body: Uint8Array | ArrayBuffer | string): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function toHeaders(headers: WebhookInput['headers']): Headers {
  if (headers instanceof Headers) return headers;
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) result.append(name, item);
    else result.set(name, value);
  }
  return result;
}

/** A bounded cache with expiry (signing certificates). */
class ExpiringCache implements WebhookCache {
  readonly #entries = new Map<string, { value: unknown; expiresAt: number }>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get<T>(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (Date.now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value as T;
  }

  set(key: string, value: unknown, ttlMs: number): void {
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }
}

/** One-time values remembered in this process, expired lazily; bounded so a flood cannot grow it forever. */
export class MemoryReplayCache implements ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(max = 100_000) {
    this.#max = max;
  }

  remember(key: string, ttlMs: number): boolean {
    const now = Date.now();
    const expiresAt = this.#seen.get(key);
    if (expiresAt !== undefined && expiresAt > now) return false;
    if (this.#seen.size >= this.#max) {
      for (const [candidate, expiry] of this.#seen) {
        if (expiry <= now || this.#seen.size >= this.#max) this.#seen.delete(candidate);
        if (this.#seen.size < this.#max * 0.9) break;
      }
    }
    this.#seen.set(key, now + ttlMs);
    return true;
  }
}
