/**
 * SMS delivery events: an AWS End User Messaging SMS configuration set whose event destination is an SNS topic.
 * The SNS envelope is verified in full (../_shared/sns-webhook.ts); its `Message` is the event. AWS emits these
 * records only for messages sent with a configuration set, which SNS `Publish` does not take
 * (https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets.html,
 * https://docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html), and does not say that their `messageId` is
 * Publish's `MessageId`: the README says what that means for correlation. SNS's own delivery status goes to
 * CloudWatch Logs only.
 * https://docs.aws.amazon.com/sms-voice/latest/userguide/configuration-sets-event-types.html
 * https://docs.aws.amazon.com/end-user-messaging/latest/userguide/nx-features-messaging-events.html
 */
import type { AdapterWebhook, DeliveryEventType, ProviderDeliveryEvent, SnsConfig } from 'messagepipe';
import { notificationBody, verifySnsRequest } from '../_shared/sns-webhook';
import { text } from '../_shared/webhook';

/** End User Messaging `eventType` → our type and class. */
export const SNS_SMS_EVENT_TYPES: Record<string, { type: DeliveryEventType; bounceClass?: 'hard' | 'soft' }> =
  {
    TEXT_DELIVERED: { type: 'delivered' },
    // "Depending on the destination country TEXT_DELIVERED and TEXT_SUCCESSFUL may be used interchangeably."
    TEXT_SUCCESSFUL: { type: 'delivered' },
    TEXT_QUEUED: { type: 'accepted' },
    TEXT_PENDING: { type: 'sent' },
    TEXT_BLOCKED: { type: 'undelivered', bounceClass: 'soft' },
    TEXT_TTL_EXPIRED: { type: 'undelivered', bounceClass: 'soft' },
    TEXT_CARRIER_UNREACHABLE: { type: 'undelivered', bounceClass: 'soft' },
    TEXT_UNREACHABLE: { type: 'undelivered', bounceClass: 'soft' },
    TEXT_CARRIER_BLOCKED: { type: 'undelivered', bounceClass: 'soft' },
    TEXT_SPAM: { type: 'undelivered', bounceClass: 'soft' },
    TEXT_PROTECT_BLOCKED: { type: 'undelivered', bounceClass: 'soft' },
    TEXT_INVALID: { type: 'failed', bounceClass: 'hard' },
    TEXT_INVALID_MESSAGE: { type: 'failed' },
    TEXT_UNKNOWN: { type: 'unknown' },
  };

export const snsWebhook: AdapterWebhook<SnsConfig> = {
  verify: (request, ctx) => verifySnsRequest(request, ctx),

  normalise(payload) {
    const event = notificationBody(payload);
    if (!event) return [];
    const status = text(event.eventType) ?? '';
    const mapped = SNS_SMS_EVENT_TYPES[status] ?? { type: 'unknown' as const };
    const item: ProviderDeliveryEvent = {
      type: mapped.type,
      status,
      messageId: text(event.messageId) ?? '',
      recipient: text(event.destinationPhoneNumber) ?? '',
      raw: event,
    };
    if (mapped.bounceClass) item.bounceClass = mapped.bounceClass;
    const timestamp = event.eventTimestamp;
    if (typeof timestamp === 'number') item.at = timestamp;
    const reason = text(event.messageStatusDescription);
    if (reason && mapped.type !== 'delivered') item.reason = reason;
    return [item];
  },
};
