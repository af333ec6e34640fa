import {
  assertWellFormed,
  type Channel,
  type CredentialState,
  loadOptional,
  MessagePipeError,
  type ProviderListFilter,
  type ProviderScanPage,
  type ProviderStore,
  type SenderConfig,
  type StoredProviderRecord,
} from 'messagepipe';
import type { PgQueryable, PgResult } from './connection';
import { type MigrateResult, migrate } from './migrate';

/** Options of {@link PostgresProviderStore}: a pool of your own, or a connection string. */
export type PostgresProviderStoreOptions =
  | {
      /** A `pg` `Pool` (or `Client`) the app manages; the store never ends it. */
      pool: PgQueryable;
    }
  | {
      /**
       * A connection string; the store creates its own `pg` `Pool` on first use (the `pg` package must be
       * installed) and {@link PostgresProviderStore.close} ends it.
       */
      connectionString: string;
      /** Connections the created pool keeps at most. @default 10 */
      maxConnections?: number;
    };

/** Timestamps come back as ISO text whatever type parsers the app's `pg` has. */
const iso = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;

const PROVIDER_COLUMNS = [
  'project_id',
  'id',
  'channel',
  'provider',
  'name',
  'enabled',
  'priority',
  'credential_status',
  iso('credential_checked_at'),
  'credential_reason',
  'to_jsonb(secret_fields) AS secret_fields',
  'config',
  'secrets',
  'extra',
  'version',
  iso('created_at'),
  iso('updated_at'),
].join(', ');

const PROVIDER_ORDER = 'priority, created_at, id';

/** Record fields that have a column of their own; anything else a record carries is kept in `extra`. */
const COLUMN_FIELDS = new Set<string>([
  'id',
  'projectId',
  'channel',
  'provider',
  'name',
  'enabled',
  'priority',
  'credentials',
  'secretFields',
  'config',
  'secrets',
  'version',
  'createdAt',
  'updatedAt',
]);

interface ProviderRow {
  project_id: string;
  id: string;
  channel: Channel;
  provider: string;
  name: string;
  enabled: boolean;
  priority: number;
  credential_status: CredentialState['status'];
  credential_checked_at: string | null;
  credential_reason: string | null;
  secret_fields: unknown;
  config: unknown;
  secrets: string;
  extra: unknown;
  version: number;
  created_at: string;
  updated_at: string;
}

interface SenderRow {
  project_id: string;
  channel: Channel;
  enabled: boolean;
  settings: unknown;
  updated_at: string;
}

const UNIQUE_VIOLATION = '23505';

/**
 * A {@link ProviderStore} on PostgreSQL, through `pg`. Non-secret config is JSONB; the secret fields are one text
 * column, sealed (AES-256-GCM) when the dispatcher has keys, so the database never holds a plain credential.
 * Updates are compare-and-set on `version`, so a write based on a stale read is refused, never lost.
 *
 * Create the tables first with {@link migrate} (or apply `migrations/*.sql` with your own tool).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { PostgresProviderStore, migrate } from 'messagepipe/stores/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool);
 * const pipe = new Dispatcher({ adapters, store: new PostgresProviderStore({ pool }), secrets: { keys, activeKeyId } });
 * ```
 */
export class PostgresProviderStore implements ProviderStore {
  /** Records outlive the process: the dispatcher caches reads and expects secret keys. */
  readonly persistent = true;
  readonly #options: PostgresProviderStoreOptions;
  #db: Promise<PgQueryable> | undefined;
  #ownPool: { end(): Promise<void> } | undefined;

  constructor(options: PostgresProviderStoreOptions) {
    this.#options = options;
    if ('pool' in options) this.#db = Promise.resolve(options.pool);
  }

  /** Creates or upgrades the tables; see {@link migrate}. */
  async migrate(): Promise<MigrateResult> {
    return migrate(await this.#connection());
  }

  async insertProvider(record: StoredProviderRecord): Promise<void> {
    assertStorable(record);
    try {
      await this.#query(
        `INSERT INTO messagepipe_providers (project_id, id, channel, provider, name, enabled, priority,
           credential_status, credential_checked_at, credential_reason, secret_fields, config, secrets, extra,
           version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
        providerValues(record),
      );
    } catch (error) {
      if ((error as { code?: unknown }).code === UNIQUE_VIOLATION) {
        throw new MessagePipeError('CONFLICT', `A provider with id ${record.id} already exists`);
      }
      throw error;
    }
  }

  async getProvider(projectId: string, id: string): Promise<StoredProviderRecord | undefined> {
    assertWellFormed({ projectId, id });
    const result = await this.#query(
      `SELECT ${PROVIDER_COLUMNS} FROM messagepipe_providers WHERE project_id = $1 AND id = $2`,
      [projectId, id],
    );
    const row = result.rows[0] as ProviderRow | undefined;
    return row && toRecord(row);
  }

  async listProviders(projectId: string, filter: ProviderListFilter = {}): Promise<StoredProviderRecord[]> {
    assertWellFormed({ projectId });
    const result =
      filter.channel === undefined
        ? await this.#query(
            `SELECT ${PROVIDER_COLUMNS} FROM messagepipe_providers WHERE project_id = $1 ORDER BY ${PROVIDER_ORDER}`,
            [projectId],
          )
        : await this.#query(
            `SELECT ${PROVIDER_COLUMNS} FROM messagepipe_providers WHERE project_id = $1 AND channel = $2
             ORDER BY ${PROVIDER_ORDER}`,
            [projectId, filter.channel],
          );
    return (result.rows as ProviderRow[]).map(toRecord);
  }

  async replaceProvider(record: StoredProviderRecord, expectedVersion: number): Promise<boolean> {
    assertStorable(record);
    const result = await this.#query(
      `UPDATE messagepipe_providers SET channel = $3, provider = $4, name = $5, enabled = $6, priority = $7,
         credential_status = $8, credential_checked_at = $9, credential_reason = $10, secret_fields = $11,
         config = $12, secrets = $13, extra = $14, version = $15, created_at = $16, updated_at = $17
       WHERE project_id = $1 AND id = $2 AND version = $18`,
      [...providerValues(record), expectedVersion],
    );
    return result.rowCount === 1;
  }

  async scanProviders(page: ProviderScanPage): Promise<StoredProviderRecord[]> {
    assertWellFormed({ projectId: page.after?.projectId, id: page.after?.id });
    const limit = Math.max(0, Math.floor(page.limit));
    const result = page.after
      ? await this.#query(
          `SELECT ${PROVIDER_COLUMNS} FROM messagepipe_providers WHERE (project_id, id) > ($1, $2)
           ORDER BY project_id, id LIMIT $3`,
          [page.after.projectId, page.after.id, limit],
        )
      : await this.#query(
          `SELECT ${PROVIDER_COLUMNS} FROM messagepipe_providers ORDER BY project_id, id LIMIT $1`,
          [limit],
        );
    return (result.rows as ProviderRow[]).map(toRecord);
  }

  async deleteProvider(projectId: string, id: string): Promise<boolean> {
    assertWellFormed({ projectId, id });
    const result = await this.#query('DELETE FROM messagepipe_providers WHERE project_id = $1 AND id = $2', [
      projectId,
      id,
    ]);
    return result.rowCount === 1;
  }

  async getSender(projectId: string, channel: Channel): Promise<SenderConfig | undefined> {
    assertWellFormed({ projectId });
    const result = await this.#query(
      `SELECT project_id, channel, enabled, settings, ${iso('updated_at')}
       FROM messagepipe_senders WHERE project_id = $1 AND channel = $2`,
      [projectId, channel],
    );
    const row = result.rows[0] as SenderRow | undefined;
    if (!row) return undefined;
    return {
      ...(json(row.settings) as object),
      projectId: row.project_id,
      channel: row.channel,
      enabled: row.enabled,
      updatedAt: row.updated_at,
    } as SenderConfig;
  }

  async putSender(sender: SenderConfig): Promise<void> {
    const { projectId, channel, enabled, updatedAt, ...settings } = sender;
    assertWellFormed({ projectId });
    await this.#query(
      `INSERT INTO messagepipe_senders (project_id, channel, enabled, settings, updated_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (project_id, channel)
       DO UPDATE SET enabled = EXCLUDED.enabled, settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at`,
      [projectId, channel, enabled, JSON.stringify(settings), updatedAt],
    );
  }

  /** Ends the pool the store created from a connection string; a pool passed in is left to its owner. */
  async close(): Promise<void> {
    const loading = 'connectionString' in this.#options ? this.#db : undefined;
    if ('connectionString' in this.#options) this.#db = undefined;
    // A pool still being created when close() is called is ended too, once it exists.
    await loading?.catch(() => undefined);
    const pool = this.#ownPool;
    this.#ownPool = undefined;
    await pool?.end();
  }

  async #query(text: string, values: unknown[]): Promise<PgResult> {
    return (await this.#connection()).query(text, values);
  }

  #connection(): Promise<PgQueryable> {
    if (!this.#db) {
      const options = this.#options as Extract<PostgresProviderStoreOptions, { connectionString: string }>;
      this.#db = loadOptional('pg', 'PostgreSQL store', () => import('pg')).then((module) => {
        // pg is CommonJS: its exports arrive on `default` under ESM, directly under CJS.
        const loaded = module as unknown as typeof import('pg') & { default?: typeof import('pg') };
        const pg = loaded.default ?? loaded;
        const pool = new pg.Pool({
          connectionString: options.connectionString,
          max: options.maxConnections ?? 10,
        });
        // An idle connection the server drops (restart, failover) must not crash the app: the pool replaces it.
        pool.on('error', () => undefined);
        this.#ownPool = pool;
        return pool as unknown as PgQueryable;
      });
      // A failed load is not kept: the next call tries again.
      this.#db.catch(() => {
        this.#db = undefined;
      });
    }
    return this.#db;
  }
}

/**
 * PostgreSQL refuses NUL in text and stores every lone surrogate as U+FFFD (so two different project ids would
 * become one): such keys and names are refused before a query is made.
 */
function assertStorable(record: StoredProviderRecord): void {
  assertWellFormed({
    projectId: record.projectId,
    id: record.id,
    provider: record.provider,
    name: record.name,
  });
}

function providerValues(record: StoredProviderRecord): unknown[] {
  const extra = Object.fromEntries(Object.entries(record).filter(([field]) => !COLUMN_FIELDS.has(field)));
  return [
    record.projectId,
    record.id,
    record.channel,
    record.provider,
    record.name,
    record.enabled,
    record.priority,
    record.credentials.status,
    record.credentials.checkedAt ?? null,
    record.credentials.reason ?? null,
    record.secretFields,
    JSON.stringify(record.config),
    record.secrets,
    JSON.stringify(extra),
    record.version,
    record.createdAt,
    record.updatedAt,
  ];
}

function toRecord(row: ProviderRow): StoredProviderRecord {
  const credentials: CredentialState = { status: row.credential_status };
  if (row.credential_checked_at !== null) credentials.checkedAt = row.credential_checked_at;
  if (row.credential_reason !== null) credentials.reason = row.credential_reason;
  return {
    ...(json(row.extra) as object),
    id: row.id,
    projectId: row.project_id,
    channel: row.channel,
    provider: row.provider,
    name: row.name,
    enabled: row.enabled,
    priority: row.priority,
    credentials,
    secretFields: json(row.secret_fields) as string[],
    config: json(row.config) as Record<string, unknown>,
    secrets: row.secrets,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** JSONB arrives parsed with `pg`'s default type parsers, or as text where an app changed them. */
function json(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}
