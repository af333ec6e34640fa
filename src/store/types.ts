import type { Channel, SenderConfig, StoredProviderRecord } from '../types';

/** Which provider records `listProviders` returns. */
export interface ProviderListFilter {
  channel?: Channel;
}

/** A position in {@link ProviderStore.scanProviders}: the last record of the previous page. */
export interface ProviderCursor {
  projectId: string;
  id: string;
}

/** One page request of {@link ProviderStore.scanProviders}. */
export interface ProviderScanPage {
  /** Return records after this one; from the start when absent. */
  after?: ProviderCursor;
  /** At most this many records. */
  limit: number;
}

/**
 * Where provider records and sender configurations live. Every operation is scoped by `projectId`: a record of
 * another project must behave exactly like a missing one. Records are plain data; the store keeps them verbatim
 * (`secrets` is opaque text, sealed when keys are configured) and must return copies the caller may change.
 *
 * Run `providerStoreConformance` from `messagepipe/testing` against an implementation to check it.
 */
export interface ProviderStore {
  /**
   * Whether records outlive the process (a database, a file). The dispatcher caches the reads of a persistent
   * store and warns once when it is used without secret keys. A store that leaves this out counts as persistent;
   * only stores whose data dies with the process should say `false`.
   */
  readonly persistent?: boolean;
  /** Adds a new record. Rejects if a record with the same id already exists in the project. */
  insertProvider(record: StoredProviderRecord): Promise<void>;
  /** One record, or `undefined` when the project has no record with that id. */
  getProvider(projectId: string, id: string): Promise<StoredProviderRecord | undefined>;
  /** The project's records, ordered by `priority` ascending, then `createdAt`, then `id`. */
  listProviders(projectId: string, filter?: ProviderListFilter): Promise<StoredProviderRecord[]>;
  /**
   * Replaces a record if, and only if, the stored one has `version === expectedVersion` (optimistic concurrency).
   * Resolves `false` when no such record exists (missing, other project, or changed in the meantime).
   */
  replaceProvider(record: StoredProviderRecord, expectedVersion: number): Promise<boolean>;
  /**
   * Every record of every project, one page at a time, for maintenance such as re-sealing secrets. Pages are in
   * a stable order by `projectId`, then `id` (any consistent collation); a page holds the records strictly after
   * `page.after`, at most `page.limit` of them. An empty page means the end.
   */
  scanProviders(page: ProviderScanPage): Promise<StoredProviderRecord[]>;
  /**
   * Optional: the record with this id in whichever project holds it (webhook URLs name only the provider config
   * id). Resolves `undefined` when none, or more than one, has it. Without it, the dispatcher scans.
   */
  findProvider?(id: string): Promise<StoredProviderRecord | undefined>;
  /** Deletes a record; resolves `false` when there was none. */
  deleteProvider(projectId: string, id: string): Promise<boolean>;
  /** The project's sender configuration for a channel. */
  getSender(projectId: string, channel: Channel): Promise<SenderConfig | undefined>;
  /** Creates or replaces the project's sender configuration for `sender.channel`. */
  putSender(sender: SenderConfig): Promise<void>;
}
