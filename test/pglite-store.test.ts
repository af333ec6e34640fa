import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageLogStoreConformance, providerStoreConformance, sampleRecord } from 'messagepipe/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EmbeddedDatabase,
  openEmbeddedDatabase,
  PostgresProviderStore,
} from '../src/stores/postgres/index';

// The same store, SQL and migrations as test/postgres-store.test.ts, on the embedded database `messagepipe serve`
// uses when no DATABASE_URL is set.
describe('PostgresProviderStore on the embedded database (PGlite)', () => {
  let dir: string;
  let embedded: EmbeddedDatabase;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'messagepipe-pglite-'));
    embedded = await openEmbeddedDatabase(join(dir, 'db'));
    expect(await new PostgresProviderStore({ pool: embedded.connection }).migrate()).toEqual({
      applied: ['0001_init', '0002_delivery'],
    });
    // PGlite starts PostgreSQL in WebAssembly: tens of seconds on a busy machine.
  }, 180_000);

  afterAll(async () => {
    await embedded?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function emptyStore(): Promise<PostgresProviderStore> {
    await embedded.connection.query(
      'TRUNCATE messagepipe_providers, messagepipe_senders, messagepipe_messages, messagepipe_delivery_events, messagepipe_suppressions',
    );
    return new PostgresProviderStore({ pool: embedded.connection });
  }

  describe('conformance', () => {
    for (const check of providerStoreConformance({ create: emptyStore })) it(check.name, check.run);
  });

  describe('message log conformance', () => {
    for (const check of messageLogStoreConformance({ create: emptyStore })) it(check.name, check.run);
  });

  it('migrates once, and keeps the data when the directory is opened again', async () => {
    const store = await emptyStore();
    const record = Object.assign(sampleRecord(), { weight: 3 });
    await store.insertProvider(record);
    await embedded.close();
    embedded = await openEmbeddedDatabase(join(dir, 'db'));
    const reopened = new PostgresProviderStore({ pool: embedded.connection });
    expect(await reopened.migrate()).toEqual({ applied: [] });
    expect(await reopened.getProvider(record.projectId, record.id)).toEqual(record);
  }, 180_000);

  it('runs a transaction alone: other queries wait for it', async () => {
    const client = await embedded.connection.connect();
    await client.query('BEGIN');
    let outside = false;
    const read = embedded.connection.query('SELECT 1 AS one').then(() => {
      outside = true;
    });
    await client.query('SELECT pg_sleep(0.05)');
    expect(outside).toBe(false);
    await client.query('COMMIT');
    client.release();
    await read;
    expect(outside).toBe(true);
  });
});
