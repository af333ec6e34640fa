/**
 * A store that never answers must not hang a send: the send deadline (`sendTimeoutMs`) and the caller's signal
 * cover the store reads as well as the attempts.
 */
import {
  type Channel,
  Dispatcher,
  type DispatcherOptions,
  InMemoryProviderStore,
  type ProviderListFilter,
  type SenderConfig,
  type StoredProviderRecord,
} from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { classifyFailure } from '../src/queue';
import { email, PROJECT, sampleConfigs } from './helpers';

/** A store whose reads can be made to never settle, one kind of read at a time. */
class StallingStore extends InMemoryProviderStore {
  stallLists = false;
  stallSenders = false;
  reads = 0;

  constructor(override readonly persistent: boolean = false) {
    super();
  }

  override listProviders(projectId: string, filter?: ProviderListFilter): Promise<StoredProviderRecord[]> {
    this.reads++;
    return this.stallLists ? new Promise(() => {}) : super.listProviders(projectId, filter);
  }

  override getSender(projectId: string, channel: Channel): Promise<SenderConfig | undefined> {
    this.reads++;
    return this.stallSenders ? new Promise(() => {}) : super.getSender(projectId, channel);
  }
}

async function setUp(options: Partial<DispatcherOptions> = {}, store = new StallingStore()) {
  const adapter = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
  const pipe = new Dispatcher({
    adapters: [adapter],
    store,
    retry: false,
    sendTimeoutMs: 300,
    secrets: { keys: { k1: 'a'.repeat(64) }, activeKeyId: 'k1' },
    ...options,
  });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'sendgrid',
    name: 'primary',
    config: sampleConfigs.sendgrid,
  });
  return { pipe, store, adapter };
}

/** Settles `promise` and reports how long it took. */
async function timed(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  return { error, ms: performance.now() - started };
}

describe('a store that never answers', () => {
  for (const stalled of ['lists', 'senders', 'both'] as const) {
    it(`ends the send with a transient STORE_UNAVAILABLE within sendTimeoutMs (${stalled} stall)`, async () => {
      const { pipe, store, adapter } = await setUp();
      store.stallLists = stalled !== 'senders';
      store.stallSenders = stalled !== 'lists';
      const { error, ms } = await timed(pipe.send(email));
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(1_500);
      expect(adapter.calls).toHaveLength(0);
      // The queue runs such a job again.
      expect(classifyFailure(error)).toMatchObject({ code: 'STORE_UNAVAILABLE', failureClass: 'transient' });
    });
  }

  it('ends the send with ABORTED as soon as the caller aborts', async () => {
    const { pipe, store } = await setUp({ sendTimeoutMs: 60_000 });
    store.stallLists = true;
    const controller = new AbortController();
    const sending = timed(pipe.send(email, { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    const { error, ms } = await sending;
    expect(error).toMatchObject({ code: 'ABORTED' });
    expect(ms).toBeLessThan(1_000);
  });

  it('ends the send with ABORTED before reading the store when the signal is already aborted', async () => {
    const { pipe, store, adapter } = await setUp({ sendTimeoutMs: 60_000 });
    store.stallLists = true;
    store.stallSenders = true;
    const reads = store.reads;
    const { error, ms } = await timed(pipe.send(email, { signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ code: 'ABORTED' });
    expect(ms).toBeLessThan(200);
    expect(store.reads).toBe(reads);
    expect(adapter.calls).toHaveLength(0);
  });

  it('counts slow store reads against the send deadline', async () => {
    const store = new StallingStore();
    const { pipe, adapter } = await setUp({ sendTimeoutMs: 600, attemptTimeoutMs: 10_000 }, store);
    const list = store.listProviders.bind(store);
    store.listProviders = (projectId, filter) =>
      new Promise((resolve) => setTimeout(() => resolve(list(projectId, filter)), 400));
    adapter.setBehaviour('hang');
    const { error, ms } = await timed(pipe.send(email));
    expect(error).toMatchObject({ code: 'ALL_PROVIDERS_FAILED' });
    // 400 ms in the store leave the attempt about 200 ms, not the whole 600.
    expect(ms).toBeLessThan(900);
  });

  it('behind the cache: a stalled load is not joined for ever, so sends recover once the store does', async () => {
    const store = new StallingStore(true);
    const { pipe } = await setUp({ cache: { ttlMs: 100 } }, store);
    store.stallLists = true;
    expect((await timed(pipe.send(email))).error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    store.stallLists = false;
    await expect(pipe.send(email)).resolves.toMatchObject({ provider: 'sendgrid' });
  });
});

describe('idempotency keys', () => {
  const bad: Array<[string, unknown]> = [
    ['a number', 7],
    ['the empty string', ''],
    ['10,000 characters', 'k'.repeat(10_000)],
    ['CR/LF', 'key\r\nBcc: x@evil.test'],
    ['NUL', 'key\u0000'],
    ['a lone surrogate', 'key\ud800'],
  ];
  for (const [what, key] of bad) {
    it(`refuses ${what} with MESSAGE_INVALID and the path, before any provider is called`, async () => {
      const { pipe, adapter } = await setUp();
      const error = await pipe
        .send(email, { idempotencyKey: key as string })
        .catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({
        code: 'MESSAGE_INVALID',
        issues: expect.arrayContaining([expect.objectContaining({ path: ['idempotencyKey'] })]),
      });
      expect(adapter.calls).toHaveLength(0);
    });
  }

  it('accepts a well-formed key and passes it to the attempt', async () => {
    const { pipe, adapter } = await setUp();
    const result = await pipe.send(email, { idempotencyKey: 'order-42/welcome ✓' });
    expect(result.idempotencyKey).toBe('order-42/welcome ✓');
    expect(adapter.calls[0]?.idempotencyKey).toBe('order-42/welcome ✓');
  });
});
