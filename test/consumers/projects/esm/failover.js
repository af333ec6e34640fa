// An ES module app: `import` of the packed package; a transiently failing primary, retries, failover to a real SMTP
// server. MP_LABEL, MP_SMTP_FAILING_PORT, MP_SMTP_INBOX_PORT: as in the CommonJS project.
import assert from 'node:assert/strict';
import { Dispatcher } from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';
import { createMockAdapter } from 'messagepipe/testing';

const label = process.env.MP_LABEL;
const projectId = 'consumer';
const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email', behaviour: 'transient' });
const pipe = new Dispatcher({
  adapters: [primary, smtp()],
  retry: { retries: 2, minDelayMs: 5, jitter: false },
});
try {
  await pipe.senders.set({ projectId, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add({
    projectId,
    channel: 'email',
    provider: 'sendgrid',
    name: 'Primary',
    priority: 1,
    config: { apiKey: 'SG.consumer' },
  });
  const smtpConfig = (port) => ({ host: '127.0.0.1', port: Number(port), secure: false, timeoutMs: 5000 });
  await pipe.providers.add({
    projectId,
    channel: 'email',
    provider: 'smtp',
    name: 'Second (421)',
    priority: 2,
    config: smtpConfig(process.env.MP_SMTP_FAILING_PORT),
  });
  const backup = await pipe.providers.add({
    projectId,
    channel: 'email',
    provider: 'smtp',
    name: 'Backup',
    priority: 3,
    config: smtpConfig(process.env.MP_SMTP_INBOX_PORT),
  });
  const result = await pipe.send({
    projectId,
    channel: 'email',
    to: 'ann@example.test',
    subject: `${label}: esm`,
    text: 'Hi',
  });
  assert.equal(result.providerConfigId, backup.id);
  const summary = result.attempts.map((attempt) => [
    attempt.provider,
    attempt.outcome,
    attempt.error?.code ?? null,
  ]);
  assert.deepEqual(summary, [
    ...Array.from({ length: 3 }, () => ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE']),
    ...Array.from({ length: 3 }, () => ['smtp', 'failed', 'PROVIDER_UNAVAILABLE']),
    ['smtp', 'sent', null],
  ]);
  console.log(JSON.stringify({ label, attempts: summary }));
} finally {
  await pipe.close();
}
