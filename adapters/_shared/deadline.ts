import { type AdapterCallContext, isProviderError, ProviderError } from 'messagepipe';

/**
 * The dispatcher's default time budget of one provider call. SDK clients kept across sends take their own
 * timeout from the config's `timeoutMs`, else at least this: never from one send's remaining budget.
 */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 15_000;

/** Options of {@link withDeadline}. */
export interface DeadlineOptions {
  /** Provider name, for the error. */
  provider: string;
  /**
   * Whether a request cut short may already have reached the provider: `true` for sends (none of the send APIs
   * is idempotent), `false` for read-only calls such as `verify` and `domains`.
   */
  ambiguous: boolean;
}

/**
 * Runs one provider call under the context's abort signal and time budget. `work` gets a signal that aborts when
 * `ctx.signal` does or `ctx.timeoutMs` runs out: pass it to the SDK where it takes one. The returned promise
 * settles as soon as that happens even if the SDK ignores the signal, with `ctx.signal`'s reason when that is a
 * {@link ProviderError} (the dispatcher's own timeout) or else a transient `PROVIDER_TIMEOUT`.
 */
export async function withDeadline<T>(
  ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
  work: (signal: AbortSignal) => Promise<T>,
  { provider, ambiguous }: DeadlineOptions,
): Promise<T> {
  const controller = new AbortController();
  let rejectAborted: (reason: unknown) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    rejectAborted = reject;
  });
  const abort = (reason: ProviderError) => {
    controller.abort(reason);
    rejectAborted(reason);
  };
  const fromCaller = () =>
    abort(
      isProviderError(ctx.signal.reason)
        ? ctx.signal.reason
        : new ProviderError('PROVIDER_TIMEOUT', `The ${provider} call was abandoned before it finished`, {
            provider,
            ambiguous,
          }),
    );
  if (ctx.signal.aborted) {
    fromCaller();
    return aborted;
  }
  const timer = setTimeout(
    () =>
      abort(
        new ProviderError('PROVIDER_TIMEOUT', `${provider} did not answer within ${ctx.timeoutMs} ms`, {
          provider,
          ambiguous,
        }),
      ),
    ctx.timeoutMs,
  );
  ctx.signal.addEventListener('abort', fromCaller, { once: true });
  try {
    return await Promise.race([work(controller.signal), aborted]);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', fromCaller);
  }
}
