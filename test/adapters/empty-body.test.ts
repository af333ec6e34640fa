/**
 * Empty text/html parts never reach a provider. SendGrid refuses an empty content value with a 400 on
 * `content.0.value`, Postmark an empty body with 422 / ErrorCode 300; both read as MESSAGE_REJECTED, which would
 * stop failover. The fakes answer exactly those bodies when they get an empty part, so a test that let one
 * through would see the refusal.
 */
import { Dispatcher, isMessagePipeError, type SendInput } from 'messagepipe';
import { afterEach, describe, expect, it } from 'vitest';
import { postmark } from '../../adapters/postmark';
import { sendgrid } from '../../adapters/sendgrid';
import { rejectionOf } from './conformance';
import { type FakeReply, fakeSecret, type RecordedRequest, useFakeHttpServer } from './fake-http-server';

const fake = useFakeHttpServer();
const PROJECT = 'empty-bodies';

/** SendGrid's answer to an empty content value (https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/errors). */
const sendgridEmptyContent = {
  status: 400,
  json: {
    errors: [
      {
        message: 'The content value must be a string at least one character in length.',
        field: 'content.0.value',
        help: 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.content.value',
      },
    ],
  },
};

/** Postmark's answer to a message without a body (https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean). */
const postmarkEmptyBody = {
  status: 422,
  json: { ErrorCode: 300, Message: 'Provide either email TextBody or HtmlBody or both.' },
};

const sendgridReply: FakeReply = (request: RecordedRequest) => {
  const { content } = request.json<{ content: Array<{ value: string }> }>();
  if (content.some((part) => part.value === '')) return sendgridEmptyContent;
  return { status: 202, headers: { 'x-message-id': 'sg-1' } };
};

const postmarkReply: FakeReply = (request: RecordedRequest) => {
  const body = request.json<{ TextBody?: string; HtmlBody?: string }>();
  if (!body.TextBody && !body.HtmlBody) return postmarkEmptyBody;
  return {
    status: 200,
    json: {
      To: 'ann@example.test',
      SubmittedAt: '2026-11-22T10:00:00.0000000-05:00',
      MessageID: 'pm-1',
      ErrorCode: 0,
      Message: 'OK',
    },
  };
};

const providers = [
  {
    provider: 'sendgrid',
    adapter: () => sendgrid(),
    path: '/v3/mail/send',
    reply: sendgridReply,
    config: (endpoint: string) => ({ apiKey: fakeSecret('SG.'), endpoint }),
    parts: (request: RecordedRequest) =>
      request.json<{ content: Array<{ type: string }> }>().content.map((part) => part.type),
  },
  {
    provider: 'postmark',
    adapter: () => postmark(),
    path: '/email',
    reply: postmarkReply,
    config: (endpoint: string) => ({ serverToken: fakeSecret('pm-'), endpoint }),
    parts: (request: RecordedRequest) =>
      Object.keys(request.json<Record<string, unknown>>()).filter((key) => key.endsWith('Body')),
  },
] as const;

const opened: Dispatcher[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((pipe) => pipe.close()));
});

async function pipeFor(spec: (typeof providers)[number]): Promise<Dispatcher> {
  const pipe = new Dispatcher({ adapters: [spec.adapter()] });
  opened.push(pipe);
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add(
    {
      projectId: PROJECT,
      channel: 'email',
      provider: spec.provider,
      name: spec.provider,
      config: spec.config(fake.origin),
    },
    { verify: false },
  );
  return pipe;
}

const base = {
  projectId: PROJECT,
  channel: 'email',
  to: 'ann@example.test',
  subject: 'Hello',
} as const satisfies Partial<SendInput>;

describe.each(providers)('empty bodies and $provider', (spec) => {
  it('an empty text beside html sends the html alone', async () => {
    fake.route('POST', spec.path, spec.reply);
    const pipe = await pipeFor(spec);
    const result = await pipe.send({ ...base, text: '', html: '<p>Hello</p>' });
    expect(result.provider).toBe(spec.provider);
    expect(fake.requests).toHaveLength(1);
    expect(spec.parts(fake.requests[0]!)).toEqual([spec.provider === 'sendgrid' ? 'text/html' : 'HtmlBody']);
  });

  it('an empty html beside text sends the text alone', async () => {
    fake.route('POST', spec.path, spec.reply);
    const pipe = await pipeFor(spec);
    await pipe.send({ ...base, text: 'Hello', html: '' });
    expect(spec.parts(fake.requests[0]!)).toEqual([spec.provider === 'sendgrid' ? 'text/plain' : 'TextBody']);
  });

  it('nothing but empty parts is MESSAGE_INVALID, and the provider is never called', async () => {
    fake.route('POST', spec.path, spec.reply);
    const pipe = await pipeFor(spec);
    const error = await rejectionOf(pipe.send({ ...base, text: '', html: '' }));
    expect(isMessagePipeError(error) && error.code).toBe('MESSAGE_INVALID');
    expect(isMessagePipeError(error) && error.issues?.map((issue) => issue.path.join('.'))).toEqual(['text']);
    expect(fake.requests).toEqual([]);
  });
});
