/** Bound on the groups of ties whose rotation is remembered (a process may serve many projects). */
const MAX_GROUPS = 10_000;

/** What tie spreading needs to know of a candidate. */
export interface SpreadCandidate {
  id: string;
  priority: number;
  /** Relative share among providers of the same priority. @default 1 */
  weight?: number;
}

function hasTies(candidates: readonly SpreadCandidate[]): boolean {
  for (let index = 1; index < candidates.length; index++) {
    if (candidates[index]!.priority === candidates[index - 1]!.priority) return true;
  }
  return false;
}

/**
 * Spreads sends across providers of equal priority with smooth weighted round robin (the nginx algorithm): over
 * any window, each provider goes first in proportion to its weight, and picks are interleaved rather than bursty.
 * Equal weights give plain round robin. Providers of different priorities are never reordered.
 */
export class TieSpreader {
  /** Per group of ties (scope + priority): the running "current weight" of each member. */
  readonly #groups = new Map<string, Map<string, number>>();

  /** The candidates (already ordered by priority) with each run of equal priorities rotated. */
  order<T extends SpreadCandidate>(
    projectId: string,
    channel: string,
    candidates: readonly T[],
  ): readonly T[] {
    if (!hasTies(candidates)) return candidates;
    // Built only when there are ties: most sends have none.
    const scope = `${projectId}\u0000${channel}`;
    const ordered: T[] = [];
    let start = 0;
    while (start < candidates.length) {
      let end = start + 1;
      while (end < candidates.length && candidates[end]!.priority === candidates[start]!.priority) end++;
      const group = candidates.slice(start, end);
      if (group.length === 1) ordered.push(group[0]!);
      else ordered.push(...this.#rotate(`${scope}\u0000${group[0]!.priority}`, group));
      start = end;
    }
    return ordered;
  }

  #rotate<T extends SpreadCandidate>(key: string, group: T[]): T[] {
    const previous = this.#groups.get(key);
    const current = new Map<string, number>();
    let total = 0;
    let picked = group[0]!;
    let best = Number.NEGATIVE_INFINITY;
    for (const candidate of group) {
      const weight = candidate.weight ?? 1;
      total += weight;
      const value = (previous?.get(candidate.id) ?? 0) + weight;
      current.set(candidate.id, value);
      if (value > best) {
        best = value;
        picked = candidate;
      }
    }
    current.set(picked.id, best - total);
    // Rebuilt each time, so members that left the group do not linger.
    if (!previous && this.#groups.size >= MAX_GROUPS) this.#groups.clear();
    this.#groups.set(key, current);
    return [picked, ...group.filter((candidate) => candidate !== picked)];
  }
}
