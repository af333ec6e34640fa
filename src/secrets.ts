import { MessagePipeError } from './errors';

/** Secret values of one config, keyed by dotted path (`apiKey`, `auth.pass`). */
export type SecretValues = Record<string, string>;

/** The record a config's secrets belong to. A sealing codec binds the sealed text to it. */
export interface SecretBinding {
  projectId: string;
  recordId: string;
}

/**
 * Turns a config's secret values into the opaque text a store keeps, and back. The record is passed so a sealing
 * codec can bind the text to it: text copied onto another record is refused.
 */
export interface SecretCodec {
  /** True when secrets are sealed (encrypted) before they reach the store. */
  readonly seals: boolean;
  encode(values: SecretValues, binding: SecretBinding): string;
  /** @throws `SECRET_KEY_MISSING` or `SECRET_INVALID` when the text cannot be opened. */
  decode(text: string, binding: SecretBinding): SecretValues;
  /** True when `text` is already in the form `encode` writes now, so re-sealing it would change nothing. */
  isCurrent(text: string): boolean;
}

/** Prefix of secrets stored unsealed (no keys configured). */
export const PLAIN_PREFIX = 'plain:';
/** Prefix of sealed secrets; the full format is documented in `sealing.ts`. */
export const SEALED_PREFIX = 'sealed:';

/** Parses unsealed secret text; `SECRET_INVALID` when it is not in the plain format. */
export function decodePlain(text: string, binding: SecretBinding): SecretValues {
  if (text.startsWith(PLAIN_PREFIX)) {
    try {
      const values: unknown = JSON.parse(text.slice(PLAIN_PREFIX.length));
      if (isSecretValues(values)) return values;
    } catch {
      // Reported below, without echoing the text: it may hold credentials.
    }
  }
  throw new MessagePipeError(
    'SECRET_INVALID',
    `Stored secrets of provider ${binding.recordId} are in an unknown format`,
  );
}

/** True for a plain object of strings, the shape of {@link SecretValues}. */
export function isSecretValues(value: unknown): value is SecretValues {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((entry) => typeof entry === 'string')
  );
}

/**
 * The key id a sealed text names (`sealed:v1:<keyId>:…`), or `undefined` for text that is not sealed. Lets a
 * dispatcher without keys say which key it would need.
 */
export function sealedKeyIdOf(text: string): string | undefined {
  if (!text.startsWith(SEALED_PREFIX)) return undefined;
  return text.split(':')[2] || undefined;
}

/** Stores secret values as JSON, unencrypted: the default until keys are configured. */
export const plainSecretCodec: SecretCodec = {
  seals: false,
  encode: (values) => PLAIN_PREFIX + JSON.stringify(values),
  decode: (text, binding) => {
    const keyId = sealedKeyIdOf(text);
    if (keyId !== undefined) {
      throw new MessagePipeError(
        'SECRET_KEY_MISSING',
        `Secrets of provider ${binding.recordId} are sealed with key "${keyId}", but this dispatcher has no keys: pass secrets: { keys, activeKeyId }`,
      );
    }
    return decodePlain(text, binding);
  },
  isCurrent: (text) => text.startsWith(PLAIN_PREFIX),
};

/** The value at a dotted path of a config (`auth.pass`), or undefined. */
export function valueAt(source: Record<string, unknown>, dotted: string): unknown {
  return getPath(source, dotted.split('.'));
}

function getPath(source: Record<string, unknown>, path: string[]): unknown {
  let node: unknown = source;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/**
 * Splits a config into its public part and its secret values, by the schema's secret paths.
 * The input is not changed.
 */
export function splitSecrets(
  config: Record<string, unknown>,
  secretPaths: readonly string[],
): { publicConfig: Record<string, unknown>; secrets: SecretValues } {
  const publicConfig = structuredClone(config);
  const secrets: SecretValues = {};
  for (const dotted of secretPaths) {
    const path = dotted.split('.');
    const value = getPath(publicConfig, path);
    if (value === undefined) continue;
    secrets[dotted] = String(value);
    const parent = getPath(publicConfig, path.slice(0, -1)) as Record<string, unknown>;
    delete parent[path[path.length - 1]!];
  }
  return { publicConfig, secrets };
}

/**
 * Puts secret values back into a public config. A value whose parent object is absent is skipped, so an update
 * that removes `auth` altogether does not resurrect `auth.pass`.
 */
export function mergeSecrets(
  publicConfig: Record<string, unknown>,
  secrets: SecretValues,
  { onlyWhereMissing = false } = {},
): Record<string, unknown> {
  const merged = structuredClone(publicConfig);
  for (const [dotted, value] of Object.entries(secrets)) {
    const path = dotted.split('.');
    const parent = path.length === 1 ? merged : getPath(merged, path.slice(0, -1));
    if (typeof parent !== 'object' || parent === null) continue;
    const key = path[path.length - 1]!;
    const target = parent as Record<string, unknown>;
    if (onlyWhereMissing && target[key] !== undefined) continue;
    target[key] = value;
  }
  return merged;
}

const REDACTED = '[REDACTED]';

/** Values shorter than this are not scrubbed: they would match ordinary text. */
const MIN_SECRET_LENGTH = 4;

/**
 * Every form in which a secret can come back from a provider, to be scrubbed: each value raw, URL-encoded (both
 * `%20` and form `+` styles), JSON-escaped, and base64 (padded and not); plus each string an adapter derives from
 * the secrets and puts on the wire (`Adapter.secretForms`, e.g. the base64 of Basic credentials), with the same
 * encodings. Longest first, so a longer form is replaced before a shorter one inside it.
 */
export function redactionForms(values: Iterable<string>, derived: Iterable<string> = []): string[] {
  const forms = new Set<string>();
  const add = (form: string) => {
    if (form.length >= MIN_SECRET_LENGTH) forms.add(form);
  };
  const encodings = (value: string) => {
    add(value);
    add(encodeURIComponent(value));
    add(new URLSearchParams({ v: value }).toString().slice(2));
    add(JSON.stringify(value).slice(1, -1));
  };
  for (const value of values) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    encodings(value);
    const base64 = Buffer.from(value).toString('base64');
    encodings(base64);
    add(base64.replace(/=+$/, ''));
  }
  for (const form of derived) {
    if (form.length < MIN_SECRET_LENGTH) continue;
    encodings(form);
    add(form.replace(/=+$/, ''));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * Replaces every occurrence of the given secret forms in `text` (see {@link redactionForms}; its URL-encoded form
 * is also looked for, for callers that pass bare values). A last line of defence for messages that come from SDKs
 * and servers, which may echo a request back.
 */
export function scrubSecrets(text: string, values: Iterable<string>): string {
  let result = text;
  for (const value of values) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    if (result.includes(value)) result = result.split(value).join(REDACTED);
    const encoded = encodeURIComponent(value);
    if (encoded !== value && result.includes(encoded)) result = result.split(encoded).join(REDACTED);
  }
  return result;
}

/** The longest provider-supplied text kept in an error message or a stored reason. */
export const MAX_PROVIDER_TEXT_LENGTH = 500;

/**
 * Scrubs, then shortens: the one order for provider text. Cutting first could leave part of a secret that
 * straddles the cut, which no scrubbing would then recognise.
 */
export function scrubThenShorten(
  text: string,
  forms: Iterable<string>,
  maxLength: number = MAX_PROVIDER_TEXT_LENGTH,
): string {
  const scrubbed = scrubSecrets(text, forms);
  return scrubbed.length > maxLength ? `${scrubbed.slice(0, maxLength - 1)}…` : scrubbed;
}
