import { z } from 'zod';
import type { FailureClass } from '../errors';
import { RecordMap } from '../record-map';
import { parseOrThrow } from '../schemas/fields';

/** Options of the circuit breaker kept per provider config. */
export interface CircuitBreakerOptions {
  /** Consecutive transient or provider-level failures that open the circuit. @default 5 */
  failureThreshold?: number;
  /** How long an open circuit skips its provider before one probe is let through. @default 30000 */
  cooldownMs?: number;
}

/** State of one provider config's circuit, as plain data (export it to share it, restore it elsewhere). */
export interface BreakerState {
  state: 'closed' | 'open' | 'half-open';
  /** Consecutive transient or provider-level failures. */
  consecutiveFailures: number;
  /** Epoch ms when the circuit opened, while it is open or half-open. */
  openedAt?: number;
  /** Epoch ms when an open circuit lets a probe through. */
  retryAt?: number;
}

/**
 * One entry of `pipe.breakers.export()`: a provider config's circuit and the record it belongs to, as plain JSON.
 * Ids are unique within a project only, so every entry names its project.
 */
export interface BreakerSnapshot extends BreakerState {
  projectId: string;
  providerConfigId: string;
}

/** A state change, for events. */
export interface BreakerTransition {
  projectId: string;
  providerConfigId: string;
  from: BreakerState['state'];
  to: BreakerState['state'];
  state: BreakerState;
}

/** What the breaker says about trying a provider now. */
export type BreakerVerdict = 'allow' | 'probe' | 'skip';

/**
 * One circuit breaker per provider config. Closed: every send may try it. After `failureThreshold` consecutive
 * transient or provider-level failures it opens and the provider is skipped; after `cooldownMs` one probe goes
 * through (half-open) while others keep skipping it; the probe's success closes it, its failure opens it again.
 * Message-level failures never count: one bad recipient must not take a provider out.
 */
export class CircuitBreakers {
  readonly #states = new RecordMap<BreakerState & { probing?: boolean }>();
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  readonly #onTransition: (transition: BreakerTransition) => void;

  constructor(
    options: CircuitBreakerOptions,
    now: () => number,
    onTransition: (transition: BreakerTransition) => void,
  ) {
    this.#threshold = options.failureThreshold ?? 5;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#now = now;
    this.#onTransition = onTransition;
  }

  /** True when every circuit is closed and clean: the common case, checked before anything else. */
  get allClosed(): boolean {
    return this.#states.size === 0;
  }

  /** What a send would be told now, without changing anything. */
  peek(projectId: string, id: string): BreakerVerdict {
    if (this.#states.size === 0) return 'allow';
    const state = this.#states.get(projectId, id);
    if (!state || state.state === 'closed') return 'allow';
    if (state.probing) return 'skip';
    return state.state === 'half-open' || this.#now() >= (state.retryAt ?? 0) ? 'probe' : 'skip';
  }

  /** Asks to try a provider now; a `probe` answer reserves the one half-open trial for the caller. */
  acquire(projectId: string, id: string): BreakerVerdict {
    const verdict = this.peek(projectId, id);
    if (verdict !== 'probe') return verdict;
    const state = this.#states.get(projectId, id)!;
    if (state.state === 'open') this.#transition(projectId, id, state, 'half-open');
    state.probing = true;
    return 'probe';
  }

  /** Reserves a probe even while the cool-down runs: used when every candidate is open. */
  force(projectId: string, id: string): void {
    const state = this.#states.get(projectId, id);
    if (!state || state.state === 'closed') return;
    if (state.state === 'open') this.#transition(projectId, id, state, 'half-open');
    state.probing = true;
  }

  /** Records the outcome of an attempt that the breaker allowed. */
  record(projectId: string, id: string, failureClass: FailureClass | undefined): void {
    // A provider that answers, even with a refusal of the message, is up.
    const up = failureClass === undefined || failureClass === 'message';
    // A healthy provider has no state at all: nothing to build, nothing to clear.
    if (up && this.#states.size === 0) return;
    const known = this.#states.get(projectId, id);
    if (up && !known) return;
    const state = known ?? { state: 'closed' as const, consecutiveFailures: 0 };
    state.probing = false;
    if (up) {
      if (state.consecutiveFailures === 0 && state.state === 'closed') return;
      state.consecutiveFailures = 0;
      if (state.state !== 'closed') {
        delete state.openedAt;
        delete state.retryAt;
        this.#transition(projectId, id, state, 'closed');
      }
      this.#states.delete(projectId, id);
      return;
    }
    state.consecutiveFailures++;
    this.#states.set(projectId, id, state);
    if (
      state.state === 'half-open' ||
      (state.state === 'closed' && state.consecutiveFailures >= this.#threshold)
    ) {
      state.openedAt = this.#now();
      state.retryAt = state.openedAt + this.#cooldownMs;
      this.#transition(projectId, id, state, 'open');
    }
  }

  /** Gives back a probe reservation that was not used (the send ended before trying it). */
  release(projectId: string, id: string): void {
    const state = this.#states.get(projectId, id);
    if (state) state.probing = false;
  }

  /** When an open circuit lets a probe through; `0` when it is not open. */
  retryAt(projectId: string, id: string): number {
    const state = this.#states.get(projectId, id);
    return state?.state === 'open' ? (state.retryAt ?? 0) : 0;
  }

  /** One provider config's state. */
  state(projectId: string, id: string): BreakerState {
    return snapshotOf(this.#states.get(projectId, id));
  }

  /** Every circuit that is not closed and clean, with the record it belongs to. */
  export(): BreakerSnapshot[] {
    return [...this.#states.entries()].map(([projectId, providerConfigId, state]) => ({
      projectId,
      providerConfigId,
      ...snapshotOf(state),
    }));
  }

  /**
   * Replaces the states of the provider configs in `snapshot` (e.g. another process's export). The snapshot is
   * validated first (`CONFIG_INVALID` with paths; nothing is changed then), and times are clamped so that a
   * restored circuit opens for at most `cooldownMs` from now: a snapshot from a skewed clock, or a hand-written
   * one, can never keep a provider skipped for good.
   */
  restore(snapshot: unknown): void {
    const entries = parseOrThrow(snapshotSchema, snapshot, 'CONFIG_INVALID', 'breaker snapshot');
    const now = this.#now();
    for (const { projectId, providerConfigId, ...state } of entries) {
      if (state.state === 'closed' && state.consecutiveFailures === 0) {
        this.#states.delete(projectId, providerConfigId);
        continue;
      }
      const restored: BreakerState & { probing?: boolean } = {
        state: state.state,
        consecutiveFailures: state.consecutiveFailures,
        probing: false,
      };
      if (state.state !== 'closed') {
        restored.openedAt = Math.min(state.openedAt ?? now, now);
        if (state.state === 'open') {
          restored.retryAt = Math.min(state.retryAt ?? now, now + this.#cooldownMs);
        }
      }
      this.#states.set(projectId, providerConfigId, restored);
    }
  }

  /** Forgets a provider config (removed, or its config changed). */
  forget(projectId: string, id: string): void {
    this.#states.delete(projectId, id);
  }

  #transition(projectId: string, id: string, state: BreakerState, to: BreakerState['state']): void {
    const from = state.state;
    state.state = to;
    this.#onTransition({ projectId, providerConfigId: id, from, to, state: snapshotOf(state) });
  }
}

function snapshotOf(state: BreakerState | undefined): BreakerState {
  if (!state) return { state: 'closed', consecutiveFailures: 0 };
  const snapshot: BreakerState = { state: state.state, consecutiveFailures: state.consecutiveFailures };
  if (state.openedAt !== undefined) snapshot.openedAt = state.openedAt;
  if (state.retryAt !== undefined) snapshot.retryAt = state.retryAt;
  return snapshot;
}

const epochMs = z.number().min(0);

/** What `restore` accepts: the shape of `export()`, checked field by field. */
const snapshotSchema = z.array(
  z.object({
    projectId: z.string().min(1).max(200),
    providerConfigId: z.string().min(1).max(200),
    state: z.enum(['closed', 'open', 'half-open']),
    consecutiveFailures: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    openedAt: epochMs.optional(),
    retryAt: epochMs.optional(),
  }),
);
