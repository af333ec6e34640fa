import { domainToASCII } from 'node:url';
import type {
  Attachment,
  GetAccountCommandOutput,
  IdentityInfo,
  MessageTag,
  SESv2Client,
  SendEmailCommandInput,
} from '@aws-sdk/client-sesv2';
import {
  type Adapter,
  type AdapterCallContext,
  ClientPool,
  type DomainStatus,
  type EmailAddress,
  type EmailAttachment,
  isProviderError,
  loadOptional,
  type OutboundEmail,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type SendReceipt,
  type SesConfig,
  type VerifyResult,
} from 'messagepipe';

const PROVIDER = 'ses';
const PACKAGE = '@aws-sdk/client-sesv2';
/** Time budget of the SDK's own socket timers when the config sets none; our per-call signal is the real limit. */
const DEFAULT_TIMEOUT_MS = 30_000;
/** Largest page `ListEmailIdentities` accepts. */
const PAGE_SIZE = 1000;
/** Stops a listing that never ends from looping forever. */
const MAX_PAGES = 50;
/** SES message tag names and values: ASCII letters, digits, `_` and `-`, at most 256 characters. */
const TAG_LENGTH = 256;

type SesModule = typeof import('@aws-sdk/client-sesv2');

/** The SDK module and a client built from one provider config. */
interface SesHandle {
  sdk: SesModule;
  client: SESv2Client;
}

/**
 * Amazon SES adapter on the official `@aws-sdk/client-sesv2` SDK (`npm install @aws-sdk/client-sesv2`). Sends with
 * `SendEmail` (simple content, with attachments and custom headers), checks credentials with `GetAccount`, lists
 * identities with `ListEmailIdentities`. The SDK's own retries are off (`maxAttempts: 1`): MessagePipe decides
 * whether to retry or fail over.
 *
 * @example
 * ```ts
 * import { ses } from 'messagepipe/adapters/ses';
 * const pipe = new Dispatcher({ adapters: [ses()] });
 * ```
 */
export function ses(): Adapter<'email', SesConfig> {
  const clients = new ClientPool<SesConfig, SesHandle>(createHandle, (handle) => handle.client.destroy());

  return {
    provider: PROVIDER,
    channel: 'email',

    async send(message: OutboundEmail, ctx: SendContext<SesConfig>): Promise<SendReceipt> {
      const { sdk, client } = await clients.get(ctx);
      if (message.attachments.length > 0 && !('AttachmentContentDisposition' in sdk)) {
        throw new ProviderError(
          'ADAPTER_ERROR',
          `This version of ${PACKAGE} cannot send attachments through SES SendEmail: upgrade it`,
          { provider: PROVIDER },
        );
      }
      const input = toSendEmailInput(message, ctx.config, ctx);
      const answer = await callSes(ctx, 'send', (abortSignal) =>
        client.send(new sdk.SendEmailCommand(input), { abortSignal }),
      );
      if (!answer.MessageId) {
        // A 2xx without an id: SES may well have accepted the message.
        throw new ProviderError('PROVIDER_UNAVAILABLE', 'SES answered without a MessageId', {
          provider: PROVIDER,
          status: answer.$metadata.httpStatusCode,
          ambiguous: true,
        });
      }
      return { messageId: answer.MessageId };
    },

    async verify(config: SesConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      let account: GetAccountCommandOutput;
      try {
        account = await clients.withTemporary(config, ({ sdk, client }) =>
          callSes(ctx, 'verify', (abortSignal) =>
            client.send(new sdk.GetAccountCommand({}), { abortSignal }),
          ),
        );
      } catch (error) {
        if (isProviderError(error) && error.code === 'PROVIDER_INVALID_CREDENTIALS') {
          return { valid: false, reason: error.message };
        }
        throw error;
      }
      if (account.SendingEnabled === false) {
        return {
          valid: false,
          reason: `Sending is paused for this SES account in ${config.region} (SendingEnabled is false)`,
        };
      }
      if (account.EnforcementStatus === 'SHUTDOWN') {
        return { valid: false, reason: `This SES account in ${config.region} has been shut down` };
      }
      return {
        valid: true,
        details: {
          region: config.region,
          sendingEnabled: account.SendingEnabled ?? null,
          productionAccessEnabled: account.ProductionAccessEnabled ?? null,
          enforcementStatus: account.EnforcementStatus ?? null,
          max24HourSend: account.SendQuota?.Max24HourSend ?? null,
          maxSendRate: account.SendQuota?.MaxSendRate ?? null,
          sentLast24Hours: account.SendQuota?.SentLast24Hours ?? null,
        },
      };
    },

    async domains(config: SesConfig, ctx: AdapterCallContext): Promise<DomainStatus[]> {
      const identities = await clients.withTemporary(config, async ({ sdk, client }) => {
        const found: IdentityInfo[] = [];
        let nextToken: string | undefined;
        for (let page = 0; page < MAX_PAGES; page++) {
          const answer = await callSes(ctx, 'domains', (abortSignal) =>
            client.send(new sdk.ListEmailIdentitiesCommand({ PageSize: PAGE_SIZE, NextToken: nextToken }), {
              abortSignal,
            }),
          );
          found.push(...(answer.EmailIdentities ?? []));
          nextToken = answer.NextToken || undefined;
          if (!nextToken) break;
        }
        return found;
      });
      return identities
        .filter((identity) => identity.IdentityName)
        .map(
          (identity): DomainStatus => ({
            domain: identity.IdentityName!,
            verified: identity.VerificationStatus === 'SUCCESS',
            details: {
              type: identity.IdentityType ?? null,
              verificationStatus: identity.VerificationStatus ?? null,
              sendingEnabled: identity.SendingEnabled ?? null,
            },
          }),
        );
    },

    release: (providerConfigId) => clients.release(providerConfigId),
    close: () => clients.close(),
  };
}

async function createHandle(config: SesConfig): Promise<SesHandle> {
  const sdk = await loadOptional(PACKAGE, PROVIDER, () => import('@aws-sdk/client-sesv2'));
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new sdk.SESv2Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // Only the config's credentials: never the environment's or a profile's.
    credentials: {
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
    },
    // The SDK would retry 429 and 5xx three times on its own; the dispatcher decides instead.
    maxAttempts: 1,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });
  return { sdk, client };
}

/** Maps our message to a `SendEmail` request with simple content. */
function toSendEmailInput(
  message: OutboundEmail,
  config: SesConfig,
  ctx: AdapterCallContext,
): SendEmailCommandInput {
  const input: SendEmailCommandInput = {
    FromEmailAddress: formatAddress(message.from),
    Destination: {
      ToAddresses: message.to.map(formatAddress),
      ...(message.cc.length > 0 ? { CcAddresses: message.cc.map(formatAddress) } : {}),
      ...(message.bcc.length > 0 ? { BccAddresses: message.bcc.map(formatAddress) } : {}),
    },
    Content: {
      Simple: {
        Subject: { Data: message.subject, Charset: 'UTF-8' },
        Body: {
          ...(message.text !== undefined ? { Text: { Data: message.text, Charset: 'UTF-8' } } : {}),
          ...(message.html !== undefined ? { Html: { Data: message.html, Charset: 'UTF-8' } } : {}),
        },
      },
    },
  };
  const simple = input.Content!.Simple!;
  if (message.replyTo.length > 0) input.ReplyToAddresses = message.replyTo.map(formatAddress);
  const headers = Object.entries(message.headers);
  if (headers.length > 0) simple.Headers = headers.map(([Name, Value]) => ({ Name, Value }));
  if (message.attachments.length > 0) simple.Attachments = message.attachments.map(toSesAttachment);
  const tags = toEmailTags(message, ctx);
  if (tags.length > 0) input.EmailTags = tags;
  if (config.configurationSetName) input.ConfigurationSetName = config.configurationSetName;
  return input;
}

function toSesAttachment(attachment: EmailAttachment): Attachment {
  const mapped: Attachment = {
    FileName: attachment.filename,
    RawContent: attachment.content,
    ContentDisposition: attachment.disposition === 'inline' ? 'INLINE' : 'ATTACHMENT',
    ContentTransferEncoding: 'BASE64',
  };
  if (attachment.contentType) mapped.ContentType = attachment.contentType;
  if (attachment.contentId) mapped.ContentId = attachment.contentId;
  return mapped;
}

/**
 * Metadata entries become tags `{Name: key, Value: value}`; each tag becomes `{Name: tag, Value: 'true'}`, so both
 * show up in SES event records. SES allows only `[A-Za-z0-9_-]` (up to 256 characters) in tag names and values:
 * other characters become `_`, and a metadata key wins over a tag of the same name.
 */
function toEmailTags(message: OutboundEmail, ctx: AdapterCallContext): MessageTag[] {
  const byName = new Map<string, string>();
  let rewritten = 0;
  const add = (name: string, value: string) => {
    const safeName = tagToken(name);
    const safeValue = tagToken(value);
    if (safeName !== name || safeValue !== value) rewritten++;
    if (safeName && safeValue && !byName.has(safeName)) byName.set(safeName, safeValue);
  };
  for (const [key, value] of Object.entries(message.metadata)) add(key, value);
  for (const tag of message.tags) add(tag, 'true');
  if (rewritten > 0) {
    ctx.logger.debug('SES tags allow only letters, digits, _ and -: some tags and metadata were rewritten', {
      provider: PROVIDER,
      rewritten,
    });
  }
  return [...byName].map(([Name, Value]) => ({ Name, Value }));
}

function tagToken(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, TAG_LENGTH);
}

/**
 * `"Name" <email>` as SES wants it: a name with non-ASCII characters in MIME encoded-words (RFC 2047), and an
 * internationalised domain in its ASCII (punycode) form.
 */
function formatAddress(address: EmailAddress): string {
  const at = address.email.lastIndexOf('@');
  const domain = address.email.slice(at + 1);
  const email = /^[\x20-\x7e]*$/.test(domain)
    ? address.email
    : `${address.email.slice(0, at + 1)}${domainToASCII(domain) || domain}`;
  if (!address.name) return email;
  return `${formatDisplayName(address.name)} <${email}>`;
}

function formatDisplayName(name: string): string {
  if (/^[\x20-\x7e]*$/.test(name)) return `"${name.replace(/[\\"]/g, '\\$&')}"`;
  return encodedWords(name);
}

/** RFC 2047 `B` encoding, split on character boundaries so no encoded-word exceeds 75 characters. */
function encodedWords(text: string): string {
  const maxBytes = 45; // 60 base64 characters + `=?UTF-8?B??=` = 72
  const words: string[] = [];
  let chunk = '';
  for (const char of text) {
    if (Buffer.byteLength(chunk + char) > maxBytes) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((word) => `=?UTF-8?B?${Buffer.from(word).toString('base64')}?=`).join(' ');
}

type Operation = 'send' | 'verify' | 'domains';

/** Runs one SDK call with the caller's signal and time budget, turning every failure into a ProviderError. */
async function callSes<T>(
  ctx: AdapterCallContext,
  operation: Operation,
  call: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(ctx.timeoutMs);
  try {
    return await call(AbortSignal.any([ctx.signal, timeout]));
  } catch (error) {
    if (ctx.signal.aborted) throw abortedError(ctx.signal.reason);
    if (timeout.aborted) {
      throw new ProviderError('PROVIDER_TIMEOUT', `SES did not answer within ${ctx.timeoutMs} ms`, {
        provider: PROVIDER,
        ambiguous: operation === 'send',
      });
    }
    throw classifySesError(error, operation);
  }
}

function abortedError(reason: unknown): ProviderError {
  if (isProviderError(reason)) return reason;
  return new ProviderError('PROVIDER_TIMEOUT', 'The SES request was abandoned before an answer came back', {
    provider: PROVIDER,
    ambiguous: true,
  });
}

/** What the AWS SDK puts on a service error: the wire type as `name`, the HTTP status in `$metadata`. */
interface AwsErrorLike {
  name: string;
  message: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/** SES error types (the `x-amzn-ErrorType` of the answer) and the failure each one is. */
const SES_ERRORS: Record<string, ProviderErrorCode> = {
  MessageRejected: 'MESSAGE_REJECTED',
  MailFromDomainNotVerifiedException: 'SENDER_UNVERIFIED',
  AccountSuspendedException: 'ACCOUNT_SUSPENDED',
  SendingPausedException: 'ACCOUNT_SUSPENDED',
  TooManyRequestsException: 'PROVIDER_RATE_LIMITED',
  ThrottlingException: 'PROVIDER_RATE_LIMITED',
  Throttling: 'PROVIDER_RATE_LIMITED',
  LimitExceededException: 'PROVIDER_RATE_LIMITED',
  InternalServiceErrorException: 'PROVIDER_UNAVAILABLE',
  InternalFailure: 'PROVIDER_UNAVAILABLE',
  ServiceUnavailable: 'PROVIDER_UNAVAILABLE',
  ServiceUnavailableException: 'PROVIDER_UNAVAILABLE',
  UnrecognizedClientException: 'PROVIDER_INVALID_CREDENTIALS',
  InvalidSignatureException: 'PROVIDER_INVALID_CREDENTIALS',
  SignatureDoesNotMatch: 'PROVIDER_INVALID_CREDENTIALS',
  IncompleteSignatureException: 'PROVIDER_INVALID_CREDENTIALS',
  InvalidClientTokenId: 'PROVIDER_INVALID_CREDENTIALS',
  MissingAuthenticationTokenException: 'PROVIDER_INVALID_CREDENTIALS',
  ExpiredTokenException: 'PROVIDER_INVALID_CREDENTIALS',
  AccessDeniedException: 'PROVIDER_INVALID_CREDENTIALS',
  // A configuration set or identity named in the request does not exist: this provider's setup, not the message.
  NotFoundException: 'PROVIDER_REJECTED',
};

function classifySesError(error: unknown, operation: Operation): ProviderError {
  if (isProviderError(error)) return error;
  if (!(error instanceof Error)) {
    return new ProviderError('ADAPTER_ERROR', `SES SDK failed: ${String(error)}`, { provider: PROVIDER });
  }
  const aws = error as AwsErrorLike;
  const status = aws.$metadata?.httpStatusCode;
  if (status === undefined) return transportError(aws, operation === 'send');
  if (aws.name === 'SyntaxError') {
    // An answer whose body is not the JSON SES sends (a proxy page, a cut-off body).
    const accepted = status >= 200 && status < 300;
    return new ProviderError(
      accepted ? 'PROVIDER_UNAVAILABLE' : codeForStatus(status, aws.$fault),
      `SES answered ${status} with a body that could not be read`,
      { provider: PROVIDER, status, ambiguous: accepted && operation === 'send' },
    );
  }
  const code = codeForAnswer(aws, status);
  const options = { provider: PROVIDER, status, providerCode: aws.name };
  const retryAfterMs = code === 'PROVIDER_RATE_LIMITED' ? retryAfterOf(aws.$response?.headers) : undefined;
  return new ProviderError(code, `SES refused the request (${status} ${aws.name}): ${aws.message}`, {
    ...options,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

function codeForAnswer(error: AwsErrorLike, status: number): ProviderErrorCode {
  if (error.name === 'MessageRejected' && /not verified/i.test(error.message)) {
    // "Email address is not verified": an identity of the account (the sender, or a recipient while the account
    // is in the sandbox) must be verified first. Another provider can send the same message.
    return 'SENDER_UNVERIFIED';
  }
  if (error.name === 'BadRequestException') {
    return /address/i.test(error.message) ? 'MESSAGE_REJECTED' : 'PROVIDER_REJECTED';
  }
  return SES_ERRORS[error.name] ?? codeForStatus(status, error.$fault);
}

/** For an error type we do not know: what its HTTP status says. */
function codeForStatus(status: number, fault: AwsErrorLike['$fault']): ProviderErrorCode {
  if (status === 429) return 'PROVIDER_RATE_LIMITED';
  if (status >= 500 || status === 404 || fault === 'server') return 'PROVIDER_UNAVAILABLE';
  if (status === 401 || status === 403) return 'PROVIDER_INVALID_CREDENTIALS';
  return 'PROVIDER_REJECTED';
}

/** Network codes that prove the request never left: failing over cannot deliver twice. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A failure without an answer: the connection failed, broke or timed out. */
function transportError(error: AwsErrorLike, mayHaveBeenSent: boolean): ProviderError {
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (code && NOT_SENT_CODES.has(code)) {
    return new ProviderError('NETWORK_ERROR', `Could not reach SES (${code})`, { provider: PROVIDER });
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new ProviderError('NETWORK_ERROR', `The connection to SES broke (${code})`, {
      provider: PROVIDER,
      ambiguous: mayHaveBeenSent,
    });
  }
  if (error.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    // The connect timer fires before anything was sent; the request and socket timers after.
    const connecting = /establish a connection/i.test(error.message);
    return new ProviderError('PROVIDER_TIMEOUT', 'SES did not answer in time', {
      provider: PROVIDER,
      ambiguous: mayHaveBeenSent && !connecting,
    });
  }
  return new ProviderError('NETWORK_ERROR', `Could not reach SES (${code ?? error.name})`, {
    provider: PROVIDER,
    ambiguous: mayHaveBeenSent,
  });
}

function retryAfterOf(headers: Record<string, string | undefined> | undefined): number | undefined {
  const value = headers?.['retry-after'];
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
