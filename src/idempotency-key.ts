import { randomUUID } from 'node:crypto';

/** Keys drawn from one random UUID before the next: the last four hex digits count through them. */
const BLOCK = 0x10000;

/** `00`…`ff`: two hex digits per byte, so a key is two lookups and a concatenation, not a number formatted. */
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

let prefix = '';
let used = BLOCK;

/**
 * A fresh idempotency key in UUID v4 form, unique like `randomUUID()` but cheaper on the send path: every 65,536
 * keys one random UUID supplies the first 32 characters (106 random bits), and the keys of that block count up in
 * the last four hex digits. Two keys of one block never collide; keys of two blocks (or two processes) collide only
 * when 106 random bits do.
 */
export function newIdempotencyKey(): string {
  if (used >= BLOCK) {
    prefix = randomUUID().slice(0, 32);
    used = 0;
  }
  const counter = used++;
  return prefix + HEX[counter >> 8] + HEX[counter & 0xff];
}
