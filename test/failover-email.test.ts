/**
 * End-to-end email failover: a real Dispatcher with the real SendGrid, Mailgun, Postmark and SES adapters, each
 * pointed at its own wire-level fake. Checks what crosses the wire, not just what the dispatcher reports.
 */
import {
  type Dispatcher,
  type DispatcherEvents,
  type DispatcherOptions,
  isProviderError,
  type ProviderRecord,
} from 'messagepipe';
import { afterEach, describe, expect, it } from 'vitest';
import { mailgun } from '../adapters/mailgun';
import { postmark } from '../adapters/postmark';
import { sendgrid } from '../adapters/sendgrid';
import { ses } from '../adapters/ses';
import { expectNoSecrets, recordingLogger, rejectionOf } from './adapters/conformance';
import { fakeSecret, useFakeHttpServer } from './adapters/fake-http-server';
import { dispatcherWithSender, PROJECT } from './helpers';

const sendgridFake = useFakeHttpServer();
const mailgunFake = useFakeHttpServer();
const postmarkFake = useFakeHttpServer();
const sesFake = useFakeHttpServer();
const fakes = { sendgrid: sendgridFake, mailgun: mailgunFake, postmark: postmarkFake, ses: sesFake };

const SENDGRID_KEY = fakeSecret('SG.');
const MAILGUN_KEY = fakeSecret('key-');
const POSTMARK_TOKEN = fakeSecret('pm-');
const SES_SECRET = fakeSecret('aws-');
const SECRETS = [SENDGRID_KEY, MAILGUN_KEY, POSTMARK_TOKEN, SES_SECRET];
const MAILGUN_DOMAIN = 'mg.acme.test';

const configs = {
  sendgrid: () => ({ apiKey: SENDGRID_KEY, endpoint: sendgridFake.origin }),
  mailgun: () => ({ apiKey: MAILGUN_KEY, domain: MAILGUN_DOMAIN, endpoint: mailgunFake.origin }),
  postmark: () => ({ serverToken: POSTMARK_TOKEN, endpoint: postmarkFake.origin }),
  ses: () => ({
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: SES_SECRET,
    region: 'eu-west-1',
    endpoint: sesFake.origin,
  }),
};
type EmailProvider = keyof typeof configs;

const email = {
  projectId: PROJECT,
  channel: 'email',
  to: 'Ann Lee <ann@example.test>',
  subject: 'Your receipt',
  text: 'Thanks for your order.',
} as const;

let pipe: Dispatcher | undefined;
afterEach(async () => {
  await pipe?.close();
  pipe = undefined;
});

/** A dispatcher with every email adapter and the project's providers in the given priority order. */
async function dispatcherWith(
  order: EmailProvider[],
  options: Partial<DispatcherOptions> = {},
): Promise<{ pipe: Dispatcher; records: Record<string, ProviderRecord>; failovers: string[] }> {
  pipe = await dispatcherWithSender({
    adapters: [sendgrid(), mailgun(), postmark(), ses()],
    logger: recordingLogger(),
    ...options,
  });
  const records: Record<string, ProviderRecord> = {};
  for (const [index, provider] of order.entries()) {
    records[provider] = await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider,
        name: provider,
        priority: index + 1,
        config: configs[provider](),
      },
      { verify: false },
    );
  }
  const failovers: string[] = [];
  pipe.on('failover', (event: DispatcherEvents['failover']) =>
    failovers.push(`${event.from.provider} → ${event.toProvider}`),
  );
  return { pipe, records, failovers };
}

function requestCounts(): Record<EmailProvider, number> {
  return {
    sendgrid: sendgridFake.requests.length,
    mailgun: mailgunFake.requests.length,
    postmark: postmarkFake.requests.length,
    ses: sesFake.requests.length,
  };
}

describe('email failover end to end', () => {
  it('SendGrid answers 503, Mailgun accepts: the result names Mailgun and lists both attempts', async () => {
    sendgridFake.route('POST', '/v3/mail/send', {
      status: 503,
      headers: { 'content-type': 'text/html' },
      body: '<html><body>Service Unavailable</body></html>',
    });
    mailgunFake.route('POST', `/v3/${MAILGUN_DOMAIN}/messages`, {
      status: 200,
      json: { id: '<20261122101500.1.ABCDEF@mg.acme.test>', message: 'Queued. Thank you.' },
    });
    const { pipe, records, failovers } = await dispatcherWith(['sendgrid', 'mailgun', 'postmark', 'ses']);

    const result = await pipe.send(email);

    expect(result).toMatchObject({
      provider: 'mailgun',
      providerConfigId: records.mailgun!.id,
      messageId: '20261122101500.1.ABCDEF@mg.acme.test',
    });
    expect(result.attempts).toHaveLength(2);
    const [first, second] = result.attempts;
    expect(first).toMatchObject({
      provider: 'sendgrid',
      providerConfigId: records.sendgrid!.id,
      outcome: 'failed',
      error: { code: 'PROVIDER_UNAVAILABLE', failureClass: 'transient', status: 503 },
    });
    expect(first!.error!.ambiguous ?? false).toBe(false);
    expect(second).toMatchObject({
      provider: 'mailgun',
      providerConfigId: records.mailgun!.id,
      outcome: 'sent',
      messageId: '20261122101500.1.ABCDEF@mg.acme.test',
    });
    expect(second!.error).toBeUndefined();
    expect(failovers).toEqual(['sendgrid → mailgun']);

    // The same message reached both fakes, with the sender from the project's sender configuration.
    expect(requestCounts()).toEqual({ sendgrid: 1, mailgun: 1, postmark: 0, ses: 0 });
    expect(sendgridFake.requests[0]!.json()).toMatchObject({
      from: { email: 'noreply@acme.test', name: 'Acme' },
      personalizations: [{ to: [{ email: 'ann@example.test', name: 'Ann Lee' }] }],
      subject: 'Your receipt',
    });
    expect(mailgunFake.requests[0]!.fields()).toMatchObject({
      from: ['Acme <noreply@acme.test>'],
      to: ['Ann Lee <ann@example.test>'],
      subject: ['Your receipt'],
      text: ['Thanks for your order.'],
    });
    expectNoSecrets(result, SECRETS);
  });

  it('with retries on, SendGrid is retried before Mailgun takes over', async () => {
    sendgridFake.route('POST', '/v3/mail/send', { status: 503, body: 'Service Unavailable' });
    mailgunFake.route('POST', `/v3/${MAILGUN_DOMAIN}/messages`, {
      status: 200,
      json: { id: '<retry.1@mg.acme.test>', message: 'Queued. Thank you.' },
    });
    const { pipe } = await dispatcherWith(['sendgrid', 'mailgun'], {
      retry: { retries: 1, minDelayMs: 1, maxDelayMs: 5, jitter: false },
    });

    const result = await pipe.send(email);

    expect(result.provider).toBe('mailgun');
    expect(
      result.attempts.map((attempt) => [attempt.provider, attempt.outcome, attempt.error?.code]),
    ).toEqual([
      ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['mailgun', 'sent', undefined],
    ]);
    expect(requestCounts()).toEqual({ sendgrid: 2, mailgun: 1, postmark: 0, ses: 0 });
  });

  it('Postmark answers 422/406 (inactive recipient): the send stops, no other provider is called', async () => {
    postmarkFake.route('POST', '/email', {
      status: 422,
      json: {
        ErrorCode: 406,
        Message:
          'You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ann@example.test. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
      },
    });
    // Every other provider would accept: only the classification keeps the message from going out.
    sendgridFake.route('POST', '/v3/mail/send', { status: 202, headers: { 'x-message-id': 'sg-1' } });
    mailgunFake.route('POST', `/v3/${MAILGUN_DOMAIN}/messages`, {
      status: 200,
      json: { id: '<mg.1@mg.acme.test>', message: 'Queued. Thank you.' },
    });
    sesFake.route('POST', '/v2/email/outbound-emails', { status: 200, json: { MessageId: 'ses-1' } });
    const { pipe, records, failovers } = await dispatcherWith(['postmark', 'sendgrid', 'mailgun', 'ses'], {
      retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5, jitter: false },
    });

    const error = await rejectionOf(pipe.send(email));

    if (!isProviderError(error)) throw new Error(`Expected a ProviderError, got ${String(error)}`);
    expect({ code: error.code, failureClass: error.failureClass, provider: error.provider }).toEqual({
      code: 'RECIPIENT_SUPPRESSED',
      failureClass: 'message',
      provider: 'postmark',
    });
    expect(error.status).toBe(422);
    expect(error.providerCode).toBe(406);
    expect(error.message).toMatch(/inactive/);
    expect(error.attempts).toEqual([
      expect.objectContaining({
        provider: 'postmark',
        providerConfigId: records.postmark!.id,
        outcome: 'failed',
        error: expect.objectContaining({
          code: 'RECIPIENT_SUPPRESSED',
          failureClass: 'message',
          status: 422,
        }),
      }),
    ]);
    expect(failovers).toEqual([]);
    // A message-level refusal is not retried either.
    expect(requestCounts()).toEqual({ sendgrid: 0, mailgun: 0, postmark: 1, ses: 0 });
    expect(postmarkFake.requests[0]!.json()).toMatchObject({
      From: 'Acme <noreply@acme.test>',
      To: 'Ann Lee <ann@example.test>',
    });
    expectNoSecrets(error, SECRETS);
  });

  it('fails over from Postmark to SES when Postmark refuses the server token', async () => {
    postmarkFake.route('POST', '/email', {
      status: 401,
      json: { ErrorCode: 10, Message: 'Request does not contain a valid Server token.' },
    });
    sesFake.route('POST', '/v2/email/outbound-emails', { status: 200, json: { MessageId: 'ses-after-pm' } });
    const { pipe, failovers } = await dispatcherWith(['postmark', 'ses']);

    const result = await pipe.send(email);

    expect(result).toMatchObject({ provider: 'ses', messageId: 'ses-after-pm' });
    expect(result.attempts.map((attempt) => [attempt.provider, attempt.error?.code])).toEqual([
      ['postmark', 'PROVIDER_INVALID_CREDENTIALS'],
      ['ses', undefined],
    ]);
    expect(failovers).toEqual(['postmark → ses']);
    expect(requestCounts()).toEqual({ sendgrid: 0, mailgun: 0, postmark: 1, ses: 1 });
    expectNoSecrets(result, SECRETS);
  });

  it('every provider down ends in ALL_PROVIDERS_FAILED with each classified attempt', async () => {
    sendgridFake.route('POST', '/v3/mail/send', { status: 500, json: { errors: [{ message: 'boom' }] } });
    mailgunFake.route('POST', `/v3/${MAILGUN_DOMAIN}/messages`, { status: 503, body: 'unavailable' });
    postmarkFake.route('POST', '/email', {
      status: 429,
      json: { ErrorCode: 429, Message: 'Rate limit exceeded.' },
    });
    sesFake.route('POST', '/v2/email/outbound-emails', {
      status: 400,
      headers: {
        'x-amzn-ErrorType': 'SendingPausedException:http://internal.amazon.com/coral/com.amazonaws.sesv2/',
      },
      json: { message: 'Sending is paused for this account.' },
    });
    const { pipe } = await dispatcherWith(['sendgrid', 'mailgun', 'postmark', 'ses']);

    const error = await rejectionOf(pipe.send(email));

    expect((error as { code?: string }).code).toBe('ALL_PROVIDERS_FAILED');
    const attempts = (error as { attempts: Array<{ provider: string; error?: { code: string } }> }).attempts;
    expect(attempts.map((attempt) => [attempt.provider, attempt.error?.code])).toEqual([
      ['sendgrid', 'PROVIDER_UNAVAILABLE'],
      ['mailgun', 'PROVIDER_UNAVAILABLE'],
      ['postmark', 'PROVIDER_RATE_LIMITED'],
      ['ses', 'ACCOUNT_SUSPENDED'],
    ]);
    expect(requestCounts()).toEqual({ sendgrid: 1, mailgun: 1, postmark: 1, ses: 1 });
    expectNoSecrets(error, SECRETS);
    for (const fake of Object.values(fakes)) expect(fake.unmatched).toEqual([]);
  });
});
