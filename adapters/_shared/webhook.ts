/** Pieces every provider's webhook verifier shares. Only `node:crypto`: no SDK verifies anything here. */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookVerdict } from 'messagepipe';

/** A refusal: 401 and no event. */
export function unauthorized(reason: string): WebhookVerdict {
  return { ok: false, status: 401, reason };
}

/** A verified request whose body cannot be read: 400. */
export function unreadable(reason: string): WebhookVerdict {
  return { ok: false, status: 400, reason };
}

/** Constant-time comparison of two texts (of any length: the lengths are not secret, the contents are). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    // Compare anyway, so a wrong length costs the same time as a wrong value.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/** Constant-time comparison of two byte strings. */
export function safeEqualBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** HMAC of `data` with `key`, in `encoding`. */
export function hmac(
  algorithm: 'sha1' | 'sha256' | 'sha512',
  key: string,
  data: string | Buffer,
  encoding: 'hex' | 'base64',
): string {
  return createHmac(algorithm, key).update(data).digest(encoding);
}

/** JSON of a verified body, or `undefined` when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A plain object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string field, or `undefined`. Numbers are kept as their digits (Termii's `message_id` can be a number). */
export function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** `application/x-www-form-urlencoded` pairs, in order, repeated keys kept. */
export function parseForm(body: Buffer): Array<[string, string]> {
  return [...new URLSearchParams(body.toString('utf8')).entries()];
}

/** Epoch seconds (number or digits) as milliseconds, or `undefined`. */
export function secondsToMs(value: unknown): number | undefined {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : undefined;
}
