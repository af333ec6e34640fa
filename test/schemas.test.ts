import { builtInProviders, Dispatcher, type MessagePipeError, secret } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { markedPathsOf, secretPathsOf } from '../src/schemas/json-schema';
import { channelOf, PROJECT, sampleConfigs } from './helpers';

const expectedSecrets: Record<keyof typeof sampleConfigs, string[]> = {
  sendgrid: ['apiKey'],
  mailgun: ['apiKey'],
  postmark: ['serverToken', 'accountToken'],
  ses: ['secretAccessKey', 'sessionToken'],
  smtp: ['auth.pass'],
  twilio: ['authToken', 'apiKeySecret'],
  termii: ['apiKey'],
  sns: ['secretAccessKey', 'sessionToken'],
};

function dispatcher(): Dispatcher {
  return new Dispatcher({
    adapters: Object.entries(channelOf).map(([provider, channel]) =>
      createMockAdapter({ provider, channel }),
    ),
  });
}

async function rejection(promise: Promise<unknown>): Promise<MessagePipeError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeDefined();
  return error as MessagePipeError;
}

describe('provider config schemas', () => {
  it.each(Object.entries(sampleConfigs))('accepts a realistic %s config', (provider, config) => {
    const schema = builtInProviders[provider as keyof typeof builtInProviders].configSchema;
    expect(schema.safeParse(config).success).toBe(true);
  });

  it.each(Object.entries(expectedSecrets))(
    'derives the secret fields of %s from the schema',
    (provider, paths) => {
      const schema = builtInProviders[provider as keyof typeof builtInProviders].configSchema;
      expect([...secretPathsOf(schema)].sort()).toEqual([...paths].sort());
    },
  );

  it('publishes JSON Schema per channel with secrets marked writeOnly', () => {
    const pipe = dispatcher();
    expect(Object.keys(pipe.schemas('email'))).toEqual(['sendgrid', 'mailgun', 'postmark', 'ses', 'smtp']);
    expect(Object.keys(pipe.schemas('sms'))).toEqual(['twilio', 'termii', 'sns']);
    const smtp = pipe.schema('email', 'smtp') as {
      properties: Record<string, { properties?: Record<string, { writeOnly?: boolean }> }>;
      required: string[];
    };
    expect(smtp.properties.auth?.properties?.pass?.writeOnly).toBe(true);
    expect(smtp.properties.auth?.properties?.user?.writeOnly).toBeUndefined();
    expect(smtp.required).toEqual(expect.arrayContaining(['host', 'port', 'secure']));
    const twilio = pipe.schema('sms', 'twilio') as { properties: Record<string, { writeOnly?: boolean }> };
    expect(twilio.properties.authToken?.writeOnly).toBe(true);
    expect(twilio.properties.accountSid?.writeOnly).toBeUndefined();
  });

  it('hands out copies of the JSON Schema', () => {
    const pipe = dispatcher();
    const first = pipe.schema('email', 'sendgrid');
    first.properties = {};
    expect(Object.keys(pipe.schema('email', 'sendgrid').properties as object)).toContain('apiKey');
  });

  it('answers NOT_FOUND for a provider of another channel', () => {
    expect(() => dispatcher().schema('sms', 'sendgrid')).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });

  it('refuses an invalid config with CONFIG_INVALID and the field paths, storing nothing', async () => {
    const pipe = dispatcher();
    const error = await rejection(
      pipe.providers.add({
        projectId: PROJECT,
        channel: 'email',
        provider: 'smtp',
        name: 'Broken SMTP',
        config: { host: 'smtp.acme.test', port: 70000, secure: 'yes', auth: { user: 'u' }, extra: 1 },
      }),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    const paths = error.issues?.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['config.port', 'config.secure', 'config.auth.pass', 'config']),
    );
    expect(await pipe.providers.list({ projectId: PROJECT })).toEqual([]);
  });

  it.each([
    ['twilio', { accountSid: `AC${'a'.repeat(32)}`, authToken: 'token' }, 'config.from'],
    ['twilio', { accountSid: 'not-a-sid', authToken: 'token', from: '+14155550100' }, 'config.accountSid'],
    ['mailgun', { apiKey: 'key', domain: 'not a domain' }, 'config.domain'],
    ['sendgrid', { apiKey: 'key', endpoint: 'http://127.0.0.1:3000/v3' }, 'config.endpoint'],
    ['sendgrid', { apiKey: 'key', endpoint: 'ftp://127.0.0.1' }, 'config.endpoint'],
    ['ses', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 's', region: 'Europe' }, 'config.region'],
    ['sns', { ...sampleConfigs.sns, smsType: 'Urgent' }, 'config.smsType'],
    ['termii', { apiKey: 'key', senderId: 'A' }, 'config.senderId'],
    ['postmark', { serverToken: '' }, 'config.serverToken'],
    ['smtp', { host: 'smtp.acme.test\r\nX: y', port: 25, secure: false }, 'config.host'],
  ])('refuses a bad %s config at %s', async (provider, config, path) => {
    const pipe = dispatcher();
    const error = await rejection(
      pipe.providers.add({
        projectId: PROJECT,
        channel: channelOf[provider as keyof typeof channelOf],
        provider,
        name: 'Bad',
        config,
      }),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.issues?.map((issue) => issue.path.join('.'))).toContain(path);
  });

  it('refuses a provider on the wrong channel and an unknown provider', async () => {
    const pipe = dispatcher();
    const wrongChannel = await rejection(
      pipe.providers.add({
        projectId: PROJECT,
        channel: 'sms',
        provider: 'sendgrid',
        name: 'x',
        config: sampleConfigs.sendgrid,
      }),
    );
    expect(wrongChannel.code).toBe('CONFIG_INVALID');
    expect(wrongChannel.issues?.[0]?.path).toEqual(['provider']);
    const unknown = await rejection(
      pipe.providers.add({
        projectId: PROJECT,
        channel: 'email',
        provider: 'carrier-pigeon',
        name: 'x',
        config: {},
      }),
    );
    expect(unknown.code).toBe('CONFIG_INVALID');
  });

  it('refuses a custom schema whose secrets could not be kept apart', () => {
    const inArray = z.object({ tenants: z.array(z.object({ token: secret(z.string()) })) });
    expect(
      () =>
        new Dispatcher({
          adapters: [createMockAdapter({ provider: 'acme-mail', channel: 'email', configSchema: inArray })],
        }),
    ).toThrow(/tenants.*array/);
    const inRecord = z.object({ tokens: z.record(z.string(), secret(z.string())) });
    expect(
      () =>
        new Dispatcher({
          adapters: [createMockAdapter({ provider: 'acme-mail', channel: 'email', configSchema: inRecord })],
        }),
    ).toThrow(/CONFIG_INVALID|cannot be kept apart/);
  });

  it.each(Object.entries(builtInProviders))(
    'marks where the %s credentials go',
    (provider, { configSchema }) => {
      const { problems, credentialTargets } = markedPathsOf(configSchema);
      expect(problems).toEqual([]);
      if (provider !== 'termii' && provider !== 'postmark')
        expect(credentialTargets.length).toBeGreaterThan(0);
      if (provider !== 'smtp') expect(credentialTargets).toContain('endpoint');
    },
  );

  it('lets a custom adapter bring its own schema, secrets included', async () => {
    const configSchema = z.strictObject({ token: secret(z.string().min(8)), region: z.enum(['a', 'b']) });
    const custom = createMockAdapter({ provider: 'acme-mail', channel: 'email', configSchema });
    const pipe = new Dispatcher({ adapters: [custom] });
    const json = pipe.schema('email', 'acme-mail') as { properties: Record<string, { writeOnly?: boolean }> };
    expect(json.properties.token?.writeOnly).toBe(true);
    expect(Object.keys(pipe.schemas('email'))).toContain('acme-mail');
    const record = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'acme-mail',
      name: 'Acme',
      config: { token: 'tok-12345678', region: 'a' },
    });
    expect(record.config).toEqual({ region: 'a' });
    expect(record.secretFields).toEqual(['token']);
    const error = await rejection(
      pipe.providers.add({
        projectId: PROJECT,
        channel: 'email',
        provider: 'acme-mail',
        name: 'Acme',
        config: { token: 'short', region: 'c' },
      }),
    );
    expect(error.issues?.map((issue) => issue.path.join('.')).sort()).toEqual([
      'config.region',
      'config.token',
    ]);
  });
});
