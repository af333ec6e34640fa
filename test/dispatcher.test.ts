import {
  type AnyAdapter,
  type Attempt,
  Dispatcher,
  type DispatcherEvents,
  defineAdapter,
  InMemoryProviderStore,
  isMessagePipeError,
  isProviderError,
  type MessagePipeError,
  type OutboundEmail,
  ProviderError,
} from 'messagepipe';
import { createMockAdapter, type MockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dispatcherWithSender, email, OTHER_PROJECT, PROJECT, sampleConfigs } from './helpers';

type EmailProvider = 'sendgrid' | 'mailgun' | 'postmark' | 'ses' | 'smtp';

/** A dispatcher with one mock adapter per listed provider, each added with the given priority. */
async function setup(providers: Array<{ provider: EmailProvider; priority: number; enabled?: boolean }>) {
  const mocks = Object.fromEntries(
    providers.map(({ provider }) => [provider, createMockAdapter({ provider, channel: 'email' })]),
  ) as Record<EmailProvider, MockAdapter<'email'>>;
  const pipe = await dispatcherWithSender({ adapters: Object.values(mocks) });
  const ids: Record<string, string> = {};
  for (const { provider, priority, enabled } of providers) {
    const record = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider,
      name: provider,
      priority,
      enabled: enabled ?? true,
      config: sampleConfigs[provider],
    });
    ids[provider] = record.id;
  }
  return { pipe, mocks, ids };
}

/** A dispatcher trying `primary` (a custom adapter with an empty config) first, then a mock SMTP backup. */
async function withSmtpBackup(primary: AnyAdapter) {
  const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
  const pipe = await dispatcherWithSender({ adapters: [primary, backup] });
  const add = (provider: string, priority: number, config: Record<string, unknown>) =>
    pipe.providers.add({ projectId: PROJECT, channel: 'email', provider, name: provider, priority, config });
  await add(primary.provider, 1, {});
  await add('smtp', 2, sampleConfigs.smtp);
  return { pipe, backup };
}

async function failure(promise: Promise<unknown>): Promise<MessagePipeError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown as MessagePipeError,
  );
  expect(error, 'expected the send to fail').toBeDefined();
  return error!;
}

const summary = (attempts: readonly Attempt[]) =>
  attempts.map((attempt) => `${attempt.provider}:${attempt.outcome}`);

describe('Dispatcher failover', () => {
  it('tries providers in priority order, lower first, whatever the order they were added in', async () => {
    const { pipe, mocks } = await setup([
      { provider: 'smtp', priority: 30 },
      { provider: 'sendgrid', priority: 10 },
      { provider: 'mailgun', priority: 20 },
    ]);
    mocks.sendgrid.setBehaviour('transient');
    mocks.mailgun.setBehaviour('provider');
    const result = await pipe.send(email);
    expect(summary(result.attempts)).toEqual(['sendgrid:failed', 'mailgun:failed', 'smtp:sent']);
    expect(result.provider).toBe('smtp');
    expect(result.messageId).toBe(mocks.smtp.sent[0]?.messageId);
    expect(result.attempts[0]?.error).toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      failureClass: 'transient',
    });
    expect(result.attempts[1]?.error).toMatchObject({
      code: 'PROVIDER_INVALID_CREDENTIALS',
      failureClass: 'provider',
    });
    for (const attempt of result.attempts) expect(attempt.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('stops at the first success', async () => {
    const { pipe, mocks, ids } = await setup([
      { provider: 'sendgrid', priority: 1 },
      { provider: 'mailgun', priority: 2 },
    ]);
    const result = await pipe.send(email);
    expect(result).toMatchObject({ provider: 'sendgrid', providerConfigId: ids.sendgrid });
    expect(result.attempts).toHaveLength(1);
    expect(mocks.mailgun.calls).toHaveLength(0);
  });

  it('skips disabled providers', async () => {
    const { pipe, mocks } = await setup([
      { provider: 'sendgrid', priority: 1, enabled: false },
      { provider: 'mailgun', priority: 2 },
    ]);
    const result = await pipe.send(email);
    expect(summary(result.attempts)).toEqual(['mailgun:sent']);
    expect(mocks.sendgrid.calls).toHaveLength(0);
  });

  it('stops on a message-level failure without calling the next provider', async () => {
    const { pipe, mocks } = await setup([
      { provider: 'postmark', priority: 1 },
      { provider: 'sendgrid', priority: 2 },
    ]);
    mocks.postmark.setBehaviour({
      fail: 'RECIPIENT_SUPPRESSED',
      status: 422,
      providerCode: 406,
      message: 'Inactive',
    });
    const error = await failure(pipe.send(email));
    expect(isProviderError(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'RECIPIENT_SUPPRESSED',
      failureClass: 'message',
      provider: 'postmark',
    });
    expect(summary(error.attempts ?? [])).toEqual(['postmark:failed']);
    expect(mocks.sendgrid.calls).toHaveLength(0);
  });

  it('reports every attempt when all providers fail', async () => {
    const { pipe, mocks, ids } = await setup([
      { provider: 'sendgrid', priority: 1 },
      { provider: 'mailgun', priority: 2 },
      { provider: 'ses', priority: 3 },
    ]);
    mocks.sendgrid.setBehaviour('transient');
    mocks.mailgun.setBehaviour({ fail: 'ACCOUNT_SUSPENDED', status: 403 });
    mocks.ses.setBehaviour({ fail: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 2000 });
    const error = await failure(pipe.send(email));
    expect(isMessagePipeError(error)).toBe(true);
    expect(error.code).toBe('ALL_PROVIDERS_FAILED');
    expect(error.attempts).toEqual([
      expect.objectContaining({ providerConfigId: ids.sendgrid, provider: 'sendgrid', outcome: 'failed' }),
      expect.objectContaining({ providerConfigId: ids.mailgun, provider: 'mailgun', outcome: 'failed' }),
      expect.objectContaining({ providerConfigId: ids.ses, provider: 'ses', outcome: 'failed' }),
    ]);
    expect(error.attempts?.map((attempt) => attempt.error?.code)).toEqual([
      'PROVIDER_UNAVAILABLE',
      'ACCOUNT_SUSPENDED',
      'PROVIDER_RATE_LIMITED',
    ]);
    expect(error.attempts?.[2]?.error).toMatchObject({
      status: 429,
      retryAfterMs: 2000,
      failureClass: 'transient',
    });
    expect(error.message).toContain('sendgrid: PROVIDER_UNAVAILABLE');
  });

  it('answers NO_PROVIDERS when the project has no enabled provider for the channel', async () => {
    const { pipe } = await setup([{ provider: 'sendgrid', priority: 1, enabled: false }]);
    expect((await failure(pipe.send(email))).code).toBe('NO_PROVIDERS');
    expect((await failure(pipe.send({ ...email, projectId: OTHER_PROJECT, from: 'a@acme.test' }))).code).toBe(
      'NO_PROVIDERS',
    );
    await pipe.senders.set({ projectId: PROJECT, channel: 'sms', from: '+14155550100', enabled: true });
    const sms = await failure(
      pipe.send({ projectId: PROJECT, channel: 'sms', to: '+14155550101', body: 'Hi' }),
    );
    expect(sms.code).toBe('NO_PROVIDERS');
  });

  it('refuses with CHANNEL_DISABLED when the project’s sender configuration is disabled', async () => {
    const { pipe, mocks } = await setup([{ provider: 'sendgrid', priority: 1 }]);
    await pipe.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      enabled: false,
    });
    expect((await failure(pipe.send(email))).code).toBe('CHANNEL_DISABLED');
    expect(mocks.sendgrid.calls).toHaveLength(0);
  });

  it('fills the SMS sender from the project’s sender configuration, overridable per message', async () => {
    const twilio = createMockAdapter({ provider: 'twilio', channel: 'sms' });
    const pipe = new Dispatcher({ adapters: [twilio] });
    await pipe.senders.set({ projectId: PROJECT, channel: 'sms', senderId: 'Acme', from: '+14155550100' });
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'sms',
      provider: 'twilio',
      name: 'TW',
      config: sampleConfigs.twilio,
    });
    await pipe.send({ projectId: PROJECT, channel: 'sms', to: '+2348012345678', body: 'Your code is 1234' });
    await pipe.send({ projectId: PROJECT, channel: 'sms', to: '+2348012345678', body: 'Hi', from: 'Promo' });
    expect(twilio.sent[0]?.message).toEqual({
      channel: 'sms',
      to: '+2348012345678',
      body: 'Your code is 1234',
      senderId: 'Acme',
      senderNumber: '+14155550100',
    });
    expect(twilio.sent[1]?.message.from).toBe('Promo');
  });

  it('reports ADAPTER_MISSING on the attempt when a stored provider has no adapter in this process', async () => {
    const store = new InMemoryProviderStore();
    const admin = new Dispatcher({
      store,
      adapters: [
        createMockAdapter({ provider: 'sendgrid', channel: 'email' }),
        createMockAdapter({ provider: 'smtp', channel: 'email' }),
      ],
    });
    await admin.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
    await admin.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'SG',
      priority: 1,
      config: sampleConfigs.sendgrid,
    });
    await admin.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'smtp',
      name: 'SMTP',
      priority: 2,
      config: sampleConfigs.smtp,
    });
    const smtpOnly = createMockAdapter({ provider: 'smtp', channel: 'email' });
    const sender = new Dispatcher({ store, adapters: [smtpOnly] });
    const result = await sender.send(email);
    expect(result.provider).toBe('smtp');
    expect(result.attempts[0]?.error).toMatchObject({ code: 'ADAPTER_MISSING', failureClass: 'provider' });
  });

  it('refuses to add a provider whose adapter is not registered', async () => {
    const pipe = new Dispatcher({ adapters: [createMockAdapter({ provider: 'smtp', channel: 'email' })] });
    // The types refuse an unregistered name; the untyped view (e.g. for input from an HTTP API) takes any.
    const untyped: Dispatcher = pipe;
    const error = await failure(
      untyped.providers.add({
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'SG',
        config: sampleConfigs.sendgrid,
      }),
    );
    expect(error.code).toBe('ADAPTER_MISSING');
    expect(await pipe.providers.list({ projectId: PROJECT })).toEqual([]);
  });

  it('treats anything an adapter throws that is not classified as a provider-level failure', async () => {
    const broken = defineAdapter({
      provider: 'broken',
      channel: 'email',
      configSchema: z.object({}),
      async send() {
        throw new TypeError('Cannot read properties of undefined');
      },
    });
    const { pipe } = await withSmtpBackup(broken);
    const result = await pipe.send(email);
    expect(result.provider).toBe('smtp');
    expect(result.attempts[0]?.error).toMatchObject({ code: 'ADAPTER_ERROR', failureClass: 'provider' });
    expect(result.attempts[0]?.error?.message).toContain('Cannot read properties of undefined');
  });

  it('times out an attempt that never answers and fails over, marking it ambiguous', async () => {
    const hanging = createMockAdapter({ provider: 'sendgrid', channel: 'email', behaviour: 'hang' });
    const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
    const pipe = await dispatcherWithSender({ adapters: [hanging, backup] });
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'SG',
      priority: 1,
      config: { ...sampleConfigs.sendgrid, timeoutMs: 100 },
    });
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'smtp',
      name: 'S',
      priority: 2,
      config: sampleConfigs.smtp,
    });
    const result = await pipe.send(email);
    expect(result.provider).toBe('smtp');
    expect(result.attempts[0]?.error).toMatchObject({
      code: 'PROVIDER_TIMEOUT',
      failureClass: 'transient',
      ambiguous: true,
    });
  });

  it('gives up promptly when the caller aborts', async () => {
    const { pipe, mocks } = await setup([{ provider: 'sendgrid', priority: 1 }]);
    mocks.sendgrid.setBehaviour('hang');
    const controller = new AbortController();
    const pending = pipe.send(email, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect((await failure(pending)).code).toBe('ABORTED');
  });

  it('passes one idempotency key to every attempt of a send', async () => {
    const { pipe, mocks } = await setup([
      { provider: 'sendgrid', priority: 1 },
      { provider: 'mailgun', priority: 2 },
    ]);
    mocks.sendgrid.setBehaviour('transient');
    const given = await pipe.send(email, { idempotencyKey: 'order-42-receipt' });
    expect(given.idempotencyKey).toBe('order-42-receipt');
    expect(mocks.sendgrid.calls[0]?.idempotencyKey).toBe('order-42-receipt');
    expect(mocks.mailgun.calls[0]?.idempotencyKey).toBe('order-42-receipt');
    const generated = await pipe.send(email);
    expect(generated.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    expect(mocks.mailgun.calls[1]?.idempotencyKey).toBe(generated.idempotencyKey);
  });

  it('hands every attempt the same frozen message', async () => {
    const seen: OutboundEmail[] = [];
    const meddler = defineAdapter({
      provider: 'meddler',
      channel: 'email',
      configSchema: z.object({}),
      async send(message) {
        seen.push(message);
        expect(() => {
          (message as { subject: string }).subject = 'changed';
        }).toThrow(TypeError);
        expect(() => {
          message.to.push({ email: 'extra@example.test' });
        }).toThrow(TypeError);
        throw new ProviderError('PROVIDER_UNAVAILABLE', 'down', { provider: 'meddler' });
      },
    });
    const { pipe, backup } = await withSmtpBackup(meddler);
    await pipe.send(email);
    expect(backup.sent[0]?.message.subject).toBe('Hello');
    expect(backup.sent[0]?.message.to).toEqual([{ email: 'ann@example.test' }]);
    expect(seen).toHaveLength(1);
  });

  it('emits attempt, failover and outcome events', async () => {
    const { pipe, mocks } = await setup([
      { provider: 'sendgrid', priority: 1 },
      { provider: 'mailgun', priority: 2 },
    ]);
    mocks.sendgrid.setBehaviour('transient');
    const events: Array<[keyof DispatcherEvents, unknown]> = [];
    for (const name of [
      'attempt:start',
      'attempt:finish',
      'failover',
      'send:success',
      'send:failure',
    ] as const) {
      pipe.on(name, (payload) => events.push([name, payload]));
    }
    await pipe.send(email, { idempotencyKey: 'k1' });
    expect(events.map(([name]) => name)).toEqual([
      'attempt:start',
      'attempt:finish',
      'failover',
      'attempt:start',
      'attempt:finish',
      'send:success',
    ]);
    expect(events[2]?.[1]).toMatchObject({
      idempotencyKey: 'k1',
      toProvider: 'mailgun',
      from: { provider: 'sendgrid' },
    });
  });

  it('keeps sending when an event listener throws', async () => {
    const warnings: string[] = [];
    const mock = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const pipe = await dispatcherWithSender({
      adapters: [mock],
      logger: { debug: () => {}, warn: (message) => warnings.push(message) },
    });
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'SG',
      config: sampleConfigs.sendgrid,
    });
    pipe.on('send:success', () => {
      throw new Error('listener bug');
    });
    await expect(pipe.send(email)).resolves.toMatchObject({ provider: 'sendgrid' });
    expect(warnings).toEqual(['A listener of "send:success" threw']);
  });

  it('releases adapters on close and refuses later sends', async () => {
    const { pipe, mocks } = await setup([{ provider: 'sendgrid', priority: 1 }]);
    await pipe.close();
    expect(mocks.sendgrid.closed).toBe(true);
    expect((await failure(pipe.send(email))).code).toBe('DISPATCHER_CLOSED');
  });

  it('refuses two adapters for one provider, and a built-in provider on the wrong channel', () => {
    expect(
      () =>
        new Dispatcher({
          adapters: [
            createMockAdapter({ provider: 'smtp', channel: 'email' }),
            createMockAdapter({ provider: 'smtp', channel: 'email' }),
          ],
        }),
    ).toThrow(/Two adapters/);
    expect(
      () => new Dispatcher({ adapters: [createMockAdapter({ provider: 'twilio', channel: 'email' })] }),
    ).toThrow(/sms provider/);
  });
});
