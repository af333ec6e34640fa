/**
 * A send worker in its own process, for the multi-process queue tests and the queue benchmark. Run with
 * `node --import tsx test/queue/worker.ts` (cwd: the repository root) and configure it through the environment:
 *
 * - `MP_REDIS_PORT` (required), `MP_QUEUE` (queue name), `MP_CONCURRENCY` (default 4)
 * - `MP_LATENCY_MS`: how long the mock provider takes per message (default 0)
 * - `MP_LOCK_MS`, `MP_STALLED_MS`: lock duration and stalled-check interval (default 4000 / 1000)
 * - `MP_RECORD=1`: record every provider call in Redis (`CALLS_KEY`, `SENDS_KEY`) so tests can count sends across
 *   processes: a mock adapter's own record lives and dies with its process.
 *
 * Sends `{ type: 'ready' }` over IPC once connected; closes gracefully on SIGTERM or an IPC `'close'` message.
 */
import { Redis } from 'ioredis';
import { type Adapter, Dispatcher } from 'messagepipe';
import { createSendWorker } from 'messagepipe/queue';
import { createMockAdapter } from 'messagepipe/testing';
import { CALLS_KEY, SENDS_KEY, WORKER_PROJECT, WORKER_SECRET } from './worker-process';

async function main(): Promise<void> {
  const port = Number(process.env.MP_REDIS_PORT);
  if (!port) throw new Error('MP_REDIS_PORT is required');
  const latencyMs = Number(process.env.MP_LATENCY_MS ?? 0);
  const record = process.env.MP_RECORD === '1';
  const recorder = record ? new Redis({ host: '127.0.0.1', port }) : undefined;

  const mock = createMockAdapter({
    provider: 'sendgrid',
    channel: 'email',
    behaviour: latencyMs > 0 ? { ok: true, delayMs: latencyMs } : 'ok',
  });
  const adapter: Adapter<'email', unknown> = {
    provider: mock.provider,
    channel: mock.channel,
    async send(message, ctx) {
      await recorder?.rpush(CALLS_KEY, `${ctx.idempotencyKey} ${process.pid}`);
      const receipt = await mock.send(message, ctx);
      await recorder?.rpush(SENDS_KEY, `${ctx.idempotencyKey} ${process.pid}`);
      return receipt;
    },
  };

  const pipe = new Dispatcher({ adapters: [adapter] });
  await pipe.senders.set({
    projectId: WORKER_PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    enabled: true,
  });
  await pipe.providers.add(
    {
      projectId: WORKER_PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'Mock SendGrid',
      priority: 1,
      config: { apiKey: WORKER_SECRET },
    },
    { verify: false },
  );

  const worker = await createSendWorker(pipe, {
    connection: { host: '127.0.0.1', port },
    ...(process.env.MP_QUEUE ? { queueName: process.env.MP_QUEUE } : {}),
    concurrency: Number(process.env.MP_CONCURRENCY ?? 4),
    lockDurationMs: Number(process.env.MP_LOCK_MS ?? 4_000),
    stalledIntervalMs: Number(process.env.MP_STALLED_MS ?? 1_000),
  });

  let closing = false;
  const shutDown = async () => {
    if (closing) return;
    closing = true;
    await worker.close();
    await pipe.close();
    await recorder?.quit();
    process.disconnect?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutDown());
  process.on('message', (message) => {
    if (message === 'close') void shutDown();
  });
  // The parent went away without telling us: do not linger.
  process.on('disconnect', () => void shutDown());
  process.send?.({ type: 'ready', pid: process.pid });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
