import { MessagePipeError } from './errors';

/** Secret values of one config, keyed by dotted path (`apiKey`, `auth.pass`). */
export type SecretValues = Record<string, string>;

/**
 * Turns a config's secret values into the opaque text a store keeps, and back. The record id is passed so a
 * sealing codec can bind the text to its record.
 */
export interface SecretCodec {
  encode(values: SecretValues, recordId: string): string;
  decode(text: string, recordId: string): SecretValues;
}

const PLAIN_PREFIX = 'plain:';

/** Stores secret values as JSON, unencrypted: the default until keys are configured. */
export const plainSecretCodec: SecretCodec = {
  encode: (values) => PLAIN_PREFIX + JSON.stringify(values),
  decode: (text) => {
    if (!text.startsWith(PLAIN_PREFIX)) {
      throw new MessagePipeError('CONFIG_INVALID', 'Stored secrets are in an unknown format');
    }
    return JSON.parse(text.slice(PLAIN_PREFIX.length)) as SecretValues;
  },
};

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

/**
 * Replaces every occurrence of the given secret values in `text`. A last line of defence for messages that come
 * from SDKs and servers, which may echo a request back.
 */
export function scrubSecrets(text: string, values: Iterable<string>): string {
  let result = text;
  for (const value of values) {
    if (value.length < 4) continue;
    if (result.includes(value)) result = result.split(value).join(REDACTED);
    const encoded = encodeURIComponent(value);
    if (encoded !== value && result.includes(encoded)) result = result.split(encoded).join(REDACTED);
  }
  return result;
}
