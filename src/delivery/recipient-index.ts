import { stringHash } from './string-hash';

/** Bits of the filter per recipient, at least: below that it is rebuilt larger. */
const MIN_BITS_PER_RECIPIENT = 16;
const MIN_WORDS = 64;

/**
 * A map keyed by normalised recipient with a compact bit filter in front of it (a blocked Bloom filter: one 32-bit
 * word per recipient, two bits set in it). A send's check looks up recipients that are almost never on the list;
 * in a list of 100k entries a `Map` lookup that misses walks a bucket, an entry and a key string scattered over a
 * few megabytes, and the garbage every send leaves has pushed them out of the CPU caches: ~0.5 µs. The filter
 * answers "not on the list" from one word of a small table (256 KB for 100k entries); for under 2% of absent
 * recipients it lets the `Map` decide. Removals leave their bits set until the next rebuild: the filter may say
 * "maybe", never "no", for a key the map holds.
 */
export class RecipientIndex<V> extends Map<string, V> {
  #words = new Int32Array(MIN_WORDS);
  /** Right shift that turns a hash into a word index: 32 − log2(words). */
  #shift = 32 - Math.log2(MIN_WORDS);
  /** Removals since the last rebuild: their bits still count. */
  #removed = 0;

  /** Always empty at first: `Map`'s constructor would call {@link set} before the filter exists. */
  // biome-ignore lint/complexity/noUselessConstructor: it narrows the signature, which would otherwise take entries.
  constructor() {
    super();
  }

  override has(recipient: string): boolean {
    return this.mightHold(recipient) && super.has(recipient);
  }

  override get(recipient: string): V | undefined {
    return this.mightHold(recipient) ? super.get(recipient) : undefined;
  }

  override set(recipient: string, value: V): this {
    super.set(recipient, value);
    if (this.size > (this.#words.length * 32) / MIN_BITS_PER_RECIPIENT) this.#rebuild();
    else this.#mark(recipient);
    return this;
  }

  override delete(recipient: string): boolean {
    if (!super.delete(recipient)) return false;
    if (++this.#removed > this.size && this.#removed > MIN_WORDS) this.#rebuild();
    return true;
  }

  override clear(): void {
    super.clear();
    this.#rebuild();
  }

  /** @internal The filter's answer alone: `false` means certainly absent. */
  mightHold(recipient: string): boolean {
    const hash = stringHash(recipient);
    const mask = bitsOf(hash);
    return (this.#words[hash >>> this.#shift]! & mask) === mask;
  }

  #mark(recipient: string): void {
    const hash = stringHash(recipient);
    this.#words[hash >>> this.#shift]! |= bitsOf(hash);
  }

  /**
   * The smallest power-of-two table with {@link MIN_BITS_PER_RECIPIENT} bits per entry (so 16 to 32: under ~2% of
   * absent recipients pass); a growing list rebuilds each time it doubles.
   */
  #rebuild(): void {
    let words = MIN_WORDS;
    while (words * 32 < this.size * MIN_BITS_PER_RECIPIENT) words *= 2;
    this.#words = new Int32Array(words);
    this.#shift = 32 - Math.log2(words);
    this.#removed = 0;
    for (const recipient of this.keys()) this.#mark(recipient);
  }
}

function bitsOf(hash: number): number {
  return (1 << (hash & 31)) | (1 << ((hash >>> 5) & 31));
}
