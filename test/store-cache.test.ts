import {
  type Channel,
  Dispatcher,
  type DispatcherOptions,
  InMemoryProviderStore,
  type ProviderListFilter,
  type StoredProviderRecord,
} from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';

const PROJECT = 'project-a';
const email = {
  projectId: PROJECT,
  channel: 'email',
  to: 'ann@example.test',
  subject: 'Hi',
  text: 'Hello',
} as const;

/** A database-like store that counts its reads and can hold a provider-list read until told to answer. */
class CountingStore extends InMemoryProviderStore {
  override readonly persistent = true;
  listCalls = 0;
  senderCalls = 0;
  failNextList = false;
  #gate: Promise<void> | undefined;

  /** Makes the next list reads wait (after reading) until the returned function is called. */
  holdLists(): () => void {
    let release!: () => void;
    this.#gate = new Promise((resolve) => {
      release = resolve;
    });
    return () => {
      this.#gate = undefined;
      release();
    };
  }

  override async listProviders(
    projectId: string,
    filter?: ProviderListFilter,
  ): Promise<StoredProviderRecord[]> {
    this.listCalls++;
    if (this.failNextList) {
      this.failNextList = false;
      throw new Error('database unavailable');
    }
    const records = await super.listProviders(projectId, filter);
    if (this.#gate) await this.#gate;
    return records;
  }

  override async getSender(projectId: string, channel: Channel) {
    this.senderCalls++;
    return super.getSender(projectId, channel);
  }
}

async function setUp(options: Partial<DispatcherOptions> = {}) {
  const store = new CountingStore();
  const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
  const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
  const pipe = new Dispatcher({
    adapters: [primary, backup],
    store,
    secrets: { keys: { k: Buffer.alloc(32, 7) }, activeKeyId: 'k' },
    ...options,
  });
  await pipe.senders.set({
    projectId: PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    enabled: true,
  });
  const first = await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'SG',
      priority: 1,
      config: { apiKey: 'SG.k' },
    },
    { verify: false },
  );
  const second = await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: 'smtp',
      name: 'SMTP',
      priority: 2,
      config: { host: 'smtp.acme.test', port: 587, secure: false },
    },
    { verify: false },
  );
  store.listCalls = 0;
  store.senderCalls = 0;
  return { store, pipe, first, second };
}

/** Turns a record off behind the dispatcher's back, as another process would. */
async function disableElsewhere(store: InMemoryProviderStore, id: string): Promise<void> {
  const record = (await store.getProvider(PROJECT, id))!;
  expect(
    await store.replaceProvider({ ...record, enabled: false, version: record.version + 1 }, record.version),
  ).toBe(true);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the provider-list cache', () => {
  it('reads a persistent store once for many sends', async () => {
    const { store, pipe } = await setUp();
    for (let index = 0; index < 50; index++) expect((await pipe.send(email)).provider).toBe('sendgrid');
    expect(store.listCalls).toBe(1);
    expect(store.senderCalls).toBe(1);
  });

  it('shares one read among concurrent sends to a cold project', async () => {
    const { store, pipe } = await setUp();
    const results = await Promise.all(Array.from({ length: 20 }, () => pipe.send(email)));
    expect(results.every((result) => result.provider === 'sendgrid')).toBe(true);
    expect(store.listCalls).toBe(1);
  });

  it('sees writes made through the dispatcher at once', async () => {
    const { store, pipe, first, second } = await setUp();
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    await pipe.providers.update({ projectId: PROJECT, id: second.id }, { priority: 0 });
    expect((await pipe.send(email)).provider).toBe('smtp');
    await pipe.providers.update({ projectId: PROJECT, id: second.id }, { enabled: false });
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    await pipe.providers.remove({ projectId: PROJECT, id: first.id });
    await expect(pipe.send(email)).rejects.toMatchObject({ code: 'NO_PROVIDERS' });
    await pipe.providers.update({ projectId: PROJECT, id: second.id }, { enabled: true });
    expect((await pipe.send(email)).provider).toBe('smtp');
    await pipe.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      enabled: false,
    });
    await expect(pipe.send(email)).rejects.toMatchObject({ code: 'CHANNEL_DISABLED' });
    expect(store.listCalls).toBeLessThanOrEqual(5);
  });

  it('picks up writes made elsewhere once the TTL has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const { store, pipe, first } = await setUp({ cache: { ttlMs: 30_000 } });
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    await disableElsewhere(store, first.id);
    vi.advanceTimersByTime(29_000);
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    vi.advanceTimersByTime(1_001);
    expect((await pipe.send(email)).provider).toBe('smtp');
    expect(store.listCalls).toBe(2);
  });

  it('keeps entries on the monotonic clock: a wall-clock jump neither expires nor extends them', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { store, pipe, first } = await setUp({ cache: { ttlMs: 30_000 } });
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    await disableElsewhere(store, first.id);
    // An NTP step or a manual clock change: an hour forward, then back to before the entry was loaded.
    vi.setSystemTime(Date.now() + 3_600_000);
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    vi.setSystemTime(Date.now() - 7_200_000);
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    expect(store.listCalls).toBe(1);
  });

  it('defaults to a TTL of five seconds', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    const { store, pipe, first } = await setUp();
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    await disableElsewhere(store, first.id);
    vi.advanceTimersByTime(4_900);
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    vi.advanceTimersByTime(101);
    expect((await pipe.send(email)).provider).toBe('smtp');
  });

  it('never caches a list read that was under way when the dispatcher wrote', async () => {
    const { store, pipe, second } = await setUp();
    const release = store.holdLists();
    const sending = pipe.send(email);
    await vi.waitFor(() => expect(store.listCalls).toBe(1));
    // The read has its (soon stale) answer; now the order changes.
    const updating = pipe.providers.update({ projectId: PROJECT, id: second.id }, { priority: 0 });
    await updating;
    release();
    expect((await sending).provider).toBe('sendgrid');
    expect((await pipe.send(email)).provider).toBe('smtp');
  });

  it('does not cache a failed read', async () => {
    const { store, pipe } = await setUp();
    store.failNextList = true;
    await expect(pipe.send(email)).rejects.toThrow('database unavailable');
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    expect(store.listCalls).toBe(2);
  });

  it('can be turned off', async () => {
    const { store, pipe } = await setUp({ cache: false });
    for (let index = 0; index < 5; index++) await pipe.send(email);
    expect(store.listCalls).toBe(5);
  });

  it('keeps at most maxProjects projects', async () => {
    const { store, pipe } = await setUp({ cache: { maxProjects: 1 } });
    await pipe.senders.set({
      projectId: 'project-b',
      channel: 'email',
      senderEmail: 'b@acme.test',
      enabled: true,
    });
    await pipe.send(email);
    await pipe.send(email);
    expect(store.listCalls).toBe(1);
    await expect(pipe.send({ ...email, projectId: 'project-b' })).rejects.toMatchObject({
      code: 'NO_PROVIDERS',
    });
    await pipe.send(email);
    expect(store.listCalls).toBe(3);
  });

  it('leaves the memory store uncached, so direct writes show at once', async () => {
    const store = new InMemoryProviderStore();
    const pipe = new Dispatcher({
      adapters: [
        createMockAdapter({ provider: 'sendgrid', channel: 'email' }),
        createMockAdapter({ provider: 'smtp', channel: 'email' }),
      ],
      store,
    });
    await pipe.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      enabled: true,
    });
    const first = await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'SG',
        priority: 1,
        config: { apiKey: 'SG.k' },
      },
      { verify: false },
    );
    await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'smtp',
        name: 'S',
        priority: 2,
        config: { host: 'h.test', port: 25, secure: false },
      },
      { verify: false },
    );
    expect((await pipe.send(email)).provider).toBe('sendgrid');
    await disableElsewhere(store, first.id);
    expect((await pipe.send(email)).provider).toBe('smtp');
  });
});
