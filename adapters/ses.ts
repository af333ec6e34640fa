/**
 * Amazon SES adapter, on the official `@aws-sdk/client-sesv2` SDK. Sends with `SendEmail` (simple content with
 * attachments and custom headers); the message id is `MessageId` of the answer. Credentials are checked with
 * `GetAccount`, identities listed with `ListEmailIdentities`. The SDK's own retries are off (`maxAttempts: 1`):
 * the dispatcher decides whether to retry or fail over.
 *
 * @example
 * ```ts
 * import { Dispatcher } from 'messagepipe';
 * import { ses } from 'messagepipe/adapters/ses';
 * const pipe = new Dispatcher({ adapters: [ses()] });
 * ```
 */
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
  type AdapterCallContext,
  type BuiltInAdapter,
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
  sesConfigSchema,
  type VerifyResult,
} from 'messagepipe';
import { formatAddress as formatAsciiAddress } from './_shared/email';
import {
  guardAwsClient,
  type HttpCallScope,
  type HttpOperation,
  isJsonObjectText,
  runHttpCall,
} from './_shared/http';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  isNetworkErrorCode,
  retryAfterFromHeaders,
} from './_shared/http-errors';
import { receiptFromSuccess } from './_shared/message-id';
import { cannotCheck } from './_shared/verify';
import { sesWebhook } from './webhooks/ses';

const PROVIDER = 'ses';
const PACKAGE = '@aws-sdk/client-sesv2';
/** Budget of the SDK's own connection and request timers when the config sets none; a backstop to the deadline. */
const DEFAULT_TIMEOUT_MS = 30_000;
/** Largest page `ListEmailIdentities` accepts. */
const PAGE_SIZE = 1000;
/** Stops a listing that never ends from looping forever. */
const MAX_PAGES = 50;
/** SES tag names and values: ASCII letters, digits, `_` and `-`, at most 256 characters. */
const TAG_LENGTH = 256;

type SesModule = typeof import('@aws-sdk/client-sesv2');

/** The SDK module and a client built from one provider config. */
interface SesHandle {
  sdk: SesModule;
  client: SESv2Client;
}

async function createHandle(config: SesConfig): Promise<SesHandle> {
  const sdk = await loadOptional(PACKAGE, PROVIDER, () => import('@aws-sdk/client-sesv2'));
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new sdk.SESv2Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // Where the client talks is the config's business alone, not AWS_ENDPOINT_URL* or ~/.aws/config.
    ignoreConfiguredEndpointUrls: true,
    // Only the config's credentials: never the environment's or a profile's.
    credentials: {
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
    },
    // The SDK would retry 429 and 5xx three times on its own; the dispatcher decides instead.
    maxAttempts: 1,
    // Without throwOnRequestTimeout the request timer only logs a warning.
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
  });
  // No redirects, answers read up to the size cap (see `_shared/http.ts`).
  guardAwsClient(client, PROVIDER, 'SES');
  return { sdk, client };
}

/**
 * The `SendEmail` input for a message (simple content). Names are written as SES wants them: non-ASCII display
 * names in RFC 2047 encoded-words, internationalised domains in punycode. Metadata and tags become `EmailTags`
 * (see {@link toEmailTags}).
 */
export function toSendEmailInput(
  message: OutboundEmail,
  config: Pick<SesConfig, 'configurationSetName'>,
): { input: SendEmailCommandInput; rewrittenTags: number } {
  const simple: NonNullable<NonNullable<SendEmailCommandInput['Content']>['Simple']> = {
    Subject: { Data: message.subject, Charset: 'UTF-8' },
    Body: {
      ...(message.text !== undefined ? { Text: { Data: message.text, Charset: 'UTF-8' } } : {}),
      ...(message.html !== undefined ? { Html: { Data: message.html, Charset: 'UTF-8' } } : {}),
    },
  };
  const headers = Object.entries(message.headers);
  if (headers.length > 0) simple.Headers = headers.map(([Name, Value]) => ({ Name, Value }));
  if (message.attachments.length > 0) simple.Attachments = message.attachments.map(toSesAttachment);

  const input: SendEmailCommandInput = {
    FromEmailAddress: formatSesAddress(message.from),
    Destination: {
      ToAddresses: message.to.map(formatSesAddress),
      ...(message.cc.length > 0 ? { CcAddresses: message.cc.map(formatSesAddress) } : {}),
      ...(message.bcc.length > 0 ? { BccAddresses: message.bcc.map(formatSesAddress) } : {}),
    },
    Content: { Simple: simple },
  };
  if (message.replyTo.length > 0) input.ReplyToAddresses = message.replyTo.map(formatSesAddress);
  const { tags, rewritten } = toEmailTags(message);
  if (tags.length > 0) input.EmailTags = tags;
  if (config.configurationSetName) input.ConfigurationSetName = config.configurationSetName;
  return { input, rewrittenTags: rewritten };
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
 * Metadata entries become tags `{Name: key, Value: value}` and each tag `{Name: tag, Value: 'true'}`, so both show
 * up in SES event records. SES allows only `[A-Za-z0-9_-]` (up to 256 characters) in tag names and values: other
 * characters become `_`, and a metadata key wins over a tag of the same name.
 */
function toEmailTags(message: OutboundEmail): { tags: MessageTag[]; rewritten: number } {
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
  return { tags: [...byName].map(([Name, Value]) => ({ Name, Value })), rewritten };
}

function tagToken(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, TAG_LENGTH);
}

const ASCII = /^[\x20-\x7e]*$/;

/** An address as SES takes it: ASCII only, so a non-ASCII name is encoded and an IDN domain punycoded. */
export function formatSesAddress(address: EmailAddress): string {
  const at = address.email.lastIndexOf('@');
  const domain = address.email.slice(at + 1);
  const email = ASCII.test(domain)
    ? address.email
    : `${address.email.slice(0, at + 1)}${domainToASCII(domain) || domain}`;
  if (!address.name || ASCII.test(address.name)) return formatAsciiAddress({ ...address, email });
  return `${encodedWords(address.name)} <${email}>`;
}

/** RFC 2047 `B` encoding, split on character boundaries so no encoded-word exceeds 75 characters. */
function encodedWords(text: string): string {
  const maxBytes = 45; // 60 base64 characters inside `=?UTF-8?B?…?=`: 72 in all
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

/**
 * SES's rules for a custom header (MessageHeader, https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_MessageHeader.html):
 * the name 1-126 printable ASCII characters without `:` (`^[!-9;-@A-~]+$`), the value 1-870 printable ASCII
 * characters (`[ -~]*`). Other providers encode non-ASCII values and take longer or empty ones, so a header
 * outside these rules is SES's limit, not the message's fault.
 */
const SES_HEADER_NAME = /^[!-9;-@A-~]{1,126}$/;
const SES_HEADER_VALUE = /^[ -~]{1,870}$/;

/**
 * Refuses, before any request, a message whose custom headers SES would not take, as provider-level
 * `PROVIDER_REJECTED`: the send fails over to a provider that can carry them. Names the header, never its value.
 */
export function checkSesHeaders(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!SES_HEADER_NAME.test(name)) {
      throw new ProviderError(
        'PROVIDER_REJECTED',
        `SES cannot send the header ${excerpt(name, 60)}: names are 1-126 printable ASCII characters`,
        { provider: PROVIDER },
      );
    }
    if (!SES_HEADER_VALUE.test(value)) {
      throw new ProviderError(
        'PROVIDER_REJECTED',
        `SES cannot send the value of header ${name} (${value.length} characters): values are 1-870 printable ASCII characters`,
        { provider: PROVIDER },
      );
    }
  }
}

/** Runs one SDK call within the caller's deadline, turning every failure into a classified ProviderError. */
async function callSes<T>(
  ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
  operation: HttpOperation,
  call: (abortSignal: AbortSignal, scope: HttpCallScope) => Promise<T>,
): Promise<T> {
  return runHttpCall(
    ctx,
    { provider: PROVIDER, label: 'SES', operation },
    (scope) => call(scope.signal, scope),
    (error) => classifySesError(error, operation),
  );
}

/** What the AWS SDK puts on a service error: the wire type as `name`, the HTTP status in `$metadata`. */
interface AwsErrorLike {
  name: string;
  message: string;
  code?: unknown;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/**
 * SES error types (the `x-amzn-ErrorType` of the answer) and the failure each one is: SendEmail's errors
 * (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors, the `@throws` of
 * SendEmailCommand in @aws-sdk/client-sesv2) and the common ones
 * (https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html).
 */
const SES_ERRORS: Record<string, ProviderErrorCode> = {
  MessageRejected: 'MESSAGE_REJECTED',
  MailFromDomainNotVerifiedException: 'SENDER_UNVERIFIED',
  AccountSuspendedException: 'ACCOUNT_SUSPENDED',
  SendingPausedException: 'ACCOUNT_SUSPENDED',
  TooManyRequestsException: 'PROVIDER_RATE_LIMITED',
  ThrottlingException: 'PROVIDER_RATE_LIMITED',
  Throttling: 'PROVIDER_RATE_LIMITED',
  // "There are too many instances of the specified resource type" (LimitExceededException in
  // @aws-sdk/client-sesv2 models/errors, listed by SendEmailCommand; https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html):
  // an account resource limit, not a rate. Waiting does not lift it; another provider can send.
  LimitExceededException: 'PROVIDER_REJECTED',
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

/** The error code for an SES error type (`x-amzn-ErrorType`), its message and the HTTP status. */
export function classifySesAnswer(errorType: string, message: string, status: number): ProviderErrorCode {
  if (errorType === 'MessageRejected' && /not verified/i.test(message)) {
    // "Email address is not verified": an identity of the account (the sender, or a recipient while the account
    // is in the sandbox) must be verified first. Another provider can send the same message.
    return 'SENDER_UNVERIFIED';
  }
  if (errorType === 'BadRequestException') {
    // A malformed address is the message's fault; other bad requests (tags, configuration) are this provider's.
    return /address/i.test(message) ? 'MESSAGE_REJECTED' : 'PROVIDER_REJECTED';
  }
  return SES_ERRORS[errorType] ?? codeForHttpStatus(status);
}

function classifySesError(error: unknown, operation: HttpOperation): ProviderError {
  if (isProviderError(error)) return error;
  if (!(error instanceof Error)) {
    return new ProviderError('ADAPTER_ERROR', `SES SDK failed: ${excerpt(String(error))}`, {
      provider: PROVIDER,
    });
  }
  const aws = error as AwsErrorLike;
  const status = aws.$metadata?.httpStatusCode;
  const mayHaveBeenSent = operation === 'send';
  if (status === undefined) return transportError(aws, mayHaveBeenSent);
  if (aws.name === 'SyntaxError') {
    // An answer whose body is not the JSON SES sends (a proxy page, a cut-off body).
    const accepted = status >= 200 && status < 300;
    return new ProviderError(
      accepted ? 'PROVIDER_UNAVAILABLE' : codeForHttpStatus(status),
      `SES answered ${status} with a body that could not be read`,
      { provider: PROVIDER, status, ambiguous: accepted && mayHaveBeenSent },
    );
  }
  const code = classifySesAnswer(aws.name, aws.message, status);
  const options: ConstructorParameters<typeof ProviderError>[2] = {
    provider: PROVIDER,
    status,
    providerCode: aws.name,
  };
  if (code === 'PROVIDER_RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE') {
    const retryAfterMs = retryAfterFromHeaders(aws.$response?.headers);
    if (retryAfterMs !== undefined) options.retryAfterMs = retryAfterMs;
  }
  const what = { send: 'the message', verify: 'the credential check', domains: 'the identity listing' }[
    operation
  ];
  return new ProviderError(
    code,
    `SES refused ${what} (${status} ${aws.name}): ${excerpt(aws.message)}`,
    options,
  );
}

/** A failure without an answer: the connection failed, broke or timed out. */
function transportError(error: AwsErrorLike, mayHaveBeenSent: boolean): ProviderError {
  const code = isNetworkErrorCode(error.code) ? error.code : undefined;
  // The handler renames ECONNRESET and EPIPE to TimeoutError, so the code is read first.
  if (code && code !== 'ETIMEDOUT') {
    const failure = classifyNetworkErrorCode(code);
    return new ProviderError(failure.code, `Could not reach SES (${code})`, {
      provider: PROVIDER,
      ambiguous: mayHaveBeenSent && failure.ambiguous,
    });
  }
  if (error.name === 'TimeoutError' || code === 'ETIMEDOUT') {
    // The connection timer fires before anything was sent; the request and socket timers after.
    const connecting = /establish a connection/i.test(error.message);
    return new ProviderError('PROVIDER_TIMEOUT', 'SES did not answer in time', {
      provider: PROVIDER,
      ambiguous: mayHaveBeenSent && !connecting,
    });
  }
  return new ProviderError('NETWORK_ERROR', `Could not reach SES (${error.name})`, {
    provider: PROVIDER,
    ambiguous: mayHaveBeenSent,
  });
}

/** Options of {@link ses}. None yet: everything is in the provider config. */
export type SesAdapterOptions = Record<string, never>;

/**
 * The Amazon SES adapter. Needs `@aws-sdk/client-sesv2` installed (`npm install @aws-sdk/client-sesv2`). One SDK
 * client (with its own keep-alive connections) per provider config, created on first use and destroyed when the
 * config changes, is removed, or the adapter closes.
 */
export function ses(_options: SesAdapterOptions = {}): BuiltInAdapter<'ses'> {
  const clients = new ClientPool<SesConfig, SesHandle>(createHandle, (handle) => handle.client.destroy());

  return {
    provider: PROVIDER,
    channel: 'email',
    configSchema: sesConfigSchema,
    // docs.aws.amazon.com/ses/latest/dg/quotas.html: 50 recipients per message; 40 MB with the v2 API (after base64).
    limits: { maxRecipients: 50, maxMessageBytes: 40_000_000 },
    webhook: sesWebhook,
    // The SDK is loaded before the attempt's timer starts (see `Adapter.load`). SigV4 never puts the secret key
    // on the wire, so there is no derived form to declare.
    load: async () => {
      await loadOptional(PACKAGE, PROVIDER, () => import('@aws-sdk/client-sesv2'));
    },

    async send(message: OutboundEmail, ctx: SendContext<SesConfig>): Promise<SendReceipt> {
      const { sdk, client } = await clients.get(ctx);
      if (message.attachments.length > 0 && !('AttachmentContentDisposition' in sdk)) {
        throw new ProviderError(
          'ADAPTER_ERROR',
          `This version of ${PACKAGE} cannot send attachments with SendEmail: upgrade it`,
          { provider: PROVIDER },
        );
      }
      checkSesHeaders(message.headers);
      const { input, rewrittenTags } = toSendEmailInput(message, ctx.config);
      if (rewrittenTags > 0) {
        ctx.logger.debug('SES tags take only letters, digits, _ and -: some tags were rewritten', {
          provider: PROVIDER,
          rewrittenTags,
        });
      }
      let body: string | undefined;
      const answer = await callSes(ctx, 'send', async (abortSignal, scope) => {
        const sent = await client.send(new sdk.SendEmailCommand(input), { abortSignal });
        body = scope.body;
        return sent;
      });
      // The documented answer is 200 `{"MessageId": "…"}`; an empty 200 (which the SDK reads as `{}`) is not it.
      return receiptFromSuccess(ctx.logger, {
        provider: PROVIDER,
        label: 'Amazon SES',
        status: answer.$metadata.httpStatusCode,
        messageId: answer.MessageId,
        documented: isJsonObjectText(body),
      });
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
        // AccessDeniedException: the key signed correctly but may not call GetAccount, as a key allowed only
        // ses:SendEmail cannot. That says nothing about sending; unknown or bad keys are
        // UnrecognizedClientException / SignatureDoesNotMatch, which are a verdict.
        if (isProviderError(error) && error.providerCode === 'AccessDeniedException') {
          return cannotCheck('GetAccount', error);
        }
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
          productionAccessEnabled: account.ProductionAccessEnabled === true,
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
          const request = new sdk.ListEmailIdentitiesCommand({ PageSize: PAGE_SIZE, NextToken: nextToken });
          const answer = await callSes(ctx, 'domains', (abortSignal) =>
            client.send(request, { abortSignal }),
          );
          found.push(...(answer.EmailIdentities ?? []));
          nextToken = answer.NextToken || undefined;
          if (!nextToken) break;
        }
        return found;
      });
      return identities.flatMap((identity): DomainStatus[] =>
        identity.IdentityName
          ? [
              {
                domain: identity.IdentityName,
                verified: identity.VerificationStatus === 'SUCCESS',
                details: {
                  kind: identity.IdentityType === 'EMAIL_ADDRESS' ? 'sender' : 'domain',
                  identityType: identity.IdentityType ?? null,
                  verificationStatus: identity.VerificationStatus ?? null,
                  sendingEnabled: identity.SendingEnabled === true,
                },
              },
            ]
          : [],
      );
    },

    release: (providerConfigId: string, projectId: string) => clients.release(providerConfigId, projectId),
    close: () => clients.close(),
  };
}
