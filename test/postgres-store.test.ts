import { readFileSync } from 'node:fs';
import { Dispatcher, generateSecretKey, type SecretsOptions } from 'messagepipe';
import { createMockAdapter, providerStoreConformance, sampleRecord, scanAll } from 'messagepipe/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, POSTGRES_MIGRATIONS, PostgresProviderStore } from '../src/stores/postgres/index';
import { findPostgresBinaries, type PostgresCluster, startPostgres } from './postgres-cluster';
import { captureText, leakedSecrets, PROVIDERS, recordingLogger } from './secrets-fixtures';

describe('the PostgreSQL migration', () => {
  it('ships as a .sql file identical to the SQL migrate() runs', () => {
    for (const migration of POSTGRES_MIGRATIONS) {
      const file = readFileSync(
        new URL(`../src/stores/postgres/migrations/${migration.id}.sql`, import.meta.url),
        'utf8',
      );
      expect(migration.sql).toBe(file);
    }
  });
});

// CI installs PostgreSQL (.ci/run), so there a missing server is a failure; elsewhere the tests say they skipped.
const canRun = findPostgresBinaries() !== undefined || Boolean(process.env.CI);

describe.skipIf(!canRun)('PostgresProviderStore on a throwaway PostgreSQL cluster', () => {
  let cluster: PostgresCluster;
  let pool: pg.Pool;

  beforeAll(async () => {
    cluster = await startPostgres();
    pool = new pg.Pool({ connectionString: cluster.connectionString, max: 8 });
    pool.on('error', () => undefined); // idle connections dropped when the cluster stops
    expect(await migrate(pool)).toEqual({ applied: ['0001_init'] });
  }, 90_000);

  afterAll(async () => {
    await pool?.end();
    await cluster?.stop();
  }, 30_000);

  async function emptyStore(): Promise<PostgresProviderStore> {
    await pool.query('TRUNCATE messagepipe_providers, messagepipe_senders');
    return new PostgresProviderStore({ pool });
  }

  /** Every row of every table of the store, as PostgreSQL renders it in text. */
  async function rawRows(): Promise<string> {
    const tables = ['messagepipe_providers', 'messagepipe_senders', 'messagepipe_migrations'];
    const texts: string[] = [];
    for (const table of tables) {
      const result = await pool.query(`SELECT t::text AS row FROM ${table} t`);
      texts.push(...result.rows.map((row: { row: string }) => row.row));
    }
    return texts.join('\n');
  }

  describe('conformance', () => {
    for (const check of providerStoreConformance({ create: emptyStore })) it(check.name, check.run);
  });

  it('keeps record fields it has no column for', async () => {
    const store = await emptyStore();
    const record = Object.assign(sampleRecord(), { weight: 3, futureField: { nested: ['x'] } });
    await store.insertProvider(record);
    expect(await store.getProvider(record.projectId, record.id)).toEqual(record);
  });

  it('migrates once, even when many processes start at the same time', async () => {
    const url = await cluster.createDatabase('migrate_race');
    const pools = Array.from({ length: 5 }, () => new pg.Pool({ connectionString: url, max: 1 }));
    for (const each of pools) each.on('error', () => undefined);
    try {
      const results = await Promise.all(pools.map((each) => migrate(each)));
      expect(results.filter((result) => result.applied.length > 0)).toEqual([{ applied: ['0001_init'] }]);
      expect(await migrate(pools[0]!)).toEqual({ applied: [] });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        expect(await migrate(client)).toEqual({ applied: [] });
        const tables = await client.query(
          "SELECT tablename FROM pg_tables WHERE tablename LIKE 'messagepipe_%' ORDER BY tablename",
        );
        expect(tables.rows.map((row: { tablename: string }) => row.tablename)).toEqual([
          'messagepipe_migrations',
          'messagepipe_providers',
          'messagepipe_senders',
        ]);
      } finally {
        await client.end();
      }
    } finally {
      await Promise.all(pools.map((each) => each.end()));
    }
  });

  it('reads the send path through its indexes, already in failover order', async () => {
    const store = await emptyStore();
    const records = Array.from({ length: 3_000 }, (_, index) =>
      sampleRecord({
        projectId: `project-${index % 300}`,
        channel: index % 2 === 0 ? 'email' : 'sms',
        priority: index % 7,
      }),
    );
    for (let start = 0; start < records.length; start += 300) {
      await Promise.all(records.slice(start, start + 300).map((record) => store.insertProvider(record)));
    }
    await pool.query('ANALYZE messagepipe_providers');
    const client = await pool.connect();
    try {
      // Tiny tables tempt the planner to sort in memory; without that option, it shows what the indexes can do.
      await client.query('SET enable_seqscan = off');
      await client.query('SET enable_bitmapscan = off');
      const plan = async (sql: string, values: unknown[]) =>
        (await client.query(`EXPLAIN ${sql}`, values)).rows
          .map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN'])
          .join('\n');
      const all = await plan(
        'SELECT * FROM messagepipe_providers WHERE project_id = $1 ORDER BY priority, created_at, id',
        ['project-7'],
      );
      expect(all).toContain('messagepipe_providers_order_idx');
      expect(all).not.toContain('Sort');
      const email = await plan(
        'SELECT * FROM messagepipe_providers WHERE project_id = $1 AND channel = $2 ORDER BY priority, created_at, id',
        ['project-7', 'email'],
      );
      expect(email).toContain('messagepipe_providers_channel_order_idx');
      expect(email).not.toContain('Sort');
    } finally {
      client.release(true);
    }
    expect((await store.listProviders('project-7')).length).toBe(10);
  }, 60_000);

  describe('behind a dispatcher with keys', () => {
    const secrets: SecretsOptions = { keys: { k1: generateSecretKey() }, activeKeyId: 'k1' };
    const adapters = () =>
      PROVIDERS.map(({ provider, channel }) =>
        createMockAdapter({
          provider,
          channel,
          verify: (config) => {
            verified.push(config);
            return { valid: true };
          },
        }),
      );
    let verified: unknown[] = [];

    async function seed(pipe: Dispatcher) {
      const ids: string[] = [];
      for (const [index, fixture] of PROVIDERS.entries()) {
        const record = await pipe.providers.add({
          projectId: 'project-a',
          channel: fixture.channel,
          provider: fixture.provider,
          name: fixture.provider,
          priority: index,
          config: fixture.config,
        });
        ids.push(record.id);
      }
      return ids;
    }

    it('holds no secret of any provider in any row, even after updates and a key rotation', async () => {
      const store = await emptyStore();
      const logger = recordingLogger();
      const pipe = new Dispatcher({ adapters: adapters(), store, secrets, logger });
      const surfaces: string[] = [];
      pipe.on('send:success', (event) => surfaces.push(captureText(event)));
      await pipe.senders.set({
        projectId: 'project-a',
        channel: 'email',
        senderEmail: 'noreply@acme.test',
        enabled: true,
      });
      await pipe.senders.set({ projectId: 'project-a', channel: 'sms', senderId: 'Acme', enabled: true });
      const ids = await seed(pipe);
      surfaces.push(captureText(await pipe.providers.list({ projectId: 'project-a' })));
      surfaces.push(
        captureText(
          await pipe.send({
            projectId: 'project-a',
            channel: 'email',
            to: 'a@b.test',
            subject: 'Hi',
            text: 'x',
          }),
        ),
      );
      surfaces.push(
        captureText(
          await pipe.send({ projectId: 'project-a', channel: 'sms', to: '+447700900123', body: 'x' }),
        ),
      );
      for (const [index, fixture] of PROVIDERS.entries()) {
        surfaces.push(
          captureText(
            await pipe.providers.update(
              { projectId: 'project-a', id: ids[index]! },
              { config: fixture.rotated },
            ),
          ),
        );
      }
      const rotated: SecretsOptions = {
        keys: { ...secrets.keys, k2: generateSecretKey() },
        activeKeyId: 'k2',
      };
      const afterRotation = new Dispatcher({ adapters: adapters(), store, secrets: rotated, logger });
      expect(await afterRotation.providers.reseal({ batchSize: 3 })).toMatchObject({
        resealed: 8,
        failed: [],
      });
      verified = [];
      for (const id of ids) await afterRotation.providers.validate({ projectId: 'project-a', id });
      expect(verified).toEqual(PROVIDERS.map((fixture) => fixture.rotated));

      const rows = await rawRows();
      expect(rows).toContain('sealed:v1:k2:');
      expect(rows).toContain('mg.acme.test');
      expect(leakedSecrets(rows)).toEqual([]);
      expect(leakedSecrets([...surfaces, ...logger.lines].join('\n'))).toEqual([]);
      const config = await pool.query(
        "SELECT config->>'domain' AS domain FROM messagepipe_providers WHERE provider = 'mailgun'",
      );
      expect(config.rows).toEqual([{ domain: 'mg.acme.test' }]);
    });

    it('refuses sealed secrets moved to another record, or altered, in the database', async () => {
      const store = await emptyStore();
      const pipe = new Dispatcher({ adapters: adapters(), store, secrets });
      const [first, second, third] = await seed(pipe);
      await pool.query(
        `UPDATE messagepipe_providers SET secrets = (SELECT secrets FROM messagepipe_providers WHERE id = $1)
         WHERE id = $2`,
        [first, second],
      );
      const moved = await pipe.providers
        .validate({ projectId: 'project-a', id: second! })
        .catch((error) => error);
      expect(moved).toMatchObject({ code: 'SECRET_INVALID' });
      expect(moved.message).toContain(second);

      const { rows } = await pool.query('SELECT secrets FROM messagepipe_providers WHERE id = $1', [third]);
      const sealed: string = rows[0].secrets;
      const parts = sealed.split(':');
      const bytes = Buffer.from(parts[4]!, 'base64url');
      bytes[3]! ^= 0x20;
      parts[4] = bytes.toString('base64url');
      await pool.query('UPDATE messagepipe_providers SET secrets = $1 WHERE id = $2', [
        parts.join(':'),
        third,
      ]);
      await expect(pipe.providers.validate({ projectId: 'project-a', id: third! })).rejects.toMatchObject({
        code: 'SECRET_INVALID',
      });
      // The untouched record still opens.
      await expect(pipe.providers.validate({ projectId: 'project-a', id: first! })).resolves.toMatchObject({
        valid: true,
      });
    });

    it('refuses an update based on a stale version', async () => {
      const store = await emptyStore();
      const pipe = new Dispatcher({ adapters: adapters(), store, secrets });
      const [id] = await seed(pipe);
      const current = await pipe.providers.get({ projectId: 'project-a', id: id! });
      await pipe.providers.update(
        { projectId: 'project-a', id: id!, version: current.version },
        { name: 'first' },
      );
      await expect(
        pipe.providers.update(
          { projectId: 'project-a', id: id!, version: current.version },
          { name: 'second' },
        ),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      expect((await pipe.providers.get({ projectId: 'project-a', id: id! })).name).toBe('first');
    });
  });

  describe('text PostgreSQL cannot keep as it is (NUL, lone surrogates)', () => {
    it('would fold \\ud800 and \\udbff into one value: the reason both are refused', async () => {
      const { rows } = await pool.query('SELECT $1::text = $2::text AS same', ['\ud800', '\udbff']);
      expect(rows[0]).toEqual({ same: true });
    });

    it('refuses them at the store boundary with CONFIG_INVALID and the field, before any query', async () => {
      const store = await emptyStore();
      await store.insertProvider(sampleRecord({ projectId: 'tenant-ok' }));
      for (const projectId of ['tenant-\ud800', 'tenant-\udbff', 'tenant-\u0000']) {
        await expect(store.insertProvider(sampleRecord({ projectId }))).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
          issues: [{ path: ['projectId'] }],
        });
        await expect(store.listProviders(projectId)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
        await expect(store.getSender(projectId, 'email')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      }
      await expect(store.insertProvider(sampleRecord({ id: 'rec-\udc00' }))).rejects.toMatchObject({
        issues: [{ path: ['id'] }],
      });
      await expect(store.insertProvider(sampleRecord({ name: 'bad\u0000name' }))).rejects.toMatchObject({
        issues: [{ path: ['name'] }],
      });
      expect(await scanAll(store, 10)).toHaveLength(1);
    });

    it('keeps projects \\ud800 and \\udbff apart through the dispatcher: both refused, neither lists the other', async () => {
      const store = await emptyStore();
      const pipe = new Dispatcher({
        adapters: [createMockAdapter({ provider: 'smtp', channel: 'email' })],
        store,
        secrets: { keys: { k1: generateSecretKey() }, activeKeyId: 'k1' },
      });
      const add = (projectId: string, name = 'primary') =>
        pipe.providers.add({
          projectId,
          channel: 'email',
          provider: 'smtp',
          name,
          config: { host: 'smtp.acme.test', port: 587, secure: false },
        });
      for (const projectId of ['\ud800', '\udbff', 'a\u0000b']) {
        await expect(add(projectId)).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
          issues: [expect.objectContaining({ path: ['projectId'] })],
        });
        await expect(pipe.providers.list({ projectId })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
        await expect(
          pipe.senders.set({ projectId, channel: 'email', senderEmail: 'a@acme.test' }),
        ).rejects.toMatchObject({ code: 'SENDER_INVALID' });
        await expect(
          pipe.send({
            projectId,
            channel: 'email',
            to: 'a@b.test',
            from: 'n@acme.test',
            subject: 's',
            text: 't',
          }),
        ).rejects.toMatchObject({
          code: 'MESSAGE_INVALID',
          issues: [expect.objectContaining({ path: ['projectId'] })],
        });
      }
      await expect(add('tenant-a', 'bad\ud800')).rejects.toMatchObject({
        issues: [expect.objectContaining({ path: ['name'] })],
      });
      const kept = await add('tenant-a', 'fine ✓ 😀');
      await expect(
        pipe.providers.get({ projectId: 'tenant-a', id: `${kept.id}\ud800` }),
      ).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        issues: [expect.objectContaining({ path: ['id'] })],
      });
      expect((await pipe.providers.list({ projectId: 'tenant-a' })).map((record) => record.name)).toEqual([
        'fine ✓ 😀',
      ]);
      expect(await scanAll(store, 10)).toHaveLength(1);
    });
  });

  it('creates and ends its own pool from a connection string', async () => {
    await emptyStore();
    const store = new PostgresProviderStore({
      connectionString: cluster.connectionString,
      maxConnections: 2,
    });
    expect(await store.migrate()).toEqual({ applied: [] });
    const record = sampleRecord();
    await store.insertProvider(record);
    expect(await scanAll(store, 10)).toEqual([record]);
    await store.close();
    // Closed means closed for this pool; a later call opens a new one.
    expect(await store.getProvider(record.projectId, record.id)).toEqual(record);
    await store.close();
  });
});
