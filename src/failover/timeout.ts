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
 * scheduling costs no clock read of its own (fake timers move it too).
 *
 * The timer never holds the process open by itself (a script exits as soon as its sends are done), and toggling it
 * per entry costs more than the rest of the bookkeeping. Instead, when the process is about to exit with entries
 * still waiting (an adapter that holds no socket and never answers), `beforeExit` refs the timer, so those entries
 * still time out, as a timer per attempt would have made them.
 */
export class DeadlineTimers<T> {
  /** The entries waiting, as a doubly linked list: adding and removing one costs no hashing and no search. */
  #head: DeadlineSlot<T> | undefined = undefined;
  #tail: DeadlineSlot<T> | undefined = undefined;
  #size = 0;
  readonly #onDeadline: (entry: T) => void;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** When the timer fires; `Infinity` when it is not armed. */
  #armedFor = Number.POSITIVE_INFINITY;

  /** @param onDeadline called once for an entry whose deadline passed before it was deleted. */
  constructor(onDeadline: (entry: T) => void) {
    this.#onDeadline = onDeadline;
  }

  /** Schedules `entry`; the slot returned is what {@link delete} takes. */
  add(entry: T, deadline: number): DeadlineSlot<T> {
    // Appended, so entries due together fire in the order they were added.
    const slot = new DeadlineSlot(entry, deadline, this.#tail);
    if (this.#tail) this.#tail.next = slot;
    else this.#head = slot;
    this.#tail = slot;
    this.#size++;
    if (deadline < this.#armedFor) this.#arm(deadline);
    return slot;
  }

  /** Unschedules a slot (a no-op for one that already fired or was deleted). */
  delete(slot: DeadlineSlot<T>): void {
    if (!slot.waiting) return;
    slot.waiting = false;
    const { previous, next } = slot;
    if (previous) previous.next = next;
    else this.#head = next;
    if (next) next.previous = previous;
    else this.#tail = previous;
    slot.previous = slot.next = undefined;
    this.#size--;
  }

  /** Entries waiting. */
  get size(): number {
    return this.#size;
  }

  /** Called before the process exits: waiting entries keep it alive until their deadlines. */
  holdOpen(): void {
    if (this.#size > 0) this.#timer?.ref();
  }

  #arm(deadline: number): void {
    if (this.#timer === undefined) holdOpenBeforeExit(this);
    else clearTimeout(this.#timer);
    this.#armedFor = deadline;
    this.#timer = setTimeout(this.#fire, Math.max(1, deadline - performance.now()));
    this.#timer.unref?.();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    const due: DeadlineSlot<T>[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (let slot = this.#head; slot; slot = slot.next) {
      if (slot.deadline <= now) due.push(slot);
      else if (slot.deadline < next) next = slot.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
    // Callbacks run once the list is walked: one may add entries (arming the timer earlier if need be) or delete some.
    for (const slot of due) {
      if (!slot.waiting) continue;
      this.delete(slot);
      this.#onDeadline(slot.entry);
    }
    if (this.#timer === undefined) armed.delete(this);
  };
}

/** An entry's place on a {@link DeadlineTimers}. */
export class DeadlineSlot<T> {
  waiting = true;
  next: DeadlineSlot<T> | undefined = undefined;
  constructor(
    readonly entry: T,
    readonly deadline: number,
    public previous: DeadlineSlot<T> | undefined,
  ) {}
}

/** Every DeadlineTimers with a timer armed; one `beforeExit` listener serves them all. */
const armed = new Set<{ holdOpen(): void }>();
let listening = false;

function holdOpenBeforeExit(timers: { holdOpen(): void }): void {
  armed.add(timers);
  if (listening) return;
  listening = true;
  process.on('beforeExit', () => {
    for (const each of armed) each.holdOpen();
  });
}
