import { isMessagePipeError, loadOptional, MessagePipeError } from 'messagepipe';
import type { QueueConnection } from './types';

/** The BullMQ module, loaded on first use so that `messagepipe` itself never needs it. */
export type BullMQ = typeof import('bullmq');

const INSTALL = 'npm install bullmq ioredis';

/**
 * Loads BullMQ, and ioredis too when BullMQ has to open connections from options (a client passed in needs no
 * driver). A missing package fails with `ADAPTER_MISSING` naming it.
 */
export async function loadBullMQ(connection: QueueConnection): Promise<BullMQ> {
  const bullmq = await loadPeer('bullmq', () => import('bullmq'));
  if (isPlainObject(connection)) await loadPeer('ioredis', () => import('ioredis'));
  return bullmq;
}

/** Loads an optional peer dependency of `messagepipe/queue`. */
export async function loadPeer<T>(packageName: string, load: () => Promise<T>): Promise<T> {
  try {
    return await loadOptional(packageName, 'queue', load);
  } catch (error) {
    if (isMessagePipeError(error) && error.code === 'ADAPTER_MISSING') {
      throw new MessagePipeError(
        'ADAPTER_MISSING',
        `messagepipe/queue needs the "${packageName}" package: ${INSTALL}`,
        { cause: error.cause },
      );
    }
    throw error;
  }
}

function isPlainObject(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
