/**
 * The queue across worker processes, against a real Redis: sends are counted by idempotency key in Redis, written
 * by the mock adapter inside each worker process (see test/queue/worker.ts).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { createSendQueue, type SendJobOutcome, type SendQueue } from '../src/queue';
import { dumpRedis } from './queue/redis-dump';
import { type RedisServer, startRedis } from './queue/redis-server';
import {
  CALLS_KEY,
  SENDS_KEY,
  startWorkerProcess,
  WORKER_PROJECT,
  WORKER_SECRET,
  type WorkerProcess,
} from './queue/worker-process';

const TIMEOUT = 60_000;

let redis: RedisServer;
let inspector: Redis;
let workers: WorkerProcess[] = [];
let queue: SendQueue | undefined;

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis({ host: redis.host, port: redis.port });
});

afterEach(async () => {
  await queue?.close();
  queue = undefined;
  await Promise.all(workers.map((worker) => worker.kill()));
  workers = [];
});

afterAll(async () => {
  await inspector?.quit();
  await redis?.stop();
});

function message(index: number) {
  return {
    projectId: WORKER_PROJECT,
    channel: 'email',
    to: `user${index}@example.test`,
    subject: `Message ${index}`,
    text: 'Hello',
  } as const;
}

/** Provider calls (or accepted sends) per idempotency key, with the pid of the worker process that made each. */
async function recorded(listKey: string): Promise<Map<string, number[]>> {
  const byKey = new Map<string, number[]>();
  for (const entry of await inspector.lrange(listKey, 0, -1)) {
    const [key, pid] = entry.split(' ');
    byKey.set(key!, [...(byKey.get(key!) ?? []), Number(pid)]);
  }
  return byKey;
}

async function startWorkers(count: number, queueName: string, latencyMs: number): Promise<WorkerProcess[]> {
  workers = await Promise.all(
    Array.from({ length: count }, () =>
      startWorkerProcess({ redisPort: redis.port, queueName, concurrency: 4, latencyMs }),
    ),
  );
  return workers;
}

it(
  'sends every message exactly once across two worker processes, and stores no credential',
  async () => {
    await inspector.del(CALLS_KEY, SENDS_KEY);
    const queueName = `multi-${randomUUID()}`;
    const [first, second] = await startWorkers(2, queueName, 20);
    queue = await createSendQueue({ connection: { host: redis.host, port: redis.port }, queueName });

    const total = 200;
    const jobs = await Promise.all(
      Array.from({ length: total }, (_, index) =>
        queue!.enqueue(message(index), { idempotencyKey: `multi-${index}` }),
      ),
    );
    // A few duplicates on top, enqueued while the originals are queued or running.
    await Promise.all(
      [0, 50, 100, 150, 199].map((index) =>
        queue!.enqueue(message(index), { idempotencyKey: `multi-${index}` }),
      ),
    );
    const outcomes = await Promise.all(jobs.map((job) => job.finished()));

    expect(outcomes.every((outcome) => outcome.status === 'sent')).toBe(true);
    const calls = await recorded(CALLS_KEY);
    const sends = await recorded(SENDS_KEY);
    expect(calls.size).toBe(total);
    expect(sends.size).toBe(total);
    for (let index = 0; index < total; index++) {
      expect(calls.get(`multi-${index}`)).toHaveLength(1);
      expect(sends.get(`multi-${index}`)).toHaveLength(1);
    }
    const senders = new Set([...sends.values()].flat());
    expect(senders).toEqual(new Set([first!.pid, second!.pid]));
    expect(await queue.counts()).toMatchObject({ completed: total, failed: 0, waiting: 0, active: 0 });

    const dump = await dumpRedis(inspector);
    expect(dump).toContain('Message 1');
    expect(dump).not.toContain(WORKER_SECRET);
  },
  TIMEOUT,
);

it(
  'loses nothing when a worker process is killed mid-batch; only jobs it had already sent can go out twice',
  async () => {
    await inspector.del(CALLS_KEY, SENDS_KEY);
    const queueName = `crash-${randomUUID()}`;
    const [victim, survivor] = await startWorkers(2, queueName, 100);
    queue = await createSendQueue({ connection: { host: redis.host, port: redis.port }, queueName });

    const total = 120;
    const jobs = await Promise.all(
      Array.from({ length: total }, (_, index) =>
        queue!.enqueue(message(index), { idempotencyKey: `crash-${index}` }),
      ),
    );
    // Kill the victim once it is well into its share, with jobs in flight.
    await vi.waitFor(
      async () => {
        const sentByVictim = [...(await recorded(SENDS_KEY)).values()]
          .flat()
          .filter((pid) => pid === victim!.pid);
        expect(sentByVictim.length).toBeGreaterThanOrEqual(12);
      },
      { timeout: 30_000, interval: 20 },
    );
    await victim!.kill();
    const callsAtDeath = await recorded(CALLS_KEY);

    const outcomes: SendJobOutcome[] = await Promise.all(jobs.map((job) => job.finished()));
    expect(outcomes.filter((outcome) => outcome.status !== 'sent')).toEqual([]);

    const calls = await recorded(CALLS_KEY);
    const sends = await recorded(SENDS_KEY);
    expect(sends.size).toBe(total);
    const calledTwice = [...calls].filter(([, pids]) => pids.length > 1).map(([key]) => key);
    const sentTwice = [...sends].filter(([, pids]) => pids.length > 1).map(([key]) => key);
    for (const key of calledTwice) {
      // Only a job the victim had already handed to the provider is run again: its lock expired with the victim,
      // and the survivor took it over.
      expect(callsAtDeath.get(key)).toEqual([victim!.pid]);
      expect(calls.get(key)).toEqual([victim!.pid, survivor!.pid]);
      const outcome = outcomes.find((candidate) => candidate.idempotencyKey === key);
      expect(outcome?.runs).toBe(2);
    }
    expect(sentTwice.every((key) => calledTwice.includes(key))).toBe(true);
    // At most the victim's concurrency can have been in flight.
    expect(calledTwice.length).toBeLessThanOrEqual(4);
    for (const [key, pids] of calls) {
      if (!calledTwice.includes(key)) expect(pids).toHaveLength(1);
    }
    console.info(
      `SIGKILL mid-batch: ${total} of ${total} sent; ${calledTwice.length} job(s) in flight in the killed worker were ` +
        `run again by the survivor (${sentTwice.length} of them had already been accepted by the provider, so sent twice)`,
    );
  },
  TIMEOUT,
);
