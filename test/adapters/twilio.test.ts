import { type OutboundSms, type TwilioConfig, twilioConfigSchema } from 'messagepipe';
import twilioSdk from 'twilio';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { codeForTwilioError, rewriteOrigin, twilio, twilioSenderOf } from '../../adapters/twilio';
import {
  describeAdapterConformance,
  expectNoSecrets,
  expectProviderError,
  rejectionOf,
  sendContext,
} from './conformance';
import { fakeSecret, type RecordedRequest, useFakeHttpServer } from './fake-http-server';
import { sendWithoutPackage } from './without-package';

const fake = useFakeHttpServer();
const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = fakeSecret('twilio-');
const MESSAGING_SERVICE_SID = `MG${'fedcba9876543210'.repeat(2)}`;
const FROM = '+14155550199';
const MESSAGES_PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
const ACCOUNT_PATH = `/2010-04-01/Accounts/${ACCOUNT_SID}.json`;
const BASIC_AUTH = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;

const config = (endpoint: string): TwilioConfig => ({
  accountSid: ACCOUNT_SID,
  authToken: AUTH_TOKEN,
  from: FROM,
  endpoint,
});

const message: OutboundSms = { channel: 'sms', to: '+2348012345678', body: 'Your code is 123456 — welcome!' };

/** Twilio's answer to an accepted message. */
const created = (sid: string) => ({
  status: 201,
  json: {
    sid,
    account_sid: ACCOUNT_SID,
    to: message.to,
    from: FROM,
    body: message.body,
    status: 'queued',
    num_segments: '1',
    direction: 'outbound-api',
    date_created: 'Thu, 30 Jul 2015 20:12:31 +0000',
    uri: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${sid}.json`,
  },
});

/** Twilio's error body: `{code, message, more_info, status}`. */
const twilioError = (status: number, code: number, text: string, headers?: Record<string, string>) => ({
  status,
  json: { code, message: text, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
  ...(headers ? { headers } : {}),
});

function expectTwilioRequest(request: RecordedRequest): void {
  expect(request.method).toBe('POST');
  expect(request.path).toBe(MESSAGES_PATH);
  expect(request.headers.authorization).toBe(BASIC_AUTH);
  expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
}

describeAdapterConformance({
  provider: 'twilio',
  channel: 'sms',
  fake,
  createAdapter: () => twilio(),
  config,
  secrets: (c) => [c.authToken!, Buffer.from(`${c.accountSid}:${c.authToken}`).toString('base64')],
  message,
  send: {
    method: 'POST',
    path: MESSAGES_PATH,
    success: created('SM0123456789abcdef0123456789abcdef'),
    messageId: 'SM0123456789abcdef0123456789abcdef',
    assertRequest: (request, sent, c) => {
      expectTwilioRequest(request);
      expect(request.fields()).toEqual({ To: [sent.to], From: [c.from], Body: [sent.body] });
    },
  },
  failures: [
    {
      name: '400 code 21211 invalid To',
      reply: twilioError(400, 21211, "The 'To' number +2348012345678 is not a valid phone number."),
      expected: { code: 'RECIPIENT_INVALID', status: 400, providerCode: 21211, message: /not a valid phone/ },
    },
    {
      name: '400 code 21610 unsubscribed recipient',
      reply: twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'),
      expected: { code: 'RECIPIENT_SUPPRESSED', status: 400, providerCode: 21610 },
    },
    {
      // The route or the destination's sender-id rules, not the recipient: another provider can deliver.
      name: '400 code 21612 To/From combination cannot be sent',
      reply: twilioError(
        400,
        21612,
        "Message cannot be sent with the current combination of 'To' (+2348012345678) and/or 'From' (+14155550199) parameters",
      ),
      expected: { code: 'PROVIDER_REJECTED', status: 400, providerCode: 21612 },
    },
    {
      name: '400 code 21614 To is not a mobile number',
      reply: twilioError(400, 21614, "'To' number is not a valid mobile number"),
      expected: { code: 'RECIPIENT_INVALID', providerCode: 21614 },
    },
    {
      name: '400 code 21635 To is a landline',
      reply: twilioError(400, 21635, "'To' number cannot be a landline"),
      expected: { code: 'RECIPIENT_INVALID', providerCode: 21635 },
    },
    {
      name: '400 code 21617 body too long',
      reply: twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit'),
      expected: { code: 'MESSAGE_REJECTED', providerCode: 21617 },
    },
    {
      name: '400 code 21608 unverified To on a trial account',
      reply: twilioError(400, 21608, 'The number is unverified. Trial accounts cannot send messages to it.'),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', providerCode: 21608 },
    },
    {
      name: "400 code 21606 From can't send there",
      reply: twilioError(
        400,
        21606,
        "The 'From' phone number provided is not a valid message-capable number",
      ),
      expected: { code: 'SENDER_UNVERIFIED', providerCode: 21606 },
    },
    {
      name: '400 code 21408 region not enabled',
      reply: twilioError(
        400,
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
      ),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', providerCode: 21408 },
    },
    {
      name: '400 code 21705 invalid Messaging Service',
      reply: twilioError(400, 21705, 'This Messaging Service is invalid'),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', providerCode: 21705 },
    },
    {
      name: '400 with an unknown Twilio code',
      reply: twilioError(400, 29999, 'Something about the account'),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', providerCode: 29999 },
    },
    {
      name: '404 code 20404 wrong AccountSid',
      reply: twilioError(404, 20404, 'The requested resource was not found'),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', status: 404, providerCode: 20404 },
    },
    {
      name: '401 code 20003 authentication failed',
      reply: twilioError(401, 20003, 'Authenticate'),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401, providerCode: 20003 },
    },
    {
      name: '429 code 20429 with Retry-After',
      reply: twilioError(429, 20429, 'Too Many Requests', { 'retry-after': '30' }),
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, providerCode: 20429, retryAfterMs: 30_000 },
    },
    {
      name: '503 with an empty body (no Twilio code)',
      reply: { status: 503 },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 503, message: /503/ },
    },
    {
      name: '500 with a Twilio error body',
      reply: twilioError(500, 20500, 'An internal server error has occurred'),
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 500, providerCode: 20500 },
    },
    {
      name: '502 HTML page from a proxy with Retry-After',
      reply: {
        status: 502,
        headers: { 'content-type': 'text/html', 'retry-after': '5' },
        body: '<html>Bad gateway</html>',
      },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 502, retryAfterMs: 5000 },
    },
  ],
  // 201 with a body cut short: Twilio took the request, so the message may be on its way.
  malformedJson: {
    status: 201,
    expected: { code: 'PROVIDER_UNAVAILABLE', status: 201, ambiguous: true },
  },
  abortClosesConnection: true,
  connections: 'per-client',
  verify: [
    {
      name: 'an active account is valid',
      routes: [
        {
          method: 'GET',
          path: ACCOUNT_PATH,
          reply: {
            status: 200,
            json: { sid: ACCOUNT_SID, status: 'active', type: 'Full', friendly_name: 'Acme' },
          },
        },
      ],
      expected: { valid: true },
      assertRequests: ([request]) => {
        expect(request?.headers.authorization).toBe(BASIC_AUTH);
      },
    },
    {
      name: 'a suspended account is invalid',
      routes: [
        {
          method: 'GET',
          path: ACCOUNT_PATH,
          reply: { status: 200, json: { sid: ACCOUNT_SID, status: 'suspended', type: 'Full' } },
        },
      ],
      expected: { valid: false, reason: /suspended/ },
    },
    {
      name: 'a closed account is invalid',
      routes: [
        {
          method: 'GET',
          path: ACCOUNT_PATH,
          reply: { status: 200, json: { sid: ACCOUNT_SID, status: 'closed', type: 'Full' } },
        },
      ],
      expected: { valid: false, reason: /closed/ },
    },
    {
      name: 'refused credentials are invalid',
      routes: [{ method: 'GET', path: ACCOUNT_PATH, reply: twilioError(401, 20003, 'Authenticate') }],
      expected: { valid: false, reason: /20003/ },
    },
    {
      name: 'a 503 cannot tell',
      routes: [{ method: 'GET', path: ACCOUNT_PATH, reply: { status: 503 } }],
      expected: { error: { code: 'PROVIDER_UNAVAILABLE', status: 503 } },
    },
  ],
});

describe('twilio adapter: sender', () => {
  const send = async (sms: OutboundSms, overrides: Partial<TwilioConfig> = {}) => {
    fake.route('POST', MESSAGES_PATH, created('SM1'));
    const adapter = twilio();
    try {
      const c = { ...config(fake.origin), ...overrides } as TwilioConfig;
      await adapter.send(sms, sendContext(c));
      return fake.requests.at(-1)!.fields();
    } finally {
      await adapter.close?.();
    }
  };

  it("sends the message's own from, over the config and the project sender", async () => {
    const fields = await send(
      { ...message, from: 'AcmeAlerts', senderId: 'Acme', senderNumber: '+14155550123' },
      { messagingServiceSid: MESSAGING_SERVICE_SID },
    );
    expect(fields.From).toEqual(['AcmeAlerts']);
    expect(fields.MessagingServiceSid).toBeUndefined();
  });

  it('sends the messaging service when the config has one', async () => {
    const { from: _unused, ...withoutFrom } = config(fake.origin);
    fake.route('POST', MESSAGES_PATH, created('SM2'));
    const adapter = twilio();
    await adapter.send(message, sendContext({ ...withoutFrom, messagingServiceSid: MESSAGING_SERVICE_SID }));
    await adapter.close?.();
    const fields = fake.requests[0]!.fields();
    expect(fields.MessagingServiceSid).toEqual([MESSAGING_SERVICE_SID]);
    expect(fields.From).toBeUndefined();
  });

  it("sends the project's sender number over the config's, with the messaging service when there is one", async () => {
    const plain = await send({ ...message, senderNumber: '+14155550123' });
    expect(plain.From).toEqual(['+14155550123']);
    const withService = await send(
      { ...message, senderNumber: '+14155550123' },
      { messagingServiceSid: MESSAGING_SERVICE_SID },
    );
    expect(withService.From).toEqual(['+14155550123']);
    expect(withService.MessagingServiceSid).toEqual([MESSAGING_SERVICE_SID]);
  });

  it('sends the messaging service with the config number when both are set', async () => {
    const fields = await send(message, { messagingServiceSid: MESSAGING_SERVICE_SID });
    expect(fields.MessagingServiceSid).toEqual([MESSAGING_SERVICE_SID]);
    expect(fields.From).toEqual([FROM]);
  });

  it("takes the project's sender number, then its sender id, then the config's sender", () => {
    expect(twilioSenderOf({ senderNumber: '+14155550123', senderId: 'Acme' }, { from: FROM })).toEqual({
      from: '+14155550123',
    });
    expect(twilioSenderOf({ senderId: 'Acme' }, { from: FROM })).toEqual({ from: 'Acme' });
    expect(twilioSenderOf({}, { from: FROM })).toEqual({ from: FROM });
  });

  it('refuses to send without any sender, before calling Twilio', async () => {
    const { from: _unused, ...withoutFrom } = config(fake.origin);
    const error = await rejectionOf(twilio().send(message, sendContext(withoutFrom as TwilioConfig)));
    expectProviderError(error, 'twilio', { code: 'SENDER_UNVERIFIED' }, [AUTH_TOKEN]);
    expect(fake.requests).toEqual([]);
  });

  it('refuses a recipient that is not E.164, before calling Twilio', async () => {
    const error = await rejectionOf(
      twilio().send({ ...message, to: '08012345678' }, sendContext(config(fake.origin))),
    );
    expectProviderError(error, 'twilio', { code: 'RECIPIENT_INVALID' }, [AUTH_TOKEN]);
    expect(fake.requests).toEqual([]);
  });
});

/** Watches the host name the SDK computes from edge and region, before the adapter points it at the endpoint. */
function watchSdkHostnames() {
  const prototype = twilioSdk.Twilio.prototype as unknown as {
    getHostname(hostname: string, edge?: string, region?: string): string;
  };
  return vi.spyOn(prototype, 'getHostname');
}

describe('twilio adapter: environment', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('ignores TWILIO_* environment variables: credentials, edge, region and log level come from the config', async () => {
    const junkToken = fakeSecret('env-token-');
    vi.stubEnv('TWILIO_ACCOUNT_SID', `AC${'9'.repeat(32)}`);
    vi.stubEnv('TWILIO_AUTH_TOKEN', junkToken);
    vi.stubEnv('TWILIO_EDGE', 'junk-edge');
    vi.stubEnv('TWILIO_REGION', 'junk-region');
    vi.stubEnv('TWILIO_LOG_LEVEL', 'debug');
    const consoleLog = vi.spyOn(console, 'log').mockImplementation(() => {});
    const hostnames = watchSdkHostnames();
    fake.route('POST', MESSAGES_PATH, created('SM3'));
    const adapter = twilio();
    await adapter.send(message, sendContext(config(fake.origin)));
    // Account fetch too: it goes through the same client set-up.
    fake.route('GET', ACCOUNT_PATH, {
      status: 200,
      json: { sid: ACCOUNT_SID, status: 'active', type: 'Full' },
    });
    await expect(
      adapter.verify!(config(fake.origin), sendContext(config(fake.origin))),
    ).resolves.toMatchObject({
      valid: true,
    });
    await adapter.close?.();
    expect(fake.unmatched).toEqual([]);
    expect(fake.requests.map((request) => request.headers.authorization)).toEqual([BASIC_AUTH, BASIC_AUTH]);
    expect(hostnames.mock.results.map((result) => result.value)).toEqual([
      'api.twilio.com',
      'api.twilio.com',
    ]);
    // The SDK's debug logging prints request details; it stays off whatever TWILIO_LOG_LEVEL says.
    expect(consoleLog).not.toHaveBeenCalled();
  });

  it('reaches the endpoint even with a region and edge configured', async () => {
    const hostnames = watchSdkHostnames();
    fake.route('POST', MESSAGES_PATH, created('SM4'));
    const adapter = twilio();
    const receipt = await adapter.send(
      message,
      sendContext({ ...config(fake.origin), region: 'ie1', edge: 'dublin' }),
    );
    await adapter.close?.();
    expect(receipt.messageId).toBe('SM4');
    expect(hostnames.mock.results.map((result) => result.value)).toEqual(['api.dublin.ie1.twilio.com']);
    expectTwilioRequest(fake.requests[0]!);
  });
});

describe('twilio adapter: concurrent sends on one client', () => {
  it("aborting one send closes its own connection only, and each answer's headers stay with its send", async () => {
    fake.once('POST', MESSAGES_PATH, { fault: 'hang' });
    fake.once('POST', MESSAGES_PATH, { fault: 'hang' });
    const adapter = twilio();
    const first = sendContext(config(fake.origin), { timeoutMs: 60_000 });
    const second = sendContext(config(fake.origin), { timeoutMs: 60_000 });
    const firstOutcome = rejectionOf(adapter.send(message, first));
    const secondOutcome = rejectionOf(adapter.send(message, second));
    await fake.waitForRequests(2);
    const [firstRequest, secondRequest] = fake.requests;
    expect(firstRequest!.connectionId).not.toBe(secondRequest!.connectionId);

    first.controller.abort(new Error('first caller gave up'));
    expectProviderError(await firstOutcome, 'twilio', { code: 'PROVIDER_TIMEOUT' }, [AUTH_TOKEN]);
    await fake.connectionClosed(firstRequest!.connectionId);
    expect(fake.isConnectionClosed(secondRequest!.connectionId)).toBe(false);

    second.controller.abort(new Error('second caller gave up'));
    expectProviderError(await secondOutcome, 'twilio', { code: 'PROVIDER_TIMEOUT' }, [AUTH_TOKEN]);
    await fake.connectionClosed(secondRequest!.connectionId);

    // A rate-limited send and an accepted one at the same time: the Retry-After belongs to the first only.
    fake.once('POST', MESSAGES_PATH, twilioError(429, 20429, 'Too Many Requests', { 'retry-after': '12' }));
    fake.once('POST', MESSAGES_PATH, created('SM5'));
    const [limited, sent] = await Promise.allSettled([
      adapter.send(message, sendContext(config(fake.origin))),
      adapter.send(message, sendContext(config(fake.origin))),
    ]);
    await adapter.close?.();
    expect(sent).toEqual({ status: 'fulfilled', value: { messageId: 'SM5' } });
    expect(limited.status).toBe('rejected');
    expectProviderError(
      (limited as PromiseRejectedResult).reason,
      'twilio',
      {
        code: 'PROVIDER_RATE_LIMITED',
        retryAfterMs: 12_000,
      },
      [AUTH_TOKEN],
    );
  });
});

describe('twilio adapter: helpers', () => {
  it('rewrites only the origin of an SDK URL', () => {
    expect(
      rewriteOrigin(
        'https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=1',
        'http://127.0.0.1:8080',
      ),
    ).toBe('http://127.0.0.1:8080/2010-04-01/Accounts/AC1/Messages.json?PageSize=1');
  });

  it('classifies by Twilio code first, then by status', () => {
    expect(codeForTwilioError(400, 21211)).toBe('RECIPIENT_INVALID');
    expect(codeForTwilioError(429, 20429)).toBe('PROVIDER_RATE_LIMITED');
    expect(codeForTwilioError(401, undefined)).toBe('PROVIDER_INVALID_CREDENTIALS');
    expect(codeForTwilioError(503, undefined)).toBe('PROVIDER_UNAVAILABLE');
    // An unknown code is not proof the message is at fault: another provider may deliver it.
    expect(codeForTwilioError(400, 99999)).toBe('PROVIDER_REJECTED');
    expect(codeForTwilioError(422, 99999)).toBe('PROVIDER_REJECTED');
    expect(codeForTwilioError(429, 99999)).toBe('PROVIDER_RATE_LIMITED');
    expect(codeForTwilioError(403, 99999)).toBe('PROVIDER_INVALID_CREDENTIALS');
  });

  it.each([
    [21601, 'SENDER_UNVERIFIED'],
    [21603, 'SENDER_UNVERIFIED'],
    [21661, 'SENDER_UNVERIFIED'],
    [21701, 'PROVIDER_REJECTED'],
    [21702, 'PROVIDER_REJECTED'],
    [21703, 'SENDER_UNVERIFIED'],
    [21704, 'SENDER_UNVERIFIED'],
    [21705, 'PROVIDER_REJECTED'],
  ])('reads sender/service code %i as provider-level (%s)', (twilioCode, expected) => {
    expect(codeForTwilioError(400, twilioCode)).toBe(expected);
  });

  it.each([
    [21211, 'RECIPIENT_INVALID'],
    [21614, 'RECIPIENT_INVALID'],
    [21635, 'RECIPIENT_INVALID'],
    [21610, 'RECIPIENT_SUPPRESSED'],
    [21602, 'MESSAGE_REJECTED'],
    [21617, 'MESSAGE_REJECTED'],
  ])('keeps message-level code %i as %s', (twilioCode, expected) => {
    expect(codeForTwilioError(400, twilioCode)).toBe(expected);
  });

  it('reads a 404 (wrong AccountSid or service) as provider-level, not transient', () => {
    expect(codeForTwilioError(404, 20404)).toBe('PROVIDER_REJECTED');
    expect(codeForTwilioError(404, undefined)).toBe('PROVIDER_REJECTED');
  });
});

describe('twilio adapter: API keys', () => {
  const API_KEY_SID = `SK${'a1b2c3d4e5f60718'.repeat(2)}`;
  const API_KEY_SECRET = fakeSecret('twilio-key-');
  const KEY_AUTH = `Basic ${Buffer.from(`${API_KEY_SID}:${API_KEY_SECRET}`).toString('base64')}`;
  const keyConfig = (endpoint: string): TwilioConfig => ({
    accountSid: ACCOUNT_SID,
    apiKeySid: API_KEY_SID,
    apiKeySecret: API_KEY_SECRET,
    from: FROM,
    endpoint,
  });
  const messagePage = {
    status: 200,
    json: {
      messages: [],
      end: 0,
      first_page_uri: `${MESSAGES_PATH}?PageSize=1&Page=0`,
      next_page_uri: null,
      page: 0,
      page_size: 1,
      previous_page_uri: null,
      start: 0,
      uri: `${MESSAGES_PATH}?PageSize=1&Page=0`,
    },
  };

  it('sends as apiKeySid:apiKeySecret, with the account SID in the URL', async () => {
    fake.route('POST', MESSAGES_PATH, created('SM6'));
    const adapter = twilio();
    try {
      const receipt = await adapter.send(message, sendContext(keyConfig(fake.origin)));
      expect(receipt.messageId).toBe('SM6');
    } finally {
      await adapter.close?.();
    }
    expect(fake.unmatched).toEqual([]);
    expect(fake.requests[0]!.path).toBe(MESSAGES_PATH);
    expect(fake.requests[0]!.headers.authorization).toBe(KEY_AUTH);
  });

  it('checks an API key by listing a message, since standard keys may not read /Accounts', async () => {
    fake.route('GET', MESSAGES_PATH, messagePage);
    const adapter = twilio();
    await expect(
      adapter.verify!(keyConfig(fake.origin), sendContext(keyConfig(fake.origin))),
    ).resolves.toEqual({
      valid: true,
      details: { credentials: 'apiKey' },
    });
    expect(fake.unmatched).toEqual([]);
    expect(fake.requests[0]!.query.get('PageSize')).toBe('1');
    expect(fake.requests[0]!.headers.authorization).toBe(KEY_AUTH);
  });

  it('reads a refused key (20003) as invalid and a key without read access (70051) as "cannot check"', async () => {
    const adapter = twilio();
    fake.once('GET', MESSAGES_PATH, twilioError(401, 20003, 'Authenticate'));
    const refused = await adapter.verify!(keyConfig(fake.origin), sendContext(keyConfig(fake.origin)));
    expect(refused).toMatchObject({ valid: false, reason: /20003/ });
    fake.once('GET', MESSAGES_PATH, twilioError(403, 70051, 'Authorization Failed'));
    const restricted = await adapter.verify!(keyConfig(fake.origin), sendContext(keyConfig(fake.origin)));
    expect(restricted).toMatchObject({ valid: null, reason: /cannot be checked/ });
    expectNoSecrets(restricted, [API_KEY_SECRET]);
  });

  it('takes authToken or an API key pair in the config, never both or half a pair', () => {
    const issues = (input: Record<string, unknown>) => {
      const result = twilioConfigSchema.safeParse(input);
      return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
    };
    const base = { accountSid: ACCOUNT_SID, from: FROM };
    expect(issues({ ...base, authToken: 't' })).toEqual([]);
    expect(issues({ ...base, apiKeySid: API_KEY_SID, apiKeySecret: 's' })).toEqual([]);
    expect(issues({ ...base, authToken: 't', apiKeySid: API_KEY_SID, apiKeySecret: 's' })).toEqual([
      'authToken',
    ]);
    expect(issues({ ...base, apiKeySid: API_KEY_SID })).toEqual(['apiKeySecret']);
    expect(issues(base)).toEqual(['authToken']);
    expect(issues({ ...base, apiKeySid: 'AC123', apiKeySecret: 's' })).toEqual(['apiKeySid']);
  });
});

describe('twilio adapter: without the twilio package', () => {
  it('fails with ADAPTER_MISSING naming the package to install', async () => {
    const outcome = await sendWithoutPackage({
      packageName: 'twilio',
      adapterModule: new URL('../../adapters/twilio.ts', import.meta.url),
      factory: 'twilio',
      message,
      config: config('http://127.0.0.1:9'),
    });
    expect(outcome.code).toBe('ADAPTER_MISSING');
    expect(outcome.message).toContain('npm install twilio');
  });
});
