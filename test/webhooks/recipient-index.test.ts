import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecipientIndex } from '../../src/delivery/recipient-index';

const recipient = fc.oneof(
  fc.emailAddress().map((email) => email.toLowerCase()),
  fc.stringMatching(/^\+[1-9]\d{6,14}$/),
  fc.string({ maxLength: 40 }),
);
const operation = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key: recipient }),
  fc.record({ op: fc.constant('delete' as const), key: recipient }),
  fc.record({ op: fc.constant('clear' as const) }),
);

describe('RecipientIndex (the send-path suppression lookup)', () => {
  it('answers every lookup exactly like a Map after any sequence of writes: its filter never says "no" wrongly', () => {
    fc.assert(
      fc.property(
        fc.array(operation, { maxLength: 400 }),
        fc.array(recipient, { maxLength: 50 }),
        (ops, probes) => {
          const index = new RecipientIndex<number>();
          const reference = new Map<string, number>();
          ops.forEach((step, position) => {
            if (step.op === 'set') {
              index.set(step.key, position);
              reference.set(step.key, position);
            } else if (step.op === 'delete') {
              expect(index.delete(step.key)).toBe(reference.delete(step.key));
            } else {
              index.clear();
              reference.clear();
            }
          });
          expect(index.size).toBe(reference.size);
          for (const key of [...reference.keys(), ...probes]) {
            expect(index.has(key)).toBe(reference.has(key));
            expect(index.get(key)).toBe(reference.get(key));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds every entry through the rebuilds a growing list causes, and after removals shrink it', () => {
    const index = new RecipientIndex<true>();
    for (let n = 0; n < 20_000; n++) index.set(`gone${n}@example.test`, true);
    for (let n = 0; n < 20_000; n++) expect(index.has(`gone${n}@example.test`)).toBe(true);
    for (let n = 0; n < 15_000; n++) index.delete(`gone${n}@example.test`);
    for (let n = 0; n < 20_000; n++) expect(index.has(`gone${n}@example.test`)).toBe(n >= 15_000);
  });

  it('lets few absent recipients through its filter to the map (each one costs a Map lookup)', () => {
    const index = new RecipientIndex<true>();
    for (let n = 0; n < 100_000; n++) index.set(`gone${n}@example.test`, true);
    let passed = 0;
    for (let n = 0; n < 100_000; n++) if (index.mightHold(`user${n}@example.test`)) passed++;
    // 100k entries in 2²¹ bits (21 per entry): ~1.3% with a uniform hash; a hash that clusters lets far more through.
    expect(passed / 100_000).toBeLessThan(0.02);
    for (let n = 0; n < 100_000; n += 997) expect(index.mightHold(`gone${n}@example.test`)).toBe(true);
  });
});
