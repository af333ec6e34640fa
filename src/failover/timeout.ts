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
