import {
  Dispatcher,
  type DispatcherOptions,
  InMemoryMessageLog,
  InMemoryProviderStore,
  type MessageLogStore,
} from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { recordingLogger } from '../adapters/conformance';

const PROJECT = 'cache-project';

/** A memory store that says it is persistent (so the dispatcher caches), counting the suppression reads. */
class CountingStore extends InMemoryProviderStore {
  override readonly persistent = true;
  loads = 0;
  lookups = 0;

  override suppressedRecipients(...args: Parameters<InMemoryProviderStore['suppressedRecipients']>) {
    this.loads++;
    return super.suppressedRecipients(...args);
  }

  override findSuppressions(...args: Parameters<InMemoryProviderStore['findSuppressions']>) {
    this.lookups++;
    return super.findSuppressions(...args);
  }
}

async function setUp(options: Partial<DispatcherOptions> = {}) {
  const store = new CountingStore();
  const adapter = createMockAdapter({ provider: 'mock', channel: 'email' });
  const pipe = new Dispatcher({
    adapters: [adapter],
    store,
    logger: recordingLogger(),
    cache: { ttlMs: 150 },
    ...options,
  });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add(
    { projectId: PROJECT, channel: 'email', provider: 'mock', name: 'mock', config: {} },
    { verify: false },
  );
  const send = (to: string) =>
    pipe.send({ projectId: PROJECT, channel: 'email', to, subject: 'Hi', text: 'x' });
  return { pipe, store, adapter, send };
}

describe('the send-path suppression check on a persistent store', () => {
  it('costs no store read per send: one load per TTL, then set lookups', async () => {
    const { store, send } = await setUp();
    for (let index = 0; index < 50; index++) await send(`user${index}@example.test`);
    expect(store.loads).toBe(1);
    expect(store.lookups).toBe(0);
  });

  it('applies writes through the dispatcher at once, and writes made elsewhere within the TTL', async () => {
    const { pipe, store, send } = await setUp();
    await send('ann@example.test');
    await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: 'ann@example.test' });
    await expect(send('ann@example.test')).rejects.toMatchObject({ code: 'RECIPIENT_SUPPRESSED' });

    // Another process suppresses bob: seen once the cached list expires.
    await store.putSuppression({
      projectId: PROJECT,
      channel: 'email',
      recipient: 'bob@example.test',
      reason: 'manual',
      source: 'manual',
      createdAt: new Date().toISOString(),
    });
    await send('bob@example.test');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await send('carl@example.test'); // starts the reload; the stale list answers meanwhile
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(send('bob@example.test')).rejects.toMatchObject({ code: 'RECIPIENT_SUPPRESSED' });

    await pipe.suppressions.remove({ projectId: PROJECT, channel: 'email', recipient: 'ann@example.test' });
    await send('ann@example.test');
  });

  it('keeps a write made while the list reloads, though the reload read the store before it', async () => {
    const { pipe, store, send } = await setUp();
    await send('first@example.test');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The reload reads the store now, before the write below, and answers only after it.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const read = store.suppressedRecipients.bind(store);
    store.suppressedRecipients = async (...args) => {
      const list = await read(...args);
      await gate;
      return list;
    };
    await send('carl@example.test'); // starts the reload; the stale list answers
    await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: 'dan@example.test' });
    await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: 'eve@example.test' });
    await pipe.suppressions.remove({ projectId: PROJECT, channel: 'email', recipient: 'eve@example.test' });
    release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.loads).toBe(2);
    await expect(send('dan@example.test')).rejects.toMatchObject({ code: 'RECIPIENT_SUPPRESSED' });
    await send('eve@example.test');
    expect(store.lookups).toBe(0);
  });

  it('reads the store per send for a list larger than it keeps in memory', async () => {
    const { pipe, store, send } = await setUp({ suppression: { maxCachedEntries: 2 } });
    for (const recipient of ['a@example.test', 'b@example.test', 'c@example.test']) {
      await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient });
    }
    await send('ok@example.test');
    await send('ok2@example.test');
    expect(store.lookups).toBe(2);
    await expect(send('c@example.test')).rejects.toMatchObject({ code: 'RECIPIENT_SUPPRESSED' });
  });
});

/** A message log with no synchronous answer (as `PostgresMessageLog`), reads counted; `persistent` as given. */
class RemoteLog implements MessageLogStore {
  readonly #log = new InMemoryMessageLog();
  loads = 0;
  lookups = 0;
  constructor(readonly persistent?: boolean) {}
  recordSend: MessageLogStore['recordSend'] = (record) => this.#log.recordSend(record);
  findSend: MessageLogStore['findSend'] = (projectId, query) => this.#log.findSend(projectId, query);
  recordEvent: MessageLogStore['recordEvent'] = (event) => this.#log.recordEvent(event);
  listEvents: MessageLogStore['listEvents'] = (projectId, id) => this.#log.listEvents(projectId, id);
  putSuppression: MessageLogStore['putSuppression'] = (record) => this.#log.putSuppression(record);
  deleteSuppression: MessageLogStore['deleteSuppression'] = (...args) => this.#log.deleteSuppression(...args);
  listSuppressions: MessageLogStore['listSuppressions'] = (...args) => this.#log.listSuppressions(...args);
  findSuppressions: MessageLogStore['findSuppressions'] = (...args) => {
    this.lookups++;
    return this.#log.findSuppressions(...args);
  };
  suppressedRecipients: MessageLogStore['suppressedRecipients'] = (...args) => {
    this.loads++;
    return this.#log.suppressedRecipients(...args);
  };
}

describe('where the send path keeps a copy of the list: by the message log, not by the provider store', () => {
  const SENDS = 20;
  for (const [name, persistent, options, copied] of [
    // The memory provider store is not cached by default: the log alone decides.
    ['a log outside the process beside the memory provider store', undefined, { cache: undefined }, true],
    ['a log that says it is persistent', true, { cache: undefined }, true],
    ['a log that says it lives in this process', false, { cache: undefined }, false],
    ['a log outside the process with cache: false', undefined, { cache: false }, false],
  ] as const) {
    it(`${name}: ${copied ? 'one load, no read per send' : 'a read per send'}`, async () => {
      const log = new RemoteLog(persistent);
      const { pipe, send } = await setUp({ store: new InMemoryProviderStore(), messageLog: log, ...options });
      await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: 'gone@example.test' });
      for (let index = 0; index < SENDS; index++) await send(`user${index}@example.test`);
      await expect(send('gone@example.test')).rejects.toMatchObject({ code: 'RECIPIENT_SUPPRESSED' });
      expect([log.loads, log.lookups]).toEqual(copied ? [1, 0] : [0, SENDS + 1]);
    });
  }
});
