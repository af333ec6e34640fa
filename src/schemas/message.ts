import { z } from 'zod';
import type { EmailAddress, EmailAttachment, OutboundEmail, OutboundSms } from '../types';
import { alphanumericSenderId, e164, headerSafe, refuseProtoKeys } from './fields';

/**
 * The field limits of a message, shared by the schemas and the compiled fast path (`message-fast.ts`), so one
 * change applies to both (message-wide size limits are {@link EMAIL_LIMITS}).
 */
export const MESSAGE_LIMITS = {
  address: 320,
  displayName: 200,
  recipients: 1000,
  subject: 998,
  filename: 255,
  contentId: 255,
  attachments: 100,
  headerValue: 2000,
  tags: 10,
  tag: 128,
  metadataKey: 128,
  metadataValue: 1000,
  smsBody: 1600,
} as const;
const L = MESSAGE_LIMITS;

const emailAddress = z.email({ message: 'Invalid email address' }).max(L.address);
const displayName = headerSafe(z.string().max(L.displayName));

/** `a@b.test`, `Ann <a@b.test>` or `{ email, name }`. */
const address = z.union([z.string(), z.strictObject({ email: emailAddress, name: displayName.optional() })]);
const addressList = z.union([address, z.array(address).min(1).max(L.recipients)]);

const NAMED_ADDRESS = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/;

/** A custom header's name: an RFC 7230 token. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Headers that are derived from the message fields and must not be set twice. */
export const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'reply-to',
  'sender',
  'return-path',
  'content-type',
  'content-transfer-encoding',
  'mime-version',
]);

const attachment = z.strictObject({
  filename: headerSafe(z.string().min(1).max(L.filename)),
  content: z.union([z.string(), z.instanceof(Uint8Array)]),
  /** How a string `content` is encoded; ignored for bytes. Defaults to `utf8`. */
  encoding: z.enum(['utf8', 'base64']).optional(),
  contentType: headerSafe(
    z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, { message: 'Expected a MIME type' }),
  ).optional(),
  contentId: headerSafe(z.string().min(1).max(L.contentId)).optional(),
  disposition: z.enum(['attachment', 'inline']).optional(),
});

const emailMessageFields = z.strictObject({
  to: addressList,
  cc: addressList.optional(),
  bcc: addressList.optional(),
  replyTo: addressList.optional(),
  from: address.optional(),
  subject: headerSafe(z.string().min(1).max(L.subject)),
  text: z.string().optional(),
  html: z.string().optional(),
  attachments: z.array(attachment).max(L.attachments).optional(),
  headers: refuseProtoKeys(
    z.record(
      z.string().regex(HEADER_NAME, { message: 'Invalid header name' }),
      headerSafe(z.string().max(L.headerValue)),
    ),
  ).optional(),
  tags: z
    .array(headerSafe(z.string().min(1).max(L.tag)))
    .max(L.tags)
    .optional(),
  metadata: refuseProtoKeys(
    z.record(headerSafe(z.string().min(1).max(L.metadataKey)), headerSafe(z.string().max(L.metadataValue))),
  ).optional(),
});

/** An email as callers write it, before normalisation. */
export const emailMessageSchema = emailMessageFields
  .superRefine((message, ctx) => {
    // An empty part is dropped (see normaliseEmail): SendGrid refuses an empty content value (400,
    // `content.0.value`) and Postmark an empty body (422, ErrorCode 300), so one must have text.
    if (!message.text && !message.html) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'Set a non-empty text, html or both' });
    }
    for (const key of ['to', 'cc', 'bcc', 'replyTo', 'from'] as const) {
      const value = message[key];
      if (value === undefined) continue;
      const list = Array.isArray(value) ? value : [value];
      list.forEach((entry, index) => {
        if (typeof entry !== 'string') return;
        const path = Array.isArray(value) ? [key, index] : [key];
        if (/[\r\n\0]/.test(entry))
          ctx.addIssue({ code: 'custom', path, message: 'Line breaks are not allowed' });
        else if (!parseAddressString(entry))
          ctx.addIssue({ code: 'custom', path, message: 'Invalid email address' });
      });
    }
    for (const name of Object.keys(message.headers ?? {})) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          path: ['headers', name],
          message: `${name} is set from the message fields, not as a custom header`,
        });
      }
    }
  })
  .superRefine(checkEmailLimits);

/**
 * Size limits of an email, checked before any provider is called (`MESSAGE_INVALID` with paths). They bound what any
 * provider takes (the largest, SES, takes 40 MB) and keep every header line within RFC 5322's 998 characters.
 */
export const EMAIL_LIMITS = {
  /** to + cc + bcc. */
  recipients: 1000,
  headers: 100,
  headerNameLength: 100,
  /** `Name: value` on one line (RFC 5322 section 2.1.1). */
  headerLineLength: 998,
  metadataEntries: 50,
  /** Keys and values together, in characters. */
  metadataSize: 10_000,
  /** Characters of `text`, and of `html`. */
  bodyLength: 10_000_000,
  /** Bytes of one attachment. */
  attachmentBytes: 40_000_000,
  /** text + html + attachment bytes. */
  totalBytes: 40_000_000,
} as const;

function attachmentBytes(value: z.output<typeof attachment>): number {
  if (typeof value.content !== 'string') return value.content.byteLength;
  return value.encoding === 'base64'
    ? Math.floor((value.content.length * 3) / 4)
    : Buffer.byteLength(value.content);
}

function checkEmailLimits(message: z.output<typeof emailMessageFields>, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], text: string) =>
    ctx.addIssue({ code: 'custom', path, message: text });
  const count = (value: unknown) => (value === undefined ? 0 : Array.isArray(value) ? value.length : 1);
  if (count(message.to) + count(message.cc) + count(message.bcc) > EMAIL_LIMITS.recipients) {
    issue(['to'], `At most ${EMAIL_LIMITS.recipients} recipients in to, cc and bcc together`);
  }
  const headers = Object.entries(message.headers ?? {});
  if (headers.length > EMAIL_LIMITS.headers) issue(['headers'], `At most ${EMAIL_LIMITS.headers} headers`);
  for (const [name, value] of headers.slice(0, EMAIL_LIMITS.headers + 1)) {
    if (name.length > EMAIL_LIMITS.headerNameLength) {
      issue(
        ['headers', name.slice(0, 100)],
        `Header names are at most ${EMAIL_LIMITS.headerNameLength} characters`,
      );
    } else if (name.length + 2 + value.length > EMAIL_LIMITS.headerLineLength) {
      issue(
        ['headers', name],
        `"Name: value" must fit in ${EMAIL_LIMITS.headerLineLength} characters (RFC 5322)`,
      );
    }
  }
  const metadata = Object.entries(message.metadata ?? {});
  if (metadata.length > EMAIL_LIMITS.metadataEntries) {
    issue(['metadata'], `At most ${EMAIL_LIMITS.metadataEntries} metadata entries`);
  } else if (
    metadata.reduce((sum, [key, value]) => sum + key.length + value.length, 0) > EMAIL_LIMITS.metadataSize
  ) {
    issue(
      ['metadata'],
      `Metadata keys and values are at most ${EMAIL_LIMITS.metadataSize} characters in total`,
    );
  }
  let total = 0;
  for (const field of ['text', 'html'] as const) {
    const body = message[field];
    if (body === undefined) continue;
    if (body.length > EMAIL_LIMITS.bodyLength) {
      issue([field], `At most ${EMAIL_LIMITS.bodyLength} characters`);
    }
    total += body.length;
  }
  (message.attachments ?? []).forEach((item, index) => {
    const bytes = attachmentBytes(item);
    if (bytes > EMAIL_LIMITS.attachmentBytes) {
      issue(
        ['attachments', index, 'content'],
        `An attachment is at most ${EMAIL_LIMITS.attachmentBytes} bytes`,
      );
    }
    total += bytes;
  });
  if (total > EMAIL_LIMITS.totalBytes) {
    issue([], `The message is at most ${EMAIL_LIMITS.totalBytes} bytes (text, html and attachments)`);
  }
}

/** An SMS as callers write it. */
export const smsMessageSchema = z.strictObject({
  to: e164,
  body: z.string().min(1).max(L.smsBody),
  from: z.union([e164, alphanumericSenderId]).optional(),
});

export type EmailMessageInput = z.input<typeof emailMessageSchema>;
export type SmsMessageInput = z.input<typeof smsMessageSchema>;
/** A validated SMS, before the sender configuration is applied. */
export type SmsMessageOutput = z.output<typeof smsMessageSchema>;
/** A normalised email whose `from` is the message's own, if it had one (the sender configuration fills it in). */
export type EmailDraft = Omit<OutboundEmail, 'from'> & { from: EmailAddress | undefined };

/** `a@b.test` or `Ann <a@b.test>` as an address, or undefined when it is not one. */
export function parseAddressString(value: string): EmailAddress | undefined {
  // The pattern needs a `<`: a bare address (most of them) skips the expression.
  const named = value.includes('<') ? NAMED_ADDRESS.exec(value) : null;
  const email = (named ? named[2]! : value).trim();
  // The same pattern as `z.email()`, tested directly: this runs for every address of every message.
  if (email.length > L.address || !z.regexes.email.test(email)) return undefined;
  const name = named?.[1]?.trim();
  return name ? { email, name } : { email };
}

function toAddress(value: z.output<typeof address>): EmailAddress {
  if (typeof value !== 'string')
    return value.name ? { email: value.email, name: value.name } : { email: value.email };
  // Already validated by the schema's refinement.
  return parseAddressString(value)!;
}

/**
 * Shared, frozen empty collections for the fields a message leaves out: most messages have no cc, bcc,
 * attachments or metadata, and one frozen instance each costs nothing per send.
 */
export const EMPTY_ADDRESSES: EmailAddress[] = Object.freeze([]) as unknown as EmailAddress[];
export const EMPTY_ATTACHMENTS: EmailAttachment[] = Object.freeze([]) as unknown as EmailAttachment[];
export const EMPTY_STRINGS: string[] = Object.freeze([]) as unknown as string[];
export const EMPTY_RECORD: Record<string, string> = Object.freeze({}) as Record<string, string>;

function toAddresses(value: z.output<typeof addressList> | undefined): EmailAddress[] {
  if (value === undefined) return EMPTY_ADDRESSES;
  return (Array.isArray(value) ? value : [value]).map(toAddress);
}

function toAttachment(input: z.output<typeof attachment>): EmailAttachment {
  const content =
    typeof input.content === 'string'
      ? new Uint8Array(Buffer.from(input.content, input.encoding === 'base64' ? 'base64' : 'utf8'))
      : new Uint8Array(input.content);
  const normalised: EmailAttachment = {
    filename: input.filename,
    content,
    disposition: input.disposition ?? (input.contentId ? 'inline' : 'attachment'),
  };
  if (input.contentType) normalised.contentType = input.contentType;
  if (input.contentId) normalised.contentId = input.contentId;
  return normalised;
}

/** Normalises a validated email: address lists, attachment bytes, empty collections instead of undefined. */
export function normaliseEmail(
  input: z.output<typeof emailMessageSchema>,
  from: EmailAddress,
): OutboundEmail {
  const email: OutboundEmail = {
    channel: 'email',
    from,
    to: toAddresses(input.to),
    cc: toAddresses(input.cc),
    bcc: toAddresses(input.bcc),
    replyTo: toAddresses(input.replyTo),
    subject: input.subject,
    attachments: input.attachments?.length ? input.attachments.map(toAttachment) : EMPTY_ATTACHMENTS,
    headers: copyRecord(input.headers),
    tags: input.tags?.length ? [...input.tags] : EMPTY_STRINGS,
    metadata: copyRecord(input.metadata),
  };
  // Empty parts never reach a provider (see the schema's refinement).
  if (input.text) email.text = input.text;
  if (input.html) email.html = input.html;
  return email;
}

function copyRecord(record: Record<string, string> | undefined): Record<string, string> {
  if (record === undefined || Object.keys(record).length === 0) return EMPTY_RECORD;
  return { ...record };
}

/** A validated email, normalised, with its own `from` if it has one. */
export function draftEmail(input: z.output<typeof emailMessageSchema>): EmailDraft {
  return normaliseEmail(input, emailFromOf(input) as EmailAddress);
}

/** The message's own `from`, normalised, if it has one. */
export function emailFromOf(input: z.output<typeof emailMessageSchema>): EmailAddress | undefined {
  return input.from === undefined ? undefined : toAddress(input.from);
}

/** Normalises a validated SMS, with the project's sender id and number where set. */
export function normaliseSms(
  input: z.output<typeof smsMessageSchema>,
  sender: { senderId?: string | undefined; from?: string | undefined } | undefined,
): OutboundSms {
  const sms: OutboundSms = { channel: 'sms', to: input.to, body: input.body };
  if (input.from !== undefined) sms.from = input.from;
  if (sender?.senderId !== undefined) sms.senderId = sender.senderId;
  if (sender?.from !== undefined) sms.senderNumber = sender.from;
  return sms;
}

/** Freezes a normalised message and everything in it, so no attempt can change what the next one sends. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  // Typed arrays cannot be frozen; attachments are copied at normalisation instead.
  if (ArrayBuffer.isView(value)) return value;
  for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}
