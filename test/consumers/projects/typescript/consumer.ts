// A consumer's code against the published types, under the strictest settings an app may use (see tsconfig.json).
// Compiled twice by test/consumers/consumers.test.ts: as an ES module and as CommonJS (`module: nodenext`).
import {
  type Attempt,
  CachingProviderStore,
  Dispatcher,
  type DispatcherOptions,
  defineAdapter,
  generateSecretKey,
  InMemoryProviderStore,
  isMessagePipeError,
  isProviderError,
  MessagePipeError,
  ProviderError,
  type ProviderStore,
  type SendResult,
  type SmtpConfig,
  secret,
} from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { postmark } from 'messagepipe/adapters/postmark';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { ses } from 'messagepipe/adapters/ses';
import { smtp } from 'messagepipe/adapters/smtp';
import { sns } from 'messagepipe/adapters/sns';
import { termii } from 'messagepipe/adapters/termii';
import { twilio } from 'messagepipe/adapters/twilio';
import {
  createSendQueue,
  createSendWorker,
  type SendJobOutcome,
  type SendQueue,
  type SendWorker,
} from 'messagepipe/queue';
import { migrate, PostgresProviderStore } from 'messagepipe/stores/postgres';
import { createMockAdapter, type MockAdapter, providerStoreConformance } from 'messagepipe/testing';
import pg from 'pg';
import { z } from 'zod';

const acmeSms = defineAdapter({
  provider: 'acme-sms',
  channel: 'sms',
  configSchema: z.object({ token: secret(z.string()), from: z.string().optional() }),
  async send(message, { config, signal }) {
    const response = await fetch('http://127.0.0.1:9/send', {
      method: 'POST',
      signal,
      headers: { authorization: `Bearer ${config.token}` },
      body: JSON.stringify({ to: message.to, text: message.body, from: config.from }),
    });
    if (response.status === 429) {
      throw new ProviderError('PROVIDER_RATE_LIMITED', 'Slow down', { provider: 'acme-sms', status: 429 });
    }
    return { messageId: ((await response.json()) as { id: string }).id };
  },
});

export function adapters(): DispatcherOptions['adapters'] {
  return [sendgrid(), mailgun(), postmark(), ses(), smtp(), twilio(), termii(), sns(), acmeSms];
}

/** The quick start, with a cache shared by two dispatchers and sealed secrets. */
export async function quickStart(store: ProviderStore): Promise<SendResult> {
  const cache = new CachingProviderStore(store, { ttlMs: 1000 });
  const secrets = { keys: { k2026: generateSecretKey() }, activeKeyId: 'k2026' };
  const pipe = new Dispatcher({
    adapters: adapters(),
    store: cache,
    secrets,
    retry: { retries: 1, minDelayMs: 10 },
  });
  const other = new Dispatcher({ adapters: adapters(), store: cache, secrets, cache: false });
  const projectId = 'acme';
  try {
    await pipe.senders.set({
      projectId,
      channel: 'email',
      senderEmail: 'noreply@acme.example',
      senderName: 'Acme',
    });
    const smtpConfig: SmtpConfig = { host: '127.0.0.1', port: 2525, secure: false };
    await pipe.providers.add({
      projectId,
      channel: 'email',
      provider: 'sendgrid',
      name: 'Primary',
      priority: 1,
      config: { apiKey: 'SG.example' },
    });
    await pipe.providers.add(
      { projectId, channel: 'email', provider: 'smtp', name: 'Fallback', priority: 2, config: smtpConfig },
      { verify: false },
    );
    pipe.on('failover', (event) => console.log(event.from.provider, '→', event.toProvider));
    const result = await pipe.send({
      projectId,
      channel: 'email',
      to: 'ann@example.com',
      subject: 'Hi',
      text: 'Hello',
    });
    const first: Attempt | undefined = result.attempts[0];
    console.log(first?.error?.code, cache.persistent, (await other.providers.list({ projectId })).length);
    return result;
  } catch (error) {
    if (isProviderError(error)) console.log(error.code, error.failureClass, error.provider);
    else if (isMessagePipeError(error)) console.log(error.code, error.issues?.[0]?.path);
    else if (error instanceof MessagePipeError) console.log(error.code);
    throw error;
  } finally {
    await pipe.close();
    await other.close();
  }
}

/** "Testing your app": mock adapters with the real dispatcher. */
export async function withMocks(): Promise<string | undefined> {
  const primary: MockAdapter<'email'> = createMockAdapter({
    provider: 'sendgrid',
    channel: 'email',
    behaviour: 'transient',
  });
  const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
  const pipe = new Dispatcher({ adapters: [primary, backup], store: new InMemoryProviderStore() });
  primary.respondWith('ok', { fail: 'RECIPIENT_INVALID' }, 'hang');
  await pipe.close();
  return backup.sent[0]?.message.subject;
}

/** The PostgreSQL store, with a pool of the app's own. */
export async function postgres(connectionString: string): Promise<Dispatcher> {
  const pool = new pg.Pool({ connectionString });
  await migrate(pool);
  const fromPool = new PostgresProviderStore({ pool });
  const owned = new PostgresProviderStore({ connectionString, maxConnections: 2 });
  await owned.migrate();
  await owned.close();
  return new Dispatcher({
    adapters: adapters(),
    store: fromPool,
    secrets: { keys: { '2026-01': generateSecretKey() }, activeKeyId: '2026-01' },
  });
}

/** "Scaling out": the app enqueues, a worker sends. */
export async function queue(pipe: Dispatcher): Promise<SendJobOutcome> {
  const connection = { host: '127.0.0.1', port: 6379 };
  const sendQueue: SendQueue = await createSendQueue({ connection, retry: { attempts: 3 } });
  const worker: SendWorker = await createSendWorker(pipe, { connection, concurrency: 20 });
  try {
    const job = await sendQueue.enqueue(
      { projectId: 'acme', channel: 'email', to: 'ann@example.com', subject: 'Welcome', text: 'Hello Ann' },
      { idempotencyKey: 'welcome-1', delay: 0 },
    );
    sendQueue.on('failed', (failure) => console.log(failure.code, failure.attempts.length));
    const outcome = await job.finished();
    if (outcome.status === 'sent') console.log(outcome.messageId);
    else console.log(outcome.code, outcome.issues?.[0]);
    return outcome;
  } finally {
    await worker.close();
    await sendQueue.close();
  }
}

/** The conformance suite under another runner: the cases are plain async functions. */
export async function conformance(): Promise<number> {
  let passed = 0;
  for (const check of providerStoreConformance({ create: () => new InMemoryProviderStore() })) {
    await check.run();
    passed++;
  }
  return passed;
}
