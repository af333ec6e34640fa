import { Dispatcher } from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { twilio } from 'messagepipe/adapters/twilio';
import { createMockAdapter } from 'messagepipe/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { JWT_SECRET, type RunningApi, startApi, token } from './http/server';
import { mailgunSignature } from './webhooks/signing';

const PROJECT = 'acme';
const SIGNING_KEY = 'mailgun-webhook-signing-key-for-http';
const running: RunningApi[] = [];

afterEach(async () => {
  for (const api of running.splice(0)) await api.close();
});

async function setUp() {
  const smtp = createMockAdapter({ provider: 'relay', channel: 'email' });
  const pipe: Dispatcher = new Dispatcher({ adapters: [mailgun(), twilio(), smtp], retry: false });
  const api = await startApi({ dispatcher: pipe, auth: { jwt: { secret: JWT_SECRET } } });
  running.push(api);
  const mailgunRecord = await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: 'mailgun',
      name: 'Mailgun',
      config: { apiKey: 'key-http-webhooks', domain: 'mg.acme.test', webhookSigningKey: SIGNING_KEY },
    },
    { verify: false },
  );
  const twilioRecord = await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'sms',
      provider: 'twilio',
      name: 'Twilio',
      config: { accountSid: `AC${'a'.repeat(32)}`, authToken: 'twilio-http-token', from: '+14155550100' },
    },
    { verify: false },
  );
  return { api, pipe, mailgunId: mailgunRecord.id, twilioId: twilioRecord.id, smtp };
}

/** A sender and the mock relay as the project's primary email provider. */
async function addRelay(pipe: Dispatcher): Promise<void> {
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add(
    { projectId: PROJECT, channel: 'email', provider: 'relay', name: 'Relay', priority: 0, config: {} },
    { verify: false },
  );
}

function mailgunEvent(key: string, token: string) {
  return JSON.stringify({
    signature: mailgunSignature(key, Math.floor(Date.now() / 1000), token),
    'event-data': {
      id: 'evt-http-1',
      timestamp: Date.now() / 1000,
      event: 'failed',
      severity: 'permanent',
      recipient: 'gus@example.test',
      message: { headers: { 'message-id': 'http-1@mg.acme.test' } },
    },
  });
}

describe('POST /webhooks/{provider}/{providerConfigId}', () => {
  it('takes a verified event without a bearer token, and refuses a wrong signature with 401', async () => {
    const { api, pipe, mailgunId } = await setUp();
    const delivered: string[] = [];
    pipe.on('delivery', (event) => delivered.push(`${event.type} ${event.recipient}`));

    const refused = await api.call('POST', `/webhooks/mailgun/${mailgunId}`, {
      body: mailgunEvent('not-the-signing-key', 'token-0001'),
    });
    expect(refused.status).toBe(401);
    expect(delivered).toEqual([]);

    const accepted = await api.call('POST', `/webhooks/mailgun/${mailgunId}`, {
      body: mailgunEvent(SIGNING_KEY, 'token-0002'),
    });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({ received: 1, duplicates: 0 });
    expect(delivered).toEqual(['bounced gus@example.test']);
    // A hard bounce suppresses the address for the project, across providers.
    const check = await pipe.suppressions.check({
      projectId: PROJECT,
      channel: 'email',
      recipient: 'gus@example.test',
    });
    expect(check).toMatchObject({ recipient: 'gus@example.test', channel: 'email' });
  });

  it('reads form-encoded bodies (Twilio) instead of refusing them as not JSON', async () => {
    const { api, twilioId } = await setUp();
    const response = await fetch(`${api.url}/webhooks/twilio/${twilioId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'bm90LXZhbGlk' },
      body: 'MessageSid=SM123&MessageStatus=delivered&To=%2B14155550111',
    });
    // Verified (and refused) by Twilio's signature scheme, not by the JSON-only rule (415) or the bearer rule.
    expect(response.status).toBe(401);
  });

  it('answers 404 for a provider config of no such provider', async () => {
    const { api, mailgunId } = await setUp();
    const response = await api.call('POST', `/webhooks/sendgrid/${mailgunId}`, { body: '[]' });
    expect(response.status).toBe(404);
  });
});

describe('GET /messages/{id} without a queue', () => {
  it('finds a message sent with an Idempotency-Key in the message log, with its delivery state', async () => {
    const { api, pipe, smtp } = await setUp();
    await addRelay(pipe);
    const bearer = await token({ projects: [PROJECT] });
    const sent = await api.call('POST', `/messages?projectId=${PROJECT}`, {
      token: bearer,
      headers: { 'idempotency-key': 'order-42-receipt' },
      body: { channel: 'email', to: 'ann@example.test', subject: 'Receipt', text: 'Thanks' },
    });
    expect(sent.status).toBe(200);
    expect(smtp.sent).toHaveLength(1);
    const found = await api.call('GET', '/messages/order-42-receipt', { token: bearer });
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({
      id: 'order-42-receipt',
      status: 'sent',
      provider: 'relay',
      messageId: (sent.body as { messageId: string }).messageId,
      delivery: { state: 'sent', events: [] },
    });
    const other = await api.call('GET', '/messages/order-42-receipt?projectId=globex', {
      token: await token({ projects: ['globex'] }),
    });
    expect(other.status).toBe(404);
  });
});

describe('POST /messages and the suppression list', () => {
  it('refuses a suppressed recipient with 422, lists dropped copies, and sends under ?ignoreSuppression=true', async () => {
    const { api, pipe, smtp } = await setUp();
    await addRelay(pipe);
    await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: 'gone@example.test' });
    const bearer = await token({ projects: [PROJECT] });
    const message = { channel: 'email', to: 'gone@example.test', subject: 'Reset', text: 'Your link' };

    const refused = await api.call('POST', `/messages?projectId=${PROJECT}`, {
      token: bearer,
      body: message,
    });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ error: { code: 'RECIPIENT_SUPPRESSED' } });
    expect(smtp.sent).toHaveLength(0);

    const dropped = await api.call('POST', `/messages?projectId=${PROJECT}`, {
      token: bearer,
      body: { ...message, to: 'ann@example.test', cc: 'gone@example.test' },
    });
    expect(dropped.status).toBe(200);
    expect(dropped.body).toMatchObject({ suppressed: ['gone@example.test'] });

    const forced = await api.call('POST', `/messages?projectId=${PROJECT}&ignoreSuppression=true`, {
      token: bearer,
      headers: { 'idempotency-key': 'reset-1' },
      body: message,
    });
    expect(forced.status).toBe(200);
    expect(forced.body).toMatchObject({ suppressionIgnored: ['gone@example.test'] });
    expect(smtp.sent).toHaveLength(2);
    const found = await api.call('GET', '/messages/reset-1', { token: bearer });
    expect(found.body).toMatchObject({ status: 'sent', suppressionIgnored: ['gone@example.test'] });

    // The same key without the override is another request.
    const reused = await api.call('POST', `/messages?projectId=${PROJECT}`, {
      token: bearer,
      headers: { 'idempotency-key': 'reset-1' },
      body: message,
    });
    expect(reused.status).toBe(409);
  });
});
