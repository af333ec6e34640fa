import pRetry, { AbortError } from 'p-retry';
import { MessagePipeError, ProviderError } from '../errors';
import type { DispatcherEvents, Emitter, SendEventBase } from '../events';
import { RecordMap } from '../record-map';
import type { Now } from '../store/send-path';
import type { Attempt } from '../types';
import { type BreakerTransition, type CircuitBreakerOptions, CircuitBreakers } from './breaker';
import { type SpreadCandidate, TieSpreader } from './spread';
import { StatsRecorder } from './stats';

/** How transient failures are retried on the same provider before the dispatcher moves on. */
export interface RetryOptions {
  /** Retries after the first try, per provider. @default 2 */
  retries?: number;
  /** Delay before the first retry, in ms. @default 250 */
  minDelayMs?: number;
  /** Upper bound of the backoff delay, in ms (a longer Retry-After is still honoured). @default 5000 */
  maxDelayMs?: number;
  /** Growth of the delay from one retry to the next. @default 2 */
  factor?: number;
  /** Randomise each delay between 1× and 2× so many senders do not retry in step. @default true */
  jitter?: boolean;
}

/** The failover policy of a dispatcher. */
export interface FailoverPolicy {
  /** Overall budget of one send, retries and failovers included, in ms. */
  sendTimeoutMs: number;
  retry: RetryOptions | false;
  circuitBreaker: CircuitBreakerOptions | false;
  /**
   * What to do after a timeout that may have delivered the message (the request had left): `failover` tries the
   * next provider (possibly a duplicate, never a loss); `stop` ends the send (possibly a loss, never a duplicate).
   */
  onAmbiguousTimeout: 'failover' | 'stop';
}

/** A provider record as the engine sees it. */
export interface EngineCandidate extends SpreadCandidate {
  provider: string;
}

/**
 * The result of one call to a provider. Throws only when the caller aborted the send. `startedAt` is the
 * `performance.now()` reading the budget was taken from: the attempt starts then, without a clock read of its own.
 */
export type AttemptRunner<C> = (
  candidate: C,
  budgetMs: number,
  attemptNumber: number,
  startedAt: number,
) => Promise<{ attempt: Attempt; error?: ProviderError }>;

/** What one attempt reports to the engine. */
type AttemptOutcomeOf = Awaited<ReturnType<AttemptRunner<EngineCandidate>>>;

/** One send's way through its candidates. */
interface EngineRun<C> {
  readonly base: SendEventBase;
  readonly ordered: readonly C[];
  readonly runAttempt: AttemptRunner<C>;
  readonly signal: AbortSignal | undefined;
  readonly deadline: number;
  /** A clock reading still current for the next attempt's budget, once. */
  clock: number | undefined;
  readonly attempts: Attempt[];
  /** The candidate tried despite its open circuit, when every circuit is open. */
  readonly forced: string | undefined;
  /** The candidate being tried. */
  index: number;
}

/** How a send ended, as far as the engine is concerned. */
export type EngineOutcome<C> =
  | { ok: true; candidate: C; attempt: Attempt; attempts: Attempt[] }
  | { ok: false; error: MessagePipeError; attempts: Attempt[] };

/**
 * The failover engine: orders candidates (spreading ties), consults the circuit breakers, retries transient
 * failures with backoff and Retry-After inside the send deadline, and decides when to move on or stop.
 * One attempt at a time is delegated to the dispatcher, which owns adapters, configs and timeouts.
 */
export class FailoverEngine {
  readonly #policy: FailoverPolicy;
  readonly #events: Emitter<DispatcherEvents>;
  readonly #spreader = new TieSpreader();
  readonly #stats = new StatsRecorder();
  readonly #breakers: CircuitBreakers | undefined;
  /** Provider name of each config the breakers know, for breaker events. */
  readonly #providerNames = new RecordMap<string>();

  /** @param now the breakers' wall clock (their cool-downs are exported as epoch times). */
  constructor(policy: FailoverPolicy, events: Emitter<DispatcherEvents>, now: () => number = Date.now) {
    this.#policy = policy;
    this.#events = events;
    this.#breakers = policy.circuitBreaker
      ? new CircuitBreakers(policy.circuitBreaker, now, (transition) => this.#onTransition(transition))
      : undefined;
  }

  /** Per provider config counters and latency percentiles. */
  get stats(): StatsRecorder {
    return this.#stats;
  }

  /** The circuit breakers, or undefined when they are turned off. */
  get breakers(): CircuitBreakers | undefined {
    return this.#breakers;
  }

  /** Forgets what is known of a provider config (its config changed or it was removed). */
  forget(projectId: string, providerConfigId: string): void {
    this.#breakers?.forget(projectId, providerConfigId);
    this.#stats.forget(projectId, providerConfigId);
    this.#providerNames.delete(projectId, providerConfigId);
  }

  /** The deadline of a send that starts now. */
  deadlineFromNow(): number {
    return performance.now() + this.#policy.sendTimeoutMs;
  }

  /**
   * The clock of send deadlines and attempt times: `performance.now()`, monotonic, so a wall-clock change never
   * stretches or cuts a send, and the one reading a send starts with also starts its first attempt.
   */
  now(): number {
    return performance.now();
  }

  /** The deadline of a send that started at `startedAt`, an engine clock reading. */
  deadlineFrom(startedAt: number): number {
    return startedAt + this.#policy.sendTimeoutMs;
  }

  /** Time left until `deadline`, in ms. */
  remaining(deadline: number): number {
    return deadline - performance.now();
  }

  /**
   * Runs a send through its candidates. `deadline` is when the send started plus `sendTimeoutMs`, so whatever
   * the send awaited before (store reads) counts against it too. `clock`, when given, is a clock reading that is
   * still current (nothing was awaited since): the first attempt's budget is taken from it, not from a new reading.
   *
   * A chain of `then`s rather than an `async` loop: an async frame keeps its whole register file and a pair of
   * resume closures per await, garbage every send would leave (with the dispatcher's, 3.9 → 3.2 KB per send).
   */
  run<C extends EngineCandidate>(
    base: SendEventBase,
    candidates: readonly C[],
    runAttempt: AttemptRunner<C>,
    signal: AbortSignal | undefined,
    deadline: number = this.deadlineFromNow(),
    clock?: number,
  ): Promise<EngineOutcome<C>> {
    try {
      const ordered = this.#spreader.order(base.projectId, base.channel, candidates);
      const run: EngineRun<C> = {
        base,
        ordered,
        runAttempt,
        signal,
        deadline,
        clock,
        attempts: [],
        forced: this.#forcedProbe(base.projectId, ordered),
        index: 0,
      };
      const next = this.#next(run);
      return next instanceof Promise ? next : Promise.resolve(next);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Skips the candidates whose circuit is open, from `run.index` on, and tries the first one that is not. */
  #next<C extends EngineCandidate>(run: EngineRun<C>): Now<EngineOutcome<C>> {
    // Every candidate belongs to the send's project: breakers and stats are kept per (project, id).
    const { base, ordered, attempts } = run;
    const { projectId } = base;
    for (; run.index < ordered.length; run.index++) {
      const candidate = ordered[run.index]!;
      // Only a circuit with state can change here (open → half-open), and its event names the provider.
      if (this.#breakers && !this.#breakers.allClosed) this.#nameForBreaker(projectId, candidate);
      const forced = run.forced === candidate.id;
      const verdict = forced ? 'probe' : (this.#breakers?.acquire(projectId, candidate.id) ?? 'allow');
      if (forced) this.#breakers?.force(projectId, candidate.id);
      if (verdict === 'skip') {
        const retryAt = this.#breakers?.retryAt(projectId, candidate.id) ?? 0;
        this.#record(base, attempts, skippedAttempt(candidate, retryAt));
        continue;
      }
      const now = run.clock ?? performance.now();
      run.clock = undefined;
      // A rejection means the caller aborted (a throw, a listener's logger that failed). A probe that never reached
      // the provider gives its reservation back, or the breaker would wait for its outcome forever and skip the
      // provider from then on.
      const giveBack = (thrown: unknown): never => {
        if (verdict === 'probe') this.#breakers?.release(projectId, candidate.id);
        throw thrown;
      };
      let pending: ReturnType<AttemptRunner<C>>;
      try {
        pending = run.runAttempt(candidate, Math.max(1, run.deadline - now), attempts.length + 1, now);
      } catch (thrown) {
        return giveBack(thrown);
      }
      return pending.then(
        (outcome) => this.#afterAttempt(run, candidate, verdict === 'probe', outcome),
        giveBack,
      );
    }
    const error = new MessagePipeError('ALL_PROVIDERS_FAILED', summarise(attempts), { attempts });
    return { ok: false, error, attempts };
  }

  /** Records a candidate's first try; a retryable failure enters the retry machinery, the rest decide at once. */
  #afterAttempt<C extends EngineCandidate>(
    run: EngineRun<C>,
    candidate: C,
    probe: boolean,
    outcome: AttemptOutcomeOf,
  ): Now<EngineOutcome<C>> {
    const { base } = run;
    const { projectId } = base;
    this.#record(base, run.attempts, outcome.attempt);
    // A message over the provider's limits never reached it: that says nothing about its health. (Such a
    // refusal is provider-level, so it never reaches the retries below.)
    if (outcome.error?.code === 'PROVIDER_LIMIT_EXCEEDED') this.#breakers?.release(projectId, candidate.id);
    else this.#recordBreaker(projectId, candidate, outcome.error);
    const { error } = outcome;
    if (error && this.#retries() > 0 && this.#retryable(error, projectId, candidate.id, probe)) {
      return this.#retry(base, candidate, error, run.attempts, run.deadline, run.runAttempt, run.signal).then(
        (last) => this.#decide(run, candidate, last),
      );
    }
    return this.#decide(run, candidate, error);
  }

  /** After a candidate's last try: the send succeeded, stops here, or fails over to the next candidate. */
  #decide<C extends EngineCandidate>(
    run: EngineRun<C>,
    candidate: C,
    error: ProviderError | undefined,
  ): Now<EngineOutcome<C>> {
    const { base, attempts } = run;
    if (!error) return { ok: true, candidate, attempt: attempts[attempts.length - 1]!, attempts };
    if (error.failureClass === 'message') return { ok: false, error: stopWith(error, attempts), attempts };
    if (error.ambiguous && this.#policy.onAmbiguousTimeout === 'stop') {
      return { ok: false, error: stopWith(error, attempts), attempts };
    }
    if (performance.now() >= run.deadline - MIN_ATTEMPT_MS) {
      const message = `${summarise(attempts)}; the send deadline of ${this.#policy.sendTimeoutMs} ms passed`;
      return {
        ok: false,
        error: new MessagePipeError('ALL_PROVIDERS_FAILED', message, { attempts }),
        attempts,
      };
    }
    run.index++;
    const next = run.ordered[run.index];
    if (next && this.#events.has('failover')) {
      this.#events.emit('failover', {
        projectId: base.projectId,
        channel: base.channel,
        idempotencyKey: base.idempotencyKey,
        from: attempts[attempts.length - 1]!,
        toProviderConfigId: next.id,
        toProvider: next.provider,
      });
    }
    return this.#next(run);
  }

  /** When every candidate's circuit is open, the one whose cool-down ends first is tried anyway. */
  #forcedProbe(projectId: string, ordered: readonly EngineCandidate[]): string | undefined {
    const breakers = this.#breakers;
    if (!breakers || breakers.allClosed) return undefined;
    for (const candidate of ordered) if (breakers.peek(projectId, candidate.id) !== 'skip') return undefined;
    let earliest = ordered[0];
    let earliestAt = Number.POSITIVE_INFINITY;
    for (const candidate of ordered) {
      // 0 means half-open with a probe under way: not a candidate for another probe.
      const retryAt = breakers.retryAt(projectId, candidate.id);
      if (retryAt > 0 && retryAt < earliestAt) {
        earliest = candidate;
        earliestAt = retryAt;
      }
    }
    return earliest?.id;
  }

  #retries(): number {
    const retry = this.#policy.retry;
    return retry ? (retry.retries ?? 2) : 0;
  }

  /** Retries a transient failure of one provider; resolves with the last error, or undefined on success. */
  async #retry<C extends EngineCandidate>(
    base: SendEventBase,
    candidate: C,
    first: ProviderError,
    attempts: Attempt[],
    deadline: number,
    runAttempt: AttemptRunner<C>,
    signal: AbortSignal | undefined,
  ): Promise<ProviderError | undefined> {
    const retry = this.#policy.retry as RetryOptions;
    const retries = this.#retries();
    const attemptOnce = async (): Promise<ProviderError | undefined> => {
      let next: Awaited<ReturnType<AttemptRunner<C>>>;
      try {
        const now = performance.now();
        next = await runAttempt(candidate, Math.max(1, deadline - now), attempts.length + 1, now);
      } catch (aborted) {
        throw new AbortError(aborted as Error);
      }
      this.#record(base, attempts, next.attempt);
      this.#recordBreaker(base.projectId, candidate, next.error);
      return next.error;
    };
    let previous = first;
    let retryNumber = 0;
    try {
      await pRetry(
        async () => {
          retryNumber++;
          const delayMs = backoffDelay(retry, retryNumber, previous.retryAfterMs);
          // Waiting past the deadline helps nobody: fail over to the next provider instead.
          if (performance.now() + delayMs >= deadline - MIN_ATTEMPT_MS) throw new AbortError(previous);
          if (this.#events.has('retry:scheduled')) {
            this.#events.emit('retry:scheduled', {
              projectId: base.projectId,
              channel: base.channel,
              idempotencyKey: base.idempotencyKey,
              attempt: attempts[attempts.length - 1]!,
              delayMs,
              retryNumber,
            });
          }
          await sleep(delayMs, signal);
          const error = await attemptOnce();
          if (!error) return;
          previous = error;
          // Probes are never retried, so this is not one.
          if (!this.#retryable(error, base.projectId, candidate.id, false)) throw new AbortError(error);
          throw error;
        },
        // Delays are computed above, where Retry-After and the deadline are known.
        { retries: retries - 1, minTimeout: 0, factor: 1, signal },
      );
      return undefined;
    } catch (error) {
      if (error instanceof ProviderError) return error;
      throw error;
    }
  }

  #retryable(error: ProviderError, projectId: string, providerConfigId: string, probe: boolean): boolean {
    if (probe || error.failureClass !== 'transient' || error.ambiguous) return false;
    // A circuit that just opened means the provider is down: move on rather than keep hammering it.
    return (this.#breakers?.state(projectId, providerConfigId).state ?? 'closed') === 'closed';
  }

  /**
   * Tells the candidate's breaker how its attempt went. A failure may open it, and a success close a circuit that
   * has state (perhaps restored from another process while the attempt ran): either event names the provider.
   */
  #recordBreaker(projectId: string, candidate: EngineCandidate, error: ProviderError | undefined): void {
    if (!this.#breakers) return;
    if (error || !this.#breakers.allClosed) this.#nameForBreaker(projectId, candidate);
    this.#breakers.record(projectId, candidate.id, error?.failureClass);
  }

  /** Keeps the provider name of a config whose breaker has (or is about to have) state, for breaker events. */
  #nameForBreaker(projectId: string, candidate: EngineCandidate): void {
    if (this.#providerNames.get(projectId, candidate.id) === candidate.provider) return;
    if (this.#providerNames.size >= MAX_TRACKED_CONFIGS) this.#providerNames.clear();
    this.#providerNames.set(projectId, candidate.id, candidate.provider);
  }

  #record(base: SendEventBase, attempts: Attempt[], attempt: Attempt): void {
    attempts.push(attempt);
    this.#stats.record(base.projectId, attempt);
    if (attempt.outcome === 'skipped' && this.#events.has('attempt:finish')) {
      this.#events.emit('attempt:finish', {
        projectId: base.projectId,
        channel: base.channel,
        idempotencyKey: base.idempotencyKey,
        attempt,
        attemptNumber: attempts.length,
      });
    }
  }

  #onTransition({ projectId, providerConfigId, to, state }: BreakerTransition): void {
    const event = to === 'open' ? 'breaker:open' : to === 'half-open' ? 'breaker:half-open' : 'breaker:close';
    this.#events.emit(event, {
      projectId,
      providerConfigId,
      provider: this.#providerNames.get(projectId, providerConfigId) ?? 'unknown',
      state,
    });
  }
}

/**
 * Less time than this left in the send is not worth an attempt: it would time out before the provider could answer,
 * and be recorded as an ambiguous timeout although no request left.
 */
const MIN_ATTEMPT_MS = 50;

/** Bound on the provider configs whose names are kept for breaker events. */
const MAX_TRACKED_CONFIGS = 10_000;

/** Exponential backoff with optional jitter, never shorter than the provider's Retry-After. */
export function backoffDelay(
  retry: RetryOptions,
  retryNumber: number,
  retryAfterMs: number | undefined,
): number {
  const base = Math.min(
    retry.maxDelayMs ?? 5000,
    (retry.minDelayMs ?? 250) * (retry.factor ?? 2) ** (retryNumber - 1),
  );
  const jittered =
    retry.jitter === false ? base : Math.min(retry.maxDelayMs ?? 5000, base * (1 + Math.random()));
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}

/** The last skip message built: every send skipped within one cool-down shares it. */
let lastSkip = { retryAt: Number.NaN, message: '' };

function skippedAttempt(candidate: EngineCandidate, retryAt: number): Attempt {
  if (lastSkip.retryAt !== retryAt) {
    const until = retryAt > 0 ? ` until ${new Date(retryAt).toISOString()}` : ' (a probe is under way)';
    lastSkip = { retryAt, message: `Circuit open${until}` };
  }
  return {
    providerConfigId: candidate.id,
    provider: candidate.provider,
    outcome: 'skipped',
    error: { code: 'CIRCUIT_OPEN', failureClass: 'transient', message: lastSkip.message },
    durationMs: 0,
  };
}

/** The error that ends a send early, carrying every attempt. */
function stopWith(error: ProviderError, attempts: Attempt[]): ProviderError {
  return new ProviderError(error.code, error.message, {
    provider: error.provider,
    status: error.status,
    providerCode: error.providerCode,
    ambiguous: error.ambiguous,
    attempts,
  });
}

function summarise(attempts: Attempt[]): string {
  const parts = attempts.map((attempt) => `${attempt.provider}: ${attempt.error?.code ?? attempt.outcome}`);
  return `Every provider failed (${parts.join(', ')})`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
