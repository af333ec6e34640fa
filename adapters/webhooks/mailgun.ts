/**
 * Mailgun webhooks: one event per POST, `{ signature: { timestamp, token, signature }, "event-data": {…} }`. The
 * signature is hex HMAC-SHA256 of `timestamp + token` with the HTTP webhook signing key; Mailgun asks receivers
 * to refuse reused tokens and old timestamps.
 * https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
 * Event structure: https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-structure
 */
import type { AdapterWebhook, DeliveryEventType, MailgunConfig, ProviderDeliveryEvent } from 'messagepipe';
import {
  hmac,
  isRecord,
  parseJson,
  safeEqual,
  secondsToMs,
  text,
  unauthorized,
  unreadable,
} from '../_shared/webhook';

/** Mailgun `event` → our type; `failed` is split by `severity` below. */
export const MAILGUN_EVENT_TYPES: Record<string, DeliveryEventType> = {
  accepted: 'accepted',
  rejected: 'dropped',
  delivered: 'delivered',
  failed: 'bounced',
  opened: 'opened',
  clicked: 'clicked',
  unsubscribed: 'unsubscribed',
  complained: 'complained',
};

export const mailgunWebhook: AdapterWebhook<MailgunConfig> = {
  async verify(request, ctx) {
    const key = ctx.config.webhookSigningKey;
    if (!key) return unauthorized('No webhookSigningKey in the provider config');
    // Mailgun puts the signature inside the JSON body: reading it is part of verifying; nothing else is read
    // before the signature checks out.
    const body = parseJson(request.rawBody);
    if (!isRecord(body)) return unreadable('Expected a JSON object');
    const signature = body.signature;
    if (!isRecord(signature)) return unauthorized('No signature object');
    const timestamp = text(signature.timestamp);
    const token = text(signature.token);
    const given = text(signature.signature);
    if (!timestamp || !token || !given) return unauthorized('Incomplete signature');
    if (!safeEqual(hmac('sha256', key, timestamp + token, 'hex'), given.toLowerCase())) {
      return unauthorized('Signature does not match');
    }
    const signedAt = secondsToMs(timestamp);
    if (signedAt === undefined || Math.abs(ctx.now() - signedAt) > ctx.toleranceMs) {
      return unauthorized('Timestamp outside the allowed window');
    }
    // Remembered only once the signature is valid, so forged requests cannot fill the cache.
    const fresh = await ctx.replay.remember(`mailgun:${ctx.providerConfigId}:${token}`, ctx.toleranceMs * 2);
    if (!fresh) return unauthorized('Token already used (replay)');
    const eventData = body['event-data'];
    if (!isRecord(eventData)) return unreadable('No event-data');
    return { ok: true, payload: eventData };
  },

  normalise(payload) {
    const data = payload as Record<string, unknown>;
    const status = text(data.event) ?? '';
    let type: DeliveryEventType = MAILGUN_EVENT_TYPES[status] ?? 'unknown';
    const severity = text(data.severity);
    const reasonCode = text(data.reason);
    const deliveryStatus = isRecord(data['delivery-status']) ? data['delivery-status'] : {};
    const message = isRecord(data.message) ? data.message : {};
    const headers = isRecord(message.headers) ? message.headers : {};
    const event: ProviderDeliveryEvent = {
      type,
      status: severity ? `${status}:${severity}` : status,
      messageId: (text(headers['message-id']) ?? '').replace(/^<(.*)>$/, '$1'),
      recipient: text(data.recipient) ?? '',
      raw: data,
    };
    if (status === 'failed') {
      if (reasonCode?.startsWith('suppress-')) {
        // Mailgun did not try: the address is on its own bounce/unsubscribe/complaint list.
        type = 'dropped';
      } else if (severity === 'temporary') {
        type = 'deferred';
        event.bounceClass = 'soft';
      } else {
        event.bounceClass = 'hard';
      }
    }
    event.type = type;
    const at = secondsToMs(data.timestamp);
    if (at !== undefined) event.at = at;
    const reason = text(deliveryStatus.description) || text(deliveryStatus.message) || reasonCode;
    if (reason) event.reason = reason;
    const id = text(data.id);
    if (id) event.providerEventId = id;
    return [event];
  },
};
