import { randomUUID } from 'node:crypto';

/** Keys drawn from one random block before the next: well under the 2^48 the counter part could hold. */
const BLOCK = 0x10000;
const SUFFIX_SPACE = 2 ** 48;

let prefix = '';
let base = 0;
let used = BLOCK;

/**
 * A fresh idempotency key in UUID v4 form, unique like `randomUUID()` but cheaper on the send path: every 65,536
 * keys one random UUID supplies 74 random bits (its first 24 characters) and a random 48-bit start, and the keys of
 * that block count up from the start in the last 12 hex digits. Two keys of one block never collide; keys of two
 * blocks (or two processes) collide only when 74 random bits do.
 */
export function newIdempotencyKey(): string {
  if (used >= BLOCK) {
    const seed = randomUUID();
    prefix = seed.slice(0, 24);
    base = Number.parseInt(seed.slice(24), 16);
    used = 0;
  }
  const suffix = (base + used++) % SUFFIX_SPACE;
  return prefix + suffix.toString(16).padStart(12, '0');
}
