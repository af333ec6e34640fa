import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Dispatcher, type SesConfig } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it, vi } from 'vitest';
import { formatSesAddress, ses, toSendEmailInput } from '../../adapters/ses';
import {
  callContext,
  describeAdapterConformance,
  expectPlaceholderReceipt,
  expectProviderError,
  rejectionOf,
  sendContext,
} from './conformance';
import { type FakeReply, fakeSecret, type RecordedRequest, useFakeHttpServer } from './fake-http-server';
import { PDF, PNG, sampleEmail } from './sample-email';
import { sendWithoutPackage } from './without-package';

const fake = useFakeHttpServer();
const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_ACCESS_KEY = fakeSecret('aws-');
const REGION = 'eu-west-1';
const config = (endpoint: string): SesConfig => ({
  accessKeyId: ACCESS_KEY_ID,
  secretAccessKey: SECRET_ACCESS_KEY,
  region: REGION,
  configurationSetName: 'transactional',
  endpoint,
});

const message = sampleEmail({ from: { email: 'noreply@acme.test', name: 'Zoë at Acme' } });

const expectedBody = {
  // A non-ASCII display name goes as an RFC 2047 encoded-word, as SES requires.
  FromEmailAddress: '=?UTF-8?B?Wm/DqyBhdCBBY21l?= <noreply@acme.test>',
  Destination: {
    ToAddresses: ['Ann Lee <ann@example.test>', 'bob@example.test'],
    CcAddresses: ['Cat <cat@example.test>'],
    BccAddresses: ['dan@example.test'],
  },
  ReplyToAddresses: ['Support <support@acme.test>'],
  Content: {
    Simple: {
      Subject: { Data: 'Welcome aboard', Charset: 'UTF-8' },
      Body: {
        Text: { Data: 'Hello Ann', Charset: 'UTF-8' },
        Html: { Data: '<p>Hello Ann <img src="cid:logo"></p>', Charset: 'UTF-8' },
      },
      Headers: [{ Name: 'X-Campaign', Value: 'spring' }],
      Attachments: [
        {
          RawContent: Buffer.from(PDF).toString('base64'),
          FileName: 'terms.pdf',
          ContentDisposition: 'ATTACHMENT',
          ContentTransferEncoding: 'BASE64',
          ContentType: 'application/pdf',
        },
        {
          RawContent: Buffer.from(PNG).toString('base64'),
          FileName: 'logo.png',
          ContentDisposition: 'INLINE',
          ContentTransferEncoding: 'BASE64',
          ContentType: 'image/png',
          ContentId: 'logo',
        },
      ],
    },
  },
  EmailTags: [
    { Name: 'userId', Value: '42' },
    { Name: 'welcome', Value: 'true' },
    { Name: 'onboarding', Value: 'true' },
  ],
  ConfigurationSetName: 'transactional',
};

/** SigV4 with the config's key, for SES (signing name `ses`) in the config's region. */
function expectSigned(request: RecordedRequest, accessKeyId = ACCESS_KEY_ID): void {
  expect(request.headers.authorization).toMatch(
    new RegExp(
      `^AWS4-HMAC-SHA256 Credential=${accessKeyId}/\\d{8}/${REGION}/ses/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$`,
    ),
  );
  expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
}

/**
 * An SES error as the REST-JSON protocol answers it: the type in `x-amzn-ErrorType` (with its namespace suffix,
 * which the SDK strips) and `{message}` in the body.
 */
const awsError = (
  status: number,
  errorType: string,
  text: string,
  headers: Record<string, string> = {},
): FakeReply => ({
  status,
  headers: {
    'x-amzn-ErrorType': `${errorType}:http://internal.amazon.com/coral/com.amazonaws.sesv2/`,
    'x-amzn-RequestId': '6b4a1f9e-8c1d-4f3a-9a57-0c2a6f0f1e11',
    ...headers,
  },
  json: { message: text },
});

const account = {
  DedicatedIpAutoWarmupEnabled: false,
  EnforcementStatus: 'HEALTHY',
  ProductionAccessEnabled: true,
  SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 1234 },
  SendingEnabled: true,
};

const identities = {
  EmailIdentities: [
    {
      IdentityType: 'DOMAIN',
      IdentityName: 'acme.test',
      SendingEnabled: true,
      VerificationStatus: 'SUCCESS',
    },
    {
      IdentityType: 'DOMAIN',
      IdentityName: 'news.acme.test',
      SendingEnabled: false,
      VerificationStatus: 'PENDING',
    },
    {
      IdentityType: 'EMAIL_ADDRESS',
      IdentityName: 'ops@other.test',
      SendingEnabled: true,
      VerificationStatus: 'SUCCESS',
    },
  ],
};

const expectedIdentities = [
  {
    domain: 'acme.test',
    verified: true,
    details: { kind: 'domain', identityType: 'DOMAIN', verificationStatus: 'SUCCESS', sendingEnabled: true },
  },
  {
    domain: 'news.acme.test',
    verified: false,
    details: { kind: 'domain', identityType: 'DOMAIN', verificationStatus: 'PENDING', sendingEnabled: false },
  },
  {
    domain: 'ops@other.test',
    verified: true,
    details: {
      kind: 'sender',
      identityType: 'EMAIL_ADDRESS',
      verificationStatus: 'SUCCESS',
      sendingEnabled: true,
    },
  },
];

/** SDK 3.1169 lists identities with `POST /v2/email/list-identities`; up to 3.1100 it used `GET /v2/email/identities`. */
const LIST_IDENTITIES = [
  { method: 'POST', path: '/v2/email/list-identities' },
  { method: 'GET', path: '/v2/email/identities' },
];

describeAdapterConformance({
  provider: 'ses',
  channel: 'email',
  fake,
  createAdapter: () => ses(),
  config,
  secrets: (c) => [c.secretAccessKey],
  message,
  send: {
    method: 'POST',
    path: '/v2/email/outbound-emails',
    success: {
      status: 200,
      json: { MessageId: '010201234567abcd-11112222-3333-4444-5555-666677778888-000000' },
    },
    messageId: '010201234567abcd-11112222-3333-4444-5555-666677778888-000000',
    assertRequest: (request) => {
      expect(request.path).toBe('/v2/email/outbound-emails');
      expectSigned(request);
      expect(request.headers['content-type']).toMatch(/^application\/json/);
      expect(request.json()).toEqual(expectedBody);
    },
  },
  failures: [
    {
      name: '400 MessageRejected (content)',
      reply: awsError(400, 'MessageRejected', 'Message rejected: The message contains a virus.'),
      expected: { code: 'MESSAGE_REJECTED', status: 400, providerCode: 'MessageRejected', message: /virus/ },
    },
    {
      name: '400 MessageRejected (identity not verified)',
      reply: awsError(
        400,
        'MessageRejected',
        'Email address is not verified. The following identities failed the check in region EU-WEST-1: noreply@acme.test',
      ),
      expected: { code: 'SENDER_UNVERIFIED', status: 400, providerCode: 'MessageRejected' },
    },
    {
      name: '400 MailFromDomainNotVerifiedException',
      reply: awsError(
        400,
        'MailFromDomainNotVerifiedException',
        'MAIL FROM domain acme.test is not verified.',
      ),
      expected: {
        code: 'SENDER_UNVERIFIED',
        status: 400,
        providerCode: 'MailFromDomainNotVerifiedException',
      },
    },
    {
      name: '400 AccountSuspendedException',
      reply: awsError(400, 'AccountSuspendedException', 'Your account has been suspended.'),
      expected: { code: 'ACCOUNT_SUSPENDED', status: 400, providerCode: 'AccountSuspendedException' },
    },
    {
      name: '400 SendingPausedException',
      reply: awsError(400, 'SendingPausedException', 'Sending is paused for this account.'),
      expected: { code: 'ACCOUNT_SUSPENDED', status: 400, providerCode: 'SendingPausedException' },
    },
    {
      name: '400 BadRequestException on an address',
      reply: awsError(400, 'BadRequestException', 'Illegal address'),
      expected: { code: 'MESSAGE_REJECTED', status: 400, providerCode: 'BadRequestException' },
    },
    {
      name: '400 BadRequestException on the request',
      reply: awsError(400, 'BadRequestException', 'Tag value contains invalid characters.'),
      expected: { code: 'PROVIDER_REJECTED', status: 400, providerCode: 'BadRequestException' },
    },
    {
      name: '404 NotFoundException (configuration set)',
      reply: awsError(404, 'NotFoundException', 'Configuration set <transactional> does not exist.'),
      expected: { code: 'PROVIDER_REJECTED', status: 404, providerCode: 'NotFoundException' },
    },
    {
      name: '403 UnrecognizedClientException',
      reply: awsError(
        403,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      ),
      expected: {
        code: 'PROVIDER_INVALID_CREDENTIALS',
        status: 403,
        providerCode: 'UnrecognizedClientException',
      },
    },
    {
      name: '403 SignatureDoesNotMatch',
      reply: awsError(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      ),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403, providerCode: 'SignatureDoesNotMatch' },
    },
    {
      name: '403 InvalidClientTokenId',
      reply: awsError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403 },
    },
    {
      name: '403 AccessDeniedException',
      reply: awsError(
        403,
        'AccessDeniedException',
        'User: arn:aws:iam::123456789012:user/app is not authorized to perform: ses:SendEmail',
      ),
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403 },
    },
    {
      // An account resource limit, not a rate: retrying the same provider does not help.
      name: '400 LimitExceededException',
      reply: awsError(
        400,
        'LimitExceededException',
        'There are too many instances of the specified resource type.',
      ),
      expected: { code: 'PROVIDER_REJECTED', status: 400, providerCode: 'LimitExceededException' },
    },
    {
      name: '429 TooManyRequestsException',
      reply: awsError(429, 'TooManyRequestsException', 'Too Many Requests'),
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, providerCode: 'TooManyRequestsException' },
    },
    {
      name: '429 with Retry-After',
      reply: awsError(429, 'TooManyRequestsException', 'Too Many Requests', { 'retry-after': '3' }),
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 3000 },
    },
    {
      name: '400 ThrottlingException',
      reply: awsError(400, 'ThrottlingException', 'Maximum sending rate exceeded.'),
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 400 },
    },
    {
      name: '500 InternalServiceErrorException',
      reply: awsError(500, 'InternalServiceErrorException', 'Internal service error.'),
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 500, providerCode: 'InternalServiceErrorException' },
    },
    {
      name: '503 with an HTML body',
      reply: {
        status: 503,
        headers: { 'content-type': 'text/html' },
        body: '<html><body>Service Unavailable</body></html>',
      },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 503 },
    },
  ],
  // A 200 whose body cannot be read may still have been accepted.
  malformedJson: { expected: { code: 'PROVIDER_UNAVAILABLE', status: 200, ambiguous: true } },
  abortClosesConnection: true,
  // Each SDK client has its own keep-alive agent, destroyed with the client.
  connections: 'per-client',
  verify: [
    {
      name: 'credentials of an account that may send are valid',
      routes: [{ method: 'GET', path: '/v2/email/account', reply: { status: 200, json: account } }],
      expected: { valid: true },
      assertRequests: (requests) => {
        expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([
          'GET /v2/email/account',
        ]);
        expectSigned(requests[0]!);
      },
    },
    {
      name: 'an account whose sending is paused is invalid',
      routes: [
        {
          method: 'GET',
          path: '/v2/email/account',
          reply: { status: 200, json: { ...account, SendingEnabled: false } },
        },
      ],
      expected: { valid: false, reason: /paused.*eu-west-1|eu-west-1.*paused/ },
    },
    {
      name: 'unknown credentials are invalid',
      routes: [
        {
          method: 'GET',
          path: '/v2/email/account',
          reply: awsError(
            403,
            'UnrecognizedClientException',
            'The security token included in the request is invalid.',
          ),
        },
      ],
      expected: { valid: false, reason: /UnrecognizedClientException.*security token/ },
    },
    {
      // A key allowed only ses:SendEmail: it can send, it just may not read the account.
      name: 'a key that may not call GetAccount cannot be checked, and is not invalid',
      routes: [
        {
          method: 'GET',
          path: '/v2/email/account',
          reply: awsError(
            403,
            'AccessDeniedException',
            'User: arn:aws:iam::123456789012:user/sender is not authorized to perform: ses:GetAccount because no identity-based policy allows the ses:GetAccount action',
          ),
        },
      ],
      expected: { valid: null, reason: /cannot be checked with these permissions.*AccessDeniedException/ },
    },
    {
      name: 'a 500 cannot tell',
      routes: [
        {
          method: 'GET',
          path: '/v2/email/account',
          reply: awsError(500, 'InternalServiceErrorException', 'Internal service error.'),
        },
      ],
      expected: { error: { code: 'PROVIDER_UNAVAILABLE', status: 500 } },
    },
  ],
  domains: [
    {
      name: 'domain and email identities',
      routes: LIST_IDENTITIES.map((route) => ({ ...route, reply: { status: 200, json: identities } })),
      expected: expectedIdentities,
    },
    {
      name: 'denied credentials fail the listing',
      routes: LIST_IDENTITIES.map((route) => ({
        ...route,
        reply: awsError(
          403,
          'AccessDeniedException',
          'User is not authorized to perform: ses:ListEmailIdentities',
        ),
      })),
      expected: { error: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403 } },
    },
  ],
});

describe('ses custom headers', () => {
  it.each([
    ['a non-ASCII value', { 'X-Campaign': 'Frühling' }],
    ['a value longer than 870 characters', { 'X-Trace': 'a'.repeat(871) }],
    ['an empty value', { 'X-Empty': '' }],
    ['a name longer than 126 characters', { [`X-${'n'.repeat(125)}`]: 'v' }],
  ])('refuses %s as provider-level before any request', async (_label, headers) => {
    const error = await rejectionOf(ses().send(sampleEmail({ headers }), sendContext(config(fake.origin))));
    expectProviderError(error, 'ses', { code: 'PROVIDER_REJECTED', message: /SES cannot send/ }, [
      SECRET_ACCESS_KEY,
    ]);
    expect(fake.requests).toEqual([]);
  });

  it('sends a printable ASCII value of 870 characters', async () => {
    fake.route('POST', '/v2/email/outbound-emails', { status: 200, json: { MessageId: 'm-870' } });
    const value = `${'a '.repeat(434)}ab`;
    const receipt = await ses().send(
      sampleEmail({ headers: { 'X-Long': value } }),
      sendContext(config(fake.origin)),
    );
    expect(receipt.messageId).toBe('m-870');
    expect(fake.requests[0]!.json<typeof expectedBody>().Content.Simple.Headers).toEqual([
      { Name: 'X-Long', Value: value },
    ]);
  });

  it('a header SES cannot take fails over to a provider that can', async () => {
    const backup = createMockAdapter({ provider: 'backup', channel: 'email' });
    const pipe = new Dispatcher({ adapters: [ses(), backup] });
    try {
      await pipe.senders.set({ projectId: 'p', channel: 'email', senderEmail: 'noreply@acme.test' });
      for (const [provider, priority, providerConfig] of [
        ['ses', 1, config(fake.origin)],
        ['backup', 2, {}],
      ] as const) {
        await pipe.providers.add(
          { projectId: 'p', channel: 'email', provider, name: provider, priority, config: providerConfig },
          { verify: false },
        );
      }
      const result = await pipe.send({
        projectId: 'p',
        channel: 'email',
        to: 'ann@example.test',
        subject: 'Hi',
        text: 'Hello',
        headers: { 'X-Campaign': 'Frühling' },
      });
      expect(result.provider).toBe('backup');
      expect(result.attempts[0]).toMatchObject({ provider: 'ses', error: { code: 'PROVIDER_REJECTED' } });
      expect(backup.calls[0]?.message).toMatchObject({ headers: { 'X-Campaign': 'Frühling' } });
      expect(fake.requests).toEqual([]);
    } finally {
      await pipe.close();
    }
  });
});

describe('ses specifics', () => {
  it('verify reports the sending quota and whether the account left the sandbox', async () => {
    fake.route('GET', '/v2/email/account', {
      status: 200,
      json: { ...account, ProductionAccessEnabled: false },
    });
    const adapter = ses();
    try {
      expect(await adapter.verify!(config(fake.origin), callContext())).toEqual({
        valid: true,
        details: {
          region: REGION,
          productionAccessEnabled: false,
          enforcementStatus: 'HEALTHY',
          max24HourSend: 50000,
          maxSendRate: 14,
          sentLast24Hours: 1234,
        },
      });
    } finally {
      await adapter.close?.();
    }
  });

  it('pages through identities with NextToken', async () => {
    const pages: Record<string, { EmailIdentities: unknown[]; NextToken?: string }> = {
      first: { EmailIdentities: [identities.EmailIdentities[0]], NextToken: 'page-2' },
      'page-2': { EmailIdentities: identities.EmailIdentities.slice(1) },
    };
    const tokens: Array<string | undefined> = [];
    for (const route of LIST_IDENTITIES) {
      fake.route(route.method, route.path, (request) => {
        const token =
          request.method === 'GET'
            ? (request.query.get('NextToken') ?? undefined)
            : request.json<{ NextToken?: string }>().NextToken;
        tokens.push(token);
        return { status: 200, json: pages[token ?? 'first'] };
      });
    }
    const adapter = ses();
    try {
      expect(await adapter.domains!(config(fake.origin), callContext())).toEqual(expectedIdentities);
      expect(tokens).toEqual([undefined, 'page-2']);
      for (const request of fake.requests) expectSigned(request);
    } finally {
      await adapter.close?.();
    }
  });

  it('signs with the config credentials, never the environment', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAENVIRONMENTKEY00');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'environment-secret');
    vi.stubEnv('AWS_SESSION_TOKEN', 'environment-session');
    fake.route('POST', '/v2/email/outbound-emails', { status: 200, json: { MessageId: 'm-1' } });
    const adapter = ses();
    try {
      await adapter.send(message, sendContext(config(fake.origin)));
      await adapter.send(
        message,
        sendContext(
          { ...config(fake.origin), accessKeyId: 'ASIATEMPORARYKEY0000', sessionToken: 'session-token-1' },
          { providerConfigId: 'pc-temporary' },
        ),
      );
      const [permanent, temporary] = fake.requests;
      expectSigned(permanent!);
      expect(permanent!.headers['x-amz-security-token']).toBeUndefined();
      expectSigned(temporary!, 'ASIATEMPORARYKEY0000');
      expect(temporary!.headers['x-amz-security-token']).toBe('session-token-1');
    } finally {
      vi.unstubAllEnvs();
      await adapter.close?.();
    }
  });

  it('leaves out empty fields and the configuration set when none is configured', () => {
    const { input } = toSendEmailInput(
      {
        ...message,
        from: { email: 'noreply@acme.test' },
        to: [{ email: 'ann@example.test' }],
        cc: [],
        bcc: [],
        replyTo: [],
        html: undefined,
        attachments: [],
        headers: {},
        tags: [],
        metadata: {},
      },
      {},
    );
    expect(input).toEqual({
      FromEmailAddress: 'noreply@acme.test',
      Destination: { ToAddresses: ['ann@example.test'] },
      Content: {
        Simple: {
          Subject: { Data: 'Welcome aboard', Charset: 'UTF-8' },
          Body: { Text: { Data: 'Hello Ann', Charset: 'UTF-8' } },
        },
      },
    });
  });

  it('rewrites tags and metadata to the characters SES accepts; metadata wins a name clash', () => {
    const { input, rewrittenTags } = toSendEmailInput(
      {
        ...message,
        tags: ['spring sale', 'ses:reserved', 'userId'],
        metadata: { userId: 'user 42', 'a.b': 'ok' },
      },
      {},
    );
    expect(input.EmailTags).toEqual([
      { Name: 'userId', Value: 'user_42' },
      { Name: 'a_b', Value: 'ok' },
      { Name: 'spring_sale', Value: 'true' },
      { Name: 'ses_reserved', Value: 'true' },
    ]);
    expect(rewrittenTags).toBe(4);
  });

  it('formats addresses as SES takes them: quoted specials, encoded-words, punycode domains', () => {
    expect(formatSesAddress({ email: 'a@acme.test' })).toBe('a@acme.test');
    expect(formatSesAddress({ email: 'a@acme.test', name: 'Lee, Ann' })).toBe('"Lee, Ann" <a@acme.test>');
    expect(formatSesAddress({ email: 'a@bücher.test', name: 'Ann' })).toBe('Ann <a@xn--bcher-kva.test>');
    const long = formatSesAddress({ email: 'a@acme.test', name: 'Zoë '.repeat(30).trim() });
    const words = long.slice(0, long.indexOf(' <')).split(' ');
    expect(words.length).toBeGreaterThan(1);
    for (const word of words) {
      expect(word).toMatch(/^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
      expect(word.length).toBeLessThanOrEqual(75);
    }
    const decoded = words.map((word) => Buffer.from(word.slice(10, -2), 'base64').toString('utf8')).join('');
    expect(decoded).toBe('Zoë '.repeat(30).trim());
  });

  it('fails with ADAPTER_MISSING naming the package when @aws-sdk/client-sesv2 is not installed', async () => {
    const outcome = await sendWithoutPackage({
      packageName: '@aws-sdk/client-sesv2',
      adapterModule: new URL('../../adapters/ses.ts', import.meta.url),
      factory: 'ses',
      message,
      config: config('http://127.0.0.1:9'),
    });
    expect(outcome.code).toBe('ADAPTER_MISSING');
    expect(outcome.message).toContain('npm install @aws-sdk/client-sesv2');
    expect(outcome.message).not.toContain(SECRET_ACCESS_KEY);
  });
});

describe('ses answer without a MessageId', () => {
  it('counts a 200 without MessageId as sent, under a placeholder id', async () => {
    fake.route('POST', '/v2/email/outbound-emails', { status: 200, json: {} });
    const adapter = ses();
    try {
      const ctx = sendContext(config(fake.origin));
      const receipt = await adapter.send(message, ctx);
      expectPlaceholderReceipt(receipt, ctx.logger, 'Amazon SES', [SECRET_ACCESS_KEY]);
    } finally {
      await adapter.close?.();
    }
  });
});

describe('ses endpoint', () => {
  it('ignores AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_SESV2: only the config says where to send', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://127.0.0.1:9');
    vi.stubEnv('AWS_ENDPOINT_URL_SESV2', 'http://127.0.0.1:9');
    // Catch the request at the HTTP handler: nothing leaves the machine, and the target is visible.
    const targets: string[] = [];
    const handle = vi.spyOn(NodeHttpHandler.prototype, 'handle').mockImplementation(async (request) => {
      targets.push(`${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ''}`);
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    });
    const adapter = ses();
    try {
      const { endpoint: _ignored, ...withoutEndpoint } = config(fake.origin);
      await adapter.send(message, sendContext(withoutEndpoint)).catch(() => undefined);
      expect(targets).toEqual([`https://email.${REGION}.amazonaws.com`]);
    } finally {
      handle.mockRestore();
      vi.unstubAllEnvs();
      await adapter.close?.();
    }
  });
});
