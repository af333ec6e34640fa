import { Dispatcher } from 'messagepipe';
import { createMockAdapter, type MockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { dispatcherWithSender, email, PROJECT, sampleConfigs } from './helpers';

async function pipeWith(...adapters: MockAdapter<'email'>[]): Promise<Dispatcher> {
  const pipe = await dispatcherWithSender({ adapters });
  let priority = 1;
  for (const adapter of adapters) {
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: adapter.provider,
      name: adapter.provider,
      priority: priority++,
      config: sampleConfigs[adapter.provider as 'sendgrid' | 'smtp'],
    });
  }
  return pipe;
}

describe('createMockAdapter', () => {
  it('plays queued behaviours once each, then its default', async () => {
    const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
    const pipe = await pipeWith(primary, backup);
    primary.respondWith('transient', { fail: 'RECIPIENT_INVALID', message: 'no such user' });
    expect((await pipe.send(email)).provider).toBe('smtp');
    await expect(pipe.send(email)).rejects.toMatchObject({
      code: 'RECIPIENT_INVALID',
      message: 'no such user',
    });
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    expect(primary.calls.map((call) => call.outcome)).toEqual(['failed', 'failed', 'sent']);
    expect(primary.sent).toHaveLength(1);
    expect(backup.sent).toHaveLength(1);
  });

  it('fails with each failure class and the details given', async () => {
    const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const pipe = await pipeWith(primary);
    for (const [behaviour, code] of [
      ['transient', 'PROVIDER_UNAVAILABLE'],
      ['provider', 'PROVIDER_INVALID_CREDENTIALS'],
      ['message', 'RECIPIENT_INVALID'],
    ] as const) {
      primary.respondWith(behaviour);
      const error = await pipe.send(email).catch((thrown: unknown) => thrown);
      const attempt = (error as { attempts: { error: { code: string } }[] }).attempts[0];
      expect(attempt?.error.code).toBe(code);
    }
    primary.respondWith({ fail: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 1500 });
    const limited = await pipe.send(email).catch((thrown: unknown) => thrown);
    expect((limited as { attempts: { error: unknown }[] }).attempts[0]?.error).toMatchObject({
      code: 'PROVIDER_RATE_LIMITED',
      status: 429,
      retryAfterMs: 1500,
    });
  });

  it('waits before answering, and returns a scripted message id', async () => {
    const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const pipe = await pipeWith(primary);
    primary.respondWith({ ok: true, messageId: 'fixed-id', delayMs: 30 });
    const started = Date.now();
    const result = await pipe.send(email);
    expect(result.messageId).toBe('fixed-id');
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('records what it was sent and forgets it on reset', async () => {
    const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email', behaviour: 'provider' });
    const pipe = await pipeWith(primary);
    await pipe.send(email, { idempotencyKey: 'key-1' }).catch(() => {});
    expect(primary.calls[0]).toMatchObject({
      projectId: PROJECT,
      idempotencyKey: 'key-1',
      outcome: 'failed',
      message: { subject: 'Hello', to: [{ email: 'ann@example.test' }] },
    });
    expect(primary.calls[0]?.error?.code).toBe('PROVIDER_INVALID_CREDENTIALS');
    primary.setBehaviour('ok').respondWith('transient');
    primary.reset();
    expect(primary.calls).toEqual([]);
    // Back to the creation-time default, with the queued behaviour gone.
    await expect(pipe.send(email)).rejects.toMatchObject({ code: 'ALL_PROVIDERS_FAILED' });
    expect(primary.calls[0]?.error?.code).toBe('PROVIDER_INVALID_CREDENTIALS');
  });

  it('answers credential checks as configured', async () => {
    const primary = createMockAdapter({
      provider: 'sendgrid',
      channel: 'email',
      verify: (config) => ({
        valid: (config as { apiKey: string }).apiKey.startsWith('SG.'),
        reason: 'bad prefix',
      }),
    });
    const pipe = new Dispatcher({ adapters: [primary] });
    await expect(
      pipe.providers.add({
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'x',
        config: { apiKey: 'nope' },
      }),
    ).rejects.toMatchObject({ code: 'PROVIDER_INVALID_CREDENTIALS' });
    await expect(
      pipe.providers.add({
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'x',
        config: { apiKey: 'SG.ok' },
      }),
    ).resolves.toMatchObject({ credentials: { status: 'valid' } });
    expect(primary.verifyCount).toBe(2);
  });
});
