/**
 * SendGrid Event Webhook: a JSON array of events per POST, signed with ECDSA P-256 / SHA-256 over
 * `timestamp + rawBody` (headers `X-Twilio-Email-Event-Webhook-Signature`, base64 DER, and
 * `-Timestamp`); the verification key is base64 SPKI DER from the Signed Event Webhook settings.
 * https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
 * Events and fields: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
 */
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type {
  AdapterWebhook,
  DeliveryEventType,
  ProviderDeliveryEvent,
  SendgridConfig,
  WebhookContext,
} from 'messagepipe';
import { isRecord, parseJson, secondsToMs, text, unauthorized, unreadable } from '../_shared/webhook';

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/** SendGrid event → our type. `bounce` is split by its `type` below (bounce: hard, blocked: soft). */
export const SENDGRID_EVENT_TYPES: Record<string, DeliveryEventType> = {
  processed: 'accepted',
  deferred: 'deferred',
  delivered: 'delivered',
  bounce: 'bounced',
  blocked: 'bounced',
  dropped: 'dropped',
  spamreport: 'complained',
  unsubscribe: 'unsubscribed',
  group_unsubscribe: 'unsubscribed',
  open: 'opened',
  click: 'clicked',
};

function publicKey(base64: string, ctx: WebhookContext<SendgridConfig>): KeyObject {
  const cacheKey = `sendgrid:key:${createHash('sha256').update(base64).digest('hex')}`;
  const cached = ctx.cache.get<KeyObject>(cacheKey);
  if (cached) return cached;
  const key = createPublicKey({ key: Buffer.from(base64.trim(), 'base64'), format: 'der', type: 'spki' });
  ctx.cache.set(cacheKey, key, 24 * 60 * 60 * 1000);
  return key;
}

/**
 * `sg_message_id` is the send's `X-Message-Id` followed by `.filter…` (or `.recvd…`); SendGrid documents the
 * match as a prefix. Old ids hold dots of their own, so the cut is at the filter part, not at the first dot.
 */
export function sendgridCorrelationId(sgMessageId: string): string {
  const cut = sgMessageId.search(/\.(filter|recvd)/);
  return cut > 0 ? sgMessageId.slice(0, cut) : sgMessageId;
}

export const sendgridWebhook: AdapterWebhook<SendgridConfig> = {
  async verify(request, ctx) {
    const key = ctx.config.webhookPublicKey;
    if (!key) return unauthorized('No webhookPublicKey in the provider config');
    const signature = request.headers.get(SENDGRID_SIGNATURE_HEADER);
    const timestamp = request.headers.get(SENDGRID_TIMESTAMP_HEADER);
    if (!signature || !timestamp) return unauthorized('Signature headers missing');
    let keyObject: KeyObject;
    try {
      keyObject = publicKey(key, ctx);
    } catch {
      return unauthorized('webhookPublicKey is not a base64 SPKI public key');
    }
    // The raw bytes, never a re-serialised body: JSON.stringify(JSON.parse(body)) changes what was signed.
    const signed = Buffer.concat([Buffer.from(timestamp, 'utf8'), request.rawBody]);
    const valid = verify('sha256', signed, keyObject, Buffer.from(signature, 'base64'));
    if (!valid) return unauthorized('Signature does not match');
    // No freshness window: SendGrid retries for 24 hours and documents none; replays are duplicates, dropped
    // by the content key.
    const payload = parseJson(request.rawBody);
    if (!Array.isArray(payload)) return unreadable('Expected a JSON array of events');
    return { ok: true, payload };
  },

  normalise(payload) {
    const events: ProviderDeliveryEvent[] = [];
    for (const item of payload as unknown[]) {
      if (!isRecord(item)) continue;
      const status = text(item.event) ?? '';
      let type = SENDGRID_EVENT_TYPES[status] ?? 'unknown';
      const bounceType = text(item.type);
      const event: ProviderDeliveryEvent = {
        type,
        status,
        messageId: sendgridCorrelationId(text(item.sg_message_id) ?? ''),
        recipient: text(item.email) ?? '',
        raw: item,
      };
      const at = secondsToMs(item.timestamp);
      if (at !== undefined) event.at = at;
      const reason = text(item.reason) ?? text(item.response);
      if (reason) event.reason = reason;
      const eventId = text(item.sg_event_id);
      if (eventId) event.providerEventId = eventId;
      if (type === 'bounced') {
        // `type: blocked` is a temporary refusal by the receiving server; `bounce` a permanent one.
        event.bounceClass = status === 'blocked' || bounceType === 'blocked' ? 'soft' : 'hard';
      } else if (type === 'deferred') {
        event.bounceClass = 'soft';
      }
      if (status === 'group_resubscribe') type = 'unknown';
      event.type = type;
      events.push(event);
    }
    return events;
  },
};
