export type { PgQueryable, PgResult } from './connection';
export { PostgresMessageLog } from './message-log';
export { type MigrateResult, migrate } from './migrate';
export { POSTGRES_MIGRATIONS, type PostgresMigration } from './migrations';
export { PostgresProviderStore, type PostgresProviderStoreOptions } from './store';
