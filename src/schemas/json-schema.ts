import { z } from 'zod';

/** A JSON Schema document (draft 2020-12), as produced by `z.toJSONSchema`. */
export type JsonSchema = { [key: string]: unknown };

const cache = new WeakMap<z.ZodType, JsonSchema>();

/**
 * JSON Schema of a config schema, for rendering forms: secrets carry `writeOnly: true`, defaults and descriptions
 * are kept. Computed once per schema; callers get a fresh copy they may change.
 */
export function toJsonSchema(schema: z.ZodType): JsonSchema {
  let json = cache.get(schema);
  if (!json) {
    json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    cache.set(schema, json);
  }
  return structuredClone(json);
}

const secretPathCache = new WeakMap<z.ZodType, readonly string[]>();

/**
 * Dotted paths of the fields marked secret in a config schema (e.g. `apiKey`, `auth.pass`). Derived from the
 * `writeOnly` mark that {@link secret} puts on a field, so there is one source of truth.
 */
export function secretPathsOf(schema: z.ZodType): readonly string[] {
  let paths = secretPathCache.get(schema);
  if (!paths) {
    const found = new Set<string>();
    collectSecretPaths(toJsonSchema(schema), '', found);
    paths = Object.freeze([...found]);
    secretPathCache.set(schema, paths);
  }
  return paths;
}

function collectSecretPaths(node: unknown, prefix: string, found: Set<string>): void {
  if (typeof node !== 'object' || node === null) return;
  const schema = node as JsonSchema;
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches)) for (const branch of branches) collectSecretPaths(branch, prefix, found);
  }
  const properties = schema.properties;
  if (typeof properties !== 'object' || properties === null) return;
  for (const [name, child] of Object.entries(properties as Record<string, JsonSchema>)) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (child.writeOnly === true) found.add(path);
    else collectSecretPaths(child, path, found);
  }
}
