import { z } from 'zod';
import { alphanumericSenderId, e164, headerSafe, identifier, wellFormed } from './fields';

const projectId = identifier;

/** Input of `pipe.senders.set` for email. */
export const emailSenderSchema = z.strictObject({
  projectId,
  channel: z.literal('email'),
  senderEmail: z.email({ message: 'Invalid email address' }).max(320),
  senderName: wellFormed(headerSafe(z.string().max(200))).optional(),
  enabled: z.boolean().default(true),
});

/** Input of `pipe.senders.set` for SMS. */
export const smsSenderSchema = z.strictObject({
  projectId,
  channel: z.literal('sms'),
  senderId: alphanumericSenderId.optional(),
  from: e164.optional(),
  enabled: z.boolean().default(true),
});

/** Input of `pipe.senders.set`. */
export const senderSchema = z.discriminatedUnion('channel', [emailSenderSchema, smsSenderSchema]);

export type SenderInput = z.input<typeof senderSchema>;
