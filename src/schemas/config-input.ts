import type { z } from 'zod';
import type { SecretMark } from './fields';

/**
 * Type-level view of a config schema, for typing what users write in `providers.add` and `providers.update`.
 * Nothing here exists at run time: the Zod schema still validates every config.
 */

/** Flattens an intersection into one object type, so editors show the fields rather than `A & B`. */
type Prettify<T> = { [K in keyof T]: T[K] } & {};

/** A config field may be wrapped; the mark of `secret()` and nested objects sit inside these wrappers. */
type Unwrapped<F> =
  F extends z.ZodOptional<infer Inner>
    ? Unwrapped<Inner>
    : F extends z.ZodDefault<infer Inner>
      ? Unwrapped<Inner>
      : F extends z.ZodPrefault<infer Inner>
        ? Unwrapped<Inner>
        : F extends z.ZodNullable<infer Inner>
          ? Unwrapped<Inner>
          : F extends z.ZodReadonly<infer Inner>
            ? Unwrapped<Inner>
            : F;

/** True for a field the user may leave out of a new config (optional or defaulted), as Zod decides it. */
type OptionalIn<F> = F extends { _zod: { optin: 'optional' | 'defaulted' } } ? true : false;

type IsSecret<F> = Unwrapped<F> extends SecretMark ? true : false;

/** A field that stays required in an update: required in a new config and not a secret. */
type RequiredInUpdate<F> = OptionalIn<F> extends true ? false : IsSecret<F> extends true ? false : true;

/**
 * One field of an update. A secret may be left out (the stored value is kept) and an optional secret may be
 * `null` (it is removed); a nested object (SMTP `auth`) follows the same rules for its own fields.
 */
type FieldUpdate<F> =
  IsSecret<F> extends true
    ? OptionalIn<F> extends true
      ? z.input<F> | null
      : z.input<F>
    : Unwrapped<F> extends z.ZodObject<infer Shape, infer Config>
      ? ShapeUpdate<Shape, Config['in']> | Exclude<z.input<F>, object>
      : z.input<F>;

type ShapeUpdate<Shape extends z.core.$ZodShape, Extra> = string extends keyof Shape
  ? Record<string, unknown>
  : Prettify<
      {
        -readonly [K in keyof Shape as RequiredInUpdate<Shape[K]> extends true ? K : never]: FieldUpdate<
          Shape[K]
        >;
      } & {
        -readonly [K in keyof Shape as RequiredInUpdate<Shape[K]> extends true ? never : K]?: FieldUpdate<
          Shape[K]
        >;
      } & Extra
    >;

/** A schema's input, or any object when the schema does not say (an adapter without a `configSchema`). */
type OrAnyConfig<T> = unknown extends T ? Record<string, unknown> : T;

/** What a user writes as a new config for this schema: `z.input`, so defaulted fields are optional. */
export type ConfigInput<S extends z.ZodType> = OrAnyConfig<z.input<S>>;

/**
 * What a user writes as `config` in `providers.update` for this schema: a new config in which every field marked
 * with `secret()` may be left out to keep the stored value, and an optional secret may be `null` to remove it.
 * Other fields are as in a new config, since an update replaces the rest of the config.
 */
export type ConfigUpdateInput<S extends z.ZodType> =
  S extends z.ZodObject<infer Shape, infer Config>
    ? ShapeUpdate<Shape, Config['in']>
    : // Unions and other shapes: no field-wise view, so the plain input.
      ConfigInput<S>;
