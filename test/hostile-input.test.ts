/**
 * Input an attacker or an unlucky caller may send: malformed endpoint URLs, `__proto__` keys, text a database
 * cannot keep. Each is refused with a typed error and a field path, before any provider or store write.
 */
import { Dispatcher, isMessagePipeError } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { channelOf, email, PROJECT, sampleConfigs } from './helpers';

type Provider = keyof typeof sampleConfigs;
const HTTP_PROVIDERS = ['sendgrid', 'mailgun', 'postmark', 'ses', 'twilio', 'termii', 'sns'] as const;

function setUp() {
  const mocks = Object.fromEntries(
    (Object.keys(sampleConfigs) as Provider[]).map((provider) => [
      provider,
      createMockAdapter({ provider, channel: channelOf[provider] }),
    ]),
  ) as Record<Provider, ReturnType<typeof createMockAdapter>>;
  const pipe = new Dispatcher({ adapters: Object.values(mocks), retry: false });
  const add = (provider: Provider, config: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    pipe.providers.add({
      projectId: PROJECT,
      channel: channelOf[provider],
      provider,
      name: provider,
      config,
      ...extra,
    });
  return { pipe, mocks, add };
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; paths: string[] }> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!isMessagePipeError(error)) throw new Error(`Expected a MessagePipeError, got ${String(error)}`);
  // Distinct paths: one field may break two rules (NUL is both a line break and not well-formed).
  return { code: error.code, paths: [...new Set((error.issues ?? []).map((issue) => issue.path.join('.')))] };
}

const MALFORMED_ENDPOINTS = [
  'http://[::1',
  'http://api.example.test:99999',
  'http://api%zz.example.test',
  'https://api.example.test/%zz',
  'http://api example.test',
  'http://api.example.test\u0000',
  'https://api.example.test\r\n',
  'https://api.example.test\nX-Evil: 1',
  ' https://api.example.test',
  'https://api.example.test?',
  'ftp://api.example.test',
];

describe('malformed endpoint URLs', () => {
  for (const provider of HTTP_PROVIDERS) {
    it(`are CONFIG_INVALID at config.endpoint for ${provider}, from add and from update`, async () => {
      const { add, pipe } = setUp();
      for (const endpoint of MALFORMED_ENDPOINTS) {
        expect(await refusal(add(provider, { ...sampleConfigs[provider], endpoint }))).toEqual({
          code: 'CONFIG_INVALID',
          paths: ['config.endpoint'],
        });
      }
      const record = await add(provider, {
        ...sampleConfigs[provider],
        endpoint: 'https://api.example.test',
      });
      for (const endpoint of MALFORMED_ENDPOINTS) {
        const update = pipe.providers.update(
          { projectId: PROJECT, id: record.id },
          { config: { ...sampleConfigs[provider], endpoint } },
        );
        expect(await refusal(update)).toEqual({ code: 'CONFIG_INVALID', paths: ['config.endpoint'] });
      }
      expect((await pipe.providers.get({ projectId: PROJECT, id: record.id })).config).toMatchObject({
        endpoint: 'https://api.example.test',
      });
    });
  }

  it('still accepts origins with a port, IPv6 and a trailing slash', async () => {
    const { add } = setUp();
    for (const endpoint of ['http://127.0.0.1:8080', 'https://[::1]:8443', 'https://api.example.test/']) {
      await expect(add('sendgrid', { ...sampleConfigs.sendgrid, endpoint })).resolves.toBeDefined();
    }
  });
});

describe('__proto__ keys', () => {
  /** `entries` plus an own `__proto__` key, as `JSON.parse` makes one. */
  const withProto = <T extends object>(entries: T): T =>
    JSON.parse(
      JSON.stringify({ ...entries, 'proto-key': { polluted: 'yes' } }).replace('"proto-key"', '"__proto__"'),
    );

  it('in headers and metadata are refused with MESSAGE_INVALID and the path, before any provider is called', async () => {
    const { pipe, add, mocks } = setUp();
    await add('sendgrid', sampleConfigs.sendgrid);
    for (const field of ['headers', 'metadata'] as const) {
      const input = { ...email, from: 'noreply@acme.test', [field]: withProto({ 'X-Ok': 'fine' }) };
      expect(await refusal(pipe.send(input))).toEqual({
        code: 'MESSAGE_INVALID',
        paths: [`${field}.__proto__`],
      });
    }
    expect(mocks.sendgrid.calls).toHaveLength(0);
    // `constructor` and `prototype` are ordinary keys: kept, not dropped.
    await pipe.send({ ...email, from: 'noreply@acme.test', metadata: { constructor: 'c', prototype: 'p' } });
    expect(mocks.sendgrid.calls[0]?.message).toMatchObject({
      metadata: { constructor: 'c', prototype: 'p' },
    });
  });

  it('in a provider config are refused with CONFIG_INVALID and the path, at any depth, from add and update', async () => {
    const { pipe, add } = setUp();
    expect(await refusal(add('sendgrid', withProto(sampleConfigs.sendgrid)))).toEqual({
      code: 'CONFIG_INVALID',
      paths: ['config.__proto__'],
    });
    const nested = { ...sampleConfigs.smtp, auth: withProto(sampleConfigs.smtp.auth) };
    expect(await refusal(add('smtp', nested))).toEqual({
      code: 'CONFIG_INVALID',
      paths: ['config.auth.__proto__'],
    });
    const record = await add('smtp', sampleConfigs.smtp);
    const update = pipe.providers.update({ projectId: PROJECT, id: record.id }, { config: nested });
    expect(await refusal(update)).toEqual({ code: 'CONFIG_INVALID', paths: ['config.auth.__proto__'] });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('identifiers and names that are not well-formed text', () => {
  const bad = ['\ud800', '\udbff', 'tenant-\udc00', 'a\u0000b'];

  it('are refused for projectId, id and name by every providers and senders call, and by send', async () => {
    const { pipe, add, mocks } = setUp();
    for (const projectId of bad) {
      const input = {
        projectId,
        channel: 'email',
        provider: 'sendgrid',
        name: 'x',
        config: sampleConfigs.sendgrid,
      } as const;
      expect(await refusal(pipe.providers.add(input))).toEqual({
        code: 'CONFIG_INVALID',
        paths: ['projectId'],
      });
      expect(await refusal(pipe.providers.list({ projectId }))).toEqual({
        code: 'CONFIG_INVALID',
        paths: ['projectId'],
      });
      expect(await refusal(pipe.senders.get({ projectId, channel: 'email' }))).toEqual({
        code: 'SENDER_INVALID',
        paths: ['projectId'],
      });
      expect(await refusal(pipe.send({ ...email, projectId }))).toEqual({
        code: 'MESSAGE_INVALID',
        paths: ['projectId'],
      });
    }
    const record = await add('sendgrid', sampleConfigs.sendgrid);
    for (const text of bad) {
      expect(await refusal(add('sendgrid', sampleConfigs.sendgrid, { name: text }))).toEqual({
        code: 'CONFIG_INVALID',
        paths: ['name'],
      });
      const ref = { projectId: PROJECT, id: record.id };
      expect(await refusal(pipe.providers.update(ref, { name: `n${text}` }))).toEqual({
        code: 'CONFIG_INVALID',
        paths: ['name'],
      });
      expect(await refusal(pipe.providers.get({ projectId: PROJECT, id: `${record.id}${text}` }))).toEqual({
        code: 'CONFIG_INVALID',
        paths: ['id'],
      });
      expect(
        await refusal(
          pipe.senders.set({
            projectId: PROJECT,
            channel: 'email',
            senderEmail: 'a@acme.test',
            senderName: text,
          }),
        ),
      ).toEqual({ code: 'SENDER_INVALID', paths: ['senderName'] });
    }
    expect(mocks.sendgrid.calls).toHaveLength(0);
    // Proper surrogate pairs are well-formed text.
    await expect(add('sendgrid', sampleConfigs.sendgrid, { name: 'Mail 😀' })).resolves.toMatchObject({
      name: 'Mail 😀',
    });
  });
});
