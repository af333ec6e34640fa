import type { DeliveryEvent, Dispatcher, WebhookResult } from 'messagepipe';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useFakeHttpServer } from '../adapters/fake-http-server';
import { sampleConfigs, sampleSecrets } from '../helpers';
import { CERT_URL, PROJECT, SES_TOPIC, SMS_TOPIC, webhookDispatcher, webhookSecrets } from './setup';
import {
  basicAuth,
  mailgunSignature,
  sendgridHeaders,
  sendgridKeys,
  sha256Hex,
  snsCertificate,
  snsMessage,
  termiiSignature,
  twilioSignature,
} from './signing';

// The real clock: the test certificate is valid from the moment it is made.
const NOW = Date.now();
const NOW_S = Math.floor(NOW / 1000);

const fake = useFakeHttpServer();
const sendgrid = sendgridKeys();
const certificate = snsCertificate();

/** The injected fetch: sns.*.amazonaws.com URLs are served by the fake on 127.0.0.1, nothing else is reachable. */
const fetched: string[] = [];
const snsFetch: typeof fetch = async (input, init) => {
  const url = String(input instanceof Request ? input.url : input);
  fetched.push(url);
  const parsed = new URL(url);
  if (!parsed.hostname.endsWith('.amazonaws.com')) throw new Error(`test fetch refuses ${url}`);
  return fetch(`${fake.origin}${parsed.pathname}${parsed.search}`, init);
};

let pipe: Dispatcher;
let ids: Awaited<ReturnType<typeof webhookDispatcher>>['ids'];
let delivered: DeliveryEvent[];

beforeAll(async () => {
  ({ pipe, ids } = await webhookDispatcher({
    sendgridPublicKey: sendgrid.publicKeyBase64,
    postmarkIps: ['127.0.0.1', '3.134.147.0/24'],
    webhooks: { fetch: snsFetch, now: () => NOW },
  }));
  pipe.on('delivery', (event) => delivered.push(event));
});

beforeEach(() => {
  delivered = [];
  fetched.length = 0;
  fake.route('GET', /\.pem$/, { status: 200, body: certificate.certificatePem });
});

function post(
  provider: keyof typeof ids,
  body: string,
  headers: Record<string, string>,
  extra: { url?: string; remoteAddress?: string } = {},
): Promise<WebhookResult> {
  return pipe.webhooks.handle({
    provider,
    providerConfigId: ids[provider],
    headers,
    rawBody: Buffer.from(body),
    url: extra.url ?? `https://hooks.acme.test/webhooks/${provider}/${ids[provider]}`,
    ...(extra.remoteAddress ? { remoteAddress: extra.remoteAddress } : {}),
  });
}

function flipByte(text: string, at = Math.floor(text.length / 2)): string {
  const bytes = Buffer.from(text);
  bytes[at] = bytes[at]! ^ 0x01;
  return bytes.toString('latin1');
}

function expectRefused(result: WebhookResult, status = 401): void {
  expect(result.status).toBe(status);
  expect(result.events).toEqual([]);
  expect(delivered).toEqual([]);
}

// After the example batch of https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
const sendgridBatch = [
  {
    email: 'Ann@Example.test',
    timestamp: 1764648000,
    'smtp-id': '<14c5d75ce93.dfd.64b469@ismtpd-555>',
    event: 'processed',
    category: ['cat facts'],
    sg_event_id: 'rbtnWrG1DVDGGGFHFyun0A==',
    sg_message_id: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000',
  },
  {
    email: 'ann@example.test',
    timestamp: 1764648010,
    event: 'delivered',
    response: '250 OK',
    sg_event_id: 'rWVYmVk90MjZJ9iohOBa3w==',
    sg_message_id: '14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000',
  },
  {
    email: 'bob@example.test',
    timestamp: 1764648020,
    event: 'bounce',
    type: 'bounce',
    reason: '500 unknown recipient',
    status: '5.0.0',
    sg_event_id: '6g4ZI7SA-xmRDv57GoPIPw==',
    sg_message_id: 'Gh-6Am_9Rz-s5TMd5OJ2BQ.recvd-5f5c4b9c6-xw2pj-1-5F5FC76C-9.0',
  },
  {
    email: 'cy@example.test',
    timestamp: 1764648030,
    event: 'bounce',
    type: 'blocked',
    reason: '421 try later',
    sg_event_id: 'blocked-event-0001',
    sg_message_id: 'Gh-6Am_9Rz-s5TMd5OJ2BQ.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0',
  },
  {
    email: 'dee@example.test',
    timestamp: 1764648040,
    event: 'spamreport',
    sg_event_id: 'spam-1',
    sg_message_id: 'm2.filter1',
  },
  {
    email: 'eve@example.test',
    timestamp: 1764648050,
    event: 'group_resubscribe',
    sg_event_id: 'gr-1',
    sg_message_id: 'm3.filter1',
  },
  {
    email: 'fay@example.test',
    timestamp: 1764648060,
    event: 'brand_new_event',
    sg_event_id: 'new-1',
    sg_message_id: 'm4.filter1',
  },
];

describe('SendGrid: ECDSA over timestamp + raw body', () => {
  // Whitespace a re-serialiser would drop: the signature is over these bytes.
  const body = JSON.stringify(sendgridBatch, null, 1);
  const timestamp = String(NOW_S);

  it('accepts a signed batch and normalises every event, unknown ones included', async () => {
    const result = await post('sendgrid', body, sendgridHeaders(sendgrid.privateKey, body, timestamp));
    expect(result.status).toBe(200);
    expect(
      result.events.map((event) => [event.type, event.recipient, event.messageId, event.bounceClass]),
    ).toEqual([
      ['accepted', 'ann@example.test', '14c5d75ce93.dfd.64b469', undefined],
      ['delivered', 'ann@example.test', '14c5d75ce93.dfd.64b469', undefined],
      ['bounced', 'bob@example.test', 'Gh-6Am_9Rz-s5TMd5OJ2BQ', 'hard'],
      ['bounced', 'cy@example.test', 'Gh-6Am_9Rz-s5TMd5OJ2BQ', 'soft'],
      ['complained', 'dee@example.test', 'm2', undefined],
      ['unknown', 'eve@example.test', 'm3', undefined],
      ['unknown', 'fay@example.test', 'm4', undefined],
    ]);
    const bounce = result.events[2]!;
    expect(bounce).toMatchObject({
      provider: 'sendgrid',
      providerConfigId: ids.sendgrid,
      projectId: PROJECT,
      channel: 'email',
      status: 'bounce',
      reason: '500 unknown recipient',
      providerEventId: '6g4ZI7SA-xmRDv57GoPIPw==',
      at: '2025-12-02T04:00:20.000Z',
    });
    expect(bounce.raw).toEqual(sendgridBatch[2]);
    expect(delivered).toHaveLength(7);
  });

  it('refuses a flipped byte, a wrong key, a changed timestamp and missing headers', async () => {
    const headers = sendgridHeaders(sendgrid.privateKey, body, timestamp);
    expectRefused(await post('sendgrid', flipByte(body), headers));
    expectRefused(await post('sendgrid', body, sendgridHeaders(sendgridKeys().privateKey, body, timestamp)));
    expectRefused(
      await post('sendgrid', body, {
        ...headers,
        'X-Twilio-Email-Event-Webhook-Timestamp': String(NOW_S - 3600),
      }),
    );
    expectRefused(await post('sendgrid', body, { 'content-type': 'application/json' }));
    // Re-serialised JSON is not what was signed.
    expectRefused(await post('sendgrid', JSON.stringify(sendgridBatch), headers));
  });

  it('answers 400 for a signed body that is not an event array', async () => {
    const bad = '{"not":"an array"}';
    expectRefused(await post('sendgrid', bad, sendgridHeaders(sendgrid.privateKey, bad, timestamp)), 400);
  });
});

// After https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-structure
function mailgunBody(
  token: string,
  timestamp = NOW_S,
  key = webhookSecrets.mailgun,
  event: Record<string, unknown> = {},
) {
  return JSON.stringify({
    signature: mailgunSignature(key, timestamp, token),
    'event-data': {
      id: 'CPgfbmQMTCKtHW6uIWtuVe',
      timestamp: 1764648000.123,
      event: 'failed',
      severity: 'permanent',
      reason: 'bounce',
      recipient: 'Gus@Example.test',
      'delivery-status': {
        code: 550,
        message: '5.1.1 The email account does not exist',
        description: 'No such user',
      },
      message: { headers: { 'message-id': '20261202040000.1.ABCDEF@mg.acme.test', to: 'gus@example.test' } },
      ...event,
    },
  });
}

describe('Mailgun: HMAC-SHA256 of timestamp + token, replay cache, time window', () => {
  it('accepts a signed event and normalises it', async () => {
    const result = await post('mailgun', mailgunBody('token-valid-0001'), {
      'content-type': 'application/json',
    });
    expect(result.status).toBe(200);
    expect(result.events).toHaveLength(1);
    expect(result.events[0]).toMatchObject({
      type: 'bounced',
      bounceClass: 'hard',
      status: 'failed:permanent',
      recipient: 'gus@example.test',
      messageId: '20261202040000.1.ABCDEF@mg.acme.test',
      reason: 'No such user',
      providerEventId: 'CPgfbmQMTCKtHW6uIWtuVe',
      at: '2025-12-02T04:00:00.123Z',
    });
    expect(result.events[0]!.raw).not.toHaveProperty('signature');
  });

  it('maps temporary failures to deferred and suppress-* failures to dropped', async () => {
    const temporary = await post(
      'mailgun',
      mailgunBody('token-temp', NOW_S, undefined, { severity: 'temporary' }),
      {},
    );
    expect(temporary.events[0]).toMatchObject({ type: 'deferred', bounceClass: 'soft' });
    const dropped = await post(
      'mailgun',
      mailgunBody('token-drop', NOW_S, undefined, { reason: 'suppress-bounce' }),
      {},
    );
    expect(dropped.events[0]).toMatchObject({ type: 'dropped' });
  });

  it('refuses a replayed token, a stale timestamp, a wrong key and a flipped signature', async () => {
    expect((await post('mailgun', mailgunBody('token-replay'), {})).status).toBe(200);
    delivered = [];
    expectRefused(await post('mailgun', mailgunBody('token-replay'), {}));
    expectRefused(await post('mailgun', mailgunBody('token-stale', NOW_S - 6 * 60), {}));
    expectRefused(await post('mailgun', mailgunBody('token-future', NOW_S + 6 * 60), {}));
    expectRefused(await post('mailgun', mailgunBody('token-wrong-key', NOW_S, 'another-key'), {}));
    const flipped = JSON.parse(mailgunBody('token-flipped'));
    flipped.signature.signature = flipByte(flipped.signature.signature, 3);
    expectRefused(await post('mailgun', JSON.stringify(flipped), {}));
    // The refused requests did not burn their tokens: the genuine one still goes through.
    expect((await post('mailgun', mailgunBody('token-flipped'), {})).status).toBe(200);
  });

  it('answers 400 for a body that is not JSON', async () => {
    expectRefused(await post('mailgun', 'timestamp=1&token=2', {}), 400);
  });
});

// After https://postmarkapp.com/developer/webhooks/bounce-webhook
const postmarkBounce = JSON.stringify({
  RecordType: 'Bounce',
  MessageStream: 'outbound',
  ID: 4323372036854775,
  Type: 'HardBounce',
  TypeCode: 1,
  Name: 'Hard bounce',
  Tag: 'Test',
  MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
  ServerID: 23,
  Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
  Details: 'Test bounce details',
  Email: 'john@example.com',
  From: 'sender@example.com',
  BouncedAt: '2026-12-02T04:00:00Z',
  DumpAvailable: true,
  Inactive: true,
  CanActivate: true,
  Subject: 'Test subject',
});

describe('Postmark: basic auth in constant time, IP allow-list', () => {
  const auth = () => ({
    authorization: basicAuth(webhookSecrets.postmarkUser, webhookSecrets.postmarkPassword),
  });

  it('accepts the right credentials from an allowed address and normalises the bounce', async () => {
    const result = await post('postmark', postmarkBounce, auth(), { remoteAddress: '::ffff:127.0.0.1' });
    expect(result.status).toBe(200);
    expect(result.events[0]).toMatchObject({
      type: 'bounced',
      bounceClass: 'hard',
      status: 'Bounce:HardBounce',
      recipient: 'john@example.com',
      messageId: '883953f4-6105-42a2-a16a-77a8eac79483',
      at: '2026-12-02T04:00:00.000Z',
    });
    const soft = postmarkBounce.replace('HardBounce', 'SoftBounce').replace('04:00:00Z', '04:05:00Z');
    const cidr = await post('postmark', soft, auth(), { remoteAddress: '3.134.147.250' });
    expect(cidr.events[0]).toMatchObject({ type: 'bounced', bounceClass: 'soft' });
  });

  it('refuses a wrong password, a wrong user, no credentials, and an address off the list', async () => {
    const remoteAddress = '127.0.0.1';
    expectRefused(
      await post(
        'postmark',
        postmarkBounce,
        { authorization: basicAuth(webhookSecrets.postmarkUser, 'nope') },
        { remoteAddress },
      ),
    );
    expectRefused(
      await post(
        'postmark',
        postmarkBounce,
        { authorization: basicAuth('someone', webhookSecrets.postmarkPassword) },
        { remoteAddress },
      ),
    );
    expectRefused(await post('postmark', postmarkBounce, {}, { remoteAddress }));
    expectRefused(await post('postmark', postmarkBounce, auth(), { remoteAddress: '10.0.0.1' }));
    expectRefused(await post('postmark', postmarkBounce, auth()));
  });
});

// After https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
const twilioParams = {
  AccountSid: sampleConfigs.twilio.accountSid,
  ApiVersion: '2010-04-01',
  From: '+14155550100',
  MessageSid: 'SM1342fe1b2c904d1ab04f0fc7a58abca9',
  MessageStatus: 'undelivered',
  SmsSid: 'SM1342fe1b2c904d1ab04f0fc7a58abca9',
  SmsStatus: 'undelivered',
  To: '+15558675310',
  ErrorCode: '30003',
};

describe('Twilio: HMAC-SHA1 over the public URL and sorted params', () => {
  const publicUrl = () => `https://hooks.acme.test/webhooks/twilio/${ids.twilio}?tenant=a`;
  const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
  const headers = (signature: string) => ({
    'content-type': 'application/x-www-form-urlencoded',
    'X-Twilio-Signature': signature,
  });

  it('accepts a signed status callback and normalises it', async () => {
    const signature = twilioSignature(sampleConfigs.twilio.authToken, publicUrl(), twilioParams);
    const result = await post('twilio', form(twilioParams), headers(signature), { url: publicUrl() });
    expect(result.status).toBe(200);
    expect(result.events[0]).toMatchObject({
      type: 'undelivered',
      bounceClass: 'soft',
      channel: 'sms',
      recipient: '+15558675310',
      messageId: 'SM1342fe1b2c904d1ab04f0fc7a58abca9',
      reason: 'Twilio error 30003',
    });
  });

  it('accepts the URL with the default port, as twilio-node does', async () => {
    const signature = twilioSignature(sampleConfigs.twilio.authToken, publicUrl(), twilioParams);
    const withPort = publicUrl().replace('hooks.acme.test', 'hooks.acme.test:443');
    expect((await post('twilio', form(twilioParams), headers(signature), { url: withPort })).status).toBe(
      200,
    );
  });

  it('maps error 21610 (the number replied STOP) to unsubscribed', async () => {
    const params = { ...twilioParams, MessageStatus: 'failed', ErrorCode: '21610', To: '+15558675311' };
    const signature = twilioSignature(sampleConfigs.twilio.authToken, publicUrl(), params);
    const result = await post('twilio', form(params), headers(signature), { url: publicUrl() });
    expect(result.events[0]).toMatchObject({ type: 'unsubscribed', recipient: '+15558675311' });
    expect(
      await pipe.suppressions.check({ projectId: PROJECT, channel: 'sms', recipient: '+1 555 867 5311' }),
    ).toMatchObject({
      reason: 'unsubscribed',
      source: 'event',
    });
  });

  it('refuses a flipped byte, a wrong token, and a URL rewritten by a proxy unless webhookUrl says so', async () => {
    const signature = twilioSignature(sampleConfigs.twilio.authToken, publicUrl(), twilioParams);
    expectRefused(
      await post('twilio', flipByte(form(twilioParams)), headers(signature), { url: publicUrl() }),
    );
    const wrong = twilioSignature('another-token', publicUrl(), twilioParams);
    expectRefused(await post('twilio', form(twilioParams), headers(wrong), { url: publicUrl() }));
    const internal = `http://10.0.0.7:8080/webhooks/twilio/${ids.twilio}?tenant=a`;
    expectRefused(await post('twilio', form(twilioParams), headers(signature), { url: internal }));
    await pipe.providers.update(
      { projectId: PROJECT, id: ids.twilio },
      {
        config: {
          ...sampleConfigs.twilio,
          webhookUrl: `https://hooks.acme.test/webhooks/twilio/${ids.twilio}`,
        },
      },
      { verify: false },
    );
    try {
      expect((await post('twilio', form(twilioParams), headers(signature), { url: internal })).status).toBe(
        200,
      );
    } finally {
      await pipe.providers.update(
        { projectId: PROJECT, id: ids.twilio },
        { config: sampleConfigs.twilio },
        { verify: false },
      );
    }
  });

  it('checks JSON bodies against bodySHA256', async () => {
    const body = JSON.stringify({ MessageSid: 'SMjson', MessageStatus: 'delivered', To: '+15558675312' });
    const url = `https://hooks.acme.test/webhooks/twilio/${ids.twilio}?bodySHA256=${sha256Hex(body)}`;
    const signature = twilioSignature(sampleConfigs.twilio.authToken, url, {});
    const json = { 'content-type': 'application/json', 'X-Twilio-Signature': signature };
    const result = await post('twilio', body, json, { url });
    expect(result.status).toBe(200);
    expect(result.events[0]).toMatchObject({ type: 'delivered', messageId: 'SMjson' });
    delivered = [];
    expectRefused(await post('twilio', body.replace('delivered', 'failed'), json, { url }));
  });
});

// After https://developer.termii.com/events-and-reports
const termiiReport = JSON.stringify({
  type: 'sms',
  id: '1ed7a8b4-7b2c-4a9c-9a51-6f1c1f0a2a11',
  message_id: 'MESSAGE_ID',
  receiver: '2348753243651',
  sender: 'Acme',
  message: 'Hello',
  sent_at: '2026-12-02 04:00:00',
  cost: '2.50',
  status: 'DND Active on Phone Number',
  channel: 'generic',
  // Termii sends the id as a JSON number longer than a double holds.
}).replace('"MESSAGE_ID"', '3017544054459493131');

describe('Termii: HMAC-SHA512 of the raw body', () => {
  it('accepts a signed report and normalises it', async () => {
    const result = await post('termii', termiiReport, {
      'X-Termii-Signature': termiiSignature(webhookSecrets.termii, termiiReport),
    });
    expect(result.status).toBe(200);
    expect(result.events[0]).toMatchObject({
      type: 'undelivered',
      recipient: '+2348753243651',
      messageId: '3017544054459493131',
      at: '2026-12-02T04:00:00.000Z',
      reason: 'DND Active on Phone Number',
    });
  });

  it('reads a status in either documented form: `Delivered`, or `DELIVERED | Message delivered to handset`', async () => {
    for (const [status, type] of [
      ['DELIVERED | Message delivered to handset', 'delivered'],
      ['Delivered', 'delivered'],
      ['message failed', 'failed'],
      ['Received', 'unknown'],
    ] as const) {
      const body = termiiReport.replace('DND Active on Phone Number', status);
      const result = await post('termii', body, {
        'X-Termii-Signature': termiiSignature(webhookSecrets.termii, body),
      });
      expect(result.status).toBe(200);
      expect(result.events[0]).toMatchObject({ type, status });
    }
  });

  it('refuses a flipped byte, a wrong key and a missing signature', async () => {
    const signature = termiiSignature(webhookSecrets.termii, termiiReport);
    expectRefused(await post('termii', flipByte(termiiReport), { 'X-Termii-Signature': signature }));
    expectRefused(
      await post('termii', termiiReport, { 'X-Termii-Signature': termiiSignature('other', termiiReport) }),
    );
    expectRefused(await post('termii', termiiReport, {}));
  });
});

// After the bounce example of https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html
const sesBounce = JSON.stringify({
  eventType: 'Bounce',
  bounce: {
    feedbackId: '0102017f1e0aa1c8-9b5f2f1c-0000000000000000-000000',
    bounceType: 'Permanent',
    bounceSubType: 'General',
    bouncedRecipients: [
      {
        emailAddress: 'recipient@example.com',
        action: 'failed',
        status: '5.1.1',
        diagnosticCode: 'smtp; 550 5.1.1 user unknown',
      },
    ],
    timestamp: '2026-12-02T04:00:01.000Z',
    reportingMTA: 'dsn; e226-55.smtp-out.us-east-2.amazonses.com',
  },
  mail: {
    timestamp: '2026-12-02T04:00:00.000Z',
    source: 'Sender Name <sender@example.com>',
    messageId: 'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
    destination: ['recipient@example.com'],
  },
});

describe('SES and SNS: the full SNS signature check', () => {
  const sesPost = (fields: Record<string, string>) =>
    post('ses', JSON.stringify(fields), {
      'content-type': 'text/plain; charset=UTF-8',
      'x-amz-sns-message-type': fields.Type!,
    });
  const signed = (overrides: Partial<Parameters<typeof snsMessage>[0]> = {}) =>
    snsMessage({
      privateKey: certificate.privateKey,
      topicArn: SES_TOPIC,
      message: sesBounce,
      certUrl: CERT_URL,
      ...overrides,
    });

  it('accepts SignatureVersion 1 and 2 and normalises the SES bounce', async () => {
    for (const signatureVersion of ['1', '2'] as const) {
      const result = await sesPost(signed({ signatureVersion, messageId: `sns-${signatureVersion}` }));
      expect(result.reason).toBeUndefined();
      expect(result.status).toBe(200);
    }
    expect(delivered).toHaveLength(1); // the same bounce twice: one distinct event
    expect(delivered[0]).toMatchObject({
      type: 'bounced',
      bounceClass: 'hard',
      recipient: 'recipient@example.com',
      messageId: 'EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000',
      at: '2026-12-02T04:00:01.000Z',
      reason: 'Permanent/General: smtp; 550 5.1.1 user unknown',
    });
    // The certificate was fetched once (through the injected fetch) and cached.
    expect(fetched.filter((url) => url.endsWith('.pem')).length).toBeLessThanOrEqual(1);
  });

  it('accepts a Subject, which is part of the signed text', async () => {
    const result = await sesPost(
      signed({ subject: 'Amazon SES Email Event Notification', messageId: 'with-subject' }),
    );
    expect(result.status).toBe(200);
    const tampered = signed({ subject: 'Original', messageId: 'tampered-subject' });
    expectRefused(await sesPost({ ...tampered, Subject: 'Changed' }));
  });

  it('refuses an altered message, a wrong certificate, either signature version flipped', async () => {
    for (const signatureVersion of ['1', '2'] as const) {
      const fields = signed({ signatureVersion });
      expectRefused(await sesPost({ ...fields, Message: fields.Message!.replace('Permanent', 'Transient') }));
      expectRefused(await sesPost({ ...fields, Signature: flipByte(fields.Signature!, 10) }));
      // Signed with SHA1 but claiming 2 (and the reverse): the wrong hash does not verify.
      expectRefused(await sesPost({ ...fields, SignatureVersion: signatureVersion === '1' ? '2' : '1' }));
    }
    const other = snsCertificate();
    expectRefused(await sesPost(signed({ privateKey: other.privateKey })));
    expectRefused(await sesPost({ ...signed(), SignatureVersion: '3' }));
  });

  it('refuses certificate URLs off amazonaws.com or over http, without fetching them', async () => {
    for (const certUrl of [
      'http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem',
      'https://sns.eu-west-1.amazonaws.com.attacker.test/SimpleNotificationService-0000.pem',
      'https://attacker.test/sns.eu-west-1.amazonaws.com/cert.pem',
      'https://s3.amazonaws.com/SimpleNotificationService-0000.pem',
      'https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-0000.pem',
    ]) {
      expectRefused(await sesPost(signed({ certUrl })));
    }
    expect(fetched).toEqual([]);
  });

  it('refuses a foreign TopicArn before fetching anything', async () => {
    const foreign = 'arn:aws:sns:eu-west-1:999999999999:someone-elses-topic';
    expectRefused(await sesPost(signed({ topicArn: foreign })));
    expect(fetched).toEqual([]);
  });

  it('confirms a SubscriptionConfirmation for an allowed topic through the injected fetch', async () => {
    fake.route('GET', '/', { status: 200, body: '<ConfirmSubscriptionResponse/>' });
    const subscribeUrl = `https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(SES_TOPIC)}&Token=abc`;
    const result = await sesPost(
      signed({
        type: 'SubscriptionConfirmation',
        subscribeUrl,
        message: 'You have chosen to subscribe to the topic',
      }),
    );
    expect(result.status).toBe(200);
    expect(result.events).toEqual([]);
    expect(result.subscription).toBeUndefined();
    expect(fetched).toContain(subscribeUrl);
    expect(fake.requests.some((request) => request.query.get('Action') === 'ConfirmSubscription')).toBe(true);
    // A SubscribeURL off SNS's hosts is never called.
    fetched.length = 0;
    expectRefused(
      await sesPost(
        signed({
          type: 'SubscriptionConfirmation',
          subscribeUrl: 'https://attacker.test/confirm',
          message: 'x',
        }),
      ),
    );
    expect(fetched.filter((url) => !url.endsWith('.pem'))).toEqual([]);
  });

  it('surfaces the confirmation to the app when confirmSubscriptions is off', async () => {
    const { pipe: manual, ids: manualIds } = await webhookDispatcher({
      sendgridPublicKey: sendgrid.publicKeyBase64,
      webhooks: { fetch: snsFetch, confirmSubscriptions: false },
    });
    fake.route('GET', '/', { status: 200, body: '<ConfirmSubscriptionResponse/>' });
    const subscribeUrl = 'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=manual';
    const fields = signed({ type: 'SubscriptionConfirmation', subscribeUrl, message: 'confirm me' });
    const result = await manual.webhooks.handle({
      provider: 'ses',
      providerConfigId: manualIds.ses,
      headers: {},
      rawBody: JSON.stringify(fields),
      url: 'https://hooks.acme.test/x',
    });
    expect(result.status).toBe(200);
    expect(result.subscription).toMatchObject({ topicArn: SES_TOPIC, subscribeUrl });
    expect(fetched).not.toContain(subscribeUrl);
    await result.subscription!.confirm();
    expect(fetched).toContain(subscribeUrl);
  });

  it('normalises End User Messaging SMS events for the sns provider', async () => {
    // After the SMS example log of https://docs.aws.amazon.com/end-user-messaging/latest/userguide/nx-features-messaging-events.html
    const smsEvent = (eventType: string, messageStatus: string) =>
      JSON.stringify({
        eventType,
        eventVersion: '1.0',
        eventTimestamp: 1764648000000,
        isFinal: true,
        originationPhoneNumber: '+12065550152',
        destinationPhoneNumber: '+14255550156',
        messageId: '862a8790-60c0-4430-9b2b-658bdexample',
        messageStatus,
        messageStatusDescription: 'Message has been accepted by phone carrier',
      });
    const results: WebhookResult[] = [];
    for (const [eventType, status] of [
      ['TEXT_DELIVERED', 'DELIVERED'],
      ['TEXT_BLOCKED', 'BLOCKED'],
      ['TEXT_CARRIER_UNREACHABLE', 'CARRIER_UNREACHABLE'],
      ['TEXT_TTL_EXPIRED', 'TTL_EXPIRED'],
      ['TEXT_SOMETHING_NEW', 'NEW'],
    ]) {
      const fields = snsMessage({
        privateKey: certificate.privateKey,
        topicArn: SMS_TOPIC,
        message: smsEvent(eventType!, status!),
        certUrl: CERT_URL,
      });
      results.push(await post('sns', JSON.stringify(fields), {}));
    }
    expect(results.map((result) => result.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.map((result) => result.events[0]?.type)).toEqual([
      'delivered',
      'undelivered',
      'undelivered',
      'undelivered',
      'unknown',
    ]);
    expect(results[0]!.events[0]).toMatchObject({
      recipient: '+14255550156',
      channel: 'sms',
      at: '2025-12-02T04:00:00.000Z',
    });
    // The SES config's topic is not the SMS one.
    const wrongTopic = snsMessage({
      privateKey: certificate.privateKey,
      topicArn: SES_TOPIC,
      message: smsEvent('TEXT_DELIVERED', 'DELIVERED'),
      certUrl: CERT_URL,
    });
    delivered = [];
    expectRefused(await post('sns', JSON.stringify(wrongTopic), {}));
  });
});

describe('every webhook', () => {
  it('answers 404 for an unknown config, a provider mismatch and SMTP', async () => {
    const base = { headers: {}, rawBody: '[]', url: 'https://hooks.acme.test/x' };
    expect(
      (await pipe.webhooks.handle({ ...base, provider: 'sendgrid', providerConfigId: 'nope' })).status,
    ).toBe(404);
    expect(
      (await pipe.webhooks.handle({ ...base, provider: 'mailgun', providerConfigId: ids.sendgrid })).status,
    ).toBe(404);
    expect(
      (await pipe.webhooks.handle({ ...base, provider: 'smtp', providerConfigId: ids.smtp })).status,
    ).toBe(404);
  });

  it('finds the project from the provider config id alone, or from a given projectId', async () => {
    const body = JSON.stringify([{ ...sendgridBatch[1], email: 'lookup@example.test' }]);
    const headers = sendgridHeaders(sendgrid.privateKey, body, String(NOW_S));
    const base = {
      provider: 'sendgrid',
      providerConfigId: ids.sendgrid,
      headers,
      rawBody: body,
      url: 'https://h/x',
    };
    expect((await pipe.webhooks.handle(base)).status).toBe(200);
    expect((await pipe.webhooks.handle({ ...base, projectId: PROJECT })).status).toBe(200);
    expect((await pipe.webhooks.handle({ ...base, projectId: 'project-b' })).status).toBe(404);
  });

  it('never puts a configured secret into an event, a result or a refusal', async () => {
    const body = termiiReport
      .replace('"Hello"', `"${webhookSecrets.termii}"`)
      .replace('3017544054459493131', '3017544054459493132');
    const ok = await post('termii', body, {
      'X-Termii-Signature': termiiSignature(webhookSecrets.termii, body),
    });
    const refusal = await post('termii', body, { 'X-Termii-Signature': 'bad' });
    const text = JSON.stringify([ok, refusal]);
    for (const secret of [...sampleSecrets, ...Object.values(webhookSecrets)]) {
      expect(text).not.toContain(secret);
    }
    expect(ok.events[0]!.raw.message).toBe('[REDACTED]');
  });

  it('serves the same through the fetch-standard handler', async () => {
    const handler = pipe.webhooks.fetchHandler();
    const body = JSON.stringify([{ ...sendgridBatch[1], email: 'fetch@example.test' }]);
    const headers = sendgridHeaders(sendgrid.privateKey, body, String(NOW_S));
    const url = `https://hooks.acme.test/webhooks/sendgrid/${ids.sendgrid}`;
    const ok = await handler(new Request(url, { method: 'POST', headers, body }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ received: 1, duplicates: 0 });
    const again = await handler(new Request(url, { method: 'POST', headers, body }));
    expect(await again.json()).toEqual({ received: 0, duplicates: 1 });
    const bad = await handler(new Request(url, { method: 'POST', headers, body: flipByte(body) }));
    expect(bad.status).toBe(401);
    expect((await handler(new Request(url, { method: 'GET' }))).status).toBe(405);
  });
});
