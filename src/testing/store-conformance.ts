import assert from 'node:assert/strict';
import {
  type Channel,
  compareProviderRecords,
  type DeliveryEvent,
  type MessageLogStore,
  type ProviderCursor,
  type ProviderStore,
  type SenderConfig,
  type SentMessageRecord,
  type StoredProviderRecord,
  type SuppressionPage,
  type SuppressionRecord,
} from 'messagepipe';

/** One named check of the conformance suite, runnable under any test framework. */
export interface ConformanceCase {
  name: string;
  run: () => Promise<void>;
}

/**
 * Options of {@link providerStoreConformance}. `S` is the store class under test, so `destroy` gets that type
 * (and can call its `close()`, say) without a cast.
 */
export interface StoreConformanceOptions<S extends ProviderStore = ProviderStore> {
  /** Returns an empty store. Called once per case. */
  create: () => S | Promise<S>;
  /** Called after each case with the store it used (close connections, drop tables…). */
  destroy?: (store: S) => void | Promise<void>;
  /** Records inserted by the "many providers" case. @default 500 */
  manyProviders?: number;
}

/** Reads every record a store holds through `scanProviders`, `limit` at a time, checking each page's shape. */
export async function scanAll(store: ProviderStore, limit: number): Promise<StoredProviderRecord[]> {
  const all: StoredProviderRecord[] = [];
  let after: ProviderCursor | undefined;
  for (;;) {
    const page = await store.scanProviders({ after, limit });
    assert.ok(page.length <= limit, `a page holds at most ${limit} records`);
    if (page.length === 0) return all;
    all.push(...page);
    const last = page[page.length - 1]!;
    assert.ok(!after || keyOf(after) !== keyOf(last), 'each page moves the cursor on');
    after = { projectId: last.projectId, id: last.id };
  }
}

function keyOf(record: Pick<StoredProviderRecord, 'projectId' | 'id'>): string {
  return `${record.projectId}\u0000${record.id}`;
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
 *   const checks = providerStoreConformance({
 *     create: () => MyStore.open({ database: 'test' }), // an empty store for each case
 *     destroy: (store) => store.close(), // a MyStore: close connections, drop tables…
 *   });
 *   for (const check of checks) it(check.name, check.run);
 * });
 * ```
 */
export function providerStoreConformance<S extends ProviderStore>(
  options: StoreConformanceOptions<S>,
): ConformanceCase[] {
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
        const [listed] = await store.listProviders(record.projectId);
        assert.ok(listed);
        listed.name = 'changed after list';
        (listed.config.auth as Record<string, unknown>).user = 'mutated';
        const [scanned] = await store.scanProviders({ limit: 1 });
        assert.ok(scanned);
        scanned.priority = 999;
        assert.deepEqual(await store.getProvider(record.projectId, record.id), second);
        const sender: SenderConfig = {
          projectId: record.projectId,
          channel: 'email',
          senderEmail: 'noreply@acme.test',
          enabled: true,
          updatedAt: '2026-01-01T00:00:00.000Z',
        };
        await store.putSender(sender);
        sender.senderEmail = 'changed@acme.test';
        const readSender = await store.getSender(record.projectId, 'email');
        assert.equal(readSender?.channel === 'email' && readSender.senderEmail, 'noreply@acme.test');
        if (readSender?.channel === 'email') readSender.senderEmail = 'changed@acme.test';
        const again = await store.getSender(record.projectId, 'email');
        assert.equal(again?.channel === 'email' && again.senderEmail, 'noreply@acme.test');
      },
    ],
    [
      'keeps every field exactly, including unusual values',
      async (store) => {
        const records = [
          sampleRecord({
            name: 'Ünïcødé “quotes” \\ back\\slash 🚀',
            priority: 0,
            secretFields: [],
            credentials: { status: 'unchecked' },
            config: {
              nested: { list: [1, 'two', true, null, { deep: [] }], empty: {} },
              float: 1.5,
              negative: -3,
              flag: false,
              quote: `it's "quoted"`,
            },
            secrets: `sealed:v1:key:${'x'.repeat(8_000)}`,
          }),
          sampleRecord({
            channel: 'sms',
            provider: 'twilio',
            enabled: false,
            priority: 1_000_000,
            weight: 3,
            credentials: {
              status: 'invalid',
              checkedAt: '2026-03-04T05:06:07.089Z',
              reason: 'Authentication failed (401)',
            },
            secretFields: ['authToken'],
            config: { accountSid: `AC${'0'.repeat(32)}`, from: '+14155550100' },
            secrets: '',
            version: 42,
            updatedAt: '2026-03-04T05:06:07.089Z',
          }),
        ];
        for (const record of records) await store.insertProvider(record);
        for (const record of records) {
          assert.deepEqual(await store.getProvider(record.projectId, record.id), record);
        }
        assert.deepEqual(await store.listProviders('project-a'), records);
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
      'lets exactly one of several concurrent inserts with the same id win',
      async (store) => {
        const record = sampleRecord();
        const names = ['first', 'second', 'third', 'fourth'];
        const results = await Promise.allSettled(
          names.map((name) => store.insertProvider({ ...record, name })),
        );
        const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
        assert.equal(winners.length, 1);
        assert.equal((await store.getProvider(record.projectId, record.id))?.name, names[winners[0]!]);
        assert.equal((await store.listProviders(record.projectId)).length, 1);
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
        // The same id may exist in two projects; each project sees only its own.
        const twin = { ...record, projectId: 'project-b', name: 'Twin in project b' };
        await store.insertProvider(twin);
        assert.deepEqual(await store.getProvider('project-b', record.id), twin);
        assert.deepEqual(await store.getProvider('project-a', record.id), record);
        assert.equal(await store.replaceProvider({ ...twin, name: 'renamed twin', version: 2 }, 1), true);
        assert.deepEqual(await store.getProvider('project-a', record.id), record);
        assert.equal(await store.deleteProvider('project-b', record.id), true);
        assert.deepEqual(await store.listProviders('project-a'), [record]);
        await store.putSender({
          projectId: 'project-a',
          channel: 'email',
          senderEmail: 'a@acme.test',
          enabled: true,
          updatedAt: '2026-01-01T00:00:00.000Z',
        });
        assert.equal(await store.getSender('project-b', 'email'), undefined);
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
      'replaces every field a write may change, and the order follows',
      async (store) => {
        const first = sampleRecord({ id: 'first', priority: 1 });
        const second = sampleRecord({ id: 'second', priority: 2 });
        await store.insertProvider(first);
        await store.insertProvider(second);
        const changed: StoredProviderRecord = {
          ...first,
          name: 'Moved to the back',
          enabled: false,
          priority: 3,
          credentials: { status: 'invalid', checkedAt: '2026-02-02T00:00:00.000Z', reason: 'Unauthorized' },
          secretFields: [],
          config: { host: 'smtp2.example.test', port: 465, secure: true },
          secrets: 'opaque:new',
          version: 2,
          updatedAt: '2026-02-02T00:00:00.000Z',
        };
        assert.equal(await store.replaceProvider(changed, 1), true);
        assert.deepEqual(await store.getProvider(first.projectId, first.id), changed);
        assert.deepEqual(await store.listProviders('project-a'), [second, changed]);
      },
    ],
    [
      'refuses a write based on a stale read (read, modify, write)',
      async (store) => {
        const record = sampleRecord();
        await store.insertProvider(record);
        const readByAnn = await store.getProvider(record.projectId, record.id);
        const readByBob = await store.getProvider(record.projectId, record.id);
        assert.ok(readByAnn && readByBob);
        const annWrites = { ...readByAnn, name: 'Ann', version: readByAnn.version + 1 };
        assert.equal(await store.replaceProvider(annWrites, readByAnn.version), true);
        const bobWrites = { ...readByBob, priority: 99, version: readByBob.version + 1 };
        assert.equal(await store.replaceProvider(bobWrites, readByBob.version), false, 'stale write refused');
        assert.deepEqual(await store.getProvider(record.projectId, record.id), annWrites);
        const reread = await store.getProvider(record.projectId, record.id);
        assert.ok(reread);
        const bobAgain = { ...reread, priority: 99, version: reread.version + 1 };
        assert.equal(await store.replaceProvider(bobAgain, reread.version), true);
        assert.deepEqual(await store.getProvider(record.projectId, record.id), bobAgain);
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
        assert.equal(
          await store.replaceProvider({ ...record, version: 2 }, 1),
          false,
          'deleted stays deleted',
        );
        assert.equal(await store.getProvider(record.projectId, record.id), undefined);
        assert.deepEqual(await scanAll(store, 10), [other]);
        await store.insertProvider(record);
        assert.deepEqual(await store.getProvider(record.projectId, record.id), record);
      },
    ],
    [
      'scans every record of every project once, in pages',
      async (store) => {
        assert.deepEqual(await store.scanProviders({ limit: 10 }), []);
        const ids = ['a', 'B', 'b', '10', '9', 'z-1', 'z_1', 'Ünï', 'rec.7', 'rec-7', 'rec~7', '0'];
        const records = ['project-a', 'project-b', 'Project-C', 'project-a-2'].flatMap((projectId, index) =>
          ids.map((id) =>
            sampleRecord({ id, projectId, channel: index % 2 === 0 ? 'email' : 'sms', priority: ids.length }),
          ),
        );
        await Promise.all(records.map((record) => store.insertProvider(record)));
        const byKey = new Map(records.map((record) => [keyOf(record), record]));
        for (const limit of [1, 5, 12, 1_000]) {
          const scanned = await scanAll(store, limit);
          assert.equal(scanned.length, records.length, `limit ${limit}: every record`);
          assert.equal(new Set(scanned.map(keyOf)).size, records.length, `limit ${limit}: each once`);
          for (const record of scanned) assert.deepEqual(record, byKey.get(keyOf(record)));
          const order = scanned.map(keyOf);
          assert.deepEqual(order, (await scanAll(store, 7)).map(keyOf), 'the same order every time');
          const projects = scanned.map((record) => record.projectId);
          const grouped = projects.filter((projectId, index) => projectId !== projects[index - 1]);
          assert.equal(new Set(grouped).size, grouped.length, 'records of a project come together');
        }
      },
    ],
    [
      'scans past records changed or deleted between pages without losing or repeating any',
      async (store) => {
        const records = Array.from({ length: 20 }, (_, index) =>
          sampleRecord({ id: `scan-${index.toString().padStart(2, '0')}`, priority: 20 - index }),
        );
        for (const record of records) await store.insertProvider(record);
        const firstPage = await store.scanProviders({ limit: 8 });
        assert.equal(firstPage.length, 8);
        const seen = new Set(firstPage.map(keyOf));
        const unseen = records.filter((record) => !seen.has(keyOf(record)));
        // Another writer bumps every record not scanned yet to the front and deletes one.
        for (const record of unseen) {
          const bumped = { ...record, priority: 0, version: 2, updatedAt: '2026-06-01T00:00:00.000Z' };
          assert.equal(await store.replaceProvider(bumped, 1), true);
        }
        const deleted = unseen[3]!;
        await store.deleteProvider(deleted.projectId, deleted.id);
        const last = firstPage[firstPage.length - 1]!;
        let after: ProviderCursor = { projectId: last.projectId, id: last.id };
        for (;;) {
          const page = await store.scanProviders({ after, limit: 5 });
          if (page.length === 0) break;
          for (const record of page) {
            assert.ok(!seen.has(keyOf(record)), `${record.id} scanned twice`);
            seen.add(keyOf(record));
          }
          const end = page[page.length - 1]!;
          after = { projectId: end.projectId, id: end.id };
        }
        assert.equal(seen.size, records.length - 1);
        assert.ok(!seen.has(keyOf(deleted)));
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
        assert.deepEqual(await store.getSender('project-a', 'sms'), sms, 'the other channel is untouched');
        // Optional fields that are left out stay left out.
        const bare: SenderConfig = {
          projectId: 'project-a',
          channel: 'email',
          senderEmail: 'bare@acme.test',
          enabled: true,
          updatedAt: '2026-01-02T00:00:00.000Z',
        };
        await store.putSender(bare);
        assert.deepEqual(await store.getSender('project-a', 'email'), bare);
        const numberOnly: SenderConfig = {
          projectId: 'project-b',
          channel: 'sms',
          from: '+442071838750',
          enabled: true,
          updatedAt: '2026-01-02T00:00:00.000Z',
        };
        await store.putSender(numberOnly);
        assert.deepEqual(await store.getSender('project-b', 'sms'), numberOnly);
        assert.deepEqual(await store.getSender('project-a', 'sms'), sms);
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
        // Ties on priority, so the creation time and id decide too.
        for (const [index, record] of records.entries()) {
          record.priority = Math.floor((count - index) / 3);
          record.createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, index % 7)).toISOString();
        }
        const elsewhere = Array.from({ length: 25 }, () => sampleRecord({ projectId: 'project-b' }));
        await Promise.all([...records, ...elsewhere].map((record) => store.insertProvider(record)));
        const expected = [...records].sort(compareProviderRecords);
        const listed = await store.listProviders('project-a');
        assert.equal(listed.length, count);
        assert.deepEqual(
          listed.map((record) => record.id),
          expected.map((record) => record.id),
        );
        const email = await store.listProviders('project-a', { channel: 'email' });
        assert.deepEqual(
          email.map((record) => record.id),
          expected.filter((record) => record.channel === 'email').map((record) => record.id),
        );
        assert.equal((await store.listProviders('project-b')).length, elsewhere.length);
        assert.equal((await scanAll(store, 100)).length, count + elsewhere.length);
      },
    ],
    [
      'says whether it is persistent with a boolean, if at all',
      async (store) => {
        assert.ok(store.persistent === undefined || typeof store.persistent === 'boolean');
      },
    ],
  ];

  return toCases(options, cases);
}

/** Each case runs on a fresh store from `create`, handed to `destroy` afterwards whatever the outcome. */
function toCases<S>(
  options: { create: () => S | Promise<S>; destroy?: (store: S) => void | Promise<void> },
  cases: Array<[string, (store: S) => Promise<void>]>,
): ConformanceCase[] {
  return cases.map(([name, body]) => ({
    name,
    run: async () => {
      const store = await options.create();
      try {
        await body(store);
      } finally {
        await options.destroy?.(store);
      }
    },
  }));
}

/** Options of {@link messageLogStoreConformance}. */
export interface MessageLogConformanceOptions {
  /** Returns an empty store. Called once per case. */
  create: () => MessageLogStore | Promise<MessageLogStore>;
  /** Called after each case with the store it used. */
  destroy?: (store: MessageLogStore) => void | Promise<void>;
}

/** A send record for tests; override any field. */
export function sampleSend(overrides: Partial<SentMessageRecord> = {}): SentMessageRecord {
  sequence++;
  return {
    projectId: 'project-a',
    channel: 'email',
    providerConfigId: 'config-1',
    provider: 'sendgrid',
    messageId: `msg-${sequence}`,
    correlationId: `msg-${sequence}`,
    idempotencyKey: `key-${sequence}`,
    recipients: ['ann@example.test'],
    sentAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, sequence % 1000)).toISOString(),
    ...overrides,
  };
}

/** A delivery event for tests; override any field. */
export function sampleDeliveryEvent(overrides: Partial<DeliveryEvent> = {}): DeliveryEvent {
  sequence++;
  return {
    id: `event-${sequence.toString().padStart(6, '0')}`,
    type: 'delivered',
    status: 'delivered',
    provider: 'sendgrid',
    providerConfigId: 'config-1',
    projectId: 'project-a',
    channel: 'email',
    messageId: 'msg-1',
    recipient: 'ann@example.test',
    at: '2026-01-01T00:00:10.000Z',
    receivedAt: '2026-01-01T00:00:11.000Z',
    raw: { event: 'delivered', nested: { list: [1, 'two', null], ünïcødé: true } },
    ...overrides,
  };
}

function sampleSuppression(overrides: Partial<SuppressionRecord> = {}): SuppressionRecord {
  return {
    projectId: 'project-a',
    channel: 'email',
    recipient: 'ann@example.test',
    reason: 'bounced',
    source: 'event',
    eventType: 'bounced',
    provider: 'sendgrid',
    providerConfigId: 'config-1',
    messageId: 'msg-1',
    detail: '550 unknown user',
    createdAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/**
 * The `MessageLogStore` conformance suite (message log, delivery events, suppression list), as framework-agnostic
 * cases. Run it against any store that implements the capability.
 *
 * @example
 * ```ts
 * for (const check of messageLogStoreConformance({ create: () => new MyStore(db) })) it(check.name, check.run);
 * ```
 */
export function messageLogStoreConformance(options: MessageLogConformanceOptions): ConformanceCase[] {
  const cases: Array<[string, (store: MessageLogStore) => Promise<void>]> = [
    [
      'message log: finds a send by idempotency key and by correlation id, within its project only',
      async (store) => {
        const send = sampleSend({
          suppressed: ['bob@example.test'],
          suppressionIgnored: ['cy@example.test'],
        });
        await store.recordSend(send);
        assert.deepEqual(await store.findSend('project-a', { idempotencyKey: send.idempotencyKey }), send);
        assert.deepEqual(await store.findSend('project-a', { correlationId: send.correlationId }), send);
        assert.deepEqual(
          await store.findSend('project-a', { correlationId: send.correlationId, provider: 'sendgrid' }),
          send,
        );
        assert.equal(
          await store.findSend('project-a', { correlationId: send.correlationId, provider: 'mailgun' }),
          undefined,
        );
        assert.equal(await store.findSend('project-b', { idempotencyKey: send.idempotencyKey }), undefined);
        assert.equal(await store.findSend('project-b', { correlationId: send.correlationId }), undefined);
        const plain = sampleSend();
        await store.recordSend(plain);
        const found = await store.findSend('project-a', { idempotencyKey: plain.idempotencyKey });
        assert.deepEqual(found, plain);
        assert.ok(
          found && !('suppressed' in found) && !('suppressionIgnored' in found),
          'no empty optional fields',
        );
      },
    ],
    [
      'message log: a second record of the same send is ignored; the latest send of a key wins',
      async (store) => {
        const first = sampleSend({ idempotencyKey: 'shared', sentAt: '2026-01-01T00:00:00.000Z' });
        await store.recordSend(first);
        await store.recordSend({ ...first, recipients: ['changed@example.test'] });
        assert.deepEqual(await store.findSend('project-a', { correlationId: first.correlationId }), first);
        const later = sampleSend({
          idempotencyKey: 'shared',
          provider: 'mailgun',
          sentAt: '2026-01-01T00:01:00.000Z',
        });
        await store.recordSend(later);
        assert.deepEqual(await store.findSend('project-a', { idempotencyKey: 'shared' }), later);
      },
    ],
    [
      'message log: one correlation id from two providers finds the earliest send without a provider',
      async (store) => {
        // Recorded latest first, so neither insertion order nor provider name can stand in for `sentAt`.
        const later = sampleSend({
          correlationId: 'same-id',
          provider: 'mailgun',
          sentAt: '2026-01-01T00:02:00.000Z',
        });
        const earlier = sampleSend({
          correlationId: 'same-id',
          provider: 'ses',
          sentAt: '2026-01-01T00:01:00.000Z',
        });
        await store.recordSend(later);
        await store.recordSend(earlier);
        assert.deepEqual(await store.findSend('project-a', { correlationId: 'same-id' }), earlier);
        assert.deepEqual(
          await store.findSend('project-a', { correlationId: 'same-id', provider: 'mailgun' }),
          later,
        );
      },
    ],
    [
      'events: keeps each id once per project and says whether it was new',
      async (store) => {
        const event = sampleDeliveryEvent();
        assert.equal(await store.recordEvent(event), true);
        assert.equal(await store.recordEvent({ ...event, providerEventId: 'another' }), false);
        assert.equal(await store.recordEvent({ ...event, projectId: 'project-b' }), true);
        assert.deepEqual(await store.listEvents('project-a', event.messageId), [event]);
      },
    ],
    [
      'events: lists one message in provider time order, then receipt time, then id, round-tripping every field',
      async (store) => {
        const late = sampleDeliveryEvent({
          id: 'b',
          at: '2026-01-01T00:00:30.000Z',
          type: 'opened',
          status: 'open',
        });
        const tieB = sampleDeliveryEvent({ id: 'tie-b', at: '2026-01-01T00:00:20.000Z' });
        const tieA = sampleDeliveryEvent({ id: 'tie-a', at: '2026-01-01T00:00:20.000Z' });
        const first = sampleDeliveryEvent({
          id: 'z',
          at: '2026-01-01T00:00:05.000Z',
          type: 'bounced',
          status: 'bounce',
          bounceClass: 'hard',
          reason: '550',
          providerEventId: 'sg-1',
          idempotencyKey: 'key-1',
        });
        const otherMessage = sampleDeliveryEvent({ messageId: 'msg-2' });
        for (const event of [late, tieB, tieA, first, otherMessage]) await store.recordEvent(event);
        assert.deepEqual(await store.listEvents('project-a', 'msg-1'), [first, tieA, tieB, late]);
        assert.deepEqual(await store.listEvents('project-b', 'msg-1'), []);
      },
    ],
    [
      'suppressions: adds, finds, replaces and removes, per project and channel',
      async (store) => {
        const entry = sampleSuppression();
        await store.putSuppression(entry);
        await store.putSuppression(sampleSuppression({ channel: 'sms', recipient: '+14155550100' }));
        assert.deepEqual(
          await store.findSuppressions('project-a', 'email', ['ann@example.test', 'x@example.test']),
          [entry],
        );
        assert.deepEqual(await store.findSuppressions('project-b', 'email', ['ann@example.test']), []);
        assert.deepEqual(await store.findSuppressions('project-a', 'sms', ['ann@example.test']), []);
        assert.deepEqual(await store.findSuppressions('project-a', 'email', []), []);
        const manual: SuppressionRecord = {
          projectId: 'project-a',
          channel: 'email',
          recipient: 'ann@example.test',
          reason: 'manual',
          source: 'manual',
          createdAt: '2026-01-02T00:00:00.000Z',
        };
        await store.putSuppression(manual);
        assert.deepEqual(await store.findSuppressions('project-a', 'email', ['ann@example.test']), [manual]);
        assert.equal(await store.deleteSuppression('project-b', 'email', 'ann@example.test'), false);
        assert.equal(await store.deleteSuppression('project-a', 'email', 'ann@example.test'), true);
        assert.equal(await store.deleteSuppression('project-a', 'email', 'ann@example.test'), false);
        assert.deepEqual(await store.findSuppressions('project-a', 'email', ['ann@example.test']), []);
      },
    ],
    [
      'suppressions: pages by channel then recipient, and lists every recipient up to a limit',
      async (store) => {
        const recipients = Array.from(
          { length: 25 },
          (_, index) => `user${String(index).padStart(2, '0')}@example.test`,
        );
        for (const recipient of [...recipients].reverse())
          await store.putSuppression(sampleSuppression({ recipient }));
        await store.putSuppression(sampleSuppression({ channel: 'sms', recipient: '+14155550100' }));
        await store.putSuppression(
          sampleSuppression({ projectId: 'project-b', recipient: 'other@example.test' }),
        );
        const seen: string[] = [];
        let after: SuppressionPage['after'];
        for (;;) {
          const page = await store.listSuppressions('project-a', { limit: 10, ...(after ? { after } : {}) });
          assert.ok(page.length <= 10);
          if (page.length === 0) break;
          seen.push(...page.map((entry) => `${entry.channel}:${entry.recipient}`));
          const last = page[page.length - 1]!;
          after = { channel: last.channel, recipient: last.recipient };
        }
        assert.deepEqual(seen, [...recipients.map((recipient) => `email:${recipient}`), 'sms:+14155550100']);
        const sms = await store.listSuppressions('project-a', { channel: 'sms', limit: 10 });
        assert.deepEqual(
          sms.map((entry) => entry.recipient),
          ['+14155550100'],
        );
        const all = await store.suppressedRecipients('project-a', 'email', 1000);
        assert.deepEqual([...all].sort(), recipients);
        assert.equal((await store.suppressedRecipients('project-a', 'email', 5)).length, 5);
        assert.deepEqual(await store.suppressedRecipients('project-c', 'email', 5), []);
      },
    ],
    [
      'returns copies: changing what it returned changes nothing stored',
      async (store) => {
        const send = sampleSend();
        await store.recordSend(send);
        const found = (await store.findSend('project-a', { idempotencyKey: send.idempotencyKey }))!;
        found.recipients.push('mallory@example.test');
        assert.deepEqual(await store.findSend('project-a', { idempotencyKey: send.idempotencyKey }), send);
        const event = sampleDeliveryEvent({ messageId: send.correlationId });
        await store.recordEvent(event);
        const [listed] = await store.listEvents('project-a', send.correlationId);
        (listed!.raw as { event: string }).event = 'changed';
        assert.deepEqual(await store.listEvents('project-a', send.correlationId), [event]);
      },
    ],
  ];

  return toCases(options, cases);
}
