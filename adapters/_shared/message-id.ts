/**
 * What an adapter returns when a provider definitely accepted a message (a 2xx answer it could read) but gave no
 * message id. Reporting that as a failure would make the dispatcher fail over and deliver the message twice, so it
 * counts as sent, under a placeholder id, with a warning.
 */
import { randomUUID } from 'node:crypto';
import { type Logger, ProviderError } from 'messagepipe';

/** Prefix of every placeholder id, so stored records show that the provider gave none. */
export const PLACEHOLDER_ID_PREFIX = 'unknown-';

/** A unique id for a message the provider accepted without naming it: `unknown-<uuid>`. */
export function placeholderMessageId(): string {
  return `${PLACEHOLDER_ID_PREFIX}${randomUUID()}`;
}

/**
 * Logs that `providerLabel` accepted a message without an id and returns a placeholder id for it. The log line
 * holds the provider's name and the placeholder only: nothing from the request or the answer.
 */
export function acceptedWithoutId(logger: Logger, providerLabel: string, provider: string): string {
  const messageId = placeholderMessageId();
  logger.warn(`${providerLabel} accepted a message without returning a message id; recorded as sent`, {
    provider,
    messageId,
  });
  return messageId;
}

/** What an adapter read from a 2xx answer to a send. */
export interface SuccessAnswer {
  /** Provider name, for the error. */
  provider: string;
  /** How the provider is named in messages (`Amazon SES`). */
  label: string;
  /** The 2xx status, when known. */
  status?: number | undefined;
  /** The message id the answer carried, if any. */
  messageId?: string | undefined;
  /**
   * True when the answer is the provider's documented success answer (its JSON or XML shape, or for SendGrid
   * the `X-Message-Id` header), only without an id. An empty body, an HTML page or text that is not the
   * provider's shape is not: a proxy or a broken answer cannot prove the message was accepted.
   */
  documented: boolean;
}

/**
 * The one rule for a 2xx answer to a send, shared by every adapter: an id is a receipt; the documented success
 * answer without an id is a definite acceptance, recorded under a placeholder id with a warning (failing over
 * would deliver twice); anything else (empty, unreadable, not the provider's shape) is an ambiguous
 * `PROVIDER_UNAVAILABLE`: the message may have been accepted, so `onAmbiguousTimeout` decides what happens next.
 */
export function receiptFromSuccess(logger: Logger, answer: SuccessAnswer): { messageId: string } {
  if (answer.messageId) return { messageId: answer.messageId };
  if (answer.documented) return { messageId: acceptedWithoutId(logger, answer.label, answer.provider) };
  const status = answer.status ?? 200;
  throw new ProviderError(
    'PROVIDER_UNAVAILABLE',
    `${answer.label} answered ${status} without its documented success answer; the message may have been accepted`,
    { provider: answer.provider, status, ambiguous: true },
  );
}
