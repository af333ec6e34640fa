/**
 * What an adapter returns when a provider definitely accepted a message (a 2xx answer it could read) but gave no
 * message id. Reporting that as a failure would make the dispatcher fail over and deliver the message twice, so it
 * counts as sent, under a placeholder id, with a warning.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'messagepipe';

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
