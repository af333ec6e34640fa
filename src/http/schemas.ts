/**
 * The request and response schemas of the HTTP API. Request bodies are the core's own schemas (the rules live
 * there, once), minus what the URL carries (`projectId`, `channel`); response schemas describe what the core
 * returns, for the OpenAPI document.
 */
import { z } from '@hono/zod-openapi';
import {
  addProviderInputSchema,
  emailMessageSchema,
  emailSenderSchema,
  providerPatchSchema,
  smsMessageSchema,
  smsSenderSchema,
} from 'messagepipe';

const PATH = { projectId: true, channel: true } as const;

/** The same fields, each optional and without its default, for updates that keep what they leave out. */
function optionalFields<T extends z.ZodRawShape>(shape: T) {
  return z.strictObject(
    Object.fromEntries(
      Object.entries(shape).map(([name, field]) => [
        name,
        (field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : (field as z.ZodType)).optional(),
      ]),
    ),
  );
}

export const emailSenderBody = emailSenderSchema.omit(PATH).openapi('EmailSenderInput');
export const smsSenderBody = smsSenderSchema.omit(PATH).openapi('SmsSenderInput');
export const emailSenderPatch = optionalFields(emailSenderSchema.omit(PATH).shape).openapi(
  'EmailSenderPatch',
);
export const smsSenderPatch = optionalFields(smsSenderSchema.omit(PATH).shape).openapi('SmsSenderPatch');

export const providerBody = addProviderInputSchema.omit(PATH).openapi('ProviderInput');
export const providerPatchBody = providerPatchSchema.extend({}).openapi('ProviderPatch');

/** Over JSON an attachment's content is a string: UTF-8 text, or base64 with `encoding: 'base64'`. */
const jsonAttachment = emailMessageSchema.shape.attachments
  .unwrap()
  .element.extend({ content: z.string().meta({ description: 'Text, or base64 with encoding: "base64"' }) });
const jsonEmail = emailMessageSchema.safeExtend({
  attachments: z.array(jsonAttachment).max(100).optional(),
});

export const emailMessageBody = jsonEmail.safeExtend({ channel: z.literal('email') }).openapi('EmailMessage');
export const smsMessageBody = smsMessageSchema.extend({ channel: z.literal('sms') }).openapi('SmsMessage');
export const messageBody = z
  .discriminatedUnion('channel', [emailMessageBody, smsMessageBody])
  .openapi('Message');
/** The message of a test send: the provider's channel is implied. */
export const emailTestBody = jsonEmail.safeExtend({ channel: z.literal('email').optional() });
export const smsTestBody = smsMessageSchema.extend({ channel: z.literal('sms').optional() });

export const projectQuery = z.object({
  projectId: z.string().optional().openapi({
    description: 'The project; may be left out when the token grants exactly one',
    example: 'acme',
  }),
});
export const writeQuery = projectQuery.extend({
  verify: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ description: 'false stores the config without checking the credentials with the provider' }),
});
export const sendQuery = projectQuery.extend({
  ignoreSuppression: z.enum(['true', 'false']).optional().openapi({
    description:
      'true sends to suppressed recipients anyway (a password reset to an address that once bounced); the override is recorded and listed in suppressionIgnored',
  }),
});
export const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: 'id', in: 'path' } }),
});
export const providerParam = z.object({
  provider: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: 'provider', in: 'path' } }),
});
export const ifMatchHeader = z.object({
  'if-match': z.string().optional().openapi({
    description: 'The version the record must still have (optimistic concurrency)',
    example: '"3"',
  }),
});
export const idempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .openapi({ description: 'Sends with the same key (per project) are sent once', example: 'welcome-42' }),
});

// --- responses ---

const issue = z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() });
const attemptError = z.object({
  code: z.string(),
  failureClass: z.enum(['transient', 'provider', 'message']),
  message: z.string(),
  status: z.number().optional(),
  providerCode: z.union([z.string(), z.number()]).optional(),
  retryAfterMs: z.number().optional(),
  ambiguous: z.boolean().optional(),
});
export const attemptSchema = z
  .object({
    providerConfigId: z.string(),
    provider: z.string(),
    outcome: z.enum(['sent', 'failed', 'skipped']),
    error: attemptError.optional(),
    messageId: z.string().optional(),
    durationMs: z.number(),
  })
  .openapi('Attempt');

export const errorSchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      issues: z.array(issue).optional(),
      attempts: z.array(attemptSchema).optional(),
    }),
  })
  .openapi('Error');

export const senderSchema = z
  .object({
    projectId: z.string(),
    channel: z.enum(['email', 'sms']),
    senderEmail: z.string().optional(),
    senderName: z.string().optional(),
    senderId: z.string().optional(),
    from: z.string().optional(),
    enabled: z.boolean(),
    updatedAt: z.string(),
  })
  .openapi('SenderConfig');

export const providerRecordSchema = z
  .object({
    id: z.string(),
    projectId: z.string(),
    channel: z.enum(['email', 'sms']),
    provider: z.string(),
    name: z.string(),
    enabled: z.boolean(),
    priority: z.number(),
    weight: z.number().optional(),
    credentials: z.object({
      status: z.enum(['unchecked', 'valid', 'invalid']),
      checkedAt: z.string().optional(),
      reason: z.string().optional(),
    }),
    secretFields: z.array(z.string()).openapi({ description: 'Which secrets are set; never their values' }),
    config: z.record(z.string(), z.unknown()).openapi({ description: 'The non-secret config fields' }),
    version: z.number(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('ProviderRecord');

export const providerListSchema = z.object({ data: z.array(providerRecordSchema) }).openapi('ProviderList');
export const deletedSchema = z.object({ id: z.string(), deleted: z.literal(true) });
export const jsonSchemaMap = z
  .record(z.string(), z.record(z.string(), z.unknown()))
  .openapi('ProviderSchemas');
export const jsonSchemaSchema = z.record(z.string(), z.unknown()).openapi('JsonSchema');

export const validationResultSchema = z
  .object({
    valid: z.boolean(),
    provider: z.string(),
    providerConfigId: z.string(),
    checkedAt: z.string(),
    reason: z.string().optional(),
  })
  .openapi('ValidationResult');

export const domainsSchema = z
  .object({
    data: z.array(
      z.object({ domain: z.string(), verified: z.boolean(), details: z.record(z.string(), z.unknown()) }),
    ),
  })
  .openapi('DomainList');

/** What the suppression list did to a sent message: on a `SendResult` and on a sent job alike. */
const suppressionFields = {
  suppressed: z
    .array(z.string())
    .optional()
    .openapi({ description: 'Suppressed recipients left out of the message (normalised)' }),
  suppressionIgnored: z
    .array(z.string())
    .optional()
    .openapi({ description: 'Suppressed recipients sent to anyway, under ignoreSuppression=true' }),
};

export const sendResultSchema = z
  .object({
    provider: z.string(),
    providerConfigId: z.string(),
    messageId: z.string(),
    idempotencyKey: z.string(),
    rejectedRecipients: z
      .array(z.string())
      .optional()
      .openapi({ description: 'Recipients the provider refused while accepting the message for the others' }),
    attempts: z.array(attemptSchema),
    ...suppressionFields,
  })
  .openapi('SendResult');

export const queuedSchema = z.object({ id: z.string(), status: z.literal('queued') }).openapi('Queued');

export const jobSchema = z
  .object({
    id: z.string(),
    status: z.enum(['queued', 'sent', 'failed']),
    state: z
      .string()
      .optional()
      .openapi({ description: 'The queue state while queued: waiting, active, delayed…' }),
    provider: z.string().optional(),
    providerConfigId: z.string().optional(),
    messageId: z.string().optional(),
    code: z.string().optional(),
    failureClass: z.string().optional(),
    message: z.string().optional(),
    issues: z.array(issue).optional(),
    attempts: z.array(attemptSchema.extend({ run: z.number() })),
    ...suppressionFields,
    delivery: z
      .object({
        state: z.string().openapi({ description: 'sent, delivered, bounced, … as the provider reported it' }),
        events: z.array(z.record(z.string(), z.unknown())),
      })
      .optional()
      .openapi({
        description: "The provider's delivery events for this message, once it was sent (webhooks)",
      }),
  })
  .openapi('MessageJob');

const breakerSchema = z.object({
  state: z.enum(['closed', 'open', 'half-open']),
  consecutiveFailures: z.number(),
});
export const statsSchema = z
  .object({
    data: z.array(
      z.object({
        providerConfigId: z.string(),
        provider: z.string(),
        channel: z.enum(['email', 'sms']),
        name: z.string(),
        enabled: z.boolean(),
        priority: z.number(),
        attempts: z.number(),
        successes: z.number(),
        failures: z.object({ transient: z.number(), provider: z.number(), message: z.number() }),
        skipped: z.number(),
        latencyMs: z.object({
          p50: z.number(),
          p90: z.number(),
          p99: z.number(),
          max: z.number(),
          samples: z.number(),
        }),
        breaker: breakerSchema.passthrough(),
      }),
    ),
  })
  .openapi('ProviderStats');

export const healthSchema = z.object({ status: z.enum(['ok', 'unavailable']) }).openapi('Health');
