/**
 * The HTTP adapters as rows for table-driven tests against hostile peers: how to build each one, the requests its
 * send, credential check and listing make, and the secrets its config holds (raw and derived wire forms). Also the
 * echoing peer and the leak scan shared by every test that looks for a secret in any form.
 */
import { inspect } from 'node:util';
import type { AnyAdapter, OutboundMessage } from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { postmark } from 'messagepipe/adapters/postmark';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { ses } from 'messagepipe/adapters/ses';
import { sns } from 'messagepipe/adapters/sns';
import { termii } from 'messagepipe/adapters/termii';
import { twilio } from 'messagepipe/adapters/twilio';
import { expect } from 'vitest';
import { type FakeReply, fakeSecret, type PathMatcher } from './fake-http-server';
import { sampleEmail } from './sample-email';

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const MAILGUN_DOMAIN = 'mg.acme.test';
const sms: OutboundMessage<'sms'> = { channel: 'sms', to: '+2348012345678', body: 'Your code is 123456' };

export interface Route {
  method: string;
  path: PathMatcher;
}

/** One HTTP adapter: how to build it, and which requests its send, check and listing make first. */
export interface Row {
  provider: string;
  create: () => AnyAdapter;
  config: (endpoint: string) => Record<string, unknown>;
  message: OutboundMessage;
  send: Route;
  /** The status of the provider's documented success answer. */
  successStatus: number;
  verify: Route;
  domains?: Route;
  /** 2xx answers that are not the documented success answer: never a definite delivery. */
  undocumented: Array<{ name: string; reply: FakeReply }>;
  /** The config's secret values, and the derived strings the adapter puts on the wire (Basic credentials…). */
  secrets: (config: Record<string, unknown>) => { values: string[]; derived: string[] };
  /** A 400 to the credential check worded like a message-level refusal of a send. */
  verifyBadRequest: FakeReply;
}

const empty200: FakeReply = { status: 200 };
const html200: FakeReply = {
  status: 200,
  headers: { 'content-type': 'text/html' },
  body: '<html><body>Welcome to the captive portal</body></html>',
};

export const rows: Row[] = [
  {
    provider: 'sendgrid',
    secrets: (c) => ({ values: [String(c.apiKey)], derived: [] }),
    verifyBadRequest: {
      status: 400,
      json: { errors: [{ field: 'personalizations.0.to', message: 'Invalid to email' }] },
    },
    create: () => sendgrid(),
    config: (endpoint) => ({ apiKey: fakeSecret('SG.'), endpoint }),
    message: sampleEmail(),
    send: { method: 'POST', path: '/v3/mail/send' },
    successStatus: 202,
    verify: { method: 'GET', path: '/v3/scopes' },
    domains: { method: 'GET', path: '/v3/whitelabel/domains' },
    undocumented: [
      { name: 'an empty 202 without X-Message-Id', reply: { status: 202 } },
      { name: 'an HTML 200', reply: html200 },
    ],
  },
  {
    provider: 'mailgun',
    secrets: (c) => ({
      values: [String(c.apiKey)],
      derived: [Buffer.from(`api:${String(c.apiKey)}`).toString('base64')],
    }),
    verifyBadRequest: { status: 400, json: { message: "'to' parameter is not a valid address" } },
    create: () => mailgun(),
    config: (endpoint) => ({ apiKey: fakeSecret('key-'), domain: MAILGUN_DOMAIN, endpoint }),
    message: sampleEmail(),
    send: { method: 'POST', path: `/v3/${MAILGUN_DOMAIN}/messages` },
    successStatus: 200,
    verify: { method: 'GET', path: `/v4/domains/${MAILGUN_DOMAIN}` },
    domains: { method: 'GET', path: '/v4/domains' },
    undocumented: [
      { name: 'an empty 200', reply: empty200 },
      { name: 'an HTML 200', reply: html200 },
    ],
  },
  {
    provider: 'postmark',
    secrets: (c) => ({ values: [String(c.serverToken), String(c.accountToken)], derived: [] }),
    verifyBadRequest: { status: 422, json: { ErrorCode: 300, Message: "Invalid 'To' address" } },
    create: () => postmark(),
    config: (endpoint) => ({
      serverToken: fakeSecret('pm-server-'),
      accountToken: fakeSecret('pm-account-'),
      endpoint,
    }),
    message: sampleEmail(),
    send: { method: 'POST', path: '/email' },
    successStatus: 200,
    verify: { method: 'GET', path: '/server' },
    domains: { method: 'GET', path: '/domains' },
    undocumented: [
      { name: 'an empty 200', reply: empty200 },
      { name: 'an HTML 200', reply: html200 },
    ],
  },
  {
    provider: 'ses',
    secrets: (c) => ({ values: [String(c.secretAccessKey)], derived: [] }),
    verifyBadRequest: {
      status: 400,
      headers: { 'x-amzn-errortype': 'MessageRejected' },
      json: { message: 'Email address is invalid' },
    },
    create: () => ses(),
    config: (endpoint) => ({
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: fakeSecret('aws-'),
      region: 'eu-west-1',
      endpoint,
    }),
    message: sampleEmail(),
    send: { method: 'POST', path: '/v2/email/outbound-emails' },
    successStatus: 200,
    verify: { method: 'GET', path: '/v2/email/account' },
    domains: { method: 'POST', path: '/v2/email/list-identities' },
    undocumented: [{ name: 'an empty 200', reply: empty200 }],
  },
  {
    provider: 'sns',
    secrets: (c) => ({ values: [String(c.secretAccessKey)], derived: [] }),
    verifyBadRequest: {
      status: 400,
      headers: { 'content-type': 'text/xml' },
      body: '<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: PhoneNumber</Message></Error><RequestId>r1</RequestId></ErrorResponse>',
    },
    create: () => sns(),
    config: (endpoint) => ({
      region: 'eu-west-1',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: fakeSecret('aws-'),
      endpoint,
    }),
    message: sms,
    send: { method: 'POST', path: '/' },
    successStatus: 200,
    verify: { method: 'POST', path: '/' },
    undocumented: [
      { name: 'an empty 200', reply: empty200 },
      { name: 'an HTML 200', reply: html200 },
    ],
  },
  {
    provider: 'twilio',
    secrets: (c) => ({
      values: [String(c.authToken)],
      derived: [Buffer.from(`${String(c.accountSid)}:${String(c.authToken)}`).toString('base64')],
    }),
    verifyBadRequest: {
      status: 400,
      json: { code: 21211, message: "The 'To' number is not a valid phone number", status: 400 },
    },
    create: () => twilio(),
    config: (endpoint) => ({
      accountSid: ACCOUNT_SID,
      authToken: fakeSecret('twilio-'),
      from: '+14155550199',
      endpoint,
    }),
    message: sms,
    send: { method: 'POST', path: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json` },
    successStatus: 201,
    verify: { method: 'GET', path: `/2010-04-01/Accounts/${ACCOUNT_SID}.json` },
    undocumented: [
      { name: 'an empty 201', reply: { status: 201 } },
      { name: 'an HTML 200', reply: html200 },
    ],
  },
  {
    provider: 'termii',
    secrets: (c) => ({ values: [String(c.apiKey)], derived: [] }),
    verifyBadRequest: { status: 400, json: { message: 'Invalid phone number' } },
    create: () => termii(),
    config: (endpoint) => ({ apiKey: fakeSecret('termii-'), senderId: 'Acme', endpoint }),
    message: sms,
    send: { method: 'POST', path: '/api/sms/send' },
    successStatus: 200,
    verify: { method: 'GET', path: '/api/get-balance' },
    undocumented: [
      { name: 'an empty 200', reply: empty200 },
      { name: 'an HTML 200', reply: html200 },
    ],
  },
];

/**
 * The strings to look for: each secret raw, URL-encoded and JSON-escaped, each derived form (the base64 of
 * Basic credentials) raw and unpadded, and any 12-character piece of a raw secret (what a cut would leave).
 */
export function leakPatterns({ values, derived }: { values: string[]; derived: string[] }): string[] {
  const patterns = new Set<string>();
  for (const value of values) {
    patterns.add(value);
    patterns.add(encodeURIComponent(value));
    patterns.add(JSON.stringify(value).slice(1, -1));
    patterns.add(Buffer.from(value).toString('base64').replace(/=+$/, ''));
    for (let i = 0; i + 12 <= value.length; i += 4) patterns.add(value.slice(i, i + 12));
  }
  for (const form of derived) {
    patterns.add(form);
    patterns.add(form.replace(/=+$/, ''));
    patterns.add(encodeURIComponent(form));
  }
  return [...patterns];
}

export function expectNoLeak(artifacts: unknown[], patterns: string[]): void {
  const text = artifacts
    .map((artifact) => (typeof artifact === 'string' ? artifact : inspect(artifact, { depth: 10 })))
    .join('\n');
  for (const pattern of patterns) expect(text, `leaked ${pattern}`).not.toContain(pattern);
}

/**
 * A provider that echoes the request into its 401 answer: the Authorization header (Basic credentials in
 * base64), the token headers, the query and the body, after 270 characters of padding so that a cut at 300
 * characters would fall inside them.
 */
export const echo: FakeReply = (request) => {
  const echoed = [
    'x'.repeat(270),
    `authorization=${String(request.headers.authorization)}`,
    `token=${String(request.headers['x-postmark-server-token'])}`,
    `query=${request.query.toString()}`,
    `body=${request.text().slice(0, 2000)}`,
  ].join(' ');
  return {
    status: 401,
    json: { message: echoed, Message: echoed, ErrorCode: 10, code: 20003, errors: [{ message: echoed }] },
  };
};
