/**
 * Per-provider documented limits: a message over one provider's limit skips that provider (a failed
 * `PROVIDER_LIMIT_EXCEEDED` attempt, no request on its wire) and goes on to the next, which sends it. Real adapters
 * against wire-level fakes on 127.0.0.1.
 */
import { type Dispatcher, type DispatcherOptions, defineAdapter, type OutboundMessage } from 'messagepipe';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { postmark } from '../adapters/postmark';
import { sendgrid } from '../adapters/sendgrid';
import { ses } from '../adapters/ses';
import { sns } from '../adapters/sns';
import { twilio } from '../adapters/twilio';
import { providerLimitError } from '../src/failover/limits';
import { recordingLogger } from './adapters/conformance';
import { fakeSecret, useFakeHttpServer } from './adapters/fake-http-server';
import { dispatcherWithSender, PROJECT } from './helpers';

const sendgridFake = useFakeHttpServer();
const postmarkFake = useFakeHttpServer();
const sesFake = useFakeHttpServer();
const twilioFake = useFakeHttpServer();
const snsFake = useFakeHttpServer();

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TWILIO_PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;

const configs = {
  sendgrid: () => ({ apiKey: fakeSecret('SG.'), endpoint: sendgridFake.origin }),
  postmark: () => ({ serverToken: fakeSecret('pm-'), endpoint: postmarkFake.origin }),
  ses: () => ({
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: fakeSecret('aws-'),
    region: 'eu-west-1',
    endpoint: sesFake.origin,
  }),
  twilio: () => ({
    accountSid: ACCOUNT_SID,
    authToken: fakeSecret('twilio-'),
    from: '+14155550199',
    endpoint: twilioFake.origin,
  }),
  sns: () => ({
    region: 'eu-west-1',
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: fakeSecret('aws-'),
    endpoint: snsFake.origin,
  }),
};
type Provider = keyof typeof configs;
const channelOf: Record<Provider, 'email' | 'sms'> = {
  sendgrid: 'email',
  postmark: 'email',
  ses: 'email',
  twilio: 'sms',
  sns: 'sms',
};

let pipe: Dispatcher | undefined;
afterEach(async () => {
  await pipe?.close();
  pipe = undefined;
});

/** A dispatcher with every adapter here and the project's providers in the given priority order. */
async function dispatcherWith(order: Provider[], options: Partial<DispatcherOptions> = {}) {
  pipe = await dispatcherWithSender({
    adapters: [sendgrid(), postmark(), ses(), twilio(), sns()],
    logger: recordingLogger(),
    ...options,
  });
  const ids: Partial<Record<Provider, string>> = {};
  for (const [index, provider] of order.entries()) {
    const record = await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: channelOf[provider],
        provider,
        name: provider,
        priority: index + 1,
        config: configs[provider](),
      },
      { verify: false },
    );
    ids[provider] = record.id;
  }
  return { pipe, ids };
}

const addresses = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}${index}@example.test`);

/** An email to `count` recipients, spread over to, cc and bcc. */
function emailTo(count: number) {
  const third = Math.floor(count / 3);
  return {
    projectId: PROJECT,
    channel: 'email' as const,
    to: addresses('to', count - 2 * third),
    cc: addresses('cc', third),
    bcc: addresses('bcc', third),
    subject: 'Quarterly report',
    text: 'The report is attached.',
  };
}

const sendgridAccepts = { status: 202, headers: { 'x-message-id': 'sg-1' } };
const postmarkAccepts = { status: 200, json: { MessageID: 'pm-1', ErrorCode: 0, Message: 'OK' } };
const sesAccepts = { status: 200, json: { MessageId: 'ses-1' } };
const snsAccepts = {
  status: 200,
  headers: { 'content-type': 'text/xml' },
  body: '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>sns-1</MessageId></PublishResult></PublishResponse>',
};
const twilioAccepts = {
  status: 201,
  json: { sid: 'SM0123456789abcdef0123456789abcdef', account_sid: ACCOUNT_SID, status: 'queued' },
};

const limitAttempt = (provider: string, providerConfigId: string | undefined, figure: string) =>
  expect.objectContaining({
    provider,
    providerConfigId,
    outcome: 'failed',
    error: expect.objectContaining({
      code: 'PROVIDER_LIMIT_EXCEEDED',
      failureClass: 'provider',
      message: expect.stringContaining(figure),
    }),
  });

describe('per-provider limits: email', () => {
  it('60 recipients across to, cc and bcc: skipped at Postmark (50) without a request, sent by SendGrid', async () => {
    postmarkFake.route('POST', '/email', postmarkAccepts);
    sendgridFake.route('POST', '/v3/mail/send', sendgridAccepts);
    const { pipe, ids } = await dispatcherWith(['postmark', 'sendgrid']);

    const result = await pipe.send(emailTo(60));

    expect(result).toMatchObject({ provider: 'sendgrid', messageId: 'sg-1' });
    expect(result.attempts).toEqual([
      limitAttempt('postmark', ids.postmark, 'at most 50 recipients'),
      expect.objectContaining({ provider: 'sendgrid', outcome: 'sent' }),
    ]);
    expect(result.attempts[0]!.error!.message).toContain('has 60');
    expect(result.attempts[0]!.error).not.toHaveProperty('ambiguous', true);
    expect(postmarkFake.requests).toEqual([]);
    const { personalizations } = sendgridFake.requests[0]!.json() as {
      personalizations: { to: unknown[]; cc: unknown[]; bcc: unknown[] }[];
    };
    const personalization = personalizations[0]!;
    expect(personalization.to.length + personalization.cc.length + personalization.bcc.length).toBe(60);
  });

  it('50 recipients, within Postmark’s limit, go to Postmark', async () => {
    postmarkFake.route('POST', '/email', postmarkAccepts);
    sendgridFake.route('POST', '/v3/mail/send', sendgridAccepts);
    const { pipe } = await dispatcherWith(['postmark', 'sendgrid']);

    const result = await pipe.send(emailTo(50));

    expect(result).toMatchObject({ provider: 'postmark', messageId: 'pm-1' });
    expect(result.attempts).toHaveLength(1);
    expect(postmarkFake.requests).toHaveLength(1);
    expect(sendgridFake.requests).toEqual([]);
  });

  it('51 recipients: skipped at SES (50) and at Postmark (50), sent by SendGrid (1000)', async () => {
    sesFake.route('POST', '/v2/email/outbound-emails', sesAccepts);
    postmarkFake.route('POST', '/email', postmarkAccepts);
    sendgridFake.route('POST', '/v3/mail/send', sendgridAccepts);
    const { pipe, ids } = await dispatcherWith(['ses', 'postmark', 'sendgrid']);

    const result = await pipe.send(emailTo(51));

    expect(result.provider).toBe('sendgrid');
    expect(result.attempts).toEqual([
      limitAttempt('ses', ids.ses, 'at most 50 recipients'),
      limitAttempt('postmark', ids.postmark, 'at most 50 recipients'),
      expect.objectContaining({ provider: 'sendgrid', outcome: 'sent' }),
    ]);
    expect(sesFake.requests).toEqual([]);
    expect(postmarkFake.requests).toEqual([]);
  });

  it('an 11 MB attachment: skipped at Postmark (10 MB) without a request, sent by SES (40 MB)', async () => {
    postmarkFake.route('POST', '/email', postmarkAccepts);
    sesFake.route('POST', '/v2/email/outbound-emails', sesAccepts);
    const { pipe, ids } = await dispatcherWith(['postmark', 'ses']);

    const result = await pipe.send({
      projectId: PROJECT,
      channel: 'email',
      to: 'ann@example.test',
      subject: 'Scans',
      text: 'Attached.',
      attachments: [
        { filename: 'scan.pdf', content: new Uint8Array(11_000_000), contentType: 'application/pdf' },
      ],
    });

    expect(result).toMatchObject({ provider: 'ses', messageId: 'ses-1' });
    expect(result.attempts).toEqual([
      limitAttempt('postmark', ids.postmark, 'at most 10000000 bytes'),
      expect.objectContaining({ provider: 'ses', outcome: 'sent' }),
    ]);
    expect(postmarkFake.requests).toEqual([]);
    expect(sesFake.requests).toHaveLength(1);
  });

  it('a skip does not count against the provider’s circuit breaker', async () => {
    postmarkFake.route('POST', '/email', postmarkAccepts);
    sendgridFake.route('POST', '/v3/mail/send', sendgridAccepts);
    const { pipe, ids } = await dispatcherWith(['postmark', 'sendgrid'], {
      circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 },
    });

    await pipe.send(emailTo(60));

    expect(pipe.breakers.state({ projectId: PROJECT, id: ids.postmark! })).toMatchObject({
      state: 'closed',
      consecutiveFailures: 0,
    });
    // The next message that fits goes to Postmark, not round it.
    const result = await pipe.send(emailTo(3));
    expect(result.provider).toBe('postmark');
    expect(postmarkFake.requests).toHaveLength(1);
  });
});

describe('per-provider limits: SMS', () => {
  // 900 × 'é' is 900 characters (within Twilio's 1600) but 1800 UTF-8 bytes (over SNS's 1600).
  const accented = 'é'.repeat(900);

  it('900 × "é" (1800 bytes): skipped at SNS without a request, accepted by Twilio', async () => {
    snsFake.route('POST', '/', snsAccepts);
    twilioFake.route('POST', TWILIO_PATH, twilioAccepts);
    const { pipe, ids } = await dispatcherWith(['sns', 'twilio']);

    const result = await pipe.send({
      projectId: PROJECT,
      channel: 'sms',
      to: '+2348012345678',
      body: accented,
    });

    expect(result.provider).toBe('twilio');
    expect(result.attempts).toEqual([
      limitAttempt('sns', ids.sns, 'at most 1600 body bytes'),
      expect.objectContaining({ provider: 'twilio', outcome: 'sent' }),
    ]);
    expect(result.attempts[0]!.error!.message).toContain('has 1800');
    expect(result.attempts[0]!.error!.message).not.toContain('é');
    expect(snsFake.requests).toEqual([]);
    expect(twilioFake.requests[0]!.form().get('Body')).toBe(accented);
  });

  it('1600 ASCII characters (1600 bytes) go to SNS', async () => {
    snsFake.route('POST', '/', snsAccepts);
    twilioFake.route('POST', TWILIO_PATH, twilioAccepts);
    const { pipe } = await dispatcherWith(['sns', 'twilio']);

    const result = await pipe.send({
      projectId: PROJECT,
      channel: 'sms',
      to: '+2348012345678',
      body: 'a'.repeat(1600),
    });

    expect(result).toMatchObject({ provider: 'sns', messageId: 'sns-1' });
    expect(snsFake.requests).toHaveLength(1);
    expect(twilioFake.requests).toEqual([]);
  });
});

describe('per-provider limits: custom adapters and the check itself', () => {
  it('a defineAdapter adapter declares limits too: over them it is skipped and never called', async () => {
    const calls: string[] = [];
    const custom = (provider: string, limits: { maxRecipients?: number }) =>
      defineAdapter({
        provider,
        channel: 'email',
        configSchema: z.object({}),
        limits,
        send: async () => {
          calls.push(provider);
          return { messageId: `${provider}-1` };
        },
      });
    pipe = await dispatcherWithSender({
      adapters: [custom('tiny', { maxRecipients: 2 }), custom('roomy', { maxRecipients: 10 })],
    });
    for (const [priority, provider] of ['tiny', 'roomy'].entries()) {
      await pipe.providers.add(
        { projectId: PROJECT, channel: 'email', provider, name: provider, priority, config: {} },
        { verify: false },
      );
    }

    const result = await pipe.send(emailTo(3));

    expect(result.provider).toBe('roomy');
    expect(result.attempts.map((attempt) => [attempt.provider, attempt.error?.code])).toEqual([
      ['tiny', 'PROVIDER_LIMIT_EXCEEDED'],
      ['roomy', undefined],
    ]);
    expect(calls).toEqual(['roomy']);
  });

  it('SendGrid counts to + cc + bcc together: 1001 recipients (each list under 1000) are over its 1000', () => {
    const message: OutboundMessage<'email'> = {
      channel: 'email',
      from: { email: 'noreply@acme.test' },
      to: addresses('to', 400).map((email) => ({ email })),
      cc: addresses('cc', 400).map((email) => ({ email })),
      bcc: addresses('bcc', 201).map((email) => ({ email })),
      replyTo: [],
      subject: 'Secret subject',
      text: 'Secret body',
      attachments: [],
      headers: {},
      tags: [],
      metadata: {},
    };

    const error = providerLimitError(sendgrid().limits, message, 'sendgrid');

    expect(error).toMatchObject({
      code: 'PROVIDER_LIMIT_EXCEEDED',
      failureClass: 'provider',
      ambiguous: false,
      provider: 'sendgrid',
    });
    expect(error!.message).toContain('at most 1000 recipients');
    expect(error!.message).toContain('has 1001');
    expect(error!.message).not.toMatch(/Secret|example\.test/);
    expect(providerLimitError(sendgrid().limits, { ...message, bcc: message.bcc.slice(1) }, 'sendgrid')).toBe(
      undefined,
    );
  });
});
