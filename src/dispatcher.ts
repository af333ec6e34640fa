import { z } from 'zod';
import {
  type AnyAdapter,
  adapterLoaded,
  defaultLogger,
  type Logger,
  loadAdapter,
  type SendContext,
  type SendReceipt,
} from './adapter';
import { ProviderCatalog } from './catalog';
import { MessagesApi, SuppressionsApi } from './delivery/apis';
import { DeliveryService, type ScreenedMessage, type SuppressionOptions } from './delivery/service';
import { InMemoryMessageLog, isMessageLogStore, type MessageLogStore } from './delivery/store';
import { type WebhookOptions, WebhooksApi } from './delivery/webhooks-api';
import { isProviderError, MessagePipeError, ProviderError } from './errors';
import { type DispatcherEventName, type DispatcherEvents, Emitter, type SendEventBase } from './events';
import type { BreakerSnapshot, BreakerState, CircuitBreakerOptions } from './failover/breaker';
import { sanitizeProviderError, toAttemptError } from './failover/classify';
import { type EngineOutcome, FailoverEngine, type RetryOptions } from './failover/engine';
import { providerLimitError } from './failover/limits';
import type { ProviderStats } from './failover/stats';
import { type DeadlineSlot, DeadlineTimers, withTimeout } from './failover/timeout';
import { newIdempotencyKey } from './idempotency-key';
import {
  type AddProviderInput,
  type ConfigUpdatesOf,
  type DispatcherCore,
  type OpenedConfig,
  openConfig,
  ProvidersApi,
  type ProviderTestMessage,
  type SchemaProviderName,
} from './providers-api';
import { RecordMap } from './record-map';
import {
  idempotencyKeySchema,
  identifier,
  isIdempotencyKey,
  isIdentifier,
  parseOrThrow,
} from './schemas/fields';
import type { JsonSchema } from './schemas/json-schema';
import {
  deepFreeze,
  draftEmail,
  type EmailDraft,
  type EmailMessageInput,
  emailMessageSchema,
  normaliseSms,
  type SmsMessageInput,
  type SmsMessageOutput,
  smsMessageSchema,
} from './schemas/message';
import { fastEmail, fastSms } from './schemas/message-fast';
import type { SecretsOptions } from './sealing';
import { SendersApi } from './senders-api';
import { CachingProviderStore, DEFAULT_CACHE_TTL_MS, type ProviderCacheOptions } from './store/caching';
import { type Now, SEND_PATH, type SendPathReads } from './store/send-path';
import { setUpStorage } from './store/setup';
import type { ProviderStore } from './store/types';
import { type SendSpan, Tracing, type TracingOptions } from './telemetry';
import type {
  Attempt,
  Channel,
  EmailAddress,
  OutboundEmail,
  OutboundMessage,
  OutboundSms,
  SenderConfig,
  SendResult,
  StoredProviderRecord,
} from './types';

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions<Adapters extends readonly AnyAdapter[] = readonly AnyAdapter[]> {
  /**
   * The adapters this app can send through, one per provider. Their provider names, channels and config schemas
   * type `providers.add` / `providers.update` and `schema()`.
   */
  adapters: Adapters;
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
   * for persistent stores (see `ProviderStore.persistent`), off for the memory store; `false` turns it off, and
   * with it the send-path copy of a persistent message log's suppression list (each send then reads the list).
   */
  cache?: ProviderCacheOptions | false;
  /** Where warnings go. @default process.emitWarning for warnings, nothing for debug */
  logger?: Logger;
  /** Time budget of one provider call, unless the provider config sets `timeoutMs`. @default 15000 */
  attemptTimeoutMs?: number;
  /**
   * Time budget of a whole send: store reads, retries and failovers included. A store that does not answer within
   * it ends the send with a transient `STORE_UNAVAILABLE`. @default 60000
   */
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
  /**
   * OpenTelemetry spans: a span per send with a child per attempt. Needs `@opentelemetry/api`; without it, sends
   * go on untraced and the logger gets one warning (observability never refuses a send).
   */
  tracing?: boolean | TracingOptions;
  /**
   * Where sends, their delivery events and the suppression list are kept. Defaults to `store` when it implements
   * {@link MessageLogStore} (the memory and PostgreSQL stores do), else to memory. `false` turns off the message
   * log, the suppression list and its check on the send path (webhooks still verify and normalise).
   */
  messageLog?: MessageLogStore | false;
  /**
   * The suppression list: which delivery events suppress a recipient, and how the send path caches it. `false`
   * turns off the send-path check and automatic suppression, and keeps the message log (correlation, events);
   * `pipe.suppressions` still reads and writes the list, for an app that applies it itself.
   */
  suppression?: SuppressionOptions | false;
  /** Webhook verification: the fetch SNS certificates go through, replay cache, clock, SNS confirmations. */
  webhooks?: WebhookOptions;
}

/** An email to send: the message fields plus the project it belongs to. */
export type EmailSendInput = { projectId: string; channel: 'email' } & EmailMessageInput;
/** An SMS to send: the message fields plus the project it belongs to. */
export type SmsSendInput = { projectId: string; channel: 'sms' } & SmsMessageInput;
/** Input of {@link Dispatcher.send}. */
export type SendInput = EmailSendInput | SmsSendInput;

/** Options of one send. */
export interface SendOptions {
  /**
   * Passed to every attempt of this send; generated when absent. 1 to 200 characters of well-formed text without
   * control characters (the rule the queue applies too), else `MESSAGE_INVALID` with path `idempotencyKey`.
   */
  idempotencyKey?: string;
  /**
   * Abandons the send when aborted, whatever it is waiting for: the store reads, a retry's backoff, the attempt
   * under way. A signal already aborted ends the send with `ABORTED` before the store is read.
   */
  signal?: AbortSignal;
  /**
   * Sends to suppressed recipients anyway (a password reset to an address that once bounced). The override is
   * recorded in the message log and on the result (`suppressionIgnored`). Has no effect on a dispatcher with
   * `suppression: false`, which checks no list.
   */
  ignoreSuppression?: boolean;
}

const envelopeSchema = z.looseObject({
  projectId: identifier,
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
 *
 * The type parameter is the adapter tuple, inferred from `adapters`: `providers.add` then takes only the
 * registered provider names of each channel, each with its own config type. `Dispatcher` without a type argument
 * takes any name and config object (validated at run time), e.g. for input from an HTTP API.
 */
export class Dispatcher<const Adapters extends readonly AnyAdapter[] = readonly AnyAdapter[]> {
  /** Provider records: add, list, get, update, remove, validate, domains. */
  readonly providers: ProvidersApi<AddProviderInput<Adapters[number]>, ConfigUpdatesOf<Adapters[number]>>;
  /** Sender configuration per project and channel. */
  readonly senders: SendersApi;
  /** Provider webhooks in: `handle` (raw request → verified events) and `fetchHandler` (`Request → Response`). */
  readonly webhooks: WebhooksApi;
  /** A send and its delivery events. */
  readonly messages: MessagesApi;
  /** The project's suppression list, checked by every send (unless the dispatcher has `suppression: false`). */
  readonly suppressions: SuppressionsApi;

  readonly #core: DispatcherCore;
  /** Every attempt's timeout, on one timer. */
  readonly #attemptTimers = new DeadlineTimers<AttemptCall>(AttemptCall.onDeadline);
  readonly #events: Emitter<DispatcherEvents>;
  readonly #engine: FailoverEngine;
  readonly #tracing: Tracing | undefined;
  /**
   * Opened (unsealed, merged) configs per record, so a send does not decode secrets every time. Checked against
   * the stored secrets text too, so a record changed by another process is opened again.
   */
  readonly #openedConfigs = new RecordMap<OpenedEntry>();
  readonly #delivery: DeliveryService | undefined;
  readonly #sendTimeoutMs: number;
  /** Opened configs of frozen store snapshots' records: found without a lookup by key. */
  readonly #openedByRecord = new WeakMap<StoredProviderRecord, OpenedEntry>();
  /** The candidates (enabled, credentials not refused) of each frozen snapshot of a project's records. */
  readonly #candidates = new WeakMap<readonly StoredProviderRecord[], readonly StoredProviderRecord[]>();
  /** The send path's store reads: frozen snapshots from the built-in stores, copies from any other. */
  readonly #reads: SendPathReads;
  #closed = false;

  constructor(options: DispatcherOptions<Adapters>) {
    const logger = options.logger ?? defaultLogger;
    const { store, codec } = setUpStorage(options, logger);
    this.#core = {
      store,
      catalog: new ProviderCatalog(options.adapters),
      codec,
      logger,
      timeoutMs: options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS,
      onProviderReleased: (projectId, id) => {
        this.#engine.forget(projectId, id);
        this.#openedConfigs.delete(projectId, id);
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
      ? new Tracing(options.tracing === true ? {} : options.tracing, logger)
      : undefined;
    this.#reads = sendPathOf(store);
    this.providers = new ProvidersApi(this.#core);
    this.senders = new SendersApi(this.#core.store);
    this.#delivery = createDelivery(options, store, this.#events, logger);
    this.webhooks = new WebhooksApi(this.#core, () => this.#delivery, options.webhooks);
    this.messages = new MessagesApi(() => this.#requireDelivery());
    this.suppressions = new SuppressionsApi(() => this.#requireDelivery());
  }

  #requireDelivery(): DeliveryService {
    if (!this.#delivery) {
      throw new MessagePipeError(
        'NOT_SUPPORTED',
        'This dispatcher runs without a message log (messageLog: false)',
      );
    }
    return this.#delivery;
  }

  /** Subscribes to a dispatcher event; returns the function that unsubscribes. */
  on<E extends DispatcherEventName>(event: E, listener: (payload: DispatcherEvents[E]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /**
   * Counters and latency percentiles of every provider config this dispatcher has tried, one entry per record:
   * each names its `projectId` and `providerConfigId`, since ids are unique within a project only.
   */
  stats(): ProviderStats[] {
    return this.#engine.stats.snapshot();
  }

  /**
   * The circuit breakers, one per provider record `(projectId, id)`: one record's `state`, and `export` /
   * `restore` of all of them so a fleet of processes can share what each has learnt. The export is a JSON-ready
   * array of {@link BreakerSnapshot}s (`{ projectId, providerConfigId, state, consecutiveFailures, openedAt?,
   * retryAt? }`); `restore` validates what it is given (`CONFIG_INVALID` with paths) and clamps cool-downs to at
   * most `circuitBreaker.cooldownMs` from now.
   */
  readonly breakers = {
    state: (ref: { projectId: string; id: string }): BreakerState =>
      this.#engine.breakers?.state(ref.projectId, ref.id) ?? { state: 'closed', consecutiveFailures: 0 },
    export: (): BreakerSnapshot[] => this.#engine.breakers?.export() ?? [],
    restore: (snapshot: readonly BreakerSnapshot[]): void => this.#engine.breakers?.restore(snapshot),
  };

  /** JSON Schemas of every provider's config on a channel, keyed by provider, for rendering forms. */
  schemas(channel: Channel): Record<string, JsonSchema> {
    const { catalog } = this.#core;
    return Object.fromEntries(
      catalog.providersOf(channel).map((name) => [name, catalog.jsonSchema(channel, name)]),
    );
  }

  /**
   * JSON Schema of one provider's config; secret fields carry `writeOnly: true`. Any built-in provider of the
   * channel, or a custom adapter registered for it (`NOT_FOUND` otherwise).
   */
  schema<C extends Channel>(channel: C, provider: SchemaProviderName<Adapters[number], C>): JsonSchema {
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
   * - `STORE_UNAVAILABLE`: the provider store did not answer the send's reads within `sendTimeoutMs` (transient;
   *   nothing was sent). The deadline covers the store reads and every attempt together;
   * - `ABORTED` (the caller's signal, even one aborted before the call) or `DISPATCHER_CLOSED`.
   */
  send(input: SendInput, options?: SendOptions): Promise<SendResult> {
    // No `async` frames on the way: each would keep its register file and resume closures, garbage on every send.
    try {
      const prepared = this.#prepare(input, options);
      if (prepared instanceof Promise) return prepared.then((ready) => this.#dispatch(ready));
      return this.#dispatch(prepared);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Everything before the first attempt: the message checked and finished, the store read, the suppression list
   * consulted, the candidates found. Answers at once when nothing has to wait (frozen snapshots, a cached list).
   */
  #prepare(input: SendInput, options: SendOptions | undefined): Now<PreparedSend> {
    if (this.#closed) throw new MessagePipeError('DISPATCHER_CLOSED', 'This dispatcher has been closed');
    // Checked by hand first: the schema (and its error with paths) is only needed when something is wrong.
    if (!isEnvelope(input)) parseOrThrow(envelopeSchema, input, 'MESSAGE_INVALID', 'message');
    const { projectId, channel } = input;
    // The compiled fast path for common shapes, else the schema; a fast-path draft is frozen inside already.
    let draft: EmailDraft | undefined;
    let sms: SmsMessageOutput | undefined;
    let innerFrozen = false;
    if (channel === 'email') {
      draft = fastEmail(input);
      innerFrozen = draft !== undefined;
      draft ??= draftEmail(parseOrThrow(emailMessageSchema, fieldsOf(input), 'MESSAGE_INVALID', 'email'));
    } else {
      sms = fastSms(input) ?? parseOrThrow(smsMessageSchema, fieldsOf(input), 'MESSAGE_INVALID', 'SMS');
    }
    // No default `{}` for options: that would be one more object per send.
    const idempotencyKey = idempotencyKeyOf(options?.idempotencyKey);
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError(signal);
    // The deadline starts now: a store that stalls spends the send's budget, never more.
    const startedAt = this.#engine.now();
    const send = new PreparedSend(
      projectId,
      channel,
      idempotencyKey,
      signal,
      startedAt,
      this.#engine.deadlineFrom(startedAt),
    );
    const ignoreSuppression = options?.ignoreSuppression === true;
    // A plain value when the store has both reads at hand (frozen snapshots), else a bounded promise.
    const read = this.#readStore(projectId, channel, startedAt, send.deadline, signal);
    if (isPromise(read)) {
      send.clock = undefined;
      return read.then(([sender, records]) =>
        this.#screen(send, finishMessage(draft, sms, innerFrozen, sender), records, ignoreSuppression),
      );
    }
    const [sender, records] = read;
    return this.#screen(send, finishMessage(draft, sms, innerFrozen, sender), records, ignoreSuppression);
  }

  /** Checks the finished message against the suppression list, then finds the candidates. */
  #screen(
    send: PreparedSend,
    prepared: OutboundMessage,
    records: readonly StoredProviderRecord[],
    ignoreSuppression: boolean,
  ): Now<PreparedSend> {
    if (!this.#delivery) return this.#withCandidates(send, prepared, records);
    const screening = this.#delivery.screen(send.projectId, prepared, ignoreSuppression);
    // Not waited for when already answered (a cached list): a `then` would cost every send a tick.
    if (screening instanceof Promise) {
      send.clock = undefined;
      return screening.then((screened) => {
        send.screened = screened;
        return this.#withCandidates(send, screened.message, records);
      });
    }
    send.screened = screening;
    return this.#withCandidates(send, screening.message, records);
  }

  #withCandidates(
    send: PreparedSend,
    message: OutboundMessage,
    records: readonly StoredProviderRecord[],
  ): PreparedSend {
    send.message = message;
    send.candidates = this.#candidatesOf(records);
    if (send.candidates.length === 0) {
      throw new MessagePipeError(
        'NO_PROVIDERS',
        `Project has no enabled ${send.channel} provider with usable credentials`,
      );
    }
    return send;
  }

  /** Runs a prepared send through the failover engine and reports its end. */
  #dispatch(send: PreparedSend): Promise<SendResult> {
    // Not `this.#tracing?.…` unconditionally: waiting on nothing would still cost every untraced send a tick.
    if (this.#tracing && !this.#tracing.unavailable) {
      return this.#tracing.startSend(send).then((span) => {
        send.span = span;
        send.clock = undefined;
        return this.#run(send);
      });
    }
    return this.#run(send);
  }

  #run(send: PreparedSend): Promise<SendResult> {
    const { message, signal } = send;
    return this.#engine
      .run(
        send,
        send.candidates,
        (record, budgetMs, attemptNumber, startedAt) =>
          this.#attempt(record, message!, send, attemptNumber, budgetMs, startedAt, signal, send.span),
        signal,
        send.deadline,
        send.clock,
      )
      .then(
        (outcome) => this.#finish(send, outcome),
        (error: unknown) => {
          send.span?.end(undefined, error);
          if (signal?.aborted) throw abortedError(signal);
          throw error;
        },
      );
  }

  /** The send's result (recorded in the message log) or its error, each reported to the listeners. */
  #finish(send: PreparedSend, outcome: EngineOutcome<StoredProviderRecord>): SendResult {
    const { projectId, channel, idempotencyKey, screened, span } = send;
    if (outcome.ok) {
      const result: SendResult = {
        provider: outcome.candidate.provider,
        providerConfigId: outcome.candidate.id,
        messageId: outcome.attempt.messageId!,
        idempotencyKey,
        attempts: outcome.attempts,
      };
      if (outcome.attempt.rejectedRecipients) result.rejectedRecipients = outcome.attempt.rejectedRecipients;
      if (screened) {
        if (screened.suppressed) result.suppressed = screened.suppressed;
        if (screened.suppressionIgnored) result.suppressionIgnored = screened.suppressionIgnored;
        this.#delivery!.recordSend(projectId, screened, result);
      }
      span?.end(result);
      // Payloads are built only for listeners, with their properties written out: a spread of `base` costs
      // every send an object of a new shape.
      if (this.#events.has('send:success')) {
        this.#events.emit('send:success', { projectId, channel, idempotencyKey, result });
      }
      return result;
    }
    span?.end(undefined, outcome.error);
    if (this.#events.has('send:failure')) {
      this.#events.emit('send:failure', {
        projectId,
        channel,
        idempotencyKey,
        error: outcome.error,
        attempts: outcome.attempts,
      });
    }
    throw outcome.error;
  }

  /** Releases every adapter's resources; later sends are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#delivery?.flush();
    await Promise.all(this.#core.catalog.adapters().map(async (adapter) => adapter.close?.()));
  }

  /**
   * The project's sender configuration (`CHANNEL_DISABLED` when it is disabled) and provider records. Frozen
   * snapshots at hand answer at once; any read that has to wait is bounded by the send deadline and the caller's
   * signal: a store that never answers ends the send with a transient `STORE_UNAVAILABLE` (or `ABORTED`), not a
   * hang. One bound for both reads, so a send pays for one timer.
   */
  #readStore(
    projectId: string,
    channel: Channel,
    startedAt: number,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Now<StoreReads> {
    const reads = this.#reads;
    const sender = reads.sender(projectId, channel, startedAt);
    if (!isPromise(sender)) {
      enabled(sender, channel);
      const records = reads.providers(projectId, channel, startedAt);
      if (!isPromise(records)) return [sender, records];
      return this.#bounded(async () => [sender, await records] as const, deadline, signal);
    }
    return this.#bounded(
      async () => {
        const found = enabled(await sender, channel);
        // The sender's read took a while: the records' freshness is judged now, not at the send's start.
        return [found, await reads.providers(projectId, channel, performance.now())] as const;
      },
      deadline,
      signal,
    );
  }

  async #bounded(
    work: () => Promise<StoreReads>,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<StoreReads> {
    const timeoutMs = Math.max(1, this.#engine.remaining(deadline));
    try {
      return await withTimeout(work, {
        timeoutMs,
        provider: 'store',
        parent: signal,
        timeoutError: () =>
          new MessagePipeError(
            'STORE_UNAVAILABLE',
            `The provider store did not answer within the send deadline (${timeoutMs} ms left of sendTimeoutMs)`,
          ),
      });
    } catch (error) {
      if (signal?.aborted) throw abortedError(signal);
      throw error;
    }
  }

  /** The enabled records with usable credentials, kept per snapshot so a send does not filter them again. */
  #candidatesOf(records: readonly StoredProviderRecord[]): readonly StoredProviderRecord[] {
    const known = this.#candidates.get(records);
    if (known) return known;
    const candidates = records.filter((record) => record.enabled && record.credentials.status !== 'invalid');
    if (Object.isFrozen(records)) this.#candidates.set(records, Object.freeze(candidates));
    return candidates;
  }

  #open(record: StoredProviderRecord): OpenedEntry {
    // A frozen record is a store snapshot, replaced by any write: its opened config can hang on it.
    const known = this.#openedByRecord.get(record);
    if (known && known.version === record.version) return known;
    const entry = this.#openByKey(record);
    if (Object.isFrozen(record)) this.#openedByRecord.set(record, entry);
    return entry;
  }

  #openByKey(record: StoredProviderRecord): OpenedEntry {
    const cached = this.#openedConfigs.get(record.projectId, record.id);
    if (cached && cached.secrets === record.secrets) {
      if (cached.version === record.version) return cached;
      // A write that left config and secrets alone (a credential verdict, a rename) keeps the adapter's client:
      // the revision it is keyed on moves only when what the client was built from changes.
      if (cached.version < record.version && JSON.stringify(record.config) === cached.config) {
        cached.version = record.version;
        return cached;
      }
    }
    const opened = openConfig(this.#core, record);
    // Shared by every send of this revision: no adapter may change what the next send gets.
    deepFreeze(opened.config);
    // Bounded: a process that sees an unbounded number of provider configs starts over rather than grow.
    if (this.#openedConfigs.size >= MAX_OPENED_CONFIGS) this.#openedConfigs.clear();
    const entry: OpenedEntry = {
      secrets: record.secrets,
      config: JSON.stringify(record.config),
      version: record.version,
      revision: String(record.version),
      opened,
    };
    this.#openedConfigs.set(record.projectId, record.id, entry);
    return entry;
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
    const email =
      record.channel === 'email'
        ? draftEmail(parseOrThrow(emailMessageSchema, fields, 'MESSAGE_INVALID', 'email'))
        : undefined;
    const sms =
      record.channel === 'sms' ? parseOrThrow(smsMessageSchema, fields, 'MESSAGE_INVALID', 'SMS') : undefined;
    // A test send proves a provider before the channel goes live: a disabled sender configuration still applies.
    const sender = await this.#core.store.getSender(record.projectId, record.channel);
    const message = finishMessage(email, sms, false, sender);
    const base: SendEventBase = {
      projectId: record.projectId,
      channel: record.channel,
      idempotencyKey: newIdempotencyKey(),
    };
    const { attempt } = await this.#attempt(
      record,
      message,
      base,
      1,
      this.#sendTimeoutMs,
      performance.now(),
      undefined,
      undefined,
    );
    return attempt;
  }
  // --- end of providers.test ---

  /** One try of one provider: never rejects for a provider failure, only reports it (rejects when aborted). */
  #attempt(
    record: StoredProviderRecord,
    message: OutboundMessage,
    base: SendEventBase,
    attemptNumber: number,
    budgetMs: number,
    started: number,
    signal: AbortSignal | undefined,
    span: SendSpan | undefined,
  ): Promise<AttemptOutcome> {
    if (this.#events.has('attempt:start')) {
      this.#events.emit('attempt:start', {
        projectId: base.projectId,
        channel: base.channel,
        idempotencyKey: base.idempotencyKey,
        providerConfigId: record.id,
        provider: record.provider,
        attemptNumber,
      });
    }
    const call = new AttemptCall(
      record,
      base,
      attemptNumber,
      started,
      signal,
      span,
      this.#events,
      this.#core,
      this.#attemptTimers,
    );
    try {
      const adapter = this.#core.catalog.adapterFor(record.provider);
      // Over this provider's documented limits: skip it (no request) and let the engine try the next.
      const overLimit = providerLimitError(adapter.limits, message, record.provider);
      if (overLimit) throw overLimit;
      const { opened, revision } = this.#open(record);
      const configured =
        typeof opened.config.timeoutMs === 'number' ? opened.config.timeoutMs : this.#core.timeoutMs;
      if (!adapterLoaded(adapter)) {
        // Loading the SDK is not provider time: it happens before the attempt's timer starts (within the send's).
        return loadAdapter(adapter, signal).then(
          () => {
            const loaded = performance.now();
            const left = budgetMs - (loaded - started);
            return call.run(
              adapter,
              message,
              opened,
              revision,
              Math.max(1, Math.min(configured, left)),
              loaded,
            );
          },
          (thrown: unknown) => call.fail(thrown),
        );
      }
      return call.run(adapter, message, opened, revision, Math.min(configured, budgetMs), started);
    } catch (thrown) {
      return call.fail(thrown);
    }
  }
}

/**
 * One send between its checks and its end: what the events name it by ({@link SendEventBase}), the finished
 * message and its candidates. A class, so every send has the same shape.
 */
class PreparedSend implements SendEventBase {
  readonly projectId: string;
  readonly channel: Channel;
  readonly idempotencyKey: string;
  readonly signal: AbortSignal | undefined;
  /** When the send started plus `sendTimeoutMs` (engine clock). */
  readonly deadline: number;
  /** The engine clock reading at the start, while nothing has been waited for since; then undefined. */
  clock: number | undefined;
  message: OutboundMessage | undefined = undefined;
  candidates: readonly StoredProviderRecord[] = NO_RECORDS;
  screened: ScreenedMessage | undefined = undefined;
  span: SendSpan | undefined = undefined;

  constructor(
    projectId: string,
    channel: Channel,
    idempotencyKey: string,
    signal: AbortSignal | undefined,
    startedAt: number,
    deadline: number,
  ) {
    this.projectId = projectId;
    this.channel = channel;
    this.idempotencyKey = idempotencyKey;
    this.signal = signal;
    this.deadline = deadline;
    this.clock = startedAt;
  }
}

const NO_RECORDS: readonly StoredProviderRecord[] = Object.freeze([]);

/** What one attempt reports to the failover engine. */
interface AttemptOutcome {
  attempt: Attempt;
  error?: ProviderError;
}

/**
 * One attempt: the adapter's {@link SendContext} and the attempt's single timer and promise. A small class, so
 * every attempt has the same shape and `signal` is a getter on the prototype (an accessor in an object literal
 * costs a new shape, and garbage that outlives the young generation, per send).
 *
 * It settles once, with the first of: the adapter's answer, the attempt's timeout (even when the adapter ignores
 * its signal) or the caller's abort.
 */
class AttemptCall implements SendContext<unknown> {
  config: unknown = undefined;
  readonly projectId: string;
  providerConfigId: string;
  configRevision: string;
  readonly idempotencyKey: string;
  timeoutMs = 0;
  readonly logger: Logger;
  /** The attempt's timer aborts `signal`: see {@link SendContext.signalTimesOut}. */
  get signalTimesOut(): boolean {
    return true;
  }

  readonly #record: StoredProviderRecord;
  readonly #attemptNumber: number;
  readonly #started: number;
  readonly #parent: AbortSignal | undefined;
  readonly #span: SendSpan | undefined;
  readonly #events: Emitter<DispatcherEvents>;
  readonly #base: SendEventBase;
  #secrets: readonly string[] = NO_SECRETS;
  #controller: AbortController | undefined = undefined;
  readonly #timers: DeadlineTimers<AttemptCall>;
  /** The attempt's place on {@link #timers}, until it settles or times out. */
  #slot: DeadlineSlot<AttemptCall> | undefined = undefined;
  #onParentAbort: (() => void) | undefined = undefined;
  /** The timeout, once it fired while the adapter held the signal: the adapter may still answer this turn. */
  #timedOut: ProviderError | undefined = undefined;
  #settled = false;
  #aborted = false;
  #abortReason: unknown = undefined;
  #resolve: (outcome: AttemptOutcome) => void = noop;
  #reject: (error: unknown) => void = noop;

  constructor(
    record: StoredProviderRecord,
    base: SendEventBase,
    attemptNumber: number,
    started: number,
    parent: AbortSignal | undefined,
    span: SendSpan | undefined,
    events: Emitter<DispatcherEvents>,
    core: DispatcherCore,
    timers: DeadlineTimers<AttemptCall>,
  ) {
    this.#record = record;
    this.#timers = timers;
    this.#base = base;
    this.projectId = base.projectId;
    this.providerConfigId = record.id;
    this.configRevision = '';
    this.idempotencyKey = base.idempotencyKey;
    this.logger = core.logger;
    this.#attemptNumber = attemptNumber;
    this.#started = started;
    this.#parent = parent;
    this.#span = span;
    this.#events = events;
  }

  /**
   * Aborted when the attempt times out (the reason is then a `PROVIDER_TIMEOUT` {@link ProviderError}) or the
   * caller gives up. A lazy accessor: the signal is created on first read, so adapters that never look at it
   * cost nothing; reading it (`ctx.signal`, or destructuring `{ signal }`) always gives the same signal.
   */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /**
   * Calls the adapter under the attempt's timeout and the caller's signal; the timeout runs from `timerStart`
   * (a `performance.now()` time: the attempt's start, or when its SDK had loaded).
   */
  run(
    adapter: AnyAdapter,
    message: OutboundMessage,
    opened: OpenedConfig,
    revision: string,
    timeoutMs: number,
    timerStart: number,
  ): Promise<AttemptOutcome> {
    this.config = opened.config;
    this.configRevision = revision;
    this.#secrets = opened.secrets;
    this.timeoutMs = timeoutMs;
    const parent = this.#parent;
    if (parent?.aborted) return Promise.reject(abortedError(parent));
    const promise = new Promise<AttemptOutcome>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#slot = this.#timers.add(this, timerStart + timeoutMs);
    if (parent) {
      this.#onParentAbort = () => this.#abort();
      parent.addEventListener('abort', this.#onParentAbort, { once: true });
    }
    let pending: Promise<SendReceipt>;
    try {
      pending = adapter.send(message, this);
    } catch (thrown) {
      this.#answer(undefined, thrown ?? new Error(String(thrown)));
      return promise;
    }
    pending.then(
      (receipt) => this.#answer(receipt, undefined),
      (thrown: unknown) => this.#answer(undefined, thrown ?? new Error(String(thrown))),
    );
    return promise;
  }

  /** Reports a failure that happened before the adapter was called. */
  fail(thrown: unknown): Promise<AttemptOutcome> {
    if (this.#parent?.aborted) return Promise.reject(abortedError(this.#parent));
    this.#settled = true;
    return Promise.resolve(this.#failure(thrown));
  }

  /** What the dispatcher's {@link DeadlineTimers} call when an attempt's time is up. */
  static readonly onDeadline = (call: AttemptCall): void => {
    call.#slot = undefined;
    call.#onTimer();
  };

  static #onGrace(call: AttemptCall): void {
    if (!call.#settled) call.#settle(call.#failure(call.#timedOut));
  }

  #onTimer(): void {
    if (this.#settled) return;
    const provider = this.#record.provider;
    const timeout = new ProviderError(
      'PROVIDER_TIMEOUT',
      `${provider} did not answer within ${this.timeoutMs} ms`,
      {
        provider,
        ambiguous: true,
      },
    );
    this.#aborted = true;
    this.#abortReason = timeout;
    if (this.#controller) {
      // The adapter holds the signal and may know more (say, that nothing had been sent): its own
      // PROVIDER_TIMEOUT is taken if it rejects with one at once; whatever it does, the attempt settles this turn.
      this.#timedOut = timeout;
      this.#controller.abort(timeout);
      if (!this.#settled) setImmediate(AttemptCall.#onGrace, this);
      return;
    }
    this.#settle(this.#failure(timeout));
  }

  #abort(): void {
    if (this.#settled) return;
    this.#release();
    this.#settled = true;
    this.#aborted = true;
    this.#abortReason = this.#parent?.reason;
    this.#controller?.abort(this.#abortReason);
    this.#reject(abortedError(this.#parent!));
  }

  #answer(receipt: SendReceipt | undefined, thrown: unknown): void {
    if (this.#settled) return;
    if (this.#parent?.aborted) {
      this.#abort();
      return;
    }
    if (this.#timedOut) {
      const own = isProviderError(thrown) && thrown.code === 'PROVIDER_TIMEOUT';
      this.#settle(this.#failure(own ? thrown : this.#timedOut));
      return;
    }
    if (thrown !== undefined) {
      this.#settle(this.#failure(thrown));
      return;
    }
    let messageId: string;
    try {
      messageId = (receipt as SendReceipt).messageId;
    } catch (error) {
      this.#settle(this.#failure(error));
      return;
    }
    const record = this.#record;
    const attempt: Attempt = {
      providerConfigId: record.id,
      provider: record.provider,
      outcome: 'sent',
      messageId,
      durationMs: elapsed(this.#started),
    };
    const rejected = (receipt as SendReceipt).rejectedRecipients;
    if (rejected?.length) attempt.rejectedRecipients = [...rejected];
    this.#settle({ attempt });
  }

  #failure(thrown: unknown): AttemptOutcome {
    const record = this.#record;
    const error = sanitizeProviderError(thrown, record.provider, this.#secrets);
    return {
      attempt: {
        providerConfigId: record.id,
        provider: record.provider,
        outcome: 'failed',
        error: toAttemptError(error),
        durationMs: elapsed(this.#started),
      },
      error,
    };
  }

  #release(): void {
    if (this.#slot) {
      this.#timers.delete(this.#slot);
      this.#slot = undefined;
    }
    if (this.#onParentAbort) this.#parent?.removeEventListener('abort', this.#onParentAbort);
  }

  #settle(outcome: AttemptOutcome): void {
    this.#release();
    this.#settled = true;
    this.#span?.attempt(outcome.attempt);
    if (this.#events.has('attempt:finish')) {
      const base = this.#base;
      this.#events.emit('attempt:finish', {
        projectId: base.projectId,
        channel: base.channel,
        idempotencyKey: base.idempotencyKey,
        attempt: outcome.attempt,
        attemptNumber: this.#attemptNumber,
      });
    }
    this.#resolve(outcome);
  }
}

const NO_SECRETS: readonly string[] = Object.freeze([]);

function noop(): void {}

function isPromise<T>(value: Now<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** The message fields of a send input, for the schema path. */
function fieldsOf(input: SendInput): Record<string, unknown> {
  const { projectId: _projectId, channel: _channel, ...fields } = input;
  return fields;
}

/** Sender addresses built from frozen sender configurations, so each is built once. */
const senderAddresses = new WeakMap<object, EmailAddress>();

/** The checked message with its sender filled in from the project's configuration, frozen. */
function finishMessage(
  draft: EmailDraft | undefined,
  sms: SmsMessageOutput | undefined,
  innerFrozen: boolean,
  sender: Readonly<SenderConfig> | undefined,
): OutboundMessage {
  return draft ? finishEmail(draft, sender, innerFrozen) : finishSms(sms!, sender);
}

function finishEmail(
  draft: EmailDraft,
  sender: Readonly<SenderConfig> | undefined,
  innerFrozen: boolean,
): OutboundEmail {
  let from = draft.from;
  if (!from && sender?.channel === 'email') {
    from = senderAddresses.get(sender);
    if (!from) {
      from = Object.freeze(
        sender.senderName
          ? { email: sender.senderEmail, name: sender.senderName }
          : { email: sender.senderEmail },
      );
      if (Object.isFrozen(sender)) senderAddresses.set(sender, from);
    }
  }
  if (!from) {
    throw new MessagePipeError('MESSAGE_INVALID', 'No sender: set one with pipe.senders.set or pass from', {
      issues: [{ path: ['from'], message: 'No sender address' }],
    });
  }
  draft.from = from;
  // `from` is frozen either way (the fast path's own, or built above).
  return innerFrozen ? Object.freeze(draft as OutboundEmail) : deepFreeze(draft as OutboundEmail);
}

function finishSms(sms: SmsMessageOutput, sender: Readonly<SenderConfig> | undefined): OutboundSms {
  return deepFreeze(normaliseSms(sms, sender?.channel === 'sms' ? sender : undefined));
}

function sendPathOf(store: ProviderStore): SendPathReads {
  const own = (store as Partial<Record<typeof SEND_PATH, SendPathReads>>)[SEND_PATH];
  if (own) return own;
  return {
    providers: (projectId, channel) => store.listProviders(projectId, { channel }),
    sender: (projectId, channel) => store.getSender(projectId, channel),
  };
}

/** A record's opened config, and what it was opened from. */
interface OpenedEntry {
  secrets: string;
  /** The record's public config as JSON, to tell a config change from any other write. */
  config: string;
  version: number;
  /** `configRevision` of the adapter's send context, made once per revision rather than per send. */
  revision: string;
  opened: OpenedConfig;
}

/** The message log the dispatcher keeps sends, events and suppressions in, and how its send-path check caches. */
function createDelivery(
  options: DispatcherOptions,
  store: ProviderStore,
  events: Emitter<DispatcherEvents>,
  logger: Logger,
): DeliveryService | undefined {
  if (options.messageLog === false) return undefined;
  const given = store instanceof CachingProviderStore ? store.inner : store;
  const log = options.messageLog ?? (isMessageLogStore(given) ? given : new InMemoryMessageLog());
  // The send-path copy of the list is kept for any log outside this process, whichever store holds the provider
  // records (a `PostgresMessageLog` beside the memory provider store would otherwise cost a store read per send);
  // `cache: false` turns it off with the provider cache. A log says where it lives with `persistent`, or by
  // answering in-process (`suppressedNow`).
  const inProcess = log.persistent === false || (log.persistent !== true && log.suppressedNow !== undefined);
  const cached = options.cache !== false && !inProcess;
  const ttlMs = (options.cache ? options.cache.ttlMs : undefined) ?? DEFAULT_CACHE_TTL_MS;
  const suppression =
    options.suppression === false ? { check: false, autoSuppress: false as const } : options.suppression;
  return new DeliveryService(log, { ...suppression, cached, ttlMs }, events, logger);
}

/** The send's store reads: the sender configuration and the channel's provider records. */
type StoreReads = readonly [Readonly<SenderConfig> | undefined, readonly StoredProviderRecord[]];

function enabled(
  sender: Readonly<SenderConfig> | undefined,
  channel: Channel,
): Readonly<SenderConfig> | undefined {
  if (sender && !sender.enabled) {
    throw new MessagePipeError('CHANNEL_DISABLED', `Sending ${channel} is disabled for this project`);
  }
  return sender;
}

function isEnvelope(input: unknown): input is SendInput {
  if (typeof input !== 'object' || input === null) return false;
  const { projectId, channel } = input as { projectId?: unknown; channel?: unknown };
  return isIdentifier(projectId) && (channel === 'email' || channel === 'sms');
}

/** The key given (checked with the queue's rule, `MESSAGE_INVALID` with its path), or a new one. */
function idempotencyKeyOf(given: unknown): string {
  if (given === undefined) return newIdempotencyKey();
  if (isIdempotencyKey(given)) return given;
  return parseOrThrow(idempotencyKeySchema, given, 'MESSAGE_INVALID', 'send options', ['idempotencyKey']);
}

function abortedError(signal: AbortSignal): MessagePipeError {
  return new MessagePipeError('ABORTED', 'The send was aborted', { cause: signal.reason });
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
