/** A query result, as `pg` returns it. */
export interface PgResult {
  rows: unknown[];
  rowCount: number | null;
}

/**
 * What the store needs of a database handle: a `pg` `Pool`, `PoolClient` or connected `Client` (or anything with
 * the same `query`, such as a pg-compatible serverless driver).
 */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<PgResult>;
}

/** A `pg` `Pool`: hands out one connection for work that needs a transaction. */
interface PgPool extends PgQueryable {
  connect(): Promise<PgQueryable & { release(error?: Error | boolean): void }>;
  totalCount: number;
}

function isPool(db: PgQueryable): db is PgPool {
  const candidate = db as Partial<PgPool> & { release?: unknown };
  // A PoolClient (has release) and a Client (has no pool counters) are already one connection.
  return (
    typeof candidate.connect === 'function' && typeof candidate.release !== 'function' && 'totalCount' in db
  );
}

/** Runs `use` on one connection: a client checked out of a pool (and returned), or the connection given. */
export async function withConnection<T>(
  db: PgQueryable,
  use: (connection: PgQueryable) => Promise<T>,
): Promise<T> {
  if (!isPool(db)) return use(db);
  const client = await db.connect();
  let failure: Error | undefined;
  try {
    return await use(client);
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // A connection whose work failed is discarded rather than reused in an unknown state.
    client.release(failure);
  }
}
