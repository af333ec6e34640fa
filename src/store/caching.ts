import { deepFreeze } from '../schemas/message';
import type { Channel, SenderConfig, StoredProviderRecord } from '../types';
import { cloneData } from './clone';
import { type ChannelSnapshots, type Now, SEND_PATH, type SendPathReads } from './send-path';
import type { ProviderListFilter, ProviderScanPage, ProviderStore } from './types';

/** Options of {@link CachingProviderStore} (and `new Dispatcher({ cache })`). */
export interface ProviderCacheOptions {
  /**
   * How long a project's provider list and sender configurations are reused before the store is read again.
   * Writes made through the cache invalidate at once; this bounds how long a write made elsewhere (another
   * process, a SQL console) can go unseen.
   * @default 5000
   */
  ttlMs?: number;
  /** Projects kept at most; the one used least recently is dropped first. @default 10000 */
  maxProjects?: number;
}

/** Default of {@link ProviderCacheOptions.ttlMs}. */
export const DEFAULT_CACHE_TTL_MS = 5_000;
const DEFAULT_MAX_PROJECTS = 10_000;

/**
 * Times of a slot are `performance.now()` readings: monotonic, so a wall-clock change neither keeps an entry past its
 * TTL nor drops it early, and the same clock as the send's own start, which the send path hands in.
 */
interface Slot<T> {
  loaded: boolean;
  value?: T;
  expiresAt: number;
  loading?: Promise<T>;
  /** When `loading` started: a load older than `ttlMs` is not joined any more (it may never settle). */
  loadingSince?: number;
}

interface ProjectEntry {
  providers: Slot<StoredProviderRecord[]>;
  senders: Map<Channel, Slot<SenderConfig | undefined>>;
  /** Frozen per-channel views of `providers.value` (the list they were built from is `snapshotsOf`). */
  snapshots?: ChannelSnapshots;
  snapshotsOf?: StoredProviderRecord[];
}

/**
 * A {@link ProviderStore} decorator that keeps each project's ordered provider list and sender configurations in
 * memory, so a send does not read the database each time. Writes through it invalidate the project at once;
 * anything else is picked up within `ttlMs`. Concurrent reads of a cold project share one load, and a load that
 * was under way when a write happened never puts its (older) answer in the cache.
 *
 * The dispatcher wraps a persistent store in one by default (see `DispatcherOptions.cache`). Single-record reads
 * (`getProvider`) and scans always go to the store, so updates work on fresh data.
 */
export class CachingProviderStore implements ProviderStore {
  readonly #inner: ProviderStore;
  readonly #ttlMs: number;
  readonly #maxProjects: number;
  /** Insertion order is recency: a read moves its project to the end. */
  readonly #projects = new Map<string, ProjectEntry>();
  /** The project read last (the newest in `#projects`), and its entry. */
  #last: { projectId: string; entry: ProjectEntry } | undefined;

  constructor(inner: ProviderStore, options: ProviderCacheOptions = {}) {
    this.#inner = inner;
    this.#ttlMs = Math.max(0, options.ttlMs ?? DEFAULT_CACHE_TTL_MS);
    this.#maxProjects = Math.max(1, options.maxProjects ?? DEFAULT_MAX_PROJECTS);
  }

  /** @internal Frozen snapshots for the send path; a fresh cache entry answers synchronously. */
  readonly [SEND_PATH]: SendPathReads = {
    // A subclass or a spy that replaces a read method is honoured: the snapshot stands in only for our own.
    providers: (projectId, channel, now) =>
      this.listProviders === CachingProviderStore.prototype.listProviders
        ? this.#providersNow(projectId, channel, now)
        : this.listProviders(projectId, { channel }),
    sender: (projectId, channel, now) =>
      this.getSender === CachingProviderStore.prototype.getSender
        ? this.#senderNow(projectId, channel, now)
        : this.getSender(projectId, channel),
  };

  /** The store this cache reads through. */
  get inner(): ProviderStore {
    return this.#inner;
  }

  /** Whether the store it reads through is persistent (one that leaves `persistent` out counts as persistent). */
  get persistent(): boolean {
    return this.#inner.persistent !== false;
  }

  /** Forgets what is cached for one project, or for every project. */
  invalidate(projectId?: string): void {
    if (projectId === undefined || this.#last?.projectId === projectId) this.#last = undefined;
    if (projectId === undefined) this.#projects.clear();
    else this.#projects.delete(projectId);
  }

  async listProviders(projectId: string, filter: ProviderListFilter = {}): Promise<StoredProviderRecord[]> {
    const entry = this.#entry(projectId);
    const records = await this.#read(entry.providers, () => this.#inner.listProviders(projectId));
    const channel = filter.channel;
    return records
      .filter((record) => channel === undefined || record.channel === channel)
      .map((record) => cloneData(record));
  }

  async getSender(projectId: string, channel: Channel): Promise<SenderConfig | undefined> {
    const entry = this.#entry(projectId);
    let slot = entry.senders.get(channel);
    if (!slot) {
      slot = { loaded: false, expiresAt: 0 };
      entry.senders.set(channel, slot);
    }
    const sender = await this.#read(slot, () => this.#inner.getSender(projectId, channel));
    return sender && cloneData(sender);
  }

  #providersNow(projectId: string, channel: Channel, now: number): Now<readonly StoredProviderRecord[]> {
    const entry = this.#entry(projectId);
    const slot = entry.providers;
    if (slot.loaded && now < slot.expiresAt) return snapshotOf(entry, slot.value!, channel);
    return this.#read(slot, () => this.#inner.listProviders(projectId)).then((records) =>
      snapshotOf(entry, records, channel),
    );
  }

  #senderNow(projectId: string, channel: Channel, now: number): Now<Readonly<SenderConfig> | undefined> {
    const entry = this.#entry(projectId);
    let slot = entry.senders.get(channel);
    if (!slot) {
      slot = { loaded: false, expiresAt: 0 };
      entry.senders.set(channel, slot);
    }
    // The cache's own copy, frozen: `getSender` hands out copies of it.
    if (slot.loaded && now < slot.expiresAt) return deepFreeze(slot.value);
    return this.#read(slot, () => this.#inner.getSender(projectId, channel)).then(deepFreeze);
  }

  getProvider(projectId: string, id: string): Promise<StoredProviderRecord | undefined> {
    return this.#inner.getProvider(projectId, id);
  }

  scanProviders(page: ProviderScanPage): Promise<StoredProviderRecord[]> {
    return this.#inner.scanProviders(page);
  }

  insertProvider(record: StoredProviderRecord): Promise<void> {
    return this.#write(record.projectId, () => this.#inner.insertProvider(record));
  }

  replaceProvider(record: StoredProviderRecord, expectedVersion: number): Promise<boolean> {
    return this.#write(record.projectId, () => this.#inner.replaceProvider(record, expectedVersion));
  }

  deleteProvider(projectId: string, id: string): Promise<boolean> {
    return this.#write(projectId, () => this.#inner.deleteProvider(projectId, id));
  }

  putSender(sender: SenderConfig): Promise<void> {
    return this.#write(sender.projectId, () => this.#inner.putSender(sender));
  }

  async #write<T>(projectId: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      // Also after a failure: the write may have landed although the call reported an error.
      this.invalidate(projectId);
    }
  }

  #entry(projectId: string): ProjectEntry {
    // The most recent project stays the most recent: no reordering needed (most sends repeat the last project).
    const last = this.#last;
    if (last !== undefined && last.projectId === projectId) return last.entry;
    let entry = this.#projects.get(projectId);
    if (entry) {
      this.#projects.delete(projectId);
    } else {
      entry = { providers: { loaded: false, expiresAt: 0 }, senders: new Map() };
      if (this.#projects.size >= this.#maxProjects) {
        const oldest = this.#projects.keys().next();
        if (!oldest.done) this.#projects.delete(oldest.value);
      }
    }
    this.#projects.set(projectId, entry);
    this.#last = { projectId, entry };
    return entry;
  }

  /**
   * The slot's value while fresh, else one shared load. An invalidation drops the whole project entry, so a load
   * that finishes afterwards fills a slot nobody reads any more.
   */
  #read<T>(slot: Slot<T>, load: () => Promise<T>): Promise<T> {
    const now = performance.now();
    if (slot.loaded && now < slot.expiresAt) return Promise.resolve(slot.value as T);
    // A stalled store must not pin every later read to one load that never settles: past `ttlMs`, read again.
    if (slot.loading && now - (slot.loadingSince ?? 0) < this.#ttlMs) return slot.loading;
    const loading = load().then(
      (value) => {
        if (slot.loading === loading) {
          slot.loading = undefined;
          slot.loaded = true;
          slot.value = value;
          slot.expiresAt = performance.now() + this.#ttlMs;
        }
        return value;
      },
      (error: unknown) => {
        if (slot.loading === loading) slot.loading = undefined;
        throw error;
      },
    );
    slot.loading = loading;
    slot.loadingSince = now;
    return loading;
  }
}

/** The frozen, ordered records of one channel, built once per loaded list (the cache's own copies, frozen). */
function snapshotOf(
  entry: ProjectEntry,
  records: StoredProviderRecord[],
  channel: Channel,
): readonly StoredProviderRecord[] {
  if (entry.snapshotsOf !== records) {
    entry.snapshotsOf = records;
    entry.snapshots = {};
  }
  const snapshots = entry.snapshots!;
  let snapshot = snapshots[channel];
  if (!snapshot) {
    snapshot = Object.freeze(
      records.filter((record) => record.channel === channel).map((record) => deepFreeze(record)),
    );
    snapshots[channel] = snapshot;
  }
  return snapshot;
}
