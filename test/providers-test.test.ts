import { MessagePipeError } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { dispatcherWithSender, OTHER_PROJECT, PROJECT, sampleConfigs } from './helpers';

const SECRET = 'SG.provider-test-secret-0001';
const message = { to: 'ann@example.test', subject: 'Test', text: 'Does this provider work?' };

async function setUp(enabled: boolean) {
  const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
  const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
  const pipe = await dispatcherWithSender({
    adapters: [primary, backup],
    retry: { retries: 3, minDelayMs: 1 },
  });
  const record = await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'sendgrid',
    name: 'Primary',
    enabled,
    priority: 1,
    config: { apiKey: SECRET },
  });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'smtp',
    name: 'Backup',
    priority: 2,
    config: sampleConfigs.smtp,
  });
  return { pipe, primary, backup, record };
}

describe('pipe.providers.test', () => {
  it('sends through a disabled provider config, and only through it', async () => {
    const { pipe, primary, backup, record } = await setUp(false);
    const attempt = await pipe.providers.test({ projectId: PROJECT, id: record.id }, message);
    expect(attempt).toMatchObject({ providerConfigId: record.id, provider: 'sendgrid', outcome: 'sent' });
    expect(attempt.messageId).toBe(primary.sent[0]?.messageId);
    expect(primary.sent[0]?.message).toMatchObject({ subject: 'Test', from: { email: 'noreply@acme.test' } });
    expect(backup.calls).toHaveLength(0);
  });

  it('resolves with the classified failure: no retry, no failover, secrets scrubbed', async () => {
    const { pipe, primary, backup, record } = await setUp(true);
    primary.setBehaviour({ fail: 'transient', message: `upstream said no to ${SECRET}` });
    const attempt = await pipe.providers.test({ projectId: PROJECT, id: record.id }, message);
    expect(attempt.outcome).toBe('failed');
    expect(attempt.error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', failureClass: 'transient' });
    expect(JSON.stringify(attempt)).not.toContain(SECRET);
    expect(attempt.error?.message).toContain('[REDACTED]');
    expect(primary.calls).toHaveLength(1);
    expect(backup.calls).toHaveLength(0);
    // Not counted as sends: the breaker and the stats of the provider config are untouched.
    expect(pipe.stats()).toEqual([]);
  });

  it('works while the channel is disabled, and takes the channel from the record', async () => {
    const { pipe, record } = await setUp(true);
    await pipe.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      enabled: false,
    });
    await expect(pipe.send({ projectId: PROJECT, channel: 'email', ...message })).rejects.toMatchObject({
      code: 'CHANNEL_DISABLED',
    });
    const attempt = await pipe.providers.test(
      { projectId: PROJECT, id: record.id },
      { channel: 'email', ...message },
    );
    expect(attempt.outcome).toBe('sent');
  });

  it('refuses a bad message before calling the provider, and ids of other projects', async () => {
    const { pipe, primary, record } = await setUp(true);
    const invalid = await pipe.providers
      .test({ projectId: PROJECT, id: record.id }, { to: 'not an address', subject: 'x', text: 'y' })
      .catch((error: unknown) => error);
    expect(invalid).toBeInstanceOf(MessagePipeError);
    expect(invalid).toMatchObject({ code: 'MESSAGE_INVALID', issues: [{ path: ['to'] }] });
    await expect(
      pipe.providers.test(
        { projectId: PROJECT, id: record.id },
        { channel: 'sms', to: '+14155550100', body: 'x' },
      ),
    ).rejects.toMatchObject({ code: 'MESSAGE_INVALID', issues: [{ path: ['channel'] }] });
    await expect(
      pipe.providers.test({ projectId: OTHER_PROJECT, id: record.id }, message),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(primary.calls).toHaveLength(0);
  });
});
