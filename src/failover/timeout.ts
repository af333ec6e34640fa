import { ProviderError } from '../errors';

/**
 * Runs `work` with a signal that aborts after `timeoutMs` or when `parent` aborts, and settles as soon as either
 * happens, even if `work` ignores the signal. A timeout rejects with a transient `PROVIDER_TIMEOUT`; marked
 * ambiguous when `ambiguousOnTimeout` says the request may already have reached the provider.
 */
export async function withTimeout<T>(
  work: (signal: AbortSignal) => Promise<T>,
  {
    timeoutMs,
    provider,
    parent,
    ambiguousOnTimeout = true,
  }: {
    timeoutMs: number;
    provider: string;
    parent?: AbortSignal | undefined;
    ambiguousOnTimeout?: boolean;
  },
): Promise<T> {
  parent?.throwIfAborted();
  const controller = new AbortController();
  let rejectAborted: (reason: unknown) => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    rejectAborted = reject;
  });
  const onAbort = (reason: unknown) => {
    controller.abort(reason);
    rejectAborted(reason);
  };
  const timer = setTimeout(
    () =>
      onAbort(
        new ProviderError('PROVIDER_TIMEOUT', `${provider} did not answer within ${timeoutMs} ms`, {
          provider,
          ambiguous: ambiguousOnTimeout,
        }),
      ),
    timeoutMs,
  );
  const onParentAbort = () => onAbort(parent?.reason);
  parent?.addEventListener('abort', onParentAbort, { once: true });
  try {
    return await Promise.race([work(controller.signal), aborted]);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onParentAbort);
  }
}
