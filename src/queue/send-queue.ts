import type { Job, Queue, QueueEvents } from 'bullmq';
import { defaultLogger, type Logger, MessagePipeError, type SendInput } from 'messagepipe';
import { type BullMQ, loadBullMQ } from './load';
import { failedOutcomeOf, progressOf, readOutcome } from './outcome';
import { idempotencyKeyOf, toJobData } from './payload';
import { BACKOFF_STRATEGY } from './send-worker';
import {
  DEFAULT_QUEUE_NAME,
  type EnqueueOptions,
  type FailedOutcome,
  type SendJobData,
  type SendJobOutcome,
  type SendJobProgress,
  type SendJobState,
  type SendQueueEventName,
  type SendQueueEvents,
  type SendQueueOptions,
  type SentOutcome,
} from './types';

const MAX_PRIORITY = 2_097_152;
/** Safety net for `finished()` should an event be lost (e.g. while Redis reconnects). */
const FINISHED_POLL_MS = 5_000;

/** A handle on one queued send, usable from any process. */
export interface SendJob {
  /** The job's idempotency key, which is also its BullMQ job id. */
  readonly idempotencyKey: string;
  /** Where the job is now; `unknown` when there is no such job. */
  state(): Promise<SendJobState>;
  /** The outcome once the job has finished (sent, or failed for good); `undefined` before. */
  outcome(): Promise<SendJobOutcome | undefined>;
  /** Attempts so far and how the last run ended, as recorded by the worker; `undefined` before the first attempt. */
  progress(): Promise<SendJobProgress | undefined>;
  /**
   * Waits for the outcome. Resolves for failures too (check `status`); rejects with `NOT_FOUND` when the job does
   * not exist, and with `ABORTED` when `signal` is aborted (e.g. `AbortSignal.timeout(30_000)`).
   */
  finished(options?: { signal?: AbortSignal }): Promise<SendJobOutcome>;
  /**
   * Runs a failed job (a dead letter) again, with a fresh set of retries. Its earlier attempts stay in its
   * history. Rejects with `CONFLICT` unless the job is in the failed set.
   */
  retry(): Promise<void>;
}

/** How many jobs are in each state. */
export interface SendQueueCounts {
  /** Waiting to run, prioritised ones included. */
  waiting: number;
  /** Waiting for their `delay` or for a retry backoff to pass. */
  delayed: number;
  active: number;
  /** Sent, and still kept (see `keepSentForSeconds`). */
  completed: number;
  /** The dead letters. */
  failed: number;
}

/** The producer side of durable sending: puts sends on the queue and tells what became of them. */
export interface SendQueue {
  readonly queueName: string;
  /** The BullMQ queue underneath, for metrics, pausing, or a dashboard. */
  readonly bullQueue: Queue<SendJobData, SentOutcome>;
  /**
   * Validates a send and puts it on the queue. The message is refused with `MESSAGE_INVALID` before anything
   * reaches Redis; only the message and its project id are stored, never a provider credential. Enqueueing an
   * idempotency key that is already in the queue adds nothing and returns a handle on the existing job.
   */
  enqueue(input: SendInput, options?: EnqueueOptions): Promise<SendJob>;
  /** A handle on the job of an idempotency key (which may or may not exist). */
  job(idempotencyKey: string): SendJob;
  /** Failed jobs, most recent first: the dead letters, with their classified failure and every attempt. */
  deadLetters(options?: { offset?: number; limit?: number }): Promise<FailedOutcome[]>;
  counts(): Promise<SendQueueCounts>;
  /**
   * Subscribes to queue events, which come from every worker through Redis; returns the function that
   * unsubscribes. Events are delivered from the moment of the first subscription on this queue object.
   */
  on<E extends SendQueueEventName>(event: E, listener: (payload: SendQueueEvents[E]) => void): () => void;
  /** Closes this producer's connections. Jobs already queued are unaffected. */
  close(): Promise<void>;
}

/**
 * Opens a send queue (the producer side). Any number of processes can open the same queue; workers started with
 * {@link createSendWorker} on the same connection and queue name do the sending.
 *
 * @example
 * ```ts
 * const queue = await createSendQueue({ connection: { host: 'redis', port: 6379 } });
 * const job = await queue.enqueue(
 *   { projectId, channel: 'email', to: 'a@b.test', subject: 'Hi', text: 'Hello' },
 *   { idempotencyKey: `welcome-${userId}` },
 * );
 * const outcome = await job.finished();   // { status: 'sent', provider, messageId, attempts, … }
 * ```
 */
export async function createSendQueue(options: SendQueueOptions): Promise<SendQueue> {
  const bullmq = await loadBullMQ(options.connection);
  const retry = options.retry ?? {};
  const queue = new bullmq.Queue<SendJobData, SentOutcome>(options.queueName ?? DEFAULT_QUEUE_NAME, {
    connection: options.connection,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    defaultJobOptions: {
      attempts: retry.attempts ?? 8,
      backoff: { type: BACKOFF_STRATEGY, delay: retry.backoffMs ?? 5_000 },
      removeOnComplete: { age: options.keepSentForSeconds ?? 86_400 },
      removeOnFail: { age: options.keepFailedForSeconds ?? 604_800 },
    },
  });
  const logger = options.logger ?? defaultLogger;
  queue.on('error', (error) => logger.warn('Send queue: Redis error', { error: error.message }));
  await queue.waitUntilReady();
  return new RedisSendQueue(bullmq, queue, options, logger);
}

type Listener = (payload: never) => void;

class RedisSendQueue implements SendQueue {
  readonly queueName: string;
  readonly bullQueue: Queue<SendJobData, SentOutcome>;
  readonly #bullmq: BullMQ;
  readonly #options: SendQueueOptions;
  readonly #logger: Logger;
  readonly #listeners = new Map<SendQueueEventName, Set<Listener>>();
  /** Called when a job finishes, by job id: wakes up `finished()`. */
  readonly #finishWaiters = new Map<string, Set<() => void>>();
  #events: Promise<QueueEvents> | undefined;
  #closed = false;

  constructor(
    bullmq: BullMQ,
    queue: Queue<SendJobData, SentOutcome>,
    options: SendQueueOptions,
    logger: Logger,
  ) {
    this.#bullmq = bullmq;
    this.bullQueue = queue;
    this.queueName = queue.name;
    this.#options = options;
    this.#logger = logger;
  }

  async enqueue(input: SendInput, options: EnqueueOptions = {}): Promise<SendJob> {
    const idempotencyKey = idempotencyKeyOf(options.idempotencyKey);
    const data = toJobData(input);
    const { delay, priority, ignoreSuppression } = options;
    if (ignoreSuppression !== undefined && typeof ignoreSuppression !== 'boolean') {
      throw invalidOption('ignoreSuppression', 'Expected true or false');
    }
    if (ignoreSuppression) {
      data.version = 2;
      data.ignoreSuppression = true;
    }
    if (delay !== undefined && !(Number.isInteger(delay) && delay >= 0)) {
      throw invalidOption('delay', 'Expected a whole number of milliseconds, 0 or more');
    }
    if (
      priority !== undefined &&
      !(Number.isInteger(priority) && priority >= 1 && priority <= MAX_PRIORITY)
    ) {
      throw invalidOption('priority', `Expected a whole number from 1 to ${MAX_PRIORITY}`);
    }
    // A subscriber must not miss the events of a job added right after it subscribed.
    await this.#events?.catch(() => undefined);
    await this.bullQueue.add(input.channel, data, {
      jobId: idempotencyKey,
      ...(delay ? { delay } : {}),
      ...(priority ? { priority } : {}),
    });
    return this.job(idempotencyKey);
  }

  job(idempotencyKey: string): SendJob {
    const queue = this.bullQueue;
    const load = () => queue.getJob(idempotencyKey) as Promise<Job<SendJobData, SentOutcome> | undefined>;
    return {
      idempotencyKey,
      state: () => queue.getJobState(idempotencyKey),
      outcome: async () => (await readOutcome(queue, idempotencyKey)).outcome,
      progress: async () => progressOf((await load())?.progress),
      finished: async ({ signal } = {}) => {
        await this.#startEvents();
        for (;;) {
          const { exists, outcome } = await readOutcome(queue, idempotencyKey);
          if (!exists)
            throw new MessagePipeError('NOT_FOUND', `No send job with idempotency key ${idempotencyKey}`);
          if (outcome) return outcome;
          await this.#finishOf(idempotencyKey, signal);
        }
      },
      retry: async () => {
        const job = await load();
        if (!job || (await job.getState()) !== 'failed') {
          throw new MessagePipeError('CONFLICT', `Send job ${idempotencyKey} is not in the failed set`);
        }
        await job.retry('failed', { resetAttemptsMade: true });
      },
    };
  }

  async deadLetters({
    offset = 0,
    limit = 100,
  }: {
    offset?: number;
    limit?: number;
  } = {}): Promise<FailedOutcome[]> {
    const jobs = (await this.bullQueue.getFailed(offset, offset + limit - 1)) as Job<
      SendJobData,
      SentOutcome
    >[];
    return jobs.map(failedOutcomeOf);
  }

  async counts(): Promise<SendQueueCounts> {
    const counts = await this.bullQueue.getJobCounts(
      'waiting',
      'prioritized',
      'delayed',
      'active',
      'completed',
      'failed',
    );
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  on<E extends SendQueueEventName>(event: E, listener: (payload: SendQueueEvents[E]) => void): () => void {
    let listeners = this.#listeners.get(event);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(event, listeners);
    }
    listeners.add(listener as Listener);
    void this.#startEvents().catch((error: unknown) =>
      this.#logger.warn('Send queue: could not listen to queue events', { error: messageOf(error) }),
    );
    return () => {
      listeners.delete(listener as Listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const events = await this.#events?.catch(() => undefined);
    await events?.close();
    await this.bullQueue.close();
  }

  #emit<E extends SendQueueEventName>(event: E, payload: SendQueueEvents[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as (payload: SendQueueEvents[E]) => void)(payload);
      } catch (error) {
        this.#logger.warn(`A listener of queue event "${event}" threw`, { error: messageOf(error) });
      }
    }
  }

  /** Resolves when the job finishes, after a poll interval, or rejects when `signal` aborts. */
  #finishOf(idempotencyKey: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(aborted(idempotencyKey, signal));
      let waiters = this.#finishWaiters.get(idempotencyKey);
      if (!waiters) {
        waiters = new Set();
        this.#finishWaiters.set(idempotencyKey, waiters);
      }
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(done);
        if (waiters.size === 0 && this.#finishWaiters.get(idempotencyKey) === waiters) {
          this.#finishWaiters.delete(idempotencyKey);
        }
      };
      const wake = () => {
        done();
        resolve();
      };
      const onAbort = () => {
        done();
        reject(aborted(idempotencyKey, signal));
      };
      const timer = setTimeout(wake, FINISHED_POLL_MS);
      waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Starts reading the queue's event stream, once. The stream is read from the Redis server's current time, not
   * from whenever the blocking read gets going, so nothing that happens after this call is missed.
   */
  #startEvents(): Promise<QueueEvents> {
    this.#events ??= (async () => {
      const lastEventId = await this.#streamPosition();
      const events = new this.#bullmq.QueueEvents(this.queueName, {
        connection: this.#options.connection,
        ...(this.#options.prefix === undefined ? {} : { prefix: this.#options.prefix }),
        ...(lastEventId ? { lastEventId } : {}),
      });
      events.on('error', (error) =>
        this.#logger.warn('Send queue events: Redis error', { error: error.message }),
      );
      this.#forward(events);
      await events.waitUntilReady();
      return events;
    })();
    return this.#events;
  }

  /** An event stream id just before now on the Redis server's clock; undefined if the client cannot tell. */
  async #streamPosition(): Promise<string | undefined> {
    try {
      const client = await this.bullQueue.getBackend().client;
      const [seconds, micros] = (await client.runCommand('time', [])) as [string, string];
      const now = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
      return Number.isFinite(now) ? `${now - 1}-0` : undefined;
    } catch {
      return undefined;
    }
  }

  #forward(events: QueueEvents): void {
    events.on('added', ({ jobId }) => this.#emit('queued', { idempotencyKey: jobId }));
    events.on('stalled', ({ jobId }) => this.#emit('stalled', { idempotencyKey: jobId }));
    events.on('progress', ({ jobId, data }) => {
      const progress = progressOf(data);
      if (!progress) return;
      if (progress.event === 'attempt') {
        const attempt = progress.attempts.at(-1);
        if (attempt) this.#emit('attempt', { idempotencyKey: jobId, run: progress.run, attempt });
      } else if (progress.event === 'retrying' && progress.failure) {
        this.#emit('retrying', { idempotencyKey: jobId, run: progress.run, failure: progress.failure });
      }
    });
    events.on('completed', ({ jobId, returnvalue }) => {
      this.#wake(jobId);
      const outcome = returnvalue as unknown as Partial<SentOutcome> | null;
      if (outcome?.status === 'sent') this.#emit('sent', outcome as SentOutcome);
    });
    events.on('failed', ({ jobId }) => {
      this.#wake(jobId);
      if (!this.#listeners.get('failed')?.size) return;
      void this.bullQueue
        .getJob(jobId)
        .then((job) => {
          if (job) this.#emit('failed', failedOutcomeOf(job as Job<SendJobData, SentOutcome>));
        })
        .catch((error: unknown) =>
          this.#logger.warn('Send queue: could not read a failed job', { jobId, error: messageOf(error) }),
        );
    });
  }

  #wake(jobId: string): void {
    for (const wake of [...(this.#finishWaiters.get(jobId) ?? [])]) wake();
  }
}

function invalidOption(name: string, message: string): MessagePipeError {
  return new MessagePipeError('MESSAGE_INVALID', `Invalid enqueue option ${name}: ${message}`, {
    issues: [{ path: [name], message }],
  });
}

function aborted(idempotencyKey: string, signal: AbortSignal | undefined): MessagePipeError {
  return new MessagePipeError('ABORTED', `Stopped waiting for send job ${idempotencyKey}`, {
    cause: signal?.reason,
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
