import { RecordMap } from '../record-map';
import type { Channel } from '../types';
import { RecipientIndex } from './recipient-index';
import { type MessageLogStore, suppressedAmong } from './store';

/** Options of the send-path suppression check. */
export interface SuppressionFilterOptions {
  /**
   * Keep each project's suppressed recipients in memory and refresh them every `ttlMs`, so a send costs no store
   * round trip. On for persistent stores (like the provider cache), off for the memory store, whose reads are
   * already in memory.
   */
  cached: boolean;
  ttlMs: number;
  /** A project with more suppressed recipients than this is checked with a store read per send instead. */
  maxEntries: number;
}

interface Entry {
  /** `undefined` while loading or when the list is larger than `maxEntries`. */
  recipients?: RecipientIndex<true>;
  large: boolean;
  /** Past its `ttlMs` (set by a timer, so a send reads no clock to know). */
  stale: boolean;
  loading?: Promise<void>;
  /**
   * Writes through this dispatcher while a load runs (recipient → added): the loaded list may have been read
   * before them, so they are applied to it when it lands.
   */
  writes?: Map<string, boolean>;
}

const MAX_PROJECTS = 10_000;

/**
 * Which of a message's recipients are suppressed. With `cached`, each project's list is one in-memory set,
 * reloaded after `ttlMs` (writes through this dispatcher apply at once): an empty list costs a set lookup, and
 * so does a list of 100k entries (a {@link RecipientIndex}, whose bit filter keeps that lookup in the CPU caches).
 */
export class SuppressionFilter {
  readonly #store: MessageLogStore;
  readonly #options: SuppressionFilterOptions;
  /** project → channel → its cached list. */
  readonly #entries = new RecordMap<Entry>();

  constructor(store: MessageLogStore, options: SuppressionFilterOptions) {
    this.#store = store;
    this.#options = options;
  }

  /**
   * The answer without waiting, when there is one: the cached set (a stale one while a reload runs), or an
   * in-process store's own lookup. `undefined` means "ask {@link suppressed}".
   */
  suppressedNow(
    projectId: string,
    channel: Channel,
    recipients: readonly string[],
  ): readonly string[] | undefined {
    if (!this.#options.cached) return this.#store.suppressedNow?.(projectId, channel, recipients);
    const entry = this.#entries.get(projectId, channel);
    if (!entry?.recipients) return undefined;
    if (entry.stale && !entry.loading) this.#load(projectId, channel, entry);
    return suppressedAmong(entry.recipients, recipients);
  }

  /** The recipients (normalised) among `recipients` that are suppressed. */
  async suppressed(projectId: string, channel: Channel, recipients: readonly string[]): Promise<string[]> {
    if (!this.#options.cached) return this.#read(projectId, channel, recipients);
    let entry = this.#entries.get(projectId, channel);
    if (!entry || (entry.stale && !entry.loading)) {
      entry = this.#load(projectId, channel, entry);
    }
    if (entry.loading && !entry.recipients && !entry.large) await entry.loading;
    if (entry.recipients) return [...suppressedAmong(entry.recipients, recipients)];
    return this.#read(projectId, channel, recipients);
  }

  /** A write through this dispatcher: the cached set follows at once, and so does a list still loading. */
  added(projectId: string, channel: Channel, recipient: string): void {
    this.#written(projectId, channel, recipient, true);
  }

  removed(projectId: string, channel: Channel, recipient: string): void {
    this.#written(projectId, channel, recipient, false);
  }

  #written(projectId: string, channel: Channel, recipient: string, added: boolean): void {
    const entry = this.#entries.get(projectId, channel);
    if (!entry) return;
    if (added) entry.recipients?.set(recipient, true);
    else entry.recipients?.delete(recipient);
    if (!entry.loading) return;
    entry.writes ??= new Map();
    entry.writes.set(recipient, added);
  }

  async #read(projectId: string, channel: Channel, recipients: readonly string[]): Promise<string[]> {
    const found = await this.#store.findSuppressions(projectId, channel, recipients);
    if (found.length === 0) return [];
    const suppressed = new Set(found.map((entry) => entry.recipient));
    return recipients.filter((recipient) => suppressed.has(recipient));
  }

  /** Starts a (re)load; a stale set keeps answering until the new one is in. */
  #load(projectId: string, channel: Channel, previous: Entry | undefined): Entry {
    const entry: Entry = previous ?? { large: false, stale: true };
    if (!previous) {
      if (this.#entries.size >= MAX_PROJECTS) this.#entries.deleteOldest();
      this.#entries.set(projectId, channel, entry);
    }
    const limit = this.#options.maxEntries;
    const loading = this.#store.suppressedRecipients(projectId, channel, limit + 1).then(
      (list) => {
        if (list.length > limit) {
          entry.recipients = undefined;
          entry.large = true;
        } else {
          const recipients = new RecipientIndex<true>();
          for (const recipient of list) recipients.set(recipient, true);
          for (const [recipient, added] of entry.writes ?? []) {
            if (added) recipients.set(recipient, true);
            else recipients.delete(recipient);
          }
          entry.recipients = recipients;
          entry.large = false;
        }
        entry.writes = undefined;
        entry.stale = false;
        setTimeout(markStale, this.#options.ttlMs, entry).unref?.();
        entry.loading = undefined;
      },
      () => {
        // The next send tries again; until then sends read the store directly (the stale set has the writes).
        entry.loading = undefined;
        entry.writes = undefined;
        entry.stale = true;
        if (!entry.recipients) this.#entries.delete(projectId, channel);
      },
    );
    entry.loading = loading;
    return entry;
  }
}

function markStale(entry: Entry): void {
  entry.stale = true;
}
