import { RecordMap } from '../record-map';
import { cloneData } from '../store/clone';
import type { Channel } from '../types';
import { RecipientIndex } from './recipient-index';
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
  /** Records a send. A second record with the same project, provider and correlation id is ignored. */
  recordSend(record: SentMessageRecord): Promise<void>;
  /** One send, or `undefined`. With several sends under one idempotency key, the latest. */
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
  readonly #maxMessages: number;
  /** project → correlation id → its send (or sends: one per provider). */
  readonly #byCorrelationId = new RecordMap<Indexed>();
  /** project → idempotency key → its send (or sends: one per provider that accepted it). */
  readonly #byIdempotencyKey = new RecordMap<Indexed>();
  /** Every send kept, oldest first from `#oldest` on: a ring of `maxMessages` slots. */
  readonly #ring: SentMessageRecord[] = [];
  #oldest = 0;
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
    const known = this.#byCorrelationId.get(record.projectId, record.correlationId);
    if (known && find(known, (other) => other.provider === record.provider)) return;
    const ring = this.#ring;
    if (ring.length < this.#maxMessages) {
      ring.push(record);
    } else {
      this.#forget(ring[this.#oldest]!);
      ring[this.#oldest] = record;
      this.#oldest = (this.#oldest + 1) % ring.length;
    }
    // Read again: the send just evicted may have shared the key.
    addTo(this.#byCorrelationId, record.projectId, record.correlationId, record);
    addTo(this.#byIdempotencyKey, record.projectId, record.idempotencyKey, record);
  }

  async findSend(projectId: string, query: SentMessageQuery): Promise<SentMessageRecord | undefined> {
    if ('idempotencyKey' in query) {
      const found = this.#byIdempotencyKey.get(projectId, query.idempotencyKey);
      if (!found) return undefined;
      const latest = [...listOf(found)].sort((a, b) => compare(a.sentAt, b.sentAt)).at(-1);
      return latest && cloneData(latest);
    }
    const found = this.#byCorrelationId.get(projectId, query.correlationId);
    const record =
      found && find(found, (other) => query.provider === undefined || other.provider === query.provider);
    return record && cloneData(record);
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

  /** Takes an evicted send out of both indexes. */
  #forget(record: SentMessageRecord): void {
    removeFrom(this.#byCorrelationId, record.projectId, record.correlationId, record);
    removeFrom(this.#byIdempotencyKey, record.projectId, record.idempotencyKey, record);
  }
}

/** One send, or several under one key: most keys have one, and a bare record saves an array per send. */
type Indexed = SentMessageRecord | SentMessageRecord[];

function listOf(indexed: Indexed): readonly SentMessageRecord[] {
  return Array.isArray(indexed) ? indexed : [indexed];
}

function find(
  indexed: Indexed,
  matches: (record: SentMessageRecord) => boolean,
): SentMessageRecord | undefined {
  if (!Array.isArray(indexed)) return matches(indexed) ? indexed : undefined;
  return indexed.find(matches);
}

function addTo(index: RecordMap<Indexed>, projectId: string, key: string, record: SentMessageRecord): void {
  const known = index.get(projectId, key);
  index.set(projectId, key, known ? [...listOf(known), record] : record);
}

function removeFrom(
  index: RecordMap<Indexed>,
  projectId: string,
  key: string,
  record: SentMessageRecord,
): void {
  const known = index.get(projectId, key);
  if (!known) return;
  const left = listOf(known).filter((other) => other !== record);
  if (left.length === 0) index.delete(projectId, key);
  else index.set(projectId, key, left.length === 1 ? left[0]! : left);
}
