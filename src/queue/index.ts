/**
 * Durable, distributed sending on BullMQ (Redis): `createSendQueue` puts sends on a queue, `createSendWorker` runs
 * them through a dispatcher, on as many processes and machines as needed. Needs the optional peer dependencies
 * `bullmq` and `ioredis`, loaded only when a queue or worker is created.
 *
 * @packageDocumentation
 */
export { type ClassifiedFailure, classifyFailure } from './outcome';
export { createSendQueue, type SendJob, type SendQueue, type SendQueueCounts } from './send-queue';
export { createSendWorker, type SendWorker } from './send-worker';
export {
  DEFAULT_QUEUE_NAME,
  type EnqueueOptions,
  type FailedOutcome,
  type QueueBaseOptions,
  type QueueConnection,
  type QueuedAttempt,
  type QueueErrorCode,
  type QueueRetryOptions,
  type SendJobData,
  type SendJobOutcome,
  type SendJobProgress,
  type SendJobState,
  type SendQueueEventName,
  type SendQueueEvents,
  type SendQueueOptions,
  type SendWorkerOptions,
  type SentOutcome,
} from './types';
