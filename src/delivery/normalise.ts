import { createHash } from 'node:crypto';
import type { Channel } from '../types';

/**
 * The form recipients are compared in. Email: trimmed, `<>` removed, lower case. RFC 5321 lets a local part be
 * case-sensitive, but mailbox providers treat it as case-insensitive and providers report addresses in whatever
 * case they like (SendGrid and SES lower-case them), so comparing case-sensitively would let a bounced address
 * through on a change of case. SMS: E.164 — separators removed, `00` read as `+`, a bare digit string given its `+`
 * (Termii reports `2348012345678`).
 */
export function normaliseRecipient(channel: Channel, value: string): string {
  const trimmed = value.trim();
  if (channel === 'email') return unbracket(trimmed).toLowerCase();
  const compact = trimmed.replace(/[\s\-().]/g, '');
  if (compact.startsWith('+')) return compact;
  if (compact.startsWith('00')) return `+${compact.slice(2)}`;
  return /^\d+$/.test(compact) ? `+${compact}` : compact;
}

/** A provider message id as events name it: Mailgun's send answer wraps it in `<>`, its events do not. */
export function correlationIdOf(messageId: string): string {
  return unbracket(messageId.trim());
}

const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;

/**
 * `value.replace(/^<(.*)>$/, '$1')` without the regular expression, which every send paid for twice (its
 * recipient and its message id) although almost no value is bracketed.
 */
function unbracket(value: string): string {
  const last = value.length - 1;
  if (last < 1 || value.charCodeAt(0) !== 0x3c || value.charCodeAt(last) !== 0x3e) return value;
  const inner = value.slice(1, last);
  // `.` stops at line terminators: a bracketed value that holds one is left as it is, as the expression did.
  return LINE_TERMINATOR.test(inner) ? value : inner;
}

/**
 * The content key of an event (project, provider, message id, type, provider status, recipient, provider time):
 * providers resend events (SendGrid ~3 times on average, with a new `sg_event_id`
 * each time — sendgrid/sendgrid-nodejs#1435), so duplicates are recognised by what they say, not by their ids.
 */
export function deliveryEventId(parts: {
  projectId: string;
  provider: string;
  messageId: string;
  type: string;
  /** The provider's own status too: two statuses that map to one type (TEXT_BLOCKED, TEXT_SPAM) stay apart. */
  status: string;
  recipient: string;
  providerTime: string;
}): string {
  return createHash('sha256')
    .update(
      [
        parts.projectId,
        parts.provider,
        parts.messageId,
        parts.type,
        parts.status,
        parts.recipient,
        parts.providerTime,
      ].join('\u0000'),
    )
    .digest('base64url')
    .slice(0, 32);
}

/** ISO text of a provider timestamp (epoch ms, or text `Date` can read), or `undefined`. */
export function toIsoTime(value: string | number | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
