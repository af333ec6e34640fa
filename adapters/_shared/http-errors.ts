/**
 * Generic classification of HTTP answers and network failures into provider error codes. Adapters refine these
 * with what they know of their provider's bodies (an unverified sender, a suppressed recipient…) and fall back
 * on these defaults for everything else.
 */
import type { ProviderErrorCode } from 'messagepipe';

/**
 * The default error code for an HTTP status a provider answered with:
 * - 401 → `PROVIDER_INVALID_CREDENTIALS`; 403 → `PROVIDER_INVALID_CREDENTIALS` (the key may not do this);
 *   402 → `ACCOUNT_SUSPENDED` (payment required)
 * - 400, 413, 422 → `MESSAGE_REJECTED` (the request itself was refused)
 * - 404 → `PROVIDER_UNAVAILABLE` (APIs answer 404 during incidents and deploys; a wrong path fails every send
 *   anyway, so retrying elsewhere is the safe reading)
 * - 408 → `PROVIDER_TIMEOUT`; 429 → `PROVIDER_RATE_LIMITED`; 5xx → `PROVIDER_UNAVAILABLE`
 * - any other 4xx → `PROVIDER_REJECTED` (provider-level: the request shape or account is wrong, not the message)
 */
export function codeForHttpStatus(status: number): ProviderErrorCode {
  if (status >= 500) return 'PROVIDER_UNAVAILABLE';
  switch (status) {
    case 400:
    case 413:
    case 422:
      return 'MESSAGE_REJECTED';
    case 401:
    case 403:
      return 'PROVIDER_INVALID_CREDENTIALS';
    case 402:
      return 'ACCOUNT_SUSPENDED';
    case 404:
      return 'PROVIDER_UNAVAILABLE';
    case 408:
      return 'PROVIDER_TIMEOUT';
    case 429:
      return 'PROVIDER_RATE_LIMITED';
    default:
      return 'PROVIDER_REJECTED';
  }
}

/**
 * The longest wait a provider's answer can ask for. A provider (or a proxy in front of it) answering with a wait
 * of days would otherwise keep it out of rotation that long; an hour is enough for any real rate-limit window.
 */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** Clamps a wait to `[0, MAX_RETRY_AFTER_MS]`. */
function clampWait(ms: number): number {
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/**
 * Milliseconds to wait from a `Retry-After` value: delta-seconds (`"120"`) or an HTTP date. `undefined` when the
 * value is absent or unreadable; never negative and at most {@link MAX_RETRY_AFTER_MS}.
 */
export function parseRetryAfter(
  value: string | undefined | null,
  now: number = Date.now(),
): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return clampWait(Math.round(Number(trimmed) * 1000));
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return clampWait(date - now);
}

/**
 * Milliseconds until a rate-limit window resets, from an `X-RateLimit-Reset`-style value in epoch **seconds**
 * (SendGrid, GitHub). Values too small to be an epoch time (before 2001) are read as seconds from now, which is
 * what some other APIs send. `undefined` when absent or unreadable; never negative and at most
 * {@link MAX_RETRY_AFTER_MS}.
 */
export function parseRateLimitReset(
  value: string | undefined | null,
  now: number = Date.now(),
): number | undefined {
  if (value === undefined || value === null || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  const seconds = Number(value);
  if (seconds < 1_000_000_000) return clampWait(Math.round(seconds * 1000));
  return clampWait(Math.round(seconds * 1000 - now));
}

/**
 * The wait a provider asked for: `Retry-After` first (it is the standard), then `X-RateLimit-Reset`.
 * `headers` is looked up case-insensitively.
 */
export function retryAfterFromHeaders(headers: unknown, now: number = Date.now()): number | undefined {
  return (
    parseRetryAfter(headerValue(headers, 'retry-after'), now) ??
    parseRateLimitReset(headerValue(headers, 'x-ratelimit-reset'), now)
  );
}

/**
 * One header's value from whatever an SDK exposes (a plain object, axios' `AxiosHeaders`, a fetch `Headers`),
 * case-insensitively; the first value when repeated.
 */
export function headerValue(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const lower = name.toLowerCase();
  const getter = (headers as { get?: unknown }).get;
  if (typeof getter === 'function') {
    const value: unknown = getter.call(headers, name);
    if (typeof value === 'string') return value;
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  }
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== lower) continue;
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  }
  return undefined;
}

/** How a failure without an HTTP answer is classified. */
export interface NetworkFailure {
  code: Extract<ProviderErrorCode, 'NETWORK_ERROR' | 'PROVIDER_TIMEOUT'>;
  /** True when the request may have reached the provider (so a retry could deliver twice). */
  ambiguous: boolean;
}

/** Failed before a byte of the request could reach the provider. */
const BEFORE_SENDING = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'EAI_NONAME',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ERR_INVALID_URL',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Timed out: the request may or may not have been sent. */
const TIMED_OUT = new Set(['ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * True for a Node/axios/undici error code such as `ECONNREFUSED`, `ERR_SOCKET_CLOSED` or a TLS certificate code
 * (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`) — not an HTTP status or a provider's own error name.
 */
export function isNetworkErrorCode(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  if (BEFORE_SENDING.has(value) || TIMED_OUT.has(value)) return true;
  return /^(E[A-Z0-9_]+|ERR_[A-Z0-9_]+|UND_ERR_[A-Z0-9_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)$/.test(value);
}

/**
 * Classifies a failure that produced no HTTP answer by its Node/axios error code. Refusals and DNS failures
 * happen before sending (not ambiguous); timeouts, resets and anything unknown may have reached the provider
 * (ambiguous), since none of the send APIs is idempotent.
 */
export function classifyNetworkErrorCode(errorCode: string): NetworkFailure {
  if (BEFORE_SENDING.has(errorCode)) return { code: 'NETWORK_ERROR', ambiguous: false };
  if (TIMED_OUT.has(errorCode)) return { code: 'PROVIDER_TIMEOUT', ambiguous: true };
  return { code: 'NETWORK_ERROR', ambiguous: true };
}

/**
 * Provider-supplied text for an error message, on one line. It is not shortened here: the core scrubs every form
 * of the secrets first and shortens after (`scrubThenShorten`), so no part of a secret can survive a cut. Answers
 * are at most `MAX_RESPONSE_BYTES` long (see `http.ts`); `maxLength` is only a bound against runaway text.
 */
export function excerpt(text: string, maxLength = 64 * 1024): string {
  const singleLine = text.replace(/\s+/g, ' ').trim();
  return singleLine.length > maxLength ? `${singleLine.slice(0, maxLength - 1)}…` : singleLine;
}
