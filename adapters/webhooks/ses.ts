/**
 * Amazon SES events through an SNS topic: a configuration set's event destination (`eventType`) or an identity's
 * feedback notifications (`notificationType`). The SNS envelope is verified in full (../_shared/sns-webhook.ts);
 * its `Message` is the SES event.
 * https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
 * https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
 */
import type { AdapterWebhook, DeliveryEventType, ProviderDeliveryEvent, SesConfig } from 'messagepipe';
import { notificationBody, verifySnsRequest } from '../_shared/sns-webhook';
import { isRecord, text } from '../_shared/webhook';

/** SES `eventType` / `notificationType` → our type. */
export const SES_EVENT_TYPES: Record<string, DeliveryEventType> = {
  Send: 'accepted',
  Delivery: 'delivered',
  Bounce: 'bounced',
  Complaint: 'complained',
  Reject: 'dropped',
  DeliveryDelay: 'deferred',
  Open: 'opened',
  Click: 'clicked',
  'Rendering Failure': 'failed',
  Subscription: 'unsubscribed',
};

function addresses(list: unknown, field?: string): string[] {
  if (!Array.isArray(list)) return [];
  return list
    .map((entry) => (field ? (isRecord(entry) ? text(entry[field]) : undefined) : text(entry)))
    .filter((value): value is string => Boolean(value));
}

function section(event: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = event[name];
  return isRecord(value) ? value : {};
}

export const sesWebhook: AdapterWebhook<SesConfig> = {
  verify: (request, ctx) => verifySnsRequest(request, ctx),

  normalise(payload) {
    const event = notificationBody(payload);
    if (!event) return [];
    const status = text(event.eventType) ?? text(event.notificationType) ?? '';
    const mail = section(event, 'mail');
    const messageId = text(mail.messageId) ?? '';
    const destination = addresses(mail.destination);
    let type: DeliveryEventType = SES_EVENT_TYPES[status] ?? 'unknown';
    let recipients = destination;
    let at = text(mail.timestamp);
    let reason: string | undefined;
    let bounceClass: 'hard' | 'soft' | undefined;
    switch (status) {
      case 'Bounce': {
        const bounce = section(event, 'bounce');
        recipients = addresses(bounce.bouncedRecipients, 'emailAddress');
        at = text(bounce.timestamp) ?? at;
        const bounceType = text(bounce.bounceType);
        // Permanent: never deliverable; Transient: try later; Undetermined: SES could not tell (not suppressed).
        bounceClass = bounceType === 'Permanent' ? 'hard' : bounceType === 'Transient' ? 'soft' : undefined;
        reason = [bounceType, text(bounce.bounceSubType)].filter(Boolean).join('/');
        const diagnostic =
          Array.isArray(bounce.bouncedRecipients) && isRecord(bounce.bouncedRecipients[0])
            ? text(bounce.bouncedRecipients[0].diagnosticCode)
            : undefined;
        if (diagnostic) reason = `${reason}: ${diagnostic}`;
        break;
      }
      case 'Complaint': {
        const complaint = section(event, 'complaint');
        recipients = addresses(complaint.complainedRecipients, 'emailAddress');
        at = text(complaint.timestamp) ?? at;
        reason = text(complaint.complaintFeedbackType);
        break;
      }
      case 'Delivery': {
        const delivery = section(event, 'delivery');
        recipients = addresses(delivery.recipients);
        at = text(delivery.timestamp) ?? at;
        break;
      }
      case 'DeliveryDelay': {
        const delay = section(event, 'deliveryDelay');
        recipients = addresses(delay.delayedRecipients, 'emailAddress');
        at = text(delay.timestamp) ?? at;
        reason = text(delay.delayType);
        bounceClass = 'soft';
        break;
      }
      case 'Reject':
        reason = text(section(event, 'reject').reason);
        break;
      case 'Open':
        at = text(section(event, 'open').timestamp) ?? at;
        break;
      case 'Click':
        at = text(section(event, 'click').timestamp) ?? at;
        break;
      case 'Rendering Failure':
        reason = text(section(event, 'failure').errorMessage);
        break;
      case 'Subscription': {
        const subscription = section(event, 'subscription');
        at = text(subscription.timestamp) ?? at;
        const preferences = section(subscription, 'newTopicPreferences');
        if (preferences.unsubscribeAll !== true) type = 'unknown';
        break;
      }
    }
    if (recipients.length === 0) recipients = destination.length > 0 ? destination : [''];
    return recipients.map((recipient) => {
      const item: ProviderDeliveryEvent = { type, status, messageId, recipient, raw: event };
      if (at) item.at = at;
      if (reason) item.reason = reason;
      if (bounceClass) item.bounceClass = bounceClass;
      return item;
    });
  },
};
