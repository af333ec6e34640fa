import type { ProviderLimits } from '../adapter';
import { ProviderError } from '../errors';
import type { OutboundMessage } from '../types';

/**
 * Checks a normalised message against one provider's documented limits. Returns the `PROVIDER_LIMIT_EXCEEDED` error
 * that skips this provider, or undefined when the message fits (or the adapter declares no limits). Pure: it reads
 * sizes only, and the error names the limit and the figures, never the message's content.
 */
export function providerLimitError(
  limits: ProviderLimits | undefined,
  message: OutboundMessage,
  provider: string,
): ProviderError | undefined {
  if (!limits) return undefined;
  const over = (what: string, actual: number, limit: number) =>
    new ProviderError(
      'PROVIDER_LIMIT_EXCEEDED',
      `${provider} takes at most ${limit} ${what} in one message; this one has ${actual}`,
      { provider },
    );
  if (message.channel === 'sms') {
    const { maxBodyCharacters, maxBodyBytes } = limits;
    if (maxBodyCharacters !== undefined && message.body.length > maxBodyCharacters) {
      return over('body characters', message.body.length, maxBodyCharacters);
    }
    if (maxBodyBytes !== undefined) {
      const bytes = Buffer.byteLength(message.body);
      if (bytes > maxBodyBytes) return over('body bytes (UTF-8)', bytes, maxBodyBytes);
    }
    return undefined;
  }
  const { maxRecipients, maxMessageBytes } = limits;
  if (maxRecipients !== undefined) {
    const recipients = message.to.length + message.cc.length + message.bcc.length;
    if (recipients > maxRecipients) return over('recipients (to, cc and bcc)', recipients, maxRecipients);
  }
  if (maxMessageBytes !== undefined) {
    const bytes = emailBytes(message);
    if (bytes > maxMessageBytes)
      return over('bytes (subject, bodies and attachments)', bytes, maxMessageBytes);
  }
  return undefined;
}

function emailBytes(message: Extract<OutboundMessage, { channel: 'email' }>): number {
  let bytes = Buffer.byteLength(message.subject);
  if (message.text !== undefined) bytes += Buffer.byteLength(message.text);
  if (message.html !== undefined) bytes += Buffer.byteLength(message.html);
  for (const attachment of message.attachments) bytes += attachment.content.byteLength;
  return bytes;
}
