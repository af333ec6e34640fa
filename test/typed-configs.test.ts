import { type BuiltInProviderName, Dispatcher, type ProviderRecord } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { channelOf, PROJECT, sampleConfigs } from './helpers';

/**
 * The update types promise that secrets may be left out (kept) and optional secrets set to null (removed). These
 * configs are checked against those types by tsc and sent to the real dispatcher here, so the types and the run-time
 * behaviour cannot drift apart. (Type-level refusals are in test/types/providers.test-d.ts.)
 */
function typedPipe() {
  const verified: Record<string, unknown>[] = [];
  const verify = (config: unknown) => {
    verified.push(config as Record<string, unknown>);
    return { valid: true as const };
  };
  const pipe = new Dispatcher({
    adapters: [
      createMockAdapter({ provider: 'sendgrid', channel: 'email', verify }),
      createMockAdapter({ provider: 'mailgun', channel: 'email', verify }),
      createMockAdapter({ provider: 'postmark', channel: 'email', verify }),
      createMockAdapter({ provider: 'ses', channel: 'email', verify }),
      createMockAdapter({ provider: 'smtp', channel: 'email', verify }),
      createMockAdapter({ provider: 'twilio', channel: 'sms', verify }),
      createMockAdapter({ provider: 'termii', channel: 'sms', verify }),
      createMockAdapter({ provider: 'sns', channel: 'sms', verify }),
    ],
  });
  return { pipe, verified };
}

type Pipe = ReturnType<typeof typedPipe>['pipe'];

/** Every built-in provider's sample config with its secret fields left out, as a form sends it back. */
const withoutSecrets = {
  sendgrid: (pipe: Pipe, id: string) =>
    pipe.providers.update<'sendgrid'>({ projectId: PROJECT, id }, { config: {} }),
  mailgun: (pipe: Pipe, id: string) =>
    pipe.providers.update<'mailgun'>(
      { projectId: PROJECT, id },
      { config: { domain: 'mg.acme.test', region: 'eu' } },
    ),
  postmark: (pipe: Pipe, id: string) =>
    pipe.providers.update<'postmark'>({ projectId: PROJECT, id }, { config: {} }),
  ses: (pipe: Pipe, id: string) =>
    pipe.providers.update<'ses'>(
      { projectId: PROJECT, id },
      { config: { accessKeyId: sampleConfigs.ses.accessKeyId, region: 'eu-west-1' } },
    ),
  smtp: (pipe: Pipe, id: string) =>
    pipe.providers.update<'smtp'>(
      { projectId: PROJECT, id },
      {
        config: {
          host: 'smtp.acme.test',
          port: 587,
          secure: false,
          auth: { user: 'mailer@acme.test' },
          tls: { rejectUnauthorized: true },
        },
      },
    ),
  twilio: (pipe: Pipe, id: string) =>
    pipe.providers.update<'twilio'>(
      { projectId: PROJECT, id },
      { config: { accountSid: sampleConfigs.twilio.accountSid, from: '+14155550100' } },
    ),
  termii: (pipe: Pipe, id: string) =>
    pipe.providers.update<'termii'>({ projectId: PROJECT, id }, { config: { senderId: 'Acme' } }),
  sns: (pipe: Pipe, id: string) =>
    pipe.providers.update<'sns'>(
      { projectId: PROJECT, id },
      {
        config: {
          accessKeyId: sampleConfigs.sns.accessKeyId,
          region: 'us-east-1',
          smsType: 'Transactional',
        },
      },
    ),
} satisfies Record<BuiltInProviderName, (pipe: Pipe, id: string) => Promise<ProviderRecord>>;

async function addSample(pipe: Pipe, provider: BuiltInProviderName): Promise<ProviderRecord> {
  // A built-in name from a loop: the untyped view takes it, the schema checks it at run time.
  const untyped: Dispatcher = pipe;
  return untyped.providers.add({
    projectId: PROJECT,
    channel: channelOf[provider],
    provider,
    name: provider,
    config: sampleConfigs[provider],
  });
}

describe('typed provider configs match the run-time rules', () => {
  it.each(Object.keys(withoutSecrets) as BuiltInProviderName[])(
    '%s: an update typed without its secrets keeps the stored ones',
    async (provider) => {
      const { pipe, verified } = typedPipe();
      const record = await addSample(pipe, provider);
      expect(record.secretFields.length).toBeGreaterThan(0);
      const updated = await withoutSecrets[provider](pipe, record.id);
      expect(updated.secretFields).toEqual(record.secretFields);
      // The credential check of the update saw the full config: the stored secrets were put back.
      expect(verified.at(-1)).toEqual(sampleConfigs[provider]);
    },
  );

  it('removes an optional secret typed as null', async () => {
    const { pipe, verified } = typedPipe();
    const record = await addSample(pipe, 'postmark');
    expect(record.secretFields.sort()).toEqual(['accountToken', 'serverToken']);
    const updated = await pipe.providers.update<'postmark'>(
      { projectId: PROJECT, id: record.id },
      { config: { accountToken: null } },
    );
    expect(updated.secretFields).toEqual(['serverToken']);
    expect(verified.at(-1)).toEqual({ serverToken: sampleConfigs.postmark.serverToken });
  });

  it('refuses at run time what the types refuse: a required secret set to null', async () => {
    const { pipe } = typedPipe();
    const record = await addSample(pipe, 'sendgrid');
    const untyped: Dispatcher = pipe;
    await expect(
      untyped.providers.update({ projectId: PROJECT, id: record.id }, { config: { apiKey: null } }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
