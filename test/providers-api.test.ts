import { Dispatcher, InMemoryProviderStore, type MessagePipeError } from 'messagepipe';
import { createMockAdapter, type MockAdapter } from 'messagepipe/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { email, OTHER_PROJECT, PROJECT, sampleConfigs } from './helpers';

let store: InMemoryProviderStore;
let smtp: MockAdapter<'email'>;
let sendgrid: MockAdapter<'email'>;
let pipe: Dispatcher;

beforeEach(async () => {
  store = new InMemoryProviderStore();
  smtp = createMockAdapter({ provider: 'smtp', channel: 'email' });
  sendgrid = createMockAdapter({
    provider: 'sendgrid',
    channel: 'email',
    domains: [{ domain: 'acme.test', verified: true, details: { dkim: 'valid' } }],
  });
  pipe = new Dispatcher({ adapters: [smtp, sendgrid], store });
  await pipe.senders.set({
    projectId: PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    senderName: 'Acme',
  });
});

async function failure(promise: Promise<unknown>): Promise<MessagePipeError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown as MessagePipeError,
  );
  expect(error, 'expected a rejection').toBeDefined();
  return error!;
}

const addSmtp = (overrides: Record<string, unknown> = {}) =>
  pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'smtp',
    name: 'Mail server',
    priority: 5,
    config: sampleConfigs.smtp,
    ...overrides,
  });

describe('pipe.providers', () => {
  it('adds a record with its credentials checked and no secret in it', async () => {
    const record = await addSmtp();
    expect(smtp.verifyCount).toBe(1);
    expect(record).toMatchObject({
      projectId: PROJECT,
      channel: 'email',
      provider: 'smtp',
      name: 'Mail server',
      enabled: true,
      priority: 5,
      version: 1,
      credentials: { status: 'valid' },
      secretFields: ['auth.pass'],
      config: { host: 'smtp.acme.test', port: 587, secure: false, auth: { user: 'mailer@acme.test' } },
    });
    expect(record.createdAt).toBe(record.updatedAt);
    expect(JSON.stringify(record)).not.toContain(sampleConfigs.smtp.auth.pass);
    expect(await pipe.providers.get({ projectId: PROJECT, id: record.id })).toEqual(record);
  });

  it('stores nothing when the provider refuses the credentials', async () => {
    smtp.setVerify({ valid: false, reason: '535 Authentication failed' });
    const error = await failure(addSmtp());
    expect(error).toMatchObject({ code: 'PROVIDER_INVALID_CREDENTIALS', provider: 'smtp' });
    expect(error.message).toContain('535 Authentication failed');
    expect(await store.listProviders(PROJECT)).toEqual([]);
  });

  it('skips the credential check with { verify: false }', async () => {
    smtp.setVerify({ valid: false, reason: 'offline' });
    const record = await pipe.providers.add(
      { projectId: PROJECT, channel: 'email', provider: 'smtp', name: 'Offline', config: sampleConfigs.smtp },
      { verify: false },
    );
    expect(smtp.verifyCount).toBe(0);
    expect(record.credentials).toEqual({ status: 'unchecked' });
  });

  it('lists a project’s records by priority, filtered by channel', async () => {
    const twilio = createMockAdapter({ provider: 'twilio', channel: 'sms' });
    pipe = new Dispatcher({ adapters: [smtp, sendgrid, twilio], store });
    const low = await addSmtp({ priority: 9, name: 'Backup' });
    const high = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'Main',
      priority: 1,
      config: sampleConfigs.sendgrid,
    });
    const sms = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'sms',
      provider: 'twilio',
      name: 'TW',
      priority: 0,
      config: sampleConfigs.twilio,
    });
    expect((await pipe.providers.list({ projectId: PROJECT, channel: 'email' })).map((r) => r.id)).toEqual([
      high.id,
      low.id,
    ]);
    expect((await pipe.providers.list({ projectId: PROJECT })).map((r) => r.id)).toEqual([
      sms.id,
      high.id,
      low.id,
    ]);
  });

  it('keeps projects apart: another project’s id is NOT_FOUND everywhere', async () => {
    const record = await addSmtp();
    const ref = { projectId: OTHER_PROJECT, id: record.id };
    expect((await failure(pipe.providers.get(ref))).code).toBe('NOT_FOUND');
    expect((await failure(pipe.providers.update(ref, { name: 'Hijacked' }))).code).toBe('NOT_FOUND');
    expect((await failure(pipe.providers.remove(ref))).code).toBe('NOT_FOUND');
    expect((await failure(pipe.providers.validate(ref))).code).toBe('NOT_FOUND');
    expect((await failure(pipe.providers.domains(ref))).code).toBe('NOT_FOUND');
    expect(await pipe.providers.list({ projectId: OTHER_PROJECT })).toEqual([]);
    expect(await pipe.providers.get({ projectId: PROJECT, id: record.id })).toEqual(record);
    await pipe.senders.set({ projectId: OTHER_PROJECT, channel: 'email', senderEmail: 'x@other.test' });
    expect((await failure(pipe.send({ ...email, projectId: OTHER_PROJECT }))).code).toBe('NO_PROVIDERS');
  });

  it('updates fields, keeps stored secrets a new config leaves out, and re-checks credentials', async () => {
    const record = await addSmtp();
    const { auth, ...rest } = sampleConfigs.smtp;
    const updated = await pipe.providers.update(
      { projectId: PROJECT, id: record.id },
      { name: 'Renamed', priority: 2, config: { ...rest, maxConnections: 3, auth: { user: auth.user } } },
    );
    expect(updated).toMatchObject({
      name: 'Renamed',
      priority: 2,
      version: 2,
      config: { maxConnections: 3 },
    });
    expect(updated.secretFields).toEqual(['auth.pass']);
    expect(smtp.verifyCount).toBe(2);
    expect(smtp.released).toEqual([record.id]);
    await pipe.send(email);
    // The stored password survived the update: the adapter got the full config.
    const stored = await store.getProvider(PROJECT, record.id);
    expect(stored?.secrets).toContain(auth.pass);
    expect(stored?.config).toMatchObject({ maxConnections: 3, auth: { user: auth.user } });
  });

  it('does not carry stored secrets to a new destination: changing the endpoint needs the key again', async () => {
    const record = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'SG',
      config: sampleConfigs.sendgrid,
    });
    const checks = sendgrid.verifyCount;
    const before = await store.getProvider(PROJECT, record.id);
    const redirected = await failure(
      pipe.providers.update(
        { projectId: PROJECT, id: record.id },
        { config: { endpoint: 'http://attacker.example.test' } },
      ),
    );
    expect(redirected.code).toBe('CONFIG_INVALID');
    expect(redirected.issues?.map((issue) => issue.path.join('.'))).toEqual(['config.apiKey']);
    expect(redirected.message).toContain('endpoint');
    // The stored key was never handed to a credential check against the new endpoint.
    expect(sendgrid.verifyCount).toBe(checks);
    expect(await store.getProvider(PROJECT, record.id)).toEqual(before);

    const reentered = await pipe.providers.update(
      { projectId: PROJECT, id: record.id },
      { config: { endpoint: 'https://api.eu.sendgrid.com', apiKey: 'SG.new-key-for-eu' } },
    );
    expect(reentered.config).toEqual({ endpoint: 'https://api.eu.sendgrid.com' });
    // A change that does not touch the destination keeps the stored key.
    const tuned = await pipe.providers.update(
      { projectId: PROJECT, id: record.id },
      { config: { endpoint: 'https://api.eu.sendgrid.com', timeoutMs: 5000 } },
    );
    expect(tuned.secretFields).toEqual(['apiKey']);
    expect((await store.getProvider(PROJECT, record.id))?.secrets).toContain('SG.new-key-for-eu');
  });

  it('treats a moved SMTP host like a new destination', async () => {
    const record = await addSmtp();
    const { auth, ...rest } = sampleConfigs.smtp;
    const error = await failure(
      pipe.providers.update(
        { projectId: PROJECT, id: record.id },
        { config: { ...rest, host: 'smtp.elsewhere.test', auth: { user: auth.user } } },
      ),
    );
    expect(error.issues?.map((issue) => issue.path.join('.'))).toEqual(['config.auth.pass']);
  });

  it('removes an optional secret given as null', async () => {
    const postmark = createMockAdapter({ provider: 'postmark', channel: 'email' });
    pipe = new Dispatcher({ adapters: [postmark], store });
    const record = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'postmark',
      name: 'PM',
      config: sampleConfigs.postmark,
    });
    expect(record.secretFields.sort()).toEqual(['accountToken', 'serverToken']);
    const updated = await pipe.providers.update(
      { projectId: PROJECT, id: record.id },
      { config: { accountToken: null } },
    );
    expect(updated.secretFields).toEqual(['serverToken']);
    const stored = await store.getProvider(PROJECT, record.id);
    expect(stored?.secrets).toContain(sampleConfigs.postmark.serverToken);
    expect(stored?.secrets).not.toContain(sampleConfigs.postmark.accountToken);
  });

  it('accepts a config with every secret given even when the stored ones cannot be opened', async () => {
    const record = await addSmtp();
    const stored = (await store.getProvider(PROJECT, record.id))!;
    await store.replaceProvider({ ...stored, secrets: 'sealed:v1:lost-key:AAAA:BBBB' }, stored.version);
    const updated = await pipe.providers.update(
      { projectId: PROJECT, id: record.id },
      { config: { ...sampleConfigs.smtp, auth: { user: 'mailer@acme.test', pass: 're-entered-password' } } },
    );
    expect(updated.secretFields).toEqual(['auth.pass']);
  });

  it('drops secrets whose section the new config removes', async () => {
    const record = await addSmtp();
    const { auth: _auth, ...withoutAuth } = sampleConfigs.smtp;
    const updated = await pipe.providers.update(
      { projectId: PROJECT, id: record.id },
      { config: withoutAuth },
    );
    expect(updated.secretFields).toEqual([]);
    expect(updated.config.auth).toBeUndefined();
  });

  it('refuses an invalid update and keeps the stored record intact', async () => {
    const record = await addSmtp();
    const before = await store.getProvider(PROJECT, record.id);
    const invalid = await failure(
      pipe.providers.update(
        { projectId: PROJECT, id: record.id },
        { config: { ...sampleConfigs.smtp, port: -1 } },
      ),
    );
    expect(invalid.code).toBe('CONFIG_INVALID');
    expect(invalid.issues?.[0]?.path).toEqual(['config', 'port']);
    smtp.setVerify({ valid: false, reason: 'bad password' });
    const refused = await failure(
      pipe.providers.update(
        { projectId: PROJECT, id: record.id },
        { config: { ...sampleConfigs.smtp, auth: { user: 'x', pass: 'wrong-password' } } },
      ),
    );
    expect(refused.code).toBe('PROVIDER_INVALID_CREDENTIALS');
    expect(await store.getProvider(PROJECT, record.id)).toEqual(before);
    expect(
      (await failure(pipe.providers.update({ projectId: PROJECT, id: record.id }, { priority: -3 })))
        .issues?.[0]?.path,
    ).toEqual(['priority']);
  });

  it('refuses a write based on a stale version', async () => {
    const record = await addSmtp();
    await pipe.providers.update({ projectId: PROJECT, id: record.id }, { name: 'First' });
    const stale = await failure(
      pipe.providers.update(
        { projectId: PROJECT, id: record.id, version: record.version },
        { name: 'Second' },
      ),
    );
    expect(stale.code).toBe('CONFLICT');
    expect((await pipe.providers.get({ projectId: PROJECT, id: record.id })).name).toBe('First');
  });

  it('refuses a concurrent update instead of losing it', async () => {
    const record = await addSmtp();
    const results = await Promise.allSettled([
      pipe.providers.update({ projectId: PROJECT, id: record.id }, { name: 'A' }),
      pipe.providers.update({ projectId: PROJECT, id: record.id }, { name: 'B' }),
    ]);
    const fulfilled = results.filter((result) => result.status === 'fulfilled');
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason.code).toBe('CONFLICT');
  });

  it('removes a record and releases its client', async () => {
    const record = await addSmtp();
    await pipe.providers.remove({ projectId: PROJECT, id: record.id });
    expect(smtp.released).toEqual([record.id]);
    expect((await failure(pipe.providers.get({ projectId: PROJECT, id: record.id }))).code).toBe('NOT_FOUND');
    expect((await failure(pipe.providers.remove({ projectId: PROJECT, id: record.id }))).code).toBe(
      'NOT_FOUND',
    );
  });

  it('validate records bad credentials, takes the provider out of the chain, and brings it back when valid', async () => {
    const main = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'Main',
      priority: 1,
      config: sampleConfigs.sendgrid,
    });
    await addSmtp({ priority: 2 });
    sendgrid.setVerify({ valid: false, reason: 'API key revoked' });
    const invalid = await pipe.providers.validate({ projectId: PROJECT, id: main.id });
    expect(invalid).toMatchObject({
      valid: false,
      status: 'invalid',
      provider: 'sendgrid',
      providerConfigId: main.id,
      reason: 'API key revoked',
    });
    const recorded = await pipe.providers.get({ projectId: PROJECT, id: main.id });
    expect(recorded.credentials).toMatchObject({ status: 'invalid', reason: 'API key revoked' });
    expect(recorded.enabled).toBe(true);

    const skipped = await pipe.send(email);
    expect(skipped.provider).toBe('smtp');
    expect(sendgrid.calls).toHaveLength(0);

    sendgrid.setVerify({ valid: true });
    expect((await pipe.providers.validate({ projectId: PROJECT, id: main.id })).valid).toBe(true);
    expect((await pipe.send(email)).provider).toBe('sendgrid');
  });

  it('records credentials that cannot be checked as unchecked and keeps the provider in the chain', async () => {
    const reason =
      'These credentials may not call GetAccount, so they cannot be checked with these permissions';
    sendgrid.setVerify({ valid: null, reason });
    const main = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'Send-only key',
      priority: 1,
      config: sampleConfigs.sendgrid,
    });
    expect(main.credentials).toEqual({ status: 'unchecked', checkedAt: expect.any(String), reason });
    await addSmtp({ priority: 2 });
    expect((await pipe.send(email)).provider).toBe('sendgrid');

    const again = await pipe.providers.validate({ projectId: PROJECT, id: main.id });
    expect(again).toMatchObject({ valid: false, status: 'unchecked', reason });
    expect((await pipe.send(email)).provider).toBe('sendgrid');

    // A previously invalid record that now cannot be checked comes back into the chain as unchecked.
    sendgrid.setVerify({ valid: false, reason: 'API key revoked' });
    expect(await pipe.providers.validate({ projectId: PROJECT, id: main.id })).toMatchObject({
      status: 'invalid',
    });
    expect((await pipe.send(email)).provider).toBe('smtp');
    sendgrid.setVerify({ valid: null, reason });
    await pipe.providers.validate({ projectId: PROJECT, id: main.id });
    expect((await pipe.send(email)).provider).toBe('sendgrid');
  });

  it('lists domains where the adapter can, NOT_SUPPORTED otherwise', async () => {
    const main = await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'Main',
      config: sampleConfigs.sendgrid,
    });
    expect(await pipe.providers.domains({ projectId: PROJECT, id: main.id })).toEqual([
      { domain: 'acme.test', verified: true, details: { dkim: 'valid' } },
    ]);
    const server = await addSmtp();
    expect((await failure(pipe.providers.domains({ projectId: PROJECT, id: server.id }))).code).toBe(
      'NOT_SUPPORTED',
    );
  });

  it('refuses malformed references and inputs with typed errors', async () => {
    expect((await failure(pipe.providers.get({ projectId: '', id: 'x' }))).code).toBe('CONFIG_INVALID');
    const error = await failure(
      pipe.providers.add({
        projectId: PROJECT,
        channel: 'email',
        provider: 'smtp',
        name: '',
        priority: 1.5,
        config: sampleConfigs.smtp,
      }),
    );
    expect(error.issues?.map((issue) => issue.path.join('.')).sort()).toEqual(['name', 'priority']);
  });
});

describe('pipe.senders', () => {
  it('stores one sender configuration per project and channel', async () => {
    const saved = await pipe.senders.get({ projectId: PROJECT, channel: 'email' });
    expect(saved).toMatchObject({ senderEmail: 'noreply@acme.test', senderName: 'Acme', enabled: true });
    await pipe.senders.set({
      projectId: PROJECT,
      channel: 'sms',
      senderId: 'Acme',
      from: '+14155550100',
      enabled: true,
    });
    expect(await pipe.senders.get({ projectId: PROJECT, channel: 'sms' })).toMatchObject({
      senderId: 'Acme',
      from: '+14155550100',
    });
    expect(await pipe.senders.get({ projectId: OTHER_PROJECT, channel: 'email' })).toBeUndefined();
  });

  it('refuses an invalid sender with SENDER_INVALID and paths', async () => {
    const error = await failure(
      pipe.senders.set({
        projectId: PROJECT,
        channel: 'email',
        senderEmail: 'nope',
        senderName: 'A\r\nBcc: x',
      }),
    );
    expect(error.code).toBe('SENDER_INVALID');
    expect(error.issues?.map((issue) => issue.path.join('.')).sort()).toEqual(['senderEmail', 'senderName']);
    expect(await pipe.senders.get({ projectId: PROJECT, channel: 'email' })).toMatchObject({
      senderEmail: 'noreply@acme.test',
    });
  });
});
