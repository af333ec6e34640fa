import { generateKeyPairSync } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { exportJWK, SignJWT } from 'jose';
import { Dispatcher, MessagePipeError } from 'messagepipe';
import { createMockAdapter, type MockAdapter } from 'messagepipe/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApi, HTTP_STATUS } from '../src/http/index';
import { sampleConfigs } from './helpers';
import { JWT_SECRET, type RunningApi, startApi, token } from './http/server';

const ACME = 'acme';
const OTHER = 'globex';
const SENDGRID_KEY = 'SG.http-api-secret-value-0001';
const ROTATED_KEY = 'SG.http-api-rotated-secret-0002';
const TWILIO_TOKEN = 'twilio-http-auth-token-secret-0003';
const BAD_KEY = 'SG.refused-by-the-provider-0004';
const SECRETS = [SENDGRID_KEY, ROTATED_KEY, TWILIO_TOKEN, BAD_KEY, sampleConfigs.smtp.auth.pass];

interface Setup {
  api: RunningApi;
  pipe: Dispatcher;
  sendgrid: MockAdapter<'email'>;
  smtp: MockAdapter<'email'>;
  twilio: MockAdapter<'sms'>;
  acme: string;
  both: string;
}

/** Every response of the file, to scan for secrets at the end. */
const seen: string[] = [];
const running: RunningApi[] = [];

async function setUp(options: Partial<Parameters<typeof createHttpApi>[0]> = {}): Promise<Setup> {
  const verify = (config: unknown) =>
    (config as { apiKey?: string }).apiKey === BAD_KEY
      ? { valid: false as const, reason: `key ${BAD_KEY} is not known` }
      : { valid: true as const };
  const sendgrid = createMockAdapter({
    provider: 'sendgrid',
    channel: 'email',
    verify,
    domains: [{ domain: 'yourcompany.com', verified: true, details: { dkim: 'valid' } }],
  });
  const smtp = createMockAdapter({ provider: 'smtp', channel: 'email' });
  const twilio = createMockAdapter({ provider: 'twilio', channel: 'sms' });
  const pipe = new Dispatcher({ adapters: [sendgrid, smtp, twilio], retry: false });
  const api = await startApi({ dispatcher: pipe, auth: { jwt: { secret: JWT_SECRET } }, ...options });
  running.push(api);
  const call = api.call.bind(api);
  api.call = async (...args) => {
    const response = await call(...args);
    seen.push(response.text, JSON.stringify([...response.headers]));
    return response;
  };
  return {
    api,
    pipe,
    sendgrid,
    smtp,
    twilio,
    acme: await token({ projects: [ACME] }),
    both: await token({ projects: [ACME, OTHER] }),
  };
}

const sender = { senderEmail: 'noreply@yourcompany.com', senderName: 'Your Company Name', enabled: true };
const sendgridBody = {
  provider: 'sendgrid',
  name: 'Primary SendGrid',
  enabled: true,
  priority: 1,
  config: { apiKey: SENDGRID_KEY },
};
const email = { channel: 'email', to: 'ann@example.test', subject: 'Hello', text: 'Hi Ann' };

afterEach(async () => {
  for (const api of running.splice(0)) await api.close();
});

describe('the REST API through a real HTTP server', () => {
  it('configures senders and providers and sends, with the requests of the documentation', async () => {
    const { api, acme, sendgrid } = await setUp();
    const created = await api.call('POST', `/email-config?projectId=${ACME}`, { token: acme, body: sender });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...sender, projectId: ACME, channel: 'email' });
    expect((await api.call('GET', `/email-config?projectId=${ACME}`, { token: acme })).body).toMatchObject(
      sender,
    );
    const changed = await api.call('PUT', `/email-config?projectId=${ACME}`, {
      token: acme,
      body: { senderName: 'Acme' },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      senderEmail: sender.senderEmail,
      senderName: 'Acme',
      enabled: true,
    });

    const sms = await api.call('POST', `/sms-config?projectId=${ACME}`, {
      token: acme,
      body: { senderId: 'Acme', enabled: true },
    });
    expect(sms.status).toBe(201);
    expect(
      (await api.call('PUT', `/sms-config?projectId=${ACME}`, { token: acme, body: { enabled: false } }))
        .body,
    ).toMatchObject({ senderId: 'Acme', enabled: false });

    const provider = await api.call('POST', `/email-config/providers?projectId=${ACME}`, {
      token: acme,
      body: sendgridBody,
    });
    expect(provider.status).toBe(201);
    const record = provider.body as { id: string; version: number };
    expect(record).toMatchObject({
      provider: 'sendgrid',
      name: 'Primary SendGrid',
      enabled: true,
      priority: 1,
      secretFields: ['apiKey'],
      credentials: { status: 'valid' },
    });
    expect(record).toHaveProperty('createdAt');
    expect(provider.headers.get('etag')).toBe('"1"');
    expect(sendgrid.verifyCount).toBe(1);

    const backup = await api.call('POST', `/email-config/providers?projectId=${ACME}&verify=false`, {
      token: acme,
      body: {
        provider: 'smtp',
        name: 'Backup SMTP',
        priority: 0,
        config: sampleConfigs.smtp,
      },
    });
    expect(backup.status, backup.text).toBe(201);
    expect(backup.body).toMatchObject({ credentials: { status: 'unchecked' } });
    const list = await api.call('GET', `/email-config/providers?projectId=${ACME}`, { token: acme });
    expect((list.body as { data: { name: string }[] }).data.map((each) => each.name)).toEqual([
      'Backup SMTP',
      'Primary SendGrid',
    ]);

    // No projectId query: the token's only project.
    const one = await api.call('GET', `/email-config/providers/${record.id}`, { token: acme });
    expect(one.body).toMatchObject({ id: record.id, version: 1 });
    const updated = await api.call('PUT', `/email-config/providers/${record.id}`, {
      token: acme,
      body: { name: 'SendGrid', priority: 5, config: {} },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      name: 'SendGrid',
      priority: 5,
      version: 2,
      secretFields: ['apiKey'],
    });

    const validated = await api.call('POST', `/email-config/providers/${record.id}/validate`, {
      token: acme,
    });
    expect(validated.body).toMatchObject({ valid: true, provider: 'sendgrid', providerConfigId: record.id });
    const domains = await api.call('GET', `/email-config/providers/${record.id}/domains`, { token: acme });
    expect(domains.body).toEqual({
      data: [{ domain: 'yourcompany.com', verified: true, details: { dkim: 'valid' } }],
    });

    const sent = await api.call('POST', `/messages?projectId=${ACME}`, { token: acme, body: email });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ provider: 'smtp', attempts: [{ outcome: 'sent' }] });

    const removed = await api.call('DELETE', `/email-config/providers/${record.id}`, { token: acme });
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ id: record.id, deleted: true });
    expect((await api.call('GET', `/email-config/providers/${record.id}`, { token: acme })).status).toBe(404);
  });

  it('keeps stored secrets a PUT leaves out: the next send uses them', async () => {
    const { api, acme, sendgrid, pipe } = await setUp();
    await api.call('POST', '/email-config', { token: acme, body: sender });
    const { id } = (await api.call('POST', '/email-config/providers', { token: acme, body: sendgridBody }))
      .body as {
      id: string;
    };
    await api.call('PUT', `/email-config/providers/${id}`, { token: acme, body: { config: {} } });
    const record = await pipe.providers.get({ projectId: ACME, id });
    expect(record.secretFields).toEqual(['apiKey']);
    // The mock sees the config the dispatcher opened: the stored key, kept.
    const seenConfigs: unknown[] = [];
    sendgrid.setBehaviour('ok');
    const original = sendgrid.send.bind(sendgrid);
    sendgrid.send = (message, ctx) => {
      seenConfigs.push(ctx.config);
      return original(message, ctx);
    };
    await api.call('POST', '/messages', { token: acme, body: email });
    expect(seenConfigs).toEqual([{ apiKey: SENDGRID_KEY }]);
    const rotated = await api.call('PUT', `/email-config/providers/${id}`, {
      token: acme,
      body: { config: { apiKey: ROTATED_KEY } },
    });
    expect(rotated.status).toBe(200);
  });

  it('refuses credentials the provider refuses with 422, storing nothing; ?verify=false stores them', async () => {
    const { api, acme, pipe } = await setUp();
    const refused = await api.call('POST', '/email-config/providers', {
      token: acme,
      body: { ...sendgridBody, config: { apiKey: BAD_KEY } },
    });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error: { code: 'PROVIDER_INVALID_CREDENTIALS' } });
    expect((refused.body as { error: { message: string } }).error.message).not.toContain(BAD_KEY);
    expect(await pipe.providers.list({ projectId: ACME })).toEqual([]);
    const unchecked = await api.call('POST', '/email-config/providers?verify=false', {
      token: acme,
      body: { ...sendgridBody, config: { apiKey: BAD_KEY } },
    });
    expect(unchecked.status).toBe(201);
    const { id } = unchecked.body as { id: string };
    const validated = await api.call('POST', `/email-config/providers/${id}/validate`, { token: acme });
    expect(validated.status).toBe(200);
    expect(validated.body).toMatchObject({ valid: false, provider: 'sendgrid' });
    expect((await pipe.providers.get({ projectId: ACME, id })).credentials.status).toBe('invalid');
  });

  it('tests one provider before it goes live: disabled, no failover', async () => {
    const { api, acme, sendgrid, smtp, twilio } = await setUp();
    await api.call('POST', '/email-config', { token: acme, body: sender });
    const disabled = (
      await api.call('POST', '/email-config/providers', {
        token: acme,
        body: { ...sendgridBody, enabled: false },
      })
    ).body as { id: string };
    const backup = await api.call('POST', '/email-config/providers?verify=false', {
      token: acme,
      body: { provider: 'smtp', name: 'SMTP', priority: 2, config: sampleConfigs.smtp },
    });
    expect(backup.status).toBe(201);
    const ok = await api.call('POST', `/email-config/providers/${disabled.id}/test`, {
      token: acme,
      body: { to: 'ann@example.test', subject: 'Test', text: 'Test' },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ outcome: 'sent', provider: 'sendgrid', providerConfigId: disabled.id });
    sendgrid.setBehaviour('provider');
    const failed = await api.call('POST', `/email-config/providers/${disabled.id}/test`, {
      token: acme,
      body: { to: 'ann@example.test', subject: 'Test', text: 'Test' },
    });
    expect(failed.body).toMatchObject({ outcome: 'failed', error: { code: 'PROVIDER_INVALID_CREDENTIALS' } });
    expect(smtp.calls).toHaveLength(0);

    const sms = (
      await api.call('POST', '/sms-config/providers?verify=false', {
        token: acme,
        body: {
          provider: 'twilio',
          name: 'Twilio',
          config: { accountSid: `AC${'a'.repeat(32)}`, authToken: TWILIO_TOKEN, from: '+14155550100' },
        },
      })
    ).body as { id: string };
    const smsTest = await api.call('POST', `/sms-config/providers/${sms.id}/test`, {
      token: acme,
      body: { to: '+14155550199', body: 'Test' },
    });
    expect(smsTest.body).toMatchObject({ outcome: 'sent', provider: 'twilio' });
    expect(twilio.sent).toHaveLength(1);
    // An SMS provider is not found under /email-config, nor an email one under /sms-config.
    expect((await api.call('GET', `/email-config/providers/${sms.id}`, { token: acme })).status).toBe(404);
    expect(
      (await api.call('POST', `/sms-config/providers/${disabled.id}/validate`, { token: acme })).status,
    ).toBe(404);
  });

  it('serves the provider JSON Schemas with secrets writeOnly', async () => {
    const { api, acme } = await setUp();
    const all = await api.call('GET', '/email-config/provider-schemas', { token: acme });
    expect(Object.keys(all.body as object)).toEqual(['sendgrid', 'mailgun', 'postmark', 'ses', 'smtp']);
    const one = await api.call('GET', '/sms-config/provider-schemas/twilio', { token: acme });
    expect(one.body).toMatchObject({ properties: { authToken: { writeOnly: true } } });
    expect((await api.call('GET', '/sms-config/provider-schemas/sendgrid', { token: acme })).status).toBe(
      404,
    );
  });

  it('answers the core errors with the status table, and the attempts of a failed send', async () => {
    const { api, acme, sendgrid } = await setUp();
    const noSender = await api.call('POST', '/messages', { token: acme, body: email });
    expect(noSender.status).toBe(400);
    expect(noSender.body).toMatchObject({ error: { code: 'MESSAGE_INVALID', issues: [{ path: ['from'] }] } });
    await api.call('POST', '/email-config', { token: acme, body: sender });
    const noProviders = await api.call('POST', '/messages', { token: acme, body: email });
    expect(noProviders.status).toBe(409);
    expect(noProviders.body).toEqual({ error: { code: 'NO_PROVIDERS', message: expect.any(String) } });
    const badSender = await api.call('POST', '/email-config', { token: acme, body: { senderEmail: 'nope' } });
    expect(badSender.status).toBe(400);
    expect(badSender.body).toMatchObject({
      error: { code: 'SENDER_INVALID', issues: [{ path: ['senderEmail'] }] },
    });
    const badConfig = await api.call('POST', '/email-config/providers', {
      token: acme,
      body: { ...sendgridBody, config: {} },
    });
    expect(badConfig.body).toMatchObject({
      error: { code: 'CONFIG_INVALID', issues: [{ path: ['config', 'apiKey'] }] },
    });
    const badMessage = await api.call('POST', '/messages', {
      token: acme,
      body: { ...email, to: 'not an address' },
    });
    expect(badMessage.status).toBe(400);
    expect(badMessage.body).toMatchObject({ error: { code: 'MESSAGE_INVALID', issues: [{ path: ['to'] }] } });

    await api.call('POST', '/email-config/providers', { token: acme, body: sendgridBody });
    sendgrid.setBehaviour({ fail: 'transient', message: `upstream mentions ${SENDGRID_KEY}` });
    const failed = await api.call('POST', '/messages', { token: acme, body: email });
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({
      error: {
        code: 'ALL_PROVIDERS_FAILED',
        attempts: [{ outcome: 'failed', error: { code: 'PROVIDER_UNAVAILABLE' } }],
      },
    });
    sendgrid.setBehaviour('message');
    const refused = await api.call('POST', '/messages', { token: acme, body: email });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({
      error: { code: 'RECIPIENT_INVALID', attempts: [{ outcome: 'failed' }] },
    });
    sendgrid.setBehaviour({ fail: 'PROVIDER_TIMEOUT', ambiguous: true });
    await api.call('PUT', '/email-config', { token: acme, body: { enabled: false } });
    expect((await api.call('POST', '/messages', { token: acme, body: email })).body).toMatchObject({
      error: { code: 'CHANNEL_DISABLED' },
    });
    expect(HTTP_STATUS.PROVIDER_INVALID_CREDENTIALS).toBe(422);
  });

  it('never sends twice for a repeated Idempotency-Key, and refuses one reused for another message', async () => {
    const { api, acme, sendgrid } = await setUp();
    await api.call('POST', '/email-config', { token: acme, body: sender });
    await api.call('POST', '/email-config/providers', { token: acme, body: sendgridBody });
    const headers = { 'idempotency-key': 'welcome-42' };
    const [first, second] = await Promise.all([
      api.call('POST', '/messages', { token: acme, body: email, headers }),
      api.call('POST', '/messages', { token: acme, body: email, headers }),
    ]);
    const third = await api.call('POST', '/messages', { token: acme, body: email, headers });
    expect(first.body).toMatchObject({ idempotencyKey: 'welcome-42' });
    expect(second.body).toEqual(first.body);
    expect(third.body).toEqual(first.body);
    expect(sendgrid.sent).toHaveLength(1);
    const reused = await api.call('POST', '/messages', {
      token: acme,
      body: { ...email, subject: 'Other' },
      headers,
    });
    expect(reused.status).toBe(409);
    expect(reused.body).toMatchObject({ error: { code: 'CONFLICT' } });
    // Another project's key of the same name is another send.
    const globex = await token({ projects: [OTHER] });
    await api.call('POST', '/email-config', { token: globex, body: sender });
    await api.call('POST', '/email-config/providers', { token: globex, body: sendgridBody });
    await api.call('POST', '/messages', { token: globex, body: email, headers });
    expect(sendgrid.sent).toHaveLength(2);
    // A send that failed without reaching anyone may be retried with its key.
    sendgrid.setBehaviour('transient');
    const key = { 'idempotency-key': 'retry-me' };
    expect((await api.call('POST', '/messages', { token: acme, body: email, headers: key })).status).toBe(
      502,
    );
    sendgrid.setBehaviour('ok');
    expect((await api.call('POST', '/messages', { token: acme, body: email, headers: key })).status).toBe(
      200,
    );
    const badKey = await api.call('POST', '/messages', {
      token: acme,
      body: email,
      headers: { 'idempotency-key': 'x'.repeat(201) },
    });
    expect(badKey.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });

  it('maps If-Match to the record version: 409 CONFLICT for a stale one', async () => {
    const { api, acme } = await setUp();
    const { id } = (await api.call('POST', '/email-config/providers', { token: acme, body: sendgridBody }))
      .body as {
      id: string;
    };
    const fresh = await api.call('PUT', `/email-config/providers/${id}`, {
      token: acme,
      body: { priority: 2 },
      headers: { 'if-match': '"1"' },
    });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('etag')).toBe('"2"');
    const stale = await api.call('PUT', `/email-config/providers/${id}`, {
      token: acme,
      body: { priority: 3 },
      headers: { 'if-match': '1' },
    });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: { code: 'CONFLICT' } });
    const staleDelete = await api.call('DELETE', `/email-config/providers/${id}`, {
      token: acme,
      headers: { 'if-match': '"1"' },
    });
    expect(staleDelete.status).toBe(409);
    expect(
      (
        await api.call('PUT', `/email-config/providers/${id}`, {
          token: acme,
          body: { priority: 3 },
          headers: { 'if-match': 'yesterday' },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await api.call('DELETE', `/email-config/providers/${id}`, {
          token: acme,
          headers: { 'if-match': '"2"' },
        })
      ).status,
    ).toBe(200);
  });

  it('reports per-provider stats and breaker state for the project only, and health', async () => {
    const { api, acme, both } = await setUp();
    await api.call('POST', '/email-config', { token: acme, body: sender });
    const { id } = (await api.call('POST', '/email-config/providers', { token: acme, body: sendgridBody }))
      .body as {
      id: string;
    };
    await api.call('POST', '/messages', { token: acme, body: email });
    const stats = await api.call('GET', `/providers/stats?projectId=${ACME}`, { token: acme });
    expect(stats.body).toEqual({
      data: [
        expect.objectContaining({
          providerConfigId: id,
          provider: 'sendgrid',
          attempts: 1,
          successes: 1,
          breaker: { state: 'closed', consecutiveFailures: 0 },
        }),
      ],
    });
    expect((await api.call('GET', `/providers/stats?projectId=${OTHER}`, { token: both })).body).toEqual({
      data: [],
    });
    const health = await api.call('GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
  });

  it('answers 503 on /healthz when the store does not answer, with nothing of the store error', async () => {
    const { api } = await setUp({
      health: () => Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:5432 password=hunter2')),
    });
    const health = await api.call('GET', '/healthz');
    expect(health.status).toBe(503);
    expect(health.text).not.toContain('ECONNREFUSED');
  });

  it('never shows a store error: 500 INTERNAL_ERROR', async () => {
    const failing = new Dispatcher({
      adapters: [],
      store: {
        persistent: false,
        insertProvider: () => Promise.reject(new Error('relation "x" does not exist at 10.0.0.7')),
        getProvider: () => Promise.reject(new Error('relation "x" does not exist at 10.0.0.7')),
        listProviders: () => Promise.reject(new Error('relation "x" does not exist at 10.0.0.7')),
        replaceProvider: () => Promise.reject(new Error('x')),
        scanProviders: () => Promise.reject(new Error('x')),
        deleteProvider: () => Promise.reject(new Error('x')),
        getSender: () => Promise.reject(new Error('relation "x" does not exist at 10.0.0.7')),
        putSender: () => Promise.reject(new Error('x')),
      },
    });
    const warnings: string[] = [];
    const api = await startApi({
      dispatcher: failing,
      auth: 'none',
      logger: {
        debug() {},
        warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`),
      },
    });
    running.push(api);
    const response = await api.call('GET', `/email-config/providers?projectId=${ACME}`);
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ error: { code: 'INTERNAL_ERROR', message: 'Internal server error' } });
    expect(warnings.join('\n')).toContain('does not exist at 10.0.0.7');
  });

  it('publishes an OpenAPI 3.1 document of every route', async () => {
    const { api } = await setUp();
    const doc = (await api.call('GET', '/openapi.json')).body as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    for (const channel of ['email', 'sms']) {
      for (const route of [
        `GET /${channel}-config`,
        `POST /${channel}-config`,
        `PUT /${channel}-config`,
        `GET /${channel}-config/provider-schemas`,
        `GET /${channel}-config/provider-schemas/{provider}`,
        `POST /${channel}-config/providers`,
        `GET /${channel}-config/providers`,
        `GET /${channel}-config/providers/{id}`,
        `PUT /${channel}-config/providers/{id}`,
        `DELETE /${channel}-config/providers/{id}`,
        `POST /${channel}-config/providers/{id}/validate`,
        `POST /${channel}-config/providers/{id}/test`,
      ]) {
        expect(routes).toContain(route);
      }
    }
    for (const route of [
      'GET /email-config/providers/{id}/domains',
      'POST /messages',
      'GET /messages/{id}',
      'GET /providers/stats',
      'GET /healthz',
    ]) {
      expect(routes).toContain(route);
    }
    // Generated from the core's schemas: the message body knows the email rules.
    expect(JSON.stringify(doc.paths['/messages'])).toContain('#/components/schemas/Message');
    expect(JSON.stringify(doc)).toContain('"maxLength":998');
  });
});

describe('projects', () => {
  it('uses the only project of a token, requires one otherwise, and refuses others with 403', async () => {
    const { api, acme, both } = await setUp();
    expect((await api.call('POST', '/email-config', { token: acme, body: sender })).status).toBe(201);
    const required = await api.call('GET', '/email-config', { token: both });
    expect(required.status).toBe(400);
    expect(required.body).toMatchObject({
      error: { code: 'PROJECT_REQUIRED', issues: [{ path: ['projectId'] }] },
    });
    expect((await api.call('GET', `/email-config?projectId=${ACME}`, { token: both })).status).toBe(200);
    const forbidden = await api.call('GET', `/email-config?projectId=${OTHER}`, { token: acme });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const noProjects = await token({ sub: 'someone' });
    expect((await api.call('GET', `/email-config?projectId=${ACME}`, { token: noProjects })).status).toBe(
      403,
    );
    const byProjectId = await token({ projectId: ACME });
    expect((await api.call('GET', '/email-config', { token: byProjectId })).status).toBe(200);
  });

  it("answers 404 for another project's ids, exactly as for missing ones", async () => {
    const { api, acme, both } = await setUp();
    const globex = await token({ projects: [OTHER] });
    const { id } = (await api.call('POST', '/email-config/providers', { token: globex, body: sendgridBody }))
      .body as { id: string };
    const theirs = await api.call('GET', `/email-config/providers/${id}`, { token: acme });
    const missing = await api.call('GET', '/email-config/providers/no-such-id', { token: acme });
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(theirs.body).toEqual({
      error: { code: 'NOT_FOUND', message: (theirs.body as { error: { message: string } }).error.message },
    });
    for (const [method, path, body] of [
      ['PUT', `/email-config/providers/${id}?projectId=${ACME}`, { name: 'Mine now' }],
      ['DELETE', `/email-config/providers/${id}?projectId=${ACME}`, undefined],
      ['POST', `/email-config/providers/${id}/validate?projectId=${ACME}`, undefined],
      ['GET', `/email-config/providers/${id}/domains?projectId=${ACME}`, undefined],
      [
        'POST',
        `/email-config/providers/${id}/test?projectId=${ACME}`,
        { to: 'a@b.test', subject: 'x', text: 'y' },
      ],
    ] as const) {
      expect((await api.call(method, path, { token: both, body })).status).toBe(404);
    }
    expect((await api.call('GET', `/email-config/providers/${id}`, { token: globex })).status).toBe(200);
  });
});

describe('authentication', () => {
  it('answers 401 for a missing, expired, not yet valid, wrongly signed or unsigned token', async () => {
    const { api } = await setUp();
    const path = `/email-config?projectId=${ACME}`;
    const now = Math.floor(Date.now() / 1000);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ projects: [ACME], exp: now + 3600 }),
    ).toString('base64url')}.`;
    const cases: Array<[string, string | undefined, string]> = [
      ['missing', undefined, 'Missing bearer token'],
      ['expired', await token({ projects: [ACME], exp: now - 60 }), 'The token has expired'],
      ['not yet valid', await token({ projects: [ACME], nbf: now + 600 }), 'The token is not valid yet'],
      ['wrong key', await token({ projects: [ACME] }, `${JWT_SECRET}-but-another`), 'The token is not valid'],
      ['alg none', unsigned, ''],
      ['garbage', 'not-a-jwt', 'The token is not valid'],
    ];
    for (const [name, bearer, message] of cases) {
      const response = await api.call('GET', path, { token: bearer });
      expect(response.status, name).toBe(401);
      expect(response.body, name).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      if (message)
        expect((response.body as { error: { message: string } }).error.message, name).toBe(message);
      expect(response.headers.get('www-authenticate'), name).toBe('Bearer');
    }
    const basic = await api.call('GET', path, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
  });

  it('verifies RS256 tokens with a public key and refuses an HS256 token signed with that key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const pipe = new Dispatcher({ adapters: [] });
    const api = await startApi({
      dispatcher: pipe,
      auth: { jwt: { publicKey: pem, issuer: 'https://id.acme.test', audience: 'messagepipe' } },
    });
    running.push(api);
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ projects: [ACME], ...claims })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer('https://id.acme.test')
        .setAudience('messagepipe')
        .setExpirationTime('5m')
        .sign(privateKey);
    expect((await api.call('GET', '/email-config/providers', { token: await sign({}) })).status).toBe(200);
    const wrongAudience = await new SignJWT({ projects: [ACME] })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('https://id.acme.test')
      .setAudience('someone-else')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await api.call('GET', '/email-config/providers', { token: wrongAudience })).status).toBe(401);
    // Algorithm confusion: the public key's PEM text used as an HMAC secret.
    const confused = await token({ projects: [ACME], iss: 'https://id.acme.test', aud: 'messagepipe' }, pem);
    const response = await api.call('GET', '/email-config/providers', { token: confused });
    expect(response.status).toBe(401);
    expect(() =>
      createHttpApi({ dispatcher: pipe, auth: { jwt: { publicKey: pem, algorithms: ['HS256'] } } }),
    ).toThrow(/HS256 cannot be used/);
  });

  it('verifies ES256 and EdDSA tokens from a JWKS endpoint, with a custom projects claim', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    const keys = [
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
      { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', alg: 'EdDSA', use: 'sig' },
    ];
    const jwks = await startJwks({ keys });
    const pipe = new Dispatcher({ adapters: [] });
    const api = await startApi({
      dispatcher: pipe,
      auth: { jwt: { jwksUrl: jwks.url, projectsClaim: 'https://acme.test/projects' } },
    });
    running.push(api);
    try {
      for (const [alg, kid, key] of [
        ['ES256', 'ec-1', ec.privateKey],
        ['EdDSA', 'ed-1', ed.privateKey],
      ] as const) {
        const jwt = await new SignJWT({ 'https://acme.test/projects': [ACME] })
          .setProtectedHeader({ alg, kid })
          .setExpirationTime('5m')
          .sign(key);
        expect((await api.call('GET', '/email-config/providers', { token: jwt })).status, alg).toBe(200);
        expect(
          (await api.call('GET', `/email-config/providers?projectId=${OTHER}`, { token: jwt })).status,
        ).toBe(403);
      }
    } finally {
      await jwks.close();
    }
  });

  it('takes an app-supplied auth function, and refuses to start without auth', async () => {
    const pipe = new Dispatcher({ adapters: [] });
    const api = await startApi({
      dispatcher: pipe,
      auth: (request) => (request.headers.get('x-api-key') === 'let-me-in' ? { projects: [ACME] } : null),
    });
    running.push(api);
    expect(
      (await api.call('GET', '/email-config/providers', { headers: { 'x-api-key': 'let-me-in' } })).status,
    ).toBe(200);
    expect(
      (await api.call('GET', '/email-config/providers', { headers: { 'x-api-key': 'nope' } })).status,
    ).toBe(401);
    expect(() =>
      createHttpApi({ dispatcher: pipe } as unknown as Parameters<typeof createHttpApi>[0]),
    ).toThrow(MessagePipeError);
    expect(() => createHttpApi({ dispatcher: pipe, auth: { jwt: { secret: 'short' } } })).toThrow(/32 bytes/);
    const open = await startApi({ dispatcher: pipe, auth: 'none' });
    running.push(open);
    expect((await open.call('GET', `/email-config/providers?projectId=${ACME}`)).status).toBe(200);
    expect((await open.call('GET', '/email-config/providers')).status).toBe(400);
  });
});

describe('limits', () => {
  it('answers 413 for a body over the cap, declared or streamed, without reading it all', async () => {
    const { api, acme } = await setUp({ maxBodyBytes: 64 * 1024 });
    const big = { ...email, text: 'x'.repeat(100 * 1024) };
    const declared = await api.call('POST', '/messages', { token: acme, body: big });
    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    // Chunked, no Content-Length: cut off once the cap is passed, although the client would send 10 MB.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(`${api.url}/messages`);
      const request = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { authorization: `Bearer ${acme}`, 'content-type': 'application/json' },
        },
        (response) => {
          let body = '';
          response.on('data', (chunk) => {
            body += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      let sent = 0;
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        while (sent < 10 * 1024 * 1024) {
          sent += chunk.length;
          if (!request.write(chunk)) return void request.once('drain', pump);
        }
        request.end();
      };
      request.on('response', () => request.destroy());
      pump();
    }).catch((error: unknown) => ({ status: -1, body: String(error) }));
    expect(streamed.status).toBe(413);
  });

  it('answers 400 BAD_REQUEST for malformed JSON and 415 for a body that is not JSON', async () => {
    const { api, acme } = await setUp();
    const malformed = await api.call('POST', '/messages', { token: acme, body: '{"channel": "email",' });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({ error: { code: 'BAD_REQUEST', message: 'The body is not valid JSON' } });
    const form = await api.call('POST', '/email-config', {
      token: acme,
      body: 'senderEmail=a@b.test',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(form.body).toMatchObject({ error: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const unknownRoute = await api.call('GET', '/nope', { token: acme });
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.body).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('answers 504 REQUEST_TIMEOUT for a request that takes too long', async () => {
    const { api, acme, sendgrid } = await setUp({ requestTimeoutMs: 300 });
    await api.call('POST', '/email-config', { token: acme, body: sender });
    await api.call('POST', '/email-config/providers', { token: acme, body: sendgridBody });
    sendgrid.setBehaviour({ ok: true, delayMs: 2_000 });
    const slow = await api.call('POST', '/messages', { token: acme, body: email });
    expect(slow.status).toBe(504);
    expect(slow.body).toMatchObject({ error: { code: 'REQUEST_TIMEOUT' } });
  });
});

describe('secrets', () => {
  afterAll(() => {
    // Every body and header of every response above.
    const everything = seen.join('\n');
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });

  it('are never in a response body or header (checked after every test of this file)', async () => {
    const { api, acme } = await setUp();
    await api.call('POST', '/email-config/providers', { token: acme, body: sendgridBody });
    const list = await api.call('GET', '/email-config/providers', { token: acme });
    expect(list.text).not.toContain(SENDGRID_KEY);
  });
});

beforeAll(() => {
  seen.length = 0;
});

/** A JWKS endpoint on 127.0.0.1. */
async function startJwks(document: object): Promise<{ url: string; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
