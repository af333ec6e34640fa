// A CommonJS app: `require()` of the packed package, a primary that keeps failing transiently, retries, failover.
// MP_LABEL names the run (in each subject), MP_SMTP_FAILING_PORT answers 421 to MAIL FROM, MP_SMTP_INBOX_PORT
// accepts. Exits non-zero when a check fails.
const assert = require('node:assert/strict');
const { Dispatcher, isMessagePipeError } = require('messagepipe');
const { smtp } = require('messagepipe/adapters/smtp');
const { createMockAdapter } = require('messagepipe/testing');

const label = process.env.MP_LABEL;
const projectId = 'consumer';
const retry = { retries: 2, minDelayMs: 5, maxDelayMs: 20, jitter: false };
const email = { projectId, channel: 'email', to: 'ann@example.test', text: 'Hello Ann' };

async function withSender(pipe) {
  await pipe.senders.set({
    projectId,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    senderName: 'Acme',
  });
  return pipe;
}

function summary(result) {
  return result.attempts.map((attempt) => [attempt.provider, attempt.outcome, attempt.error?.code ?? null]);
}

const failedThrice = (provider, code) => Array.from({ length: 3 }, () => [provider, 'failed', code]);

async function mockFailover() {
  const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email', behaviour: 'transient' });
  const backup = createMockAdapter({ provider: 'postmark', channel: 'email' });
  const pipe = await withSender(new Dispatcher({ adapters: [primary, backup], retry }));
  try {
    await pipe.providers.add({
      projectId,
      channel: 'email',
      provider: 'sendgrid',
      name: 'Primary',
      priority: 1,
      config: { apiKey: 'SG.consumer' },
    });
    await pipe.providers.add({
      projectId,
      channel: 'email',
      provider: 'postmark',
      name: 'Backup',
      priority: 2,
      config: { serverToken: 'postmark-consumer' },
    });
    const result = await pipe.send({ ...email, subject: `${label}: mock failover` });
    assert.equal(result.provider, 'postmark');
    assert.deepEqual(summary(result), [
      ...failedThrice('sendgrid', 'PROVIDER_UNAVAILABLE'),
      ['postmark', 'sent', null],
    ]);
    assert.equal(primary.calls.length, 3);
    assert.equal(backup.sent[0]?.message.subject, `${label}: mock failover`);

    // When every provider fails, the caller gets the library's error, not a TypeError from inside it.
    backup.respondWith('transient', 'transient', 'transient');
    const error = await pipe.send({ ...email, subject: `${label}: all fail` }).then(
      () => assert.fail('the send should fail'),
      (caught) => caught,
    );
    assert.ok(isMessagePipeError(error), `a MessagePipeError, not ${error}`);
    assert.equal(error.code, 'ALL_PROVIDERS_FAILED');
    return summary(result);
  } finally {
    await pipe.close();
  }
}

async function smtpFailover() {
  const pipe = await withSender(new Dispatcher({ adapters: [smtp()], retry }));
  try {
    const primary = await pipe.providers.add({
      projectId,
      channel: 'email',
      provider: 'smtp',
      name: 'Primary (421)',
      priority: 1,
      config: {
        host: '127.0.0.1',
        port: Number(process.env.MP_SMTP_FAILING_PORT),
        secure: false,
        timeoutMs: 5000,
      },
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
    const result = await pipe.send({ ...email, subject: `${label}: smtp failover` });
    assert.equal(result.providerConfigId, backup.id);
    assert.deepEqual(
      result.attempts.map((attempt) => attempt.providerConfigId),
      [primary.id, primary.id, primary.id, backup.id],
    );
    assert.deepEqual(summary(result), [
      ...failedThrice('smtp', 'PROVIDER_UNAVAILABLE'),
      ['smtp', 'sent', null],
    ]);
    return summary(result);
  } finally {
    await pipe.close();
  }
}

async function main() {
  const mock = await mockFailover();
  const overSmtp = await smtpFailover();
  console.log(JSON.stringify({ label, mock, smtp: overSmtp }));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
