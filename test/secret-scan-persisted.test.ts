/**
 * Secrets in every form (raw, URL-encoded, JSON-escaped, base64, and each adapter's derived wire forms such as
 * Basic credentials) must not reach what outlives a send: the rows of the PostgreSQL store (the credential reason
 * is kept outside the sealed column) and the BullMQ job data in Redis (a failed job is kept for 7 days). Every
 * HTTP adapter meets a provider that echoes the request, Authorization header included, into its error answer;
 * the SMTP adapter meets a server that echoes the AUTH PLAIN string in its 535. Errors are scanned through
 * `util.inspect(…, { depth: 10 })` (see `expectNoLeak`), so their causes are read too.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  type AnyAdapter,
  Dispatcher,
  generateSecretKey,
  type OutboundMessage,
  type SecretsOptions,
} from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSendQueue, createSendWorker } from '../src/queue';
import { migrate, PostgresProviderStore } from '../src/stores/postgres/index';
import { recordingLogger, rejectionOf, toSendInput } from './adapters/conformance';
import { type FakeHttpServer, fakeSecret, startFakeHttpServer } from './adapters/fake-http-server';
import { echo, expectNoLeak, leakPatterns, rows } from './adapters/hostile-rows';
import { sampleEmail } from './adapters/sample-email';
import { findPostgresBinaries, type PostgresCluster, startPostgres } from './postgres-cluster';
import { dumpRedis } from './queue/redis-dump';
import { type RedisServer, startRedis } from './queue/redis-server';

const secrets: SecretsOptions = { keys: { k1: generateSecretKey() }, activeKeyId: 'k1' };

let fake: FakeHttpServer;
/** An SMTP server that refuses every login with a 535 echoing the AUTH PLAIN string it was sent. */
let smtpServer: SMTPServer;
let smtpPort: number;

beforeAll(async () => {
  fake = await startFakeHttpServer();
  smtpServer = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN'],
    onAuth(auth, _session, callback) {
      const plain = Buffer.from(`\u0000${auth.username}\u0000${auth.password ?? ''}`).toString('base64');
      callback(null, {
        message: `5.7.8 ${'x'.repeat(60)} bad credentials: AUTH PLAIN ${plain} pass=${auth.password ?? ''}`,
        responseCode: 535,
      });
    },
  });
  await new Promise<void>((resolve) => smtpServer.listen(0, '127.0.0.1', resolve));
  smtpPort = (smtpServer.server.address() as { port: number }).port;
});
afterAll(async () => {
  await fake?.close();
  await new Promise<void>((resolve) => (smtpServer ? smtpServer.close(() => resolve()) : resolve()));
});
afterEach(() => fake.reset());

/** One provider facing a peer that echoes its credentials into the refusal. */
interface Case {
  provider: string;
  create: () => AnyAdapter;
  message: OutboundMessage;
  /** Points the peer at its echo and returns the config to use. */
  config: () => Record<string, unknown>;
  patterns: (config: Record<string, unknown>) => string[];
}

const cases: Case[] = [
  ...rows.map((row) => ({
    provider: row.provider,
    create: row.create,
    message: row.message,
    config: () => {
      fake.route(row.send.method, row.send.path, echo);
      fake.route(row.verify.method, row.verify.path, echo);
      return row.config(fake.origin);
    },
    patterns: (config: Record<string, unknown>) => leakPatterns(row.secrets(config)),
  })),
  {
    provider: 'smtp',
    create: () => smtp(),
    message: sampleEmail(),
    config: () => ({
      host: '127.0.0.1',
      port: smtpPort,
      secure: false,
      // 14 characters: with the two NULs not a multiple of 3, so the PLAIN string does not contain base64(pass).
      auth: { user: 'mail@acme.test', pass: fakeSecret('smtp-') },
    }),
    patterns: (config) => {
      const { user, pass } = config.auth as { user: string; pass: string };
      // AUTH PLAIN sends base64("\0" + user + "\0" + pass); AUTH LOGIN the base64 of the password alone.
      return leakPatterns({
        values: [pass],
        derived: [Buffer.from(`\u0000${user}\u0000${pass}`).toString('base64')],
      });
    },
  },
];

/** A promise's value or its rejection, whichever it settles with. */
function settled<T>(promise: Promise<T>): Promise<unknown> {
  return promise.then(
    (value) => value,
    (error: unknown) => error,
  );
}

// CI installs PostgreSQL (.ci/run), so there a missing server is a failure; elsewhere the tests say they skipped.
const canRunPostgres = findPostgresBinaries() !== undefined || Boolean(process.env.CI);

describe.skipIf(!canRunPostgres)('the PostgreSQL store keeps no form of a secret in any row', () => {
  let cluster: PostgresCluster;
  let pool: pg.Pool;

  beforeAll(async () => {
    cluster = await startPostgres();
    pool = new pg.Pool({ connectionString: cluster.connectionString, max: 4 });
    pool.on('error', () => undefined); // idle connections dropped when the cluster stops
    await migrate(pool);
  }, 90_000);

  afterAll(async () => {
    await pool?.end();
    await cluster?.stop();
  }, 30_000);

  /** Every row of every table in the schema, each column as node-postgres reads it, as JSON. */
  async function rawRows(): Promise<Record<string, unknown[]>> {
    const tables = await pool.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    const dump: Record<string, unknown[]> = {};
    for (const { name } of tables.rows) {
      const result = await pool.query(`SELECT * FROM ${pg.escapeIdentifier(name)}`);
      dump[name] = result.rows.map((row) => JSON.stringify(row));
    }
    return dump;
  }

  it.each(cases)('$provider: after failed sends and failed credential checks', async (row) => {
    const tables = Object.keys(await rawRows());
    await pool.query(`TRUNCATE ${tables.map((name) => pg.escapeIdentifier(name)).join(', ')}`);
    const config = row.config();
    const logger = recordingLogger();
    const store = new PostgresProviderStore({ pool });
    const pipe = new Dispatcher({
      adapters: [row.create()],
      store,
      secrets,
      logger,
      retry: false,
      circuitBreaker: false,
    });
    const projectId = `pg-${row.provider}`;
    try {
      const record = await pipe.providers.add(
        { projectId, channel: row.message.channel, provider: row.provider, name: 'echo', config },
        { verify: false },
      );
      const sendError = await rejectionOf(pipe.send(toSendInput(projectId, row.message)));
      const verdict = await settled(pipe.providers.validate({ projectId, id: record.id }));
      const addError = await settled(
        pipe.providers.add({
          projectId,
          channel: row.message.channel,
          provider: row.provider,
          name: 'checked',
          config,
        }),
      );
      const dump = await rawRows();
      const providerRows = (dump.messagepipe_providers ?? []).join('\n');
      // The failed check was recorded, from the echoed answer: the scan looks at a reason that was written.
      expect(providerRows).toMatch(/"credential_reason":"[^"]+"/);
      const patterns = row.patterns(config);
      expectNoLeak([JSON.stringify(dump)], patterns); // the rows on their own, then what the caller saw
      expectNoLeak([sendError, verdict, addError, logger.lines], patterns);
    } finally {
      await pipe.close();
    }
  });
});

describe('the queue keeps no form of a secret in Redis', () => {
  let redis: RedisServer;
  let inspector: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    inspector = new Redis({ host: redis.host, port: redis.port });
  }, 30_000);

  afterAll(async () => {
    await inspector?.quit();
    await redis?.stop();
  });

  it.each(cases)(
    '$provider: job data, outcome, failed reason and events of a send that failed',
    async (row) => {
      const config = row.config();
      const connection = { host: redis.host, port: redis.port };
      const queueName = `scan-${randomUUID()}`;
      const logger = recordingLogger();
      const pipe = new Dispatcher({ adapters: [row.create()], logger, circuitBreaker: false });
      const projectId = `queue-${row.provider}`;
      await pipe.providers.add(
        { projectId, channel: row.message.channel, provider: row.provider, name: 'echo', config },
        { verify: false },
      );
      const queue = await createSendQueue({ connection, queueName, retry: { attempts: 2, backoffMs: 50 } });
      const worker = await createSendWorker(pipe, { connection, queueName, concurrency: 1 });
      try {
        const job = await queue.enqueue(toSendInput(projectId, row.message), {
          idempotencyKey: `echo-${row.provider}`,
        });
        const outcome = await job.finished();
        expect(outcome).toMatchObject({ status: 'failed' });
        expect(await job.state()).toBe('failed');
        const jobHash = await inspector.hgetall(`bull:${queueName}:${job.idempotencyKey}`);
        // The failed job is kept (for 7 days) with what the worker stored: the scan looks at real job data.
        expect(jobHash.failedReason).toBeTruthy();
        expect(jobHash.stacktrace).toBeTruthy();
        const dump = await dumpRedis(inspector);
        // The echoed answer reached Redis (its padding is there) and was scrubbed before it did.
        expect(dump).toMatch(/x{40}/);
        expect(dump).toContain('[REDACTED]');
        expect(dump).toContain(`bull:${queueName}:events`);
        const patterns = row.patterns(config);
        expectNoLeak([dump, JSON.stringify(jobHash)], patterns); // Redis on its own, then what the caller saw
        expectNoLeak([outcome, await queue.deadLetters(), logger.lines], patterns);
      } finally {
        await worker.close();
        await queue.close();
        await pipe.close();
      }
    },
  );
});
