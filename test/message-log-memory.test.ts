import fc from 'fast-check';
import { InMemoryMessageLog, type SentMessageRecord } from 'messagepipe';
import { describe, expect, it } from 'vitest';
import { correlationIdOf, normaliseRecipient } from '../src/delivery/normalise';

function sent(index: number, overrides: Partial<SentMessageRecord> = {}): SentMessageRecord {
  return {
    projectId: 'p',
    channel: 'email',
    providerConfigId: 'cfg',
    provider: 'sendgrid',
    messageId: `m${index}`,
    correlationId: `m${index}`,
    idempotencyKey: `k${index}`,
    recipients: ['ann@example.test'],
    sentAt: new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString(),
    ...overrides,
  };
}

describe('the memory message log is bounded by maxMessages', () => {
  it('forgets the oldest sends from every index, and keeps the newest', async () => {
    const log = new InMemoryMessageLog({ maxMessages: 3 });
    for (let index = 1; index <= 5; index++) await log.recordSend(sent(index));
    for (const gone of [1, 2]) {
      expect(await log.findSend('p', { correlationId: `m${gone}` })).toBeUndefined();
      expect(await log.findSend('p', { idempotencyKey: `k${gone}` })).toBeUndefined();
    }
    for (const kept of [3, 4, 5]) {
      expect((await log.findSend('p', { correlationId: `m${kept}` }))?.idempotencyKey).toBe(`k${kept}`);
      expect((await log.findSend('p', { idempotencyKey: `k${kept}` }))?.messageId).toBe(`m${kept}`);
    }
  });

  it('keeps one send per provider and message id, and both when two providers report one id', async () => {
    const log = new InMemoryMessageLog({ maxMessages: 10 });
    await log.recordSend(sent(1));
    await log.recordSend(sent(1, { idempotencyKey: 'other' }));
    await log.recordSend(sent(1, { provider: 'mailgun', idempotencyKey: 'k-mailgun' }));
    expect((await log.findSend('p', { correlationId: 'm1', provider: 'sendgrid' }))?.idempotencyKey).toBe(
      'k1',
    );
    expect((await log.findSend('p', { correlationId: 'm1', provider: 'mailgun' }))?.idempotencyKey).toBe(
      'k-mailgun',
    );
    expect(await log.findSend('p', { idempotencyKey: 'other' })).toBeUndefined();
  });

  it('answers an idempotency key sent twice (a failover resend) with the latest send, until it is evicted', async () => {
    const log = new InMemoryMessageLog({ maxMessages: 2 });
    await log.recordSend(sent(1, { idempotencyKey: 'order-1' }));
    await log.recordSend(sent(2, { idempotencyKey: 'order-1', provider: 'mailgun' }));
    expect((await log.findSend('p', { idempotencyKey: 'order-1' }))?.messageId).toBe('m2');
    await log.recordSend(sent(3));
    expect((await log.findSend('p', { idempotencyKey: 'order-1' }))?.messageId).toBe('m2');
    await log.recordSend(sent(4));
    expect(await log.findSend('p', { idempotencyKey: 'order-1' })).toBeUndefined();
  });

  it('keeps projects apart', async () => {
    const log = new InMemoryMessageLog();
    await log.recordSend(sent(1));
    expect(await log.findSend('q', { correlationId: 'm1' })).toBeUndefined();
    expect(await log.findSend('q', { idempotencyKey: 'k1' })).toBeUndefined();
  });
});

describe('recipient and message-id normalisation', () => {
  const bracketed = /^<(.*)>$/;
  const text = fc.oneof(
    fc.string(),
    fc.string().map((inner) => `<${inner}>`),
    fc
      .tuple(fc.string(), fc.constantFrom('\n', '\r', '\u2028', '\u2029', ' ', '\t'), fc.string())
      .map(([a, separator, b]) => `<${a}${separator}${b}>`),
    fc.constantFrom('<>', '<', '>', ' <Ann@Example.TEST> ', '<a\nb>'),
  );

  it('strips <> exactly as the regular expression did', () => {
    fc.assert(
      fc.property(text, (value) => {
        expect(correlationIdOf(value)).toBe(value.trim().replace(bracketed, '$1'));
        expect(normaliseRecipient('email', value)).toBe(value.trim().replace(bracketed, '$1').toLowerCase());
      }),
      { numRuns: 2000 },
    );
  });
});
