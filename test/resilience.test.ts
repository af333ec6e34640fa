import { trace } from '@opentelemetry/api';
import {
  type Attempt,
  type BreakerSnapshot,
  Dispatcher,
  type DispatcherEvents,
  type DispatcherOptions,
  type MessagePipeError,
  type SendResult,
} from 'messagepipe';
import { createMockAdapter, type MockAdapter } from 'messagepipe/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { email, PROJECT, sampleConfigs } from './helpers';

type EmailProvider = 'sendgrid' | 'mailgun' | 'postmark' | 'ses' | 'smtp';

interface Setup {
  pipe: Dispatcher;
  mocks: Record<EmailProvider, MockAdapter<'email'>>;
  ids: Record<string, string>;
  events: Array<{ name: keyof DispatcherEvents; payload: unknown }>;
}

async function setup(
  providers: Array<{ provider: EmailProvider; priority: number; weight?: number; timeoutMs?: number }>,
  options: Partial<DispatcherOptions> = {},
): Promise<Setup> {
  const mocks = Object.fromEntries(
    providers.map(({ provider }) => [provider, createMockAdapter({ provider, channel: 'email' })]),
  ) as Record<EmailProvider, MockAdapter<'email'>>;
  const pipe = new Dispatcher({ adapters: Object.values(mocks), ...options });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  const ids: Record<string, string> = {};
  for (const { provider, priority, weight, timeoutMs } of providers) {
    const config = timeoutMs ? { ...sampleConfigs[provider], timeoutMs } : sampleConfigs[provider];
    const record = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider,
      name: provider,
      priority,
      ...(weight ? { weight } : {}),
      config,
    });
    ids[provider] = record.id;
  }
  const events: Setup['events'] = [];
  for (const name of [
    'retry:scheduled',
    'failover',
    'breaker:open',
    'breaker:half-open',
    'breaker:close',
  ] as const) {
    pipe.on(name, (payload) => events.push({ name, payload }));
  }
  return { pipe, mocks, ids, events };
}

const summary = (attempts: readonly Attempt[]) =>
  attempts.map(
    (attempt) => `${attempt.provider}:${attempt.outcome}${attempt.error ? `:${attempt.error.code}` : ''}`,
  );

/** Runs a send to completion while advancing fake time. */
async function settle<T>(promise: Promise<T>, advanceMs = 120_000): Promise<T | MessagePipeError> {
  const outcome = promise.then(
    (value) => value,
    (error: unknown) => error as MessagePipeError,
  );
  await vi.advanceTimersByTimeAsync(advanceMs);
  return outcome;
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-22T12:00:00Z') });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('retries', () => {
  it('retries transient failures on the same provider with exponential backoff', async () => {
    const { pipe, mocks, events } = await setup([{ provider: 'sendgrid', priority: 1 }], {
      retry: { retries: 3, minDelayMs: 100, factor: 2, jitter: false },
    });
    mocks.sendgrid.respondWith('transient', 'transient', 'transient');
    const result = (await settle(pipe.send(email))) as SendResult;
    expect(summary(result.attempts)).toEqual([
      'sendgrid:failed:PROVIDER_UNAVAILABLE',
      'sendgrid:failed:PROVIDER_UNAVAILABLE',
      'sendgrid:failed:PROVIDER_UNAVAILABLE',
      'sendgrid:sent',
    ]);
    const delays = events
      .filter((event) => event.name === 'retry:scheduled')
      .map((event) => (event.payload as { delayMs: number }).delayMs);
    expect(delays).toEqual([100, 200, 400]);
  });

  it('waits the backoff before retrying, not sooner', async () => {
    const { pipe, mocks } = await setup([{ provider: 'sendgrid', priority: 1 }], {
      retry: { retries: 1, minDelayMs: 1000, jitter: false },
    });
    mocks.sendgrid.respondWith('transient');
    const pending = pipe.send(email);
    await vi.advanceTimersByTimeAsync(999);
    expect(mocks.sendgrid.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(mocks.sendgrid.calls).toHaveLength(2);
    await expect(pending).resolves.toMatchObject({ provider: 'sendgrid' });
  });

  it('caps the backoff and spreads it with jitter between 1× and 2×', async () => {
    const { pipe, mocks, events } = await setup([{ provider: 'sendgrid', priority: 1 }], {
      retry: { retries: 4, minDelayMs: 100, factor: 10, maxDelayMs: 1500 },
    });
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    mocks.sendgrid.respondWith('transient', 'transient', 'transient', 'transient');
    await settle(pipe.send(email));
    const delays = events
      .filter((event) => event.name === 'retry:scheduled')
      .map((event) => (event.payload as { delayMs: number }).delayMs);
    expect(delays).toEqual([150, 1500, 1500, 1500]);
  });

  it('honours Retry-After when it is longer than the backoff', async () => {
    const { pipe, mocks, events } = await setup([{ provider: 'sendgrid', priority: 1 }], {
      retry: { retries: 2, minDelayMs: 100, jitter: false },
    });
    mocks.sendgrid.respondWith({ fail: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 7000 });
    const pending = pipe.send(email);
    await vi.advanceTimersByTimeAsync(6999);
    expect(mocks.sendgrid.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(pending).resolves.toMatchObject({ provider: 'sendgrid' });
    expect(events.find((event) => event.name === 'retry:scheduled')?.payload).toMatchObject({
      delayMs: 7000,
      retryNumber: 1,
    });
  });

  it('fails over at once instead of waiting past the send deadline for a Retry-After', async () => {
    const { pipe, mocks, events } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      { sendTimeoutMs: 10_000, retry: { retries: 2, minDelayMs: 100 } },
    );
    mocks.sendgrid.respondWith({ fail: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 60_000 });
    const result = (await settle(pipe.send(email), 0)) as SendResult;
    expect(summary(result.attempts)).toEqual(['sendgrid:failed:PROVIDER_RATE_LIMITED', 'mailgun:sent']);
    expect(events.some((event) => event.name === 'retry:scheduled')).toBe(false);
  });

  it('does not retry provider-level or message-level failures', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      { retry: { retries: 3, minDelayMs: 10 } },
    );
    mocks.sendgrid.respondWith('provider');
    const first = (await settle(pipe.send(email))) as SendResult;
    expect(summary(first.attempts)).toEqual(['sendgrid:failed:PROVIDER_INVALID_CREDENTIALS', 'mailgun:sent']);
    mocks.sendgrid.respondWith('message');
    const second = (await settle(pipe.send(email))) as MessagePipeError;
    expect(second.code).toBe('RECIPIENT_INVALID');
    expect(summary(second.attempts ?? [])).toEqual(['sendgrid:failed:RECIPIENT_INVALID']);
  });

  it('stops at the send deadline, cutting a hung attempt short', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1, timeoutMs: 30_000 },
        { provider: 'mailgun', priority: 2 },
      ],
      { sendTimeoutMs: 5_000 },
    );
    mocks.sendgrid.setBehaviour('hang');
    const pending = settle(pipe.send(email), 0);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(mocks.mailgun.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    const error = (await pending) as MessagePipeError;
    expect(error.code).toBe('ALL_PROVIDERS_FAILED');
    expect(error.message).toContain('deadline');
    expect(summary(error.attempts ?? [])).toEqual(['sendgrid:failed:PROVIDER_TIMEOUT']);
    expect(mocks.mailgun.calls).toHaveLength(0);
  });
});

describe('deadline floor', () => {
  it('does not start an attempt with too little of the send deadline left to be answered', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1, timeoutMs: 4_980 },
        { provider: 'mailgun', priority: 2 },
      ],
      { sendTimeoutMs: 5_000, retry: false },
    );
    mocks.sendgrid.setBehaviour('hang');
    const error = (await settle(pipe.send(email))) as MessagePipeError;
    expect(error.code).toBe('ALL_PROVIDERS_FAILED');
    expect(summary(error.attempts ?? [])).toEqual(['sendgrid:failed:PROVIDER_TIMEOUT']);
    expect(mocks.mailgun.calls).toHaveLength(0);
  });
});

describe('send deadline clock', () => {
  it('is a monotonic clock: a wall-clock jump during a send neither ends it nor stretches it', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      { sendTimeoutMs: 5_000, retry: false },
    );
    // The wall clock jumps an hour ahead (an NTP step, a VM resumed) as each attempt ends.
    pipe.on('attempt:finish', () => vi.setSystemTime(Date.now() + 3_600_000));
    mocks.sendgrid.respondWith('transient');
    const result = (await settle(pipe.send(email))) as SendResult;
    expect(summary(result.attempts)).toEqual(['sendgrid:failed:PROVIDER_UNAVAILABLE', 'mailgun:sent']);
  });
});

describe('ambiguous timeouts and idempotency', () => {
  it('marks a timeout ambiguous, does not retry it, and fails over by default with the same key', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1, timeoutMs: 2_000 },
        { provider: 'mailgun', priority: 2 },
      ],
      { retry: { retries: 3, minDelayMs: 10 } },
    );
    mocks.sendgrid.respondWith('hang');
    const result = (await settle(pipe.send(email, { idempotencyKey: 'invoice-7' }))) as SendResult;
    expect(result.attempts[0]?.error).toMatchObject({ code: 'PROVIDER_TIMEOUT', ambiguous: true });
    expect(summary(result.attempts)).toEqual(['sendgrid:failed:PROVIDER_TIMEOUT', 'mailgun:sent']);
    expect(mocks.sendgrid.calls.map((call) => call.idempotencyKey)).toEqual(['invoice-7']);
    expect(mocks.mailgun.calls.map((call) => call.idempotencyKey)).toEqual(['invoice-7']);
  });

  it('stops after an ambiguous timeout when the policy says so', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1, timeoutMs: 2_000 },
        { provider: 'mailgun', priority: 2 },
      ],
      { onAmbiguousTimeout: 'stop' },
    );
    mocks.sendgrid.respondWith('hang');
    const error = (await settle(pipe.send(email))) as MessagePipeError & { ambiguous: boolean };
    expect(error).toMatchObject({ code: 'PROVIDER_TIMEOUT', ambiguous: true });
    expect(summary(error.attempts ?? [])).toEqual(['sendgrid:failed:PROVIDER_TIMEOUT']);
    expect(mocks.mailgun.calls).toHaveLength(0);
  });

  it('fails over after a timeout that the adapter knows happened before sending, even under the stop policy', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      { onAmbiguousTimeout: 'stop', retry: false },
    );
    mocks.sendgrid.respondWith({ fail: 'PROVIDER_TIMEOUT', ambiguous: false, message: 'connect timeout' });
    const result = (await settle(pipe.send(email))) as SendResult;
    expect(result.provider).toBe('mailgun');
  });
});

describe('circuit breaker', () => {
  const breakerOptions = {
    retry: false as const,
    circuitBreaker: { failureThreshold: 3, cooldownMs: 10_000 },
  };

  /** SendGrid first, Mailgun as backup, and SendGrid failed three times in a row: its circuit is open. */
  async function withTrippedPrimary(failure: 'transient' | 'provider' = 'transient') {
    const setUp = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      breakerOptions,
    );
    setUp.mocks.sendgrid.setBehaviour(failure);
    for (let send = 0; send < 3; send++) await settle(setUp.pipe.send(email), 0);
    return setUp;
  }

  it('opens after a run of failures, skips the provider, probes after the cool-down and closes on success', async () => {
    const { pipe, mocks, ids, events } = await withTrippedPrimary();
    expect(events.filter((event) => event.name === 'breaker:open')).toHaveLength(1);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! })).toMatchObject({
      state: 'open',
      consecutiveFailures: 3,
    });

    const skipped = (await settle(pipe.send(email), 0)) as SendResult;
    expect(summary(skipped.attempts)).toEqual(['sendgrid:skipped:CIRCUIT_OPEN', 'mailgun:sent']);
    expect(mocks.sendgrid.calls).toHaveLength(3);

    await vi.advanceTimersByTimeAsync(10_000);
    mocks.sendgrid.setBehaviour('ok');
    const probe = (await settle(pipe.send(email), 0)) as SendResult;
    expect(summary(probe.attempts)).toEqual(['sendgrid:sent']);
    expect(events.map((event) => event.name).filter((name) => name.startsWith('breaker:'))).toEqual([
      'breaker:open',
      'breaker:half-open',
      'breaker:close',
    ]);
    // Each transition names the provider, although a healthy circuit keeps no name.
    const named = events
      .filter((event) => event.name.startsWith('breaker:'))
      .map((event) => (event.payload as { provider: string }).provider);
    expect(named).toEqual(['sendgrid', 'sendgrid', 'sendgrid']);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! })).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
    });
  });

  it('gives a probe back when its attempt throws before reaching the provider', async () => {
    // An `attempt:start` listener that throws is logged; here the logger throws too, so the attempt never starts.
    let loggerFails = false;
    const logger = {
      debug() {},
      warn() {
        if (!loggerFails) return;
        loggerFails = false;
        throw new Error('log sink down');
      },
    };
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      { retry: false, logger, circuitBreaker: { failureThreshold: 1, cooldownMs: 1_000 } },
    );
    mocks.sendgrid.respondWith('transient');
    await settle(pipe.send(email), 0);
    await vi.advanceTimersByTimeAsync(1_000);
    const off = pipe.on('attempt:start', () => {
      off();
      loggerFails = true;
      throw new Error('listener');
    });
    expect(await settle(pipe.send(email), 0)).toMatchObject({ message: 'log sink down' });
    // The probe was given back: the next send probes sendgrid (and closes it) instead of skipping it.
    const next = (await settle(pipe.send(email), 0)) as SendResult;
    expect(summary(next.attempts)).toEqual(['sendgrid:sent']);
  });

  it('opens again when the probe fails, restarting the cool-down', async () => {
    const { pipe, ids } = await withTrippedPrimary();
    await vi.advanceTimersByTimeAsync(10_000);
    const probe = (await settle(pipe.send(email), 0)) as SendResult;
    expect(summary(probe.attempts)).toEqual(['sendgrid:failed:PROVIDER_UNAVAILABLE', 'mailgun:sent']);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! })).toMatchObject({
      state: 'open',
      retryAt: Date.now() + 10_000,
    });
    const next = (await settle(pipe.send(email), 0)) as SendResult;
    expect(next.attempts[0]?.outcome).toBe('skipped');
  });

  it('never counts message-level failures', async () => {
    const { pipe, mocks, ids } = await setup([{ provider: 'sendgrid', priority: 1 }], breakerOptions);
    mocks.sendgrid.setBehaviour('message');
    for (let send = 0; send < 10; send++) await settle(pipe.send(email), 0);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! })).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
    });
    expect(mocks.sendgrid.calls).toHaveLength(10);
  });

  it('counts provider-level failures, and a success resets the run', async () => {
    const { pipe, mocks, ids } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      breakerOptions,
    );
    mocks.sendgrid.respondWith('provider', 'provider', 'ok', 'provider', 'provider');
    for (let send = 0; send < 5; send++) await settle(pipe.send(email), 0);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! })).toMatchObject({
      state: 'closed',
      consecutiveFailures: 2,
    });
    mocks.sendgrid.respondWith('provider');
    await settle(pipe.send(email), 0);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! }).state).toBe('open');
  });

  it('still tries the provider whose cool-down ends first when every circuit is open', async () => {
    const { pipe, ids } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      breakerOptions,
    );
    const openedAt = Date.now();
    const open = { projectId: PROJECT, state: 'open', consecutiveFailures: 3, openedAt } as const;
    pipe.breakers.restore([
      { ...open, providerConfigId: ids.sendgrid!, retryAt: openedAt + 9_000 },
      { ...open, providerConfigId: ids.mailgun!, retryAt: openedAt + 4_000 },
    ]);
    const result = (await settle(pipe.send(email), 0)) as SendResult;
    expect(summary(result.attempts)).toEqual(['sendgrid:skipped:CIRCUIT_OPEN', 'mailgun:sent']);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.mailgun! }).state).toBe('closed');
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! }).state).toBe('open');
  });

  it('lets one probe through at a time while half-open', async () => {
    const { pipe, mocks } = await withTrippedPrimary();
    await vi.advanceTimersByTimeAsync(10_000);
    mocks.sendgrid.setBehaviour({ ok: true, delayMs: 500 });
    const first = pipe.send(email);
    const second = pipe.send(email);
    await vi.advanceTimersByTimeAsync(500);
    const [probe, other] = (await Promise.all([first, second])) as SendResult[];
    expect(summary(probe!.attempts)).toEqual(['sendgrid:sent']);
    expect(summary(other!.attempts)).toEqual(['sendgrid:skipped:CIRCUIT_OPEN', 'mailgun:sent']);
  });

  it('gives the probe back when the caller aborts it, so the next send probes again', async () => {
    const { pipe, mocks, ids } = await withTrippedPrimary();
    await vi.advanceTimersByTimeAsync(10_000);
    mocks.sendgrid.setBehaviour('hang');
    const controller = new AbortController();
    const aborted = pipe.send(email, { signal: controller.signal }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    expect(await aborted).toMatchObject({ code: 'ABORTED' });
    mocks.sendgrid.setBehaviour('ok');
    const next = (await settle(pipe.send(email), 0)) as SendResult;
    expect(summary(next.attempts)).toEqual(['sendgrid:sent']);
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! }).state).toBe('closed');
  });

  it('exports and restores breaker state, so a fleet can share it', async () => {
    const { pipe, mocks, ids } = await withTrippedPrimary();
    const exported: BreakerSnapshot[] = JSON.parse(JSON.stringify(pipe.breakers.export()));
    expect(exported).toEqual([
      expect.objectContaining({ projectId: PROJECT, providerConfigId: ids.sendgrid!, state: 'open' }),
    ]);

    const other = new Dispatcher({ adapters: Object.values(mocks), ...breakerOptions });
    other.breakers.restore(exported);
    const { projectId: _p, providerConfigId: _id, ...state } = exported[0]!;
    expect(other.breakers.state({ projectId: PROJECT, id: ids.sendgrid! })).toEqual(state);
    other.breakers.restore([
      { projectId: PROJECT, providerConfigId: ids.sendgrid!, state: 'closed', consecutiveFailures: 0 },
    ]);
    expect(other.breakers.state({ projectId: PROJECT, id: ids.sendgrid! }).state).toBe('closed');
  });

  it('forgets a provider’s breaker when its config changes', async () => {
    const { pipe, ids } = await withTrippedPrimary('provider');
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! }).state).toBe('open');
    await pipe.providers.update(
      { projectId: PROJECT, id: ids.sendgrid! },
      { config: { apiKey: 'SG.new-key' } },
    );
    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.sendgrid! }).state).toBe('closed');
  });
});

describe('load spreading across equal priorities', () => {
  it('rotates round robin among equal priorities and keeps priority groups in order', async () => {
    const { pipe, ids } = await setup([
      { provider: 'sendgrid', priority: 1 },
      { provider: 'mailgun', priority: 1 },
      { provider: 'postmark', priority: 1 },
      { provider: 'smtp', priority: 2 },
    ]);
    const firsts: string[] = [];
    for (let send = 0; send < 300; send++) {
      const result = (await settle(pipe.send(email), 0)) as SendResult;
      firsts.push(result.provider);
    }
    const counts = Object.fromEntries(
      ['sendgrid', 'mailgun', 'postmark', 'smtp'].map((name) => [
        name,
        firsts.filter((first) => first === name).length,
      ]),
    );
    expect(counts).toEqual({ sendgrid: 100, mailgun: 100, postmark: 100, smtp: 0 });
    // Consecutive sends rotate rather than repeat.
    expect(new Set(firsts.slice(0, 3)).size).toBe(3);
    expect(ids.smtp).toBeDefined();
  });

  it('falls back within the tie group, then to the next priority', async () => {
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 1 },
        { provider: 'smtp', priority: 2 },
      ],
      { retry: false },
    );
    mocks.sendgrid.setBehaviour('transient');
    mocks.mailgun.setBehaviour('transient');
    for (let send = 0; send < 4; send++) {
      const result = (await settle(pipe.send(email), 0)) as SendResult;
      expect(result.attempts.map((attempt) => attempt.provider).slice(2)).toEqual(['smtp']);
      expect(new Set(result.attempts.slice(0, 2).map((attempt) => attempt.provider))).toEqual(
        new Set(['sendgrid', 'mailgun']),
      );
    }
  });

  it('spreads by weight within tolerance', async () => {
    const { pipe } = await setup([
      { provider: 'sendgrid', priority: 1, weight: 3 },
      { provider: 'mailgun', priority: 1, weight: 1 },
    ]);
    let sendgrid = 0;
    const sends = 400;
    for (let send = 0; send < sends; send++) {
      const result = (await settle(pipe.send(email), 0)) as SendResult;
      if (result.provider === 'sendgrid') sendgrid++;
    }
    expect(sendgrid / sends).toBeGreaterThan(0.7);
    expect(sendgrid / sends).toBeLessThan(0.8);
  });
});

describe('immutability, stats and tracing', () => {
  it('counts attempts, outcomes by class and latency percentiles per provider config', async () => {
    const { pipe, mocks, ids } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      { retry: false },
    );
    mocks.sendgrid.respondWith('transient', 'provider', 'message');
    for (let send = 0; send < 5; send++) await settle(pipe.send(email), 0);
    const stats = Object.fromEntries(pipe.stats().map((entry) => [entry.providerConfigId, entry]));
    expect(stats[ids.sendgrid!]).toMatchObject({
      provider: 'sendgrid',
      attempts: 5,
      successes: 2,
      failures: { transient: 1, provider: 1, message: 1 },
      skipped: 0,
    });
    expect(stats[ids.mailgun!]).toMatchObject({ attempts: 2, successes: 2 });
    const latency = stats[ids.sendgrid!]!.latencyMs;
    expect(latency.samples).toBe(5);
    expect(latency.p50).toBeLessThanOrEqual(latency.p99);
  });

  it('records a span per send with a child span per attempt, without secrets', async () => {
    const spans: Array<{
      name: string;
      attributes: Record<string, unknown>;
      parent: unknown;
      ended: boolean;
      status?: number;
    }> = [];
    const tracer = {
      startSpan(name: string, options?: { attributes?: Record<string, unknown> }, context?: unknown) {
        const span = {
          name,
          attributes: { ...options?.attributes },
          parent: context === undefined ? undefined : trace.getSpan(context as never),
          ended: false,
          status: undefined as number | undefined,
          setAttribute(key: string, value: unknown) {
            span.attributes[key] = value;
          },
          setStatus(status: { code: number }) {
            span.status = status.code;
          },
          end() {
            span.ended = true;
          },
          spanContext: () => ({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 1 }),
        };
        spans.push(span);
        return span;
      },
    };
    const { pipe, mocks } = await setup(
      [
        { provider: 'sendgrid', priority: 1 },
        { provider: 'mailgun', priority: 2 },
      ],
      { retry: false, tracing: { tracer } },
    );
    mocks.sendgrid.respondWith('transient');
    await settle(pipe.send(email));
    expect(spans.map((span) => span.name)).toEqual([
      'messagepipe.send',
      'messagepipe.attempt',
      'messagepipe.attempt',
    ]);
    const [send, first, second] = spans;
    expect(first!.parent).toBe(send);
    expect(second!.parent).toBe(send);
    expect(first!.attributes).toMatchObject({
      'messagepipe.provider': 'sendgrid',
      'messagepipe.outcome': 'failed',
      'messagepipe.error_code': 'PROVIDER_UNAVAILABLE',
    });
    expect(second!.attributes).toMatchObject({
      'messagepipe.provider': 'mailgun',
      'messagepipe.outcome': 'sent',
    });
    expect(send!.attributes).toMatchObject({ 'messagepipe.provider': 'mailgun', 'messagepipe.attempts': 2 });
    expect(spans.every((span) => span.ended)).toBe(true);
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toContain(sampleConfigs.sendgrid.apiKey);
  });
});
