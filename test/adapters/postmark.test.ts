import { Dispatcher, isMessagePipeError, type PostmarkConfig } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { Models } from 'postmark';
import { describe, expect, it } from 'vitest';
import {
  inactiveRecipientsOf,
  postmark,
  postmarkClientOptions,
  toPostmarkMessage,
} from '../../adapters/postmark';
import {
  callContext,
  describeAdapterConformance,
  expectNoSecrets,
  expectPlaceholderReceipt,
  recordingLogger,
  rejectionOf,
  sendContext,
} from './conformance';
import { type FakeReply, fakeSecret, type RecordedRequest, useFakeHttpServer } from './fake-http-server';
import { PDF, PNG, sampleEmail } from './sample-email';
import { sendWithoutPackage } from './without-package';

const fake = useFakeHttpServer();
const SERVER_TOKEN = fakeSecret('pm-server-');
const ACCOUNT_TOKEN = fakeSecret('pm-account-');
const config = (endpoint: string): PostmarkConfig => ({
  serverToken: SERVER_TOKEN,
  accountToken: ACCOUNT_TOKEN,
  endpoint,
});

const message = sampleEmail({ tags: ['welcome'] });

const expectedBody = {
  From: '"Acme, Inc." <noreply@acme.test>',
  To: 'Ann Lee <ann@example.test>, bob@example.test',
  Cc: 'Cat <cat@example.test>',
  Bcc: 'dan@example.test',
  ReplyTo: 'Support <support@acme.test>',
  Subject: 'Welcome aboard',
  TextBody: 'Hello Ann',
  HtmlBody: '<p>Hello Ann <img src="cid:logo"></p>',
  MessageStream: 'outbound',
  Tag: 'welcome',
  Metadata: { userId: '42' },
  Headers: [{ Name: 'X-Campaign', Value: 'spring' }],
  Attachments: [
    {
      Name: 'terms.pdf',
      Content: Buffer.from(PDF).toString('base64'),
      ContentType: 'application/pdf',
      ContentID: null,
    },
    {
      Name: 'logo.png',
      Content: Buffer.from(PNG).toString('base64'),
      ContentType: 'image/png',
      ContentID: 'cid:logo',
    },
  ],
};

function expectServerToken(request: RecordedRequest): void {
  expect(request.headers['x-postmark-server-token']).toBe(SERVER_TOKEN);
  expect(request.headers['x-postmark-account-token']).toBeUndefined();
}

/** Postmark's error body: `{ErrorCode, Message}`. */
const refusal = (status: number, errorCode: number, text: string): FakeReply => ({
  status,
  json: { ErrorCode: errorCode, Message: text },
});

const serverRecord = {
  ID: 1234,
  Name: 'Acme production',
  ApiTokens: [SERVER_TOKEN],
  Color: 'blue',
  SmtpApiActivated: true,
  RawEmailEnabled: false,
  DeliveryType: 'Live',
  ServerLink: 'https://account.postmarkapp.com/servers/1234/streams',
  InboundAddress: 'abc@inbound.postmarkapp.com',
  InboundHash: 'abc',
};

const domainsAnswer = {
  TotalCount: 2,
  Domains: [
    {
      ID: 36735,
      Name: 'acme.test',
      SPFVerified: true,
      DKIMVerified: true,
      WeakDKIM: false,
      ReturnPathDomainVerified: true,
    },
    {
      ID: 36736,
      Name: 'news.acme.test',
      SPFVerified: false,
      DKIMVerified: false,
      WeakDKIM: false,
      ReturnPathDomainVerified: false,
    },
  ],
};

const sendersAnswer = {
  TotalCount: 2,
  SenderSignatures: [
    {
      ID: 1,
      Name: 'Ops',
      Domain: 'acme.test',
      EmailAddress: 'ops@acme.test',
      ReplyToEmailAddress: '',
      Confirmed: true,
    },
    {
      ID: 2,
      Name: 'New',
      Domain: 'other.test',
      EmailAddress: 'new@other.test',
      ReplyToEmailAddress: '',
      Confirmed: false,
    },
  ],
};

const expectedDomains = [
  {
    domain: 'acme.test',
    verified: true,
    details: { kind: 'domain', id: 36735, dkimVerified: true, returnPathVerified: true, spfVerified: true },
  },
  {
    domain: 'news.acme.test',
    verified: false,
    details: {
      kind: 'domain',
      id: 36736,
      dkimVerified: false,
      returnPathVerified: false,
      spfVerified: false,
    },
  },
  {
    domain: 'ops@acme.test',
    verified: true,
    details: { kind: 'sender', id: 1, name: 'Ops', senderDomain: 'acme.test' },
  },
  {
    domain: 'new@other.test',
    verified: false,
    details: { kind: 'sender', id: 2, name: 'New', senderDomain: 'other.test' },
  },
];

describeAdapterConformance({
  provider: 'postmark',
  channel: 'email',
  fake,
  createAdapter: () => postmark(),
  config,
  secrets: (c) => [c.serverToken, c.accountToken!],
  message,
  send: {
    method: 'POST',
    path: '/email',
    success: {
      status: 200,
      json: {
        To: 'ann@example.test',
        SubmittedAt: '2026-11-22T10:00:00.0000000-05:00',
        MessageID: 'b7bc2f4a-e38e-4336-af7d-e6c392c2f817',
        ErrorCode: 0,
        Message: 'OK',
      },
    },
    messageId: 'b7bc2f4a-e38e-4336-af7d-e6c392c2f817',
    assertRequest: (request) => {
      expect(request.path).toBe('/email');
      expectServerToken(request);
      expect(request.headers['content-type']).toMatch(/^application\/json/);
      expect(request.headers.accept).toBe('application/json');
      expect(request.json()).toEqual(expectedBody);
    },
  },
  failures: [
    {
      name: '401 bad server token',
      reply: refusal(401, 10, 'Request does not contain a valid Server token.'),
      expected: {
        code: 'PROVIDER_INVALID_CREDENTIALS',
        status: 401,
        providerCode: 10,
        message: /Server token/,
      },
    },
    {
      name: '422/300 invalid To address',
      reply: refusal(422, 300, "Invalid 'To' address: 'ann@example'."),
      expected: { code: 'RECIPIENT_INVALID', status: 422, providerCode: 300 },
    },
    {
      name: "422/300 Error parsing 'Cc'",
      reply: refusal(
        422,
        300,
        "Error parsing 'Cc': Illegal email address 'cat@'. It must contain the '@' symbol.",
      ),
      expected: { code: 'RECIPIENT_INVALID', status: 422, providerCode: 300 },
    },
    {
      // Postmark's own cap (50 across To, Cc and Bcc): another provider takes the message as it is.
      name: '422/300 more than 50 recipients',
      reply: refusal(
        422,
        300,
        'You may not have more than 50 recipients in this message. Maximum of 50 recipients allowed per email message.',
      ),
      expected: { code: 'PROVIDER_REJECTED', status: 422, providerCode: 300 },
    },
    {
      // Naming recipients is not enough: only a To/Cc/Bcc Postmark cannot parse is the recipient's fault.
      name: '422/300 other wording about recipients',
      reply: refusal(422, 300, 'The recipient list could not be processed at this time.'),
      expected: { code: 'MESSAGE_REJECTED', status: 422, providerCode: 300 },
    },
    {
      name: '422/300 invalid From address',
      reply: refusal(422, 300, "Invalid 'From' address: 'noreply@acme'."),
      expected: { code: 'SENDER_UNVERIFIED', status: 422, providerCode: 300 },
    },
    {
      name: '422/300 other invalid request',
      reply: refusal(422, 300, 'Provide either email TextBody or HtmlBody or both.'),
      expected: { code: 'MESSAGE_REJECTED', status: 422, providerCode: 300, message: /TextBody/ },
    },
    {
      name: '422/400 sender signature not found',
      reply: refusal(
        422,
        400,
        "The 'From' address you supplied (noreply@acme.test) is not a Sender Signature on your account. Please add and confirm this address in order to be able to use it in the 'From' field of your messages.",
      ),
      expected: { code: 'SENDER_UNVERIFIED', status: 422, providerCode: 400, message: /Sender Signature/ },
    },
    {
      name: '422/401 sender signature not confirmed',
      reply: refusal(422, 401, 'Sender signature not confirmed.'),
      expected: { code: 'SENDER_UNVERIFIED', status: 422, providerCode: 401 },
    },
    {
      name: '422/405 out of credits',
      reply: refusal(422, 405, 'Not allowed to send. You have run out of credits.'),
      expected: { code: 'ACCOUNT_SUSPENDED', status: 422, providerCode: 405 },
    },
    {
      name: '422/406 inactive recipient',
      reply: refusal(
        422,
        406,
        'You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ann@example.test. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
      ),
      expected: { code: 'RECIPIENT_SUPPRESSED', status: 422, providerCode: 406, message: /inactive/ },
    },
    {
      name: '422/411 forbidden attachment type',
      reply: refusal(422, 411, 'Forbidden attachment type.'),
      expected: { code: 'MESSAGE_REJECTED', status: 422, providerCode: 411 },
    },
    {
      name: '422/412 account pending',
      reply: refusal(422, 412, 'Your account is pending approval.'),
      expected: { code: 'ACCOUNT_SUSPENDED', status: 422, providerCode: 412 },
    },
    {
      name: '422/413 account may not send',
      reply: refusal(422, 413, 'Your account may not send.'),
      expected: { code: 'ACCOUNT_SUSPENDED', status: 422, providerCode: 413 },
    },
    {
      name: '422 with an unknown ErrorCode',
      reply: refusal(422, 1235, "The message stream for the provided 'ID' was not found."),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', status: 422, providerCode: 1235 },
    },
    {
      name: '422/300 metadata beyond the limits',
      reply: refusal(422, 300, 'Metadata field names must be 20 characters or less.'),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', status: 422, providerCode: 300 },
    },
    {
      name: '422/300 message stream not found',
      reply: refusal(422, 300, "The 'MessageStream' provided does not exist on this server."),
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', status: 422, providerCode: 300 },
    },
    {
      name: '429 rate limit',
      reply: refusal(429, 429, 'Rate limit exceeded.'),
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429 },
    },
    {
      name: '429 with Retry-After',
      reply: {
        status: 429,
        headers: { 'retry-after': '30' },
        json: { ErrorCode: 429, Message: 'Rate limit exceeded.' },
      },
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 30_000 },
    },
    {
      name: '500 internal error',
      reply: { status: 500, body: 'Internal Server Error' },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 500 },
    },
    {
      name: '503 maintenance',
      reply: refusal(503, 100, 'Postmark is down for maintenance.'),
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 503, providerCode: 100 },
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
  // The SDK sends through the global fetch, whose connection pool the process shares.
  connections: 'shared',
  verify: [
    {
      name: 'a working server token is valid',
      routes: [{ method: 'GET', path: '/server', reply: { status: 200, json: serverRecord } }],
      expected: { valid: true },
      assertRequests: (requests) => {
        expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual(['GET /server']);
        expectServerToken(requests[0]!);
      },
    },
    {
      name: 'a bad server token is invalid',
      routes: [
        {
          method: 'GET',
          path: '/server',
          reply: refusal(401, 10, 'Request does not contain a valid Server token.'),
        },
      ],
      expected: { valid: false, reason: /401, ErrorCode 10.*Server token/ },
    },
    {
      name: 'a 503 cannot tell',
      routes: [{ method: 'GET', path: '/server', reply: { status: 503, body: 'unavailable' } }],
      expected: { error: { code: 'PROVIDER_UNAVAILABLE', status: 503 } },
    },
  ],
  domains: [
    {
      name: 'domains and sender signatures, with the account token',
      routes: [
        { method: 'GET', path: '/domains', reply: { status: 200, json: domainsAnswer } },
        { method: 'GET', path: '/senders', reply: { status: 200, json: sendersAnswer } },
      ],
      expected: expectedDomains,
    },
    {
      name: 'a bad account token fails the listing',
      routes: [
        {
          method: 'GET',
          path: '/domains',
          reply: refusal(401, 10, 'Request does not contain a valid Account token.'),
        },
      ],
      expected: { error: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401 } },
    },
  ],
});

describe('postmark specifics', () => {
  it('verify returns the server name, never its tokens', async () => {
    fake.route('GET', '/server', { status: 200, json: serverRecord });
    const adapter = postmark();
    try {
      const verdict = await adapter.verify!(config(fake.origin), callContext());
      expect(verdict).toEqual({
        valid: true,
        details: { serverId: 1234, serverName: 'Acme production', deliveryType: 'Live' },
      });
    } finally {
      await adapter.close?.();
    }
  });

  it('lists domains with the account token and pages through long lists', async () => {
    const many = Array.from({ length: 501 }, (_, index) => ({
      ID: index,
      Name: `d${index}.acme.test`,
      SPFVerified: false,
      DKIMVerified: index % 2 === 0,
      WeakDKIM: false,
      ReturnPathDomainVerified: false,
    }));
    fake.route('GET', '/domains', (request) => {
      const offset = Number(request.query.get('offset'));
      const count = Number(request.query.get('count'));
      return { status: 200, json: { TotalCount: many.length, Domains: many.slice(offset, offset + count) } };
    });
    fake.route('GET', '/senders', { status: 200, json: { TotalCount: 0, SenderSignatures: [] } });
    const adapter = postmark();
    try {
      const domains = await adapter.domains!(config(fake.origin), callContext());
      expect(domains.map((domain) => domain.domain)).toEqual(many.map((domain) => domain.Name));
      expect(domains.filter((domain) => domain.verified)).toHaveLength(251);
      expect(fake.requests.map((request) => `${request.path}?${request.query}`)).toEqual([
        '/domains?count=500&offset=0',
        '/domains?count=500&offset=500',
        '/senders?count=500&offset=0',
      ]);
      for (const request of fake.requests) {
        expect(request.headers['x-postmark-account-token']).toBe(ACCOUNT_TOKEN);
        expect(request.headers['x-postmark-server-token']).toBeUndefined();
      }
    } finally {
      await adapter.close?.();
    }
  });

  it('without an account token, domains is NOT_SUPPORTED and nothing is requested', async () => {
    const adapter = postmark();
    const withoutAccount = { serverToken: SERVER_TOKEN, endpoint: fake.origin };
    try {
      const error = await rejectionOf(adapter.domains!(withoutAccount, callContext()));
      expect(isMessagePipeError(error) && error.code).toBe('NOT_SUPPORTED');
      expect((error as Error).message).toMatch(/accountToken/);
      expect(fake.requests).toEqual([]);
    } finally {
      await adapter.close?.();
    }
  });

  it('without an account token, providers.domains is NOT_SUPPORTED through a Dispatcher', async () => {
    const pipe = new Dispatcher({ adapters: [postmark()], logger: recordingLogger() });
    try {
      const record = await pipe.providers.add(
        {
          projectId: 'p',
          channel: 'email',
          provider: 'postmark',
          name: 'Postmark',
          config: { serverToken: SERVER_TOKEN, endpoint: fake.origin },
        },
        { verify: false },
      );
      const error = await rejectionOf(pipe.providers.domains({ projectId: 'p', id: record.id }));
      expect(isMessagePipeError(error) && error.code).toBe('NOT_SUPPORTED');
      expectNoSecrets(error, [SERVER_TOKEN]);
      expect(fake.requests).toEqual([]);
    } finally {
      await pipe.close();
    }
  });

  it('sends the configured message stream', async () => {
    fake.route('POST', '/email', { status: 200, json: { MessageID: 'm-1', ErrorCode: 0, Message: 'OK' } });
    const adapter = postmark();
    try {
      await adapter.send(message, sendContext({ ...config(fake.origin), messageStream: 'broadcast' }));
      expect(fake.requests[0]!.json()).toMatchObject({ MessageStream: 'broadcast' });
    } finally {
      await adapter.close?.();
    }
  });

  it('sends the first tag only, says so in a debug line, and leaves empty fields out', async () => {
    fake.route('POST', '/email', { status: 200, json: { MessageID: 'm-2', ErrorCode: 0, Message: 'OK' } });
    const adapter = postmark();
    const ctx = sendContext(config(fake.origin));
    try {
      await adapter.send(
        {
          ...message,
          cc: [],
          bcc: [],
          replyTo: [],
          html: undefined,
          attachments: [],
          headers: {},
          metadata: {},
          tags: ['first', 'second', 'third'],
        },
        ctx,
      );
      expect(fake.requests[0]!.json()).toEqual({
        From: expectedBody.From,
        To: expectedBody.To,
        Subject: 'Welcome aboard',
        TextBody: 'Hello Ann',
        MessageStream: 'outbound',
        Tag: 'first',
      });
      expect(ctx.logger.lines.some((line) => /one tag/.test(line))).toBe(true);
    } finally {
      await adapter.close?.();
    }
  });

  it('quotes display names that hold specials and escapes quotes in them', () => {
    const { request } = toPostmarkMessage(
      {
        ...message,
        from: { email: 'a@acme.test', name: 'Say "hi", <Ann>' },
        to: [{ email: 'b@example.test', name: 'Zoë Ünal' }],
      },
      {},
    );
    expect(request.From).toBe('"Say \\"hi\\", <Ann>" <a@acme.test>');
    expect(request.To).toBe('Zoë Ünal <b@example.test>');
  });

  it('points the SDK at the endpoint with a timeout in seconds, and leaves the SDK defaults alone', () => {
    const before = { ...Models.HttpClient.DefaultOptions };
    const local = postmarkClientOptions({
      serverToken: SERVER_TOKEN,
      endpoint: 'http://127.0.0.1:4567',
      timeoutMs: 2500,
    });
    expect(local).toMatchObject({ useHttps: false, requestHost: '127.0.0.1:4567', timeout: 3 });
    const hosted = postmarkClientOptions({ serverToken: SERVER_TOKEN });
    expect(hosted).toMatchObject({ useHttps: true, requestHost: 'api.postmarkapp.com', timeout: 180 });
    postmark();
    expect(Models.HttpClient.DefaultOptions).toEqual(before);
  });

  it('fails with ADAPTER_MISSING naming the package when postmark is not installed', async () => {
    const outcome = await sendWithoutPackage({
      packageName: 'postmark',
      adapterModule: new URL('../../adapters/postmark.ts', import.meta.url),
      factory: 'postmark',
      message,
      config: { serverToken: SERVER_TOKEN, endpoint: 'http://127.0.0.1:9' },
    });
    expect(outcome.code).toBe('ADAPTER_MISSING');
    expect(outcome.message).toContain('npm install postmark');
    expect(outcome.message).not.toContain(SERVER_TOKEN);
  });
});

describe('postmark partial delivery', () => {
  const partial = {
    status: 200,
    json: {
      To: 'ann@example.test, gone@example.test',
      SubmittedAt: '2026-11-22T10:00:00.0000000-05:00',
      MessageID: '0a129aee-e1cd-480d-b08d-4f48548ff48d',
      ErrorCode: 0,
      Message:
        'Message OK, but will not deliver to these inactive addresses: gone@example.test, old@example.test',
    },
  };

  it('counts it as sent, reports the inactive recipients and warns, without failing over', async () => {
    fake.route('POST', '/email', partial);
    const backup = createMockAdapter({ provider: 'backup', channel: 'email' });
    const logger = recordingLogger();
    const pipe = new Dispatcher({ adapters: [postmark(), backup], logger });
    try {
      await pipe.senders.set({ projectId: 'p', channel: 'email', senderEmail: 'noreply@acme.test' });
      for (const [provider, priority, providerConfig] of [
        ['postmark', 1, { serverToken: SERVER_TOKEN, endpoint: fake.origin }],
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
        to: ['ann@example.test', 'gone@example.test', 'old@example.test'],
        subject: 'Hi',
        text: 'Hello',
      });
      expect(result).toMatchObject({
        provider: 'postmark',
        messageId: '0a129aee-e1cd-480d-b08d-4f48548ff48d',
        rejectedRecipients: ['gone@example.test', 'old@example.test'],
      });
      expect(result.attempts).toHaveLength(1);
      expect(result.attempts[0]?.rejectedRecipients).toEqual(['gone@example.test', 'old@example.test']);
      expect(backup.calls).toHaveLength(0);
      const warnings = logger.lines.filter((line) => line.startsWith('warn '));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/2 inactive recipient.*gone@example\.test/s);
      expectNoSecrets(logger.lines, [SERVER_TOKEN]);
    } finally {
      await pipe.close();
    }
  });

  it("reads the inactive addresses in both of Postmark's wordings, and none from a plain OK", () => {
    expect(inactiveRecipientsOf(partial.json.Message)).toEqual(['gone@example.test', 'old@example.test']);
    expect(
      inactiveRecipientsOf(
        'Message OK, but will not deliver to these inactive addresses: gone@example.test. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.',
      ),
    ).toEqual(['gone@example.test']);
    expect(inactiveRecipientsOf('OK')).toEqual([]);
    expect(inactiveRecipientsOf(undefined)).toEqual([]);
  });
});

describe('postmark answer without a MessageID', () => {
  it('counts a readable 200 without MessageID as sent, under a placeholder id', async () => {
    fake.route('POST', '/email', {
      status: 200,
      json: { To: 'ann@example.test', SubmittedAt: '2026-11-22T10:00:00Z', ErrorCode: 0, Message: 'OK' },
    });
    const adapter = postmark();
    try {
      const ctx = sendContext(config(fake.origin));
      const receipt = await adapter.send(message, ctx);
      expectPlaceholderReceipt(receipt, ctx.logger, 'Postmark', [SERVER_TOKEN, ACCOUNT_TOKEN]);
    } finally {
      await adapter.close?.();
    }
  });
});
