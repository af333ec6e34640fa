/**
 * Hostile and broken HTTP peers, for every HTTP adapter: redirects (cross-origin and same-origin), answers too
 * large to read (fast and slow), connections reset after the status line, and 2xx answers that are not the
 * provider's documented success answer. The rules live in `adapters/_shared/http.ts` and
 * `adapters/_shared/message-id.ts`; this file proves each adapter's SDK goes through them.
 */
import { inspect } from 'node:util';
import {
  type AnyAdapter,
  Dispatcher,
  isMessagePipeError,
  isProviderError,
  type ProviderError,
} from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callContext, recordingLogger, rejectionOf, sendContext, toSendInput } from './conformance';
import { type FakeHttpServer, startFakeHttpServer } from './fake-http-server';
import { echo, expectNoLeak, leakPatterns, type Row, rows } from './hostile-rows';

let fake: FakeHttpServer;
/** The server a redirect points to: it must never see a request. */
let elsewhere: FakeHttpServer;

beforeAll(async () => {
  [fake, elsewhere] = await Promise.all([startFakeHttpServer(), startFakeHttpServer()]);
});
afterAll(async () => {
  await Promise.all([fake.close(), elsewhere.close()]);
});
afterEach(() => {
  fake.reset();
  elsewhere.reset();
});

/** Runs `use` with a new adapter, closing it afterwards. */
async function withAdapter<T>(row: Row, use: (adapter: AnyAdapter) => Promise<T>): Promise<T> {
  const adapter = row.create();
  try {
    return await use(adapter);
  } finally {
    await adapter.close?.();
  }
}

function expectProviderFailure(error: unknown): asserts error is ProviderError {
  expect(isProviderError(error), String(error)).toBe(true);
}

/** A dispatcher with `row`'s provider first and a healthy custom backup second. */
async function pipeWithBackup(
  row: Row,
  options: ConstructorParameters<typeof Dispatcher>[0] extends infer O ? Partial<O> : never = {},
) {
  const backup = createMockAdapter({
    provider: 'backup',
    channel: row.message.channel,
    configSchema: z.object({}),
  });
  const pipe = new Dispatcher({
    adapters: [row.create(), backup],
    logger: recordingLogger(),
    retry: false,
    circuitBreaker: false,
    ...options,
  });
  const projectId = `hostile-${row.provider}`;
  const base = { projectId, channel: row.message.channel } as const;
  await pipe.providers.add(
    { ...base, provider: row.provider, name: 'primary', priority: 1, config: row.config(fake.origin) },
    { verify: false },
  );
  await pipe.providers.add(
    { ...base, provider: 'backup', name: 'backup', priority: 2, config: {} },
    { verify: false },
  );
  return { pipe, backup, input: toSendInput(projectId, row.message) };
}

describe.each(rows)('$provider against a hostile peer', (row) => {
  const target = () => `${elsewhere.origin}/collect/credentials?token=stolen`;

  it.each([301, 302, 303, 307, 308])(
    'refuses a %i redirect of a send to another origin, naming the origin only',
    async (status) => {
      fake.route(row.send.method, row.send.path, { status, headers: { location: target() } });
      const error = await withAdapter(row, (adapter) =>
        rejectionOf(adapter.send(row.message as never, sendContext(row.config(fake.origin)) as never)),
      );
      expectProviderFailure(error);
      expect({ code: error.code, failureClass: error.failureClass, ambiguous: error.ambiguous }).toEqual({
        code: 'PROVIDER_REJECTED',
        failureClass: 'provider',
        ambiguous: false,
      });
      expect(error.message).toContain(elsewhere.origin);
      expect(error.message).not.toMatch(/collect|stolen/);
      expect(fake.requests).toHaveLength(1);
      expect(elsewhere.requests).toHaveLength(0);
    },
  );

  it('refuses a same-origin redirect too', async () => {
    fake.route(row.send.method, row.send.path, { status: 307, headers: { location: '/elsewhere?x=1' } });
    const error = await withAdapter(row, (adapter) =>
      rejectionOf(adapter.send(row.message as never, sendContext(row.config(fake.origin)) as never)),
    );
    expectProviderFailure(error);
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toContain(fake.origin);
    expect(fake.requests).toHaveLength(1);
  });

  it('refuses a redirect of the credential check and of the domain listing', async () => {
    fake.route(row.verify.method, row.verify.path, { status: 302, headers: { location: target() } });
    if (row.domains)
      fake.route(row.domains.method, row.domains.path, { status: 308, headers: { location: target() } });
    await withAdapter(row, async (adapter) => {
      const settle = (call: Promise<unknown>) =>
        call.then(
          (value) => value,
          (error: unknown) => error,
        );
      const calls = [settle(adapter.verify!(row.config(fake.origin), callContext()))];
      if (row.domains) calls.push(settle(adapter.domains!(row.config(fake.origin), callContext())));
      for (const call of calls) {
        const outcome = await call;
        // Either refused outright, or an invalid verdict whose reason is the refusal.
        let text: string;
        if (isProviderError(outcome)) {
          expect(outcome.code).toBe('PROVIDER_REJECTED');
          text = outcome.message;
        } else {
          expect(outcome).toMatchObject({ valid: false });
          text = (outcome as { reason: string }).reason;
        }
        expect(text).toContain(elsewhere.origin);
        expect(text).not.toMatch(/collect|stolen/);
      }
    });
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('reads at most 1 MiB of an error answer: 10 concurrent 100 MiB bodies keep the heap bounded', async () => {
    fake.route(row.send.method, row.send.path, { fault: 'stream', status: 500, bytes: 100 * 1024 * 1024 });
    const before = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peak = Math.max(peak, now.heapUsed + now.arrayBuffers - before.heapUsed - before.arrayBuffers);
    }, 5);
    const started = performance.now();
    try {
      const errors = await withAdapter(row, (adapter) =>
        Promise.all(
          Array.from({ length: 10 }, () =>
            rejectionOf(
              adapter.send(
                row.message as never,
                sendContext({ ...row.config(fake.origin), timeoutMs: 10_000 }) as never,
              ),
            ),
          ),
        ),
      );
      for (const error of errors) {
        expectProviderFailure(error);
        expect({ code: error.code, ambiguous: error.ambiguous, status: error.status }).toEqual({
          code: 'PROVIDER_UNAVAILABLE',
          ambiguous: false,
          status: 500,
        });
        expect(error.message).toMatch(/over 1048576 bytes/);
      }
    } finally {
      clearInterval(sampler);
    }
    expect(performance.now() - started).toBeLessThan(5_000);
    // Reading the bodies would take 1 GB; the cap keeps it to a few MiB per answer plus the SDKs' own buffers.
    expect(peak).toBeLessThan(200 * 1024 * 1024);
  });

  it('reports an oversized 2xx answer to a send as ambiguous', async () => {
    fake.route(row.send.method, row.send.path, {
      fault: 'stream',
      status: row.successStatus,
      bytes: 8 * 1024 * 1024,
    });
    const error = await withAdapter(row, (adapter) =>
      rejectionOf(adapter.send(row.message as never, sendContext(row.config(fake.origin)) as never)),
    );
    expectProviderFailure(error);
    expect({ code: error.code, ambiguous: error.ambiguous }).toEqual({
      code: 'PROVIDER_UNAVAILABLE',
      ambiguous: true,
    });
  });

  it('counts the body read against the attempt timeout, then tries the backup', async () => {
    // 1 KiB every 50 ms: the answer never ends within the attempt's 400 ms and never reaches the cap.
    fake.route(row.send.method, row.send.path, {
      fault: 'stream',
      status: 500,
      chunkBytes: 1024,
      chunkDelayMs: 50,
      bytes: 100 * 1024 * 1024,
    });
    const { pipe, backup, input } = await pipeWithBackup(row, {
      attemptTimeoutMs: 400,
      sendTimeoutMs: 5_000,
    });
    try {
      const started = performance.now();
      const result = await pipe.send(input);
      const elapsed = performance.now() - started;
      expect(result.provider).toBe('backup');
      expect(
        result.attempts.map((attempt) => [attempt.provider, attempt.outcome, attempt.error?.code]),
      ).toEqual([
        [row.provider, 'failed', 'PROVIDER_TIMEOUT'],
        ['backup', 'sent', undefined],
      ]);
      expect(result.attempts[0]!.durationMs).toBeLessThan(1_000);
      expect(elapsed).toBeLessThan(2_000);
      expect(backup.calls).toHaveLength(1);
    } finally {
      await pipe.close();
    }
  });

  it('reports a send whose 2xx answer breaks off after the status line as ambiguous, and stops under "stop"', async () => {
    fake.route(row.send.method, row.send.path, { fault: 'cut-after-status', status: row.successStatus });
    const direct = await withAdapter(row, (adapter) =>
      rejectionOf(adapter.send(row.message as never, sendContext(row.config(fake.origin)) as never)),
    );
    expectProviderFailure(direct);
    expect({ class: direct.failureClass, ambiguous: direct.ambiguous }).toEqual({
      class: 'transient',
      ambiguous: true,
    });

    const { pipe, backup, input } = await pipeWithBackup(row, { onAmbiguousTimeout: 'stop' });
    try {
      const error = await rejectionOf(pipe.send(input));
      expect(isMessagePipeError(error)).toBe(true);
      expect((error as ProviderError).ambiguous).toBe(true);
      expect(backup.calls).toHaveLength(0);
    } finally {
      await pipe.close();
    }
  });

  it('does not read a credential check cut after the status line as ambiguous', async () => {
    fake.route(row.verify.method, row.verify.path, { fault: 'cut-after-status', status: 200 });
    const error = await withAdapter(row, (adapter) =>
      rejectionOf(adapter.verify!(row.config(fake.origin), callContext())),
    );
    expectProviderFailure(error);
    expect({ class: error.failureClass, ambiguous: error.ambiguous }).toEqual({
      class: 'transient',
      ambiguous: false,
    });
  });

  it.each(row.undocumented)('never records $name as a definite delivery', async ({ reply }) => {
    fake.route(row.send.method, row.send.path, reply);
    const ctx = sendContext(row.config(fake.origin));
    const error = await withAdapter(row, (adapter) =>
      rejectionOf(adapter.send(row.message as never, ctx as never)),
    );
    expectProviderFailure(error);
    expect({ class: error.failureClass, ambiguous: error.ambiguous }).toEqual({
      class: 'transient',
      ambiguous: true,
    });
    expect(ctx.logger.lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  });
});

describe.each(rows)('$provider never leaks a secret in any form', (row) => {
  it('scrubs every form from errors, attempts, events, logs, verdicts and stored records', async () => {
    const config = row.config(fake.origin);
    fake.route(row.send.method, row.send.path, echo);
    fake.route(row.verify.method, row.verify.path, echo);
    const logger = recordingLogger();
    const pipe = new Dispatcher({ adapters: [row.create()], logger, retry: false, circuitBreaker: false });
    const events: unknown[] = [];
    for (const name of ['attempt:finish', 'send:failure', 'failover'] as const)
      pipe.on(name, (event) => events.push(event));
    const projectId = `leak-${row.provider}`;
    try {
      const record = await pipe.providers.add(
        { projectId, channel: row.message.channel, provider: row.provider, name: 'echo', config },
        { verify: false },
      );
      const sendError = await rejectionOf(pipe.send(toSendInput(projectId, row.message)));
      const validation = await pipe.providers.validate({ projectId, id: record.id }).then(
        (result) => result,
        (error: unknown) => error,
      );
      const stored = await pipe.providers.get({ projectId, id: record.id });
      const addError = await pipe.providers
        .add({ projectId, channel: row.message.channel, provider: row.provider, name: 'checked', config })
        .then(
          (result) => result,
          (error: unknown) => error,
        );
      expect(fake.requests.length).toBeGreaterThanOrEqual(3);
      expectNoLeak(
        [sendError, validation, stored, addError, events, logger.lines, pipe.stats()],
        leakPatterns(row.secrets(config)),
      );
      // The answer was read (and scrubbed), not dropped: the error names what was echoed.
      expect(inspect(sendError, { depth: 10 })).toMatch(/\[REDACTED\]|401/);
    } finally {
      await pipe.close();
    }
  });

  it('never reports a failed credential check as a message-level refusal', async () => {
    fake.route(row.verify.method, row.verify.path, row.verifyBadRequest);
    const pipe = new Dispatcher({ adapters: [row.create()], logger: recordingLogger() });
    try {
      const outcome = await pipe.providers
        .add({
          projectId: `check-${row.provider}`,
          channel: row.message.channel,
          provider: row.provider,
          name: 'checked',
          config: row.config(fake.origin),
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(isProviderError(outcome), String(outcome)).toBe(true);
      const error = outcome as ProviderError;
      expect(error.failureClass).not.toBe('message');
      expect(['MESSAGE_REJECTED', 'RECIPIENT_INVALID', 'RECIPIENT_SUPPRESSED']).not.toContain(error.code);
    } finally {
      await pipe.close();
    }
  });
});
