/**
 * Termii delivery reports: one JSON object per POST, `{ type, id, message_id, receiver, sender, message, sent_at,
 * cost, status, channel }`, signed in `X-Termii-Signature`: "a HMAC SHA512 signature of the event payload signed with
 * your secret key" (https://developer.termii.com/events-and-reports, which also lists the statuses). The encoding is
 * not stated there; hex over the raw body is what the community SDKs that verify it compute (termii-node's
 * EventService, Mane-Olawale/termii's Webhook.php). The secret key is its own config field, `webhookSecret`.
 */
import type { AdapterWebhook, DeliveryEventType, ProviderDeliveryEvent, TermiiConfig } from 'messagepipe';
import { hmac, isRecord, parseJson, safeEqual, text, unauthorized, unreadable } from '../_shared/webhook';

/**
 * Termii `status` → our type, keyed in lower case. The docs give both `Delivered` and `DELIVERED | Message delivered
 * to handset`, so a status is looked up by what comes before ` | `, in any case ({@link termiiStatusKey}).
 */
export const TERMII_STATUS_TYPES: Record<string, { type: DeliveryEventType; bounceClass?: 'hard' | 'soft' }> =
  {
    delivered: { type: 'delivered' },
    'message sent': { type: 'sent' },
    sent: { type: 'sent' },
    pending: { type: 'sent' },
    'message failed': { type: 'failed' },
    failed: { type: 'failed' },
    rejected: { type: 'failed' },
    expired: { type: 'undelivered', bounceClass: 'soft' },
    // The number is on the do-not-disturb register: the generic route cannot reach it, the dnd route can.
    'dnd active on phone number': { type: 'undelivered', bounceClass: 'soft' },
  };

/** The key of a status in {@link TERMII_STATUS_TYPES}: its code before any ` | description`, in lower case. */
function termiiStatusKey(status: string): string {
  const bar = status.indexOf('|');
  return (bar === -1 ? status : status.slice(0, bar)).trim().toLowerCase();
}

/** Termii's `sent_at` is `YYYY-MM-DD HH:MM:SS` without a zone; read as UTC. */
function termiiTime(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$/.test(value) ? `${value.replace(' ', 'T')}Z` : value;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export const termiiWebhook: AdapterWebhook<TermiiConfig> = {
  async verify(request, ctx) {
    const secret = ctx.config.webhookSecret;
    if (!secret) return unauthorized('No webhookSecret in the provider config');
    const signature = request.headers.get('x-termii-signature');
    if (!signature) return unauthorized('X-Termii-Signature missing');
    if (!safeEqual(hmac('sha512', secret, request.rawBody, 'hex'), signature.trim().toLowerCase())) {
      return unauthorized('Signature does not match');
    }
    // `message_id` can be a JSON number longer than a double holds: keep its digits as text.
    const digitsKept = request.rawBody.toString('utf8').replace(/("message_id"\s*:\s*)(\d{16,})/g, '$1"$2"');
    const payload = parseJson(Buffer.from(digitsKept, 'utf8'));
    if (!isRecord(payload)) return unreadable('Expected a JSON object');
    return { ok: true, payload };
  },

  normalise(payload) {
    const report = payload as Record<string, unknown>;
    const status = text(report.status) ?? '';
    const mapped = TERMII_STATUS_TYPES[termiiStatusKey(status)] ?? { type: 'unknown' as const };
    const event: ProviderDeliveryEvent = {
      type: mapped.type,
      status,
      messageId: text(report.message_id) ?? '',
      recipient: text(report.receiver) ?? '',
      raw: report,
    };
    if (mapped.bounceClass) event.bounceClass = mapped.bounceClass;
    if (mapped.type !== 'delivered' && mapped.type !== 'sent' && status) event.reason = status;
    const at = termiiTime(text(report.sent_at));
    if (at) event.at = at;
    const id = text(report.id);
    if (id) event.providerEventId = id;
    return [event];
  },
};
