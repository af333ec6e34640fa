import assert from 'node:assert/strict';
import type { Channel, ProviderStore, SenderConfig, StoredProviderRecord } from 'messagepipe';

/** One named check of the conformance suite, runnable under any test framework. */
export interface ConformanceCase {
  name: string;
  run: () => Promise<void>;
}

/** Options of {@link providerStoreConformance}. */
export interface StoreConformanceOptions {
  /** Returns an empty store. Called once per case. */
  create: () => ProviderStore | Promise<ProviderStore>;
  /** Called after each case with the store it used (close connections, drop tables…). */
  destroy?: (store: ProviderStore) => void | Promise<void>;
  /** Records inserted by the "many providers" case. @default 500 */
  manyProviders?: number;
}

let sequence = 0;

/** A valid stored record for tests; override any field. */
export function sampleRecord(overrides: Partial<StoredProviderRecord> = {}): StoredProviderRecord {
  sequence++;
  const createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, 0, sequence % 1000)).toISOString();
  return {
    id: `rec-${sequence.toString().padStart(6, '0')}-${Math.random().toString(36).slice(2, 8)}`,
    projectId: 'project-a',
    channel: 'email',
    provider: 'smtp',
    name: `Provider ${sequence}`,
    enabled: true,
    priority: 10,
    credentials: { status: 'valid', checkedAt: createdAt },
    secretFields: ['auth.pass'],
    config: {
      host: 'smtp.example.test',
      port: 587,
      secure: false,
      auth: { user: 'mailer' },
      tls: { rejectUnauthorized: true },
    },
    secrets: 'opaque:Zm9v/YmFy+==:ünïcødé',
    version: 1,
    createdAt,
    updatedAt: createdAt,
    ...overrides,
  };
}

/**
 * The `ProviderStore` conformance suite: the behaviour the dispatcher relies on, as framework-agnostic cases.
 *
 * @example
 * ```ts
 * import { describe, it } from 'vitest';
 * import { providerStoreConformance } from 'messagepipe/testing';
 *
 * describe('MyStore', () => {
 *   for (const check of providerStoreConformance({ create: () => new MyStore(db) })) it(check.name, check.run);
 * });
 * ```
 */
export function providerStoreConformance(options: StoreConformanceOptions): ConformanceCase[] {
  const withStore =
    (body: (store: ProviderStore) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const store = await options.create();
      try {
        await body(store);
      } finally {
        await options.destroy?.(store);
      }
    };

  const cases: Array<[string, (store: ProviderStore) => Promise<void>]> = [
    [
      'returns an inserted record unchanged',
      async (store) => {
        const record = sampleRecord();
        await store.insertProvider(record);
        assert.deepEqual(await store.getProvider(record.projectId, record.id), record);
      },
    ],
    [
      'keeps no reference to what it was given or what it returned',
      async (store) => {
        const record = sampleRecord();
        await store.insertProvider(record);
        record.name = 'changed after insert';
        const first = await store.getProvider(record.projectId, record.id);
        assert.ok(first);
        assert.notEqual(first.name, 'changed after insert');
        first.name = 'changed after get';
        (first.config.auth as Record<string, unknown>).user = 'mutated';
        const second = await store.getProvider(record.projectId, record.id);
        assert.notEqual(second?.name, 'changed after get');
        assert.ok(second);
        assert.deepEqual((second.config.auth as Record<string, unknown>).user, 'mailer');
      },
    ],
    [
      'refuses a second record with the same id',
      async (store) => {
        const record = sampleRecord();
        await store.insertProvider(record);
        await assert.rejects(store.insertProvider({ ...record, name: 'duplicate' }));
        assert.equal((await store.getProvider(record.projectId, record.id))?.name, record.name);
      },
    ],
    [
      'answers undefined for an unknown id',
      async (store) => {
        assert.equal(await store.getProvider('project-a', 'no-such-id'), undefined);
      },
    ],
    [
      'isolates projects on every operation',
      async (store) => {
        const record = sampleRecord({ projectId: 'project-a' });
        await store.insertProvider(record);
        assert.equal(await store.getProvider('project-b', record.id), undefined);
        assert.deepEqual(await store.listProviders('project-b'), []);
        assert.equal(
          await store.replaceProvider({ ...record, projectId: 'project-b', version: 2 }, 1),
          false,
        );
        assert.equal(await store.deleteProvider('project-b', record.id), false);
        assert.deepEqual(await store.getProvider('project-a', record.id), record);
      },
    ],
    [
      'lists by priority, then creation time, then id, and filters by channel',
      async (store) => {
        const records = [
          sampleRecord({ id: 'c', priority: 5, createdAt: '2026-01-01T00:00:02.000Z' }),
          sampleRecord({ id: 'a', priority: 1, createdAt: '2026-01-01T00:00:09.000Z' }),
          sampleRecord({ id: 'e', priority: 5, createdAt: '2026-01-01T00:00:01.000Z' }),
          sampleRecord({ id: 'b', priority: 5, createdAt: '2026-01-01T00:00:01.000Z' }),
          sampleRecord({ id: 's', priority: 0, channel: 'sms', provider: 'twilio' }),
        ];
        for (const record of records) await store.insertProvider(record);
        const all = await store.listProviders('project-a');
        assert.deepEqual(
          all.map((record) => record.id),
          ['s', 'a', 'b', 'e', 'c'],
        );
        const email = await store.listProviders('project-a', { channel: 'email' });
        assert.deepEqual(
          email.map((record) => record.id),
          ['a', 'b', 'e', 'c'],
        );
        const sms = await store.listProviders('project-a', { channel: 'sms' });
        assert.deepEqual(sms, [records[4]]);
      },
    ],
    [
      'replaces a record only at the expected version',
      async (store) => {
        const record = sampleRecord();
        await store.insertProvider(record);
        const next = {
          ...record,
          name: 'renamed',
          enabled: false,
          version: 2,
          updatedAt: '2026-02-01T00:00:00.000Z',
        };
        assert.equal(await store.replaceProvider(next, 1), true);
        assert.deepEqual(await store.getProvider(record.projectId, record.id), next);
        const stale = { ...record, name: 'stale write', version: 2 };
        assert.equal(await store.replaceProvider(stale, 1), false);
        assert.deepEqual(await store.getProvider(record.projectId, record.id), next);
        assert.equal(await store.replaceProvider(sampleRecord({ id: 'missing' }), 1), false);
      },
    ],
    [
      'lets exactly one of two concurrent updates from the same version win',
      async (store) => {
        const record = sampleRecord();
        await store.insertProvider(record);
        const results = await Promise.all(
          ['first', 'second', 'third', 'fourth'].map((name) =>
            store.replaceProvider({ ...record, name, version: 2 }, 1),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const stored = await store.getProvider(record.projectId, record.id);
        assert.equal(stored?.version, 2);
        assert.equal(stored?.name, ['first', 'second', 'third', 'fourth'][results.indexOf(true)]);
      },
    ],
    [
      'deletes a record once',
      async (store) => {
        const record = sampleRecord();
        const other = sampleRecord();
        await store.insertProvider(record);
        await store.insertProvider(other);
        assert.equal(await store.deleteProvider(record.projectId, record.id), true);
        assert.equal(await store.getProvider(record.projectId, record.id), undefined);
        assert.equal(await store.deleteProvider(record.projectId, record.id), false);
        assert.deepEqual(await store.listProviders(record.projectId), [other]);
      },
    ],
    [
      'keeps sender configurations per project and channel',
      async (store) => {
        const email: SenderConfig = {
          projectId: 'project-a',
          channel: 'email',
          senderEmail: 'noreply@acme.test',
          senderName: 'Acme',
          enabled: true,
          updatedAt: '2026-01-01T00:00:00.000Z',
        };
        const sms: SenderConfig = {
          projectId: 'project-a',
          channel: 'sms',
          senderId: 'Acme',
          from: '+14155550100',
          enabled: false,
          updatedAt: '2026-01-01T00:00:00.000Z',
        };
        assert.equal(await store.getSender('project-a', 'email'), undefined);
        await store.putSender(email);
        await store.putSender(sms);
        assert.deepEqual(await store.getSender('project-a', 'email'), email);
        assert.deepEqual(await store.getSender('project-a', 'sms'), sms);
        assert.equal(await store.getSender('project-b', 'email'), undefined);
        const replaced = { ...email, senderName: 'Acme Billing', enabled: false };
        await store.putSender(replaced);
        assert.deepEqual(await store.getSender('project-a', 'email'), replaced);
      },
    ],
    [
      'handles many providers',
      async (store) => {
        const count = options.manyProviders ?? 500;
        const channels: Channel[] = ['email', 'sms'];
        const records = Array.from({ length: count }, (_, index) =>
          sampleRecord({
            id: `many-${index.toString().padStart(5, '0')}`,
            priority: count - index,
            channel: channels[index % 2]!,
          }),
        );
        await Promise.all(records.map((record) => store.insertProvider(record)));
        const listed = await store.listProviders('project-a');
        assert.equal(listed.length, count);
        for (let index = 1; index < listed.length; index++) {
          assert.ok(listed[index - 1]!.priority <= listed[index]!.priority, 'ordered by priority');
        }
        const email = await store.listProviders('project-a', { channel: 'email' });
        assert.equal(email.length, Math.ceil(count / 2));
      },
    ],
  ];

  return cases.map(([name, body]) => ({ name, run: withStore(body) }));
}
