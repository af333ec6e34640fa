import { ProviderError } from '../errors';

/** Options of {@link withTimeout}. */
export interface TimeoutOptions {
  timeoutMs: number;
  provider: string;
  /** The caller's signal: aborting it aborts the work too. */
  parent?: AbortSignal | undefined;
  /** Whether a timeout may have left the request delivered. @default true */
  ambiguousOnTimeout?: boolean;
  /** What a timeout rejects with, for work that is not a provider call. @default a `PROVIDER_TIMEOUT` */
  timeoutError?: () => unknown;
}

/**
 * Runs `work` with a signal that aborts after `timeoutMs` or when `parent` aborts, and settles as soon as either
 * happens, even if `work` ignores the signal. The signal is created on first use of `signal()`: an AbortSignal
 * costs microseconds to create, which adds up on a send path whose adapter never looks at it. A timeout rejects with a transient `PROVIDER_TIMEOUT`; marked
 * ambiguous when `ambiguousOnTimeout` says the request may already have reached the provider.
 */
export function withTimeout<T>(
  work: (signal: () => AbortSignal) => Promise<T>,
  { timeoutMs, provider, parent, ambiguousOnTimeout = true, timeoutError }: TimeoutOptions,
): Promise<T> {
  // One promise settled by whichever comes first: cheaper on the send path than racing several.
  return new Promise<T>((resolve, reject) => {
    if (parent?.aborted) return reject(parent.reason);
    let controller: AbortController | undefined;
    let abortReason: unknown;
    let aborted = false;
    let settled = false;
    const finish = () => {
      settled = true;
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    };
    const abort = (reason: unknown) => {
      if (settled) return;
      finish();
      aborted = true;
      abortReason = reason;
      controller?.abort(reason);
      reject(reason);
    };
    const onParentAbort = () => abort(parent?.reason);
    const timer = setTimeout(
      () =>
        abort(
          timeoutError
            ? timeoutError()
            : new ProviderError('PROVIDER_TIMEOUT', `${provider} did not answer within ${timeoutMs} ms`, {
                provider,
                ambiguous: ambiguousOnTimeout,
              }),
        ),
      timeoutMs,
    );
    parent?.addEventListener('abort', onParentAbort, { once: true });
    let pending: Promise<T>;
    try {
      pending = work(() => {
        if (!controller) {
          controller = new AbortController();
          if (aborted) controller.abort(abortReason);
        }
        return controller.signal;
      });
    } catch (error) {
      finish();
      return reject(error);
    }
    pending.then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
  });
}

/**
 * Many deadlines on one Node timer. A send path that arms and clears a `setTimeout` per attempt pays for a timer
 * object, a timer-list insert and an unenroll every time, although almost no attempt ever times out. Here an attempt
 * costs a map insert and delete; the single timer is armed for the earliest deadline and, when it fires early
 * (that entry settled in time), re-armed for the earliest one left. The work is bounded by the entries in flight,
 * never by the sends made.
 *
 * Deadlines are `performance.now()` times: the monotonic clock the attempt already reads for its duration, so
 * scheduling costs no clock read of its own (fake timers move it too). The timer holds the process open only while
 * an entry is waiting, as a timer per attempt would.
 */
export class DeadlineTimers<T> {
  readonly #deadlines = new Map<T, number>();
  readonly #onDeadline: (entry: T) => void;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When the timer fires; `Infinity` when it is not armed. */
  #armedFor = Number.POSITIVE_INFINITY;

  /** @param onDeadline called once for an entry whose deadline passed before it was deleted. */
  constructor(onDeadline: (entry: T) => void) {
    this.#onDeadline = onDeadline;
  }

  add(entry: T, deadline: number): void {
    const deadlines = this.#deadlines;
    deadlines.set(entry, deadline);
    if (deadline < this.#armedFor) this.#arm(deadline);
    else if (deadlines.size === 1) this.#timer?.ref();
  }

  delete(entry: T): void {
    const deadlines = this.#deadlines;
    if (deadlines.delete(entry) && deadlines.size === 0) this.#timer?.unref();
  }

  /** Entries waiting. */
  get size(): number {
    return this.#deadlines.size;
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = deadline;
    this.#timer = setTimeout(this.#fire, Math.max(1, deadline - performance.now()));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const deadlines = this.#deadlines;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [entry, deadline] of deadlines) {
      if (deadline <= now) {
        deadlines.delete(entry);
        this.#onDeadline(entry);
      } else if (deadline < next) {
        next = deadline;
      }
    }
    // A callback may have added entries (a map iterates over additions too) or removed some.
    if (deadlines.size > 0 && next < this.#armedFor) this.#arm(next);
  };
}
