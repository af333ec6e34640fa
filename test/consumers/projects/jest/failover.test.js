// Jest in its default mode: modules are CommonJS, and `import()` is refused without --experimental-vm-modules, so
// the package and the SDKs it loads lazily must come through require(). MP_LABEL, MP_SMTP_INBOX_PORT: as in the
// CommonJS project.
const { Dispatcher, isMessagePipeError } = require('messagepipe');
const { smtp } = require('messagepipe/adapters/smtp');
const { createMockAdapter } = require('messagepipe/testing');

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
    subject: `${label}: jest`,
    text: 'Hi',
  });

  expect(result.providerConfigId).toBe(backup.id);
  expect(result.attempts.map((attempt) => [attempt.provider, attempt.outcome, attempt.error?.code])).toEqual([
    ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
    ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
    ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
    ['smtp', 'sent', undefined],
  ]);
  expect(primary.calls).toHaveLength(3);
});

test('a bad message is refused with the library error', async () => {
  pipe = new Dispatcher({ adapters: [createMockAdapter({ provider: 'smtp', channel: 'email' })] });
  const error = await pipe
    .send({ projectId, channel: 'email', to: 'not an address', subject: 'x', text: 'x' })
    .catch((e) => e);
  expect(isMessagePipeError(error)).toBe(true);
  expect(error.code).toBe('MESSAGE_INVALID');
});
