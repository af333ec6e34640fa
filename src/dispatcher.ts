import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { type AnyAdapter, defaultLogger, type Logger } from './adapter';
import { ProviderCatalog } from './catalog';
import { MessagePipeError, type ProviderError } from './errors';
import { type DispatcherEventName, type DispatcherEvents, Emitter } from './events';
import type { BreakerState, CircuitBreakerOptions } from './failover/breaker';
import { sanitizeProviderError, toAttemptError } from './failover/classify';
import { FailoverEngine, type RetryOptions } from './failover/engine';
import type { ProviderStats } from './failover/stats';
import { withTimeout } from './failover/timeout';
import {
  type DispatcherCore,
  type OpenedConfig,
  openConfig,
  ProvidersApi,
  type ProviderTestMessage,
} from './providers-api';
import { parseOrThrow } from './schemas/fields';
import type { JsonSchema } from './schemas/json-schema';
import {
  deepFreeze,
  type EmailMessageInput,
  emailFromOf,
  emailMessageSchema,
  normaliseEmail,
  normaliseSms,
  type SmsMessageInput,
  smsMessageSchema,
} from './schemas/message';
import type { SecretsOptions } from './sealing';
import { SendersApi } from './senders-api';
import type { ProviderCacheOptions } from './store/caching';
import { setUpStorage } from './store/setup';
import type { ProviderStore } from './store/types';
import { type SendSpan, Tracing, type TracingOptions } from './telemetry';
import type { Attempt, Channel, OutboundMessage, SendResult, StoredProviderRecord } from './types';

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions {
  /** The adapters this app can send through, one per provider. */
  adapters: readonly AnyAdapter[];
  /** Where provider records and sender configurations live. @default new InMemoryProviderStore() */
  store?: ProviderStore;
  /**
   * Keys that seal every config's secret fields (AES-256-GCM) before they reach the store. Without them a
   * persistent store keeps credentials as plain text, and the dispatcher warns once.
   */
  secrets?: SecretsOptions;
  /**
   * Caching of each project's provider list and sender configurations, so a send does not read the store each
   * time. Writes through this dispatcher take effect at once; writes made elsewhere within `ttlMs`. On by default
   * for persistent stores (see `ProviderStore.persistent`), off for the memory store; `false` turns it off.
   */
  cache?: ProviderCacheOptions | false;
  /** Where warnings go. @default process.emitWarning for warnings, nothing for debug */
  logger?: Logger;
  /** Time budget of one provider call, unless the provider config sets `timeoutMs`. @default 15000 */
  attemptTimeoutMs?: number;
  /** Time budget of a whole send, retries and failovers included. @default 60000 */
  sendTimeoutMs?: number;
  /** Retries of transient failures on the same provider, with exponential backoff and jitter; `false` for none. */
  retry?: RetryOptions | false;
  /** The circuit breaker kept per provider config; `false` turns it off. */
  circuitBreaker?: CircuitBreakerOptions | false;
  /**
   * After a timeout that may have delivered the message: `failover` (default) tries the next provider and risks a
   * duplicate; `stop` ends the send and risks a loss.
   */
  onAmbiguousTimeout?: 'failover' | 'stop';
  /** OpenTelemetry spans: a span per send with a child per attempt. Needs `@opentelemetry/api`. */
  tracing?: boolean | TracingOptions;
}

/** An email to send: the message fields plus the project it belongs to. */
export type EmailSendInput = { projectId: string; channel: 'email' } & EmailMessageInput;
/** An SMS to send: the message fields plus the project it belongs to. */
export type SmsSendInput = { projectId: string; channel: 'sms' } & SmsMessageInput;
/** Input of {@link Dispatcher.send}. */
export type SendInput = EmailSendInput | SmsSendInput;

/** Options of one send. */
export interface SendOptions {
  /** Passed to every attempt of this send; generated when absent. */
  idempotencyKey?: string;
  /** Abandons the send (and the attempt under way) when aborted. */
  signal?: AbortSignal;
}

const envelopeSchema = z.looseObject({
  projectId: z.string().min(1).max(200),
  channel: z.enum(['email', 'sms']),
});

const DEFAULT_ATTEMPT_TIMEOUT_MS = 15_000;
const DEFAULT_SEND_TIMEOUT_MS = 60_000;
const MAX_OPENED_CONFIGS = 10_000;

/**
 * Sends email and SMS through a project's providers in priority order, failing over from one to the next, and
 * manages the provider records and sender configurations behind that.
 *
 * @example
 * ```ts
 * const pipe = new Dispatcher({ adapters: [sendgrid(), smtp()] });
 * const result = await pipe.send({ projectId, channel: 'email', to: 'a@b.test', subject: 'Hi', text: 'Hello' });
 * ```
 */
export class Dispatcher {
  /** Provider records: add, list, get, update, remove, validate, domains. */
  readonly providers: ProvidersApi;
  /** Sender configuration per project and channel. */
  readonly senders: SendersApi;

  readonly #core: DispatcherCore;
  readonly #events: Emitter<DispatcherEvents>;
  readonly #engine: FailoverEngine;
  readonly #tracing: Tracing | undefined;
  /**
   * Opened (unsealed, merged) configs by provider config id, so a send does not decode secrets every time. Keyed
   * on the stored secrets text too, so a record changed by another process is opened again.
   */
  readonly #openedConfigs = new Map<string, { secrets: string; version: number; opened: OpenedConfig }>();
  readonly #sendTimeoutMs: number;
  #closed = false;

  constructor(options: DispatcherOptions) {
    const logger = options.logger ?? defaultLogger;
    const { store, codec } = setUpStorage(options, logger);
    this.#core = {
      store,
      catalog: new ProviderCatalog(options.adapters),
      codec,
      logger,
      timeoutMs: options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS,
      onProviderReleased: (projectId, id) => {
        this.#engine.forget(id);
        this.#openedConfigs.delete(`${projectId}\u0000${id}`);
      },
      sendOnce: (record, message) => this.#sendOnce(record, message),
    };
    this.#sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.#events = new Emitter(logger);
    this.#engine = new FailoverEngine(
      {
        sendTimeoutMs: this.#sendTimeoutMs,
        retry: options.retry ?? {},
        circuitBreaker: options.circuitBreaker ?? {},
        onAmbiguousTimeout: options.onAmbiguousTimeout ?? 'failover',
      },
      this.#events,
    );
    this.#tracing = options.tracing
      ? new Tracing(options.tracing === true ? {} : options.tracing)
      : undefined;
    this.providers = new ProvidersApi(this.#core);
    this.senders = new SendersApi(this.#core.store);
  }

  /** Subscribes to a dispatcher event; returns the function that unsubscribes. */
  on<E extends DispatcherEventName>(event: E, listener: (payload: DispatcherEvents[E]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** Counters and latency percentiles of every provider config this dispatcher has tried. */
  stats(): ProviderStats[] {
    return this.#engine.stats.snapshot();
  }

  /**
   * The circuit breakers: one provider config's `state`, and `export` / `restore` of all of them so a fleet of
   * processes can share what each has learnt.
   */
  readonly breakers = {
    state: (providerConfigId: string): BreakerState =>
      this.#engine.breakers?.state(providerConfigId) ?? { state: 'closed', consecutiveFailures: 0 },
    export: (): Record<string, BreakerState> => this.#engine.breakers?.export() ?? {},
    restore: (states: Record<string, BreakerState>): void => this.#engine.breakers?.restore(states),
  };

  /** JSON Schemas of every provider's config on a channel, keyed by provider, for rendering forms. */
  schemas(channel: Channel): Record<string, JsonSchema> {
    const { catalog } = this.#core;
    return Object.fromEntries(
      catalog.providersOf(channel).map((name) => [name, catalog.jsonSchema(channel, name)]),
    );
  }

  /** JSON Schema of one provider's config; secret fields carry `writeOnly: true`. */
  schema(channel: Channel, provider: string): JsonSchema {
    return this.#core.catalog.jsonSchema(channel, provider);
  }

  /**
   * Sends one message. The message is validated first (`MESSAGE_INVALID`), the sender filled in from the project's
   * sender configuration (`CHANNEL_DISABLED` when it is disabled), then the project's enabled providers are tried
   * in priority order until one accepts it.
   *
   * @throws {@link MessagePipeError} with one of these codes:
   * - `MESSAGE_INVALID` (with `issues`), before any provider is called;
   * - `CHANNEL_DISABLED`, `NO_PROVIDERS`: the project's set-up does not allow a send;
   * - `ALL_PROVIDERS_FAILED` (with `attempts`): every candidate failed, or the send deadline passed;
   * - a {@link ProviderError} with `failureClass: 'message'` (with `attempts`): a provider refused the message
   *   itself, so the next one would too;
   * - a `PROVIDER_TIMEOUT` {@link ProviderError} with `ambiguous: true` (with `attempts`), under
   *   `onAmbiguousTimeout: 'stop'`: the message may have been delivered;
   * - `ABORTED` (the caller's signal) or `DISPATCHER_CLOSED`.
   */
  async send(input: SendInput, options: SendOptions = {}): Promise<SendResult> {
    if (this.#closed) throw new MessagePipeError('DISPATCHER_CLOSED', 'This dispatcher has been closed');
    // Checked by hand first: the schema (and its error with paths) is only needed when something is wrong.
    if (!isEnvelope(input)) parseOrThrow(envelopeSchema, input, 'MESSAGE_INVALID', 'message');
    const { projectId, channel, ...fields } = input;
    const message = await this.#prepare(projectId, channel, fields);
    const idempotencyKey = options.idempotencyKey ?? randomUUID();
    const base = { projectId, channel, idempotencyKey };

    const records = await this.#core.store.listProviders(projectId, { channel });
    const candidates = records.filter((record) => record.enabled && record.credentials.status !== 'invalid');
    if (candidates.length === 0) {
      throw new MessagePipeError(
        'NO_PROVIDERS',
        `Project has no enabled ${channel} provider with usable credentials`,
      );
    }

    // Not `await this.#tracing?.…`: awaiting undefined would still cost every untraced send a tick.
    const span = this.#tracing ? await this.#tracing.startSend(base) : undefined;
    let outcome: Awaited<ReturnType<FailoverEngine['run']>>;
    try {
      outcome = await this.#engine.run(
        base,
        candidates,
        (record, budgetMs, attemptNumber) =>
          this.#attempt(record, message, base, attemptNumber, budgetMs, options.signal, span),
        options.signal,
      );
    } catch (error) {
      span?.end(undefined, error);
      if (options.signal?.aborted) {
        throw new MessagePipeError('ABORTED', 'The send was aborted', { cause: options.signal.reason });
      }
      throw error;
    }
    if (outcome.ok) {
      const result: SendResult = {
        provider: outcome.candidate.provider,
        providerConfigId: outcome.candidate.id,
        messageId: outcome.attempt.messageId!,
        idempotencyKey,
        attempts: outcome.attempts,
      };
      span?.end(result);
      this.#events.emit('send:success', { ...base, result });
      return result;
    }
    span?.end(undefined, outcome.error);
    this.#events.emit('send:failure', { ...base, error: outcome.error, attempts: outcome.attempts });
    throw outcome.error;
  }

  /** Releases every adapter's resources; later sends are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#core.catalog.adapters().map(async (adapter) => adapter.close?.()));
  }

  /** Validates and normalises the message and fills in the sender. */
  async #prepare(
    projectId: string,
    channel: Channel,
    fields: Record<string, unknown>,
    evenIfDisabled = false,
  ): Promise<OutboundMessage> {
    if (channel === 'email') {
      const email = parseOrThrow(emailMessageSchema, fields, 'MESSAGE_INVALID', 'email');
      const sender = await this.#enabledSender(projectId, channel, evenIfDisabled);
      const from =
        emailFromOf(email) ??
        (sender?.channel === 'email'
          ? sender.senderName
            ? { email: sender.senderEmail, name: sender.senderName }
            : { email: sender.senderEmail }
          : undefined);
      if (!from) {
        throw new MessagePipeError(
          'MESSAGE_INVALID',
          'No sender: set one with pipe.senders.set or pass from',
          {
            issues: [{ path: ['from'], message: 'No sender address' }],
          },
        );
      }
      return deepFreeze(normaliseEmail(email, from));
    }
    const sms = parseOrThrow(smsMessageSchema, fields, 'MESSAGE_INVALID', 'SMS');
    const sender = await this.#enabledSender(projectId, channel, evenIfDisabled);
    return deepFreeze(normaliseSms(sms, sender?.channel === 'sms' ? sender : undefined));
  }

  async #enabledSender(projectId: string, channel: Channel, evenIfDisabled = false) {
    const sender = await this.#core.store.getSender(projectId, channel);
    if (sender && !sender.enabled && !evenIfDisabled) {
      throw new MessagePipeError('CHANNEL_DISABLED', `Sending ${channel} is disabled for this project`);
    }
    return sender;
  }

  #open(record: StoredProviderRecord): OpenedConfig {
    const key = `${record.projectId}\u0000${record.id}`;
    const cached = this.#openedConfigs.get(key);
    if (cached && cached.version === record.version && cached.secrets === record.secrets)
      return cached.opened;
    const opened = openConfig(this.#core, record);
    // Shared by every send of this revision: no adapter may change what the next send gets.
    deepFreeze(opened.config);
    // Bounded: a process that sees an unbounded number of provider configs starts over rather than grow.
    if (this.#openedConfigs.size >= MAX_OPENED_CONFIGS) this.#openedConfigs.clear();
    this.#openedConfigs.set(key, { secrets: record.secrets, version: record.version, opened });
    return opened;
  }

  // --- providers.test: one attempt through one record, outside the failover engine (no breaker, retry, stats) ---
  async #sendOnce(record: StoredProviderRecord, input: ProviderTestMessage): Promise<Attempt> {
    if (this.#closed) throw new MessagePipeError('DISPATCHER_CLOSED', 'This dispatcher has been closed');
    if (typeof input !== 'object' || input === null) {
      parseOrThrow(z.object({}), input, 'MESSAGE_INVALID', 'message');
    }
    const { channel, ...fields } = input as { channel?: unknown } & Record<string, unknown>;
    if (channel !== undefined && channel !== record.channel) {
      throw new MessagePipeError('MESSAGE_INVALID', `This provider sends ${record.channel}, not ${channel}`, {
        issues: [{ path: ['channel'], message: `Expected "${record.channel}"` }],
      });
    }
    const message = await this.#prepare(record.projectId, record.channel, fields, true);
    const base = { projectId: record.projectId, channel: record.channel, idempotencyKey: randomUUID() };
    const { attempt } = await this.#attempt(
      record,
      message,
      base,
      1,
      this.#sendTimeoutMs,
      undefined,
      undefined,
    );
    return attempt;
  }
  // --- end of providers.test ---

  /** One try of one provider: never throws for a provider failure, only reports it. */
  async #attempt(
    record: StoredProviderRecord,
    message: OutboundMessage,
    base: { projectId: string; channel: Channel; idempotencyKey: string },
    attemptNumber: number,
    budgetMs: number,
    signal: AbortSignal | undefined,
    span: SendSpan | undefined,
  ): Promise<{ attempt: Attempt; error?: ProviderError }> {
    const started = performance.now();
    if (this.#events.has('attempt:start')) {
      this.#events.emit('attempt:start', {
        ...base,
        providerConfigId: record.id,
        provider: record.provider,
        attemptNumber,
      });
    }
    let secrets: string[] = [];
    let outcome: { attempt: Attempt; error?: ProviderError };
    try {
      const adapter = this.#core.catalog.adapterFor(record.provider);
      const opened = this.#open(record);
      secrets = opened.secrets;
      const configured =
        typeof opened.config.timeoutMs === 'number' ? opened.config.timeoutMs : this.#core.timeoutMs;
      const timeoutMs = Math.min(configured, budgetMs);
      const receipt = await withTimeout(
        (attemptSignal) =>
          adapter.send(message, {
            config: opened.config,
            projectId: base.projectId,
            providerConfigId: record.id,
            configRevision: String(record.version),
            idempotencyKey: base.idempotencyKey,
            get signal() {
              return attemptSignal();
            },
            timeoutMs,
            logger: this.#core.logger,
          }),
        { timeoutMs, provider: record.provider, parent: signal },
      );
      outcome = {
        attempt: {
          providerConfigId: record.id,
          provider: record.provider,
          outcome: 'sent',
          messageId: receipt.messageId,
          durationMs: elapsed(started),
        },
      };
    } catch (thrown) {
      if (signal?.aborted) {
        throw new MessagePipeError('ABORTED', 'The send was aborted', { cause: signal.reason });
      }
      const error = sanitizeProviderError(thrown, record.provider, secrets);
      outcome = {
        attempt: {
          providerConfigId: record.id,
          provider: record.provider,
          outcome: 'failed',
          error: toAttemptError(error),
          durationMs: elapsed(started),
        },
        error,
      };
    }
    span?.attempt(outcome.attempt);
    if (this.#events.has('attempt:finish')) {
      this.#events.emit('attempt:finish', { ...base, attempt: outcome.attempt, attemptNumber });
    }
    return outcome;
  }
}

function isEnvelope(input: unknown): input is SendInput {
  if (typeof input !== 'object' || input === null) return false;
  const { projectId, channel } = input as { projectId?: unknown; channel?: unknown };
  return (
    typeof projectId === 'string' &&
    projectId.length > 0 &&
    projectId.length <= 200 &&
    (channel === 'email' || channel === 'sms')
  );
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
