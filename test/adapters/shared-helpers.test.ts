import { isProviderError, ProviderError } from 'messagepipe';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withDeadline } from '../../adapters/_shared/deadline';
import { formatAddress, toBase64 } from '../../adapters/_shared/email';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  headerValue,
  isNetworkErrorCode,
  MAX_RETRY_AFTER_MS,
  parseRateLimitReset,
  parseRetryAfter,
  retryAfterFromHeaders,
} from '../../adapters/_shared/http-errors';

const NOW = Date.parse('2025-03-01T12:00:00Z');

describe('codeForHttpStatus', () => {
  it.each([
    [400, 'MESSAGE_REJECTED'],
    [401, 'PROVIDER_INVALID_CREDENTIALS'],
    [402, 'ACCOUNT_SUSPENDED'],
    [403, 'PROVIDER_INVALID_CREDENTIALS'],
    [404, 'PROVIDER_UNAVAILABLE'],
    [405, 'PROVIDER_REJECTED'],
    [408, 'PROVIDER_TIMEOUT'],
    [413, 'MESSAGE_REJECTED'],
    [422, 'MESSAGE_REJECTED'],
    [429, 'PROVIDER_RATE_LIMITED'],
    [500, 'PROVIDER_UNAVAILABLE'],
    [503, 'PROVIDER_UNAVAILABLE'],
  ])('%i → %s', (status, code) => {
    expect(codeForHttpStatus(status)).toBe(code);
  });
});

describe('Retry-After and rate-limit reset', () => {
  it('reads delta-seconds and HTTP dates, never negative', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 1.5 ', NOW)).toBe(1_500);
    expect(parseRetryAfter('Sat, 01 Mar 2025 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Sat, 01 Mar 2025 11:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });

  it('reads epoch seconds, and small values as seconds from now', () => {
    expect(parseRateLimitReset(String(NOW / 1000 + 45), NOW)).toBe(45_000);
    expect(parseRateLimitReset(String(NOW / 1000 - 5), NOW)).toBe(0);
    expect(parseRateLimitReset('60', NOW)).toBe(60_000);
    expect(parseRateLimitReset('later', NOW)).toBeUndefined();
  });

  it('caps a huge wait at one hour', () => {
    const HOUR = 3_600_000;
    expect(MAX_RETRY_AFTER_MS).toBe(HOUR);
    expect(parseRetryAfter('99999999999', NOW)).toBe(HOUR);
    expect(parseRetryAfter('3601', NOW)).toBe(HOUR);
    expect(parseRetryAfter('3599', NOW)).toBe(3_599_000);
    expect(parseRetryAfter('Fri, 01 Mar 2030 12:00:00 GMT', NOW)).toBe(HOUR);
    expect(parseRateLimitReset(String(NOW / 1000 + 30 * 86_400), NOW)).toBe(HOUR);
    expect(parseRateLimitReset('999999999', NOW)).toBe(HOUR);
    expect(retryAfterFromHeaders({ 'retry-after': '1e400' }, NOW)).toBeUndefined();
    expect(retryAfterFromHeaders({ 'retry-after': '86400' }, NOW)).toBe(HOUR);
  });

  it('prefers Retry-After over X-RateLimit-Reset, looking headers up case-insensitively', () => {
    const reset = String(NOW / 1000 + 90);
    expect(retryAfterFromHeaders({ 'Retry-After': '5', 'X-RateLimit-Reset': reset }, NOW)).toBe(5_000);
    expect(retryAfterFromHeaders({ 'x-ratelimit-reset': reset }, NOW)).toBe(90_000);
    expect(retryAfterFromHeaders(new Headers({ 'retry-after': '7' }), NOW)).toBe(7_000);
    expect(retryAfterFromHeaders({}, NOW)).toBeUndefined();
    expect(retryAfterFromHeaders(undefined, NOW)).toBeUndefined();
  });

  it('headerValue takes the first of repeated values', () => {
    expect(headerValue({ 'X-Id': ['a', 'b'] }, 'x-id')).toBe('a');
    expect(headerValue({ 'content-length': 12 }, 'Content-Length')).toBe('12');
  });
});

describe('network error codes', () => {
  it.each([
    ['ECONNREFUSED', 'NETWORK_ERROR', false],
    ['ENOTFOUND', 'NETWORK_ERROR', false],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'NETWORK_ERROR', false],
    ['ECONNRESET', 'NETWORK_ERROR', true],
    ['EPIPE', 'NETWORK_ERROR', true],
    ['ETIMEDOUT', 'PROVIDER_TIMEOUT', true],
    ['ECONNABORTED', 'PROVIDER_TIMEOUT', true],
    ['ESOMETHINGNEW', 'NETWORK_ERROR', true],
  ])('%s → %s, ambiguous %s', (errorCode, code, ambiguous) => {
    expect(isNetworkErrorCode(errorCode)).toBe(true);
    expect(classifyNetworkErrorCode(errorCode)).toEqual({ code, ambiguous });
  });

  it('does not take HTTP texts or provider error names for network codes', () => {
    for (const text of ['Bad Request', 'Forbidden', 'MessageRejected', '400', '', 'Incorrect url']) {
      expect(isNetworkErrorCode(text)).toBe(false);
    }
    expect(isNetworkErrorCode(400)).toBe(false);
  });
});

describe('email helpers', () => {
  it('formats addresses, quoting names with specials', () => {
    expect(formatAddress({ email: 'ann@example.test' })).toBe('ann@example.test');
    expect(formatAddress({ email: 'ann@example.test', name: 'Ann Lee' })).toBe('Ann Lee <ann@example.test>');
    expect(formatAddress({ email: 'ann@example.test', name: 'Lee, Ann' })).toBe(
      '"Lee, Ann" <ann@example.test>',
    );
    expect(formatAddress({ email: 'a@example.test', name: 'A "Ace" B\\C' })).toBe(
      '"A \\"Ace\\" B\\\\C" <a@example.test>',
    );
    expect(formatAddress({ email: 'zoe@example.test', name: 'Zoë' })).toBe('Zoë <zoe@example.test>');
  });

  it('base64-encodes a view of a larger buffer without its neighbours', () => {
    const whole = new Uint8Array([1, 2, 3, 4, 5]);
    expect(toBase64(whole.subarray(1, 3))).toBe(Buffer.from([2, 3]).toString('base64'));
  });

  it('excerpt keeps one short line', () => {
    expect(excerpt('a\n  b\tc')).toBe('a b c');
    expect(excerpt('x'.repeat(400), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});

describe('withDeadline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes the result through', async () => {
    const ctx = { signal: new AbortController().signal, timeoutMs: 1_000 };
    await expect(withDeadline(ctx, async () => 'ok', { provider: 'p', ambiguous: true })).resolves.toBe('ok');
  });

  it('times out after ctx.timeoutMs even when the work ignores its signal, and aborts that signal', async () => {
    vi.useFakeTimers();
    let workSignal: AbortSignal | undefined;
    const ctx = { signal: new AbortController().signal, timeoutMs: 500 };
    const outcome = withDeadline(
      ctx,
      (signal) => {
        workSignal = signal;
        return new Promise<never>(() => {});
      },
      { provider: 'p', ambiguous: true },
    ).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(500);
    const error = await outcome;
    expect(isProviderError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'PROVIDER_TIMEOUT', ambiguous: true, provider: 'p' });
    expect(workSignal?.aborted).toBe(true);
  });

  it("rethrows the caller's ProviderError reason, and reports other aborts as a timeout", async () => {
    const reason = new ProviderError('PROVIDER_TIMEOUT', 'dispatcher gave up', {
      provider: 'p',
      ambiguous: true,
    });
    const first = new AbortController();
    const pending = withDeadline(
      { signal: first.signal, timeoutMs: 60_000 },
      () => new Promise<never>(() => {}),
      {
        provider: 'p',
        ambiguous: false,
      },
    );
    first.abort(reason);
    await expect(pending).rejects.toBe(reason);

    const second = new AbortController();
    second.abort(new Error('user left'));
    await expect(
      withDeadline({ signal: second.signal, timeoutMs: 1_000 }, async () => 'never', {
        provider: 'p',
        ambiguous: false,
      }),
    ).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT', ambiguous: false });
  });
});
