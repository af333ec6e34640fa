/** `breakers.restore()` takes untrusted plain data: it is validated, and it can never skip a provider for good. */
import { Dispatcher, isMessagePipeError } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { email, PROJECT, sampleConfigs } from './helpers';

const COOLDOWN_MS = 1_000;

async function setUp() {
  const adapter = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
  const pipe = new Dispatcher({
    adapters: [adapter],
    retry: false,
    circuitBreaker: { failureThreshold: 3, cooldownMs: COOLDOWN_MS },
  });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  const record = await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'sendgrid',
    name: 'primary',
    config: sampleConfigs.sendgrid,
  });
  return { pipe, adapter, id: record.id };
}

function pathsOf(thrown: unknown): string[] {
  if (!isMessagePipeError(thrown)) throw new Error(`Expected a MessagePipeError, got ${String(thrown)}`);
  expect(thrown.code).toBe('CONFIG_INVALID');
  return (thrown.issues ?? []).map((issue) => issue.path.join('.'));
}

describe('breakers.restore', () => {
  it('refuses what is not a snapshot with CONFIG_INVALID and paths, changing nothing', async () => {
    const { pipe, id } = await setUp();
    const entry = { projectId: PROJECT, providerConfigId: id, state: 'open', consecutiveFailures: 3 };
    const cases: Array<[unknown, string[]]> = [
      [null, ['']],
      ['open', ['']],
      [{ [id]: { state: 'open', consecutiveFailures: 3 } }, ['']],
      [[{ ...entry, retryAt: Number.NaN }], ['0.retryAt']],
      [[{ ...entry, openedAt: Number.POSITIVE_INFINITY }], ['0.openedAt']],
      [[{ ...entry, consecutiveFailures: -1 }], ['0.consecutiveFailures']],
      [[{ ...entry, consecutiveFailures: 1.5 }], ['0.consecutiveFailures']],
      [[{ ...entry, retryAt: -5 }], ['0.retryAt']],
      [[{ ...entry, state: 'ajar' }], ['0.state']],
      [[{ ...entry, projectId: undefined }], ['0.projectId']],
      [[entry, { ...entry, providerConfigId: '' }], ['1.providerConfigId']],
    ];
    for (const [snapshot, paths] of cases) {
      const thrown = (() => {
        try {
          pipe.breakers.restore(snapshot as never);
        } catch (error) {
          return error;
        }
        return undefined;
      })();
      expect(pathsOf(thrown)).toEqual(paths);
    }
    // The valid first entry of the last case was not applied either.
    expect(pipe.breakers.export()).toEqual([]);
  });

  it('clamps a cool-down to the configured maximum from now, so a provider is never skipped for good', async () => {
    const { pipe, adapter, id } = await setUp();
    const now = Date.now();
    pipe.breakers.restore([
      {
        projectId: PROJECT,
        providerConfigId: id,
        state: 'open',
        consecutiveFailures: 3,
        openedAt: now + 10 * 365 * 86_400_000,
        retryAt: Number.MAX_SAFE_INTEGER,
      },
    ]);
    const state = pipe.breakers.state({ projectId: PROJECT, id });
    expect(state.state).toBe('open');
    expect(state.openedAt).toBeLessThanOrEqual(Date.now());
    expect(state.retryAt).toBeLessThanOrEqual(Date.now() + COOLDOWN_MS);
    await new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS + 50));
    await expect(pipe.send(email)).resolves.toMatchObject({ provider: 'sendgrid' });
    expect(adapter.calls).toHaveLength(1);
    expect(pipe.breakers.state({ projectId: PROJECT, id }).state).toBe('closed');
  });

  it('names the provider when a circuit restored while an attempt runs closes on its success', async () => {
    const { pipe, id } = await setUp();
    const closed: string[] = [];
    pipe.on('breaker:close', (event) => closed.push(event.provider));
    // Another process's snapshot lands during the attempt: every circuit was clean when it started.
    const off = pipe.on('attempt:start', () => {
      off();
      pipe.breakers.restore([
        { projectId: PROJECT, providerConfigId: id, state: 'half-open', consecutiveFailures: 3, openedAt: 0 },
      ]);
    });
    await expect(pipe.send(email)).resolves.toMatchObject({ provider: 'sendgrid' });
    expect(closed).toEqual(['sendgrid']);
    expect(pipe.breakers.state({ projectId: PROJECT, id }).state).toBe('closed');
  });

  it('lets a restored half-open circuit probe at once (no probe is under way in this process)', async () => {
    const { pipe, id } = await setUp();
    pipe.breakers.restore([
      { projectId: PROJECT, providerConfigId: id, state: 'half-open', consecutiveFailures: 3, openedAt: 0 },
    ]);
    await expect(pipe.send(email)).resolves.toMatchObject({ provider: 'sendgrid' });
  });
});
