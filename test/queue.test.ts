import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Dispatcher, type DispatcherOptions, MessagePipeError } from 'messagepipe';
import { createMockAdapter, type MockAdapter, type MockBehaviour } from 'messagepipe/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  classifyFailure,
  createSendQueue,
  createSendWorker,
  type SendQueue,
  type SendQueueEventName,
  type SendQueueEvents,
  type SendWorker,
} from '../src/queue';
import { loadPeer } from '../src/queue/load';
import { dumpRedis } from './queue/redis-dump';
import { type RedisServer, startRedis } from './queue/redis-server';

const PROJECT = 'project-a';
const SECRET = 'SG.queue-test-secret-value';
const WAIT = { timeout: 20_000, interval: 50 };

const email = {
  projectId: PROJECT,
  channel: 'email',
  to: 'ann@example.test',
  subject: 'Queued hello',
  text: 'Hi Ann',
} as const;

let redis: RedisServer;
let inspector: Redis;
const cleanUps: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis({ host: redis.host, port: redis.port });
});

afterEach(async () => {
  // Workers first: a queue closed under a running worker's feet only makes noise.
  for (const cleanUp of cleanUps.splice(0).reverse()) await cleanUp();
});

afterAll(async () => {
  await inspector?.quit();
  await redis?.stop();
});

interface Setup {
  mock: MockAdapter<'email'>;
  pipe: Dispatcher;
  queue: SendQueue;
  worker: SendWorker;
  /** Events seen by the queue, in order. */
  events: { name: SendQueueEventName; payload: SendQueueEvents[SendQueueEventName] }[];
}

/** A dispatcher with one mock provider, a queue and an in-process worker on a queue of their own. */
async function setUp(
  options: {
    behaviour?: MockBehaviour;
    concurrency?: number;
    attempts?: number;
    backoffMs?: number;
    withProvider?: boolean;
    withSender?: boolean;
    dispatcher?: Partial<DispatcherOptions>;
  } = {},
): Promise<Setup> {
  const connection = { host: redis.host, port: redis.port };
  const queueName = `test-${randomUUID()}`;
  const mock = createMockAdapter({
    provider: 'sendgrid',
    channel: 'email',
    behaviour: options.behaviour ?? 'ok',
  });
  const pipe = new Dispatcher({ adapters: [mock], ...options.dispatcher });
  if (options.withSender !== false) {
    await pipe.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      enabled: true,
    });
  }
  if (options.withProvider !== false) {
    await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'Mock SendGrid',
        priority: 1,
        config: { apiKey: SECRET },
      },
      { verify: false },
    );
  }
  const queue = await createSendQueue({
    connection,
    queueName,
    retry: { attempts: options.attempts ?? 5, backoffMs: options.backoffMs ?? 300 },
  });
  cleanUps.push(() => queue.close());
  const events: Setup['events'] = [];
  for (const name of ['queued', 'attempt', 'retrying', 'stalled', 'sent', 'failed'] as const) {
    queue.on(name, (payload) => events.push({ name, payload }));
  }
  const worker = await createSendWorker(pipe, {
    connection,
    queueName,
    concurrency: options.concurrency ?? 4,
  });
  cleanUps.push(async () => {
    await worker.close();
    await pipe.close();
  });
  return { mock, pipe, queue, worker, events };
}

function eventsOf(setup: Setup, idempotencyKey: string): string[] {
  return setup.events
    .filter((event) => (event.payload as { idempotencyKey: string }).idempotencyKey === idempotencyKey)
    .map((event) => event.name);
}

describe('send queue and worker', () => {
  it('sends a queued message through the dispatcher with the job key as idempotency key', async () => {
    const setup = await setUp();
    const job = await setup.queue.enqueue(email, { idempotencyKey: 'welcome-ann' });
    expect(job.idempotencyKey).toBe('welcome-ann');

    const outcome = await job.finished();
    expect(outcome).toMatchObject({
      status: 'sent',
      idempotencyKey: 'welcome-ann',
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      runs: 1,
    });
    if (outcome.status !== 'sent') throw new Error('expected a sent outcome');
    expect(outcome.messageId).toBe(setup.mock.sent[0]?.messageId);
    expect(outcome.providerConfigId).toBe(setup.mock.calls[0]?.providerConfigId);
    expect(outcome.attempts).toEqual([
      expect.objectContaining({ outcome: 'sent', provider: 'sendgrid', run: 1 }),
    ]);
    expect(setup.mock.calls).toHaveLength(1);
    expect(setup.mock.calls[0]?.idempotencyKey).toBe('welcome-ann');
    expect(setup.mock.calls[0]?.message.subject).toBe('Queued hello');
    expect(await job.state()).toBe('completed');
    expect(await job.outcome()).toEqual(outcome);
    await vi.waitFor(
      () => expect(eventsOf(setup, 'welcome-ann')).toEqual(['queued', 'attempt', 'sent']),
      WAIT,
    );
  });

  it('generates an idempotency key when none is given', async () => {
    const setup = await setUp();
    const job = await setup.queue.enqueue(email);
    expect(job.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    await job.finished();
    expect(setup.mock.calls[0]?.idempotencyKey).toBe(job.idempotencyKey);
  });

  it('carries attachment bytes through Redis unchanged', async () => {
    const setup = await setUp();
    const bytes = new Uint8Array([0, 1, 2, 127, 128, 254, 255, 0xc3, 0x28]);
    const job = await setup.queue.enqueue({
      ...email,
      attachments: [
        { filename: 'raw.bin', content: bytes, contentType: 'application/octet-stream' },
        { filename: 'note.txt', content: 'plain text' },
        { filename: 'b64.txt', content: Buffer.from('encoded').toString('base64'), encoding: 'base64' },
      ],
    });
    expect((await job.finished()).status).toBe('sent');
    const attachments = setup.mock.sent[0]?.message.attachments ?? [];
    expect(attachments.map((attachment) => attachment.filename)).toEqual(['raw.bin', 'note.txt', 'b64.txt']);
    expect([...(attachments[0]?.content ?? [])]).toEqual([...bytes]);
    expect(attachments[0]?.contentType).toBe('application/octet-stream');
    expect(Buffer.from(attachments[1]?.content ?? []).toString()).toBe('plain text');
    expect(Buffer.from(attachments[2]?.content ?? []).toString()).toBe('encoded');
  });

  it('sends once when the same idempotency key is enqueued again, while queued or after it was sent', async () => {
    const setup = await setUp({ behaviour: { ok: true, delayMs: 100 } });
    const [first, second] = await Promise.all([
      setup.queue.enqueue(email, { idempotencyKey: 'order-42' }),
      setup.queue.enqueue({ ...email, subject: 'Different' }, { idempotencyKey: 'order-42' }),
    ]);
    const outcome = await first!.finished();
    const again = await setup.queue.enqueue(email, { idempotencyKey: 'order-42' });
    expect(await second!.finished()).toEqual(outcome);
    expect(await again.finished()).toEqual(outcome);
    expect(setup.mock.calls).toHaveLength(1);
    expect((await setup.queue.counts()).completed).toBe(1);
  });

  it('refuses a suppressed recipient for good, and sends to it under ignoreSuppression', async () => {
    const setup = await setUp({ attempts: 3 });
    await setup.pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: email.to });
    const refused = await (await setup.queue.enqueue(email, { idempotencyKey: 'to-gone' })).finished();
    expect(refused).toMatchObject({
      status: 'failed',
      code: 'RECIPIENT_SUPPRESSED',
      failureClass: 'message',
      runs: 1,
    });
    expect(setup.mock.calls).toHaveLength(0);

    const forced = await (
      await setup.queue.enqueue(email, { idempotencyKey: 'reset-ann', ignoreSuppression: true })
    ).finished();
    expect(forced).toMatchObject({ status: 'sent', suppressionIgnored: [email.to] });
    expect(setup.mock.calls).toHaveLength(1);
    // The override travels as payload version 2, which a worker that predates it refuses instead of ignoring.
    expect((await setup.queue.bullQueue.getJob('reset-ann'))?.data).toMatchObject({
      version: 2,
      ignoreSuppression: true,
    });
    expect((await setup.queue.bullQueue.getJob('to-gone'))?.data.version).toBe(1);
    await expect(
      setup.queue.enqueue(email, { ignoreSuppression: 'yes' as unknown as boolean }),
    ).rejects.toMatchObject({ code: 'MESSAGE_INVALID' });
  });

  it('refuses an invalid message before anything reaches Redis', async () => {
    const setup = await setUp();
    const before = await inspector.dbsize();
    const refusals = [
      setup.queue.enqueue({ ...email, to: 'not-an-address' }),
      setup.queue.enqueue({ ...email, subject: 'Injected\r\nBcc: x@evil.test' }),
      setup.queue.enqueue({ projectId: PROJECT, channel: 'sms', to: '12345', body: 'Hi' }),
      setup.queue.enqueue({ ...email, projectId: '' }),
      setup.queue.enqueue(email, { idempotencyKey: 'has:colon' }),
      setup.queue.enqueue(email, { idempotencyKey: '12345' }),
      setup.queue.enqueue(email, { priority: 0.5 }),
      setup.queue.enqueue(email, { delay: -1 }),
    ];
    const errors = await Promise.all(
      refusals.map((refusal) =>
        refusal.then(
          () => undefined,
          (error) => error,
        ),
      ),
    );
    for (const error of errors) {
      expect(error).toBeInstanceOf(MessagePipeError);
      expect(error).toMatchObject({ code: 'MESSAGE_INVALID' });
    }
    expect(errors.map((error) => (error as MessagePipeError).issues?.[0]?.path[0])).toEqual([
      'to',
      'subject',
      'to',
      'projectId',
      'idempotencyKey',
      'idempotencyKey',
      'priority',
      'delay',
    ]);
    expect(await setup.queue.counts()).toEqual({
      waiting: 0,
      delayed: 0,
      active: 0,
      completed: 0,
      failed: 0,
    });
    expect(await inspector.dbsize()).toBe(before);
    expect(setup.mock.calls).toHaveLength(0);
  });

  it('retries a send that failed transiently, then succeeds', async () => {
    const setup = await setUp({ behaviour: 'transient', backoffMs: 500 });
    // The provider comes back once the queue has seen the job scheduled for a retry.
    const stop = setup.queue.on('retrying', () => setup.mock.setBehaviour('ok'));
    const job = await setup.queue.enqueue(email, { idempotencyKey: 'flaky-1' });
    const outcome = await job.finished();
    stop();

    expect(outcome.status).toBe('sent');
    expect(outcome.runs).toBeGreaterThanOrEqual(2);
    const last = outcome.attempts.at(-1);
    expect(last).toMatchObject({ outcome: 'sent', run: outcome.runs });
    const failed = outcome.attempts.slice(0, -1);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    for (const attempt of failed) {
      expect(attempt).toMatchObject({ outcome: 'failed', error: { failureClass: 'transient' } });
      expect(attempt.run).toBeLessThan(outcome.runs);
    }
    expect(outcome.attempts).toHaveLength(setup.mock.calls.length);
    expect(new Set(setup.mock.calls.map((call) => call.idempotencyKey))).toEqual(new Set(['flaky-1']));
    await vi.waitFor(() => expect(eventsOf(setup, 'flaky-1')).toContain('sent'), WAIT);
    const seen = eventsOf(setup, 'flaky-1');
    expect(seen.indexOf('retrying')).toBeGreaterThan(seen.indexOf('attempt'));
    expect(seen).not.toContain('failed');
    const retrying = setup.events.find((event) => event.name === 'retrying')?.payload;
    expect(retrying).toMatchObject({
      idempotencyKey: 'flaky-1',
      run: 1,
      failure: { code: 'ALL_PROVIDERS_FAILED', failureClass: 'transient' },
    });
  });

  it('does not retry a message the provider refused', async () => {
    const setup = await setUp({ behaviour: 'message', backoffMs: 100 });
    const job = await setup.queue.enqueue(email, { idempotencyKey: 'bad-recipient' });
    const outcome = await job.finished();
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'RECIPIENT_INVALID',
      failureClass: 'message',
      runs: 1,
      attempts: [
        { outcome: 'failed', run: 1, error: { code: 'RECIPIENT_INVALID', failureClass: 'message' } },
      ],
    });
    expect(setup.mock.calls).toHaveLength(1);
    expect(await job.state()).toBe('failed');
    const deadLetters = await setup.queue.deadLetters();
    expect(deadLetters).toEqual([outcome]);
    await vi.waitFor(() => expect(eventsOf(setup, 'bad-recipient')).toContain('failed'), WAIT);
    expect(eventsOf(setup, 'bad-recipient')).not.toContain('retrying');
    expect(setup.events.find((event) => event.name === 'failed')?.payload).toEqual(outcome);
  });

  it('does not run again a send that stopped on an ambiguous timeout (onAmbiguousTimeout: stop)', async () => {
    const setup = await setUp({
      behaviour: { fail: 'PROVIDER_TIMEOUT', ambiguous: true, message: 'no answer after the request left' },
      backoffMs: 100,
      dispatcher: { onAmbiguousTimeout: 'stop' },
    });
    const job = await setup.queue.enqueue(email, { idempotencyKey: 'maybe-delivered' });
    const outcome = await job.finished();
    expect(outcome).toMatchObject({ status: 'failed', code: 'PROVIDER_TIMEOUT', runs: 1 });
    expect(setup.mock.calls).toHaveLength(1);
    expect(eventsOf(setup, 'maybe-delivered')).not.toContain('retrying');
  });

  it('does not retry what the project set-up refuses: no provider, no sender', async () => {
    const noProvider = await setUp({ withProvider: false, backoffMs: 100 });
    const first = await (await noProvider.queue.enqueue(email)).finished();
    expect(first).toMatchObject({
      status: 'failed',
      code: 'NO_PROVIDERS',
      failureClass: 'provider',
      runs: 1,
    });

    const noSender = await setUp({ withSender: false, backoffMs: 100 });
    const second = await (await noSender.queue.enqueue(email)).finished();
    expect(second).toMatchObject({
      status: 'failed',
      code: 'MESSAGE_INVALID',
      failureClass: 'message',
      runs: 1,
    });
    if (second.status !== 'failed') throw new Error('expected a failure');
    expect(second.issues?.[0]?.path).toEqual(['from']);
    expect(noSender.mock.calls).toHaveLength(0);
  });

  it('keeps a job that ran out of retries as a dead letter with every attempt, and can run it again', async () => {
    const setup = await setUp({ behaviour: 'transient', attempts: 3, backoffMs: 50 });
    const job = await setup.queue.enqueue(email, { idempotencyKey: 'always-down' });
    const outcome = await job.finished();
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'ALL_PROVIDERS_FAILED',
      failureClass: 'transient',
      runs: 3,
    });
    expect(new Set(outcome.attempts.map((attempt) => attempt.run))).toEqual(new Set([1, 2, 3]));
    expect(outcome.attempts).toHaveLength(setup.mock.calls.length);
    expect(outcome.attempts.every((attempt) => attempt.error?.code === 'PROVIDER_UNAVAILABLE')).toBe(true);
    expect(await setup.queue.deadLetters()).toEqual([outcome]);
    expect((await setup.queue.counts()).failed).toBe(1);

    setup.mock.setBehaviour('ok');
    await job.retry();
    const redriven = await job.finished();
    expect(redriven).toMatchObject({ status: 'sent', runs: 4 });
    expect(redriven.attempts.slice(0, -1)).toEqual(outcome.attempts);
    expect(await setup.queue.deadLetters()).toEqual([]);
    await expect(job.retry()).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('finishes the jobs under way when the worker closes', async () => {
    const setup = await setUp({ behaviour: { ok: true, delayMs: 400 }, concurrency: 3 });
    const jobs = await Promise.all(
      ['a', 'b', 'c'].map((name) => setup.queue.enqueue(email, { idempotencyKey: `graceful-${name}` })),
    );
    await vi.waitFor(() => expect(setup.mock.calls).toHaveLength(3), WAIT);
    await setup.worker.close();
    expect(setup.mock.sent).toHaveLength(3);
    for (const job of jobs) expect(await job.state()).toBe('completed');
  });

  it('waits for a job that is delayed, and gives up waiting when asked to', async () => {
    const setup = await setUp();
    const job = await setup.queue.enqueue(email, { idempotencyKey: 'later', delay: 60_000 });
    expect(await job.state()).toBe('delayed');
    const controller = new AbortController();
    const waiting = job.finished({ signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(setup.queue.job('never-enqueued').finished()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await setup.queue.job('never-enqueued').state()).toBe('unknown');
    expect(setup.mock.calls).toHaveLength(0);
  });

  it('never stores a provider credential in Redis', async () => {
    const setup = await setUp({ behaviour: 'transient', attempts: 2, backoffMs: 50 });
    await (await setup.queue.enqueue(email, { idempotencyKey: 'secret-check' })).finished();
    const dump = await dumpRedis(inspector);
    expect(dump).toContain('Queued hello');
    expect(dump).toContain('secret-check');
    expect(dump).not.toContain(SECRET);
  });
});

describe('classifyFailure', () => {
  const attempt = (failureClass: 'transient' | 'provider', retryAfterMs?: number) => ({
    providerConfigId: 'p',
    provider: 'sendgrid',
    outcome: 'failed' as const,
    durationMs: 1,
    error: {
      code:
        failureClass === 'transient'
          ? ('PROVIDER_RATE_LIMITED' as const)
          : ('PROVIDER_INVALID_CREDENTIALS' as const),
      failureClass,
      message: 'x',
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    },
  });

  it('retries ALL_PROVIDERS_FAILED when some provider may recover, honouring the longest Retry-After', () => {
    const transient = new MessagePipeError('ALL_PROVIDERS_FAILED', 'down', {
      attempts: [attempt('transient', 2_000), attempt('transient', 9_000)],
    });
    expect(classifyFailure(transient)).toMatchObject({ failureClass: 'transient', retryAfterMs: 9_000 });
    const mixed = new MessagePipeError('ALL_PROVIDERS_FAILED', 'down', {
      attempts: [attempt('provider'), attempt('transient')],
    });
    expect(classifyFailure(mixed)).toMatchObject({ code: 'ALL_PROVIDERS_FAILED', failureClass: 'transient' });
    const broken = new MessagePipeError('ALL_PROVIDERS_FAILED', 'refused', {
      attempts: [attempt('provider'), attempt('provider')],
    });
    expect(classifyFailure(broken)).toMatchObject({ code: 'ALL_PROVIDERS_FAILED', failureClass: 'provider' });
  });

  it('classifies validation, set-up and unexpected errors', () => {
    expect(classifyFailure(new MessagePipeError('MESSAGE_INVALID', 'bad')).failureClass).toBe('message');
    expect(classifyFailure(new MessagePipeError('CHANNEL_DISABLED', 'off')).failureClass).toBe('provider');
    expect(classifyFailure(new MessagePipeError('NO_PROVIDERS', 'none')).failureClass).toBe('provider');
    // Raised before any provider is called, with a provider-level code: the code's class.
    expect(classifyFailure(new MessagePipeError('RECIPIENT_SUPPRESSED', 'listed')).failureClass).toBe(
      'message',
    );
    expect(classifyFailure(new MessagePipeError('DISPATCHER_CLOSED', 'closed')).failureClass).toBe(
      'transient',
    );
    expect(classifyFailure(new Error('connection refused'))).toMatchObject({
      code: 'UNEXPECTED_ERROR',
      failureClass: 'transient',
      message: 'Error: connection refused',
    });
  });
});

it('names the package to install when BullMQ is missing', async () => {
  const missing = Object.assign(new Error("Cannot find package 'bullmq' imported from x"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  await expect(loadPeer('bullmq', () => Promise.reject(missing))).rejects.toMatchObject({
    code: 'ADAPTER_MISSING',
    message: expect.stringContaining('npm install bullmq'),
  });
});
