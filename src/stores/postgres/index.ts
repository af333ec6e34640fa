export type { PgQueryable, PgResult } from './connection';
export { PostgresMessageLog } from './message-log';
export { type MigrateResult, migrate } from './migrate';
export { POSTGRES_MIGRATIONS, type PostgresMigration } from './migrations';
export {
  type EmbeddedDatabase,
  openEmbeddedDatabase,
  type PGliteConnection,
  type PGliteLike,
  pgliteConnection,
} from './pglite';
export { PostgresProviderStore, type PostgresProviderStoreOptions } from './store';
