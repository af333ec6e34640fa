import { mkdir } from 'node:fs/promises';
import { loadOptional } from 'messagepipe';
import type { PgQueryable, PgResult } from './connection';

/** What {@link pgliteConnection} needs of a PGlite instance (`@electric-sql/pglite`). */
export interface PGliteLike {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[]; affectedRows?: number }>;
  exec(text: string): Promise<Array<{ rows: unknown[]; affectedRows?: number }>>;
  close(): Promise<void>;
}

/** A {@link PgQueryable} on PGlite that also has a `pg` Pool's `connect()`, so transactions get the database alone. */
export interface PGliteConnection extends PgQueryable {
  connect(): Promise<PgQueryable & { release(error?: Error | boolean): void }>;
  /** Always 1: PGlite is one connection. Lets the store tell this apart from a single `pg` Client. */
  readonly totalCount: number;
}

/**
 * Puts PGlite (PostgreSQL compiled to WebAssembly, in this process) behind the query interface the PostgreSQL store
 * uses, so the embedded database runs the same SQL and migrations as a real server. PGlite is a single connection:
 * work that needs one to itself (a transaction, as in `migrate`) takes it through `connect()` while other queries
 * wait.
 *
 * Statements without parameters go through PGlite's simple protocol (`exec`), which accepts several at once, as
 * `pg` does for a migration file; statements with parameters use the extended protocol (`query`).
 */
export function pgliteConnection(db: PGliteLike): PGliteConnection {
  let turn: Promise<void> = Promise.resolve();
  const run = async (text: string, values?: unknown[]): Promise<PgResult> => {
    if (values === undefined || values.length === 0) {
      const results = await db.exec(text);
      const last = results[results.length - 1];
      return { rows: last?.rows ?? [], rowCount: last?.affectedRows ?? last?.rows.length ?? 0 };
    }
    const result = await db.query(text, values);
    return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
  };
  /** Waits for the connection to be free and takes it; resolves with the function that frees it. */
  const take = (): Promise<() => void> => {
    let free!: () => void;
    const previous = turn;
    turn = new Promise<void>((resolve) => {
      free = resolve;
    });
    return previous.then(() => free);
  };
  return {
    totalCount: 1,
    async query(text, values) {
      const free = await take();
      try {
        return await run(text, values);
      } finally {
        free();
      }
    },
    async connect() {
      const free = await take();
      let released = false;
      return {
        query: (text, values) => run(text, values),
        release: () => {
          if (released) return;
          released = true;
          free();
        },
      };
    },
  };
}

/** An embedded PostgreSQL database in a directory, ready for `PostgresProviderStore({ pool })`. */
export interface EmbeddedDatabase {
  connection: PGliteConnection;
  /** Flushes and closes the database. */
  close(): Promise<void>;
}

/**
 * Opens (or creates) an embedded PostgreSQL database in `dataDir` with PGlite (the optional peer dependency
 * `@electric-sql/pglite`). Only one process may open a directory at a time.
 *
 * @example
 * ```ts
 * const embedded = await openEmbeddedDatabase('./.messagepipe/db');
 * const store = new PostgresProviderStore({ pool: embedded.connection });
 * await store.migrate();
 * ```
 */
export async function openEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const { PGlite } = await loadOptional(
    '@electric-sql/pglite',
    'embedded database',
    () => import('@electric-sql/pglite'),
  );
  await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const connection = pgliteConnection(db as unknown as PGliteLike);
  let closed = false;
  return {
    connection,
    close: async () => {
      if (closed) return;
      closed = true;
      // Waits for the queries under way, then closes.
      const release = (await connection.connect()).release;
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}
