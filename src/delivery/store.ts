import { RecordMap } from '../record-map';
import { cloneData } from '../store/clone';
import type { Channel } from '../types';
import { RecipientIndex } from './recipient-index';
import { SlotIndex } from './slot-index';
import { stringHash } from './string-hash';
import type { DeliveryEvent, DeliveryEventType } from './types';

/** One successful send, as the message log keeps it. */
export interface SentMessageRecord {
  projectId: string;
  channel: Channel;
  providerConfigId: string;
  provider: string;
  /** The provider message id as the send returned it. */
  messageId: string;
  /** `messageId` as the provider's events name it (Mailgun without `<>`): what events are matched on. */
  correlationId: string;
  idempotencyKey: string;
  /** The recipients the message went to, normalised (suppressed ones that were dropped are not among them). */
  recipients: string[];
  /** Recipients left out because they are suppressed. */
  suppressed?: string[];
  /** Suppressed recipients sent to anyway, under `ignoreSuppression: true`. */
  suppressionIgnored?: string[];
  /** ISO time. */
  sentAt: string;
}

/** Why a recipient is on the suppression list. */
export type SuppressionReason = 'bounced' | 'complained' | 'unsubscribed' | 'manual' | (string & {});

/** One suppressed recipient of a project and channel. */
export interface SuppressionRecord {
  projectId: string;
  channel: Channel;
  /** Normalised: email addresses in lower case, phone numbers in E.164. */
  recipient: string;
  reason: SuppressionReason;
  /** `event` when a delivery event put it there, `manual` for `pipe.suppressions.add`. */
  source: 'manual' | 'event';
  /** For `source: 'event'`: which event. */
  eventType?: DeliveryEventType;
  provider?: string;
  providerConfigId?: string;
  messageId?: string;
  /** Free text: the provider's reason, or the caller's note. */
  detail?: string;
  /** ISO time. */
  createdAt: string;
}

/** One page request of {@link MessageLogStore.listSuppressions}. */
export interface SuppressionPage {
  channel?: Channel;
  /** Return entries after this one (in `channel`, `recipient` order). */
  after?: { channel: Channel; recipient: string };
  limit: number;
}

/** Finds one send in the message log. */
export type SentMessageQuery = { idempotencyKey: string } | { correlationId: string; provider?: string };

/**
 * The optional store capability behind delivery events: the message log (sends and their events) and the
 * suppression list. `InMemoryProviderStore` and `PostgresProviderStore` implement it; a custom `ProviderStore`
 * may too (check it with `messageLogStoreConformance` from `messagepipe/testing`). Everything is scoped by
 * `projectId`, like the provider records.
 */
export interface MessageLogStore {
  /**
   * Whether the log lives outside this process (a database), so the send path keeps a copy of each project's
   * suppression list, refreshed every cache TTL. Left out, a log that implements {@link suppressedNow} counts as
   * in-process and any other as persistent.
   */
  readonly persistent?: boolean;
  /** Records a send. A second record with the same project, provider and correlation id is ignored. */
  recordSend(record: SentMessageRecord): Promise<void>;
  /**
   * One send, or `undefined`. With several sends under one idempotency key, the latest `sentAt`; under one
   * correlation id without `provider` (several providers gave the same id), the earliest. Which of several sends
   * with the same `sentAt` is unspecified.
   */
  findSend(projectId: string, query: SentMessageQuery): Promise<SentMessageRecord | undefined>;
  /**
   * Keeps an event unless one with the same `id` (its content key) is already kept in the project; resolves
   * `true` when it was new. Events may arrive before their send is recorded: they are kept all the same.
   */
  recordEvent(event: DeliveryEvent): Promise<boolean>;
  /** The project's events of one message (by correlation id), ordered by `at`, then `receivedAt`, then `id`. */
  listEvents(projectId: string, correlationId: string): Promise<DeliveryEvent[]>;
  /** Adds a recipient to the suppression list, or replaces its entry. */
  putSuppression(record: SuppressionRecord): Promise<void>;
  /** Removes a recipient; resolves `false` when it was not suppressed. */
  deleteSuppression(projectId: string, channel: Channel, recipient: string): Promise<boolean>;
  /** The entries among `recipients` (normalised) that are suppressed. */
  findSuppressions(
    projectId: string,
    channel: Channel,
    recipients: readonly string[],
  ): Promise<SuppressionRecord[]>;
  /** The project's entries, ordered by channel then recipient, one page at a time. */
  listSuppressions(projectId: string, page: SuppressionPage): Promise<SuppressionRecord[]>;
  /**
   * Every suppressed recipient of a project and channel, at most `limit` of them (the dispatcher asks for one more
   * than it is willing to hold in memory). What the send-path filter is built from.
   */
  suppressedRecipients(projectId: string, channel: Channel, limit: number): Promise<string[]>;
  /**
   * Optional, for stores that live in this process: the suppressed recipients among `recipients`, answered
   * synchronously, so the send path need not wait a tick.
   */
  suppressedNow?(projectId: string, channel: Channel, recipients: readonly string[]): readonly string[];
}

const CAPABILITY_METHODS = [
  'recordSend',
  'findSend',
  'recordEvent',
  'listEvents',
  'putSuppression',
  'deleteSuppression',
  'findSuppressions',
  'listSuppressions',
  'suppressedRecipients',
] as const;

/** True when a store implements every method of {@link MessageLogStore}. */
export function isMessageLogStore(store: unknown): store is MessageLogStore {
  if (typeof store !== 'object' || store === null) return false;
  return CAPABILITY_METHODS.every(
    (method) => typeof (store as Record<string, unknown>)[method] === 'function',
  );
}

/** Orders events the way every store must: provider time, then receipt time, then id. */
export function compareDeliveryEvents(a: DeliveryEvent, b: DeliveryEvent): number {
  return compare(a.at, b.at) || compare(a.receivedAt, b.receivedAt) || compare(a.id, b.id);
}

/** The answer for a message none of whose recipients is suppressed: shared, so the common case allocates nothing. */
export const NONE_SUPPRESSED: readonly string[] = Object.freeze([]);

/** The recipients found in `list`, in order. */
export function suppressedAmong(
  list: { has(recipient: string): boolean; readonly size: number },
  recipients: readonly string[],
): readonly string[] {
  if (list.size === 0) return NONE_SUPPRESSED;
  let found: string[] | undefined;
  for (const recipient of recipients) {
    if (!list.has(recipient)) continue;
    if (found) found.push(recipient);
    else found = [recipient];
  }
  return found ?? NONE_SUPPRESSED;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The message log and suppression list in this process, for the memory store (and for dispatchers whose store has
 * no {@link MessageLogStore} of its own). Bounded: the oldest sends and events go first past `maxMessages`.
 */
export class InMemoryMessageLog implements MessageLogStore {
  /** Lives in this process: the send path asks it directly, with no copy of the list. */
  readonly persistent = false;
  readonly #maxMessages: number;
  /** Every send kept, oldest first from `#oldest` on: a ring of `maxMessages` slots. */
  readonly #ring: SentMessageRecord[] = [];
  #oldest = 0;
  /** Ring slots by hash of (project, correlation id): a send per provider that reported the id. */
  readonly #byCorrelationId = new SlotIndex();
  /** Ring slots by hash of (project, idempotency key): every send under the key, a failover resend too. */
  readonly #byIdempotencyKey = new SlotIndex();
  /** Per ring slot, the two hashes its send is indexed under (correlation, key), to take it out when evicted. */
  #slotHashes = new Int32Array(32);
  /** project + correlation id → event id → event. */
  readonly #events = new Map<string, Map<string, DeliveryEvent>>();
  /** project → channel → recipient → entry. */
  readonly #suppressions = new RecordMap<RecipientIndex<SuppressionRecord>>();

  constructor(options: { maxMessages?: number } = {}) {
    this.#maxMessages = Math.max(1, options.maxMessages ?? 100_000);
  }

  async recordSend(record: SentMessageRecord): Promise<void> {
    this.recordOwnedSend(cloneData(record));
  }

  /**
   * @internal `recordSend` for a record nobody else holds (the dispatcher's own, built for this call): kept as it
   * is, synchronously, so the send path pays for no copy and no promise.
   */
  recordOwnedSend(record: SentMessageRecord): void {
    const { projectId, correlationId, provider } = record;
    const ring = this.#ring;
    const projectHash = stringHash(projectId);
    const correlationHash = stringHash(correlationId, projectHash);
    const index = this.#byCorrelationId;
    for (let at = index.next(correlationHash, -1); at !== -1; at = index.next(correlationHash, at)) {
      const other = ring[index.slotAt(at)]!;
      if (
        other.correlationId === correlationId &&
        other.projectId === projectId &&
        other.provider === provider
      ) {
        return;
      }
    }
    let slot: number;
    if (ring.length < this.#maxMessages) {
      slot = ring.length;
      ring.push(record);
      if (this.#slotHashes.length < ring.length * 2) this.#growSlotHashes();
    } else {
      slot = this.#oldest;
      this.#byCorrelationId.delete(this.#slotHashes[slot * 2]!, slot);
      this.#byIdempotencyKey.delete(this.#slotHashes[slot * 2 + 1]!, slot);
      ring[slot] = record;
      this.#oldest = (slot + 1) % ring.length;
    }
    const keyHash = stringHash(record.idempotencyKey, projectHash);
    this.#byCorrelationId.add(correlationHash, slot);
    this.#byIdempotencyKey.add(keyHash, slot);
    this.#slotHashes[slot * 2] = correlationHash;
    this.#slotHashes[slot * 2 + 1] = keyHash;
  }

  async findSend(projectId: string, query: SentMessageQuery): Promise<SentMessageRecord | undefined> {
    const projectHash = stringHash(projectId);
    // Among several sends under one key: for a correlation id the earliest `sentAt`, then the first recorded; for
    // an idempotency key the latest `sentAt`, then the last recorded.
    let found: SentMessageRecord | undefined;
    let foundAge = -1;
    if ('idempotencyKey' in query) {
      const key = query.idempotencyKey;
      for (const [record, age] of this.#sendsUnder(this.#byIdempotencyKey, stringHash(key, projectHash))) {
        if (record.idempotencyKey !== key || record.projectId !== projectId) continue;
        const order = found ? compare(record.sentAt, found.sentAt) : 1;
        if (order > 0 || (order === 0 && age > foundAge)) {
          found = record;
          foundAge = age;
        }
      }
    } else {
      const { correlationId, provider } = query;
      for (const [record, age] of this.#sendsUnder(
        this.#byCorrelationId,
        stringHash(correlationId, projectHash),
      )) {
        if (record.correlationId !== correlationId || record.projectId !== projectId) continue;
        if (provider !== undefined && record.provider !== provider) continue;
        const order = found ? compare(record.sentAt, found.sentAt) : -1;
        if (order < 0 || (order === 0 && age < foundAge)) {
          found = record;
          foundAge = age;
        }
      }
    }
    return found && cloneData(found);
  }

  /** Each kept send stored under `hash` in `index` (collisions included), with its age in the ring (0: the oldest). */
  *#sendsUnder(index: SlotIndex, hash: number): Generator<[SentMessageRecord, number]> {
    const ring = this.#ring;
    for (let at = index.next(hash, -1); at !== -1; at = index.next(hash, at)) {
      const slot = index.slotAt(at);
      yield [ring[slot]!, (slot - this.#oldest + ring.length) % ring.length];
    }
  }

  async recordEvent(event: DeliveryEvent): Promise<boolean> {
    const key = `${event.projectId}\u0000${event.messageId}`;
    let events = this.#events.get(key);
    if (!events) {
      if (this.#events.size >= this.#maxMessages) {
        const oldest = this.#events.keys().next();
        if (!oldest.done) this.#events.delete(oldest.value);
      }
      events = new Map();
      this.#events.set(key, events);
    }
    if (events.has(event.id)) return false;
    events.set(event.id, cloneData(event));
    return true;
  }

  async listEvents(projectId: string, correlationId: string): Promise<DeliveryEvent[]> {
    const events = [...(this.#events.get(`${projectId}\u0000${correlationId}`)?.values() ?? [])];
    return events.sort(compareDeliveryEvents).map((event) => cloneData(event));
  }

  async putSuppression(record: SuppressionRecord): Promise<void> {
    let entries = this.#suppressions.get(record.projectId, record.channel);
    if (!entries) {
      entries = new RecipientIndex();
      this.#suppressions.set(record.projectId, record.channel, entries);
    }
    entries.set(record.recipient, cloneData(record));
  }

  async deleteSuppression(projectId: string, channel: Channel, recipient: string): Promise<boolean> {
    return this.#suppressions.get(projectId, channel)?.delete(recipient) ?? false;
  }

  async findSuppressions(
    projectId: string,
    channel: Channel,
    recipients: readonly string[],
  ): Promise<SuppressionRecord[]> {
    const entries = this.#suppressions.get(projectId, channel);
    if (!entries || entries.size === 0) return [];
    const found: SuppressionRecord[] = [];
    for (const recipient of new Set(recipients)) {
      const entry = entries.get(recipient);
      if (entry) found.push(cloneData(entry));
    }
    return found;
  }

  async listSuppressions(projectId: string, page: SuppressionPage): Promise<SuppressionRecord[]> {
    const channels: Channel[] = page.channel ? [page.channel] : ['email', 'sms'];
    const all: SuppressionRecord[] = [];
    for (const channel of channels) {
      const entries = this.#suppressions.get(projectId, channel);
      if (entries) all.push(...entries.values());
    }
    const after = page.after;
    return all
      .filter(
        (entry) =>
          !after ||
          compare(entry.channel, after.channel) > 0 ||
          (entry.channel === after.channel && compare(entry.recipient, after.recipient) > 0),
      )
      .sort((a, b) => compare(a.channel, b.channel) || compare(a.recipient, b.recipient))
      .slice(0, Math.max(0, page.limit))
      .map((entry) => cloneData(entry));
  }

  suppressedNow(projectId: string, channel: Channel, recipients: readonly string[]): readonly string[] {
    if (this.#suppressions.size === 0) return NONE_SUPPRESSED;
    const entries = this.#suppressions.get(projectId, channel);
    return entries ? suppressedAmong(entries, recipients) : NONE_SUPPRESSED;
  }

  async suppressedRecipients(projectId: string, channel: Channel, limit: number): Promise<string[]> {
    const entries = this.#suppressions.get(projectId, channel);
    if (!entries) return [];
    const recipients: string[] = [];
    for (const recipient of entries.keys()) {
      if (recipients.length >= limit) break;
      recipients.push(recipient);
    }
    return recipients;
  }

  #growSlotHashes(): void {
    const grown = new Int32Array(Math.min(this.#slotHashes.length * 2, this.#maxMessages * 2));
    grown.set(this.#slotHashes);
    this.#slotHashes = grown;
  }
}
