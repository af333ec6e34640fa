import type { MailgunConfig } from 'messagepipe';
import { describe, expect, it } from 'vitest';
import {
  mailgun,
  mailgunApiOrigin,
  mailgunFailureWithoutAnswer,
  toMailgunForm,
} from '../../adapters/mailgun';
import {
  describeAdapterConformance,
  expectNoSecrets,
  expectProviderError,
  rejectionOf,
  sendContext,
} from './conformance';
import { fakeSecret, type RecordedRequest, useFakeHttpServer } from './fake-http-server';
import { PDF, PNG, sampleEmail } from './sample-email';

const fake = useFakeHttpServer();
const API_KEY = fakeSecret('key-');
const DOMAIN = 'mg.acme.test';
/** A domain's SMTP password, as Mailgun returns it in domain records: must never be passed on. */
const SMTP_PASSWORD = fakeSecret('smtp-');
const BASIC = `Basic ${Buffer.from(`api:${API_KEY}`).toString('base64')}`;
const config = (endpoint: string): MailgunConfig => ({ apiKey: API_KEY, domain: DOMAIN, endpoint });

const message = sampleEmail();

function expectMailgunAuth(request: RecordedRequest): void {
  expect(request.headers.authorization).toBe(BASIC);
}

function assertSendRequest(request: RecordedRequest): void {
  expect(request.method).toBe('POST');
  expect(request.path).toBe(`/v3/${DOMAIN}/messages`);
  expectMailgunAuth(request);
  expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
  const parts = request.multipart();
  const textFields = Object.fromEntries(
    [...new Set(parts.filter((part) => part.filename === undefined).map((part) => part.name))].map((name) => [
      name,
      parts.filter((part) => part.name === name).map((part) => part.text),
    ]),
  );
  expect(textFields).toEqual({
    from: ['"Acme, Inc." <noreply@acme.test>'],
    to: ['Ann Lee <ann@example.test>', 'bob@example.test'],
    cc: ['Cat <cat@example.test>'],
    bcc: ['dan@example.test'],
    subject: ['Welcome aboard'],
    text: ['Hello Ann'],
    html: ['<p>Hello Ann <img src="cid:logo"></p>'],
    'h:Reply-To': ['Support <support@acme.test>'],
    'h:X-Campaign': ['spring'],
    'o:tag': ['welcome', 'onboarding'],
    'v:userId': ['42'],
  });
  const files = parts
    .filter((part) => part.filename !== undefined)
    .map((part) => ({
      name: part.name,
      filename: part.filename,
      type: part.contentType,
      data: [...part.data],
    }));
  expect(files).toEqual([
    { name: 'attachment', filename: 'terms.pdf', type: 'application/pdf', data: [...PDF] },
    { name: 'inline', filename: 'logo', type: 'image/png', data: [...PNG] },
  ]);
}

const domainRecord = (name: string, state: string, type: string) => ({
  name,
  state,
  type,
  is_disabled: false,
  spam_action: 'disabled',
  require_tls: false,
  skip_verification: false,
  wildcard: false,
  created_at: 'Thu, 13 Oct 2011 18:02:00 GMT',
  smtp_login: `postmaster@${name}`,
  smtp_password: SMTP_PASSWORD,
  web_prefix: 'email',
  web_scheme: 'https',
  id: `id-${name}`,
});

describeAdapterConformance({
  provider: 'mailgun',
  channel: 'email',
  fake,
  createAdapter: () => mailgun(),
  config,
  // The SDK sends the key base64-encoded in the Basic header: that form must not leak either.
  secrets: (c) => [c.apiKey, Buffer.from(`api:${c.apiKey}`).toString('base64'), SMTP_PASSWORD],
  message,
  send: {
    method: 'POST',
    path: `/v3/${DOMAIN}/messages`,
    success: {
      status: 200,
      json: { id: '<20240501120000.1.ABCDEF@mg.acme.test>', message: 'Queued. Thank you.' },
    },
    messageId: '20240501120000.1.ABCDEF@mg.acme.test',
    assertRequest: assertSendRequest,
  },
  failures: [
    {
      name: '400 invalid recipient',
      reply: {
        status: 400,
        json: { message: 'to parameter is not a valid address. please check documentation' },
      },
      expected: { code: 'RECIPIENT_INVALID', status: 400, message: /not a valid address/ },
    },
    {
      // What HTTP/2 and reason-less status lines look like: mailgun.js reports ERR_BAD_REQUEST as the message.
      name: '400 invalid recipient with no reason phrase',
      reply: {
        status: 400,
        reason: '',
        json: { message: 'to parameter is not a valid address. please check documentation' },
      },
      expected: { code: 'RECIPIENT_INVALID', status: 400, ambiguous: false, message: /not a valid address/ },
    },
    {
      name: '503 with no reason phrase',
      reply: { status: 503, reason: '', body: '' },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 503 },
    },
    {
      name: '400 other validation error',
      reply: { status: 400, json: { message: "'from' parameter is missing" } },
      expected: { code: 'MESSAGE_REJECTED', status: 400, message: /from' parameter is missing/ },
    },
    {
      name: '400 sandbox domain, recipient not authorised',
      reply: {
        status: 400,
        json: {
          message:
            'Sandbox subdomains are for test purposes only. Please add your own domain or add the address to authorized recipients in Account Settings.',
        },
      },
      expected: { code: 'PROVIDER_REJECTED', failureClass: 'provider', status: 400 },
    },
    {
      name: '400 domain not allowed to send',
      reply: {
        status: 400,
        json: { message: 'Domain mg.acme.test is not allowed to send: domain is unverified' },
      },
      expected: { code: 'SENDER_UNVERIFIED', failureClass: 'provider', status: 400 },
    },
    {
      name: '400 account disabled',
      reply: { status: 400, json: { message: 'Your account has been disabled. Please contact support.' } },
      expected: { code: 'ACCOUNT_SUSPENDED', failureClass: 'provider', status: 400 },
    },
    {
      name: '401 bad API key',
      reply: { status: 401, body: 'Forbidden' },
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401 },
    },
    {
      name: '403 account not activated',
      reply: {
        status: 403,
        json: {
          message:
            'Domain mg.acme.test is not allowed to send: Please activate your Mailgun account. Check your inbox or log in to your control panel to resend the activation email.',
        },
      },
      expected: { code: 'ACCOUNT_SUSPENDED', status: 403 },
    },
    {
      name: '403 sandbox recipient not authorised',
      reply: {
        status: 403,
        json: {
          message:
            'Domain sandbox123.mailgun.org is not allowed to send: Free accounts are for test purposes only. Please upgrade or add the address to authorized recipients in Account Settings.',
        },
      },
      expected: { code: 'PROVIDER_REJECTED', status: 403 },
    },
    {
      name: '404 unknown sending domain',
      reply: { status: 404, json: { message: 'Domain not found: mg.acme.test' } },
      expected: { code: 'PROVIDER_REJECTED', status: 404, message: /Domain not found/ },
    },
    {
      name: '404 from a proxy during an incident',
      reply: { status: 404, headers: { 'content-type': 'text/html' }, body: '<html>Not Found</html>' },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 404 },
    },
    {
      name: '413 message too large',
      reply: { status: 413, json: { message: 'Message size exceeds the limit' } },
      expected: { code: 'MESSAGE_REJECTED', status: 413 },
    },
    {
      name: '429 rate limited',
      reply: { status: 429, headers: { 'retry-after': '30' }, json: { message: 'Too many requests' } },
      // mailgun.js drops response headers, so no retryAfterMs can be kept.
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429 },
    },
    {
      name: '500 internal error',
      reply: { status: 500, json: { message: 'Internal Server Error' } },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 500 },
    },
    {
      name: '502 with an HTML body',
      reply: {
        status: 502,
        headers: { 'content-type': 'text/html' },
        body: '<html><body>Bad Gateway</body></html>',
      },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 502 },
    },
  ],
  // A 200 whose body cannot be read: the message was probably queued, but there is no id to track it by.
  malformedJson: { status: 200, expected: { code: 'PROVIDER_UNAVAILABLE', ambiguous: true } },
  // mailgun.js takes no abort signal and uses Node's global agent.
  abortClosesConnection: false,
  connections: 'shared',
  verify: [
    {
      name: 'a private key that can read its domain is valid',
      routes: [
        {
          method: 'GET',
          path: `/v4/domains/${DOMAIN}`,
          reply: {
            status: 200,
            json: {
              domain: domainRecord(DOMAIN, 'active', 'custom'),
              receiving_dns_records: [],
              sending_dns_records: [],
            },
          },
        },
      ],
      expected: { valid: true },
      assertRequests: (requests) => {
        expect(requests.map((request) => `${request.method} ${request.path}`)).toEqual([
          `GET /v4/domains/${DOMAIN}`,
        ]);
        expectMailgunAuth(requests[0]!);
      },
    },
    {
      name: 'a refused key is invalid, with a note about domain sending keys',
      routes: [{ method: 'GET', path: `/v4/domains/${DOMAIN}`, reply: { status: 401, body: 'Forbidden' } }],
      expected: { valid: false, reason: /\(401\).*private API key.*domain sending key/ },
    },
    {
      name: 'a domain sending key (403) is reported as such',
      routes: [
        {
          method: 'GET',
          path: `/v4/domains/${DOMAIN}`,
          reply: { status: 403, json: { message: 'Forbidden' } },
        },
      ],
      expected: { valid: false, reason: /\(403\).*domain sending key/ },
    },
    {
      name: 'an unknown domain is invalid',
      routes: [
        {
          method: 'GET',
          path: `/v4/domains/${DOMAIN}`,
          reply: { status: 404, json: { message: 'Domain not found' } },
        },
      ],
      expected: { valid: false, reason: /no domain mg\.acme\.test.*region "eu"/ },
    },
    {
      name: 'a 500 cannot tell',
      routes: [
        {
          method: 'GET',
          path: `/v4/domains/${DOMAIN}`,
          reply: { status: 500, json: { message: 'Internal Server Error' } },
        },
      ],
      expected: { error: { code: 'PROVIDER_UNAVAILABLE', status: 500 } },
    },
  ],
  domains: [
    {
      name: 'lists domains with their state and no SMTP password',
      routes: [
        {
          method: 'GET',
          path: '/v4/domains',
          reply: {
            status: 200,
            json: {
              total_count: 2,
              items: [
                domainRecord(DOMAIN, 'active', 'custom'),
                domainRecord('sandbox123.mailgun.org', 'unverified', 'sandbox'),
              ],
            },
          },
        },
      ],
      expected: [
        {
          domain: DOMAIN,
          verified: true,
          details: { state: 'active', type: 'custom', disabled: false, spamAction: 'disabled' },
        },
        {
          domain: 'sandbox123.mailgun.org',
          verified: false,
          details: { state: 'unverified', type: 'sandbox', disabled: false, spamAction: 'disabled' },
        },
      ],
    },
    {
      name: 'a refused key fails the listing',
      routes: [{ method: 'GET', path: '/v4/domains', reply: { status: 401, body: 'Forbidden' } }],
      expected: { error: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401 } },
    },
  ],
});

describe('mailgun failures without an answer', () => {
  it.each([
    // No answer: mailgun.js keeps its default status 400 and the failure's own code.
    [400, 'ECONNREFUSED', 'ECONNREFUSED'],
    [400, 'ECONNABORTED', 'ECONNABORTED'],
    [400, 'ERR_CANCELED', 'ERR_CANCELED'],
    // ERR_BAD_RESPONSE with the default status: the answer's body was cut short, so nothing was read.
    [400, 'ERR_BAD_RESPONSE', 'ERR_BAD_RESPONSE'],
    // Answers: axios' answer codes with a matching status, reason phrases, body errors.
    [400, 'ERR_BAD_REQUEST', undefined],
    [404, 'ERR_BAD_REQUEST', undefined],
    [502, 'ERR_BAD_RESPONSE', undefined],
    [400, 'Bad Request', undefined],
    [401, 'Unauthorized', undefined],
  ])('status %i with message %s → %s', (status, message, expected) => {
    expect(mailgunFailureWithoutAnswer({ status, message })).toBe(expected);
  });
});

describe('mailgun mapping', () => {
  it('turns test mode on with o:testmode', async () => {
    fake.route('POST', `/v3/${DOMAIN}/messages`, {
      status: 200,
      json: { id: '<t@mg.acme.test>', message: 'Queued' },
    });
    const adapter = mailgun();
    try {
      const receipt = await adapter.send(message, sendContext({ ...config(fake.origin), testMode: true }));
      expect(receipt).toEqual({ messageId: 't@mg.acme.test' });
      expect(fake.requests[0]!.fields()['o:testmode']).toEqual(['yes']);
    } finally {
      await adapter.close?.();
    }
  });

  it('keeps the first 3 distinct tags', () => {
    const form = toMailgunForm({ ...message, tags: ['a', 'b', 'a', 'c', 'd'] }, {});
    expect(form['o:tag']).toEqual(['a', 'b', 'c']);
  });

  it('joins several reply-to addresses and leaves empty fields out', () => {
    const form = toMailgunForm(
      {
        ...message,
        cc: [],
        bcc: [],
        replyTo: [{ email: 'a@acme.test', name: 'A' }, { email: 'b@acme.test' }],
        html: undefined,
        attachments: [],
        headers: {},
        tags: [],
        metadata: {},
      },
      {},
    );
    expect(form).toEqual({
      from: '"Acme, Inc." <noreply@acme.test>',
      to: ['Ann Lee <ann@example.test>', 'bob@example.test'],
      subject: 'Welcome aboard',
      text: 'Hello Ann',
      'h:Reply-To': 'A <a@acme.test>, b@acme.test',
    });
  });

  it('names an inline part without content id by its file name', () => {
    const form = toMailgunForm(
      {
        ...message,
        attachments: [
          { filename: 'logo.png', content: PNG, contentType: 'image/png', disposition: 'inline' },
        ],
      },
      {},
    );
    expect((form.inline as File[]).map((file) => file.name)).toEqual(['logo.png']);
  });

  it('sends to the EU host for region eu, and to endpoint when set', () => {
    expect(mailgunApiOrigin({})).toBe('https://api.mailgun.net');
    expect(mailgunApiOrigin({ region: 'us' })).toBe('https://api.mailgun.net');
    expect(mailgunApiOrigin({ region: 'eu' })).toBe('https://api.eu.mailgun.net');
    expect(mailgunApiOrigin({ region: 'eu', endpoint: 'http://127.0.0.1:1234' })).toBe(
      'http://127.0.0.1:1234',
    );
  });
});

describe('mailgun answers without a message id', () => {
  it('counts a readable 200 without an id as sent, under a placeholder id, with a warning', async () => {
    fake.route('POST', `/v3/${DOMAIN}/messages`, { status: 200, json: { message: 'Queued. Thank you.' } });
    const adapter = mailgun();
    try {
      const ctx = sendContext(config(fake.origin));
      const receipt = await adapter.send(message, ctx);
      expect(receipt.messageId).toMatch(/^unknown-[0-9a-f-]{36}$/);
      expect(ctx.logger.lines.filter((line) => line.startsWith('warn'))).toEqual([
        expect.stringContaining('Mailgun accepted a message without returning a message id'),
      ]);
      expectNoSecrets(ctx.logger.lines, [API_KEY, Buffer.from(`api:${API_KEY}`).toString('base64')]);
    } finally {
      await adapter.close?.();
    }
  });

  it('gives each such message its own placeholder id', async () => {
    fake.route('POST', `/v3/${DOMAIN}/messages`, { status: 200, json: { message: 'Queued. Thank you.' } });
    const adapter = mailgun();
    try {
      const first = await adapter.send(message, sendContext(config(fake.origin)));
      const second = await adapter.send(message, sendContext(config(fake.origin)));
      expect(first.messageId).not.toBe(second.messageId);
    } finally {
      await adapter.close?.();
    }
  });

  it('keeps a 200 whose body is not JSON ambiguous', async () => {
    fake.route('POST', `/v3/${DOMAIN}/messages`, { status: 200, body: 'OK' });
    const adapter = mailgun();
    try {
      const error = await rejectionOf(adapter.send(message, sendContext(config(fake.origin))));
      expectProviderError(error, 'mailgun', { code: 'PROVIDER_UNAVAILABLE', ambiguous: true }, [API_KEY]);
    } finally {
      await adapter.close?.();
    }
  });
});

describe('mailgun pooled client timeout', () => {
  it('is not fixed by the short budget of the send that created the client', async () => {
    const adapter = mailgun();
    try {
      // The first send gets little time (late in a failover chain) and runs out.
      fake.once('POST', `/v3/${DOMAIN}/messages`, { fault: 'hang' });
      const first = await rejectionOf(
        adapter.send(message, sendContext(config(fake.origin), { timeoutMs: 200 })),
      );
      expectProviderError(first, 'mailgun', { code: 'PROVIDER_TIMEOUT' }, [API_KEY]);
      // A later send with a full budget and a slower (but timely) answer must succeed on the same client.
      fake.once('POST', `/v3/${DOMAIN}/messages`, {
        status: 200,
        json: { id: '<slow@mg.acme.test>', message: 'Queued. Thank you.' },
        delayMs: 400,
      });
      const receipt = await adapter.send(message, sendContext(config(fake.origin), { timeoutMs: 10_000 }));
      expect(receipt).toEqual({ messageId: 'slow@mg.acme.test' });
    } finally {
      await adapter.close?.();
    }
  });
});
