import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dispatcher, generateSecretKey } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSendQueue, createSendWorker } from '../src/queue/index';
import { PostgresProviderStore } from '../src/stores/postgres/index';
import { JWT_SECRET, type RunningApi, startApi, token } from './http/server';
import { findPostgresBinaries, type PostgresCluster, startPostgres } from './postgres-cluster';
import { type RedisServer, startRedis } from './queue/redis-server';

const ACME = 'acme';
const SECRET = 'SG.deployment-secret-value-0001';
const sender = { senderEmail: 'noreply@yourcompany.com', senderName: 'Your Company Name', enabled: true };
const provider = {
  provider: 'sendgrid',
  name: 'Primary SendGrid',
  enabled: true,
  priority: 1,
  config: { apiKey: SECRET },
};
const email = { channel: 'email', to: 'ann@example.test', subject: 'Hello', text: 'Hi Ann' };

const cleanUps: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanUp of cleanUps.splice(0).reverse()) await cleanUp();
});

describe('POST /messages with the queue (real Redis)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('answers 202, tells the outcome at GET /messages/{id}, and never sends a repeated key twice', async () => {
    const connection = { host: redis.host, port: redis.port };
    const queueName = `http-${randomUUID()}`;
    const mock = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const pipe = new Dispatcher({ adapters: [mock] });
    const queue = await createSendQueue({ connection, queueName });
    cleanUps.push(() => queue.close());
    const api = await startApi({ dispatcher: pipe, auth: { jwt: { secret: JWT_SECRET } }, queue });
    cleanUps.push(() => api.close());
    const acme = await token({ projects: [ACME] });
    await api.call('POST', '/email-config', { token: acme, body: sender });
    await api.call('POST', '/email-config/providers', { token: acme, body: provider });

    const headers = { 'idempotency-key': 'welcome-42' };
    const queued = await api.call('POST', '/messages', { token: acme, body: email, headers });
    expect(queued.status).toBe(202);
    const { id, status } = queued.body as { id: string; status: string };
    expect(status).toBe('queued');
    const pending = await api.call('GET', `/messages/${id}`, { token: acme });
    expect(pending.body).toMatchObject({ id, status: 'queued', state: 'waiting' });
    const again = await api.call('POST', '/messages', { token: acme, body: email, headers });
    expect(again.body).toEqual({ id, status: 'queued' });

    const worker = await createSendWorker(pipe, { connection, queueName });
    cleanUps.push(() => worker.close());
    await expect
      .poll(async () => (await api.call('GET', `/messages/${id}`, { token: acme })).body, { timeout: 15_000 })
      .toMatchObject({
        id,
        status: 'sent',
        provider: 'sendgrid',
        messageId: 'sendgrid-1',
        attempts: [{ run: 1 }],
      });
    expect(mock.sent).toHaveLength(1);

    // Another project cannot read the job, nor take it over with the same key.
    const globex = await token({ projects: ['globex'] });
    expect((await api.call('GET', `/messages/${id}`, { token: globex })).status).toBe(404);
    const theirs = await api.call('POST', '/messages', { token: globex, body: email, headers });
    expect((theirs.body as { id: string }).id).not.toBe(id);
    expect((await api.call('GET', '/messages/no-such-job', { token: acme })).status).toBe(404);
    const invalid = await api.call('POST', '/messages', { token: acme, body: { ...email, to: 'nope' } });
    expect(invalid.body).toMatchObject({ error: { code: 'MESSAGE_INVALID' } });
    expect(JSON.stringify(await queue.bullQueue.getJobs())).not.toContain(SECRET);
  });
});

// CI installs PostgreSQL (.ci/run); elsewhere the test says it skipped.
const canRunPostgres = findPostgresBinaries() !== undefined || Boolean(process.env.CI);

describe.skipIf(!canRunPostgres)('the API on PostgreSQL (throwaway cluster)', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it('stores sealed providers, serves them back without secrets, and checks the database for /healthz', async () => {
    const pool = new pg.Pool({ connectionString: cluster.connectionString, max: 4 });
    pool.on('error', () => undefined);
    cleanUps.push(() => pool.end());
    const store = new PostgresProviderStore({ pool });
    await store.migrate();
    const mock = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const pipe = new Dispatcher({
      adapters: [mock],
      store,
      secrets: { keys: { k1: generateSecretKey() }, activeKeyId: 'k1' },
    });
    let up = true;
    const api: RunningApi = await startApi({
      dispatcher: pipe,
      auth: { jwt: { secret: JWT_SECRET } },
      health: () => (up ? pool.query('SELECT 1') : Promise.reject(new Error('down'))),
    });
    cleanUps.push(() => api.close());
    const acme = await token({ projects: [ACME] });
    await api.call('POST', '/email-config', { token: acme, body: sender });
    const created = await api.call('POST', '/email-config/providers', { token: acme, body: provider });
    expect(created.status).toBe(201);
    const rows = await pool.query('SELECT secrets FROM messagepipe_providers');
    expect(rows.rows[0].secrets).toMatch(/^sealed:v1:k1:/);
    const list = await api.call('GET', '/email-config/providers', { token: acme });
    expect((list.body as { data: unknown[] }).data).toHaveLength(1);
    expect(list.text).not.toContain(SECRET);
    expect((await api.call('POST', '/messages', { token: acme, body: email })).status).toBe(200);
    expect((await api.call('GET', '/healthz')).status).toBe(200);
    up = false;
    expect((await api.call('GET', '/healthz')).status).toBe(503);
  });
});

describe('messagepipe serve on the embedded database', () => {
  it('keeps what was configured across a restart on the same data directory', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'messagepipe-serve-'));
    cleanUps.push(() => rm(dataDir, { recursive: true, force: true }));
    const acme = await token({ projects: [ACME] });
    const headers = { authorization: `Bearer ${acme}`, 'content-type': 'application/json' };

    const first = await startServe(dataDir);
    try {
      expect(first.output()).toContain('Store: embedded PostgreSQL');
      expect(first.output()).toMatch(/Provider SDKs installed: .*sendgrid/);
      const created = await fetch(`${first.url}/email-config?projectId=${ACME}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(sender),
      });
      expect(created.status).toBe(201);
      const added = await fetch(`${first.url}/email-config/providers?projectId=${ACME}&verify=false`, {
        method: 'POST',
        headers,
        body: JSON.stringify(provider),
      });
      expect(added.status).toBe(201);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    expect(first.output()).toContain('Stopped');

    const second = await startServe(dataDir);
    try {
      const list = await fetch(`${second.url}/email-config/providers?projectId=${ACME}`, { headers });
      const body = (await list.json()) as { data: Array<{ name: string; secretFields: string[] }> };
      expect(body.data).toMatchObject([{ name: 'Primary SendGrid', secretFields: ['apiKey'] }]);
      const senderAgain = await fetch(`${second.url}/email-config`, { headers });
      expect(await senderAgain.json()).toMatchObject(sender);
      expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 300_000);

  it('refuses to start without authentication, with a one-line error and exit code 2', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
      env: { ...process.env, MESSAGEPIPE_JWT_SECRET: '', MESSAGEPIPE_JWKS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
    });
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('No authentication configured');
  }, 60_000);
});

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

/** `messagepipe serve` from the source, in a child process, on a free port. */
async function startServe(
  dataDir: string,
): Promise<{ url: string; output(): string; stop(): Promise<number> }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', '0'], {
    env: {
      ...process.env,
      MESSAGEPIPE_JWT_SECRET: JWT_SECRET,
      MESSAGEPIPE_DATA_DIR: dataDir,
      DATABASE_URL: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit').then(([code]) => code as number);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 120_000);
    const check = () => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`serve exited:\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
