import {
  Dispatcher,
  generateSecretKey,
  InMemoryProviderStore,
  type ProviderCursor,
  type ProviderRecord,
  type ResealProgress,
  type StoredProviderRecord,
} from 'messagepipe';
import { createMockAdapter, scanAll } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { PROVIDERS, recordingLogger } from './secrets-fixtures';

const K1 = generateSecretKey();
const K2 = generateSecretKey();
const ONLY_K1 = { keys: { k1: K1 }, activeKeyId: 'k1' };
const ROTATED = { keys: { k1: K1, k2: K2 }, activeKeyId: 'k2' };
const ONLY_K2 = { keys: { k2: K2 }, activeKeyId: 'k2' };
const PROJECTS = ['project-a', 'project-b', 'project-c'];

/** Mock adapters for all eight providers whose credential check reports the config it was given. */
function adapters(seen: Map<string, Record<string, unknown>>) {
  return PROVIDERS.map(({ provider, channel }) =>
    createMockAdapter({
      provider,
      channel,
      verify: (config) => {
        seen.set(JSON.stringify(config), config as Record<string, unknown>);
        return { valid: true };
      },
    }),
  );
}

/** A store that starts failing writes after `healthyWrites` of them, like a database that goes away. */
class FlakyStore extends InMemoryProviderStore {
  writesLeft = Number.POSITIVE_INFINITY;

  override async replaceProvider(record: StoredProviderRecord, expectedVersion: number): Promise<boolean> {
    if (this.writesLeft <= 0) throw new Error('connection to the database was lost');
    this.writesLeft--;
    return super.replaceProvider(record, expectedVersion);
  }
}

/** 24 records over three projects, all eight providers, sealed with k1. */
async function seed(store: InMemoryProviderStore): Promise<Map<string, Record<string, unknown>>> {
  const pipe = new Dispatcher({ adapters: adapters(new Map()), store, secrets: ONLY_K1 });
  const configs = new Map<string, Record<string, unknown>>();
  for (const projectId of PROJECTS) {
    for (const [index, fixture] of PROVIDERS.entries()) {
      const added = await pipe.providers.add(
        {
          projectId,
          channel: fixture.channel,
          provider: fixture.provider,
          name: fixture.provider,
          priority: index,
          config: fixture.config,
        },
        { verify: false },
      );
      configs.set(added.id, fixture.config);
    }
  }
  return configs;
}

/** Opens every record through a dispatcher (its credential check sees the full config) and compares. */
async function expectAllOpen(
  pipe: Dispatcher,
  store: InMemoryProviderStore,
  expected: Map<string, Record<string, unknown>>,
  seen: Map<string, Record<string, unknown>>,
) {
  const records = await scanAll(store, 100);
  expect(records).toHaveLength(expected.size);
  for (const record of records) {
    seen.clear();
    const result = await pipe.providers.validate({ projectId: record.projectId, id: record.id });
    expect(result.valid).toBe(true);
    expect([...seen.values()]).toEqual([expected.get(record.id)]);
  }
}

function keyIdsOf(records: StoredProviderRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const record of records) {
    const keyId = record.secrets.startsWith('plain:') ? 'plain' : record.secrets.split(':')[2]!;
    counts[keyId] = (counts[keyId] ?? 0) + 1;
  }
  return counts;
}

describe('key rotation', () => {
  it('seals new writes with the active key and still opens records sealed with the old one', async () => {
    const store = new InMemoryProviderStore();
    const configs = await seed(store);
    const seen = new Map<string, Record<string, unknown>>();
    const pipe = new Dispatcher({ adapters: adapters(seen), store, secrets: ROTATED });
    const fixture = PROVIDERS[0]!;
    const added = await pipe.providers.add(
      {
        projectId: 'project-a',
        channel: 'email',
        provider: fixture.provider,
        name: 'new',
        config: fixture.config,
      },
      { verify: false },
    );
    configs.set(added.id, fixture.config);
    expect((await store.getProvider('project-a', added.id))?.secrets).toMatch(/^sealed:v1:k2:/);
    expect(keyIdsOf(await scanAll(store, 100))).toEqual({ k1: 24, k2: 1 });
    await expectAllOpen(pipe, store, configs, seen);
  });

  it('re-seals every record with the active key, resuming after an interruption without losing any', async () => {
    const store = new FlakyStore();
    const configs = await seed(store);
    const before = new Map((await scanAll(store, 100)).map((record) => [record.id, record]));
    const seen = new Map<string, Record<string, unknown>>();
    const pipe = new Dispatcher({ adapters: adapters(seen), store, secrets: ROTATED });

    // The database goes away after 10 writes.
    store.writesLeft = 10;
    const progress: ResealProgress[] = [];
    await expect(
      pipe.providers.reseal({ batchSize: 4, onProgress: (p) => progress.push(p) }),
    ).rejects.toThrow('connection to the database was lost');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toMatchObject({ resealed: 8, scanned: 8, failed: 0 });

    // Half done: every record still opens, with one key or the other.
    store.writesLeft = Number.POSITIVE_INFINITY;
    expect(keyIdsOf(await scanAll(store, 100))).toEqual({ k1: 14, k2: 10 });
    await expectAllOpen(pipe, store, configs, seen);

    // Resume from the last reported cursor: the rest is re-sealed, the first page is not read again.
    const cursor: ProviderCursor | undefined = progress.at(-1)?.cursor;
    const resumed = await pipe.providers.reseal({ batchSize: 4, after: cursor });
    expect(resumed).toMatchObject({ scanned: 16, resealed: 14, current: 2, failed: [] });
    expect(keyIdsOf(await scanAll(store, 100))).toEqual({ k2: 24 });

    // A run from the start finds nothing left to do.
    expect(await pipe.providers.reseal()).toMatchObject({
      scanned: 24,
      resealed: 0,
      current: 24,
      failed: [],
    });

    // The old key can go: a dispatcher with only the new key opens everything.
    const afterRotation = new Dispatcher({ adapters: adapters(seen), store, secrets: ONLY_K2 });
    await expectAllOpen(afterRotation, store, configs, seen);

    // Nothing but the sealed text, the version and (from the checks above) the credential state changed.
    for (const record of await scanAll(store, 100)) {
      const { secrets, version, credentials: _checked, ...rest } = record;
      const {
        secrets: oldSecrets,
        version: oldVersion,
        credentials: _unchecked,
        ...oldRest
      } = before.get(record.id)!;
      expect(rest).toEqual(oldRest);
      expect(secrets).not.toBe(oldSecrets);
      expect(version).toBeGreaterThan(oldVersion);
    }
  });

  it('keeps a change made while re-sealing, and re-seals the changed record', async () => {
    const store = new InMemoryProviderStore();
    await seed(store);
    const [target] = await scanAll(store, 1);
    const fixture = PROVIDERS.find((candidate) => candidate.provider === target!.provider)!;
    const meddler = new Dispatcher({ adapters: adapters(new Map()), store, secrets: ONLY_K1 });
    let meddled = false;
    // The re-sealing dispatcher's store lets another writer in just before its first write to the target.
    const interfering = {
      persistent: false,
      insertProvider: store.insertProvider.bind(store),
      getProvider: store.getProvider.bind(store),
      listProviders: store.listProviders.bind(store),
      scanProviders: store.scanProviders.bind(store),
      deleteProvider: store.deleteProvider.bind(store),
      getSender: store.getSender.bind(store),
      putSender: store.putSender.bind(store),
      async replaceProvider(record: StoredProviderRecord, expectedVersion: number) {
        if (!meddled && record.id === target!.id) {
          meddled = true;
          await meddler.providers.update(
            { projectId: record.projectId, id: record.id },
            { name: 'renamed meanwhile', config: fixture.rotated },
            { verify: false },
          );
        }
        return store.replaceProvider(record, expectedVersion);
      },
    };
    const seen = new Map<string, Record<string, unknown>>();
    const pipe = new Dispatcher({ adapters: adapters(seen), store: interfering, secrets: ROTATED });
    const result = await pipe.providers.reseal({ batchSize: 5 });
    expect(result).toMatchObject({ scanned: 24, resealed: 24, failed: [] });
    const after = await store.getProvider(target!.projectId, target!.id);
    expect(after?.name).toBe('renamed meanwhile');
    expect(after?.secrets).toMatch(/^sealed:v1:k2:/);
    expect(after?.version).toBe(3);
    seen.clear();
    await pipe.providers.validate({ projectId: target!.projectId, id: target!.id });
    expect([...seen.values()]).toEqual([fixture.rotated]);
  });

  it('stops between records when aborted, and a new run finishes the job', async () => {
    const store = new InMemoryProviderStore();
    await seed(store);
    const pipe = new Dispatcher({ adapters: [], store, secrets: ROTATED });
    const controller = new AbortController();
    await expect(
      pipe.providers.reseal({
        batchSize: 6,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(keyIdsOf(await scanAll(store, 100))).toEqual({ k1: 18, k2: 6 });
    expect(await pipe.providers.reseal()).toMatchObject({ resealed: 18, current: 6 });
  });

  it('seals secrets stored before keys were configured, warning about them once until then', async () => {
    const store = new InMemoryProviderStore();
    const plain = new Dispatcher({ adapters: adapters(new Map()), store });
    const records: ProviderRecord[] = [];
    for (const fixture of PROVIDERS) {
      records.push(
        await plain.providers.add(
          {
            projectId: 'project-a',
            channel: fixture.channel,
            provider: fixture.provider,
            name: 'x',
            config: fixture.config,
          },
          { verify: false },
        ),
      );
    }
    expect(keyIdsOf(await scanAll(store, 100))).toEqual({ plain: 8 });
    const logger = recordingLogger();
    const seen = new Map<string, Record<string, unknown>>();
    const pipe = new Dispatcher({ adapters: adapters(seen), store, secrets: ONLY_K1, logger });
    await pipe.providers.validate({ projectId: 'project-a', id: records[0]!.id });
    await pipe.providers.validate({ projectId: 'project-a', id: records[1]!.id });
    expect(logger.lines.filter((line) => line.includes('reseal()'))).toHaveLength(1);
    expect(await pipe.providers.reseal()).toMatchObject({ resealed: 8, failed: [] });
    expect(keyIdsOf(await scanAll(store, 100))).toEqual({ k1: 8 });
    const strict = new Dispatcher({
      adapters: adapters(seen),
      store,
      secrets: { ...ONLY_K1, acceptUnsealed: false },
    });
    await expectAllOpen(
      strict,
      store,
      new Map(records.map((record, index) => [record.id, PROVIDERS[index]!.config])),
      seen,
    );
  });

  it('refuses to re-seal without keys', async () => {
    const pipe = new Dispatcher({ adapters: [] });
    await expect(pipe.providers.reseal()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
