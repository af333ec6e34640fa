import { isProviderError, ProviderError } from '../errors';
import { scrubThenShorten } from '../secrets';
import type { AttemptError } from '../types';

/**
 * Turns whatever an adapter threw into a clean {@link ProviderError}: every form of the secrets scrubbed from the
 * message, which is then shortened (in that order, so no part of a secret survives a cut), and no `cause` kept,
 * since SDK errors often carry the request (and its credentials) along. `secrets` are the forms of
 * `redactionForms`.
 * Anything that is not a classified error counts as a provider-level `ADAPTER_ERROR`.
 */
export function sanitizeProviderError(
  error: unknown,
  provider: string,
  secrets: Iterable<string>,
): ProviderError {
  if (isProviderError(error)) {
    const options: ConstructorParameters<typeof ProviderError>[2] = { provider, ambiguous: error.ambiguous };
    if (error.status !== undefined) options.status = error.status;
    if (error.providerCode !== undefined) options.providerCode = error.providerCode;
    if (error.retryAfterMs !== undefined) options.retryAfterMs = error.retryAfterMs;
    return new ProviderError(error.code, scrubThenShorten(error.message, secrets), options);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError(
    'ADAPTER_ERROR',
    `${provider} adapter failed: ${scrubThenShorten(message, secrets)}`,
    {
      provider,
    },
  );
}

/** The plain-data form of a provider error, as kept on an attempt. */
export function toAttemptError(error: ProviderError): AttemptError {
  const plain: AttemptError = { code: error.code, failureClass: error.failureClass, message: error.message };
  if (error.status !== undefined) plain.status = error.status;
  if (error.providerCode !== undefined) plain.providerCode = error.providerCode;
  if (error.retryAfterMs !== undefined) plain.retryAfterMs = error.retryAfterMs;
  if (error.ambiguous) plain.ambiguous = true;
  return plain;
}
