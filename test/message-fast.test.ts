/**
 * The compiled fast path of message validation against the Zod schemas it stands in front of: on generated valid
 * and invalid messages (line breaks, bad addresses, every size limit and its neighbour, unknown keys, wrong types,
 * reserved headers, odd objects), whatever the fast path accepts the schema accepts with the same normalised
 * result, and within the shapes it knows (no attachments) it accepts everything the schema accepts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  draftEmail,
  EMAIL_LIMITS as E,
  emailMessageSchema,
  MESSAGE_LIMITS as L,
  normaliseSms,
  smsMessageSchema,
} from '../src/schemas/message';
import { fastEmail, fastSms } from '../src/schemas/message-fast';

const RUNS = 3000;

/** A string of exactly `length` characters from a small alphabet. */
const sized = (length: number, char = 'a') => char.repeat(length);

/** Strings of one length around a limit: `limit - 1`, `limit`, `limit + 1`. */
const around = (limit: number, char = 'a') =>
  fc.constantFrom(sized(Math.max(0, limit - 1), char), sized(limit, char), sized(limit + 1, char));

const lineBreak = fc.constantFrom('\r', '\n', '\r\n', '\0');
const withLineBreak = (base: fc.Arbitrary<string>) =>
  fc.tuple(base, lineBreak, base).map(([a, b, c]) => `${a}${b}${c}`);

const plainText = fc.string({ maxLength: 12 });

const validEmail = fc.oneof(
  fc.constantFrom('ann@example.test', 'bob.smith+tag@mail.example.co', 'x_y@a-b.example.org', "o'neil@ex.io"),
  fc.emailAddress(),
);
const invalidEmail = fc.oneof(
  fc.constantFrom(
    '',
    'ann',
    'ann@',
    '@example.test',
    'ann@example',
    'ann@@example.test',
    'ann @example.test',
  ),
  fc.constantFrom(' ann@example.test', 'ann@example.test ', 'ann@exa mple.test', 'a..b@example.test'),
  fc.constant(`${sized(315)}@a.co`),
  fc.constant(`${sized(310)}@example.test`),
  fc.constant(`${sized(64)}@${sized(251)}.com`),
  withLineBreak(fc.constant('ann@example.test')),
  lineBreak.map((lineBreak) => `ann@example.test${lineBreak}`),
  plainText,
);
const displayName = fc.oneof(
  plainText,
  fc.constantFrom('', 'Ann', 'Ann "the" Smith', 'Zoë', '  Ann  '),
  around(L.displayName),
  withLineBreak(plainText),
);
const addressString = fc.oneof(
  validEmail,
  invalidEmail,
  fc.tuple(displayName, validEmail).map(([name, email]) => `${name} <${email}>`),
  fc.tuple(displayName, validEmail).map(([name, email]) => `"${name}" <${email}>`),
  fc.tuple(displayName, invalidEmail).map(([name, email]) => `${name} <${email}>`),
  fc.constantFrom('Ann <>', '<ann@example.test>', 'Ann <ann@example.test', 'Ann ann@example.test>'),
);

class AddressLike {
  constructor(readonly email: string) {}
}

const addressObject = fc.oneof(
  fc.record({ email: fc.oneof(validEmail, invalidEmail) }),
  fc.record({ email: validEmail, name: displayName }),
  fc.record({ email: validEmail, name: fc.constant(undefined) }),
  fc.record({ email: validEmail, name: fc.constantFrom(42, null, ['Ann']) }),
  fc.record({ email: validEmail, extra: plainText }),
  fc.record({ email: fc.constantFrom(undefined, 42, null, ['ann@example.test']) }),
  fc.record({ name: displayName }),
  validEmail.map((email) => new AddressLike(email)),
  validEmail.map((email) => Object.assign(Object.create({ inherited: 'x' }), { email })),
);
const address = fc.oneof(
  { weight: 4, arbitrary: addressString },
  { weight: 2, arbitrary: addressObject },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, 42, true, {}, []) },
);
const addressList = fc.oneof(
  { weight: 3, arbitrary: address },
  { weight: 3, arbitrary: fc.array(address, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(validEmail, { minLength: 0, maxLength: 2 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(L.recipients, L.recipients + 1).map((n) => Array(n).fill('ann@example.test')),
  },
  // A hole reads as undefined, which is not an address.
  {
    weight: 1,
    arbitrary: fc.constant(Object.assign(Array(3), { 0: 'ann@example.test', 2: 'b@example.test' })),
  },
);

const subject = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: around(L.subject) },
  { weight: 2, arbitrary: withLineBreak(plainText) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 42, null, ['Hi']) },
);
const body = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: withLineBreak(plainText) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 42, null, {}) },
);

const headerName = fc.oneof(
  fc.constantFrom('X-Campaign', 'X-Priority', 'List-Unsubscribe', 'x-a', '123', 'X!#$%&*+.^_`|~'),
  fc.constantFrom('From', 'to', 'CC', 'Bcc', 'Subject', 'reply-to', 'Sender', 'Return-Path'),
  fc.constantFrom('Content-Type', 'content-transfer-encoding', 'MIME-Version'),
  fc.constantFrom('', 'X Bad', 'X:Bad', 'Ünicode', 'X-Bad\r\nBcc', 'X(y)', 'X,y'),
  fc.string({ minLength: 1, maxLength: 8 }),
);
const headerValue = fc.oneof(
  { weight: 4, arbitrary: plainText },
  { weight: 1, arbitrary: around(L.headerValue) },
  { weight: 1, arbitrary: withLineBreak(plainText) },
  { weight: 1, arbitrary: fc.constantFrom(42, null, undefined, ['a']) },
);
const metadataKey = fc.oneof(
  fc.string({ minLength: 0, maxLength: 8 }),
  around(L.metadataKey),
  withLineBreak(plainText),
);
const metadataValue = fc.oneof(
  { weight: 4, arbitrary: plainText },
  { weight: 1, arbitrary: around(L.metadataValue) },
  { weight: 1, arbitrary: withLineBreak(plainText) },
  { weight: 1, arbitrary: fc.constantFrom(42, null, undefined) },
);

/** A record built from entries, optionally with an unusual prototype or a symbol key. */
function recordOf(key: fc.Arbitrary<string>, value: fc.Arbitrary<unknown>) {
  return fc
    .tuple(
      fc.array(fc.tuple(key, value), { maxLength: 3 }),
      fc.constantFrom('plain', 'plain', 'plain', 'null-prototype', 'class', 'symbol', 'array', 'map'),
    )
    .map(([entries, kind]) => {
      if (kind === 'array') return entries.map(([, entry]) => entry);
      if (kind === 'map') return new Map(entries);
      const record: Record<string | symbol, unknown> =
        kind === 'null-prototype' ? Object.create(null) : kind === 'class' ? new (class Bag {})() : {};
      for (const [name, entry] of entries) record[name] = entry;
      if (kind === 'symbol') record[Symbol('s')] = 'x';
      return record;
    });
}

const tags = fc.oneof(
  { weight: 3, arbitrary: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.array(fc.string({ minLength: 0, maxLength: 3 }), { maxLength: 3 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(L.tags, L.tags + 1).map((n) => Array.from({ length: n }, (_, i) => `t${i}`)),
  },
  { weight: 1, arbitrary: around(L.tag).map((tag) => [tag]) },
  { weight: 1, arbitrary: withLineBreak(plainText).map((tag) => ['ok', tag]) },
  { weight: 1, arbitrary: fc.constantFrom('welcome', [42], null, {}) },
);

const attachments = fc.constantFrom(
  [{ filename: 'a.txt', content: 'hello' }],
  [{ filename: 'a.txt', content: new Uint8Array([1, 2]), contentType: 'text/plain' }],
  [{ filename: '', content: 'x' }],
  [],
);

/** Email fields: every key optional, each value valid or not, sometimes a key the schema does not know. */
const emailFields = fc
  .tuple(
    fc.record(
      {
        to: addressList,
        cc: addressList,
        bcc: addressList,
        replyTo: addressList,
        from: address,
        subject,
        text: body,
        html: body,
        headers: recordOf(headerName, headerValue),
        tags,
        metadata: recordOf(metadataKey, metadataValue),
      },
      { requiredKeys: [] },
    ),
    fc.option(fc.constantFrom('attachments', 'unknown', 'Subject', 'channel2', 'toString'), { freq: 4 }),
    attachments,
  )
  .map(([fields, extra, files]) => {
    if (extra === 'attachments') return { ...fields, attachments: files };
    if (extra) return { ...fields, [extra]: 'x' };
    return fields;
  });

/** The same, biased towards messages the schema accepts, so both outcomes are common. */
const commonEmail = fc.constantFrom('ann@example.test', 'bob.smith+tag@mail.example.co', "o'neil@ex.io");
const likelyValidEmail = fc
  .record(
    {
      to: fc.oneof(commonEmail, fc.array(commonEmail, { minLength: 1, maxLength: 3 })),
      cc: fc.array(fc.record({ email: commonEmail, name: plainText }), { minLength: 1, maxLength: 2 }),
      from: fc.tuple(fc.constantFrom('Acme', ''), commonEmail).map(([name, email]) => `${name} <${email}>`),
      subject: fc.string({ minLength: 1, maxLength: 20 }),
      text: fc.string(),
      html: fc.string(),
      headers: fc.dictionary(fc.constantFrom('X-A', 'X-B', 'List-Id'), plainText),
      tags: fc.array(fc.string({ minLength: 1, maxLength: 5 }), { maxLength: 3 }),
      metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), plainText),
    },
    { requiredKeys: ['to', 'subject'] },
  )
  .chain((fields) => fc.option(fc.constant(1)).map((flip) => (flip ? fields : { ...fields, text: 'x' })));

const manyHeaders = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, 'v']));
const manyEntries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
/** The message-wide limits ({@link E}) and their neighbours. */
const sizedHeaders = fc.constantFrom(
  manyHeaders(E.headers),
  manyHeaders(E.headers + 1),
  { [`X-${sized(E.headerNameLength - 2)}`]: 'v' },
  { [`X-${sized(E.headerNameLength - 1)}`]: 'v' },
  { 'X-A': sized(E.headerLineLength - 5) },
  { 'X-A': sized(E.headerLineLength - 4) },
);
const sizedMetadata = fc.constantFrom(
  manyEntries(E.metadataEntries),
  manyEntries(E.metadataEntries + 1),
  Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, sized(E.metadataSize / 10 - 2)])),
  Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, sized(E.metadataSize / 10 - 1)])),
);
let hugeBody: string | undefined;
const sizedBody = fc.constantFrom('', 'x', 'huge').map((kind) => {
  if (kind !== 'huge') return kind;
  hugeBody ??= sized(E.bodyLength + 1);
  return hugeBody;
});

/** Wide value generators per field, valid and invalid. */
const emailFieldValues = {
  sizedHeaders,
  sizedMetadata,
  sizedText: sizedBody,
  sizedHtml: sizedBody,
  manyRecipients: fc.constantFrom(400, 500).map((n) => Array(n).fill('ann@example.test')),
  to: addressList,
  cc: addressList,
  bcc: addressList,
  replyTo: addressList,
  from: address,
  subject,
  text: body,
  html: body,
  headers: recordOf(headerName, headerValue),
  tags,
  metadata: recordOf(metadataKey, metadataValue),
  attachments,
  unknown: plainText,
};

/** A mostly valid message with one field replaced (or added) by any value: refusals one at a time. */
const oneFieldChanged = fc
  .tuple(
    likelyValidEmail,
    fc.constantFrom(...(Object.keys(emailFieldValues) as (keyof typeof emailFieldValues)[])),
  )
  .chain(([fields, key]) =>
    (emailFieldValues[key] as fc.Arbitrary<unknown>).map((value) => {
      const field = SIZED_FIELDS[key as string];
      // to, cc and bcc together: several lists of many recipients.
      if (key === 'manyRecipients')
        return { ...fields, text: 'x', to: value, cc: value, bcc: ['b@example.test'] };
      if (field === 'html') return { ...fields, text: '', html: value };
      return { ...fields, text: 'x', [field ?? key]: value };
    }),
  );

const SIZED_FIELDS: Record<string, string> = {
  sizedHeaders: 'headers',
  sizedMetadata: 'metadata',
  sizedText: 'text',
  sizedHtml: 'html',
};

function checkEmail(fields: Record<string, unknown>): 'fast' | 'schema-accepted' | 'refused' {
  const input = { projectId: 'p', channel: 'email', ...fields };
  const fast = fastEmail(input);
  const zod = emailMessageSchema.safeParse(fields);
  if (fast === undefined) {
    // Outside its shapes the fast path may leave a valid message to the schema; inside, it must not.
    if (!('attachments' in fields)) expect(zod.success, 'the fast path refused a valid message').toBe(false);
    return zod.success ? 'schema-accepted' : 'refused';
  }
  expect(zod.success, 'the fast path accepted a message the schema refuses').toBe(true);
  if (!zod.success) return 'refused';
  expect(fast).toStrictEqual(draftEmail(zod.data));
  expect(Object.isFrozen(fast.to) && fast.to.every((entry) => Object.isFrozen(entry))).toBe(true);
  expect(Object.isFrozen(fast.headers) && Object.isFrozen(fast.metadata) && Object.isFrozen(fast.tags)).toBe(
    true,
  );
  return 'fast';
}

describe('compiled message validation', () => {
  it('accepts exactly what the email schema accepts, with the same normalised message', () => {
    const seen = { fast: 0, 'schema-accepted': 0, refused: 0 };
    fc.assert(
      fc.property(fc.oneof(emailFields, likelyValidEmail, oneFieldChanged), (fields) => {
        seen[checkEmail(fields as Record<string, unknown>)]++;
      }),
      { numRuns: RUNS },
    );
    // Both sides of the comparison were exercised, or the property proves nothing.
    expect(seen.fast).toBeGreaterThan(RUNS / 10);
    expect(seen.refused).toBeGreaterThan(RUNS / 10);
  });

  it.each([
    ['CR/LF in the subject', { subject: 'Hi\r\nBcc: x@example.test' }],
    ['a bare LF in a recipient', { to: 'ann@example.test\nBcc: x@example.test' }],
    ['a CR/LF after a recipient, which trimming would hide', { to: 'ann@example.test\r\n' }],
    ['a LF before a recipient', { to: '\nann@example.test' }],
    ['a LF before a named recipient', { to: '\nAnn <ann@example.test>' }],
    ['NUL in a display name', { to: { email: 'ann@example.test', name: 'Ann\0' } }],
    ['a bad address', { to: 'ann@example' }],
    ['an address one character too long', { to: `${sized(L.address - 7)}@a.co.uk` }],
    ['a subject one character too long', { subject: sized(L.subject + 1) }],
    ['an empty subject', { subject: '' }],
    ['no text and no html', { text: undefined }],
    ['an empty text and no html', { text: '' }],
    ['an empty text and an empty html', { text: '', html: '' }],
    ['101 headers', { headers: manyHeaders(E.headers + 1) }],
    ['a header line over 998 characters', { headers: { 'X-A': sized(E.headerLineLength - 4) } }],
    ['51 metadata entries', { metadata: manyEntries(E.metadataEntries + 1) }],
    ['a __proto__ metadata key', { metadata: JSON.parse('{"__proto__": "x"}') }],
    ['1001 recipients in to, cc and bcc', { to: Array(600).fill('a@b.co'), cc: Array(401).fill('c@d.co') }],
    ['an unknown key', { priority: 'high' }],
    ['an unknown key on an address', { to: { email: 'ann@example.test', phone: '1' } }],
    ['a reserved header', { headers: { 'Reply-To': 'x@example.test' } }],
    ['an invalid header name', { headers: { 'X Bad': 'x' } }],
    ['a header value one character too long', { headers: { 'X-A': sized(L.headerValue + 1) } }],
    ['eleven tags', { tags: Array.from({ length: L.tags + 1 }, (_, i) => `t${i}`) }],
    ['an empty tag', { tags: [''] }],
    ['an empty metadata key', { metadata: { '': 'x' } }],
    ['a metadata value one character too long', { metadata: { k: sized(L.metadataValue + 1) } }],
    ['no recipients', { to: [] }],
    ['too many recipients', { to: Array(L.recipients + 1).fill('ann@example.test') }],
    ['a symbol-keyed header record', { headers: { [Symbol('s')]: 'x' } }],
  ])('leaves %s to the schema, which refuses it', (_, change) => {
    const fields = { to: 'ann@example.test', subject: 'Hi', text: 'Hello', ...change };
    expect(fastEmail(fields)).toBeUndefined();
    expect(emailMessageSchema.safeParse(fields).success).toBe(false);
  });

  it('takes the common shapes itself', () => {
    const message = fastEmail({
      projectId: 'p',
      channel: 'email',
      to: ['Ann <ann@example.test>', { email: 'bob@example.test', name: 'Bob' }],
      from: 'noreply@acme.test',
      subject: 'Hi',
      text: 'Hello',
      headers: { 'X-Campaign': 'spring' },
      tags: ['welcome'],
      metadata: { orderId: '42' },
    });
    expect(message).toMatchObject({
      from: { email: 'noreply@acme.test' },
      to: [
        { email: 'ann@example.test', name: 'Ann' },
        { email: 'bob@example.test', name: 'Bob' },
      ],
      cc: [],
      headers: { 'X-Campaign': 'spring' },
    });
  });

  const e164 = fc.oneof(
    fc.constantFrom('+14155550100', '+2348012345678', '+4420', '+1234567', '+123456789012345'),
    fc.constantFrom('+1234567890123456', '+0123456789', '14155550100', '+1 415 555 0100', '', '+'),
    fc.stringMatching(/^\+[0-9]{5,17}$/),
  );
  const smsFields = fc
    .tuple(
      fc.record(
        {
          to: fc.oneof(e164, fc.constantFrom(undefined, 42, null)),
          body: fc.oneof(
            fc.string({ maxLength: 20 }),
            around(L.smsBody),
            fc.constant(''),
            fc.constantFrom(undefined, 42),
          ),
          from: fc.oneof(
            e164,
            fc.constantFrom('Acme', 'ACME 2', 'A1', '12345', 'TooLongSender', 'Acme!', '', ' ', 'Ünï'),
            fc.stringMatching(/^[A-Za-z0-9 ]{0,13}$/),
            fc.constantFrom(undefined, 42),
          ),
        },
        { requiredKeys: [] },
      ),
      fc.option(fc.constantFrom('senderId', 'subject', 'text'), { freq: 4 }),
    )
    .map(([fields, extra]) => (extra ? { ...fields, [extra]: 'x' } : fields));

  const likelyValidSms = fc.record(
    {
      to: fc.constantFrom('+14155550100', '+2348012345678'),
      body: fc.string({ minLength: 1, maxLength: 20 }),
      from: fc.constantFrom('Acme', '+14155550100', undefined),
    },
    { requiredKeys: ['to', 'body'] },
  );

  it('accepts exactly what the SMS schema accepts, with the same normalised message', () => {
    const seen = { fast: 0, refused: 0 };
    fc.assert(
      fc.property(fc.oneof(smsFields, likelyValidSms), (fields) => {
        const fast = fastSms({ projectId: 'p', channel: 'sms', ...fields });
        const zod = smsMessageSchema.safeParse(fields);
        expect(fast !== undefined, JSON.stringify(fields)).toBe(zod.success);
        if (fast && zod.success) {
          const sender = { senderId: 'Acme', from: '+14155550100' };
          expect(normaliseSms(fast, sender)).toStrictEqual(normaliseSms(zod.data, sender));
          seen.fast++;
        } else seen.refused++;
      }),
      { numRuns: RUNS },
    );
    expect(seen.fast).toBeGreaterThan(RUNS / 10);
    expect(seen.refused).toBeGreaterThan(RUNS / 10);
  });
});
