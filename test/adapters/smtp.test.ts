import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect, promisify } from 'node:util';
import { type ParsedMail, simpleParser } from 'mailparser';
import {
  type Dispatcher,
  isMessagePipeError,
  isProviderError,
  type Logger,
  type OutboundEmail,
  ProviderError,
  type SendContext,
  type SmtpConfig,
} from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SMTP_METADATA_HEADER, SMTP_TAG_HEADER, smtp } from '../../adapters/smtp';
import { dispatcherWithSender, email, PROJECT } from '../helpers';

// Self-signed certificate for CN=localhost / 127.0.0.1, valid until 2126, made with:
// openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 -subj /CN=localhost \
//   -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout key.pem -out cert.pem
const execFileAsync = promisify(execFile);

const TLS_KEY = readFileSync(new URL('../fixtures/smtp-tls/key.pem', import.meta.url));
const TLS_CERT = readFileSync(new URL('../fixtures/smtp-tls/cert.pem', import.meta.url));

const USER = 'mailer@acme.test';
const PASSWORD = 'correct-horse-battery-staple';
const WRONG_PASSWORD = 'wrong-horse-battery-staple';

/** A message the server received, with its SMTP envelope. */
interface Delivery {
  mailFrom: string;
  rcptTo: string[];
  secure: boolean;
  raw: Buffer;
  parsed: ParsedMail;
}

/** An smtp-server on 127.0.0.1 that records what it receives and counts connections. */
interface TestServer {
  port: number;
  deliveries: Delivery[];
  /** Connections opened so far. */
  connects: number;
  /** Connections open right now. */
  open(): number;
  /** Successful logins so far. */
  logins: number;
  close(): Promise<void>;
}

/** A reply error for smtp-server handlers. */
function reply(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code });
}

/**
 * Permanent refusals about the account or relay, not the message, keyed by the local part that triggers them:
 * the sender's for MAIL FROM, a recipient's for RCPT TO and DATA.
 */
const SENDER_REFUSALS: Record<string, () => Error> = {
  'sender-sendas': () => reply(550, '5.7.60 SMTP; Client does not have permissions to send as this sender'),
  'sender-252': () =>
    reply(554, '5.2.252 SendAsDenied; sender-252@acme.test not allowed to send as noreply@acme.test'),
  'sender-policy': () => reply(550, '5.7.1 Sender rejected by local policy'),
};
const RECIPIENT_REFUSALS: Record<string, () => Error> = {
  'rcpt-policy': () =>
    reply(550, '5.7.1 <rcpt-policy@example.test>: Recipient address rejected: Access denied'),
  'rcpt-auth': () => reply(550, '5.7.57 Client not authenticated to send mail'),
  'rcpt-quota': () => reply(550, '5.4.5 Daily user sending quota exceeded'),
  'rcpt-rate': () => reply(554, '5.7.0 Too many messages, rate limit exceeded for this account'),
  'rcpt-mailbox-full': () => reply(552, '5.2.2 Mailbox full, quota exceeded'),
};
const DATA_REFUSALS: Record<string, () => Error> = {
  'data-notauth': () => reply(554, '5.7.1 Not authorized to send from this domain'),
  'data-policy': () => reply(550, '5.7.0 Message refused by local policy'),
  'data-suspended': () => reply(554, '5.0.0 Your account has been suspended'),
};

/** Called when the DATA of a `data-stall` recipient arrives (the server never answers it). */
let onStalledData: () => void = () => {};
/** Called when a `rcpt-stall` recipient arrives (the server never answers it). */
let onStalledRcpt: () => void = () => {};

async function startServer(options: Partial<SMTPServerOptions> = {}): Promise<TestServer> {
  const state = { deliveries: [] as Delivery[], connects: 0, closes: 0, logins: 0 };
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    closeTimeout: 200,
    onConnect(_session, callback) {
      state.connects += 1;
      callback();
    },
    onClose() {
      state.closes += 1;
    },
    onAuth(auth, _session, callback) {
      if (auth.username === USER && auth.password === PASSWORD) {
        state.logins += 1;
        callback(null, { user: auth.username });
      } else {
        callback(null, { message: '5.7.8 Authentication credentials invalid', responseCode: 535 });
      }
    },
    onMailFrom(address, _session, callback) {
      const sender = address.address.split('@')[0] ?? '';
      if (sender === 'sender-553') callback(reply(553, '5.7.1 Sender address not owned by user'));
      else if (sender in SENDER_REFUSALS) callback(SENDER_REFUSALS[sender]!());
      else callback();
    },
    onRcptTo(address, _session, callback) {
      const local = address.address.split('@')[0];
      if (local === 'rcpt-450') callback(reply(450, '4.2.1 Mailbox temporarily unavailable'));
      else if (local === 'rcpt-452') callback(reply(452, '4.5.3 Too many recipients, slow down'));
      else if (local === 'rcpt-550') callback(reply(550, '5.1.1 No such user here'));
      else if (local === 'rcpt-relay') callback(reply(554, '5.7.1 Relay access denied'));
      else if (local === 'rcpt-stall') onStalledRcpt();
      else if (local !== undefined && local in RECIPIENT_REFUSALS) callback(RECIPIENT_REFUSALS[local]!());
      else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', async () => {
        const rcptTo = session.envelope.rcptTo.map((address) => address.address);
        if (rcptTo.some((address) => address.startsWith('data-stall@'))) {
          onStalledData();
          return;
        }
        if (rcptTo.some((address) => address.startsWith('data-554@'))) {
          callback(reply(554, '5.7.1 Message rejected as spam'));
          return;
        }
        const dataRefusal = rcptTo.map((address) => DATA_REFUSALS[address.split('@')[0] ?? '']).find(Boolean);
        if (dataRefusal) {
          callback(dataRefusal());
          return;
        }
        const raw = Buffer.concat(chunks);
        const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        state.deliveries.push({
          mailFrom,
          rcptTo,
          secure: session.secure,
          raw,
          parsed: await simpleParser(raw, { keepCidLinks: true }),
        });
        callback();
      });
    },
    ...options,
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address() as net.AddressInfo;
  return {
    port: address.port,
    deliveries: state.deliveries,
    get connects() {
      return state.connects;
    },
    get logins() {
      return state.logins;
    },
    open: () => state.connects - state.closes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TCP server that accepts connections and never says a word. */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A scripted SMTP peer (no extensions, no AUTH) that drops the connection at one point of the first transaction:
 * right after accepting the recipient, or once the message body starts to arrive.
 */
async function startDroppingServer(
  dropAt: 'rcpt' | 'data',
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let inData = false;
    socket.write('220 drop.test ESMTP\r\n');
    socket.on('data', (chunk) => {
      if (inData) {
        socket.destroy();
        return;
      }
      for (const line of chunk.toString('utf8').split('\r\n').filter(Boolean)) {
        const command = line.slice(0, 4).toUpperCase();
        if (command === 'EHLO' || command === 'HELO') socket.write('250 drop.test\r\n');
        else if (command === 'MAIL') socket.write('250 2.1.0 Ok\r\n');
        else if (command === 'RCPT' && dropAt === 'rcpt') socket.destroy();
        else if (command === 'RCPT') socket.write('250 2.1.5 Ok\r\n');
        else if (command === 'DATA') {
          inData = true;
          socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else socket.write('502 5.5.2 Not implemented\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Waits until every connection of earlier tests has closed, so connection counts start clean. */
async function settled(server: TestServer): Promise<void> {
  await vi.waitFor(() => expect(server.open()).toBe(0), { timeout: 10_000, interval: 20 });
}

/** Every log line of the file, to check that none holds a password. */
const logLines: { level: 'debug' | 'warn'; message: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = {
  debug: (message, fields) => logLines.push({ level: 'debug', message, fields }),
  warn: (message, fields) => logLines.push({ level: 'warn', message, fields }),
};

function expectNoSecret(value: unknown): void {
  const text =
    value instanceof Error
      ? `${value.message} ${JSON.stringify(value)} ${JSON.stringify((value as { attempts?: unknown }).attempts ?? [])}`
      : JSON.stringify(value);
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(WRONG_PASSWORD);
}

let mainServer: TestServer;
let tlsServer: TestServer;
let greeting421Server: TestServer;
let silentServer: { port: number; close(): Promise<void> };

function baseConfig(overrides: Partial<SmtpConfig> = {}): SmtpConfig {
  return {
    host: '127.0.0.1',
    port: mainServer.port,
    secure: false,
    auth: { user: USER, pass: PASSWORD },
    ...overrides,
  };
}

/** Things to close after each test: adapters and dispatchers hold pooled connections. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  onStalledData = () => {};
  onStalledRcpt = () => {};
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

beforeAll(async () => {
  mainServer = await startServer();
  tlsServer = await startServer({
    disabledCommands: [],
    key: TLS_KEY,
    cert: TLS_CERT,
    authOptional: true,
  });
  greeting421Server = await startServer({
    onConnect(_session, callback) {
      callback(reply(421, '4.3.2 Service not available, closing transmission channel'));
    },
  });
  silentServer = await startSilentServer();
});

afterAll(async () => {
  await Promise.all([mainServer.close(), tlsServer.close(), greeting421Server.close(), silentServer.close()]);
  // No log line of the whole file may hold a password.
  expectNoSecret(logLines);
});

/** A dispatcher with the project's email sender ("Acme <noreply@acme.test>") and one SMTP provider. */
async function pipeWith(
  config: SmtpConfig,
  options: { verify?: boolean; extraAdapters?: Parameters<typeof dispatcherWithSender>[0]['adapters'] } = {},
): Promise<{ pipe: Dispatcher; providerId: string }> {
  const pipe = await dispatcherWithSender({ adapters: [smtp(), ...(options.extraAdapters ?? [])], logger });
  cleanups.push(() => pipe.close());
  const record = await pipe.providers.add(
    { projectId: PROJECT, channel: 'email', provider: 'smtp', name: 'SMTP', priority: 1, config },
    { verify: options.verify ?? false },
  );
  return { pipe, providerId: record.id };
}

/** An adapter used directly, with a context whose signal only the test aborts. */
function directAdapter() {
  const adapter = smtp();
  cleanups.push(() => adapter.close?.());
  return adapter;
}

function context(
  config: SmtpConfig,
  overrides: Partial<SendContext<SmtpConfig>> = {},
): SendContext<SmtpConfig> {
  return {
    config,
    signal: new AbortController().signal,
    timeoutMs: 60_000,
    logger,
    projectId: PROJECT,
    // One id per distinct config, as the store would give: the adapter keeps one transport per id and revision.
    providerConfigId: `smtp-${createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 12)}`,
    configRevision: '1',
    idempotencyKey: randomUUID(),
    ...overrides,
  };
}

function outbound(to: string, overrides: Partial<OutboundEmail> = {}): OutboundEmail {
  return {
    channel: 'email',
    from: { email: 'noreply@acme.test', name: 'Acme' },
    to: [{ email: to }],
    cc: [],
    bcc: [],
    replyTo: [],
    subject: 'Hello',
    text: 'Hi there',
    attachments: [],
    headers: {},
    tags: [],
    metadata: {},
    ...overrides,
  };
}

async function sendFailure(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the send to fail');
    },
    (thrown: unknown) => thrown,
  );
  if (!isProviderError(error)) throw error;
  expectNoSecret(error);
  return error;
}

describe('smtp peer dependency', () => {
  it('requires nodemailer 10.5 or later, the first to honour a per-send AbortSignal', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      peerDependencies: Record<string, string>;
    };
    const floor = /^>=\s*(\d+)\.(\d+)/.exec(manifest.peerDependencies.nodemailer ?? '');
    expect(floor, 'a >= floor').not.toBeNull();
    const [major, minor] = [Number(floor![1]), Number(floor![2])];
    expect(major > 10 || (major === 10 && minor >= 5)).toBe(true);
  });
});

describe('smtp adapter: delivery', () => {
  it('delivers a full message through the Dispatcher, as the server and a mail parser see it', async () => {
    const { pipe } = await pipeWith(baseConfig());
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    const before = mainServer.deliveries.length;

    const result = await pipe.send(
      {
        ...email,
        to: ['Ann Example <ann@example.test>', 'bob@example.test'],
        cc: { email: 'carol@example.test', name: 'Carol' },
        bcc: ['dave@example.test', 'Eve <eve@example.test>'],
        replyTo: 'Support <support@acme.test>',
        subject: 'Your order — №42',
        text: 'Plain body',
        html: '<p>HTML body <img src="cid:logo@acme"></p>',
        attachments: [
          { filename: 'invoice.txt', content: 'Invoice 42', contentType: 'text/plain' },
          { filename: 'logo.png', content: png, contentType: 'image/png', contentId: 'logo@acme' },
        ],
        headers: { 'X-Campaign': 'spring', 'List-Unsubscribe': '<mailto:unsubscribe@acme.test>' },
        tags: ['welcome', 'beta, wave 2'],
        metadata: { orderId: '42', customer: 'Zoë "Z" Ünal', note: 'a long note '.repeat(12).trim() },
      },
      { idempotencyKey: 'order-42-confirmation' },
    );

    expect(result.provider).toBe('smtp');
    expect(result.attempts.map((attempt) => attempt.outcome)).toEqual(['sent']);
    expect(mainServer.deliveries).toHaveLength(before + 1);
    const delivery = mainServer.deliveries.at(-1)!;
    const { parsed, raw } = delivery;

    // Sender from the project's sender configuration.
    expect(parsed.from?.value).toEqual([{ address: 'noreply@acme.test', name: 'Acme' }]);
    expect(delivery.mailFrom).toBe('noreply@acme.test');
    const addresses = (field: ParsedMail['to']) =>
      (Array.isArray(field) ? field : field ? [field] : []).flatMap((object) => object.value);
    expect(addresses(parsed.to)).toEqual([
      { address: 'ann@example.test', name: 'Ann Example' },
      { address: 'bob@example.test', name: '' },
    ]);
    expect(addresses(parsed.cc)).toEqual([{ address: 'carol@example.test', name: 'Carol' }]);
    expect(parsed.replyTo?.value).toEqual([{ address: 'support@acme.test', name: 'Support' }]);

    // Bcc: in the envelope, nowhere in the message.
    expect(parsed.bcc).toBeUndefined();
    expect(raw.toString('utf8')).not.toMatch(/^bcc:/im);
    expect(raw.toString('utf8')).not.toContain('dave@example.test');
    expect(delivery.rcptTo.sort()).toEqual(
      [
        'ann@example.test',
        'bob@example.test',
        'carol@example.test',
        'dave@example.test',
        'eve@example.test',
      ].sort(),
    );

    expect(parsed.subject).toBe('Your order — №42');
    expect(parsed.text?.trim()).toBe('Plain body');
    expect(parsed.html).toBe('<p>HTML body <img src="cid:logo@acme"></p>');
    expect(raw.toString('utf8')).toMatch(/multipart\/alternative/i);

    const invoice = parsed.attachments.find((attachment) => attachment.filename === 'invoice.txt');
    expect(invoice?.content.toString('utf8')).toBe('Invoice 42');
    expect(invoice?.contentType).toBe('text/plain');
    expect(invoice?.contentDisposition).toBe('attachment');
    const logo = parsed.attachments.find((attachment) => attachment.filename === 'logo.png');
    expect(logo && new Uint8Array(logo.content)).toEqual(png);
    expect(logo?.cid).toBe('logo@acme');
    expect(logo?.contentDisposition).toBe('inline');

    expect(parsed.headers.get('x-campaign')).toBe('spring');
    expect(raw.toString('utf8')).toContain('List-Unsubscribe: <mailto:unsubscribe@acme.test>');
    const tagLines = parsed.headerLines
      .filter((line) => line.key === SMTP_TAG_HEADER.toLowerCase())
      .map((line) => line.line.slice(line.line.indexOf(':') + 1).trim());
    expect(tagLines).toEqual(['welcome', 'beta, wave 2']);
    // Metadata: one JSON object, readable in the raw message and folded to short lines.
    expect(JSON.parse(String(parsed.headers.get(SMTP_METADATA_HEADER.toLowerCase())))).toEqual({
      orderId: '42',
      customer: 'Zoë "Z" Ünal',
      note: 'a long note '.repeat(12).trim(),
    });
    const rawHeaders = raw.toString('utf8').split('\r\n\r\n')[0]!;
    const metadataLine = rawHeaders
      .split('\r\n')
      .find((line) => line.toLowerCase().startsWith(`${SMTP_METADATA_HEADER.toLowerCase()}:`));
    expect(metadataLine).toContain('{"orderId": "42", "customer": "Zo\\u00eb \\"Z\\"');
    expect(Math.max(...rawHeaders.split('\r\n').map((line) => line.length))).toBeLessThanOrEqual(998);

    // The receipt names the Message-ID the recipient sees.
    expect(result.messageId).not.toMatch(/[<>]/);
    expect(parsed.messageId).toBe(`<${result.messageId}>`);
  });

  it('gives every attempt of one send the same Message-ID, and different sends different ones', async () => {
    const { pipe } = await pipeWith(baseConfig());
    const first = await pipe.send(email, { idempotencyKey: 'same-send' });
    const again = await pipe.send(email, { idempotencyKey: 'same-send' });
    const other = await pipe.send(email, { idempotencyKey: 'another-send' });
    expect(again.messageId).toBe(first.messageId);
    expect(other.messageId).not.toBe(first.messageId);
    expect(first.messageId).toMatch(/^[0-9a-f]{40}@acme\.test$/);
  });

  it('keeps a Message-ID header the message sets itself', async () => {
    const { pipe } = await pipeWith(baseConfig());
    const result = await pipe.send({ ...email, headers: { 'Message-ID': '<custom-id@acme.test>' } });
    expect(result.messageId).toBe('custom-id@acme.test');
    expect(mainServer.deliveries.at(-1)?.parsed.messageId).toBe('<custom-id@acme.test>');
  });

  it('reuses pooled connections across sends instead of opening one per send', async () => {
    const { pipe } = await pipeWith(baseConfig({ maxConnections: 2 }));
    await settled(mainServer);
    const connectsBefore = mainServer.connects;
    for (let index = 0; index < 3; index += 1) await pipe.send(email);
    expect(mainServer.connects - connectsBefore).toBe(1);

    await Promise.all(Array.from({ length: 6 }, () => pipe.send(email)));
    const opened = mainServer.connects - connectsBefore;
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(2);
  });

  it('closes the pool on close() and on a config update', async () => {
    const { pipe, providerId } = await pipeWith(baseConfig());
    await settled(mainServer);
    const openBefore = mainServer.open();
    await pipe.send(email);
    await vi.waitFor(() => expect(mainServer.open()).toBe(openBefore + 1));

    // An update releases the transport of the old config...
    await pipe.providers.update(
      { projectId: PROJECT, id: providerId },
      { config: { ...baseConfig(), maxConnections: 3 } },
      { verify: false },
    );
    await vi.waitFor(() => expect(mainServer.open()).toBe(openBefore));
    // ...the next send opens a fresh one...
    await pipe.send(email);
    await vi.waitFor(() => expect(mainServer.open()).toBe(openBefore + 1));
    // ...and close() ends it.
    await pipe.close();
    await vi.waitFor(() => expect(mainServer.open()).toBe(openBefore));
  });

  it('counts a partly refused send as sent, warns about the refused recipients and does not fail over', async () => {
    const backup = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const { pipe } = await pipeWith(baseConfig(), { extraAdapters: [backup] });
    await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'Backup',
        priority: 2,
        config: { apiKey: 'SG.backup-key' },
      },
      { verify: false },
    );
    const warningsBefore = logLines.filter((line) => line.level === 'warn').length;

    const result = await pipe.send({ ...email, to: ['ann@example.test', 'rcpt-550@example.test'] });

    expect(result.provider).toBe('smtp');
    expect(result.attempts).toHaveLength(1);
    expect(result.rejectedRecipients).toEqual(['rcpt-550@example.test']);
    expect(result.attempts[0]?.rejectedRecipients).toEqual(['rcpt-550@example.test']);
    expect(backup.sent).toHaveLength(0);
    expect(mainServer.deliveries.at(-1)?.rcptTo).toEqual(['ann@example.test']);
    const warnings = logLines.filter((line) => line.level === 'warn').slice(warningsBefore);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/refused 1/);
    expect(warnings[0]?.fields).toMatchObject({
      messageId: result.messageId,
      rejected: ['rcpt-550@example.test'],
      replies: [expect.stringContaining('550')],
    });
  });

  it('does not implement domains: the dispatcher answers NOT_SUPPORTED', async () => {
    const { pipe, providerId } = await pipeWith(baseConfig());
    expect(smtp().domains).toBeUndefined();
    await expect(pipe.providers.domains({ projectId: PROJECT, id: providerId })).rejects.toMatchObject({
      code: 'NOT_SUPPORTED',
    });
  });
});

describe('smtp adapter: refusals', () => {
  it('stops at a 550 recipient refusal without trying the next provider', async () => {
    const backup = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const { pipe } = await pipeWith(baseConfig(), { extraAdapters: [backup] });
    await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'Backup',
        priority: 2,
        config: { apiKey: 'SG.backup-key' },
      },
      { verify: false },
    );
    const error = await sendFailure(pipe.send({ ...email, to: 'rcpt-550@example.test' }));
    expect(error.code).toBe('RECIPIENT_INVALID');
    expect(error.failureClass).toBe('message');
    expect(error.status).toBe(550);
    expect(error.providerCode).toBe('5.1.1');
    expect(error.message).toContain('No such user');
    expect(backup.sent).toHaveLength(0);
  });

  it('reports a refusal of every recipient: temporary if any refusal was temporary', async () => {
    const adapter = directAdapter();
    const config = baseConfig();

    const invalid = await sendFailure(
      adapter.send(
        outbound('rcpt-550@example.test', { cc: [{ email: 'rcpt-550@other.test' }] }),
        context(config),
      ),
    );
    expect(invalid.code).toBe('RECIPIENT_INVALID');
    expect(invalid.message).toMatch(/all 2 recipients/);

    const busy = await sendFailure(adapter.send(outbound('rcpt-450@example.test'), context(config)));
    expect(busy).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', failureClass: 'transient', status: 450 });
    expect(busy.ambiguous).toBe(false);

    const mixed = await sendFailure(
      adapter.send(
        outbound('rcpt-550@example.test', { cc: [{ email: 'rcpt-450@example.test' }] }),
        context(config),
      ),
    );
    expect(mixed).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', status: 450 });

    const limited = await sendFailure(adapter.send(outbound('rcpt-452@example.test'), context(config)));
    expect(limited).toMatchObject({ code: 'PROVIDER_RATE_LIMITED', failureClass: 'transient', status: 452 });

    const relay = await sendFailure(adapter.send(outbound('rcpt-relay@example.test'), context(config)));
    expect(relay).toMatchObject({ code: 'PROVIDER_REJECTED', failureClass: 'provider', status: 554 });
  });

  it('maps a 554 reply to DATA to MESSAGE_REJECTED and a 553 sender refusal to SENDER_UNVERIFIED', async () => {
    const adapter = directAdapter();
    const rejected = await sendFailure(
      adapter.send(outbound('data-554@example.test'), context(baseConfig())),
    );
    expect(rejected).toMatchObject({ code: 'MESSAGE_REJECTED', failureClass: 'message', status: 554 });
    expect(rejected.message).toContain('spam');

    const sender = await sendFailure(
      adapter.send(
        outbound('ann@example.test', { from: { email: 'sender-553@acme.test' } }),
        context(baseConfig()),
      ),
    );
    expect(sender).toMatchObject({ code: 'SENDER_UNVERIFIED', failureClass: 'provider', status: 553 });
  });

  it.each([
    ['5.7.60 send-as refusal on MAIL FROM', { from: 'sender-sendas@acme.test' }, 'SENDER_UNVERIFIED', 550],
    ['5.2.252 SendAsDenied on MAIL FROM', { from: 'sender-252@acme.test' }, 'SENDER_UNVERIFIED', 554],
    ['5.7.1 policy refusal on MAIL FROM', { from: 'sender-policy@acme.test' }, 'SENDER_UNVERIFIED', 550],
    ['5.7.1 access denied on RCPT TO', { to: 'rcpt-policy@example.test' }, 'PROVIDER_REJECTED', 550],
    [
      '5.7.57 not authenticated on RCPT TO',
      { to: 'rcpt-auth@example.test' },
      'PROVIDER_INVALID_CREDENTIALS',
      550,
    ],
    ['5.4.5 daily quota on RCPT TO', { to: 'rcpt-quota@example.test' }, 'PROVIDER_RATE_LIMITED', 550],
    ['5.7.0 rate wording on RCPT TO', { to: 'rcpt-rate@example.test' }, 'PROVIDER_RATE_LIMITED', 554],
    ['5.7.1 not authorized on DATA', { to: 'data-notauth@example.test' }, 'SENDER_UNVERIFIED', 554],
    ['5.7.0 local policy on DATA', { to: 'data-policy@example.test' }, 'PROVIDER_REJECTED', 550],
    ['suspended-account refusal on DATA', { to: 'data-suspended@example.test' }, 'ACCOUNT_SUSPENDED', 554],
  ] as const)('reads a %s as provider-level, so failover continues', async (_case, route, code, status) => {
    const adapter = directAdapter();
    const to = 'to' in route ? route.to : 'ann@example.test';
    const overrides = 'from' in route ? { from: { email: route.from } } : {};
    const error = await sendFailure(adapter.send(outbound(to, overrides), context(baseConfig())));
    expect(error).toMatchObject({ code, status });
    expect(error.failureClass).not.toBe('message');
    expect(error.message).not.toContain(PASSWORD);
  });

  it('keeps a full mailbox (5.2.2 quota) a recipient problem, not a sending limit', async () => {
    const adapter = directAdapter();
    const error = await sendFailure(
      adapter.send(outbound('rcpt-mailbox-full@example.test'), context(baseConfig())),
    );
    expect(error).toMatchObject({ code: 'RECIPIENT_INVALID', failureClass: 'message', status: 552 });
  });

  it('keeps using the pooled connection after a refused message', async () => {
    const adapter = directAdapter();
    const config = baseConfig({ maxConnections: 1 });
    const connectsBefore = mainServer.connects;
    await sendFailure(adapter.send(outbound('rcpt-550@example.test'), context(config)));
    await adapter.send(outbound('ann@example.test'), context(config));
    expect(mainServer.connects - connectsBefore).toBe(1);
  });
});

describe('smtp adapter: credentials', () => {
  it('maps a 535 login refusal to PROVIDER_INVALID_CREDENTIALS, without the password anywhere', async () => {
    const { pipe } = await pipeWith(baseConfig({ auth: { user: USER, pass: WRONG_PASSWORD } }));
    const failure = await pipe.send(email).catch((error: unknown) => error);
    expect(isMessagePipeError(failure)).toBe(true);
    expectNoSecret(failure);
    const attempt = (failure as { attempts: { error?: { code: string; status?: number } }[] }).attempts[0];
    expect(attempt?.error).toMatchObject({ code: 'PROVIDER_INVALID_CREDENTIALS', status: 535 });

    const direct = await sendFailure(
      directAdapter().send(
        outbound('ann@example.test'),
        context(baseConfig({ auth: { user: USER, pass: WRONG_PASSWORD } })),
      ),
    );
    expect(direct).toMatchObject({ code: 'PROVIDER_INVALID_CREDENTIALS', failureClass: 'provider' });
    expect(direct.message).toContain('535');
  });

  it('maps a server that demands a login nobody configured to PROVIDER_INVALID_CREDENTIALS', async () => {
    const error = await sendFailure(
      directAdapter().send(outbound('ann@example.test'), context(baseConfig({ auth: undefined }))),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_INVALID_CREDENTIALS', status: 530 });
  });

  it('verifies a login with EHLO and AUTH only, and stores it as valid', async () => {
    const deliveriesBefore = mainServer.deliveries.length;
    const loginsBefore = mainServer.logins;
    const { pipe, providerId } = await pipeWith(baseConfig(), { verify: true });
    const record = await pipe.providers.get({ projectId: PROJECT, id: providerId });
    expect(record.credentials.status).toBe('valid');
    expect(mainServer.logins).toBe(loginsBefore + 1);
    expect(mainServer.deliveries).toHaveLength(deliveriesBefore);
    expect(JSON.stringify(record)).not.toContain(PASSWORD);
  });

  it('refuses to store a login the server rejects, and validate() reports the reason', async () => {
    const pipe = await dispatcherWithSender({ adapters: [smtp()], logger });
    cleanups.push(() => pipe.close());
    const badConfig = baseConfig({ auth: { user: USER, pass: WRONG_PASSWORD } });
    const add = {
      projectId: PROJECT,
      channel: 'email' as const,
      provider: 'smtp',
      name: 'SMTP',
      config: badConfig,
    };
    const error = await pipe.providers.add(add).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'PROVIDER_INVALID_CREDENTIALS' });
    expect((error as Error).message).toContain('535');
    expectNoSecret(error);

    const record = await pipe.providers.add(add, { verify: false });
    const validation = await pipe.providers.validate({ projectId: PROJECT, id: record.id });
    expect(validation.valid).toBe(false);
    expect(validation.reason).toContain('535');
    expectNoSecret(validation);
  });

  it('reports a config without a login as invalid when the server requires one, and logs in when it is given', async () => {
    const adapter = smtp();
    cleanups.push(() => adapter.close?.());
    const verifyContext = { signal: new AbortController().signal, timeoutMs: 5_000, logger };
    const { auth: _auth, ...withoutAuth } = baseConfig();
    const delivered = mainServer.deliveries.length;
    // mainServer is smtp-server with authOptional: false: MAIL FROM without a login gets 530.
    const verdict = await adapter.verify!(withoutAuth, verifyContext);
    expect(verdict).toMatchObject({ valid: false, reason: expect.stringMatching(/requires a login.*530/) });
    expect(mainServer.deliveries).toHaveLength(delivered);
    const before = mainServer.logins;
    expect(await adapter.verify!(baseConfig(), verifyContext)).toEqual({ valid: true });
    expect(mainServer.logins).toBe(before + 1);

    const pipe = await dispatcherWithSender({ adapters: [smtp()], logger });
    cleanups.push(() => pipe.close());
    const add = {
      projectId: PROJECT,
      channel: 'email' as const,
      provider: 'smtp',
      name: 'SMTP',
      config: withoutAuth,
    };
    await expect(pipe.providers.add(add)).rejects.toMatchObject({ code: 'PROVIDER_INVALID_CREDENTIALS' });
    const record = await pipe.providers.add(add, { verify: false });
    expect(await pipe.providers.validate({ projectId: PROJECT, id: record.id })).toMatchObject({
      valid: false,
    });
  });

  it('accepts a config without a login when the server takes mail without one', async () => {
    const open = await startServer({ authOptional: true });
    cleanups.push(() => open.close());
    const adapter = smtp();
    cleanups.push(() => adapter.close?.());
    const { auth: _auth, ...withoutAuth } = baseConfig({ port: open.port });
    const verdict = await adapter.verify!(withoutAuth, {
      signal: new AbortController().signal,
      timeoutMs: 5_000,
      logger,
    });
    expect(verdict).toEqual({ valid: true });
    expect(open.deliveries).toHaveLength(0);
  });

  it('scrubs the AUTH PLAIN and LOGIN tokens a server echoes in its 535 reply', async () => {
    const plain = Buffer.from(`\u0000${USER}\u0000${WRONG_PASSWORD}`).toString('base64');
    const login = Buffer.from(WRONG_PASSWORD).toString('base64');
    const echoing = await startServer({
      onAuth(_auth, _session, callback) {
        callback(null, {
          message: `5.7.8 ${'x'.repeat(180)} bad credentials: ${plain} ${login}`,
          responseCode: 535,
        });
      },
    });
    cleanups.push(() => echoing.close());
    const pipe = await dispatcherWithSender({ adapters: [smtp()], logger });
    cleanups.push(() => pipe.close());
    const add = {
      projectId: PROJECT,
      channel: 'email' as const,
      provider: 'smtp',
      name: 'SMTP',
      config: baseConfig({ port: echoing.port, auth: { user: USER, pass: WRONG_PASSWORD } }),
    };
    const addError = await pipe.providers.add(add).catch((thrown: unknown) => thrown);
    const record = await pipe.providers.add(add, { verify: false });
    const validation = await pipe.providers.validate({ projectId: PROJECT, id: record.id });
    const stored = await pipe.providers.get({ projectId: PROJECT, id: record.id });
    const sendError = await pipe.send(email).catch((thrown: unknown) => thrown);
    const text = inspect([addError, validation, stored, sendError], { depth: 10 });
    expect(text).toContain('535');
    for (const form of [plain, plain.replace(/=+$/, ''), login, login.replace(/=+$/, ''), WRONG_PASSWORD]) {
      expect(text).not.toContain(form);
    }
    for (let i = 0; i + 12 <= plain.length; i += 4) expect(text).not.toContain(plain.slice(i, i + 12));
  });

  it('throws a transient error from verify when it cannot reach the server', async () => {
    const adapter = smtp();
    const port = await closedPort();
    const verifyContext = { signal: new AbortController().signal, timeoutMs: 5_000, logger };
    const refused = await sendFailure(adapter.verify!(baseConfig({ port }), verifyContext));
    expect(refused).toMatchObject({ code: 'NETWORK_ERROR', failureClass: 'transient' });

    const busy = await sendFailure(
      adapter.verify!(baseConfig({ port: greeting421Server.port }), verifyContext),
    );
    expect(busy).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', failureClass: 'transient', status: 421 });
  });
});

describe('smtp adapter: connections and timeouts', () => {
  it('maps a 421 greeting to PROVIDER_UNAVAILABLE', async () => {
    const error = await sendFailure(
      directAdapter().send(
        outbound('ann@example.test'),
        context(baseConfig({ port: greeting421Server.port })),
      ),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', failureClass: 'transient', status: 421 });
    expect(error.message).toContain('Service not available');
  });

  it('maps a refused connection to a NETWORK_ERROR that is safe to fail over', async () => {
    const port = await closedPort();
    const error = await sendFailure(
      directAdapter().send(outbound('ann@example.test'), context(baseConfig({ port }))),
    );
    expect(error).toMatchObject({ code: 'NETWORK_ERROR', failureClass: 'transient', ambiguous: false });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('marks a dropped connection ambiguous only once the message body was on its way', async () => {
    const beforeData = await startDroppingServer('rcpt');
    const duringData = await startDroppingServer('data');
    cleanups.push(
      () => beforeData.close(),
      () => duringData.close(),
    );
    const adapter = directAdapter();

    const early = await sendFailure(
      adapter.send(
        outbound('ann@example.test'),
        context(baseConfig({ port: beforeData.port, auth: undefined })),
      ),
    );
    expect(early).toMatchObject({ code: 'NETWORK_ERROR', failureClass: 'transient', ambiguous: false });

    const late = await sendFailure(
      adapter.send(
        outbound('ann@example.test'),
        context(baseConfig({ port: duringData.port, auth: undefined })),
      ),
    );
    expect(late).toMatchObject({ code: 'NETWORK_ERROR', failureClass: 'transient', ambiguous: true });
    expect(late.message).toMatch(/may have been delivered/);
  });

  it('fails over from a server that never answers', async () => {
    const backup = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
    const { pipe } = await pipeWith(baseConfig({ port: silentServer.port, timeoutMs: 1_000 }), {
      extraAdapters: [backup],
    });
    await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'Backup',
        priority: 2,
        config: { apiKey: 'SG.backup-key' },
      },
      { verify: false },
    );
    const result = await pipe.send(email);
    expect(result.provider).toBe('sendgrid');
    expect(result.attempts[0]).toMatchObject({ provider: 'smtp', error: { code: 'PROVIDER_TIMEOUT' } });
  });

  it('reports a silent server as a timeout before anything was sent', async () => {
    const error = await sendFailure(
      directAdapter().send(
        outbound('ann@example.test'),
        context(baseConfig({ port: silentServer.port, timeoutMs: 1_000 }), { timeoutMs: 1_000 }),
      ),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_TIMEOUT', failureClass: 'transient', ambiguous: false });
    expect(error.message).toMatch(/did not greet in time/);
  });

  it('opens a new connection when a pooled one was closed after idling', async () => {
    const adapter = directAdapter();
    // With a 1 s budget, nodemailer closes a connection after about half a second without traffic.
    const config = baseConfig({ maxConnections: 1, timeoutMs: 1_000 });
    await settled(mainServer);
    const connectsBefore = mainServer.connects;
    await adapter.send(outbound('ann@example.test'), context(config, { timeoutMs: 1_000 }));
    await settled(mainServer);
    const receipt = await adapter.send(outbound('ann@example.test'), context(config, { timeoutMs: 1_000 }));
    expect(receipt.messageId).toMatch(/@acme\.test$/);
    expect(mainServer.connects - connectsBefore).toBe(2);
  });

  it.each([
    // The send's own deadline, a little under the attempt's budget.
    { timeout: 'the attempt deadline', config: {}, budgetMs: 1_000 },
    // nodemailer's inactivity timeout, from the config's timeoutMs, with a generous attempt budget.
    { timeout: "nodemailer's inactivity timeout", config: { timeoutMs: 1_000 }, budgetMs: 60_000 },
  ])('marks $timeout ambiguous only once the message body was on its way', async ({ config, budgetMs }) => {
    const adapter = directAdapter();
    const beforeData = await sendFailure(
      adapter.send(outbound('rcpt-stall@example.test'), context(baseConfig(config), { timeoutMs: budgetMs })),
    );
    expect(beforeData).toMatchObject({
      code: 'PROVIDER_TIMEOUT',
      failureClass: 'transient',
      ambiguous: false,
    });

    const afterData = await sendFailure(
      adapter.send(outbound('data-stall@example.test'), context(baseConfig(config), { timeoutMs: budgetMs })),
    );
    expect(afterData).toMatchObject({ code: 'PROVIDER_TIMEOUT', failureClass: 'transient', ambiguous: true });
    expect(afterData.message).toMatch(/may have been delivered/);
  });

  it("under the dispatcher, uses the attempt's own signal and timer and still tells a stall before the body from one after", async () => {
    // No timeoutMs in the config: nodemailer's own timeouts sit at 15 s, so only the dispatcher's 1 s timer fires.
    const pipe = await dispatcherWithSender({
      adapters: [smtp()],
      logger,
      attemptTimeoutMs: 1_000,
      retry: false,
    });
    cleanups.push(() => pipe.close());
    await pipe.providers.add(
      { projectId: PROJECT, channel: 'email', provider: 'smtp', name: 'SMTP', config: baseConfig() },
      { verify: false },
    );
    const failure = (to: string) =>
      pipe.send({ ...email, to }).then(
        () => undefined,
        (error: unknown) => (isMessagePipeError(error) ? error.attempts?.[0] : undefined),
      );
    const started = performance.now();
    const beforeData = await failure('rcpt-stall@example.test');
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(beforeData).toMatchObject({ outcome: 'failed', error: { code: 'PROVIDER_TIMEOUT' } });
    expect(beforeData?.error?.ambiguous).toBeUndefined();
    const afterData = await failure('data-stall@example.test');
    expect(afterData).toMatchObject({
      outcome: 'failed',
      error: { code: 'PROVIDER_TIMEOUT', ambiguous: true },
    });
  });

  it('rejects at once when aborted and leaves no wedged connection in the pool', async () => {
    const adapter = directAdapter();
    const config = baseConfig({ maxConnections: 1 });
    const dataArrived = new Promise<void>((resolve) => {
      onStalledData = resolve;
    });
    const controller = new AbortController();
    // The dispatcher aborts with its own timeout error; the adapter marks it ambiguous since DATA had started.
    const timeout = new ProviderError('PROVIDER_TIMEOUT', 'smtp did not answer within 60000 ms', {
      provider: 'smtp',
      ambiguous: true,
    });
    const stalled = adapter.send(
      outbound('data-stall@example.test'),
      context(config, { signal: controller.signal }),
    );
    await dataArrived;
    controller.abort(timeout);
    const error = await sendFailure(stalled);
    expect(error).toMatchObject({ code: 'PROVIDER_TIMEOUT', ambiguous: true });

    // The only connection of the pool was freed: the next send goes through.
    const receipt = await adapter.send(outbound('ann@example.test'), context(config));
    expect(receipt.messageId).toMatch(/@acme\.test$/);
  });

  it('does not mark an abort ambiguous when the body was not sent, and passes other abort reasons on', async () => {
    const adapter = directAdapter();
    const timedOut = new AbortController();
    const rcptArrived = new Promise<void>((resolve) => {
      onStalledRcpt = resolve;
    });
    const pending = adapter.send(
      outbound('rcpt-stall@example.test'),
      context(baseConfig(), { signal: timedOut.signal }),
    );
    await rcptArrived;
    timedOut.abort(new ProviderError('PROVIDER_TIMEOUT', 'timed out', { provider: 'smtp', ambiguous: true }));
    expect(await sendFailure(pending)).toMatchObject({ code: 'PROVIDER_TIMEOUT', ambiguous: false });

    const cancelled = new AbortController();
    const reason = new Error('caller gave up');
    cancelled.abort(reason);
    await expect(
      adapter.send(outbound('ann@example.test'), context(baseConfig(), { signal: cancelled.signal })),
    ).rejects.toBe(reason);
  });
});

describe('smtp adapter: TLS', () => {
  it('refuses a self-signed certificate on STARTTLS by default', async () => {
    const error = await sendFailure(
      directAdapter().send(
        outbound('ann@example.test'),
        context(baseConfig({ port: tlsServer.port, auth: undefined })),
      ),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_REJECTED', failureClass: 'provider' });
    expect(error.message).toMatch(/TLS certificate/);
    expect(error.message).toMatch(/self-signed/);
    expect(error.message).toMatch(/rejectUnauthorized/);
    expect(tlsServer.deliveries).toHaveLength(0);
  });

  it('accepts it when the config turns certificate checks off, warning once', async () => {
    const warningsBefore = logLines.filter((line) => line.level === 'warn').length;
    const config = baseConfig({ port: tlsServer.port, tls: { rejectUnauthorized: false } });
    const { pipe } = await pipeWith(config, { verify: true });
    await pipe.send(email);
    await pipe.send(email);

    expect(tlsServer.deliveries).toHaveLength(2);
    expect(tlsServer.deliveries.every((delivery) => delivery.secure)).toBe(true);
    const warnings = logLines.filter((line) => line.level === 'warn').slice(warningsBefore);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toMatch(/rejectUnauthorized: false/);
    expect(warnings[0]?.message).toContain(`127.0.0.1:${tlsServer.port}`);
    expectNoSecret(warnings);
  });

  it('refuses to send in clear text when requireTLS is set and the server offers no STARTTLS', async () => {
    const before = mainServer.deliveries.length;
    const loginsBefore = mainServer.logins;
    const error = await sendFailure(
      directAdapter().send(outbound('ann@example.test'), context(baseConfig({ requireTLS: true }))),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_REJECTED', failureClass: 'provider' });
    expect(error.message).toMatch(/STARTTLS/);
    expect(mainServer.deliveries).toHaveLength(before);
    // The password never went over the unencrypted connection.
    expect(mainServer.logins).toBe(loginsBefore);
  });

  it('explains a TLS handshake with a server that does not speak TLS on that port', async () => {
    const error = await sendFailure(
      directAdapter().send(outbound('ann@example.test'), context(baseConfig({ secure: true }))),
    );
    expect(error).toMatchObject({ code: 'PROVIDER_REJECTED', failureClass: 'provider' });
    expect(error.message).toMatch(/check that secure matches the port/);
  });
});

describe('smtp adapter: without nodemailer', () => {
  it('fails with ADAPTER_MISSING naming the package to install', async () => {
    // A separate Node process whose module resolution cannot find nodemailer, as in an app that did not install it.
    const dir = await mkdtemp(join(tmpdir(), 'messagepipe-smtp-'));
    try {
      const hook = join(dir, 'no-nodemailer.mjs');
      await writeFile(
        hook,
        `export async function resolve(specifier, context, next) {
  if (specifier === 'nodemailer' || specifier.startsWith('nodemailer/')) {
    const error = new Error("Cannot find package 'nodemailer' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}
`,
      );
      const script = join(dir, 'send.mts');
      await writeFile(
        script,
        `import { smtp } from ${JSON.stringify(fileURLToPath(new URL('../../adapters/smtp.ts', import.meta.url)))};
const message = ${JSON.stringify(outbound('ann@example.test'))};
const context = { config: { host: '127.0.0.1', port: 1, secure: false }, signal: new AbortController().signal,
  timeoutMs: 1000, logger: { debug() {}, warn() {} }, projectId: 'p', providerConfigId: 'c', configRevision: '1',
  idempotencyKey: 'k' };
const error = await smtp().send(message, context).catch((thrown) => thrown);
console.log(JSON.stringify({ code: error.code, message: error.message }));
`,
      );
      const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(pathToFileURL(hook).href)})`;
      const { stdout } = await execFileAsync(
        process.execPath,
        ['--import', 'tsx', '--import', register, script],
        {
          cwd: fileURLToPath(new URL('../..', import.meta.url)),
        },
      );
      const outcome = JSON.parse(stdout.trim().split('\n').at(-1)!);
      expect(outcome.code).toBe('ADAPTER_MISSING');
      expect(outcome.message).toContain('npm install nodemailer');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
