import { z } from 'zod';
import { type CoreErrorCode, MessagePipeError, type ValidationIssue } from '../errors';

/**
 * Marks a string config field as a credential (top-level or in nested objects; not inside arrays or records). This is the only place secrets are declared: the JSON Schema gets
 * `writeOnly: true`, and redaction, "never returned" and sealing all derive from that mark.
 */
export function secret<T extends z.ZodType<string>>(schema: T): T {
  return schema.meta({ writeOnly: true });
}

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

/** API origin override: `scheme://host[:port]`, no path, query or fragment. */
export const endpoint = credentialTarget(
  z
    .url({ protocol: /^https?$/, message: 'Expected an http(s) URL' })
    .refine(
      (value) => {
        const url = new URL(value);
        return url.pathname === '/' && !url.search && !url.hash && !url.username && !url.password;
      },
      { message: 'Expected an origin such as https://api.example.com (no path, query or credentials)' },
    )
    .meta({
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
