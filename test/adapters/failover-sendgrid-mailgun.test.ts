import { Dispatcher } from 'messagepipe';
import { afterEach, expect, it } from 'vitest';
import { mailgun } from '../../adapters/mailgun';
import { sendgrid } from '../../adapters/sendgrid';
import { expectNoSecrets, recordingLogger } from './conformance';
import { fakeSecret, useFakeHttpServer } from './fake-http-server';

const sendgridFake = useFakeHttpServer();
const mailgunFake = useFakeHttpServer();
const SENDGRID_KEY = fakeSecret('SG.');
const MAILGUN_KEY = fakeSecret('key-');
const PROJECT = 'failover-project';

const pipes: Dispatcher[] = [];
afterEach(async () => {
  for (const pipe of pipes.splice(0)) await pipe.close();
});

async function dispatcher(): Promise<Dispatcher> {
  const pipe = new Dispatcher({
    adapters: [sendgrid(), mailgun()],
    logger: recordingLogger(),
    retry: false,
    circuitBreaker: false,
  });
  pipes.push(pipe);
  await pipe.senders.set({
    projectId: PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    senderName: 'Acme',
    enabled: true,
  });
  await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: 'sendgrid',
      name: 'SendGrid',
      priority: 1,
      config: { apiKey: SENDGRID_KEY, endpoint: sendgridFake.origin },
    },
    { verify: false },
  );
  await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: 'mailgun',
      name: 'Mailgun',
      priority: 2,
      config: { apiKey: MAILGUN_KEY, domain: 'mg.acme.test', endpoint: mailgunFake.origin },
    },
    { verify: false },
  );
  return pipe;
}

const email = {
  projectId: PROJECT,
  channel: 'email',
  to: 'Ann Lee <ann@example.test>',
  subject: 'Hello',
  text: 'Hi Ann',
} as const;

it('fails over from SendGrid answering 503 to Mailgun, which accepts', async () => {
  sendgridFake.route('POST', '/v3/mail/send', {
    status: 503,
    json: { errors: [{ message: 'service unavailable' }] },
  });
  mailgunFake.route('POST', '/v3/mg.acme.test/messages', {
    status: 200,
    json: { id: '<20240501.1@mg.acme.test>', message: 'Queued. Thank you.' },
  });
  const pipe = await dispatcher();
  const result = await pipe.send(email);

  expect(result).toMatchObject({ provider: 'mailgun', messageId: '20240501.1@mg.acme.test' });
  expect(result.attempts.map((attempt) => [attempt.provider, attempt.outcome, attempt.error?.code])).toEqual([
    ['sendgrid', 'failed', 'PROVIDER_UNAVAILABLE'],
    ['mailgun', 'sent', undefined],
  ]);
  expect(sendgridFake.requests).toHaveLength(1);
  expect(mailgunFake.requests).toHaveLength(1);
  // Both providers were sent the same message, from the project's sender.
  expect(sendgridFake.requests[0]!.json()).toMatchObject({
    from: { email: 'noreply@acme.test', name: 'Acme' },
    personalizations: [{ to: [{ email: 'ann@example.test', name: 'Ann Lee' }] }],
  });
  expect(mailgunFake.requests[0]!.fields()).toMatchObject({
    from: ['Acme <noreply@acme.test>'],
    to: ['Ann Lee <ann@example.test>'],
  });
  expectNoSecrets(result, [SENDGRID_KEY, MAILGUN_KEY]);
});

it('stops at SendGrid when it refuses the recipient: Mailgun is never called', async () => {
  sendgridFake.route('POST', '/v3/mail/send', {
    status: 400,
    json: {
      errors: [{ message: 'Does not contain a valid address.', field: 'personalizations.0.to.0.email' }],
    },
  });
  const pipe = await dispatcher();
  await expect(pipe.send(email)).rejects.toMatchObject({
    code: 'RECIPIENT_INVALID',
    failureClass: 'message',
    attempts: [expect.objectContaining({ provider: 'sendgrid', outcome: 'failed' })],
  });
  expect(mailgunFake.requests).toHaveLength(0);
});
