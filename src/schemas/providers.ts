import { z } from 'zod';
import type { BuiltInProviderName, Channel } from '../types';
import {
  alphanumericSenderId,
  credentialTarget,
  e164,
  endpoint,
  headerSafe,
  secret,
  timeoutMs,
} from './fields';

const awsRegion = credentialTarget(z.string())
  .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'Expected an AWS region such as eu-west-1' })
  .meta({ description: 'AWS region, e.g. us-east-1.' });

const awsCredentials = {
  accessKeyId: credentialTarget(z.string().min(16).max(128)).meta({ description: 'AWS access key id.' }),
  secretAccessKey: secret(z.string().min(1)).meta({ description: 'AWS secret access key.' }),
  sessionToken: secret(z.string().min(1))
    .optional()
    .meta({ description: 'Session token, for temporary credentials.' }),
  region: awsRegion,
};

/** SendGrid: `POST /v3/mail/send` with a Bearer API key that has the `mail.send` scope. */
export const sendgridConfigSchema = z.strictObject({
  apiKey: secret(z.string().min(1)).meta({ description: 'API key with the mail.send scope.' }),
  region: credentialTarget(z.enum(['global', 'eu']))
    .optional()
    .meta({ description: 'Data residency; eu sends through the EU subuser endpoint.' }),
  sandbox: z
    .boolean()
    .optional()
    .meta({ description: 'Validate requests without delivering (mail_settings.sandbox_mode).' }),
  endpoint: endpoint.optional(),
  timeoutMs: timeoutMs.optional(),
});

/** Mailgun: `POST /v3/{domain}/messages` with Basic `api:<key>`. */
export const mailgunConfigSchema = z.strictObject({
  apiKey: secret(z.string().min(1)).meta({
    description: 'Private API key (domain sending keys cannot verify).',
  }),
  domain: z
    .string()
    .regex(/^(?=.{1,253}$)([a-z0-9-]+\.)+[a-z]{2,}$/i, {
      message: 'Expected a domain such as mg.example.com',
    })
    .meta({ description: 'Sending domain.' }),
  region: credentialTarget(z.enum(['us', 'eu']))
    .optional()
    .meta({ description: 'eu uses api.eu.mailgun.net.' }),
  testMode: z.boolean().optional().meta({ description: 'Accept without delivering (o:testmode).' }),
  endpoint: endpoint.optional(),
  timeoutMs: timeoutMs.optional(),
});

/** Postmark: `POST /email` with `X-Postmark-Server-Token`. */
export const postmarkConfigSchema = z.strictObject({
  serverToken: secret(z.string().min(1)).meta({ description: 'Server API token.' }),
  accountToken: secret(z.string().min(1))
    .optional()
    .meta({ description: 'Account API token; needed only to list domains.' }),
  messageStream: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Message stream id; defaults to "outbound".' }),
  endpoint: endpoint.optional(),
  timeoutMs: timeoutMs.optional(),
});

/** Amazon SES v2: `SendEmail`, signed with SigV4. */
export const sesConfigSchema = z.strictObject({
  ...awsCredentials,
  configurationSetName: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'Configuration set for event publishing.' }),
  endpoint: endpoint.optional(),
  timeoutMs: timeoutMs.optional(),
});

/** Any SMTP server (Gmail, Outlook, self-hosted), through a pooled nodemailer transport. */
export const smtpConfigSchema = z.strictObject({
  host: credentialTarget(headerSafe(z.string().min(1))).meta({ description: 'SMTP server host name.' }),
  port: credentialTarget(z.number().int().min(1).max(65535)).meta({
    description: 'Usually 587 (STARTTLS) or 465 (TLS).',
  }),
  secure: credentialTarget(z.boolean()).meta({
    description: 'true for implicit TLS (port 465); false upgrades with STARTTLS.',
  }),
  auth: z
    .strictObject({
      user: headerSafe(z.string().min(1)),
      pass: secret(z.string().min(1)),
    })
    .optional(),
  tls: credentialTarget(
    z.strictObject({
      rejectUnauthorized: z
        .boolean()
        .meta({ description: 'Keep true; false accepts any certificate and is warned about.' }),
      servername: z.string().min(1).optional(),
    }),
  ).optional(),
  requireTLS: z.boolean().optional().meta({ description: 'Refuse to send unless STARTTLS succeeds.' }),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .max(50)
    .optional()
    .meta({ description: 'Pool size; defaults to 5.' }),
  timeoutMs: timeoutMs.optional(),
});

/** Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{sid}/Messages.json`. */
export const twilioConfigSchema = z
  .strictObject({
    accountSid: credentialTarget(
      z
        .string()
        .regex(/^AC[0-9a-fA-F]{32}$/, { message: 'Expected an account SID (AC followed by 32 hex digits)' }),
    ),
    authToken: secret(z.string().min(1))
      .optional()
      .meta({ description: 'Auth token of the account; or use apiKeySid with apiKeySecret.' }),
    // API keys authenticate as `apiKeySid:apiKeySecret`, with the account SID in the URL
    // (twilio(apiKeySid, apiKeySecret, { accountSid }); https://www.twilio.com/docs/iam/api-keys).
    apiKeySid: credentialTarget(
      z
        .string()
        .regex(/^SK[0-9a-fA-F]{32}$/, { message: 'Expected an API key SID (SK followed by 32 hex digits)' }),
    )
      .optional()
      .meta({ description: 'API key SID (SK…), used with apiKeySecret instead of authToken.' }),
    apiKeySecret: secret(z.string().min(1)).optional().meta({ description: 'Secret of the API key.' }),
    from: z
      .union([e164, alphanumericSenderId])
      .optional()
      .meta({ description: 'Sending number or sender id.' }),
    messagingServiceSid: z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, {
        message: 'Expected a messaging service SID (MG followed by 32 hex digits)',
      })
      .optional(),
    region: credentialTarget(z.string().min(1))
      .optional()
      .meta({ description: 'Twilio region, e.g. ie1 (needs edge).' }),
    edge: credentialTarget(z.string().min(1))
      .optional()
      .meta({ description: 'Twilio edge location, e.g. dublin.' }),
    endpoint: endpoint.optional(),
    timeoutMs: timeoutMs.optional(),
  })
  .superRefine((config, ctx) => {
    if (!config.from && !config.messagingServiceSid) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'Set from or messagingServiceSid' });
    }
    const apiKey = config.apiKeySid !== undefined || config.apiKeySecret !== undefined;
    if (apiKey && config.authToken !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['authToken'],
        message: 'Set authToken or apiKeySid with apiKeySecret, not both (null removes a stored authToken)',
      });
    } else if (apiKey) {
      for (const field of ['apiKeySid', 'apiKeySecret'] as const) {
        if (config[field] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'An API key needs apiKeySid and apiKeySecret',
          });
        }
      }
    } else if (config.authToken === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['authToken'],
        message: 'Set authToken, or apiKeySid with apiKeySecret',
      });
    }
  });

/** Termii: `POST {endpoint}/api/sms/send`, API key in the JSON body. */
export const termiiConfigSchema = z.strictObject({
  apiKey: secret(z.string().min(1)),
  senderId: z
    .string()
    .regex(/^[A-Za-z0-9 ]{3,11}$/, { message: 'Expected a 3-11 character sender id' })
    .meta({ description: 'Registered sender id.' }),
  channel: z
    .enum(['generic', 'dnd', 'whatsapp'])
    .optional()
    .meta({ description: 'Termii route; dnd reaches numbers on do-not-disturb.' }),
  endpoint: endpoint.optional().meta({
    description: 'Your account base URL from the Termii dashboard; defaults to https://v3.api.termii.com.',
  }),
  timeoutMs: timeoutMs.optional(),
});

/** Amazon SNS SMS: `Publish` with `PhoneNumber`. */
export const snsConfigSchema = z.strictObject({
  ...awsCredentials,
  senderId: alphanumericSenderId.optional(),
  smsType: z
    .enum(['Transactional', 'Promotional'])
    .optional()
    .meta({ description: 'Defaults to Transactional.' }),
  originationNumber: e164.optional(),
  endpoint: endpoint.optional(),
  timeoutMs: timeoutMs.optional(),
});

/** Config shape of each built-in provider. */
export interface BuiltInConfigs {
  sendgrid: z.output<typeof sendgridConfigSchema>;
  mailgun: z.output<typeof mailgunConfigSchema>;
  postmark: z.output<typeof postmarkConfigSchema>;
  ses: z.output<typeof sesConfigSchema>;
  smtp: z.output<typeof smtpConfigSchema>;
  twilio: z.output<typeof twilioConfigSchema>;
  termii: z.output<typeof termiiConfigSchema>;
  sns: z.output<typeof snsConfigSchema>;
}

export type SendgridConfig = BuiltInConfigs['sendgrid'];
export type MailgunConfig = BuiltInConfigs['mailgun'];
export type PostmarkConfig = BuiltInConfigs['postmark'];
export type SesConfig = BuiltInConfigs['ses'];
export type SmtpConfig = BuiltInConfigs['smtp'];
export type TwilioConfig = BuiltInConfigs['twilio'];
export type TermiiConfig = BuiltInConfigs['termii'];
export type SnsConfig = BuiltInConfigs['sns'];

/** Channel and config schema of every built-in provider. */
export const builtInProviders = {
  sendgrid: { channel: 'email', configSchema: sendgridConfigSchema },
  mailgun: { channel: 'email', configSchema: mailgunConfigSchema },
  postmark: { channel: 'email', configSchema: postmarkConfigSchema },
  ses: { channel: 'email', configSchema: sesConfigSchema },
  smtp: { channel: 'email', configSchema: smtpConfigSchema },
  twilio: { channel: 'sms', configSchema: twilioConfigSchema },
  termii: { channel: 'sms', configSchema: termiiConfigSchema },
  sns: { channel: 'sms', configSchema: snsConfigSchema },
} as const satisfies Record<BuiltInProviderName, { channel: Channel; configSchema: z.ZodType }>;

/** True when `name` is one of the eight built-in providers. */
export function isBuiltInProvider(name: string): name is BuiltInProviderName {
  return Object.hasOwn(builtInProviders, name);
}
