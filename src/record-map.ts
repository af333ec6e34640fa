/**
 * Values kept per provider record. A record is identified by `(projectId, id)`: ids are unique within a project
 * only (a copy of rows, or a custom store, can give two projects the same id), so nothing cached per record may be
 * keyed by its id alone. Nested maps rather than a composite key, so a lookup on the send path builds no string.
 */
export class RecordMap<V> {
  readonly #projects = new Map<string, Map<string, V>>();
  #size = 0;

  /** Entries held, over every project. */
  get size(): number {
    return this.#size;
  }

  get(projectId: string, id: string): V | undefined {
    return this.#projects.get(projectId)?.get(id);
  }

  set(projectId: string, id: string, value: V): void {
    let records = this.#projects.get(projectId);
    if (!records) {
      records = new Map();
      this.#projects.set(projectId, records);
    }
    if (!records.has(id)) this.#size++;
    records.set(id, value);
  }

  delete(projectId: string, id: string): boolean {
    const records = this.#projects.get(projectId);
    if (!records?.delete(id)) return false;
    this.#size--;
    if (records.size === 0) this.#projects.delete(projectId);
    return true;
  }

  /** Removes the entry that has been held longest (the first of the first project), for bounding the map. */
  deleteOldest(): void {
    const first = this.#projects.entries().next();
    if (first.done) return;
    const [projectId, records] = first.value;
    this.delete(projectId, records.keys().next().value!);
  }

  clear(): void {
    this.#projects.clear();
    this.#size = 0;
  }

  /** Every entry as `[projectId, id, value]`. */
  *entries(): IterableIterator<[string, string, V]> {
    for (const [projectId, records] of this.#projects) {
      for (const [id, value] of records) yield [projectId, id, value];
    }
  }
}
