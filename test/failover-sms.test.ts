/**
 * SMS failover end to end: a real Dispatcher with the Twilio, Termii and Amazon SNS adapters, each pointed at its
 * own wire-level fake on 127.0.0.1.
 */
import { Dispatcher, type DispatcherOptions, isProviderError } from 'messagepipe';
import { afterEach, describe, expect, it } from 'vitest';
import { sns } from '../adapters/sns';
import { termii } from '../adapters/termii';
import { twilio } from '../adapters/twilio';
import { expectNoSecrets, recordingLogger } from './adapters/conformance';
import { fakeSecret, useFakeHttpServer } from './adapters/fake-http-server';

const PROJECT = 'sms-project';
const twilioFake = useFakeHttpServer();
const termiiFake = useFakeHttpServer();
const snsFake = useFakeHttpServer();

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TWILIO_TOKEN = fakeSecret('twilio-');
const TERMII_KEY = fakeSecret('TL');
const AWS_SECRET = fakeSecret('aws-');
const SECRETS = [TWILIO_TOKEN, TERMII_KEY, AWS_SECRET];
const TWILIO_PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;

const sms = {
  projectId: PROJECT,
  channel: 'sms',
  to: '+2348012345678',
  body: 'Your code is 123456',
} as const;

const twilioError = (status: number, code: number, message: string) => ({
  status,
  json: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

const dispatchers: Dispatcher[] = [];
afterEach(async () => {
  for (const pipe of dispatchers.splice(0)) await pipe.close();
});

/** A Dispatcher with Twilio (priority 1), Termii (2) and SNS (3) for {@link PROJECT}, and its SMS sender set. */
async function smsDispatcher(options: Partial<DispatcherOptions> = {}) {
  const pipe = new Dispatcher({
    adapters: [twilio(), termii(), sns()],
    logger: recordingLogger(),
    retry: false,
    ...options,
  });
  dispatchers.push(pipe);
  await pipe.senders.set({ projectId: PROJECT, channel: 'sms', senderId: 'Acme', from: '+14155550123' });
  const add = (provider: string, priority: number, config: Record<string, unknown>) =>
    pipe.providers.add(
      { projectId: PROJECT, channel: 'sms', provider, name: provider, priority, config },
      { verify: false },
    );
  const records = {
    twilio: await add('twilio', 1, {
      accountSid: ACCOUNT_SID,
      authToken: TWILIO_TOKEN,
      from: '+14155550199',
      endpoint: twilioFake.origin,
    }),
    termii: await add('termii', 2, { apiKey: TERMII_KEY, senderId: 'AcmeNG', endpoint: termiiFake.origin }),
    sns: await add('sns', 3, {
      region: 'eu-west-1',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: AWS_SECRET,
      endpoint: snsFake.origin,
    }),
  };
  return { pipe, records };
}

const termiiAccepts = {
  status: 200,
  json: {
    code: 'ok',
    message_id: '3017544054459493070',
    message: 'Successfully Sent',
    balance: 9,
    user: 'Acme',
  },
};

describe('SMS failover through a Dispatcher', () => {
  it('Twilio answers 503 → Termii accepts; both attempts are listed', async () => {
    twilioFake.route('POST', TWILIO_PATH, { status: 503 });
    termiiFake.route('POST', '/api/sms/send', termiiAccepts);
    const { pipe, records } = await smsDispatcher();

    const result = await pipe.send(sms);

    expect(result).toMatchObject({
      provider: 'termii',
      providerConfigId: records.termii.id,
      messageId: '3017544054459493070',
    });
    expect(result.attempts).toEqual([
      expect.objectContaining({
        provider: 'twilio',
        providerConfigId: records.twilio.id,
        outcome: 'failed',
        error: expect.objectContaining({
          code: 'PROVIDER_UNAVAILABLE',
          failureClass: 'transient',
          status: 503,
        }),
      }),
      expect.objectContaining({
        provider: 'termii',
        providerConfigId: records.termii.id,
        outcome: 'sent',
        messageId: '3017544054459493070',
      }),
    ]);
    expect(twilioFake.requests).toHaveLength(1);
    // Termii gets the number without '+' and the project's sender id, which wins over the config's default.
    expect(termiiFake.requests[0]!.json()).toMatchObject({
      to: '2348012345678',
      from: 'Acme',
      sms: sms.body,
    });
    expect(snsFake.requests).toEqual([]);
    expectNoSecrets(result, SECRETS);
  });

  it('Twilio answers 400 with code 21211 → the send stops with a message-level error; SNS is never called', async () => {
    twilioFake.route(
      'POST',
      TWILIO_PATH,
      twilioError(400, 21211, "The 'To' number is not a valid phone number."),
    );
    snsFake.route('POST', '/', { status: 500 });
    termiiFake.route('POST', '/api/sms/send', termiiAccepts);
    const { pipe, records } = await smsDispatcher();

    const error = await pipe.send(sms).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    expect(isProviderError(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'RECIPIENT_INVALID',
      failureClass: 'message',
      provider: 'twilio',
      status: 400,
      providerCode: 21211,
    });
    expect((error as { attempts: unknown[] }).attempts).toEqual([
      expect.objectContaining({
        provider: 'twilio',
        providerConfigId: records.twilio.id,
        outcome: 'failed',
        error: expect.objectContaining({
          code: 'RECIPIENT_INVALID',
          failureClass: 'message',
          providerCode: 21211,
        }),
      }),
    ]);
    expect(twilioFake.requests).toHaveLength(1);
    expect(snsFake.requests).toEqual([]);
    expect(termiiFake.requests).toEqual([]);
    expectNoSecrets(error, SECRETS);
  });

  it('provider-level failures move down the whole chain: Twilio bad credentials → Termii sender id → SNS', async () => {
    twilioFake.route('POST', TWILIO_PATH, twilioError(401, 20003, 'Authenticate'));
    termiiFake.route('POST', '/api/sms/send', {
      status: 400,
      json: { message: 'ApplicationSenderId not set up on this route' },
    });
    snsFake.route('POST', '/', {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>sns-1</MessageId></PublishResult></PublishResponse>',
    });
    const { pipe } = await smsDispatcher();

    const result = await pipe.send(sms);

    expect(result.provider).toBe('sns');
    expect(
      result.attempts.map((attempt) => [
        attempt.provider,
        attempt.outcome,
        attempt.error?.code ?? attempt.messageId,
      ]),
    ).toEqual([
      ['twilio', 'failed', 'PROVIDER_INVALID_CREDENTIALS'],
      ['termii', 'failed', 'SENDER_UNVERIFIED'],
      ['sns', 'sent', 'sns-1'],
    ]);
    // SNS has no sender id of its own in this config: the project's is used.
    const form = snsFake.requests[0]!.form();
    expect(form.get('PhoneNumber')).toBe(sms.to);
    const senderIdEntry = [...form].find(
      ([key, value]) => key.endsWith('.Name') && value === 'AWS.SNS.SMS.SenderID',
    );
    expect(senderIdEntry).toBeDefined();
    expect(form.get(senderIdEntry![0].replace(/\.Name$/, '.Value.StringValue'))).toBe('Acme');
    expectNoSecrets(result, SECRETS);
  });

  it('retries Twilio on 503 before failing over, each try listed', async () => {
    twilioFake.route('POST', TWILIO_PATH, { status: 503 });
    termiiFake.route('POST', '/api/sms/send', termiiAccepts);
    const { pipe } = await smsDispatcher({
      retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5, jitter: false },
      circuitBreaker: false,
    });

    const result = await pipe.send(sms);

    expect(result.provider).toBe('termii');
    expect(twilioFake.requests).toHaveLength(3);
    expect(result.attempts.map((attempt) => [attempt.provider, attempt.outcome])).toEqual([
      ['twilio', 'failed'],
      ['twilio', 'failed'],
      ['twilio', 'failed'],
      ['termii', 'sent'],
    ]);
  });
});
