import type { ConnectionOptions } from 'bullmq';
import type {
  Attempt,
  Channel,
  ErrorCode,
  FailureClass,
  Logger,
  SendInput,
  ValidationIssue,
} from 'messagepipe';

/** Name of the BullMQ queue used when none is given. */
export const DEFAULT_QUEUE_NAME = 'messagepipe-send';

/**
 * Where BullMQ connects: ioredis options (`{ host, port, password, tls, … }`, or `{ url }`) or a connected client.
 * With options, every queue, worker and event listener opens its own connections, which is what BullMQ recommends.
 */
export type QueueConnection = ConnectionOptions;

/** Codes for failures that happen around a send rather than in it. */
export type QueueErrorCode =
  /** The job's worker died (or lost its lock) more often than `maxStalledCount` allows. */
  | 'JOB_STALLED'
  /** Something other than a MessagePipe error was thrown, e.g. the provider store was unreachable. */
  | 'UNEXPECTED_ERROR';

/** A provider attempt made while running a queued send, with the run it belongs to. */
export interface QueuedAttempt extends Attempt {
  /** Which run of the job made this attempt: 1 for the first, 2 for the first retry, and so on. */
  run: number;
}

interface OutcomeBase {
  /** Also the BullMQ job id. */
  idempotencyKey: string;
  projectId: string;
  channel: Channel;
  /** How many times a worker started the job, runs cut short by a crashed worker included. */
  runs: number;
  /** Every provider attempt across every run, in order. */
  attempts: QueuedAttempt[];
}

/** A queued send that a provider accepted. */
export interface SentOutcome extends OutcomeBase {
  status: 'sent';
  provider: string;
  providerConfigId: string;
  messageId: string;
  /** Suppressed recipients left out of the message (see `SendResult.suppressed`). */
  suppressed?: string[];
  /** Suppressed recipients sent to anyway under `ignoreSuppression`. */
  suppressionIgnored?: string[];
}

/** A queued send that failed for good (it stays in the queue's failed set, the dead letters). */
export interface FailedOutcome extends OutcomeBase {
  status: 'failed';
  code: ErrorCode | QueueErrorCode;
  /**
   * `transient` failures were retried until the job ran out of attempts; `provider` and `message` failures are
   * never retried (see the README, "Scaling out").
   */
  failureClass: FailureClass;
  /** Safe to show and log: never holds a secret. */
  message: string;
  /** Field paths and reasons, for `MESSAGE_INVALID`. */
  issues?: ValidationIssue[];
}

/** What became of a queued send. */
export type SendJobOutcome = SentOutcome | FailedOutcome;

/**
 * The job's progress as stored in Redis by the worker: every attempt so far, and how the last run ended when it
 * failed. Also what `attempt` and `retrying` events are built from.
 */
export interface SendJobProgress {
  /** The run that wrote this progress. */
  run: number;
  /** `attempt`: a provider attempt finished; `retrying`: the run failed and the job will run again; `failed`: for good. */
  event: 'attempt' | 'retrying' | 'failed';
  /** Every provider attempt so far, across runs. */
  attempts: QueuedAttempt[];
  /** Why the run failed, for `retrying` and `failed`. */
  failure?: FailedOutcome;
}

/** The payload of a send job in Redis: the message and its project, never a credential. */
export interface SendJobData {
  /**
   * Payload format; workers refuse versions they do not know. 2 carries `ignoreSuppression`, so a worker that
   * predates it fails the job (a dead letter) instead of sending without the override.
   */
  version: 1 | 2;
  /** The send as given to `enqueue`, with attachment bytes as base64 strings so it survives JSON. */
  input: SendInput;
  /** `enqueue`'s `ignoreSuppression`, present (with `version: 2`) only when set. */
  ignoreSuppression?: true;
}

/** State of a job, as BullMQ reports it; `unknown` when there is no such job (never enqueued, or removed). */
export type SendJobState =
  | 'waiting'
  | 'prioritized'
  | 'delayed'
  | 'active'
  | 'completed'
  | 'failed'
  | 'waiting-children'
  | 'unknown';

/** Events of a send queue, observable from any process that opens the queue. */
export interface SendQueueEvents {
  /** A job was added (not emitted for a duplicate key). */
  queued: { idempotencyKey: string };
  /** A provider attempt finished. */
  attempt: { idempotencyKey: string; run: number; attempt: QueuedAttempt };
  /** A run failed transiently; BullMQ runs the job again after a backoff. */
  retrying: { idempotencyKey: string; run: number; failure: FailedOutcome };
  /** A worker lost the job (crashed, or its event loop was blocked past the lock); it goes back to the queue. */
  stalled: { idempotencyKey: string };
  /** A provider accepted the message. */
  sent: SentOutcome;
  /** The job failed for good and stays in the failed set. */
  failed: FailedOutcome;
}

/** Name of a send queue event. */
export type SendQueueEventName = keyof SendQueueEvents;

/** Retry policy of queued sends. */
export interface QueueRetryOptions {
  /** Runs of a job in total, the first included, before a transient failure is final. @default 8 */
  attempts?: number;
  /**
   * Wait before the first retry, in milliseconds; it doubles for each further retry (with ±20% jitter), and is at
   * least what the provider asked for with Retry-After. @default 5000
   */
  backoffMs?: number;
}

/** Options shared by {@link createSendQueue} and {@link createSendWorker}. */
export interface QueueBaseOptions {
  /** Redis connection (ioredis options or client). */
  connection: QueueConnection;
  /** BullMQ queue name; producers and workers must agree. @default 'messagepipe-send' */
  queueName?: string;
  /** Prefix of every Redis key of the queue; producers and workers must agree. @default 'bull' */
  prefix?: string;
  /** Where connection errors and listener failures go. @default warnings via process.emitWarning */
  logger?: Logger;
}

/** Options of {@link createSendQueue}. */
export interface SendQueueOptions extends QueueBaseOptions {
  /** How transient failures are retried. */
  retry?: QueueRetryOptions;
  /**
   * How long a sent job (and its outcome) stays in Redis, in seconds. Enqueueing a key again within this window
   * is a no-op, so it is also the de-duplication window. @default 86400 (one day)
   */
  keepSentForSeconds?: number;
  /** How long a failed job (a dead letter) stays in Redis, in seconds. @default 604800 (seven days) */
  keepFailedForSeconds?: number;
}

/** Options of one {@link SendQueue.enqueue}. */
export interface EnqueueOptions {
  /**
   * Identifies the send: it is the job id and the key passed to every provider attempt. Enqueueing a key that is
   * still in the queue (waiting, running, or finished within `keepSentForSeconds`) does nothing. Generated when
   * absent. Up to 200 characters, no `:`, not only digits.
   */
  idempotencyKey?: string;
  /** Wait this many milliseconds before the job may run. */
  delay?: number;
  /**
   * BullMQ priority: 1 is the highest, 2 097 152 the lowest. Jobs without a priority run before prioritised ones,
   * so give every job a priority if you give one to any.
   */
  priority?: number;
  /**
   * Sends to suppressed recipients anyway, as `send`'s option of the same name does (a password reset to an
   * address that once bounced); the override is recorded.
   */
  ignoreSuppression?: boolean;
}

/** Options of {@link createSendWorker}. */
export interface SendWorkerOptions extends QueueBaseOptions {
  /** Jobs this worker runs at once. Sends wait on the network, so tens are fine. @default 10 */
  concurrency?: number;
  /**
   * How long a worker's claim on a job lasts, in milliseconds; it is renewed every half of it while the job runs.
   * After a worker dies its jobs wait this long (plus up to `stalledIntervalMs`) before another worker takes them.
   * Keep it well above the longest pause of the event loop. @default 30000
   */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died, in milliseconds. @default 30000 */
  stalledIntervalMs?: number;
  /**
   * How many times a job may lose its worker before it fails with `JOB_STALLED`: a message that crashes every
   * worker that takes it should not take them all down. @default 1
   */
  maxStalledCount?: number;
}
