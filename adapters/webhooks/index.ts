/**
 * `messagepipe/webhooks`: each provider's webhook verifier and normaliser, on `node:crypto` alone (no SDK). The
 * built-in adapters carry them already (`adapter.webhook`), so `pipe.webhooks.handle` needs no import from here;
 * import these to verify provider webhooks outside a dispatcher, or to give a custom adapter one.
 */
export { isSnsUrl, type SnsEnvelope, snsStringToSign, verifySnsRequest } from '../_shared/sns-webhook';
export { MAILGUN_EVENT_TYPES, mailgunWebhook } from './mailgun';
export { POSTMARK_BOUNCE_TYPES, postmarkWebhook } from './postmark';
export {
  SENDGRID_EVENT_TYPES,
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  sendgridCorrelationId,
  sendgridWebhook,
} from './sendgrid';
export { SES_EVENT_TYPES, sesWebhook } from './ses';
export { SNS_SMS_EVENT_TYPES, snsWebhook } from './sns';
export { TERMII_STATUS_TYPES, termiiWebhook } from './termii';
export { TWILIO_STATUS_TYPES, twilioSignedText, twilioWebhook } from './twilio';
