import type { Channel } from '../types';
import type { MessageLogStore } from './store';

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
  recipients?: Set<string>;
  large: boolean;
  expiresAt: number;
  loading?: Promise<void>;
}

const MAX_PROJECTS = 10_000;

/**
 * Which of a message's recipients are suppressed. With `cached`, each project's list is one in-memory set,
 * reloaded after `ttlMs` (writes through this dispatcher apply at once): an empty list costs a set lookup, and
 * so does a list of 100k entries.
 */
export class SuppressionFilter {
  readonly #store: MessageLogStore;
  readonly #options: SuppressionFilterOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(store: MessageLogStore, options: SuppressionFilterOptions) {
    this.#store = store;
    this.#options = options;
  }

  /**
   * The answer without waiting, when there is one: the cached set (a stale one while a reload runs), or an
   * in-process store's own lookup. `undefined` means "ask {@link suppressed}".
   */
  suppressedNow(projectId: string, channel: Channel, recipients: readonly string[]): string[] | undefined {
    if (!this.#options.cached) return this.#store.suppressedNow?.(projectId, channel, recipients);
    const key = `${projectId}\u0000${channel}`;
    const entry = this.#entries.get(key);
    if (!entry?.recipients) return undefined;
    if (Date.now() >= entry.expiresAt && !entry.loading) this.#load(key, projectId, channel, entry);
    const set = entry.recipients;
    if (set.size === 0) return [];
    return recipients.filter((recipient) => set.has(recipient));
  }

  /** The recipients (normalised) among `recipients` that are suppressed. */
  async suppressed(projectId: string, channel: Channel, recipients: readonly string[]): Promise<string[]> {
    if (!this.#options.cached) return this.#read(projectId, channel, recipients);
    const key = `${projectId}\u0000${channel}`;
    let entry = this.#entries.get(key);
    if (!entry || (Date.now() >= entry.expiresAt && !entry.loading)) {
      entry = this.#load(key, projectId, channel, entry);
    }
    if (entry.loading && !entry.recipients && !entry.large) await entry.loading;
    if (entry.recipients) {
      const set = entry.recipients;
      if (set.size === 0) return [];
      return recipients.filter((recipient) => set.has(recipient));
    }
    return this.#read(projectId, channel, recipients);
  }

  /** A write through this dispatcher: the cached set follows at once. */
  added(projectId: string, channel: Channel, recipient: string): void {
    this.#entries.get(`${projectId}\u0000${channel}`)?.recipients?.add(recipient);
  }

  removed(projectId: string, channel: Channel, recipient: string): void {
    this.#entries.get(`${projectId}\u0000${channel}`)?.recipients?.delete(recipient);
  }

  async #read(projectId: string, channel: Channel, recipients: readonly string[]): Promise<string[]> {
    const found = await this.#store.findSuppressions(projectId, channel, recipients);
    if (found.length === 0) return [];
    const suppressed = new Set(found.map((entry) => entry.recipient));
    return recipients.filter((recipient) => suppressed.has(recipient));
  }

  /** Starts a (re)load; a stale set keeps answering until the new one is in. */
  #load(key: string, projectId: string, channel: Channel, previous: Entry | undefined): Entry {
    const entry: Entry = previous ?? { large: false, expiresAt: 0 };
    if (!previous) {
      if (this.#entries.size >= MAX_PROJECTS) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
      }
      this.#entries.set(key, entry);
    }
    const limit = this.#options.maxEntries;
    const loading = this.#store.suppressedRecipients(projectId, channel, limit + 1).then(
      (list) => {
        if (list.length > limit) {
          entry.recipients = undefined;
          entry.large = true;
        } else {
          entry.recipients = new Set(list);
          entry.large = false;
        }
        entry.expiresAt = Date.now() + this.#options.ttlMs;
        entry.loading = undefined;
      },
      () => {
        // The next send tries again; until then sends read the store directly.
        entry.loading = undefined;
        entry.expiresAt = 0;
        if (!entry.recipients) this.#entries.delete(key);
      },
    );
    entry.loading = loading;
    return entry;
  }
}
