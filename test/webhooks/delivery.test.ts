import {
  type DeliveryEvent,
  Dispatcher,
  InMemoryMessageLog,
  isMessagePipeError,
  type MessagePipeError,
  type SuppressionRecord,
} from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { twilio } from 'messagepipe/adapters/twilio';
import { afterEach, describe, expect, it } from 'vitest';
import { recordingLogger } from '../adapters/conformance';
import { fakeSecret, useFakeHttpServer } from '../adapters/fake-http-server';
import { mailgunSignature, sendgridHeaders, sendgridKeys, twilioSignature } from './signing';

const sendgridFake = useFakeHttpServer();
const mailgunFake = useFakeHttpServer();
const twilioFake = useFakeHttpServer();
const PROJECT = 'delivery-project';
const keys = sendgridKeys();
const MAILGUN_SIGNING_KEY = fakeSecret('mg-signing-');
const TWILIO_TOKEN = fakeSecret('twilio-');
const ACCOUNT_SID = `AC${'b'.repeat(32)}`;

const pipes: Dispatcher[] = [];
afterEach(async () => {
  for (const pipe of pipes.splice(0)) await pipe.close();
});

async function setUp(
  options: ConstructorParameters<typeof Dispatcher>[0] extends infer O ? Partial<O> : never = {},
) {
  const pipe = new Dispatcher({
    adapters: [sendgrid(), mailgun(), twilio()],
    logger: recordingLogger(),
    retry: false,
    circuitBreaker: false,
    ...options,
  });
  pipes.push(pipe);
  await pipe.senders.set({
    projectId: PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    enabled: true,
  });
  const a = await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'A: SendGrid',
      priority: 1,
      config: {
        apiKey: fakeSecret('SG.'),
        endpoint: sendgridFake.origin,
        webhookPublicKey: keys.publicKeyBase64,
      },
    },
    { verify: false },
  );
  const b = await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: 'mailgun',
      name: 'B: Mailgun',
      priority: 2,
      config: {
        apiKey: fakeSecret('key-'),
        domain: 'mg.acme.test',
        endpoint: mailgunFake.origin,
        webhookSigningKey: MAILGUN_SIGNING_KEY,
      },
    },
    { verify: false },
  );
  sendgridFake.route('POST', '/v3/mail/send', {
    status: 202,
    headers: { 'x-message-id': 'Gh-6Am_9Rz-s5TMd5OJ2BQ' },
  });
  let mailgunSequence = 0;
  mailgunFake.route('POST', '/v3/mg.acme.test/messages', () => ({
    status: 200,
    json: { id: `<20261202.${++mailgunSequence}@mg.acme.test>`, message: 'Queued. Thank you.' },
  }));
  return { pipe, a: a.id, b: b.id };
}

function sendgridPost(pipe: Dispatcher, providerConfigId: string, events: object[]) {
  const body = JSON.stringify(events);
  return pipe.webhooks.handle({
    provider: 'sendgrid',
    providerConfigId,
    headers: sendgridHeaders(keys.privateKey, body, String(Math.floor(Date.now() / 1000))),
    rawBody: body,
    url: `https://hooks.acme.test/webhooks/sendgrid/${providerConfigId}`,
  });
}

const bounceOf = (email: string, extra: object = {}) => ({
  email,
  timestamp: 1764648020,
  event: 'bounce',
  type: 'bounce',
  reason: '550 5.1.1 unknown user',
  sg_event_id: `ev-${Math.random()}`,
  sg_message_id: 'Gh-6Am_9Rz-s5TMd5OJ2BQ.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0',
  ...extra,
});

async function refusal(promise: Promise<unknown>): Promise<MessagePipeError> {
  try {
    await promise;
  } catch (error) {
    if (isMessagePipeError(error)) return error;
    throw error;
  }
  throw new Error('expected the send to be refused');
}

describe('a bounce learnt at provider A stops the next send through provider B', () => {
  it('refuses before B is called, and sends again once the address is removed', async () => {
    const { pipe, a, b } = await setUp();
    const first = await pipe.send({
      projectId: PROJECT,
      channel: 'email',
      to: 'Ann@Example.test',
      subject: 'Hi',
      text: 'x',
    });
    expect(first).toMatchObject({ provider: 'sendgrid', messageId: 'Gh-6Am_9Rz-s5TMd5OJ2BQ' });

    const hook = await sendgridPost(pipe, a, [bounceOf('ann@example.test')]);
    expect(hook.status).toBe(200);
    expect(hook.events[0]).toMatchObject({
      type: 'bounced',
      bounceClass: 'hard',
      idempotencyKey: first.idempotencyKey,
    });

    // B becomes the primary; A is switched off altogether.
    await pipe.providers.update({ projectId: PROJECT, id: b }, { priority: 0 }, { verify: false });
    await pipe.providers.update({ projectId: PROJECT, id: a }, { enabled: false }, { verify: false });
    sendgridFake.reset();
    mailgunFake.reset();

    const error = await refusal(
      pipe.send({
        projectId: PROJECT,
        channel: 'email',
        to: 'ann@EXAMPLE.test',
        subject: 'Again',
        text: 'x',
      }),
    );
    expect(error.code).toBe('RECIPIENT_SUPPRESSED');
    expect(error.issues).toEqual([{ path: ['to', 0], message: 'The recipient is on the suppression list' }]);
    expect(error.attempts).toBeUndefined();
    expect(mailgunFake.requests).toHaveLength(0);
    expect(sendgridFake.requests).toHaveLength(0);

    const entry = await pipe.suppressions.check({
      projectId: PROJECT,
      channel: 'email',
      recipient: 'ANN@example.test',
    });
    expect(entry).toMatchObject({
      reason: 'bounced',
      source: 'event',
      provider: 'sendgrid',
      providerConfigId: a,
    });

    expect(
      await pipe.suppressions.remove({ projectId: PROJECT, channel: 'email', recipient: 'ann@example.test' }),
    ).toBe(true);
    mailgunFake.route('POST', '/v3/mg.acme.test/messages', {
      status: 200,
      json: { id: '<after@mg.acme.test>', message: 'Queued' },
    });
    const after = await pipe.send({
      projectId: PROJECT,
      channel: 'email',
      to: 'ann@example.test',
      subject: 'Again',
      text: 'x',
    });
    expect(after).toMatchObject({ provider: 'mailgun', messageId: 'after@mg.acme.test' });
    expect(mailgunFake.requests).toHaveLength(1);
  });

  it('drops suppressed copies from a message with several recipients and lists them on the result', async () => {
    const { pipe } = await setUp();
    await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: 'Bob@Example.test' });
    await pipe.suppressions.add({ projectId: PROJECT, channel: 'email', recipient: 'cy@example.test' });
    const result = await pipe.send({
      projectId: PROJECT,
      channel: 'email',
      to: ['ann@example.test', 'bob@example.test'],
      cc: 'Cy <CY@example.test>',
      bcc: 'dee@example.test',
      subject: 'Hi',
      text: 'x',
    });
    expect(result.suppressed).toEqual(['bob@example.test', 'cy@example.test']);
    const sent = sendgridFake.requests[0]!.json<{
      personalizations: Array<Record<string, Array<{ email: string }>>>;
    }>();
    const personalization = sent.personalizations[0]!;
    expect(personalization.to!.map((address) => address.email)).toEqual(['ann@example.test']);
    expect(personalization.cc).toBeUndefined();
    expect(personalization.bcc!.map((address) => address.email)).toEqual(['dee@example.test']);

    // Every primary recipient suppressed: refused, although a copy would remain.
    sendgridFake.reset();
    const error = await refusal(
      pipe.send({
        projectId: PROJECT,
        channel: 'email',
        to: 'bob@example.test',
        cc: 'dee@example.test',
        subject: 'Hi',
        text: 'x',
      }),
    );
    expect(error.code).toBe('RECIPIENT_SUPPRESSED');
    expect(sendgridFake.requests).toHaveLength(0);
  });

  it('sends anyway under ignoreSuppression, and records the override', async () => {
    const { pipe } = await setUp();
    await pipe.suppressions.add({
      projectId: PROJECT,
      channel: 'email',
      recipient: 'ann@example.test',
      reason: 'bounced',
    });
    const result = await pipe.send(
      {
        projectId: PROJECT,
        channel: 'email',
        to: 'ann@example.test',
        subject: 'Reset your password',
        text: 'x',
      },
      { ignoreSuppression: true, idempotencyKey: 'password-reset-1' },
    );
    expect(result.suppressionIgnored).toEqual(['ann@example.test']);
    expect(sendgridFake.requests).toHaveLength(1);
    const view = await pipe.messages.get({ projectId: PROJECT, idempotencyKey: 'password-reset-1' });
    expect(view.send).toMatchObject({
      suppressionIgnored: ['ann@example.test'],
      recipients: ['ann@example.test'],
    });
  });

  it('suppresses SMS opt-outs reported by Twilio for every SMS provider, comparing E.164', async () => {
    const { pipe } = await setUp();
    const sms = await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'sms',
        provider: 'twilio',
        name: 'Twilio',
        config: {
          accountSid: ACCOUNT_SID,
          authToken: TWILIO_TOKEN,
          from: '+14155550100',
          endpoint: twilioFake.origin,
        },
      },
      { verify: false },
    );
    const url = `https://hooks.acme.test/webhooks/twilio/${sms.id}`;
    // An inbound STOP reply under Advanced Opt-Out.
    const params = {
      MessageSid: 'SMinbound',
      From: '+15558675310',
      To: '+14155550100',
      Body: 'STOP',
      OptOutType: 'STOP',
    };
    const result = await pipe.webhooks.handle({
      provider: 'twilio',
      providerConfigId: sms.id,
      headers: { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, url, params) },
      rawBody: new URLSearchParams(params).toString(),
      url,
    });
    expect(result.events[0]).toMatchObject({ type: 'unsubscribed', recipient: '+15558675310' });
    const error = await refusal(
      pipe.send({ projectId: PROJECT, channel: 'sms', to: '+15558675310', body: 'Hi' }),
    );
    expect(error.code).toBe('RECIPIENT_SUPPRESSED');
    expect(twilioFake.requests).toHaveLength(0);
  });

  it('never suppresses on a soft bounce by default; a policy can say otherwise', async () => {
    const { pipe, a } = await setUp();
    await sendgridPost(pipe, a, [bounceOf('soft@example.test', { type: 'blocked' })]);
    expect(
      await pipe.suppressions.check({ projectId: PROJECT, channel: 'email', recipient: 'soft@example.test' }),
    ).toBeUndefined();

    const strict = await setUp({ suppression: { autoSuppress: { bounced: 'all', complained: false } } });
    await sendgridPost(strict.pipe, strict.a, [
      bounceOf('soft@example.test', { type: 'blocked' }),
      { email: 'spam@example.test', timestamp: 1764648030, event: 'spamreport', sg_message_id: 'x.filter1' },
    ]);
    const list = await strict.pipe.suppressions.list({ projectId: PROJECT });
    expect(list.items.map((item) => item.recipient)).toEqual(['soft@example.test']);
  });
});

describe('duplicates and correlation', () => {
  it('fires each event once when the same SendGrid batch arrives three times with new sg_event_ids', async () => {
    const { pipe, a } = await setUp();
    const seen: DeliveryEvent[] = [];
    pipe.on('delivery', (event) => seen.push(event));
    const batch = (attempt: number) => [
      {
        email: 'ann@example.test',
        timestamp: 1764648000,
        event: 'processed',
        sg_event_id: `p-${attempt}`,
        sg_message_id: 'm1.filter1',
      },
      {
        email: 'ann@example.test',
        timestamp: 1764648005,
        event: 'delivered',
        sg_event_id: `d-${attempt}`,
        sg_message_id: 'm1.filter1',
      },
      {
        email: 'ann@example.test',
        timestamp: 1764648100,
        event: 'open',
        sg_event_id: `o-${attempt}`,
        sg_message_id: 'm1.filter1',
      },
    ];
    const results = [];
    for (const attempt of [1, 2, 3]) results.push(await sendgridPost(pipe, a, batch(attempt)));
    expect(results.map((result) => [result.status, result.events.length, result.duplicates])).toEqual([
      [200, 3, 0],
      [200, 0, 3],
      [200, 0, 3],
    ]);
    expect(seen.map((event) => [event.type, event.providerEventId])).toEqual([
      ['accepted', 'p-1'],
      ['delivered', 'd-1'],
      ['opened', 'o-1'],
    ]);
    // Two genuinely different events at the same second stay apart.
    const second = await sendgridPost(pipe, a, [
      {
        email: 'ann@example.test',
        timestamp: 1764648100,
        event: 'click',
        sg_event_id: 'c-1',
        sg_message_id: 'm1.filter1',
      },
    ]);
    expect(second.events).toHaveLength(1);
  });

  it('applies a bounce on the provider retry when the suppression write failed the first time', async () => {
    // The log fails the first suppression write, as a database that drops a connection would.
    class FlakyLog extends InMemoryMessageLog {
      failures = 1;
      override async putSuppression(record: SuppressionRecord): Promise<void> {
        if (this.failures-- > 0) throw new Error('connection reset');
        return super.putSuppression(record);
      }
    }
    const { pipe, a } = await setUp({ messageLog: new FlakyLog() });
    const seen: DeliveryEvent[] = [];
    pipe.on('delivery', (event) => seen.push(event));
    const bounce = bounceOf('gone@example.test');
    await expect(sendgridPost(pipe, a, [bounce])).rejects.toThrow();
    expect(seen).toEqual([]);

    // The provider posts the same event again; it is new to us, since nothing of it was kept.
    const retry = await sendgridPost(pipe, a, [bounce]);
    expect(retry).toMatchObject({ status: 200, duplicates: 0 });
    expect(seen.map((event) => event.type)).toEqual(['bounced']);
    expect(
      await pipe.suppressions.check({ projectId: PROJECT, channel: 'email', recipient: 'gone@example.test' }),
    ).toMatchObject({ reason: 'bounced' });
    expect(await sendgridPost(pipe, a, [bounce])).toMatchObject({ events: [], duplicates: 1 });
    expect(seen).toHaveLength(1);
  });

  it('fires once for the same bounce posted twice at the same moment', async () => {
    const { pipe, a } = await setUp();
    const seen: DeliveryEvent[] = [];
    pipe.on('delivery', (event) => seen.push(event));
    const bounce = bounceOf('twice@example.test');
    const results = await Promise.all([sendgridPost(pipe, a, [bounce]), sendgridPost(pipe, a, [bounce])]);
    expect(results.map((result) => [result.events.length, result.duplicates]).sort()).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(seen).toHaveLength(1);
    expect(
      await pipe.suppressions.check({
        projectId: PROJECT,
        channel: 'email',
        recipient: 'twice@example.test',
      }),
    ).toMatchObject({ reason: 'bounced' });
  });

  it('does not put back a suppression removed by hand when a bounce is delivered again', async () => {
    const { pipe, a } = await setUp();
    const bounce = bounceOf('back@example.test');
    await sendgridPost(pipe, a, [bounce]);
    const address = { projectId: PROJECT, channel: 'email', recipient: 'back@example.test' } as const;
    expect(await pipe.suppressions.remove(address)).toBe(true);
    expect(await sendgridPost(pipe, a, [bounce])).toMatchObject({ events: [], duplicates: 1 });
    expect(await pipe.suppressions.check(address)).toBeUndefined();
  });

  it('keeps events that arrive before their send and matches them when the send lands', async () => {
    const { pipe, b } = await setUp();
    await pipe.providers.update({ projectId: PROJECT, id: b }, { priority: 0 }, { verify: false });
    const token = `token-${Math.random()}`;
    const timestamp = Math.floor(Date.now() / 1000);
    // Mailgun's delivered event for the first message B will send, before the send is recorded.
    const early = await pipe.webhooks.handle({
      provider: 'mailgun',
      providerConfigId: b,
      headers: {},
      rawBody: JSON.stringify({
        signature: mailgunSignature(MAILGUN_SIGNING_KEY, timestamp, token),
        'event-data': {
          id: 'early-1',
          event: 'delivered',
          timestamp: timestamp + 0.5,
          recipient: 'ann@example.test',
          message: { headers: { 'message-id': '20261202.1@mg.acme.test' } },
        },
      }),
      url: 'https://hooks.acme.test/x',
    });
    expect(early.events[0]).toMatchObject({ type: 'delivered', messageId: '20261202.1@mg.acme.test' });
    expect(early.events[0]!.idempotencyKey).toBeUndefined();

    const sent = await pipe.send(
      { projectId: PROJECT, channel: 'email', to: 'ann@example.test', subject: 'Hi', text: 'x' },
      { idempotencyKey: 'order-42' },
    );
    expect(sent).toMatchObject({ provider: 'mailgun', messageId: '20261202.1@mg.acme.test' });
    const view = await pipe.messages.get({ projectId: PROJECT, idempotencyKey: 'order-42' });
    expect(view.state).toBe('delivered');
    expect(view.send).toMatchObject({
      provider: 'mailgun',
      providerConfigId: b,
      recipients: ['ann@example.test'],
    });
    expect(view.events.map((event) => [event.type, event.idempotencyKey])).toEqual([
      ['delivered', 'order-42'],
    ]);
    const byId = await pipe.messages.get({ projectId: PROJECT, messageId: '<20261202.1@mg.acme.test>' });
    expect(byId.send?.idempotencyKey).toBe('order-42');
    await expect(
      pipe.messages.get({ projectId: 'another-project', idempotencyKey: 'order-42' }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('gives a message its events in order and its current state', async () => {
    const { pipe, a } = await setUp();
    const sent = await pipe.send({
      projectId: PROJECT,
      channel: 'email',
      to: 'ann@example.test',
      subject: 'Hi',
      text: 'x',
    });
    expect((await pipe.messages.get({ projectId: PROJECT, messageId: sent.messageId })).state).toBe('sent');
    const id = `${sent.messageId}.filterdrecv-1`;
    await sendgridPost(pipe, a, [
      { email: 'ann@example.test', timestamp: 1764648300, event: 'open', sg_message_id: id },
      { email: 'ann@example.test', timestamp: 1764648000, event: 'processed', sg_message_id: id },
      { email: 'ann@example.test', timestamp: 1764648100, event: 'deferred', sg_message_id: id },
    ]);
    let view = await pipe.messages.get({ projectId: PROJECT, idempotencyKey: sent.idempotencyKey });
    expect(view.events.map((event) => event.type)).toEqual(['accepted', 'deferred', 'opened']);
    expect(view.state).toBe('delivered');
    await sendgridPost(pipe, a, [
      { email: 'ann@example.test', timestamp: 1764648400, event: 'spamreport', sg_message_id: id },
    ]);
    view = await pipe.messages.get({ projectId: PROJECT, idempotencyKey: sent.idempotencyKey });
    expect(view.state).toBe('complained');
  });
});

describe('without a message log', () => {
  it('still verifies webhooks, and says the list is not available', async () => {
    const { pipe, a } = await setUp({ messageLog: false });
    const result = await sendgridPost(pipe, a, [bounceOf('ann@example.test')]);
    expect(result.status).toBe(200);
    expect(result.events).toHaveLength(1);
    await expect(pipe.suppressions.list({ projectId: PROJECT })).rejects.toMatchObject({
      code: 'NOT_SUPPORTED',
    });
    expect(
      (
        await pipe.send({
          projectId: PROJECT,
          channel: 'email',
          to: 'ann@example.test',
          subject: 'Hi',
          text: 'x',
        })
      ).provider,
    ).toBe('sendgrid');
  });
});

describe('with the suppression check off (suppression: false)', () => {
  it('sends to a listed recipient, suppresses nobody on a bounce, and still correlates events', async () => {
    const { pipe, a } = await setUp({ suppression: false });
    await pipe.suppressions.add({
      projectId: PROJECT,
      channel: 'email',
      recipient: 'ann@example.test',
      reason: 'manual',
    });
    const result = await pipe.send(
      { projectId: PROJECT, channel: 'email', to: 'Ann@Example.test', subject: 'Hi', text: 'x' },
      { idempotencyKey: 'check-off-1' },
    );
    expect(result.provider).toBe('sendgrid');
    expect(result.suppressed).toBeUndefined();
    expect(result.suppressionIgnored).toBeUndefined();
    expect(sendgridFake.requests).toHaveLength(1);

    await sendgridPost(pipe, a, [bounceOf('bob@example.test')]);
    expect(
      await pipe.suppressions.check({ projectId: PROJECT, channel: 'email', recipient: 'bob@example.test' }),
    ).toBeUndefined();
    // The list itself is kept: the app can read it.
    expect(
      await pipe.suppressions.check({ projectId: PROJECT, channel: 'email', recipient: 'ann@example.test' }),
    ).toMatchObject({ reason: 'manual' });

    const view = await pipe.messages.get({ projectId: PROJECT, idempotencyKey: 'check-off-1' });
    expect(view.send).toMatchObject({ provider: 'sendgrid', recipients: ['ann@example.test'] });
    expect(view.events.map((event) => event.type)).toEqual(['bounced']);
  });
});
