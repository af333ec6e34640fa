import { Dispatcher, type OutboundSms, type TermiiConfig } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import {
  codeForTermiiRefusal,
  TERMII_DEFAULT_ORIGIN,
  termii,
  termiiApiOrigin,
  termiiSenderOf,
  toTermiiPayload,
} from '../../adapters/termii';
import {
  callContext,
  describeAdapterConformance,
  expectNoSecrets,
  expectPlaceholderReceipt,
  expectProviderError,
  rejectionOf,
  sendContext,
} from './conformance';
import { fakeSecret, type RecordedRequest, useFakeHttpServer } from './fake-http-server';

const fake = useFakeHttpServer();
const API_KEY = fakeSecret('TL');
const SEND_PATH = '/api/sms/send';
const BALANCE_PATH = '/api/get-balance';

const config = (endpoint: string): TermiiConfig => ({ apiKey: API_KEY, senderId: 'Acme', endpoint });

const message: OutboundSms = { channel: 'sms', to: '+2348012345678', body: 'Your code is 123456' };

/**
 * Termii's documented answer to an accepted message (https://developers.termii.com/messaging-api): no `code`
 * field, and `message_id` as Termii writes it.
 */
const accepted = (messageId: string) => ({
  status: 200,
  json: { message_id: messageId, message: 'Successfully Sent', balance: 9, user: 'Peter Mcleish' },
});

/** The same answer with `message_id` as a JSON number, written byte for byte. */
const acceptedWithNumericId = (digits: string) => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: `{"message_id":${digits},"message":"Successfully Sent","balance":9,"user":"Peter Mcleish"}`,
});

/** A Termii error answer, which echoes the API key back the way a careless gateway might. */
const termiiError = (status: number, text: string, headers?: Record<string, string>) => ({
  status,
  json: { message: text },
  ...(headers ? { headers } : {}),
});

function expectTermiiRequest(request: RecordedRequest): void {
  expect(request.method).toBe('POST');
  expect(request.path).toBe(SEND_PATH);
  expect(request.headers['content-type']).toBe('application/json');
}

describeAdapterConformance({
  provider: 'termii',
  channel: 'sms',
  fake,
  createAdapter: () => termii(),
  config,
  secrets: (c) => [c.apiKey],
  message,
  send: {
    method: 'POST',
    path: SEND_PATH,
    success: accepted('3017544054459493070'),
    messageId: '3017544054459493070',
    assertRequest: (request, sent, c) => {
      expectTermiiRequest(request);
      expect(request.json()).toEqual({
        api_key: c.apiKey,
        to: '2348012345678',
        from: 'Acme',
        sms: sent.body,
        type: 'plain',
        channel: 'generic',
      });
    },
  },
  failures: [
    {
      name: '200 without code "ok"',
      reply: { status: 200, json: { message: 'Message not sent' } },
      expected: { code: 'PROVIDER_REJECTED', status: 200, ambiguous: false, message: /did not accept/ },
    },
    {
      name: '200 with code "error" and an unknown sender id',
      reply: { status: 200, json: { code: 'error', message: 'Invalid Sender Id' } },
      expected: { code: 'SENDER_UNVERIFIED', status: 200, providerCode: 'error' },
    },
    {
      name: '400 sender id not set up on this route',
      reply: termiiError(400, 'ApplicationSenderId not set up on this route, contact your account manager'),
      expected: { code: 'SENDER_UNVERIFIED', status: 400 },
    },
    {
      name: '400 Invalid Sender Id',
      reply: termiiError(400, 'Invalid Sender Id'),
      expected: { code: 'SENDER_UNVERIFIED', status: 400 },
    },
    {
      name: '400 invalid phone number',
      reply: termiiError(400, 'Invalid phone number'),
      expected: { code: 'RECIPIENT_INVALID', status: 400 },
    },
    {
      name: '400 insufficient balance',
      reply: termiiError(400, 'Insufficient balance'),
      expected: { code: 'ACCOUNT_SUSPENDED', status: 400 },
    },
    {
      // Unrecognised wording says nothing certain about the message: another provider may send it.
      name: '400 anything else',
      reply: termiiError(400, 'Bad request'),
      expected: { code: 'PROVIDER_REJECTED', status: 400 },
    },
    {
      name: '400 generic "Failed to send message" wording',
      reply: termiiError(400, 'Failed to send message, try again'),
      expected: { code: 'PROVIDER_REJECTED', status: 400 },
    },
    {
      name: '401 invalid API key, echoed back',
      reply: termiiError(401, `Unauthenticated: api_key ${API_KEY} is not valid`),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401, message: /\[REDACTED\]/ },
    },
    {
      name: '403 forbidden',
      reply: termiiError(403, 'Forbidden'),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403 },
    },
    {
      name: '404 not found',
      reply: termiiError(404, 'Not Found'),
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 404 },
    },
    {
      name: '422 validation error on the number',
      reply: {
        status: 422,
        json: { message: 'The given data was invalid.', errors: { to: ['The to field is invalid.'] } },
      },
      expected: { code: 'RECIPIENT_INVALID', status: 422, message: /to field/ },
    },
    {
      name: '429 with Retry-After',
      reply: termiiError(429, 'Too Many Attempts.', { 'retry-after': '60' }),
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 60_000 },
    },
    {
      name: '500 server error',
      reply: termiiError(500, 'Server Error'),
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 500 },
    },
    {
      name: '503 with an empty body',
      reply: { status: 503 },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 503 },
    },
  ],
  // 200 with a body cut short: Termii took the request, so the message may be on its way.
  malformedJson: { expected: { code: 'PROVIDER_UNAVAILABLE', status: 200, ambiguous: true } },
  abortClosesConnection: true,
  // fetch uses Node's global connection pool: there is no per-config connection to close.
  connections: 'shared',
  verify: [
    {
      name: 'a balance answer is valid',
      routes: [
        {
          method: 'GET',
          path: BALANCE_PATH,
          reply: { status: 200, json: { user: 'Acme Ltd', balance: 120.5, currency: 'NGN' } },
        },
      ],
      expected: { valid: true },
      assertRequests: ([request]) => {
        expect(request?.query.get('api_key')).toBe(API_KEY);
      },
    },
    {
      name: 'a refused API key is invalid',
      routes: [{ method: 'GET', path: BALANCE_PATH, reply: termiiError(401, 'Invalid API key') }],
      expected: { valid: false, reason: /401.*Invalid API key/ },
    },
    {
      name: 'a 200 without a balance is invalid',
      routes: [
        { method: 'GET', path: BALANCE_PATH, reply: { status: 200, json: { message: 'Invalid API key' } } },
      ],
      expected: { valid: false, reason: /Invalid API key/ },
    },
    {
      name: 'a 503 cannot tell',
      routes: [{ method: 'GET', path: BALANCE_PATH, reply: { status: 503 } }],
      expected: { error: { code: 'PROVIDER_UNAVAILABLE', status: 503 } },
    },
  ],
});

describe('termii adapter: request', () => {
  it('sends the config channel', () => {
    expect(toTermiiPayload(message, { senderId: 'Acme', channel: 'dnd' }).channel).toBe('dnd');
  });

  it('defaults to Termii v3 origin and trims a trailing slash from endpoint', () => {
    expect(termiiApiOrigin({})).toBe(TERMII_DEFAULT_ORIGIN);
    expect(termiiApiOrigin({ endpoint: 'https://api.ng.termii.com/' })).toBe('https://api.ng.termii.com');
  });

  it('counts the documented answer (message_id, no code) as sent, once', async () => {
    fake.route('POST', SEND_PATH, accepted('9122821270554876574'));
    const receipt = await termii().send(message, sendContext(config(fake.origin)));
    expect(receipt).toEqual({ messageId: '9122821270554876574' });
    expect(fake.requests).toHaveLength(1);
  });

  it('keeps every digit of a message_id sent as a JSON number', async () => {
    // 9122821270554876574 > Number.MAX_SAFE_INTEGER: JSON.parse alone would give 9122821270554876000.
    fake.route('POST', SEND_PATH, acceptedWithNumericId('9122821270554876574'));
    const receipt = await termii().send(message, sendContext(config(fake.origin)));
    expect(receipt.messageId).toBe('9122821270554876574');
  });

  it('a documented answer is not delivered twice through the dispatcher', async () => {
    fake.route('POST', SEND_PATH, accepted('9122821270554876574'));
    const pipe = new Dispatcher({
      adapters: [termii(), createMockAdapter({ provider: 'backup', channel: 'sms' })],
    });
    try {
      await pipe.providers.add(
        {
          projectId: 'p',
          channel: 'sms',
          provider: 'termii',
          name: 'Termii',
          priority: 1,
          config: config(fake.origin),
        },
        { verify: false },
      );
      await pipe.providers.add(
        { projectId: 'p', channel: 'sms', provider: 'backup', name: 'Backup', priority: 2, config: {} },
        { verify: false },
      );
      const result = await pipe.send({ projectId: 'p', channel: 'sms', to: message.to, body: message.body });
      expect(result.provider).toBe('termii');
      expect(result.messageId).toBe('9122821270554876574');
      expect(result.attempts.map((attempt) => attempt.outcome)).toEqual(['sent']);
    } finally {
      await pipe.close();
    }
  });

  it.each([
    ['AB', "the project's SMS sender id", { senderId: 'AB' }],
    ['TooLongSenderId', "the message's from", { from: 'TooLongSndr' + 'X' }],
    ['AB', "the message's from", { from: 'AB' }],
  ])(
    'refuses a sender id (%s) Termii cannot use as provider-level, before calling Termii',
    async (_label, source, fields) => {
      const error = await rejectionOf(
        termii().send({ ...message, ...fields }, sendContext(config(fake.origin))),
      );
      expectProviderError(error, 'termii', { code: 'SENDER_UNVERIFIED', message: /3-11/ }, [API_KEY]);
      expect((error as Error).message).toContain(source);
      expect(fake.requests).toEqual([]);
    },
  );

  it("uses the message's alphanumeric from, then the project's sender id, then the config's", () => {
    expect(termiiSenderOf({ from: 'Promo', senderId: 'Project' }, { senderId: 'Acme' })).toBe('Promo');
    expect(termiiSenderOf({ senderId: 'Project' }, { senderId: 'Acme' })).toBe('Project');
    expect(termiiSenderOf({}, { senderId: 'Acme' })).toBe('Acme');
    // A number is not a Termii sender id: the configured one is used instead.
    expect(termiiSenderOf({ from: '+14155550100' }, { senderId: 'Acme' })).toBe('Acme');
  });

  it("sends the message's own sender id on the wire", async () => {
    fake.route('POST', SEND_PATH, accepted('1'));
    await termii().send({ ...message, from: 'AcmePromo' }, sendContext(config(fake.origin)));
    expect(fake.requests[0]!.json<{ from: string }>().from).toBe('AcmePromo');
  });

  it('refuses a recipient that is not E.164, before calling Termii', async () => {
    const error = await rejectionOf(
      termii().send({ ...message, to: '08012345678' }, sendContext(config(fake.origin))),
    );
    expectProviderError(error, 'termii', { code: 'RECIPIENT_INVALID' }, [API_KEY]);
    expect(fake.requests).toEqual([]);
  });

  it('refuses to send without any sender id, before calling Termii', async () => {
    const { senderId: _unused, ...withoutSender } = config(fake.origin);
    const error = await rejectionOf(termii().send(message, sendContext(withoutSender as TermiiConfig)));
    expectProviderError(error, 'termii', { code: 'SENDER_UNVERIFIED' }, [API_KEY]);
    expect(fake.requests).toEqual([]);
  });

  it('never logs the request body or the balance URL', async () => {
    fake.route('POST', SEND_PATH, accepted('2'));
    fake.route('GET', BALANCE_PATH, {
      status: 503,
      body: `upstream failed for /api/get-balance?api_key=${API_KEY}`,
    });
    const adapter = termii();
    const ctx = sendContext(config(fake.origin));
    await adapter.send(message, ctx);
    const verifyContext = callContext({ logger: ctx.logger });
    const error = await rejectionOf(adapter.verify!(config(fake.origin), verifyContext));
    expectProviderError(error, 'termii', { code: 'PROVIDER_UNAVAILABLE' }, [API_KEY]);
    expect((error as Error).message).toContain('api_key=[REDACTED]');
    for (const line of ctx.logger.lines) expectNoSecrets(line, [API_KEY]);
  });
});

describe('termii adapter: classification', () => {
  it('reads the sender, credential, balance and recipient cases from the text', () => {
    expect(codeForTermiiRefusal(404, 'Sender Id not set up on this route')).toBe('SENDER_UNVERIFIED');
    expect(codeForTermiiRefusal(400, 'Invalid api key')).toBe('PROVIDER_INVALID_CREDENTIALS');
    expect(codeForTermiiRefusal(402, 'Insufficient balance')).toBe('ACCOUNT_SUSPENDED');
    expect(codeForTermiiRefusal(422, 'Invalid phone number')).toBe('RECIPIENT_INVALID');
    expect(codeForTermiiRefusal(503, 'Invalid phone number')).toBe('PROVIDER_UNAVAILABLE');
    expect(codeForTermiiRefusal(429, 'Slow down')).toBe('PROVIDER_RATE_LIMITED');
  });

  it.each([
    [400, 'Invalid phone number'],
    [422, 'Phone number is invalid'],
    [400, 'invalid number'],
    [200, 'Recipient number is not valid'],
    [422, 'The to field is invalid.'],
    [400, 'Invalid destination number'],
  ])('reads %i "%s" as a bad recipient', (status, text) => {
    expect(codeForTermiiRefusal(status, text)).toBe('RECIPIENT_INVALID');
  });

  it.each([
    [400, 'Failed to send message, try again'],
    [400, 'Unable to process request'],
    [422, 'Unable to send to the network at the moment'],
    [200, 'Message not sent'],
    [400, 'Number of messages exceeds your plan'],
    [422, 'Bad request'],
  ])('reads generic %i "%s" as provider-level, so failover continues', (status, text) => {
    expect(codeForTermiiRefusal(status, text)).toBe('PROVIDER_REJECTED');
  });
});

describe('termii answer without a message id', () => {
  it('counts code "ok" without message_id as sent, under a placeholder id', async () => {
    fake.route('POST', SEND_PATH, { status: 200, json: { code: 'ok', message: 'Successfully Sent' } });
    const adapter = termii();
    try {
      const ctx = sendContext(config(fake.origin));
      const receipt = await adapter.send(message, ctx);
      expectPlaceholderReceipt(receipt, ctx.logger, 'Termii', [API_KEY]);
    } finally {
      await adapter.close?.();
    }
  });
});
