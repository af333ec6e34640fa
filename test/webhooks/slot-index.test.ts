import fc from 'fast-check';
import { InMemoryMessageLog, type SentMessageRecord } from 'messagepipe';
import { describe, expect, it } from 'vitest';
import { SlotIndex } from '../../src/delivery/slot-index';

/** Hashes from a small range (0 included), so entries collide, share probe runs and wrap around the table. */
const hash = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.integer());
const operation = fc.oneof(
  fc.record({ op: fc.constant('add' as const), hash, slot: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ op: fc.constant('delete' as const), hash, slot: fc.integer({ min: 0, max: 30 }) }),
);

function slotsOf(index: SlotIndex, key: number): number[] {
  const slots: number[] = [];
  for (let at = index.next(key, -1); at !== -1; at = index.next(key, at)) slots.push(index.slotAt(at));
  return slots.sort((a, b) => a - b);
}

describe('SlotIndex (the memory message log’s index)', () => {
  it('holds exactly what a multimap would after any sequence of adds and deletes, across growth', () => {
    fc.assert(
      fc.property(
        fc.array(operation, { maxLength: 300 }),
        fc.array(hash, { maxLength: 20 }),
        (ops, probes) => {
          const index = new SlotIndex();
          const reference = new Map<number, number[]>();
          // A hash of 0 is stored as 1 (0 marks an empty position): the two are one key, which callers tell apart
          // by the records themselves, like any other collision.
          const keyOf = (value: number) => (value === 0 ? 1 : value);
          for (const step of ops) {
            const key = keyOf(step.hash);
            const slots = reference.get(key) ?? [];
            if (step.op === 'add') {
              // The log adds a slot under a hash once; a second add would be a second entry.
              index.add(step.hash, step.slot);
              reference.set(key, [...slots, step.slot]);
            } else {
              index.delete(step.hash, step.slot);
              const at = slots.indexOf(step.slot);
              if (at >= 0) reference.set(key, slots.toSpliced(at, 1));
            }
          }
          let size = 0;
          for (const [key, slots] of reference) {
            size += slots.length;
            expect(slotsOf(index, key)).toEqual([...slots].sort((a, b) => a - b));
          }
          expect(index.size).toBe(size);
          for (const probe of probes) {
            const expected = [...(reference.get(keyOf(probe)) ?? [])].sort((a, b) => a - b);
            expect(slotsOf(index, probe)).toEqual(expected);
            expect(index.next(probe, -1) !== -1).toBe(expected.length > 0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('InMemoryMessageLog answers like a list of every send kept', () => {
  const send = fc.record({
    projectId: fc.constantFrom('p', 'q'),
    provider: fc.constantFrom('sendgrid', 'mailgun'),
    correlationId: fc.constantFrom('m1', 'm2', 'm3', 'm4', '<m5>'),
    idempotencyKey: fc.constantFrom('k1', 'k2', 'k3'),
    second: fc.integer({ min: 0, max: 3 }),
  });

  it('finds by correlation id (with and without provider) and by idempotency key, as the oldest sends go', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.array(send, { maxLength: 40 }),
        async (max, sends) => {
          const log = new InMemoryMessageLog({ maxMessages: max });
          let kept: SentMessageRecord[] = [];
          for (const [index, fields] of sends.entries()) {
            const record: SentMessageRecord = {
              projectId: fields.projectId,
              channel: 'email',
              providerConfigId: 'cfg',
              provider: fields.provider,
              messageId: `${fields.correlationId}#${index}`,
              correlationId: fields.correlationId,
              idempotencyKey: fields.idempotencyKey,
              recipients: ['ann@example.test'],
              sentAt: new Date(Date.UTC(2026, 0, 1, 0, 0, fields.second)).toISOString(),
            };
            await log.recordSend(record);
            const duplicate = kept.some(
              (other) =>
                other.projectId === record.projectId &&
                other.correlationId === record.correlationId &&
                other.provider === record.provider,
            );
            if (!duplicate) kept = [...kept, record].slice(-max);
          }
          for (const projectId of ['p', 'q']) {
            for (const correlationId of ['m1', 'm2', 'm3', 'm4', '<m5>']) {
              for (const provider of [undefined, 'sendgrid', 'mailgun']) {
                // The earliest `sentAt`; among equal ones, the first recorded.
                const expected = kept
                  .filter(
                    (record) =>
                      record.projectId === projectId &&
                      record.correlationId === correlationId &&
                      (provider === undefined || record.provider === provider),
                  )
                  .reduce<SentMessageRecord | undefined>(
                    (best, record) => (!best || record.sentAt < best.sentAt ? record : best),
                    undefined,
                  );
                const query = provider ? { correlationId, provider } : { correlationId };
                expect((await log.findSend(projectId, query))?.messageId).toBe(expected?.messageId);
              }
            }
            for (const idempotencyKey of ['k1', 'k2', 'k3']) {
              const matching = kept.filter(
                (record) => record.projectId === projectId && record.idempotencyKey === idempotencyKey,
              );
              // The latest `sentAt`; among equal ones, the last recorded.
              const latest = matching.reduce<SentMessageRecord | undefined>(
                (best, record) => (!best || record.sentAt >= best.sentAt ? record : best),
                undefined,
              );
              expect((await log.findSend(projectId, { idempotencyKey }))?.messageId).toBe(latest?.messageId);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
