import { Dispatcher, type DispatcherOptions } from 'messagepipe';

export const PROJECT = 'project-a';
export const OTHER_PROJECT = 'project-b';

/**
 * A dispatcher with the email sender of {@link PROJECT} set. Retries are off unless asked for, so each provider
 * gets one attempt and failover order is plain to see.
 */
export async function dispatcherWithSender(options: DispatcherOptions): Promise<Dispatcher> {
  const pipe = new Dispatcher({ retry: false, ...options });
  await pipe.senders.set({
    projectId: PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    senderName: 'Acme',
    enabled: true,
  });
  return pipe;
}

/** An email of {@link PROJECT}. */
export const email = {
  projectId: PROJECT,
  channel: 'email',
  to: 'ann@example.test',
  subject: 'Hello',
  text: 'Hi Ann',
} as const;

/** A realistic config for every built-in provider, with secret values that are easy to search for. */
export const sampleConfigs = {
  sendgrid: { apiKey: 'SG.sendgrid-secret-key-0001' },
  mailgun: { apiKey: 'key-mailgun-secret-0002', domain: 'mg.acme.test', region: 'eu' },
  postmark: { serverToken: 'postmark-server-secret-0003', accountToken: 'postmark-account-secret-0004' },
  ses: {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'ses-secret-access-key-0005',
    region: 'eu-west-1',
  },
  smtp: {
    host: 'smtp.acme.test',
    port: 587,
    secure: false,
    auth: { user: 'mailer@acme.test', pass: 'smtp-password-secret-0006' },
    tls: { rejectUnauthorized: true },
  },
  twilio: {
    accountSid: `AC${'a'.repeat(32)}`,
    authToken: 'twilio-auth-token-secret-0007',
    from: '+14155550100',
  },
  termii: { apiKey: 'termii-api-key-secret-0008', senderId: 'Acme' },
  sns: {
    accessKeyId: 'AKIAI44QH8DHBEXAMPLE',
    secretAccessKey: 'sns-secret-access-key-0009',
    region: 'us-east-1',
    smsType: 'Transactional',
  },
} as const;

/** Every secret value in {@link sampleConfigs}. */
export const sampleSecrets = [
  'SG.sendgrid-secret-key-0001',
  'key-mailgun-secret-0002',
  'postmark-server-secret-0003',
  'postmark-account-secret-0004',
  'ses-secret-access-key-0005',
  'smtp-password-secret-0006',
  'twilio-auth-token-secret-0007',
  'termii-api-key-secret-0008',
  'sns-secret-access-key-0009',
];

/** Channel of each built-in provider. */
export const channelOf = {
  sendgrid: 'email',
  mailgun: 'email',
  postmark: 'email',
  ses: 'email',
  smtp: 'email',
  twilio: 'sms',
  termii: 'sms',
  sns: 'sms',
} as const;
