import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { domainToASCII } from 'node:url';
import {
  type AdapterCallContext,
  type BuiltInAdapter,
  ClientPool,
  type EmailAddress,
  type EmailAttachment,
  isProviderError,
  type Logger,
  loadOptional,
  type OutboundEmail,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type SendReceipt,
  type SmtpConfig,
  type VerifyResult,
} from 'messagepipe';
import type {
  Attachment,
  Address as NodemailerAddress,
  NodemailerError,
  SendMailOptions,
  SMTPPoolSentMessageInfo,
  SMTPTransportOptions,
  Transporter,
} from 'nodemailer';
import { toBuffer } from './_shared/email';
import { excerpt } from './_shared/http-errors';

const PROVIDER = 'smtp';

/**
 * Header written once per tag of a message (`X-MessagePipe-Tag: welcome`). Header names are case-insensitive;
 * nodemailer writes this one as `X-Messagepipe-Tag`.
 */
export const SMTP_TAG_HEADER = 'X-MessagePipe-Tag';
/**
 * Header holding a message's metadata as one JSON object (`X-MessagePipe-Metadata: {"orderId": "42"}`), in
 * printable ASCII (other characters as `\uXXXX` escapes) and folded at spaces; nodemailer writes the name as
 * `X-Messagepipe-Metadata`.
 */
export const SMTP_METADATA_HEADER = 'X-MessagePipe-Metadata';

/** Pool size when the config does not set `maxConnections`. */
const DEFAULT_MAX_CONNECTIONS = 5;
/**
 * How often the pool puts a message back in its queue when a connection closes before a byte of it was sent
 * (a server that dropped an idle connection). nodemailer's default of 5, with back-off, would eat the attempt's
 * time budget against a server that keeps closing; our own retry and failover take over sooner.
 */
const MAX_REQUEUES = 2;

type PooledTransport = Transporter<SMTPPoolSentMessageInfo>;

/**
 * Time budget the pooled transport's own timeouts are derived from when the config sets no `timeoutMs` (the
 * dispatcher's default attempt timeout). Each send also gets a deadline from its attempt's budget.
 */
const DEFAULT_ATTEMPT_TIMEOUT_MS = 15_000;

/** Abort reason of a send that ran out of its attempt's time. */
const ATTEMPT_DEADLINE = Symbol('smtp attempt deadline');

/** Where one send got to, so a failure can tell whether the server may already have the message. */
interface SendProgress {
  /** True once the message body started to flow to the server (after its `354` reply to DATA). */
  dataStarted: boolean;
}

/**
 * SMTP through `nodemailer` (install it: `npm install nodemailer`), for Gmail, Outlook, self-hosted and any other
 * SMTP server.
 *
 * - **One pooled transport per provider config** (`pool: true`, `maxConnections` from the config, 5 by default),
 *   reused across sends and closed by `release()` (config updated or removed) and `close()`.
 * - **Timeouts:** each send ends a little before its attempt's budget (`ctx.timeoutMs`) runs out, and nodemailer's
 *   connection, greeting and inactivity timeouts sit under the config's `timeoutMs` (15 s when unset). A stall
 *   before the message body was sent is a plain `PROVIDER_TIMEOUT`, safe to retry or fail over; one after it is
 *   marked `ambiguous` (the server may have queued the message). Pooled connections idle for longer than the
 *   inactivity timeout are closed and reopened on demand; while idle, they do not keep the process alive.
 * - **Abort:** the attempt's `signal` rejects the send at once; nodemailer drops the message from its queue or
 *   closes the connection carrying it, so the pool is not left with a wedged connection. nodemailer honours a
 *   per-send `signal` from 10.5.0 ("smtp: support AbortSignal for individual sends", nodemailer CHANGELOG.md,
 *   #1911); older versions ignore it and an abandoned send can still deliver after the dispatcher failed over, so
 *   the peer dependency is `nodemailer >=10.5.0`.
 * - **TLS:** certificates are checked unless the config sets `tls.rejectUnauthorized: false`, which is accepted
 *   with one warning per SMTP server and user through the dispatcher's logger.
 * - **Message:** From, To, Cc and Reply-To become headers; Bcc recipients go into the SMTP envelope only, never
 *   into a header. Text and HTML become `multipart/alternative`; attachments with a `contentId` are inline parts
 *   for `cid:` references. Tags are written as one {@link SMTP_TAG_HEADER} header each and metadata as JSON in
 *   {@link SMTP_METADATA_HEADER} (a custom header of the same name wins). The Message-ID is derived from the
 *   project and the send's idempotency key, so every attempt of one send carries the same Message-ID and
 *   receiving servers can recognise a duplicate; a custom `Message-ID` header wins.
 * - **Partly rejected recipients:** when the server accepts the message for some recipients and refuses others,
 *   the send counts as sent (the accepted recipients get the message; failing over would deliver it to them
 *   twice), the refused ones are reported as `rejectedRecipients` on the attempt and the result, and a warning
 *   naming them and the server's replies is logged. When it refuses every
 *   recipient, the error follows the replies: any temporary `4xx` one makes it transient (nothing was delivered,
 *   so trying again is safe), otherwise `RECIPIENT_INVALID`.
 * - **Errors:** `535`/EAUTH → `PROVIDER_INVALID_CREDENTIALS`; `4xx` replies → `PROVIDER_UNAVAILABLE` (or
 *   `PROVIDER_RATE_LIMITED` for `452` and replies about rates or quotas); `5xx` to RCPT → `RECIPIENT_INVALID`
 *   (`PROVIDER_REJECTED` for relay refusals); `5xx` to MAIL FROM → `SENDER_UNVERIFIED` (`MESSAGE_REJECTED` for
 *   size); `5xx` to DATA → `MESSAGE_REJECTED`; refused, reset or unresolvable connections → `NETWORK_ERROR`;
 *   timeouts → `PROVIDER_TIMEOUT`; certificate and TLS failures → `PROVIDER_REJECTED` with what to check.
 * - **`verify`** opens a short-lived, unpooled connection: EHLO, STARTTLS where offered, AUTH when `auth` is set;
 *   no message is sent.
 * - **No `domains`:** SMTP has no API that reports domain or sender verification, so this adapter does not
 *   implement it and `pipe.providers.domains()` answers `NOT_SUPPORTED`.
 *
 * @example
 * ```ts
 * import { smtp } from 'messagepipe/adapters/smtp';
 * const pipe = new Dispatcher({ adapters: [smtp()] });
 * await pipe.providers.add({
 *   projectId, channel: 'email', provider: 'smtp', name: 'Gmail',
 *   config: { host: 'smtp.gmail.com', port: 587, secure: false, requireTLS: true,
 *             auth: { user: 'me@gmail.com', pass: appPassword } },
 * });
 * ```
 */
export function smtp(): BuiltInAdapter<'smtp'> {
  const progressBySignal = new WeakMap<AbortSignal, SendProgress>();
  const insecureWarned = new Set<string>();

  const transports = new ClientPool<SmtpConfig, PooledTransport>(
    async (config) => {
      const nodemailer = await loadNodemailer();
      const transport = nodemailer.createTransport({
        ...transportOptions(config, config.timeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS),
        pool: true,
        maxConnections: config.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
        maxRequeues: MAX_REQUEUES,
      });
      // Marks the moment the body starts to flow: nodemailer pipes the message stream only after the server's
      // 354 reply to DATA, so a failure before that cannot have delivered anything.
      transport.use('stream', (mail, done) => {
        const signal = mail.data.signal;
        const progress = signal ? progressBySignal.get(signal) : undefined;
        if (progress) {
          mail.message.processFunc((input: Readable) => {
            input.once('resume', () => {
              progress.dataStarted = true;
            });
            return input;
          });
        }
        done();
      });
      return transport;
    },
    (transport) => transport.close(),
  );

  function warnIfInsecure(config: SmtpConfig, logger: Logger): void {
    if (config.tls?.rejectUnauthorized !== false) return;
    const server = `${config.host}:${config.port}`;
    const key = `${server}\n${config.tls.servername ?? ''}\n${config.auth?.user ?? ''}`;
    if (insecureWarned.has(key)) return;
    insecureWarned.add(key);
    logger.warn(
      `SMTP TLS certificate checks are off for ${server} (tls.rejectUnauthorized: false): anyone on the network path can read or change the mail. Use a trusted certificate instead where you can.`,
      { provider: PROVIDER, host: config.host, port: config.port },
    );
  }

  return {
    provider: PROVIDER,
    channel: 'email',
    // nodemailer is loaded before the attempt's timer starts (see `Adapter.load`).
    load: async () => {
      await loadNodemailer();
    },
    // What AUTH puts on the wire besides the base64 of the password itself (LOGIN), which the core covers:
    // AUTH PLAIN's `base64("\0" + user + "\0" + pass)` (RFC 4616), echoed by some servers in a 535 reply.
    secretForms: (config: SmtpConfig) =>
      config.auth
        ? [Buffer.from(`\u0000${config.auth.user}\u0000${config.auth.pass}`).toString('base64')]
        : [],

    async send(message: OutboundEmail, ctx: SendContext<SmtpConfig>): Promise<SendReceipt> {
      if (ctx.signal.aborted) throw abortError(ctx.signal, false);
      warnIfInsecure(ctx.config, ctx.logger);
      // Under the dispatcher the attempt's own signal times out: one signal and one timer per attempt. It keys
      // this send's progress and cancels it in nodemailer; on the timeout the rejection below is immediate, so
      // the dispatcher takes its ambiguity (only once the body had left) over its own.
      if (ctx.signalTimesOut) {
        const signal = ctx.signal;
        const progress: SendProgress = { dataStarted: false };
        progressBySignal.set(signal, progress);
        try {
          const transport = await transports.get(ctx);
          signal.throwIfAborted();
          const mail = toMailOptions(message, messageIdFor(message, ctx), signal);
          return receiptOf(await whileSending(transport, transport.sendMail(mail)), ctx);
        } catch (error) {
          if (signal.aborted) throw abortError(signal, progress.dataStarted);
          throw classifySmtpError(error, progress.dataStarted);
        }
      }
      // A signal of our own per send: it keys this send's progress, nodemailer cancels the send on it, and it
      // fires a little before the dispatcher's timer so the timeout can say whether the body had left.
      const cancel = new AbortController();
      const progress: SendProgress = { dataStarted: false };
      progressBySignal.set(cancel.signal, progress);
      const deadlineMs = phaseTimeout(ctx.timeoutMs);
      const deadline = setTimeout(() => cancel.abort(ATTEMPT_DEADLINE), deadlineMs);
      const forwardAbort = () => cancel.abort(ctx.signal.reason);
      ctx.signal.addEventListener('abort', forwardAbort, { once: true });
      try {
        const transport = await transports.get(ctx);
        cancel.signal.throwIfAborted();
        const mail = toMailOptions(message, messageIdFor(message, ctx), cancel.signal);
        return receiptOf(await whileSending(transport, transport.sendMail(mail)), ctx);
      } catch (error) {
        if (ctx.signal.aborted) throw abortError(ctx.signal, progress.dataStarted);
        if (cancel.signal.reason === ATTEMPT_DEADLINE) throw deadlineError(deadlineMs, progress.dataStarted);
        throw classifySmtpError(error, progress.dataStarted);
      } finally {
        clearTimeout(deadline);
        ctx.signal.removeEventListener('abort', forwardAbort);
      }
    },

    async verify(config: SmtpConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      ctx.signal.throwIfAborted();
      warnIfInsecure(config, ctx.logger);
      const nodemailer = await loadNodemailer();
      // Unpooled: one connection for this check, closed after it.
      const transport = nodemailer.createTransport(transportOptions(config, ctx.timeoutMs));
      try {
        await raceAbort(transport.verify(), ctx.signal);
        if (!config.auth) {
          // verify() logs in only when `auth` is set; without it, ask whether the server takes mail unauthenticated.
          const refusal = await raceAbort(refusalWithoutLogin(config, ctx.timeoutMs), ctx.signal);
          if (refusal !== undefined) {
            return {
              valid: false,
              reason: `SMTP server requires a login (${refusal}): set auth.user and auth.pass`,
            };
          }
        }
        return { valid: true };
      } catch (error) {
        if (ctx.signal.aborted) throw abortError(ctx.signal, false);
        const classified = classifySmtpError(error, false);
        if (classified.code === 'PROVIDER_INVALID_CREDENTIALS') {
          return { valid: false, reason: classified.message };
        }
        throw classified;
      } finally {
        transport.close();
      }
    },

    async release(providerConfigId: string, projectId: string): Promise<void> {
      await transports.release(providerConfigId, projectId);
    },

    async close(): Promise<void> {
      await transports.close();
    },
  };
}

/** The part of nodemailer's `SMTPConnection` the login probe uses. */
interface ProbeConnection {
  connect(callback: (error?: Error) => void): void;
  quit(): void;
  close(): void;
  on(event: 'error', listener: (error: Error) => void): void;
  /** Internal to nodemailer (all versions since 1.x): the reply handlers and the raw command writer. */
  _responseActions: Array<(reply: string) => void>;
  _sendCommand(command: string): void;
}

/**
 * Whether the server refuses `MAIL FROM:<>` without a login: the reply when it does (530 "Authentication
 * required", RFC 4954 §6), undefined when it takes it. Nothing is sent: the transaction is reset (RSET) and the
 * connection closed. Uses nodemailer's own `SMTPConnection`, so STARTTLS and the TLS checks are the transport's.
 */
async function refusalWithoutLogin(config: SmtpConfig, timeoutMs: number): Promise<string | undefined> {
  const module = (await loadOptional(
    'nodemailer',
    PROVIDER,
    () => import('nodemailer/lib/smtp-connection'),
  )) as unknown as {
    default: new (options: SMTPTransportOptions) => ProbeConnection;
  };
  const connection = new module.default(transportOptions(config, timeoutMs));
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      connection.on('error', reject);
      connection.connect((error) => {
        if (error) return reject(error);
        connection._responseActions.push((reply) => {
          const code = Number(reply.slice(0, 3));
          if (code >= 200 && code < 300) {
            connection._responseActions.push(() => resolve(undefined));
            connection._sendCommand('RSET');
            return;
          }
          // Only a refusal about the login counts; any other refusal of the null sender says nothing about it.
          resolve(code === 530 || AUTH_REQUIRED_REPLY.test(reply) ? firstLine(reply) : undefined);
        });
        connection._sendCommand('MAIL FROM:<>');
      });
    });
  } finally {
    try {
      connection.quit();
    } catch {
      connection.close();
    }
  }
}

async function loadNodemailer(): Promise<typeof import('nodemailer')> {
  return loadOptional('nodemailer', PROVIDER, () => import('nodemailer'));
}

/** Sends under way (queued in the pool or on a connection) per pooled transport. */
const sendsInFlight = new WeakMap<PooledTransport, number>();

/**
 * Keeps the pool's connections from holding the process open while they are idle, so a script that sends and
 * forgets `close()` still exits: its sockets are unref()ed when the transport's last send in flight settles and
 * ref()ed again when the next one starts. Returns `sending`.
 */
function whileSending<T>(transport: PooledTransport, sending: Promise<T>): Promise<T> {
  const before = sendsInFlight.get(transport) ?? 0;
  sendsInFlight.set(transport, before + 1);
  if (before === 0) refPoolSockets(transport, true);
  const settled = () => {
    const left = (sendsInFlight.get(transport) ?? 1) - 1;
    sendsInFlight.set(transport, left);
    if (left === 0) refPoolSockets(transport, false);
  };
  sending.then(settled, settled);
  return sending;
}

/**
 * nodemailer has no public handle on a pool's sockets (its pool's idle timer is unref()ed, the sockets are not), so
 * this reads the fields it has kept under these names since 6.x: the pool (`transporter`) holds its connections in
 * `_connections`, each with an SMTPConnection (`connection`) whose socket is `_socket` (nodemailer
 * lib/smtp-pool/index.js, lib/smtp-pool/pool-resource.js, lib/smtp-connection/index.js). Other internals: no-op.
 */
function refPoolSockets(transport: PooledTransport, ref: boolean): void {
  const pool = (transport as unknown as { transporter?: { _connections?: unknown } }).transporter;
  if (!Array.isArray(pool?._connections)) return;
  for (const resource of pool._connections as Array<{ connection?: { _socket?: unknown } } | undefined>) {
    const socket = resource?.connection?._socket;
    if (socket instanceof Socket) {
      if (ref) socket.ref();
      else socket.unref();
    }
  }
}

/** nodemailer options shared by the pooled transport and the one-off `verify` transport. */
function transportOptions(config: SmtpConfig, timeoutMs: number): SMTPTransportOptions {
  const phaseTimeoutMs = phaseTimeout(timeoutMs);
  // Shorter than the inactivity timeout, so a silent server is reported as one that never greeted.
  const setupTimeoutMs = Math.max(100, Math.floor(phaseTimeoutMs * 0.8));
  const options: SMTPTransportOptions = {
    host: config.host,
    port: config.port,
    secure: config.secure,
    requireTLS: config.requireTLS ?? false,
    // Explicit, whatever the nodemailer version or Node defaults: only the config may turn the check off.
    tls: {
      rejectUnauthorized: config.tls?.rejectUnauthorized ?? true,
      ...(config.tls?.servername === undefined ? {} : { servername: config.tls.servername }),
    },
    connectionTimeout: setupTimeoutMs,
    greetingTimeout: setupTimeoutMs,
    dnsTimeout: setupTimeoutMs,
    socketTimeout: phaseTimeoutMs,
    // Attachments arrive as bytes: message data must never make nodemailer read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
    debug: false,
  };
  if (config.auth) options.auth = { user: config.auth.user, pass: config.auth.pass };
  return options;
}

/**
 * Part of an attempt's budget the adapter uses itself, so its own timeouts fire before the dispatcher's timer: the
 * adapter knows whether the body had left (the dispatcher cannot), and a stall before that is then not ambiguous.
 */
function phaseTimeout(budgetMs: number): number {
  const margin = Math.max(budgetMs * 0.1, 500);
  return Math.max(100, Math.floor(budgetMs - margin));
}

function toAddress(address: EmailAddress): NodemailerAddress | string {
  return address.name ? { name: address.name, address: address.email } : address.email;
}

function toAttachment(attachment: EmailAttachment): Attachment {
  const converted: Attachment = {
    filename: attachment.filename,
    content: toBuffer(attachment.content),
    contentDisposition: attachment.disposition,
  };
  if (attachment.contentType) converted.contentType = attachment.contentType;
  if (attachment.contentId) converted.cid = attachment.contentId;
  return converted;
}

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  const wanted = name.toLowerCase();
  return Object.keys(headers).some((key) => key.toLowerCase() === wanted);
}

/** A header value as nodemailer takes it; `prepared` values are written as they are. */
type HeaderValue = string | string[] | { prepared: true; value: string };

/** Longest header line we write; RFC 5322 asks for 78 where possible. */
const FOLD_AT = 78;
/** Hard limit on a header line (RFC 5322). */
const MAX_HEADER_LINE = 998;

/**
 * Metadata as one JSON object that stays readable in the raw message: printable ASCII only (anything else as
 * `\uXXXX` escapes) and folded at its spaces, so `JSON.parse` reads it back after the usual header unfolding.
 * When a run without spaces is too long for a header line, nodemailer's RFC 2047 encoding is used instead.
 */
function metadataHeader(metadata: Record<string, string>): HeaderValue {
  const json = `{${Object.entries(metadata)
    .map(([key, value]) => `${asciiJson(key)}: ${asciiJson(value)}`)
    .join(', ')}}`;
  const prefix = `${SMTP_METADATA_HEADER}: `;
  const folded = foldAtSpaces(prefix + json);
  return folded === undefined
    ? JSON.stringify(metadata)
    : { prepared: true, value: folded.slice(prefix.length) };
}

function asciiJson(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Folds a header line before some of its spaces (lossless: unfolding drops only the CRLF); undefined if it cannot fit. */
function foldAtSpaces(line: string): string | undefined {
  const [first = '', ...rest] = line.split(' ');
  let folded = first;
  let lineLength = first.length;
  for (const word of rest) {
    if (word !== '' && lineLength + 1 + word.length > FOLD_AT) {
      folded += `\r\n ${word}`;
      lineLength = 1 + word.length;
    } else {
      folded += ` ${word}`;
      lineLength += 1 + word.length;
    }
    if (lineLength > MAX_HEADER_LINE) return undefined;
  }
  return first.length > MAX_HEADER_LINE ? undefined : folded;
}

/** Our message as nodemailer mail data. */
function toMailOptions(
  message: OutboundEmail,
  messageId: string | undefined,
  signal: AbortSignal,
): SendMailOptions {
  const headers: Record<string, HeaderValue> = { ...message.headers };
  if (message.tags.length > 0 && !hasHeader(headers, SMTP_TAG_HEADER)) {
    headers[SMTP_TAG_HEADER] = [...message.tags];
  }
  if (Object.keys(message.metadata).length > 0 && !hasHeader(headers, SMTP_METADATA_HEADER)) {
    headers[SMTP_METADATA_HEADER] = metadataHeader(message.metadata);
  }
  const mail: SendMailOptions = {
    from: toAddress(message.from),
    to: message.to.map(toAddress),
    subject: message.subject,
    headers,
    attachments: message.attachments.map(toAttachment),
    // Set explicitly so Bcc recipients are in the envelope and nowhere else (no Bcc field, so no Bcc header).
    envelope: {
      from: message.from.email,
      to: [...message.to, ...message.cc, ...message.bcc].map((address) => address.email),
    },
    // nodemailer (>= 10.5) rejects the send as soon as this aborts, whatever phase it is in.
    signal,
  };
  if (message.cc.length > 0) mail.cc = message.cc.map(toAddress);
  if (message.replyTo.length > 0) mail.replyTo = message.replyTo.map(toAddress);
  if (message.text !== undefined) mail.text = message.text;
  if (message.html !== undefined) mail.html = message.html;
  if (messageId !== undefined) mail.messageId = messageId;
  return mail;
}

/**
 * The same Message-ID for every attempt of one send (project + idempotency key), at the sender's domain. Left to
 * nodemailer when the message sets its own Message-ID header or the domain has no ASCII form.
 */
/** Sender domains seen so far, in ASCII: `domainToASCII` is slow, and a project has few sender domains. */
const asciiDomains = new Map<string, string>();
const MAX_ASCII_DOMAINS = 1000;

function asciiDomainOf(domain: string): string {
  let ascii = asciiDomains.get(domain);
  if (ascii === undefined) {
    ascii = domainToASCII(domain);
    if (asciiDomains.size >= MAX_ASCII_DOMAINS) asciiDomains.clear();
    asciiDomains.set(domain, ascii);
  }
  return ascii;
}

// The one-shot `crypto.hash` (Node 20.12+) skips the Hash object `createHash` builds for every message.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

function sha256Hex(data: string): string {
  return oneShotHash ? oneShotHash('sha256', data, 'hex') : createHash('sha256').update(data).digest('hex');
}

function messageIdFor(
  message: OutboundEmail,
  ctx: Pick<SendContext<SmtpConfig>, 'projectId' | 'idempotencyKey'>,
): string | undefined {
  if (hasHeader(message.headers, 'Message-ID')) return undefined;
  const domain = asciiDomainOf(message.from.email.slice(message.from.email.lastIndexOf('@') + 1));
  if (!domain) return undefined;
  const local = sha256Hex(`${ctx.projectId}\0${ctx.idempotencyKey}`).slice(0, 40);
  return `<${local}@${domain}>`;
}

function receiptOf(info: SMTPPoolSentMessageInfo, ctx: SendContext<SmtpConfig>): SendReceipt {
  const accepted = info.accepted ?? [];
  const rejected = info.rejected ?? [];
  if (accepted.length === 0 && rejected.length > 0) {
    // nodemailer throws when every recipient is refused; kept in case a version resolves instead.
    throw classifyRejectedRecipients(info.rejectedErrors ?? []);
  }
  const messageId = info.messageId.replace(/^<|>$/g, '');
  if (rejected.length > 0) {
    ctx.logger.warn(
      `SMTP server accepted the message for ${accepted.length} recipient(s) and refused ${rejected.length}; the refused recipients will not receive it`,
      {
        provider: PROVIDER,
        providerConfigId: ctx.providerConfigId,
        messageId,
        rejected,
        replies: (info.rejectedErrors ?? []).map((error) => firstLine(error.response)),
      },
    );
    return { messageId, rejectedRecipients: rejected.map(recipientAddress) };
  }
  return { messageId };
}

/** A refused recipient as nodemailer lists it (an address, or `{ address }`), as the address alone. */
function recipientAddress(recipient: string | { address: string }): string {
  return typeof recipient === 'string' ? recipient : recipient.address;
}

/** Races `work` against `signal`: rejects with the abort reason as soon as it aborts, whatever `work` does. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A send that ran out of its attempt's time: ambiguous only when the body had started to flow. */
function deadlineError(deadlineMs: number, dataStarted: boolean): ProviderError {
  return new ProviderError(
    'PROVIDER_TIMEOUT',
    dataStarted
      ? `SMTP server did not confirm the message within ${deadlineMs} ms; it may have been delivered`
      : `SMTP send did not get to the message body within ${deadlineMs} ms`,
    { provider: PROVIDER, ambiguous: dataStarted },
  );
}

/**
 * What an aborted attempt rejects with: the dispatcher's timeout, marked ambiguous only when the body had started
 * to flow; any other reason (the caller gave up) as it is.
 */
function abortError(signal: AbortSignal, dataStarted: boolean): unknown {
  const reason: unknown = signal.reason;
  if (isProviderError(reason) && reason.code === 'PROVIDER_TIMEOUT') {
    return new ProviderError('PROVIDER_TIMEOUT', reason.message, {
      provider: PROVIDER,
      ambiguous: dataStarted,
    });
  }
  return reason;
}

/** The SMTP error fields nodemailer sets, all optional. */
type SmtpFailure = Partial<
  Pick<
    NodemailerError,
    | 'code'
    | 'command'
    | 'response'
    | 'responseCode'
    | 'originalCode'
    | 'timeoutType'
    | 'rejected'
    | 'rejectedErrors'
  >
> & { message?: string };

const CERTIFICATE_FAILURE =
  /CERT|SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME/;
const TLS_FAILURE = /^(ERR_SSL_|ERR_TLS_|EPROTO$)/;
const RATE_LIMIT_REPLY = /\b(rate|too many|throttl\w*|quota|exceeded)\b/i;
const RELAY_REPLY = /relay/i;
const TLS_REPLY = /TLS/i;
const ENHANCED_STATUS = /\b([245]\.\d{1,3}\.\d{1,3})\b/;
/** A permanent reply about the account's sending limits (5.4.5 is Microsoft 365's daily quota). */
const SENDING_LIMIT_REPLY =
  /\brate\b|throttl|too many (?:messages|mails|emails|connections|recipients)|sending (?:quota|limit)|daily (?:user )?(?:sending )?(?:quota|limit)|(?:quota|limit) (?:exceeded|reached)/i;
/** A refusal to let this account send as this address (5.2.252 is Microsoft 365's SendAsDenied). */
const SEND_AS_REPLY =
  /SendAsDenied|not (?:allowed|permitted|authori[sz]ed) to send|(?:permission|permissions) to send as|send as this sender|sender (?:address )?(?:is )?(?:not allowed|denied|not owned)/i;
/** The server wants a login this session did not give. */
const AUTH_REQUIRED_REPLY =
  /authentication (?:is )?required|auth(?:entication)? required|not authenticated|must (?:be )?authenticat/i;
/** The account itself may not send. */
const ACCOUNT_REPLY = /account (?:is |has been )?(?:disabled|suspended|blocked|locked|deactivated)/i;
/** Other wording about the account's rights rather than the message ("not authorized", "access denied"). */
const POLICY_REPLY = /not authori[sz]ed|access denied|policy/i;
/** Wording that blames the message content itself: the only 5.7.x refusal that stays message-level. */
const CONTENT_REPLY = /\bspam\b|\bvirus\b|malware|malicious|content (?:rejected|refused|not accepted)/i;

function firstLine(response: string | undefined): string {
  // Not shortened here: the core scrubs the secrets' forms first, then shortens (see `excerpt`).
  return excerpt((response ?? '').split(/\r?\n/, 1)[0]!);
}

function failure(
  code: ProviderErrorCode,
  message: string,
  error: SmtpFailure,
  ambiguous = false,
): ProviderError {
  const enhanced = ENHANCED_STATUS.exec(error.response ?? '')?.[1];
  const providerCode = enhanced ?? error.code;
  return new ProviderError(code, message, {
    provider: PROVIDER,
    ...(error.responseCode === undefined ? {} : { status: error.responseCode }),
    ...(providerCode === undefined ? {} : { providerCode }),
    ambiguous,
  });
}

/**
 * Classifies whatever a nodemailer send or verify threw. `dataStarted` says whether the message body had started
 * to flow, which is what makes a timeout or a broken connection ambiguous.
 */
function classifySmtpError(thrown: unknown, dataStarted: boolean): ProviderError {
  if (isProviderError(thrown)) return thrown;
  const error: SmtpFailure = typeof thrown === 'object' && thrown !== null ? (thrown as SmtpFailure) : {};
  const { code, originalCode } = error;
  const reply = firstLine(error.response);

  if (code === 'EAUTH') {
    if (error.responseCode !== undefined && error.responseCode < 500) {
      return failure(
        'PROVIDER_UNAVAILABLE',
        `SMTP server could not check the login just now (${reply})`,
        error,
      );
    }
    return failure(
      'PROVIDER_INVALID_CREDENTIALS',
      reply ? `SMTP server refused the login (${reply})` : 'SMTP login failed: check auth.user and auth.pass',
      error,
    );
  }
  if (code === 'ENOAUTH') {
    return failure(
      'PROVIDER_INVALID_CREDENTIALS',
      'SMTP server requires a login: set auth.user and auth.pass',
      error,
    );
  }
  if (typeof originalCode === 'string' && CERTIFICATE_FAILURE.test(originalCode)) {
    return failure(
      'PROVIDER_REJECTED',
      `SMTP server's TLS certificate was rejected (${originalCode}: ${error.message ?? 'invalid certificate'}). Give the server a certificate trusted for its host name, set tls.servername if it names another host, or, for a server you trust, set tls.rejectUnauthorized: false`,
      error,
    );
  }
  const tlsFailure = code === 'ETLS' || (typeof originalCode === 'string' && TLS_FAILURE.test(originalCode));
  if (tlsFailure && isTemporary(error.responseCode)) return temporaryRefusal(error, reply);
  if (tlsFailure && error.command === 'STARTTLS') {
    return failure(
      'PROVIDER_REJECTED',
      `SMTP server did not upgrade the connection with STARTTLS (${reply || error.message || 'refused'}): it may not offer TLS on this port; check requireTLS, secure and the port`,
      error,
    );
  }
  if (tlsFailure) {
    return failure(
      'PROVIDER_REJECTED',
      `TLS handshake with the SMTP server failed (${originalCode || reply || error.message || 'no detail'}): check that secure matches the port (true for 465, false for 587 with STARTTLS)`,
      error,
    );
  }
  if (typeof error.responseCode === 'number') return classifyReply(error, dataStarted);

  switch (code) {
    case 'ETIMEDOUT':
      return failure(
        'PROVIDER_TIMEOUT',
        dataStarted
          ? 'SMTP server stopped answering while the message was being sent; it may have been delivered'
          : error.timeoutType === 'GREETING_TIMEOUT'
            ? 'SMTP server did not greet in time: if this port expects TLS from the start (usually 465), set secure: true'
            : `SMTP server did not answer in time (${error.timeoutType ?? 'timeout'})`,
        error,
        dataStarted,
      );
    case 'ESOCKET':
    case 'ECONNECTION':
    case 'EDNS':
    case 'EPROXY':
      return failure(
        'NETWORK_ERROR',
        dataStarted
          ? `Connection to the SMTP server broke while the message was being sent (${originalCode ?? code}); it may have been delivered`
          : `Could not talk to the SMTP server (${networkDetail(error)})`,
        error,
        dataStarted,
      );
    case 'EPROTOCOL':
      return failure(
        'PROVIDER_REJECTED',
        'SMTP server sent a reply that is not SMTP: check host and port',
        error,
      );
    case 'EMESSAGE':
      return failure(
        'MESSAGE_REJECTED',
        `SMTP server refused the message (${error.message ?? 'rejected'})`,
        error,
      );
    default:
      return failure(
        'ADAPTER_ERROR',
        `SMTP send failed (${code ?? 'unknown error'}: ${error.message ?? String(thrown)})`,
        error,
      );
  }
}

/** The socket error's own message, with its code when the message does not name it. */
function networkDetail(error: SmtpFailure): string {
  const code = error.originalCode ?? error.code ?? 'connection failed';
  const message = error.message ?? '';
  return message.includes(code) ? message : [code, message].filter(Boolean).join(': ');
}

/**
 * A permanent refusal that is about this account or relay rather than the message or recipient: sending limits
 * (5.4.5, rate wording), send-as and sender rights (5.2.252 SendAsDenied, "not authorized to send"), a login the
 * server wants, a suspended account, and other security/policy statuses (5.7.x). Another provider may deliver
 * the same message, so none of them may stop failover. `undefined` when the reply is none of these.
 */
function accountRefusal(error: SmtpFailure, reply: string, command: string): ProviderError | undefined {
  const status = error.responseCode;
  if (status === undefined || status < 500) return undefined;
  const enhanced = ENHANCED_STATUS.exec(reply)?.[1] ?? '';
  // 5.2.x and 5.3.x are mailbox and message size limits ("mailbox quota exceeded"): not the account's.
  const aboutSize = status === 552 || /^5\.[23]\./.test(enhanced);
  if (enhanced === '5.4.5' || (!aboutSize && SENDING_LIMIT_REPLY.test(reply))) {
    return failure(
      'PROVIDER_RATE_LIMITED',
      `SMTP server refused: this account reached a sending limit (${reply})`,
      error,
    );
  }
  if (enhanced === '5.2.252' || SEND_AS_REPLY.test(reply)) {
    return failure(
      'SENDER_UNVERIFIED',
      `SMTP server refused the sender (${reply}): the account may not send as this address`,
      error,
    );
  }
  if (AUTH_REQUIRED_REPLY.test(reply)) {
    return failure(
      'PROVIDER_INVALID_CREDENTIALS',
      `SMTP server requires a login for this (${reply}): check auth.user and auth.pass`,
      error,
    );
  }
  if (ACCOUNT_REPLY.test(reply)) {
    return failure('ACCOUNT_SUSPENDED', `SMTP server refused: the account may not send (${reply})`, error);
  }
  if (RELAY_REPLY.test(reply)) {
    return failure(
      'PROVIDER_REJECTED',
      `SMTP server refuses to relay for this account (${reply}): check the login and the server's relay rules`,
      error,
    );
  }
  const policyStatus = /^5\.7\./.test(enhanced);
  if (!policyStatus && !POLICY_REPLY.test(reply)) return undefined;
  // A relay that calls the content spam or a virus blames the message: another provider should not send it.
  if (CONTENT_REPLY.test(reply)) return undefined;
  if (command === 'MAIL FROM') {
    return failure(
      'SENDER_UNVERIFIED',
      `SMTP server refused the sender address (${reply}): the account may not send as this address`,
      error,
    );
  }
  return failure('PROVIDER_REJECTED', `SMTP server refused by policy (${reply})`, error);
}

/** A reply with a code: 4xx is temporary, 5xx permanent, and the command tells who is at fault. */
function classifyReply(error: SmtpFailure, dataStarted: boolean): ProviderError {
  const status = error.responseCode!;
  const reply = firstLine(error.response);
  const command = (error.command ?? '').toUpperCase();

  if (command === 'RCPT TO' && error.rejectedErrors && error.rejectedErrors.length > 0) {
    return classifyRejectedRecipients(error.rejectedErrors);
  }
  if (isTemporary(status)) return temporaryRefusal(error, reply);
  // 503 (bad sequence of commands) is about the session, not the message: a new connection may go through.
  if (status === 503 || status < 400) {
    return failure('PROVIDER_UNAVAILABLE', `SMTP server answered out of turn (${reply})`, error, dataStarted);
  }
  if (status === 530) {
    return TLS_REPLY.test(reply)
      ? failure(
          'PROVIDER_REJECTED',
          `SMTP server requires TLS (${reply}): set requireTLS or secure as the server expects`,
          error,
        )
      : failure(
          'PROVIDER_INVALID_CREDENTIALS',
          `SMTP server requires a login (${reply}): set auth.user and auth.pass`,
          error,
        );
  }
  const byAccount = accountRefusal(error, reply, command);
  if (byAccount) return byAccount;
  if (command === 'RCPT TO') {
    return RELAY_REPLY.test(reply)
      ? failure(
          'PROVIDER_REJECTED',
          `SMTP server refuses to relay for this account (${reply}): check the login and the server's relay rules`,
          error,
        )
      : failure('RECIPIENT_INVALID', `SMTP server refused the recipient (${reply})`, error);
  }
  if (command === 'MAIL FROM') {
    return status === 552 || /^5\.3\.4$/.test(ENHANCED_STATUS.exec(reply)?.[1] ?? '')
      ? failure('MESSAGE_REJECTED', `SMTP server refused the message size (${reply})`, error)
      : failure(
          'SENDER_UNVERIFIED',
          `SMTP server refused the sender address (${reply}): the account may not send as this address`,
          error,
        );
  }
  if (command === 'DATA' || error.code === 'EMESSAGE') {
    return failure('MESSAGE_REJECTED', `SMTP server refused the message (${reply})`, error);
  }
  return failure('PROVIDER_REJECTED', `SMTP server refused the connection (${reply})`, error);
}

/** A 4xx reply: the server may accept the same thing later. */
function isTemporary(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500;
}

function temporaryRefusal(error: SmtpFailure, reply: string): ProviderError {
  // 452 is "too many recipients" or "out of storage"; both clear up with time.
  const limited = error.responseCode === 452 || RATE_LIMIT_REPLY.test(reply);
  return failure(
    limited ? 'PROVIDER_RATE_LIMITED' : 'PROVIDER_UNAVAILABLE',
    `SMTP server refused for now (${reply}); try again later`,
    error,
  );
}

/** Every recipient was refused: temporary if any refusal was, since nothing was delivered. */
function classifyRejectedRecipients(rejections: readonly SmtpFailure[]): ProviderError {
  const temporary = rejections.find((rejection) => isTemporary(rejection.responseCode));
  if (temporary) return temporaryRefusal(temporary, firstLine(temporary.response));
  const first: SmtpFailure = rejections[0] ?? {};
  const reply = firstLine(first.response);
  const byAccount = accountRefusal(first, reply, 'RCPT TO');
  if (byAccount) return byAccount;
  if (RELAY_REPLY.test(reply)) {
    return failure(
      'PROVIDER_REJECTED',
      `SMTP server refuses to relay for this account (${reply}): check the login and the server's relay rules`,
      first,
    );
  }
  return failure(
    'RECIPIENT_INVALID',
    rejections.length === 1
      ? `SMTP server refused the recipient (${reply})`
      : `SMTP server refused all ${rejections.length} recipients (${reply})`,
    first,
  );
}
