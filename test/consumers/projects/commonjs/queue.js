// A CommonJS app running the queue worker (`messagepipe/queue`) against a real Redis at MP_REDIS_PORT: one job,
// enqueued, sent by the worker after the primary's retries and a failover. Exits non-zero when a check fails.
const assert = require('node:assert/strict');
const { Dispatcher } = require('messagepipe');
const { createSendQueue, createSendWorker } = require('messagepipe/queue');
const { createMockAdapter } = require('messagepipe/testing');

const label = process.env.MP_LABEL;
const projectId = 'consumer';

async function main() {
  const connection = { host: '127.0.0.1', port: Number(process.env.MP_REDIS_PORT) };
  const queueName = `consumer-${label}`;
  const primary = createMockAdapter({ provider: 'twilio', channel: 'sms', behaviour: 'transient' });
  const backup = createMockAdapter({ provider: 'termii', channel: 'sms' });
  const pipe = new Dispatcher({
    adapters: [primary, backup],
    retry: { retries: 2, minDelayMs: 5, maxDelayMs: 20, jitter: false },
  });
  await pipe.senders.set({ projectId, channel: 'sms', senderId: 'Acme' });
  await pipe.providers.add({
    projectId,
    channel: 'sms',
    provider: 'twilio',
    name: 'Primary',
    priority: 1,
    config: { accountSid: `AC${'0'.repeat(32)}`, authToken: 'twilio-consumer', from: '+14155550100' },
  });
  await pipe.providers.add({
    projectId,
    channel: 'sms',
    provider: 'termii',
    name: 'Backup',
    priority: 2,
    config: { apiKey: 'termii-consumer', senderId: 'Acme' },
  });

  // One run only: a failure inside the worker must show here, not as a retry five seconds later.
  const queue = await createSendQueue({ connection, queueName, retry: { attempts: 1 } });
  const worker = await createSendWorker(pipe, { connection, queueName, concurrency: 2 });
  try {
    const job = await queue.enqueue(
      { projectId, channel: 'sms', to: '+2348012345678', body: `${label}: queued` },
      { idempotencyKey: `${label}-1` },
    );
    const outcome = await job.finished();
    assert.equal(outcome.status, 'sent', `job outcome: ${JSON.stringify(outcome)}`);
    assert.equal(outcome.provider, 'termii');
    assert.equal(outcome.runs, 1);
    assert.deepEqual(
      outcome.attempts.map((attempt) => [attempt.provider, attempt.outcome, attempt.error?.code ?? null]),
      [
        ['twilio', 'failed', 'PROVIDER_UNAVAILABLE'],
        ['twilio', 'failed', 'PROVIDER_UNAVAILABLE'],
        ['twilio', 'failed', 'PROVIDER_UNAVAILABLE'],
        ['termii', 'sent', null],
      ],
    );
    assert.equal(backup.sent[0]?.message.body, `${label}: queued`);
    console.log(
      JSON.stringify({ label, status: outcome.status, provider: outcome.provider, runs: outcome.runs }),
    );
  } finally {
    await worker.close();
    await queue.close();
    await pipe.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
