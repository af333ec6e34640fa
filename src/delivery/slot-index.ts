/** Table size, at least: a power of two. */
const MIN_POSITIONS = 16;

/**
 * Which slots of the message log's ring hold a key (a correlation id, an idempotency key), by the key's hash: an
 * open-addressing table of two typed arrays (hash, slot), linear probing, kept at most half full. A send adds to it and
 * the send it evicts is taken out of it; with a `Map` keyed by strings each of those walked a bucket, an entry and a
 * key string spread over megabytes the CPU caches no longer held (some 4 µs per send with 100k sends kept). Here each
 * is one probe in a compact table. Several slots may share a hash (one key sent twice, or two keys that collide): the
 * caller tells them apart by the records themselves.
 */
export class SlotIndex {
  /** The hash stored at each position; 0 marks an empty one (a hash of 0 is stored as 1). */
  #hashes = new Int32Array(MIN_POSITIONS);
  #slots = new Int32Array(MIN_POSITIONS);
  #mask = MIN_POSITIONS - 1;
  #size = 0;

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** Stores `slot` under `hash`; the table doubles before it would be more than half full. */
  add(hash: number, slot: number): void {
    if ((this.#size + 1) * 2 > this.#hashes.length) this.#grow();
    this.#place(stored(hash), slot);
    this.#size++;
  }

  /** Takes out the entry of `slot` under `hash`, if there is one. */
  delete(hash: number, slot: number): void {
    const hashes = this.#hashes;
    const slots = this.#slots;
    const mask = this.#mask;
    const wanted = stored(hash);
    let position = wanted & mask;
    while (hashes[position] !== 0) {
      if (hashes[position] === wanted && slots[position] === slot) {
        this.#shiftBack(position);
        this.#size--;
        return;
      }
      position = (position + 1) & mask;
    }
  }

  /**
   * A position holding `hash`, the first one after `after` in its probe run (from the start of the run when `after`
   * is -1), or -1 when there is none: `for (let at = index.next(hash, -1); at !== -1; at = index.next(hash, at))`
   * visits every slot stored under `hash` ({@link slotAt}), without a callback to allocate.
   */
  next(hash: number, after: number): number {
    const hashes = this.#hashes;
    const mask = this.#mask;
    const wanted = stored(hash);
    for (let position = after === -1 ? wanted & mask : (after + 1) & mask; hashes[position] !== 0; ) {
      if (hashes[position] === wanted) return position;
      position = (position + 1) & mask;
    }
    return -1;
  }

  /** The slot stored at a position {@link next} returned. */
  slotAt(position: number): number {
    return this.#slots[position]!;
  }

  #place(hash: number, slot: number): void {
    const hashes = this.#hashes;
    let position = hash & this.#mask;
    while (hashes[position] !== 0) position = (position + 1) & this.#mask;
    hashes[position] = hash;
    this.#slots[position] = slot;
  }

  /**
   * Empties `position` without leaving a hole in any probe sequence (backward-shift deletion): each entry after it,
   * up to the next empty position, moves back into the gap unless its home position lies cyclically after the gap.
   */
  #shiftBack(gap: number): void {
    const hashes = this.#hashes;
    const slots = this.#slots;
    const mask = this.#mask;
    let next = (gap + 1) & mask;
    while (hashes[next] !== 0) {
      const home = hashes[next]! & mask;
      // Distance from home to `next` against the gap's distance to `next`: the entry may move back iff its home is
      // not after the gap.
      if (((next - home) & mask) >= ((next - gap) & mask)) {
        hashes[gap] = hashes[next]!;
        slots[gap] = slots[next]!;
        gap = next;
      }
      next = (next + 1) & mask;
    }
    hashes[gap] = 0;
  }

  #grow(): void {
    const hashes = this.#hashes;
    const slots = this.#slots;
    this.#hashes = new Int32Array(hashes.length * 2);
    this.#slots = new Int32Array(hashes.length * 2);
    this.#mask = this.#hashes.length - 1;
    for (let position = 0; position < hashes.length; position++) {
      if (hashes[position] !== 0) this.#place(hashes[position]!, slots[position]!);
    }
  }
}

/** The hash as stored: never 0, which marks an empty position. */
function stored(hash: number): number {
  return hash === 0 ? 1 : hash;
}
