import type { Job, Queue } from 'bullmq';
import {
  type Attempt,
  type ErrorCode,
  type FailureClass,
  failureClassOf,
  isMessagePipeError,
  isProviderError,
  isProviderErrorCode,
  MessagePipeError,
  type ValidationIssue,
} from 'messagepipe';
import type {
  FailedOutcome,
  QueuedAttempt,
  QueueErrorCode,
  SendJobData,
  SendJobOutcome,
  SendJobProgress,
  SentOutcome,
} from './types';

/** A failed send, classified for the queue: what to record, and whether running the job again can help. */
export interface ClassifiedFailure {
  code: ErrorCode | QueueErrorCode;
  failureClass: FailureClass;
  message: string;
  issues?: ValidationIssue[];
  /** Attempts of this run, when the error lists them. */
  attempts: Attempt[];
  /** The longest wait a provider asked for (Retry-After), for the backoff. */
  retryAfterMs?: number;
  /**
   * True when the send ended on a timeout that may have delivered the message (`onAmbiguousTimeout: 'stop'`): the
   * dispatcher chose a possible loss over a possible duplicate, so the queue must not run it again either.
   */
  ambiguous?: boolean;
}

const MAX_MESSAGE_LENGTH = 1_000;

/**
 * Classifies what `dispatcher.send` threw. Only `transient` failures are retried by the queue:
 * - `ALL_PROVIDERS_FAILED` is transient when some failed attempt was transient (outage, timeout, 429, open
 *   circuit): that provider may take the message on a later run. When every provider refused at the provider level
 *   (credentials, unverified sender, suspended account) it is `provider`: a person has to fix the set-up.
 * - a `ProviderError` keeps its own class (the dispatcher throws one of class `message` when a provider refused
 *   the message itself).
 * - `MESSAGE_INVALID` is `message`; `NO_PROVIDERS` and `CHANNEL_DISABLED` are `provider` (the project's set-up):
 *   running the same job again gives the same answer.
 * - `DISPATCHER_CLOSED` and `ABORTED` (the worker is shutting down), `STORE_UNAVAILABLE` (the store did not answer
 *   within the send deadline) and errors that are not MessagePipe's (a store that cannot be reached) are transient.
 */
export function classifyFailure(error: unknown): ClassifiedFailure {
  if (isProviderError(error)) {
    const failure: ClassifiedFailure = {
      code: error.code,
      failureClass: error.failureClass,
      message: error.message,
      attempts: error.attempts ?? [],
    };
    if (error.ambiguous) failure.ambiguous = true;
    return withRetryAfter(failure);
  }
  if (isMessagePipeError(error)) {
    const attempts = error.attempts ?? [];
    const failure: ClassifiedFailure = {
      code: error.code,
      failureClass: classOfCode(error.code, attempts),
      message: error.message,
      attempts,
    };
    if (error.issues) failure.issues = error.issues;
    return withRetryAfter(failure);
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return {
    code: 'UNEXPECTED_ERROR',
    failureClass: 'transient',
    message: message.slice(0, MAX_MESSAGE_LENGTH),
    attempts: [],
  };
}

function classOfCode(code: ErrorCode, attempts: Attempt[]): FailureClass {
  switch (code) {
    case 'ALL_PROVIDERS_FAILED':
      // One provider that was only down (or rate-limiting, or behind an open circuit) may take the message on a
      // later run, even if another one's set-up is broken; only a chain of provider-level refusals is hopeless.
      return attempts.some((attempt) => attempt.error?.failureClass === 'transient')
        ? 'transient'
        : 'provider';
    case 'MESSAGE_INVALID':
      return 'message';
    case 'DISPATCHER_CLOSED':
    case 'ABORTED':
    case 'STORE_UNAVAILABLE':
      return 'transient';
    default:
      // A provider-level code raised before any provider was called (RECIPIENT_SUPPRESSED) keeps its code's class.
      return isProviderErrorCode(code) ? failureClassOf(code) : 'provider';
  }
}

function withRetryAfter(failure: ClassifiedFailure): ClassifiedFailure {
  const waits = failure.attempts.flatMap((attempt) =>
    attempt.error?.retryAfterMs === undefined ? [] : [attempt.error.retryAfterMs],
  );
  if (waits.length > 0) failure.retryAfterMs = Math.max(...waits);
  return failure;
}

/** The provider attempts recorded in a job's progress by earlier runs. */
export function progressOf(value: unknown): SendJobProgress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const progress = value as Partial<SendJobProgress>;
  return Array.isArray(progress.attempts) && typeof progress.run === 'number'
    ? (progress as SendJobProgress)
    : undefined;
}

/** Tags this run's attempts with the run number. */
export function inRun(attempts: readonly Attempt[], run: number): QueuedAttempt[] {
  return attempts.map((attempt) => ({ ...attempt, run }));
}

/**
 * What became of a job, read from Redis: `exists: false` when there is no such job, no `outcome` while it has not
 * finished. Works for jobs of any worker, dead ones included.
 */
export async function readOutcome(
  queue: Queue<SendJobData, SentOutcome>,
  jobId: string,
): Promise<{ exists: boolean; outcome?: SendJobOutcome }> {
  // State first, then the job: a job loaded first could finish before its state is read, and look finished
  // without its outcome.
  const state = await queue.getJobState(jobId);
  if (state === 'unknown') return { exists: false };
  if (state !== 'completed' && state !== 'failed') return { exists: true };
  const job = (await queue.getJob(jobId)) as Job<SendJobData, SentOutcome> | undefined;
  if (!job) return { exists: false };
  if (state === 'failed') return { exists: true, outcome: failedOutcomeOf(job) };
  const value = job.returnvalue as Partial<SentOutcome> | null;
  if (value?.status === 'sent') return { exists: true, outcome: value as SentOutcome };
  throw new MessagePipeError(
    'CONFLICT',
    `Job ${jobId} completed without a send outcome: was it run by something other than a send worker?`,
  );
}

/** The outcome of a job known to be in the failed set. */
export function failedOutcomeOf(job: Job<SendJobData>): FailedOutcome {
  const progress = progressOf(job.progress);
  const recorded = progress?.failure;
  // The worker records why it failed; a job failed by BullMQ itself (stalled too often) has only a reason.
  if (recorded && recorded.message === job.failedReason) {
    return { ...recorded, runs: Math.max(recorded.runs, job.attemptsStarted) };
  }
  const { projectId, channel } = job.data.input;
  const reason = job.failedReason || 'The job failed';
  return {
    status: 'failed',
    idempotencyKey: String(job.id),
    projectId,
    channel,
    code: /stall/i.test(reason) ? 'JOB_STALLED' : 'UNEXPECTED_ERROR',
    failureClass: 'transient',
    message: reason,
    runs: job.attemptsStarted,
    attempts: progress?.attempts ?? [],
  };
}
