/**
 * Queue throughput: jobs per second through `messagepipe/queue` with 1, 2 and 4 worker processes at a few
 * concurrency settings, each send taking 20 ms at a mock provider. Starts its own redis-server.
 *
 * Each row: the queue is paused, filled, the workers are started and connected, then the queue is resumed and
 * the clock runs until the last job is completed (BullMQ's `finishedOn`), so process start-up and enqueueing are
 * not counted. Enqueue speed is reported separately.
 */
import { cpus } from 'node:os';
import { createSendQueue, type SendQueue } from 'messagepipe/queue';
import { startRedis } from '../test/queue/redis-server';
import { startWorkerProcess, WORKER_PROJECT } from '../test/queue/worker-process';
import { type BenchReport, round, runIfMain } from './report';

const LATENCY_MS = 20;
const WORKER_COUNTS = (process.env.BENCH_QUEUE_WORKERS ?? '1,2,4').split(',').map(Number);
const CONCURRENCIES = (process.env.BENCH_QUEUE_CONCURRENCY ?? '1,16').split(',').map(Number);
/** Target duration of one measurement, to size the batch. */
const TARGET_SECONDS = Number(process.env.BENCH_QUEUE_SECONDS ?? 3);
/** Rough ceiling of what one machine does, so a batch stays a few seconds long. */
const CEILING_PER_SECOND = 1_500;

interface Measurement {
  jobs: number;
  seconds: number;
  perSecond: number;
  enqueuedPerSecond: number;
}

export async function run(): Promise<BenchReport> {
  const redis = await startRedis();
  const rows: BenchReport['rows'] = [];
  try {
    for (const concurrency of CONCURRENCIES) {
      let single: number | undefined;
      for (const workers of WORKER_COUNTS) {
        const ideal = (workers * concurrency * 1_000) / LATENCY_MS;
        const jobs = Math.max(
          100,
          Math.min(Math.round(Math.min(ideal, CEILING_PER_SECOND) * TARGET_SECONDS), 5_000),
        );
        const result = await measure(redis.port, workers, concurrency, jobs);
        if (workers === 1) single = result.perSecond;
        rows.push({
          concurrency,
          workers,
          jobs: result.jobs,
          seconds: round(result.seconds),
          'jobs/s': round(result.perSecond, 0),
          'ideal jobs/s': round(ideal, 0),
          'vs 1 worker': single ? `${round(result.perSecond / single, 2)}x` : '-',
          'enqueued/s': round(result.enqueuedPerSecond, 0),
        });
      }
    }
  } finally {
    await redis.stop();
  }
  return {
    title: `Queue throughput: worker processes × concurrency, ${LATENCY_MS} ms mock provider latency`,
    rows,
    notes: [
      `${cpus().length} CPU core(s) shared by redis-server, the producer and every worker process.`,
      `"ideal" is workers × concurrency × 1000 / ${LATENCY_MS}: what the provider latency alone allows.`,
      'At concurrency 1 a worker mostly waits on the provider, so throughput grows with the number of workers ' +
        'until CPU runs out; at high concurrency one process is already CPU-bound (BullMQ and Redis round trips ' +
        'per job), so more processes only help with more cores or machines.',
      'Each job is one dispatcher send plus BullMQ bookkeeping (fetch, lock, progress write, completion).',
    ],
  };
}

async function measure(
  redisPort: number,
  workers: number,
  concurrency: number,
  jobs: number,
): Promise<Measurement> {
  const queueName = `bench-${workers}x${concurrency}-${Date.now()}`;
  const queue = await createSendQueue({ connection: { host: '127.0.0.1', port: redisPort }, queueName });
  const processes = [];
  try {
    await queue.bullQueue.pause();
    const enqueueStarted = performance.now();
    await enqueueAll(queue, jobs);
    const enqueuedPerSecond = jobs / ((performance.now() - enqueueStarted) / 1_000);

    processes.push(
      ...(await Promise.all(
        Array.from({ length: workers }, () =>
          startWorkerProcess({
            redisPort,
            queueName,
            concurrency,
            latencyMs: LATENCY_MS,
            lockMs: 30_000,
            stalledMs: 30_000,
            record: false,
          }),
        ),
      )),
    );
    const started = Date.now();
    await queue.bullQueue.resume();
    for (;;) {
      const counts = await queue.counts();
      if (counts.failed > 0) throw new Error(`${counts.failed} job(s) failed during the benchmark`);
      if (counts.completed >= jobs) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const finished = Math.max(
      ...(await queue.bullQueue.getCompleted(0, -1)).map((job) => job.finishedOn ?? 0),
    );
    const seconds = (finished - started) / 1_000;
    return { jobs, seconds, perSecond: jobs / seconds, enqueuedPerSecond };
  } finally {
    await Promise.all(processes.map((worker) => worker.close()));
    await queue.bullQueue.obliterate({ force: true });
    await queue.close();
  }
}

/** Enqueues in batches so the producer does not hold thousands of pending promises at once. */
async function enqueueAll(queue: SendQueue, jobs: number): Promise<void> {
  const batch = 200;
  for (let first = 0; first < jobs; first += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, jobs - first) }, (_, offset) =>
        queue.enqueue(
          {
            projectId: WORKER_PROJECT,
            channel: 'email',
            to: `user${first + offset}@example.test`,
            subject: 'Benchmark',
            text: 'Hello',
          },
          { idempotencyKey: `bench-${first + offset}` },
        ),
      ),
    );
  }
}

runIfMain(import.meta.url, run);
