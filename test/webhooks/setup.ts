import { Dispatcher, type DispatcherOptions } from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { postmark } from 'messagepipe/adapters/postmark';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { ses } from 'messagepipe/adapters/ses';
import { smtp } from 'messagepipe/adapters/smtp';
import { sns } from 'messagepipe/adapters/sns';
import { termii } from 'messagepipe/adapters/termii';
import { twilio } from 'messagepipe/adapters/twilio';
import { sampleConfigs } from '../helpers';

export const PROJECT = 'project-a';
export const SES_TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ses-events';
export const SMS_TOPIC = 'arn:aws:sns:us-east-1:123456789012:sms-events';
export const CERT_URL =
  'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem';

/** Secrets the webhook configs carry. */
export const webhookSecrets = {
  mailgun: 'mailgun-webhook-signing-key-0101',
  postmarkUser: 'postmark-hooks',
  postmarkPassword: 'postmark-webhook-password-0102',
  termii: 'termii-webhook-secret-0103',
};

/** Every built-in adapter. */
export function allAdapters() {
  return [sendgrid(), mailgun(), postmark(), ses(), smtp(), twilio(), termii(), sns()];
}

/** A dispatcher with one provider config per provider, each with its webhook secret. */
export async function webhookDispatcher(
  options: Partial<DispatcherOptions> & { sendgridPublicKey: string; postmarkIps?: string[] },
) {
  const { sendgridPublicKey, postmarkIps, ...rest } = options;
  const pipe = new Dispatcher({ adapters: allAdapters(), retry: false, ...rest });
  const add = async (provider: string, channel: 'email' | 'sms', config: Record<string, unknown>) =>
    (
      await pipe.providers.add(
        { projectId: PROJECT, channel, provider, name: provider, config },
        { verify: false },
      )
    ).id;
  const ids = {
    sendgrid: await add('sendgrid', 'email', {
      ...sampleConfigs.sendgrid,
      webhookPublicKey: sendgridPublicKey,
    }),
    mailgun: await add('mailgun', 'email', {
      ...sampleConfigs.mailgun,
      webhookSigningKey: webhookSecrets.mailgun,
    }),
    postmark: await add('postmark', 'email', {
      ...sampleConfigs.postmark,
      webhookUser: webhookSecrets.postmarkUser,
      webhookPassword: webhookSecrets.postmarkPassword,
      ...(postmarkIps ? { webhookAllowedIps: postmarkIps } : {}),
    }),
    ses: await add('ses', 'email', { ...sampleConfigs.ses, webhookTopicArns: [SES_TOPIC] }),
    smtp: await add('smtp', 'email', sampleConfigs.smtp),
    twilio: await add('twilio', 'sms', sampleConfigs.twilio),
    termii: await add('termii', 'sms', { ...sampleConfigs.termii, webhookSecret: webhookSecrets.termii }),
    sns: await add('sns', 'sms', { ...sampleConfigs.sns, webhookTopicArns: [SMS_TOPIC] }),
  };
  return { pipe, ids };
}
