import { createMockAdapter } from 'messagepipe/testing';
import { expect, it } from 'vitest';
import { dispatcherWithSender, email, PROJECT } from './helpers';

it('fails over from a failing primary to a working secondary', async () => {
  const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email', behaviour: 'transient' });
  const secondary = createMockAdapter({ provider: 'smtp', channel: 'email' });
  const pipe = await dispatcherWithSender({ adapters: [primary, secondary] });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'sendgrid',
    name: 'SG',
    priority: 1,
    config: { apiKey: 'SG.secret-key' },
  });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'smtp',
    name: 'SMTP',
    priority: 2,
    config: { host: '127.0.0.1', port: 2525, secure: false },
  });
  const result = await pipe.send(email);
  expect(result.provider).toBe('smtp');
  expect(result.attempts.map((a) => [a.provider, a.outcome])).toEqual([
    ['sendgrid', 'failed'],
    ['smtp', 'sent'],
  ]);
  expect(secondary.sent[0]?.message.from).toEqual({ email: 'noreply@acme.test', name: 'Acme' });
});
