import type { Dispatcher, MessagePipeError, SendInput } from 'messagepipe';
import { createMockAdapter, type MockAdapter } from 'messagepipe/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { dispatcherWithSender, email, PROJECT, sampleConfigs } from './helpers';

let pipe: Dispatcher;
let mail: MockAdapter<'email'>;
let sms: MockAdapter<'sms'>;

beforeEach(async () => {
  mail = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
  sms = createMockAdapter({ provider: 'twilio', channel: 'sms' });
  pipe = await dispatcherWithSender({ adapters: [mail, sms] });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'sendgrid',
    name: 'SG',
    config: sampleConfigs.sendgrid,
  });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'sms',
    provider: 'twilio',
    name: 'TW',
    config: sampleConfigs.twilio,
  });
});

async function refusal(input: unknown): Promise<MessagePipeError> {
  const error = await pipe.send(input as SendInput).then(
    () => undefined,
    (thrown: unknown) => thrown as MessagePipeError,
  );
  expect(error, 'the send should have been refused').toBeDefined();
  return error!;
}

function paths(error: MessagePipeError): string[] {
  return (error.issues ?? []).map((issue) => issue.path.join('.'));
}

describe('message validation', () => {
  it.each([
    ['subject', { subject: 'Hello\r\nBcc: victim@example.test' }, 'subject'],
    ['subject with a bare LF', { subject: 'Hello\nX-Injected: 1' }, 'subject'],
    ['recipient name', { to: { email: 'ann@example.test', name: 'Ann\r\nBcc: x@example.test' } }, 'to.name'],
    ['recipient string', { to: ['ann@example.test\r\nBcc: x@example.test'] }, 'to.0'],
    ['from name', { from: { email: 'a@acme.test', name: 'Acme\nBcc: x@example.test' } }, 'from.name'],
    ['reply-to', { replyTo: 'Ann <ann@example.test>\r\n' }, 'replyTo'],
    [
      'custom header value',
      { headers: { 'X-Campaign': 'spring\r\nBcc: x@example.test' } },
      'headers.X-Campaign',
    ],
    ['custom header name', { headers: { 'X-Bad\r\nBcc': 'x' } }, 'headers.X-Bad\r\nBcc'],
    ['reserved header', { headers: { Bcc: 'x@example.test' } }, 'headers.Bcc'],
    ['tag', { tags: ['ok', 'bad\ntag'] }, 'tags.1'],
    ['metadata value', { metadata: { order: '42\r\nX: y' } }, 'metadata.order'],
    [
      'attachment filename',
      { attachments: [{ filename: 'a.txt\r\nX: y', content: 'hi' }] },
      'attachments.0.filename',
    ],
  ])('refuses CR/LF in the %s', async (_, patch, path) => {
    const error = await refusal({ ...email, ...patch });
    expect(error.code).toBe('MESSAGE_INVALID');
    expect(paths(error)).toContain(path);
    expect(mail.calls).toHaveLength(0);
  });

  it.each([
    ['no body', { text: undefined }, 'text'],
    ['a bad address', { to: 'not-an-address' }, 'to'],
    ['a bad cc in a list', { cc: ['ok@example.test', 'nope'] }, 'cc.1'],
    ['an empty recipient list', { to: [] }, 'to'],
    ['an empty subject', { subject: '' }, 'subject'],
    ['an unknown field', { priority: 'high' }, ''],
  ])('refuses an email with %s before any adapter is called', async (_, patch, path) => {
    const error = await refusal({ ...email, ...patch });
    expect(error.code).toBe('MESSAGE_INVALID');
    expect(paths(error)).toContain(path);
    expect(mail.calls).toHaveLength(0);
  });

  it('reports every problem at once', async () => {
    const error = await refusal({ ...email, to: 'nope', subject: 'a\nb', text: undefined });
    expect(paths(error).sort()).toEqual(['subject', 'text', 'to']);
  });

  it.each([
    ['a number without +', { to: '14155550100' }, 'to'],
    ['letters in the number', { to: '+1415CALLNOW' }, 'to'],
    ['an empty body', { body: '' }, 'body'],
    ['a sender id with a line break', { from: 'Acme\n' }, 'from'],
  ])('refuses an SMS with %s', async (_, patch, path) => {
    const error = await refusal({
      projectId: PROJECT,
      channel: 'sms',
      to: '+14155550101',
      body: 'Hi',
      ...patch,
    });
    expect(error.code).toBe('MESSAGE_INVALID');
    expect(paths(error)).toContain(path);
    expect(sms.calls).toHaveLength(0);
  });

  it.each([
    ['empty text and no html', { text: '', html: undefined }],
    ['empty html and no text', { text: undefined, html: '' }],
    ['empty text and empty html', { text: '', html: '' }],
  ])('refuses an email with %s before any provider', async (_, patch) => {
    const error = await refusal({ ...email, ...patch });
    expect(error.code).toBe('MESSAGE_INVALID');
    expect(paths(error)).toEqual(['text']);
    expect(mail.calls).toHaveLength(0);
  });

  it('drops an empty part beside a non-empty one, so no provider gets an empty body', async () => {
    await pipe.send({ ...email, text: '', html: '<p>Hi</p>' });
    await pipe.send({ ...email, text: 'Hi', html: '' });
    const [htmlOnly, textOnly] = mail.calls.map((call) => call.message);
    expect(htmlOnly).toMatchObject({ html: '<p>Hi</p>' });
    expect(htmlOnly).not.toHaveProperty('text');
    expect(textOnly).toMatchObject({ text: 'Hi' });
    expect(textOnly).not.toHaveProperty('html');
  });

  it('refuses an unknown channel and a missing project', async () => {
    expect(paths(await refusal({ ...email, channel: 'fax' }))).toContain('channel');
    expect(paths(await refusal({ ...email, projectId: '' }))).toContain('projectId');
  });

  it('accepts names in "Name <address>" form and normalises every address list', async () => {
    await pipe.send({
      ...email,
      to: ['"Ann Example" <ann@example.test>', { email: 'bob@example.test', name: 'Bob' }],
      cc: 'carol@example.test',
      replyTo: 'Support <help@acme.test>',
      html: '<p>Hi</p>',
      attachments: [
        { filename: 'a.txt', content: 'aGVsbG8=', encoding: 'base64' },
        {
          filename: 'logo.png',
          content: new Uint8Array([1, 2, 3]),
          contentType: 'image/png',
          contentId: 'logo',
        },
      ],
      tags: ['welcome'],
      metadata: { userId: '42' },
    });
    const message = mail.sent[0]!.message;
    expect(message.to).toEqual([
      { email: 'ann@example.test', name: 'Ann Example' },
      { email: 'bob@example.test', name: 'Bob' },
    ]);
    expect(message.cc).toEqual([{ email: 'carol@example.test' }]);
    expect(message.bcc).toEqual([]);
    expect(message.replyTo).toEqual([{ email: 'help@acme.test', name: 'Support' }]);
    expect(Buffer.from(message.attachments[0]!.content).toString()).toBe('hello');
    expect(message.attachments[0]!.disposition).toBe('attachment');
    expect(message.attachments[1]).toMatchObject({
      contentId: 'logo',
      disposition: 'inline',
      contentType: 'image/png',
    });
    expect(message.tags).toEqual(['welcome']);
    expect(message.metadata).toEqual({ userId: '42' });
  });

  it('prefers the message’s own from over the sender configuration', async () => {
    await pipe.send({ ...email, from: 'Billing <billing@acme.test>' });
    expect(mail.sent[0]!.message.from).toEqual({ email: 'billing@acme.test', name: 'Billing' });
  });

  it('refuses an email with no sender anywhere', async () => {
    await pipe.senders.set({ projectId: 'no-sender', channel: 'sms', senderId: 'Acme', enabled: true });
    const error = await refusal({ ...email, projectId: 'no-sender' });
    expect(error.code).toBe('MESSAGE_INVALID');
    expect(paths(error)).toEqual(['from']);
  });
});
