import { z } from 'zod';
import { type CoreErrorCode, MessagePipeError, type ValidationIssue } from '../errors';

/**
 * Marks a string config field as a credential (top-level or in nested objects; not inside arrays or records). This is the only place secrets are declared: the JSON Schema gets
 * `writeOnly: true`, and redaction, "never returned" and sealing all derive from that mark.
 */
export function secret<T extends z.ZodType<string>>(schema: T): Secret<T> {
  // The mark is also carried in the type, so `providers.update` can type what may be left out (see config-input.ts).
  return schema.meta({ writeOnly: true }) as Secret<T>;
}

declare const secretMark: unique symbol;

/** The type-level mark {@link secret} adds to a schema. It exists only in types; nothing reads it at run time. */
export interface SecretMark {
  readonly [secretMark]: true;
}

/** A schema wrapped in {@link secret}. */
export type Secret<T extends z.ZodType<string>> = T & SecretMark;

/**
 * Marks a config field that decides where the credentials go (an endpoint, a host, a region, an account id).
 * When an update changes one, the stored secrets are not carried over: they must be entered again, so nobody who
 * may edit a config can point it at their own server and have the stored key sent there.
 */
export function credentialTarget<T extends z.ZodType>(schema: T): T {
  return schema.meta({ 'x-credential-target': true });
}

/** CR, LF or NUL: what may not appear in anything that ends up in a header. */
export const LINE_BREAK = /[\r\n\0]/;

/** A string that may end up in a mail or protocol header: no CR, LF or NUL. */
export function headerSafe(schema: z.ZodString = z.string()): z.ZodString {
  return schema.refine((value) => !LINE_BREAK.test(value), { message: 'Line breaks are not allowed' });
}

/** NUL, or a lone UTF-16 surrogate (in `u` mode a proper pair is one code point, so only lone halves match). */
const ILL_FORMED = /[\0\p{Cs}]/u;

/**
 * True for text every store can keep as it is: well-formed UTF-16 (no lone surrogate) and no NUL. PostgreSQL
 * refuses NUL in text and turns every lone surrogate into U+FFFD, so `'\ud800'` and `'\udbff'` would become the
 * same project there.
 */
export function isWellFormedText(value: string): boolean {
  return !ILL_FORMED.test(value);
}

/** The one refinement behind every identifier and name: see {@link isWellFormedText}. */
export function wellFormed<T extends z.ZodType<string>>(schema: T): T {
  return schema.refine(isWellFormedText, {
    message: 'Must be well-formed text: no NUL and no lone surrogate',
  }) as unknown as T;
}

/**
 * Throws `CONFIG_INVALID` (with a path per field) unless every given value is well-formed text (see
 * {@link isWellFormedText}). For store implementations, at their boundary: a database that rewrites or refuses
 * such text must never be handed it, whoever calls the store.
 */
export function assertWellFormed(fields: Record<string, string | undefined>): void {
  const issues: ValidationIssue[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined && !isWellFormedText(value)) {
      issues.push({ path: [field], message: 'Must be well-formed text: no NUL and no lone surrogate' });
    }
  }
  if (issues.length === 0) return;
  const names = issues.map((issue) => issue.path[0]).join(', ');
  throw new MessagePipeError('CONFIG_INVALID', `Invalid ${names}: NUL or a lone surrogate`, { issues });
}

/** Longest project id, record id or idempotency key. */
export const MAX_IDENTIFIER_LENGTH = 200;

/** A project id or record id: 1 to 200 characters of well-formed text. */
export const identifier = wellFormed(z.string().min(1).max(MAX_IDENTIFIER_LENGTH));

/** True for a valid identifier, checked by hand where the send path cannot afford a schema parse. */
export function isIdentifier(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_IDENTIFIER_LENGTH &&
    isWellFormedText(value)
  );
}

/** Control characters (C0, DEL): an idempotency key travels in headers and Message-IDs. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** True for a valid idempotency key: 1 to 200 characters of well-formed text without control characters. */
export function isIdempotencyKey(value: unknown): value is string {
  return isIdentifier(value) && !CONTROL.test(value);
}

/**
 * The idempotency key of a send, the one rule shared by `dispatcher.send` and the queue: 1 to 200 characters,
 * well-formed, no control characters (CR, LF, NUL…). The queue adds the rules of BullMQ job ids on top.
 */
export const idempotencyKeySchema = identifier.refine((value) => !CONTROL.test(value), {
  message: 'Control characters (CR, LF, NUL, …) are not allowed',
});

/** Nesting depth up to which {@link refuseProtoKeys} looks for `__proto__` keys (configs are shallow). */
const MAX_KEY_DEPTH = 16;

function addProtoKeyIssues(
  value: unknown,
  path: (string | number)[],
  ctx: z.RefinementCtx,
  deep: boolean,
): void {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return;
  if (Object.hasOwn(value, '__proto__')) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, '__proto__'],
      message: '"__proto__" is not allowed as a key',
    });
  }
  if (!deep || path.length >= MAX_KEY_DEPTH) return;
  for (const [key, child] of Object.entries(value)) addProtoKeyIssues(child, [...path, key], ctx, deep);
}

/**
 * Refuses objects with an own `__proto__` key (from `JSON.parse`, say), with its path. Parsing copies keys into a
 * new object, where assigning `__proto__` sets the prototype instead: the entry would vanish without a word.
 * (`constructor` and `prototype` are ordinary keys there and are kept.) `deep` looks into nested objects and
 * arrays too, for configs whose schema may accept anything.
 */
export function refuseProtoKeys<T extends z.ZodType>(schema: T, options: { deep?: boolean } = {}): T {
  const deep = options.deep ?? false;
  return z.preprocess((value, ctx) => {
    addProtoKeyIssues(value, [], ctx, deep);
    return value;
  }, schema) as unknown as T;
}

/** The pattern of {@link e164}. */
export const E164 = /^\+[1-9]\d{6,14}$/;
/** E.164 phone number: `+` then up to 15 digits, no leading zero. */
export const e164 = z.string().regex(E164, { message: 'Expected an E.164 number such as +14155550100' });

/** The pattern of {@link alphanumericSenderId}. */
export const ALPHANUMERIC_SENDER_ID = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
/** Alphanumeric SMS sender id (what handsets show instead of a number). */
export const alphanumericSenderId = z
  .string()
  .regex(ALPHANUMERIC_SENDER_ID, { message: 'Expected 1-11 letters, digits or spaces' });

/** Whitespace or control characters: `new URL` would drop some (tab, CR, LF) and choke on others. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const URL_UNSAFE = /[\s\u0000-\u001f\u007f]/;

/** Why `value` is not an http(s) origin, or undefined when it is one. Never throws, whatever the text. */
function originProblem(value: string): string | undefined {
  if (URL_UNSAFE.test(value)) return 'Whitespace and control characters are not allowed';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'Expected an http(s) URL such as https://api.example.com';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'Expected an http(s) URL';
  if (url.pathname !== '/' || /[?#]/.test(value) || url.username || url.password) {
    return 'Expected an origin such as https://api.example.com (no path, query or credentials)';
  }
  return undefined;
}

/**
 * API origin override: `scheme://host[:port]`, no path, query or fragment. Malformed text (an unclosed IPv6
 * bracket, port 99999, `%zz`, spaces, NUL, CR/LF) is a validation issue at this field, never a thrown TypeError.
 */
export const endpoint = credentialTarget(
  // A plain string checked by hand: `z.url()` trims, so `"https://api.example.com\r\n"` would pass as clean.
  z
    .string()
    .max(2048)
    .superRefine((value, ctx) => {
      const problem = originProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({
      format: 'uri',
      description:
        "API origin, for regional endpoints, proxies and local emulators; the provider's documented paths are appended unchanged.",
    }),
);

/** Per-attempt timeout override, in milliseconds. */
export const timeoutMs = z
  .number()
  .int()
  .min(100)
  .max(300_000)
  .meta({ description: 'Timeout of one attempt against this provider, in milliseconds.' });

/** Converts a Zod error into our issue list. Zod's messages name fields and types, never the values given. */
export function toIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map((part) => (typeof part === 'number' ? part : String(part))),
    message: issue.message,
  }));
}

/** Parses `input` or throws a `MessagePipeError` with `code` and the field paths. */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  input: unknown,
  code: CoreErrorCode,
  what: string,
  pathPrefix: (string | number)[] = [],
): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = toIssues(result.error).map((issue) => ({ ...issue, path: [...pathPrefix, ...issue.path] }));
  const summary = issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
  throw new MessagePipeError(code, `Invalid ${what}: ${summary}`, { issues });
}
