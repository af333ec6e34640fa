/**
 * A compiled fast path for the common message shapes, in front of the Zod schemas of `message.ts`.
 *
 * It only ever accepts: when a message is valid and has a shape it knows (no attachments, plain values), it
 * returns the same normalised, frozen result the schema path would; for anything else (an invalid field, an
 * unknown key, attachments, an unusual object) it returns `undefined` and the caller runs the Zod schema, which
 * then accepts or refuses with its issues and paths. `test/message-fast.test.ts` checks it against the schema
 * with generated valid and invalid messages.
 *
 * The checks mirror how Zod reads input: a strict object's keys by property access and its unknown keys with
 * `for...in`, a record's own enumerable keys, an array's indices up to `length`.
 */
import { z } from 'zod';
import type { EmailAddress } from '../types';
import { ALPHANUMERIC_SENDER_ID, E164, LINE_BREAK } from './fields';
import {
  EMAIL_LIMITS,
  EMPTY_ADDRESSES,
  EMPTY_ATTACHMENTS,
  EMPTY_RECORD,
  EMPTY_STRINGS,
  type EmailDraft,
  HEADER_NAME,
  MESSAGE_LIMITS as L,
  parseAddressString,
  RESERVED_HEADERS,
  type SmsMessageOutput,
} from './message';

const EMAIL = z.regexes.email;

/** One address (a string or `{ email, name }`), normalised and frozen, or undefined. */
function address(value: unknown): EmailAddress | undefined {
  if (typeof value === 'string') {
    const parsed = parseAddressString(value);
    // A bare address the email pattern matched whole holds no CR, LF or NUL (the pattern allows none).
    if (!parsed || (parsed.email !== value && LINE_BREAK.test(value))) return undefined;
    return Object.freeze(parsed);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const key in value) if (key !== 'email' && key !== 'name') return undefined;
  const { email, name } = value as { email?: unknown; name?: unknown };
  if (typeof email !== 'string' || email.length > L.address || !EMAIL.test(email)) return undefined;
  if (name === undefined || name === '') return Object.freeze({ email });
  if (typeof name !== 'string' || name.length > L.displayName || LINE_BREAK.test(name)) return undefined;
  return Object.freeze({ email, name });
}

/** One address or a list of 1 to 1000, or undefined. */
function addressList(value: unknown): EmailAddress[] | undefined {
  if (!Array.isArray(value)) {
    const single = address(value);
    return single && (Object.freeze([single]) as EmailAddress[]);
  }
  const length = value.length;
  if (length < 1 || length > L.recipients) return undefined;
  const list = new Array<EmailAddress>(length);
  for (let index = 0; index < length; index++) {
    const entry = address(value[index]);
    if (!entry) return undefined;
    list[index] = entry;
  }
  return Object.freeze(list) as EmailAddress[];
}

function headerSafe(value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max && !LINE_BREAK.test(value);
}

/**
 * A record of strings as Zod's `z.record` reads one (own enumerable keys of a plain object), checked and copied,
 * or undefined. Objects with symbol keys or a `__proto__` key are left to the schema.
 */
function stringRecord(
  value: unknown,
  validKey: (key: string) => boolean,
  maxValue: number,
  maxEntries: number,
): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return undefined;
  const keys = Object.keys(value);
  if (Object.getOwnPropertySymbols(value).length > 0) return undefined;
  if (keys.length === 0) return EMPTY_RECORD;
  if (keys.length > maxEntries) return undefined;
  const copy: Record<string, string> = {};
  for (const key of keys) {
    if (key === '__proto__' || !validKey(key)) return undefined;
    const entry = (value as Record<string, unknown>)[key];
    if (!headerSafe(entry, 0, maxValue)) return undefined;
    copy[key] = entry;
  }
  return Object.freeze(copy);
}

/** Header names within their limit, and every `Name: value` line within RFC 5322's 998 characters. */
function headerLinesFit(headers: Record<string, string>): boolean {
  for (const name in headers) {
    if (name.length > EMAIL_LIMITS.headerNameLength) return false;
    if (name.length + 2 + headers[name]!.length > EMAIL_LIMITS.headerLineLength) return false;
  }
  return true;
}

function metadataFits(metadata: Record<string, string>): boolean {
  let size = 0;
  for (const key in metadata) size += key.length + metadata[key]!.length;
  return size <= EMAIL_LIMITS.metadataSize;
}

const headerKey = (key: string) => HEADER_NAME.test(key) && !RESERVED_HEADERS.has(key.toLowerCase());
const metadataKey = (key: string) => headerSafe(key, 1, L.metadataKey);

function tagList(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > L.tags) return undefined;
  const length = value.length;
  if (length === 0) return EMPTY_STRINGS;
  const tags = new Array<string>(length);
  for (let index = 0; index < length; index++) {
    const tag: unknown = value[index];
    if (!headerSafe(tag, 1, L.tag)) return undefined;
    tags[index] = tag;
  }
  return Object.freeze(tags) as string[];
}

/**
 * The email of a send input (its own enumerable keys, `projectId` and `channel` aside), validated and normalised
 * as `draftEmail(emailMessageSchema.parse(fields))` would return it, or undefined when the schema has to decide.
 */
export function fastEmail(input: object): EmailDraft | undefined {
  let to: EmailAddress[] | undefined;
  let cc = EMPTY_ADDRESSES;
  let bcc = EMPTY_ADDRESSES;
  let replyTo = EMPTY_ADDRESSES;
  let from: EmailAddress | undefined;
  let subject: unknown;
  let text: unknown;
  let html: unknown;
  let headers = EMPTY_RECORD;
  let tags = EMPTY_STRINGS;
  let metadata = EMPTY_RECORD;
  for (const key of Object.keys(input)) {
    const value: unknown = (input as Record<string, unknown>)[key];
    switch (key) {
      case 'projectId':
      case 'channel':
        break;
      case 'to':
        to = addressList(value);
        if (!to) return undefined;
        break;
      case 'subject':
        subject = value;
        break;
      case 'text':
        if (value !== undefined && typeof value !== 'string') return undefined;
        text = value;
        break;
      case 'html':
        if (value !== undefined && typeof value !== 'string') return undefined;
        html = value;
        break;
      case 'from':
        if (value === undefined) break;
        from = address(value);
        if (!from) return undefined;
        break;
      case 'cc':
      case 'bcc':
      case 'replyTo': {
        if (value === undefined) break;
        const list = addressList(value);
        if (!list) return undefined;
        if (key === 'cc') cc = list;
        else if (key === 'bcc') bcc = list;
        else replyTo = list;
        break;
      }
      case 'headers': {
        if (value === undefined) break;
        const record = stringRecord(value, headerKey, L.headerValue, EMAIL_LIMITS.headers);
        if (!record || !headerLinesFit(record)) return undefined;
        headers = record;
        break;
      }
      case 'metadata': {
        if (value === undefined) break;
        const record = stringRecord(value, metadataKey, L.metadataValue, EMAIL_LIMITS.metadataEntries);
        if (!record || !metadataFits(record)) return undefined;
        metadata = record;
        break;
      }
      case 'tags': {
        if (value === undefined) break;
        const list = tagList(value);
        if (!list) return undefined;
        tags = list;
        break;
      }
      default:
        // Attachments, and keys the schema refuses, take the schema path.
        return undefined;
    }
  }
  // An empty part is dropped, so one of them must have text (see the schema's refinement).
  if (!to || !headerSafe(subject, 1, L.subject) || (!text && !html)) return undefined;
  if (to.length + cc.length + bcc.length > EMAIL_LIMITS.recipients) return undefined;
  const textLength = typeof text === 'string' ? text.length : 0;
  const htmlLength = typeof html === 'string' ? html.length : 0;
  if (textLength > EMAIL_LIMITS.bodyLength || htmlLength > EMAIL_LIMITS.bodyLength) return undefined;
  if (textLength + htmlLength > EMAIL_LIMITS.totalBytes) return undefined;
  const email: EmailDraft = {
    channel: 'email',
    from,
    to,
    cc,
    bcc,
    replyTo,
    subject,
    attachments: EMPTY_ATTACHMENTS,
    headers,
    tags,
    metadata,
  };
  if (text) email.text = text as string;
  if (html) email.html = html as string;
  return email;
}

/**
 * The SMS of a send input (its own enumerable keys, `projectId` and `channel` aside), validated as
 * `smsMessageSchema.parse(fields)` would return it, or undefined when the schema has to decide.
 */
export function fastSms(input: object): SmsMessageOutput | undefined {
  let to: unknown;
  let body: unknown;
  let from: unknown;
  for (const key of Object.keys(input)) {
    const value: unknown = (input as Record<string, unknown>)[key];
    switch (key) {
      case 'projectId':
      case 'channel':
        break;
      case 'to':
        to = value;
        break;
      case 'body':
        body = value;
        break;
      case 'from':
        from = value;
        break;
      default:
        return undefined;
    }
  }
  if (typeof to !== 'string' || !E164.test(to)) return undefined;
  if (typeof body !== 'string' || body.length < 1 || body.length > L.smsBody) return undefined;
  if (from === undefined) return { to, body };
  if (typeof from !== 'string' || !(E164.test(from) || ALPHANUMERIC_SENDER_ID.test(from))) return undefined;
  return { to, body, from };
}
