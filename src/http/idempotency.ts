import { createHash } from 'node:crypto';
import { isMessagePipeError, MessagePipeError, type SendResult } from 'messagepipe';

/** Options of the in-process `Idempotency-Key` memory (sends without a queue). */
export interface IdempotencyOptions {
  /** How long a key is remembered after its send, in ms. @default 86400000 (one day) */
  ttlMs?: number;
  /** Keys remembered at most; the oldest is forgotten first. @default 10000 */
  maxKeys?: number;
}

interface Entry {
  fingerprint: string;
  result: Promise<SendResult>;
  expiresAt: number;
}

/**
 * Sends without a queue, once per `Idempotency-Key` and project: a repeated key answers the first send's result
 * (waiting for it if it is still under way) instead of sending again, and a key reused with another body is a
 * `CONFLICT`. A send that failed without possibly reaching anyone is forgotten, so the client may retry it with
 * the same key; one that may have been delivered (an ambiguous timeout) is kept.
 *
 * This memory is per process: with several instances behind a load balancer, configure the queue (Redis), whose
 * job ids give the same guarantee across them.
 */
export class IdempotentSends {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #maxKeys: number;

  constructor(options: IdempotencyOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 86_400_000;
    this.#maxKeys = Math.max(1, options.maxKeys ?? 10_000);
  }

  run(projectId: string, key: string, body: unknown, send: () => Promise<SendResult>): Promise<SendResult> {
    const id = `${projectId}\u0000${key}`;
    const fingerprint = fingerprintOf(body);
    const now = Date.now();
    const known = this.#entries.get(id);
    if (known && known.expiresAt > now) {
      if (known.fingerprint !== fingerprint) {
        return Promise.reject(
          new MessagePipeError('CONFLICT', 'This Idempotency-Key was used for a different message'),
        );
      }
      return known.result;
    }
    if (known) this.#entries.delete(id);
    while (this.#entries.size >= this.#maxKeys) this.#entries.delete(this.#entries.keys().next().value!);
    const result = send();
    const entry: Entry = { fingerprint, result, expiresAt: now + this.#ttlMs };
    this.#entries.set(id, entry);
    result.catch((error: unknown) => {
      if (!mayHaveSent(error) && this.#entries.get(id) === entry) this.#entries.delete(id);
    });
    return result;
  }
}

/** The job id of a queued send: the client's key, scoped to its project, so two projects never share a job. */
export function queuedJobId(projectId: string, key: string): string {
  return `m${createHash('sha256').update(`${projectId}\u0000${key}`).digest('base64url')}`;
}

function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url');
}

function mayHaveSent(error: unknown): boolean {
  if (!isMessagePipeError(error)) return false;
  if ((error as { ambiguous?: unknown }).ambiguous === true) return true;
  return (error.attempts ?? []).some((attempt) => attempt.error?.ambiguous === true);
}
