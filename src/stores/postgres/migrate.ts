import { type PgQueryable, withConnection } from './connection';
import { POSTGRES_MIGRATIONS } from './migrations';

/** Outcome of {@link migrate}. */
export interface MigrateResult {
  /** Ids of the migrations this call applied, in order; empty when the schema was up to date. */
  applied: string[];
}

/** Any constant works; this one spells "mpipe" so it is recognisable in pg_locks. */
const MIGRATION_LOCK = 0x6d70697065;

/**
 * Creates or upgrades the store's tables (`messagepipe_providers`, `messagepipe_senders`) in the connection's
 * search_path. Safe to call at every start-up and from many processes at once: it takes an advisory lock, applies
 * only what is missing, in one transaction, and records what it applied in `messagepipe_migrations`.
 *
 * @param db a `pg` `Pool`, `PoolClient` or connected `Client`.
 */
export async function migrate(db: PgQueryable): Promise<MigrateResult> {
  return withConnection(db, async (connection) => {
    await connection.query('BEGIN');
    try {
      await connection.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await connection.query(
        `CREATE TABLE IF NOT EXISTS messagepipe_migrations (
           id text PRIMARY KEY,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const done = await connection.query('SELECT id FROM messagepipe_migrations');
      const appliedBefore = new Set((done.rows as Array<{ id: string }>).map((row) => row.id));
      const applied: string[] = [];
      for (const migration of POSTGRES_MIGRATIONS) {
        if (appliedBefore.has(migration.id)) continue;
        await connection.query(migration.sql);
        await connection.query('INSERT INTO messagepipe_migrations (id) VALUES ($1)', [migration.id]);
        applied.push(migration.id);
      }
      await connection.query('COMMIT');
      return { applied };
    } catch (error) {
      await connection.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}
