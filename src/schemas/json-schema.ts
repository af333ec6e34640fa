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

/** Where a config schema marks its secret fields and the fields that decide where the credentials go. */
export interface MarkedPaths {
  /** Dotted paths of the fields marked with `secret()` (e.g. `apiKey`, `auth.pass`). */
  secrets: readonly string[];
  /** Dotted paths of the fields marked with `credentialTarget()` (e.g. `endpoint`, `host`). */
  credentialTargets: readonly string[];
  /**
   * Problems with the marks: a secret inside an array, a record or a `$ref`, or a secret that is not a string.
   * Such a secret could not be kept apart from the rest of the config, so a schema with any is refused.
   */
  problems: readonly string[];
}

const markedPathCache = new WeakMap<z.ZodType, MarkedPaths>();

/**
 * The marked fields of a config schema, derived from the JSON Schema marks that {@link secret} (`writeOnly`) and
 * {@link credentialTarget} (`x-credential-target`) put on them, so the schema is the one source of truth.
 */
export function markedPathsOf(schema: z.ZodType): MarkedPaths {
  let marked = markedPathCache.get(schema);
  if (!marked) {
    const found = {
      secrets: new Set<string>(),
      credentialTargets: new Set<string>(),
      problems: new Set<string>(),
    };
    collectMarks(toJsonSchema(schema), '', false, found);
    marked = Object.freeze({
      secrets: Object.freeze([...found.secrets]),
      credentialTargets: Object.freeze([...found.credentialTargets]),
      problems: Object.freeze([...found.problems]),
    });
    markedPathCache.set(schema, marked);
  }
  return marked;
}

/** Dotted paths of the fields marked secret in a config schema (e.g. `apiKey`, `auth.pass`). */
export function secretPathsOf(schema: z.ZodType): readonly string[] {
  return markedPathsOf(schema).secrets;
}

function collectMarks(
  node: unknown,
  prefix: string,
  inCollection: boolean,
  found: { secrets: Set<string>; credentialTargets: Set<string>; problems: Set<string> },
): void {
  if (typeof node !== 'object' || node === null) return;
  const schema = node as JsonSchema;
  if (schema.writeOnly === true) {
    if (inCollection)
      found.problems.add(`${prefix || '(root)'}: secret() inside an array, a record or a $ref`);
    else if (schema.type !== 'string')
      found.problems.add(`${prefix || '(root)'}: secret() on a field that is not a string`);
    else found.secrets.add(prefix);
    return;
  }
  if (schema['x-credential-target'] === true && !inCollection && prefix) found.credentialTargets.add(prefix);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches))
      for (const branch of branches) collectMarks(branch, prefix, inCollection, found);
  }
  // Inside these, a field has no fixed dotted path: secrets there cannot be split off the config.
  for (const key of ['items', 'additionalProperties', 'not'] as const)
    collectMarks(schema[key], prefix, true, found);
  for (const key of ['prefixItems'] as const) {
    const items = schema[key];
    if (Array.isArray(items)) for (const item of items) collectMarks(item, prefix, true, found);
  }
  for (const key of ['$defs', 'definitions'] as const) {
    const defs = schema[key];
    if (typeof defs === 'object' && defs !== null) {
      for (const def of Object.values(defs as Record<string, unknown>))
        collectMarks(def, prefix, true, found);
    }
  }
  const properties = schema.properties;
  if (typeof properties !== 'object' || properties === null) return;
  for (const [name, child] of Object.entries(properties as Record<string, JsonSchema>)) {
    collectMarks(child, prefix ? `${prefix}.${name}` : name, inCollection, found);
  }
}
