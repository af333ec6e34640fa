/** FNV-1a's 32-bit offset basis: the seed of a hash that continues nothing. */
const FNV_OFFSET = 0x811c9dc5 | 0;

/**
 * FNV-1a, 32 bits, then MurmurHash3's finaliser: FNV's low bits depend only on the characters' low bits, and callers
 * take bits from anywhere in the hash (table positions, filter bits). `seed` continues another hash (a project's,
 * say), so a pair of strings is hashed without building their concatenation. Returned signed, so the value stays a small
 * integer: an unsigned one above 2³¹ would be boxed as a heap number wherever it is passed.
 */
export function stringHash(text: string, seed: number = FNV_OFFSET): number {
  let hash = seed;
  for (let index = 0; index < text.length; index++) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193);
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}
