// A vitest project importing the packed package. MP_LABEL, MP_SMTP_INBOX_PORT: as in the CommonJS project.
import { Dispatcher } from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';
import { createMockAdapter } from 'messagepipe/testing';
import { afterEach, expect, test } from 'vitest';

const label = process.env.MP_LABEL;
const projectId = 'consumer';
let pipe;
afterEach(() => pipe?.close());

test('a transiently failing primary is retried, then the real SMTP backup sends', async () => {
  const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email', behaviour: 'transient' });
  pipe = new Dispatcher({ adapters: [primary, smtp()], retry: { retries: 2, minDelayMs: 5, jitter: false } });
  await pipe.senders.set({ projectId, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add({
    projectId,
    channel: 'email',
    provider: 'sendgrid',
    name: 'Primary',
    priority: 1,
    config: { apiKey: 'SG.consumer' },
  });
  const backup = await pipe.providers.add({
    projectId,
    channel: 'email',
    provider: 'smtp',
    name: 'Backup',
    priority: 2,
    config: {
      host: '127.0.0.1',
      port: Number(process.env.MP_SMTP_INBOX_PORT),
      secure: false,
      timeoutMs: 5000,
    },
  });

  const result = await pipe.send({
    projectId,
    channel: 'email',
    to: 'ann@example.test',
    subject: `${label}: vitest`,
    text: 'Hi',
  });

  expect(result.providerConfigId).toBe(backup.id);
  expect(result.attempts.map((attempt) => [attempt.provider, attempt.outcome, attempt.error?.code])).toEqual([
    ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
    ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
    ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
    ['smtp', 'sent', undefined],
  ]);
});
