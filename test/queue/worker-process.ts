import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Redis list written by worker processes: `<idempotency key> <pid>`, one entry per provider call started. */
export const CALLS_KEY = 'mp-test:calls';
/** Redis list written by worker processes: `<idempotency key> <pid>`, one entry per message the mock accepted. */
export const SENDS_KEY = 'mp-test:sends';
/** The project the worker processes send for. */
export const WORKER_PROJECT = 'project-a';
/** The mock provider's credential in the worker processes: it must never reach Redis. */
export const WORKER_SECRET = 'SG.worker-secret-never-in-redis';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./worker.ts', import.meta.url));
const READY_TIMEOUT_MS = 60_000;

/** Settings of one worker process (see `worker.ts`). */
export interface WorkerProcessOptions {
  redisPort: number;
  queueName?: string;
  concurrency?: number;
  latencyMs?: number;
  lockMs?: number;
  stalledMs?: number;
  /** Record provider calls in Redis for counting. @default true */
  record?: boolean;
}

/** A send worker running in a child process. */
export interface WorkerProcess {
  readonly pid: number;
  /** Asks for a graceful shutdown and waits for the process to exit. */
  close(): Promise<void>;
  /** Kills the process with SIGKILL (no cleanup at all) and waits for it to be gone. */
  kill(): Promise<void>;
}

/** Starts a worker process and resolves once its worker is connected and taking jobs. */
export async function startWorkerProcess(options: WorkerProcessOptions): Promise<WorkerProcess> {
  const child = fork(SCRIPT, [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      MP_REDIS_PORT: String(options.redisPort),
      MP_QUEUE: options.queueName ?? '',
      MP_CONCURRENCY: String(options.concurrency ?? 4),
      MP_LATENCY_MS: String(options.latencyMs ?? 0),
      MP_LOCK_MS: String(options.lockMs ?? 4_000),
      MP_STALLED_MS: String(options.stalledMs ?? 1_000),
      MP_RECORD: options.record === false ? '0' : '1',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForReady(child);
  return {
    pid: child.pid!,
    async close() {
      if (child.connected) child.send('close');
      else child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function waitForReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('The worker process did not become ready in time'));
    }, READY_TIMEOUT_MS);
    child.on('message', (message: { type?: string }) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`The worker process exited before it was ready (${code ?? signal})`));
    });
  });
}
