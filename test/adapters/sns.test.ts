import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { OutboundSms, SnsConfig } from 'messagepipe';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { codeForSnsError, sns, snsMessageAttributes } from '../../adapters/sns';
import {
  callContext,
  describeAdapterConformance,
  expectPlaceholderReceipt,
  expectProviderError,
  rejectionOf,
  sendContext,
} from './conformance';
import {
  type FakeReply,
  fakeSecret,
  type HttpReply,
  type RecordedRequest,
  useFakeHttpServer,
} from './fake-http-server';
import { sendWithoutPackage } from './without-package';

const fake = useFakeHttpServer();
const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_ACCESS_KEY = fakeSecret('aws-');
const SESSION_TOKEN = fakeSecret('session-');
const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

const config = (endpoint: string): SnsConfig => ({
  region: 'eu-west-1',
  accessKeyId: ACCESS_KEY_ID,
  secretAccessKey: SECRET_ACCESS_KEY,
  sessionToken: SESSION_TOKEN,
  senderId: 'Acme',
  smsType: 'Promotional',
  originationNumber: '+14155550111',
  endpoint,
});

const message: OutboundSms = {
  channel: 'sms',
  to: '+2348012345678',
  body: 'Your code is 123456 & welcome <3',
  from: 'AcmeAlerts',
};

const xml = (status: number, body: string, headers: Record<string, string> = {}): HttpReply => ({
  status,
  headers: { 'content-type': 'text/xml', ...headers },
  body,
});

const published = (messageId: string) =>
  xml(
    200,
    `<PublishResponse xmlns="${XMLNS}"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata></PublishResponse>`,
  );

/** SNS's error answer: `ErrorResponse/Error/{Type,Code,Message}`. */
const snsError = (status: number, code: string, text: string, headers?: Record<string, string>) =>
  xml(
    status,
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${code}</Code><Message>${text}</Message></Error><RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId></ErrorResponse>`,
    headers,
  );

/** The `MessageAttributes.entry.N.*` fields of a Query request, as `name → string value`. */
function messageAttributesOf(form: URLSearchParams): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [key, name] of form) {
    const match = /^MessageAttributes\.entry\.(\d+)\.Name$/.exec(key);
    if (!match) continue;
    const prefix = `MessageAttributes.entry.${match[1]}.Value`;
    expect(form.get(`${prefix}.DataType`)).toBe('String');
    attributes[name] = form.get(`${prefix}.StringValue`) ?? '';
  }
  return attributes;
}

function expectSignedQueryRequest(request: RecordedRequest, action: string): void {
  expect(request.method).toBe('POST');
  expect(request.path).toBe('/');
  expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
  expect(request.headers.authorization).toMatch(
    new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/\\d{8}/eu-west-1/sns/aws4_request`),
  );
  expect(request.headers['x-amz-security-token']).toBe(SESSION_TOKEN);
  const form = request.form();
  expect(form.get('Action')).toBe(action);
  expect(form.get('Version')).toBe('2010-03-31');
}

/** Answers the credential check's two Query actions. */
const smsAttributesReply =
  (inSandbox: boolean | 'denied'): FakeReply =>
  (request) => {
    const action = request.form().get('Action');
    if (action === 'GetSMSAttributes') {
      return xml(
        200,
        `<GetSMSAttributesResponse xmlns="${XMLNS}"><GetSMSAttributesResult><attributes><entry><key>DefaultSMSType</key><value>Transactional</value></entry><entry><key>MonthlySpendLimit</key><value>10</value></entry></attributes></GetSMSAttributesResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetSMSAttributesResponse>`,
      );
    }
    if (action === 'GetSMSSandboxAccountStatus' && inSandbox !== 'denied') {
      return xml(
        200,
        `<GetSMSSandboxAccountStatusResponse xmlns="${XMLNS}"><GetSMSSandboxAccountStatusResult><IsInSandbox>${inSandbox}</IsInSandbox></GetSMSSandboxAccountStatusResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></GetSMSSandboxAccountStatusResponse>`,
      );
    }
    return snsError(403, 'AuthorizationError', `User is not authorized to perform: SNS:${action}`);
  };

describeAdapterConformance({
  provider: 'sns',
  channel: 'sms',
  fake,
  createAdapter: () => sns(),
  config,
  secrets: (c) => [c.secretAccessKey, c.sessionToken!],
  message,
  send: {
    method: 'POST',
    path: '/',
    success: published('6e5a1c4b-2f1d-5a8e-9b7e-1c2d3e4f5a6b'),
    messageId: '6e5a1c4b-2f1d-5a8e-9b7e-1c2d3e4f5a6b',
    assertRequest: (request, sent) => {
      expectSignedQueryRequest(request, 'Publish');
      const form = request.form();
      expect(form.get('PhoneNumber')).toBe(sent.to);
      expect(form.get('Message')).toBe(sent.body);
      expect(form.get('TopicArn')).toBeNull();
      expect(messageAttributesOf(form)).toEqual({
        'AWS.SNS.SMS.SMSType': 'Promotional',
        'AWS.SNS.SMS.SenderID': 'AcmeAlerts',
        'AWS.MM.SMS.OriginationNumber': '+14155550111',
      });
    },
  },
  failures: [
    {
      name: '400 InvalidParameter on PhoneNumber',
      reply: snsError(
        400,
        'InvalidParameter',
        'Invalid parameter: PhoneNumber Reason: input incorrectly formatted',
      ),
      expected: {
        code: 'RECIPIENT_INVALID',
        status: 400,
        providerCode: 'InvalidParameter',
        message: /PhoneNumber/,
      },
    },
    {
      // What SNS answers from a region without SMS for a well-formed number (aws-sdk-js#1217): fail over.
      name: '400 PhoneNumber "is not valid to publish to" (a region without SMS)',
      reply: snsError(
        400,
        'InvalidParameter',
        'Invalid parameter: PhoneNumber Reason: +2348012345678 is not valid to publish to',
      ),
      expected: {
        code: 'PROVIDER_REJECTED',
        status: 400,
        providerCode: 'InvalidParameter',
        message: /not valid to publish to/,
      },
    },
    {
      name: '400 ParameterValueInvalid',
      reply: snsError(400, 'ParameterValueInvalid', 'Invalid parameter: PhoneNumber'),
      expected: { code: 'RECIPIENT_INVALID', status: 400, providerCode: 'ParameterValueInvalid' },
    },
    {
      name: '400 InvalidParameter on OriginationNumber',
      reply: snsError(
        400,
        'InvalidParameter',
        'Invalid parameter: OriginationNumber Reason: not owned by the account',
      ),
      expected: { code: 'SENDER_UNVERIFIED', status: 400, providerCode: 'InvalidParameter' },
    },
    {
      name: '400 OptedOut',
      reply: snsError(400, 'OptedOut', 'Phone number is opted out'),
      expected: { code: 'RECIPIENT_SUPPRESSED', status: 400, providerCode: 'OptedOut' },
    },
    {
      name: '403 AuthorizationError',
      reply: snsError(403, 'AuthorizationError', 'User is not authorized to perform: SNS:Publish'),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403, providerCode: 'AuthorizationError' },
    },
    {
      name: '403 SignatureDoesNotMatch',
      reply: snsError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match'),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403, providerCode: 'SignatureDoesNotMatch' },
    },
    {
      name: '403 InvalidClientTokenId',
      reply: snsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid'),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403, providerCode: 'InvalidClientTokenId' },
    },
    {
      name: '429 Throttled with Retry-After',
      reply: snsError(429, 'Throttled', 'Rate exceeded', { 'retry-after': '2' }),
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, providerCode: 'Throttled', retryAfterMs: 2000 },
    },
    {
      name: '500 InternalError',
      reply: snsError(500, 'InternalError', 'Internal failure'),
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 500, providerCode: 'InternalError' },
    },
    {
      name: '503 with an empty body',
      reply: { status: 503 },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 503 },
    },
  ],
  // 200 with a body cut short: SNS took the request, so the message may be on its way.
  malformedJson: {
    headers: { 'content-type': 'text/xml' },
    expected: { code: 'PROVIDER_UNAVAILABLE', status: 200, ambiguous: true },
  },
  abortClosesConnection: true,
  connections: 'per-client',
  verify: [
    {
      name: 'readable SMS attributes are valid',
      routes: [{ method: 'POST', path: '/', reply: smsAttributesReply(true) }],
      expected: { valid: true },
      assertRequests: (requests) => {
        expect(requests.map((request) => request.form().get('Action'))).toEqual([
          'GetSMSAttributes',
          'GetSMSSandboxAccountStatus',
        ]);
        for (const request of requests) expectSignedQueryRequest(request, request.form().get('Action')!);
      },
    },
    {
      name: 'refused credentials are invalid',
      routes: [
        {
          method: 'POST',
          path: '/',
          reply: snsError(
            403,
            'InvalidClientTokenId',
            'The security token included in the request is invalid',
          ),
        },
      ],
      expected: { valid: false, reason: /InvalidClientTokenId/ },
    },
    {
      // A key allowed only sns:Publish: it can send, it just may not read the attributes.
      name: 'a key that may not call GetSMSAttributes cannot be checked, and is not invalid',
      routes: [
        {
          method: 'POST',
          path: '/',
          reply: snsError(
            403,
            'AuthorizationError',
            'User: arn:aws:iam::123456789012:user/sender is not authorized to perform: SNS:GetSMSAttributes on resource: arn:aws:sns:eu-west-1:123456789012:* because no identity-based policy allows the SNS:GetSMSAttributes action',
          ),
        },
      ],
      expected: { valid: null, reason: /cannot be checked with these permissions.*AuthorizationError/ },
    },
    {
      name: 'a 500 cannot tell',
      routes: [{ method: 'POST', path: '/', reply: snsError(500, 'InternalError', 'Internal failure') }],
      expected: { error: { code: 'PROVIDER_UNAVAILABLE', status: 500 } },
    },
  ],
});

describe('sns adapter: message attributes', () => {
  const base = { smsType: undefined, senderId: undefined, originationNumber: undefined };

  it('defaults to Transactional and sends no sender attribute when there is none', () => {
    expect(snsMessageAttributes({}, base)).toEqual({
      'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' },
    });
  });

  it('takes the sender id from the message, then the project, then the config', () => {
    const senderIdOf = (message: Pick<OutboundSms, 'from' | 'senderId'>, senderId?: string) =>
      snsMessageAttributes(message, { ...base, senderId })['AWS.SNS.SMS.SenderID']?.StringValue;
    expect(senderIdOf({ from: 'Promo', senderId: 'Project' }, 'Acme')).toBe('Promo');
    expect(senderIdOf({ senderId: 'Project' }, 'Acme')).toBe('Project');
    expect(senderIdOf({}, 'Acme')).toBe('Acme');
  });

  it("sends a number in the message's from as the origination number, not as a sender id", () => {
    const attributes = snsMessageAttributes(
      { from: '+14155550100', senderId: 'Project' },
      { ...base, originationNumber: '+14155550111' },
    );
    expect(attributes['AWS.MM.SMS.OriginationNumber']?.StringValue).toBe('+14155550100');
    expect(attributes['AWS.SNS.SMS.SenderID']?.StringValue).toBe('Project');
  });

  it("never sends the project's sender number, which the AWS account may not own", () => {
    const attributes = snsMessageAttributes({ senderId: 'Project' }, base);
    expect(attributes['AWS.MM.SMS.OriginationNumber']).toBeUndefined();
  });
});

describe('sns adapter: calls', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('reports the sandbox status in the credential check details', async () => {
    fake.route('POST', '/', smsAttributesReply(true));
    const verdict = await sns().verify!(config(fake.origin), callContext());
    expect(verdict).toEqual({
      valid: true,
      details: {
        smsAttributes: { DefaultSMSType: 'Transactional', MonthlySpendLimit: '10' },
        inSandbox: true,
      },
    });
  });

  it('stays valid when the key may not read the sandbox status', async () => {
    fake.route('POST', '/', smsAttributesReply('denied'));
    const verdict = await sns().verify!(config(fake.origin), callContext());
    expect(verdict).toEqual({
      valid: true,
      details: { smsAttributes: { DefaultSMSType: 'Transactional', MonthlySpendLimit: '10' } },
    });
  });

  it('makes exactly one request for a 500: the SDK does not retry behind the dispatcher', async () => {
    fake.route('POST', '/', snsError(500, 'InternalError', 'Internal failure'));
    const error = await rejectionOf(sns().send(message, sendContext(config(fake.origin))));
    expectProviderError(error, 'sns', { code: 'PROVIDER_UNAVAILABLE' }, [SECRET_ACCESS_KEY]);
    expect(fake.requests).toHaveLength(1);
  });

  it('uses the config, not AWS_* environment variables', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAJUNKJUNKJUNKJUNK');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'junk-secret');
    vi.stubEnv('AWS_REGION', 'us-west-2');
    vi.stubEnv('AWS_MAX_ATTEMPTS', '5');
    vi.stubEnv('AWS_ENDPOINT_URL_SNS', 'http://127.0.0.1:9');
    fake.route('POST', '/', published('env-check'));
    const adapter = sns();
    const receipt = await adapter.send(message, sendContext(config(fake.origin)));
    await adapter.close?.();
    expect(receipt.messageId).toBe('env-check');
    expectSignedQueryRequest(fake.requests[0]!, 'Publish');
  });

  it('refuses a recipient that is not E.164, before calling SNS', async () => {
    const error = await rejectionOf(
      sns().send({ ...message, to: '08012345678' }, sendContext(config(fake.origin))),
    );
    expectProviderError(error, 'sns', { code: 'RECIPIENT_INVALID' }, [SECRET_ACCESS_KEY]);
    expect(fake.requests).toEqual([]);
  });

  it('classifies by the SNS code, then by status', () => {
    expect(codeForSnsError('InvalidParameter', 400, 'Invalid parameter: PhoneNumber')).toBe(
      'RECIPIENT_INVALID',
    );
    expect(codeForSnsError('InvalidParameter', 400, 'Invalid parameter: Message too long')).toBe(
      'MESSAGE_REJECTED',
    );
    expect(codeForSnsError('InvalidParameter', 400, 'Invalid parameter: SenderID')).toBe('SENDER_UNVERIFIED');
    expect(
      codeForSnsError(
        'InvalidParameter',
        400,
        'Invalid parameter: PhoneNumber Reason: +1 is not valid to publish to',
      ),
    ).toBe('PROVIDER_REJECTED');
    expect(codeForSnsError('Throttled', 429, '')).toBe('PROVIDER_RATE_LIMITED');
    expect(codeForSnsError('Unknown', 502, '')).toBe('PROVIDER_UNAVAILABLE');
  });
});

describe('sns adapter: without @aws-sdk/client-sns', () => {
  it('fails with ADAPTER_MISSING naming the package to install', async () => {
    const outcome = await sendWithoutPackage({
      packageName: '@aws-sdk/client-sns',
      adapterModule: new URL('../../adapters/sns.ts', import.meta.url),
      factory: 'sns',
      message,
      config: config('http://127.0.0.1:9'),
    });
    expect(outcome.code).toBe('ADAPTER_MISSING');
    expect(outcome.message).toContain('npm install @aws-sdk/client-sns');
  });
});

describe('sns answer without a MessageId', () => {
  it('counts a 200 without MessageId as sent, under a placeholder id', async () => {
    fake.route(
      'POST',
      '/',
      xml(
        200,
        `<PublishResponse xmlns="${XMLNS}"><PublishResult></PublishResult><ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata></PublishResponse>`,
      ),
    );
    const adapter = sns();
    try {
      const ctx = sendContext(config(fake.origin));
      const receipt = await adapter.send(message, ctx);
      expectPlaceholderReceipt(receipt, ctx.logger, 'Amazon SNS', [SECRET_ACCESS_KEY, SESSION_TOKEN]);
    } finally {
      await adapter.close?.();
    }
  });
});

describe('sns timeouts reported without a code', () => {
  const timeoutError = (text: string) => Object.assign(new Error(text), { name: 'TimeoutError' });

  it.each([
    [
      'an idle socket after sending: may have been delivered',
      '@smithy/node-http-handler - the request socket timed out after 300 ms of inactivity (configured by client requestHandler).',
      true,
    ],
    [
      'no connection established: nothing was sent',
      '@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 300 ms.',
      false,
    ],
  ])('reads a TimeoutError from %s as PROVIDER_TIMEOUT', async (_case, text, ambiguous) => {
    const handle = vi.spyOn(NodeHttpHandler.prototype, 'handle').mockRejectedValue(timeoutError(text));
    const adapter = sns();
    try {
      const error = await rejectionOf(adapter.send(message, sendContext(config(fake.origin))));
      expectProviderError(error, 'sns', { code: 'PROVIDER_TIMEOUT', ambiguous }, [
        SECRET_ACCESS_KEY,
        SESSION_TOKEN,
      ]);
    } finally {
      handle.mockRestore();
      await adapter.close?.();
    }
  });
});
