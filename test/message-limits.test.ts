/** Size limits of an email: refused with MESSAGE_INVALID and paths before any provider is called. */
import { Dispatcher, EMAIL_LIMITS, isMessagePipeError } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { email, PROJECT, sampleConfigs } from './helpers';

async function setUp() {
  const adapter = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
  const pipe = new Dispatcher({ adapters: [adapter], retry: false });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'sendgrid',
    name: 'a',
    config: sampleConfigs.sendgrid,
  });
  return { pipe, adapter };
}

const many = (count: number, entry: (index: number) => [string, string]) =>
  Object.fromEntries(Array.from({ length: count }, (_, index) => entry(index)));

describe('email size limits', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['10,000 headers', { headers: many(10_000, (i) => [`X-H${i}`, 'v']) }, 'headers'],
    ['a 2,000-character header name', { headers: { [`X-${'a'.repeat(1998)}`]: 'v' } }, 'headers.X-'],
    ['a header line over 998 characters', { headers: { 'X-Long': 'v'.repeat(995) } }, 'headers.X-Long'],
    ['100,000 metadata entries', { metadata: many(100_000, (i) => [`k${i}`, 'v']) }, 'metadata'],
    ['too much metadata text', { metadata: many(20, (i) => [`k${i}`, 'v'.repeat(900)]) }, 'metadata'],
    ['10 MB of text and more', { text: 't'.repeat(EMAIL_LIMITS.bodyLength + 1) }, 'text'],
    [
      'a 50 MB attachment',
      { attachments: [{ filename: 'a.bin', content: new Uint8Array(50_000_000) }] },
      'attachments.0.content',
    ],
    [
      'more recipients than any provider takes',
      {
        to: Array.from({ length: 600 }, (_, i) => `a${i}@b.test`),
        cc: Array.from({ length: 600 }, (_, i) => `c${i}@b.test`),
      },
      'to',
    ],
  ];
  for (const [what, fields, path] of cases) {
    it(`refuses ${what} with MESSAGE_INVALID at ${path || '(root)'}, before any provider is called`, async () => {
      const { pipe, adapter } = await setUp();
      const error = await pipe.send({ ...email, ...fields } as never).catch((thrown: unknown) => thrown);
      expect(isMessagePipeError(error) && error.code).toBe('MESSAGE_INVALID');
      const paths = (isMessagePipeError(error) ? (error.issues ?? []) : []).map((issue) =>
        issue.path.join('.'),
      );
      expect(paths.some((found) => found.startsWith(path))).toBe(true);
      expect(adapter.calls).toHaveLength(0);
    });
  }

  it('accepts a message right at the limits', async () => {
    const { pipe } = await setUp();
    await expect(
      pipe.send({
        ...email,
        headers: { 'X-Long': 'v'.repeat(998 - 'X-Long: '.length) },
        metadata: many(EMAIL_LIMITS.metadataEntries, (i) => [`k${i}`, 'v']),
      }),
    ).resolves.toMatchObject({ provider: 'sendgrid' });
  });
});
