import type { SendgridConfig } from 'messagepipe';
import { describe, expect, it } from 'vitest';
import { sendgrid, sendgridApiOrigin, toSendgridMail } from '../../adapters/sendgrid';
import {
  callContext,
  describeAdapterConformance,
  expectPlaceholderReceipt,
  sendContext,
} from './conformance';
import { fakeSecret, type RecordedRequest, useFakeHttpServer } from './fake-http-server';
import { PDF, PNG, sampleEmail } from './sample-email';

const fake = useFakeHttpServer();
const API_KEY = fakeSecret('SG.');
const config = (endpoint: string): SendgridConfig => ({ apiKey: API_KEY, endpoint });

const message = sampleEmail();

const expectedBody = {
  personalizations: [
    {
      to: [{ email: 'ann@example.test', name: 'Ann Lee' }, { email: 'bob@example.test' }],
      cc: [{ email: 'cat@example.test', name: 'Cat' }],
      bcc: [{ email: 'dan@example.test' }],
    },
  ],
  from: { email: 'noreply@acme.test', name: 'Acme, Inc.' },
  reply_to: { email: 'support@acme.test', name: 'Support' },
  subject: 'Welcome aboard',
  content: [
    { type: 'text/plain', value: 'Hello Ann' },
    { type: 'text/html', value: '<p>Hello Ann <img src="cid:logo"></p>' },
  ],
  attachments: [
    {
      content: Buffer.from(PDF).toString('base64'),
      filename: 'terms.pdf',
      type: 'application/pdf',
      disposition: 'attachment',
    },
    {
      content: Buffer.from(PNG).toString('base64'),
      filename: 'logo.png',
      type: 'image/png',
      disposition: 'inline',
      content_id: 'logo',
    },
  ],
  headers: { 'X-Campaign': 'spring' },
  categories: ['welcome', 'onboarding'],
  custom_args: { userId: '42' },
};

function expectSendgridAuth(request: RecordedRequest): void {
  expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
}

/** SendGrid's error body. */
const errors = (message: string, field: string | null = null) => ({
  errors: [{ message, field, help: null }],
});

const resetIn60s = String(Math.floor(Date.now() / 1000) + 60);

const domainList = [
  {
    id: 11,
    domain: 'acme.test',
    subdomain: 'em1234',
    username: 'acme',
    valid: true,
    default: true,
    dns: {
      mail_cname: { valid: true, type: 'cname', host: 'em1234.acme.test', data: 'u1.wl.sendgrid.net' },
      dkim1: {
        valid: true,
        type: 'cname',
        host: 's1._domainkey.acme.test',
        data: 's1.domainkey.u1.wl.sendgrid.net',
      },
    },
  },
  {
    id: 12,
    domain: 'news.acme.test',
    subdomain: 'em99',
    username: 'acme',
    valid: false,
    default: false,
    dns: {
      mail_cname: { valid: false, type: 'cname', host: 'em99.news.acme.test', data: 'u1.wl.sendgrid.net' },
    },
  },
];

const acmeDomainStatus = {
  domain: 'acme.test',
  verified: true,
  details: {
    kind: 'domain',
    id: 11,
    subdomain: 'em1234',
    default: true,
    dns: {
      mail_cname: { valid: true, type: 'cname', host: 'em1234.acme.test', data: 'u1.wl.sendgrid.net' },
      dkim1: {
        valid: true,
        type: 'cname',
        host: 's1._domainkey.acme.test',
        data: 's1.domainkey.u1.wl.sendgrid.net',
      },
    },
  },
};
const newsDomainStatus = {
  domain: 'news.acme.test',
  verified: false,
  details: {
    kind: 'domain',
    id: 12,
    subdomain: 'em99',
    default: false,
    dns: {
      mail_cname: { valid: false, type: 'cname', host: 'em99.news.acme.test', data: 'u1.wl.sendgrid.net' },
    },
  },
};

describeAdapterConformance({
  provider: 'sendgrid',
  channel: 'email',
  fake,
  createAdapter: () => sendgrid(),
  config,
  secrets: (c) => [c.apiKey],
  message,
  send: {
    method: 'POST',
    path: '/v3/mail/send',
    success: { status: 202, headers: { 'x-message-id': 'sg-msg-abc123' } },
    messageId: 'sg-msg-abc123',
    assertRequest: (request) => {
      expect(request.path).toBe('/v3/mail/send');
      expectSendgridAuth(request);
      expect(request.headers['content-type']).toMatch(/^application\/json/);
      expect(request.json()).toEqual(expectedBody);
    },
  },
  failures: [
    {
      name: '400 invalid recipient',
      reply: {
        status: 400,
        json: errors('Does not contain a valid address.', 'personalizations.0.to.0.email'),
      },
      expected: { code: 'RECIPIENT_INVALID', status: 400, message: /valid address/ },
    },
    {
      name: '400 other validation error',
      reply: {
        status: 400,
        json: errors(
          'The content value must be a string at least one character in length.',
          'content.0.value',
        ),
      },
      expected: { code: 'MESSAGE_REJECTED', status: 400, message: /content value/ },
    },
    {
      name: '400 with a non-JSON body',
      reply: { status: 400, body: 'Bad Request' },
      expected: { code: 'MESSAGE_REJECTED', status: 400 },
    },
    {
      name: '401 bad API key',
      reply: {
        status: 401,
        json: errors('The provided authorization grant is invalid, expired, or revoked'),
      },
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401 },
    },
    {
      name: '401 credits exhausted',
      reply: { status: 401, json: errors('Maximum credits exceeded') },
      expected: { code: 'ACCOUNT_SUSPENDED', status: 401 },
    },
    {
      name: '403 unverified sender',
      reply: {
        status: 403,
        json: errors(
          'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved.',
          'from',
        ),
      },
      expected: { code: 'SENDER_UNVERIFIED', status: 403, message: /Sender Identity/ },
    },
    {
      name: '403 key without permission',
      reply: { status: 403, json: errors('access forbidden') },
      expected: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 403 },
    },
    {
      name: '413 payload too large',
      reply: {
        status: 413,
        json: errors('The JSON payload you have included in your request is too large.'),
      },
      expected: { code: 'MESSAGE_REJECTED', status: 413 },
    },
    {
      name: '429 with X-RateLimit-Reset',
      reply: {
        status: 429,
        headers: {
          'x-ratelimit-limit': '600',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': resetIn60s,
        },
        json: errors('too many requests'),
      },
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: { min: 50_000, max: 61_000 } },
    },
    {
      name: '429 with Retry-After',
      reply: { status: 429, headers: { 'retry-after': '30' }, json: errors('too many requests') },
      expected: { code: 'PROVIDER_RATE_LIMITED', status: 429, retryAfterMs: 30_000 },
    },
    {
      name: '500 internal error',
      reply: { status: 500, json: errors('internal server error') },
      expected: { code: 'PROVIDER_UNAVAILABLE', status: 500 },
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
  // The message id comes from a header; the body of a 202 is not read.
  malformedJson: {
    status: 202,
    headers: { 'x-message-id': 'sg-msg-malformed' },
    expected: { messageId: 'sg-msg-malformed' },
  },
  abortClosesConnection: true,
  connections: 'per-client',
  verify: [
    {
      name: 'a key with mail.send is valid',
      routes: [
        {
          method: 'GET',
          path: '/v3/scopes',
          reply: { status: 200, json: { scopes: ['mail.send', 'whitelabel.read'] } },
        },
      ],
      expected: { valid: true },
      assertRequests: (requests) => {
        expect(requests.map((request) => request.path)).toEqual(['/v3/scopes']);
        expectSendgridAuth(requests[0]!);
      },
    },
    {
      name: 'a key without mail.send is invalid',
      routes: [
        { method: 'GET', path: '/v3/scopes', reply: { status: 200, json: { scopes: ['stats.read'] } } },
      ],
      expected: { valid: false, reason: /mail\.send/ },
    },
    {
      name: 'a revoked key is invalid',
      routes: [
        {
          method: 'GET',
          path: '/v3/scopes',
          reply: {
            status: 401,
            json: errors('The provided authorization grant is invalid, expired, or revoked'),
          },
        },
      ],
      expected: { valid: false, reason: /401.*authorization grant/ },
    },
    {
      name: 'a 503 cannot tell',
      routes: [{ method: 'GET', path: '/v3/scopes', reply: { status: 503, body: 'unavailable' } }],
      expected: { error: { code: 'PROVIDER_UNAVAILABLE', status: 503 } },
    },
  ],
  domains: [
    {
      name: 'authenticated domains and single senders',
      routes: [
        { method: 'GET', path: '/v3/whitelabel/domains', reply: { status: 200, json: domainList } },
        {
          method: 'GET',
          path: '/v3/verified_senders',
          reply: {
            status: 200,
            json: {
              results: [
                { id: 7, from_email: 'ops@acme.test', from_name: 'Ops', verified: true },
                { id: 8, from_email: 'new@other.test', from_name: 'New', verified: false },
              ],
            },
          },
        },
      ],
      expected: [
        acmeDomainStatus,
        newsDomainStatus,
        { domain: 'ops@acme.test', verified: true, details: { kind: 'sender', id: 7, fromName: 'Ops' } },
        { domain: 'new@other.test', verified: false, details: { kind: 'sender', id: 8, fromName: 'New' } },
      ],
    },
    {
      name: 'domains only when the key may not list senders',
      routes: [
        { method: 'GET', path: '/v3/whitelabel/domains', reply: { status: 200, json: domainList } },
        {
          method: 'GET',
          path: '/v3/verified_senders',
          reply: { status: 403, json: errors('access forbidden') },
        },
      ],
      expected: [acmeDomainStatus, newsDomainStatus],
    },
    {
      name: 'a bad key fails the listing',
      routes: [
        {
          method: 'GET',
          path: '/v3/whitelabel/domains',
          reply: {
            status: 401,
            json: errors('The provided authorization grant is invalid, expired, or revoked'),
          },
        },
      ],
      expected: { error: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401 } },
    },
  ],
});

describe('sendgrid listings span every page', () => {
  it('reads authenticated domains by limit/offset and senders by limit/lastSeenID until a short page', async () => {
    const allDomains = Array.from({ length: 230 }, (_, index) => ({
      id: index + 1,
      domain: `d${index + 1}.acme.test`,
      subdomain: 'em',
      valid: index % 2 === 0,
      default: false,
      dns: {},
    }));
    const allSenders = Array.from({ length: 150 }, (_, index) => ({
      id: 1000 + index,
      from_email: `s${index}@acme.test`,
      from_name: `S${index}`,
      verified: true,
    }));
    // The API's own paging: a page of `limit` from `offset`, and senders after `lastSeenID`.
    fake.route('GET', '/v3/whitelabel/domains', (request) => {
      const limit = Number(request.query.get('limit') ?? 50);
      const offset = Number(request.query.get('offset') ?? 0);
      return { status: 200, json: allDomains.slice(offset, offset + limit) };
    });
    fake.route('GET', '/v3/verified_senders', (request) => {
      const limit = Number(request.query.get('limit') ?? 50);
      const after = Number(request.query.get('lastSeenID') ?? 0);
      return {
        status: 200,
        json: { results: allSenders.filter((sender) => sender.id > after).slice(0, limit) },
      };
    });
    const statuses = await sendgrid().domains!(config(fake.origin), callContext());
    expect(
      statuses.filter((status) => status.details.kind === 'domain').map((status) => status.domain),
    ).toEqual(allDomains.map((domain) => domain.domain));
    expect(
      statuses.filter((status) => status.details.kind === 'sender').map((status) => status.domain),
    ).toEqual(allSenders.map((sender) => sender.from_email));
    const queries = fake.requests.map((request) => `${request.path}?${request.query}`);
    expect(queries).toEqual([
      '/v3/whitelabel/domains?limit=100&offset=0',
      '/v3/whitelabel/domains?limit=100&offset=100',
      '/v3/whitelabel/domains?limit=100&offset=200',
      '/v3/verified_senders?limit=100',
      '/v3/verified_senders?limit=100&lastSeenID=1099',
    ]);
  });
});

describe('sendgrid mapping', () => {
  it('turns sandbox on with mail_settings.sandbox_mode', async () => {
    fake.route('POST', '/v3/mail/send', { status: 202, headers: { 'x-message-id': 'sandboxed' } });
    const adapter = sendgrid();
    try {
      await adapter.send(message, sendContext({ ...config(fake.origin), sandbox: true }));
      expect(fake.requests[0]!.json()).toMatchObject({ mail_settings: { sandbox_mode: { enable: true } } });
    } finally {
      await adapter.close?.();
    }
  });

  it('sends several reply-to addresses as reply_to_list', () => {
    const mail = toSendgridMail(
      { ...message, replyTo: [{ email: 'a@acme.test', name: 'A' }, { email: 'b@acme.test' }] },
      {},
    );
    expect(mail).toMatchObject({
      reply_to_list: [{ email: 'a@acme.test', name: 'A' }, { email: 'b@acme.test' }],
    });
    expect(mail).not.toHaveProperty('reply_to');
  });

  it('sends a recipient repeated across to/cc/bcc once, and leaves empty lists and fields out', () => {
    const mail = toSendgridMail(
      {
        ...message,
        to: [{ email: 'ann@example.test' }],
        cc: [{ email: 'ANN@example.test' }],
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
    expect(mail).toEqual({
      personalizations: [{ to: [{ email: 'ann@example.test' }] }],
      from: message.from,
      subject: message.subject,
      content: [{ type: 'text/plain', value: 'Hello Ann' }],
    });
  });

  it('keeps at most 10 distinct categories', () => {
    const tags = ['a', 'b', 'a', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k'];
    expect(toSendgridMail({ ...message, tags }, {})).toMatchObject({
      categories: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'],
    });
  });

  it('sends to the EU host for region eu, and to endpoint when set', () => {
    expect(sendgridApiOrigin({})).toBe('https://api.sendgrid.com');
    expect(sendgridApiOrigin({ region: 'global' })).toBe('https://api.sendgrid.com');
    expect(sendgridApiOrigin({ region: 'eu' })).toBe('https://api.eu.sendgrid.com');
    expect(sendgridApiOrigin({ region: 'eu', endpoint: 'http://127.0.0.1:1234' })).toBe(
      'http://127.0.0.1:1234',
    );
  });

  // This used to expect an ambiguous failure, which made the dispatcher fail over and deliver twice.
  it('counts a 202 without X-Message-Id as sent, under a placeholder id', async () => {
    fake.route('POST', '/v3/mail/send', { status: 202 });
    const adapter = sendgrid();
    try {
      const ctx = sendContext(config(fake.origin));
      const receipt = await adapter.send(message, ctx);
      expectPlaceholderReceipt(receipt, ctx.logger, 'SendGrid', [API_KEY]);
      expect(fake.requests).toHaveLength(1);
    } finally {
      await adapter.close?.();
    }
  });
});
