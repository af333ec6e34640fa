import { hostname } from 'node:os';
import type { BackoffStrategy, Job, Worker } from 'bullmq';
import { type Attempt, type Dispatcher, defaultLogger, type Logger } from 'messagepipe';
import { loadBullMQ } from './load';
import { classifyFailure, inRun, progressOf } from './outcome';
import {
  DEFAULT_QUEUE_NAME,
  type FailedOutcome,
  type QueuedAttempt,
  type SendJobData,
  type SendJobProgress,
  type SendWorkerOptions,
  type SentOutcome,
} from './types';

/** Name of the backoff strategy queued sends use; only a send worker knows it. */
export const BACKOFF_STRATEGY = 'messagepipe';
const JITTER = 0.2;

/** A worker process's share of the sending: takes jobs off the queue and sends them through a dispatcher. */
export interface SendWorker {
  readonly queueName: string;
  /** The BullMQ worker underneath, for metrics, pausing, or a dashboard. */
  readonly bullWorker: Worker<SendJobData, SentOutcome>;
  /**
   * Stops taking jobs and resolves once the jobs under way have finished (and their outcome is in Redis). The
   * dispatcher is left open: it belongs to the caller.
   */
  close(): Promise<void>;
}

/** What the processor throws for a failure worth another run; carries the provider's Retry-After. */
class TransientSendFailure extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs: number | undefined) {
    super(message);
    this.name = 'TransientSendFailure';
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Starts a worker that runs queued sends through `dispatcher`, `concurrency` at a time; resolves once it is
 * connected. Run as many as you like, on as many machines: they share the queue, and a job whose worker dies is
 * taken over by another once its lock expires.
 *
 * Each job is one `dispatcher.send(message, { idempotencyKey })` with the job's key, so every provider attempt of
 * every run sees the same key. Provider attempts are written to the job's progress as they finish (queue events
 * `attempt`), the outcome to Redis when the run ends. Transient failures are retried by BullMQ with exponential
 * backoff; other failures fail the job at once.
 *
 * @example
 * ```ts
 * const worker = await createSendWorker(pipe, { connection: { host: 'redis', port: 6379 }, concurrency: 20 });
 * process.once('SIGTERM', () => void worker.close());
 * ```
 */
export async function createSendWorker(
  dispatcher: Pick<Dispatcher, 'send' | 'on'>,
  options: SendWorkerOptions,
): Promise<SendWorker> {
  const bullmq = await loadBullMQ(options.connection);
  const logger = options.logger ?? defaultLogger;
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  /** Reports a finished provider attempt to the run it belongs to, by idempotency key (= job id). */
  const runs = new Map<string, (attempt: Attempt) => void>();
  const unsubscribe = dispatcher.on('attempt:finish', (event) =>
    runs.get(event.idempotencyKey)?.(event.attempt),
  );

  const processJob = async (job: Job<SendJobData, SentOutcome>): Promise<SentOutcome> => {
    const idempotencyKey = String(job.id);
    if (job.data?.version !== 1 && job.data?.version !== 2) {
      throw new bullmq.UnrecoverableError(
        `Unsupported send job payload (version ${String(job.data?.version)})`,
      );
    }
    const { input } = job.data;
    const run = Math.max(job.attemptsStarted, 1);
    const earlier = progressOf(job.progress)?.attempts ?? [];
    const progress = progressWriter(job, logger);
    const seen: QueuedAttempt[] = [];
    const onAttempt = (attempt: Attempt) => {
      seen.push({ ...attempt, run });
      progress.write({ run, event: 'attempt', attempts: [...earlier, ...seen] });
    };
    runs.set(idempotencyKey, onAttempt);
    try {
      const result = await dispatcher.send(
        input,
        job.data.ignoreSuppression === true
          ? { idempotencyKey, ignoreSuppression: true }
          : { idempotencyKey },
      );
      await progress.flushed();
      const sent: SentOutcome = {
        status: 'sent',
        idempotencyKey,
        projectId: input.projectId,
        channel: input.channel,
        provider: result.provider,
        providerConfigId: result.providerConfigId,
        messageId: result.messageId,
        runs: run,
        attempts: [...earlier, ...inRun(result.attempts, run)],
      };
      if (result.suppressed) sent.suppressed = result.suppressed;
      if (result.suppressionIgnored) sent.suppressionIgnored = result.suppressionIgnored;
      return sent;
    } catch (error) {
      const failure = classifyFailure(error);
      const outcome: FailedOutcome = {
        status: 'failed',
        idempotencyKey,
        projectId: input.projectId,
        channel: input.channel,
        code: failure.code,
        failureClass: failure.failureClass,
        message: failure.message,
        runs: run,
        attempts: [...earlier, ...(failure.attempts.length > 0 ? inRun(failure.attempts, run) : seen)],
      };
      if (failure.issues) outcome.issues = failure.issues;
      const retry = failure.failureClass === 'transient' && !failure.ambiguous;
      const runsLeft = retry && job.attemptsMade + 1 < (job.opts.attempts ?? 1);
      progress.write({
        run,
        event: runsLeft ? 'retrying' : 'failed',
        attempts: outcome.attempts,
        failure: outcome,
      });
      await progress.flushed();
      // Fresh errors: BullMQ stores message and stack, and nothing of the original error reaches Redis.
      if (retry) throw new TransientSendFailure(outcome.message, failure.retryAfterMs);
      throw new bullmq.UnrecoverableError(outcome.message);
    } finally {
      if (runs.get(idempotencyKey) === onAttempt) runs.delete(idempotencyKey);
    }
  };

  const worker = new bullmq.Worker<SendJobData, SentOutcome>(queueName, processJob, {
    connection: options.connection,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    name: `${hostname()}/${process.pid}`,
    concurrency: options.concurrency ?? 10,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 1,
    settings: { backoffStrategy },
  });
  worker.on('error', (error) => logger.warn('Send worker: Redis error', { error: error.message }));
  try {
    await worker.waitUntilReady();
  } catch (error) {
    unsubscribe();
    await worker.close(true).catch(() => {});
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    queueName,
    bullWorker: worker,
    close() {
      closing ??= worker.close().finally(unsubscribe);
      return closing;
    },
  };
}

/** Exponential backoff with jitter, never shorter than the provider's Retry-After. */
const backoffStrategy: BackoffStrategy = (attemptsMade, type, error, job) => {
  if (type !== BACKOFF_STRATEGY) return 0;
  const backoff = job?.opts.backoff;
  const base = typeof backoff === 'object' && backoff.delay !== undefined ? backoff.delay : 5_000;
  const exponential = base * 2 ** Math.max(attemptsMade - 1, 0);
  const delay = Math.round(exponential * (1 - JITTER + Math.random() * 2 * JITTER));
  const retryAfter = error instanceof TransientSendFailure ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(delay, retryAfter);
};

/**
 * Writes progress in order without holding up the send; `flushed()` waits for what was written so far, so the
 * next run (or a reader of the outcome) sees every attempt.
 */
function progressWriter(job: Job<SendJobData, SentOutcome>, logger: Logger) {
  let chain: Promise<void> = Promise.resolve();
  return {
    write(progress: SendJobProgress) {
      chain = chain
        .then(() => job.updateProgress(progress))
        .catch((error: unknown) =>
          logger.warn('Send worker: could not record job progress', {
            jobId: job.id,
            error: error instanceof Error ? error.message : String(error),
          }),
        );
    },
    flushed: () => chain,
  };
}
