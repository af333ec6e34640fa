/**
 * Postmark adapter, on the official `postmark` SDK (v4/v5). Sends with `POST /email` and the server token; the
 * message id is `MessageID` of the answer. Credentials are checked with `GET /server`; domains and sender
 * signatures are listed with the optional account token.
 *
 * @example
 * ```ts
 * import { Dispatcher } from 'messagepipe';
 * import { postmark } from 'messagepipe/adapters/postmark';
 * const pipe = new Dispatcher({ adapters: [postmark()] });
 * ```
 */
import {
  type AdapterCallContext,
  type BuiltInAdapter,
  ClientPool,
  type DomainStatus,
  type EmailAttachment,
  isProviderError,
  loadOptional,
  MessagePipeError,
  type OutboundEmail,
  type PostmarkConfig,
  ProviderError,
  type ProviderErrorCode,
  postmarkConfigSchema,
  type SendContext,
  type SendReceipt,
  type VerifyResult,
} from 'messagepipe';
import type { Models, ServerClient } from 'postmark';
import { formatAddress, toBase64 } from './_shared/email';
import { guardedFetch, type HttpCallScope, type HttpOperation, runHttpCall } from './_shared/http';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  isNetworkErrorCode,
  retryAfterFromHeaders,
} from './_shared/http-errors';
import { receiptFromSuccess } from './_shared/message-id';
import { postmarkWebhook } from './webhooks/postmark';

const PROVIDER = 'postmark';
const PACKAGE = 'postmark';
const DEFAULT_HOST = 'api.postmarkapp.com';
/** The SDK's own default, passed explicitly so a change to the shared `HttpClient.DefaultOptions` cannot matter. */
const SDK_TIMEOUT_MS = 180_000;
/** Largest page the domain and sender listings accept. */
const PAGE_SIZE = 500;
/** Stops a listing that never ends (a misbehaving API or proxy) from looping forever. */
const MAX_PAGES = 20;

type PostmarkModule = typeof import('postmark');
type FetchImplementation = NonNullable<Models.ClientOptions.Configuration['fetch']>;

/** The SDK's `fetch` option: our transport, which refuses redirects and bounds answers (see `_shared/http.ts`). */
const postmarkFetch: FetchImplementation = guardedFetch(PROVIDER, { label: 'Postmark' });

async function loadSdk(): Promise<PostmarkModule> {
  return loadOptional(PACKAGE, PROVIDER, () => import('postmark'));
}

/**
 * SDK options for a config: host from `endpoint`, timeout in **seconds**, our signal-aware `fetch`.
 * @internal Left out of the published types: postmark's own types need the DOM lib (`RequestInfo`).
 */
export function postmarkClientOptions(config: PostmarkConfig): Models.ClientOptions.Configuration {
  const origin = config.endpoint ? new URL(config.endpoint) : undefined;
  return {
    useHttps: origin ? origin.protocol === 'https:' : true,
    requestHost: origin ? origin.host : DEFAULT_HOST,
    // A backstop only: the per-call deadline enforces the exact budget in milliseconds.
    timeout: Math.ceil((config.timeoutMs ?? SDK_TIMEOUT_MS) / 1000),
    fetch: postmarkFetch,
  };
}

/**
 * The `POST /email` body for a message. Postmark takes one tag: the first one is sent (the rest are reported
 * in `droppedTags`). Metadata goes as it is; attachments with a content id become inline `cid:` parts.
 * @internal Left out of the published types, like {@link postmarkClientOptions}.
 */
export function toPostmarkMessage(
  message: OutboundEmail,
  config: Pick<PostmarkConfig, 'messageStream'>,
): { request: Models.Message; droppedTags: string[] } {
  const request: Models.Message = {
    From: formatAddress(message.from),
    To: message.to.map(formatAddress).join(', '),
    Subject: message.subject,
    MessageStream: config.messageStream ?? 'outbound',
  };
  if (message.cc.length > 0) request.Cc = message.cc.map(formatAddress).join(', ');
  if (message.bcc.length > 0) request.Bcc = message.bcc.map(formatAddress).join(', ');
  if (message.replyTo.length > 0) request.ReplyTo = message.replyTo.map(formatAddress).join(', ');
  if (message.text !== undefined) request.TextBody = message.text;
  if (message.html !== undefined) request.HtmlBody = message.html;
  const [tag, ...droppedTags] = message.tags;
  if (tag !== undefined) request.Tag = tag;
  if (Object.keys(message.metadata).length > 0) request.Metadata = { ...message.metadata };
  const headers = Object.entries(message.headers);
  if (headers.length > 0) request.Headers = headers.map(([Name, Value]) => ({ Name, Value }));
  if (message.attachments.length > 0) request.Attachments = message.attachments.map(toPostmarkAttachment);
  return { request, droppedTags };
}

function toPostmarkAttachment(attachment: EmailAttachment): Models.Attachment {
  return {
    Name: attachment.filename,
    Content: toBase64(attachment.content),
    ContentType: attachment.contentType ?? 'application/octet-stream',
    // Postmark makes a part inline when it has a ContentID, written as a `cid:` reference.
    ContentID:
      attachment.disposition === 'inline' && attachment.contentId ? `cid:${attachment.contentId}` : null,
  };
}

/** Runs one SDK call within the caller's deadline, turning every failure into a classified ProviderError. */
async function callPostmark<T>(
  ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
  operation: HttpOperation,
  call: () => Promise<T>,
): Promise<T> {
  return runHttpCall(ctx, { provider: PROVIDER, label: 'Postmark', operation }, call, (error, scope) =>
    classifyFailure(error, scope, operation),
  );
}

/** The SDK's `PostmarkError`: `statusCode` 0 means no answer came back. */
interface PostmarkErrorLike {
  message: string;
  statusCode: number;
  code: number;
}

function isPostmarkError(error: unknown): error is PostmarkErrorLike {
  return (
    error instanceof Error &&
    typeof (error as Partial<PostmarkErrorLike>).statusCode === 'number' &&
    typeof (error as Partial<PostmarkErrorLike>).code === 'number'
  );
}

function classifyFailure(error: unknown, scope: HttpCallScope, operation: HttpOperation): ProviderError {
  if (isProviderError(error)) return error;
  const mayHaveBeenSent = operation === 'send';
  if (!isPostmarkError(error)) {
    // Reading the body failed after the answer began: Postmark had the request.
    return networkError(error, mayHaveBeenSent && scope.response !== undefined);
  }
  if (error.statusCode === 0) {
    // No answer came back. postmark 4 (axios inside) bypasses our fetch and leaves the code in the message only.
    return networkError(scope.transportError ?? error, mayHaveBeenSent);
  }
  return classifyAnswer(error.statusCode, error.code, error.message, operation, scope.response?.headers);
}

/** A failed `fetch`: undici puts the socket's code on the error's `cause`. */
function networkError(error: unknown, mayHaveBeenSent: boolean): ProviderError {
  if (error instanceof Error && error.name === 'TimeoutError') {
    // The SDK's own timer, set from `timeoutMs`.
    return new ProviderError('PROVIDER_TIMEOUT', 'Postmark did not answer in time', {
      provider: PROVIDER,
      ambiguous: mayHaveBeenSent,
    });
  }
  const code = networkCodeOf(error);
  const failure = code ? classifyNetworkErrorCode(code) : { code: 'NETWORK_ERROR' as const, ambiguous: true };
  return new ProviderError(failure.code, `Could not reach Postmark (${code ?? 'connection failed'})`, {
    provider: PROVIDER,
    ambiguous: mayHaveBeenSent && failure.ambiguous,
  });
}

function networkCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (isNetworkErrorCode(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  const message = error instanceof Error ? error.message : '';
  const named = /\b(E[A-Z]{3,}|ERR_[A-Z_]+|UND_ERR_[A-Z_]+)\b/.exec(message)?.[1];
  if (named) return named;
  // axios: "timeout of 5000ms exceeded".
  return /\btimeout of \d+ms exceeded\b/.test(message) ? 'ETIMEDOUT' : undefined;
}

/**
 * Postmark `ErrorCode`s of a 422 answer that say more than the status
 * (https://postmarkapp.com/developer/api/overview#error-codes).
 */
const UNPROCESSABLE: Partial<Record<number, ProviderErrorCode>> = {
  400: 'SENDER_UNVERIFIED', // Sender signature not found
  401: 'SENDER_UNVERIFIED', // Sender signature not confirmed
  402: 'ADAPTER_ERROR', // Invalid JSON: our request, not the message
  403: 'ADAPTER_ERROR', // Incompatible JSON
  405: 'ACCOUNT_SUSPENDED', // Not allowed to send (out of credits)
  406: 'RECIPIENT_SUPPRESSED', // Inactive recipient: hard bounce, spam complaint or manual suppression
  409: 'ADAPTER_ERROR', // JSON required
  411: 'MESSAGE_REJECTED', // Forbidden attachment type
  412: 'ACCOUNT_SUSPENDED', // Account pending approval
  413: 'ACCOUNT_SUSPENDED', // Account may not send
};

/** Classifies an answer Postmark gave, by HTTP status and its own `ErrorCode` (PROVIDERS.md, Postmark). */
export function classifyPostmarkAnswer(
  status: number,
  errorCode: number,
  providerMessage: string,
): ProviderErrorCode {
  if (status === 401 || errorCode === 10) return 'PROVIDER_INVALID_CREDENTIALS';
  if (status === 429 || errorCode === 429) return 'PROVIDER_RATE_LIMITED';
  // ErrorCode 100 is Postmark's maintenance answer.
  if (status >= 500 || errorCode === 100) return 'PROVIDER_UNAVAILABLE';
  if (status === 422) {
    const known = UNPROCESSABLE[errorCode];
    if (known) return known;
    if (errorCode === 300) return refineInvalidRequest(providerMessage);
    // An ErrorCode we do not know (message streams, server settings, new codes) is not proof the message is at
    // fault: let another provider try.
    return 'PROVIDER_REJECTED';
  }
  return codeForHttpStatus(status);
}

/**
 * A recipient Postmark cannot parse: "Invalid 'To' address: 'x'", "Error parsing 'Cc': Illegal email address
 * 'x'" (https://postmarkapp.com/developer/api/overview#error-codes, ErrorCode 300). Only these are about the
 * recipient; other ErrorCode 300 wording that names recipients ("You may not have more than 50 recipients") is
 * Postmark's own limit, which another provider would accept.
 */
const BAD_RECIPIENT = /\b(?:Invalid|Error parsing) '(?:To|Cc|Bcc)'/i;
/**
 * Postmark's cap of 50 recipients per message across To, Cc and Bcc, an ErrorCode 300
 * (https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean).
 */
const RECIPIENT_LIMIT = /\b(?:more than|maximum of) \d+ recipients\b/i;

/**
 * ErrorCode 300 ("Invalid email request") covers a bad message, a sender Postmark will not send from, and
 * Postmark's own limits; the message tells them apart.
 */
function refineInvalidRequest(providerMessage: string): ProviderErrorCode {
  if (/'From'|sender signature|not (?:been )?(?:verified|confirmed)/i.test(providerMessage)) {
    return 'SENDER_UNVERIFIED';
  }
  // Metadata limits, message streams and the recipient cap are this provider's: another one takes the message.
  if (/metadata|message ?stream/i.test(providerMessage) || RECIPIENT_LIMIT.test(providerMessage)) {
    return 'PROVIDER_REJECTED';
  }
  if (BAD_RECIPIENT.test(providerMessage)) return 'RECIPIENT_INVALID';
  return 'MESSAGE_REJECTED';
}

/**
 * The inactive recipients of an accepted send. Postmark answers 200 with ErrorCode 0 and "Message OK, but will
 * not deliver to these inactive addresses: a@x.test, b@x.test" when some recipients are suppressed (hard bounce,
 * spam complaint, manual suppression) and the others are fine (postmark.js#87; the same pattern as
 * `InactiveRecipientsError.inactiveRecipientsPatterns` in postmark 5.1 dist/client/errors/Errors.js). Empty when
 * the message names none.
 */
export function inactiveRecipientsOf(providerMessage: unknown): string[] {
  if (typeof providerMessage !== 'string') return [];
  const match = /will not deliver to these inactive addresses: (.+?)\.?(?:\s+Inactive\b.*)?$/is.exec(
    providerMessage,
  );
  if (!match?.[1]) return [];
  return match[1]
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address !== '');
}

function classifyAnswer(
  status: number,
  errorCode: number,
  providerMessage: string,
  operation: HttpOperation,
  headers: Headers | undefined,
): ProviderError {
  const code = classifyPostmarkAnswer(status, errorCode, providerMessage);
  const what = { send: 'the message', verify: 'the credential check', domains: 'the domain listing' }[
    operation
  ];
  const options: ConstructorParameters<typeof ProviderError>[2] = {
    provider: PROVIDER,
    status,
    providerCode: errorCode,
  };
  if (code === 'PROVIDER_RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE') {
    const retryAfterMs = retryAfterFromHeaders(headers);
    if (retryAfterMs !== undefined) options.retryAfterMs = retryAfterMs;
  }
  return new ProviderError(
    code,
    `Postmark refused ${what} (${status}, ErrorCode ${errorCode}): ${excerpt(providerMessage)}`,
    options,
  );
}

/** Reads every page of a Postmark account listing. */
async function listAll<Item>(
  ctx: AdapterCallContext,
  fetchPage: (page: { count: number; offset: number }) => Promise<{ TotalCount: number; items: Item[] }>,
): Promise<Item[]> {
  const items: Item[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await callPostmark(ctx, 'domains', () =>
      fetchPage({ count: PAGE_SIZE, offset: items.length }),
    );
    items.push(...answer.items);
    if (answer.items.length < PAGE_SIZE || items.length >= answer.TotalCount) break;
  }
  return items;
}

/** Options of {@link postmark}. None yet: everything is in the provider config. */
export type PostmarkAdapterOptions = Record<string, never>;

/**
 * The Postmark adapter. Needs `postmark` installed (`npm install postmark`). One SDK client per provider config,
 * created on first use and kept until the config changes, is removed, or the adapter closes. The SDK sends
 * through Node's global `fetch`, whose connection pool is shared by the process.
 */
export function postmark(_options: PostmarkAdapterOptions = {}): BuiltInAdapter<'postmark'> {
  const clients = new ClientPool<PostmarkConfig, ServerClient>(async (config) => {
    const sdk = await loadSdk();
    return new sdk.ServerClient(config.serverToken, postmarkClientOptions(config));
  });

  return {
    provider: PROVIDER,
    channel: 'email',
    configSchema: postmarkConfigSchema,
    // postmarkapp.com/developer: at most 50 recipients (To, Cc and Bcc) and 10 MB (counted after base64 encoding).
    limits: { maxRecipients: 50, maxMessageBytes: 10_000_000 },
    webhook: postmarkWebhook,
    // The SDK is loaded before the attempt's timer starts (see `Adapter.load`).
    load: async () => {
      await loadSdk();
    },

    async send(message: OutboundEmail, ctx: SendContext<PostmarkConfig>): Promise<SendReceipt> {
      const client = await clients.get(ctx);
      const { request, droppedTags } = toPostmarkMessage(message, ctx.config);
      if (droppedTags.length > 0) {
        ctx.logger.debug('Postmark takes one tag per message; the others were not sent', {
          provider: PROVIDER,
          droppedTags: droppedTags.length,
        });
      }
      const answer = await callPostmark(ctx, 'send', () => client.sendEmail(request));
      // The documented answer is `{To, SubmittedAt, MessageID, ErrorCode: 0, Message: "OK"}`.
      const readable = typeof answer === 'object' && answer !== null;
      const { messageId } = receiptFromSuccess(ctx.logger, {
        provider: PROVIDER,
        label: 'Postmark',
        messageId: readable && typeof answer.MessageID === 'string' ? answer.MessageID : undefined,
        documented: readable && (answer.ErrorCode === 0 || typeof answer.Message === 'string'),
      });
      const inactive = readable && answer.ErrorCode === 0 ? inactiveRecipientsOf(answer.Message) : [];
      if (inactive.length === 0) return { messageId };
      // A partial delivery: the others get the message, so it counts as sent, as with SMTP's refused RCPTs.
      ctx.logger.warn(
        `Postmark accepted the message but will not deliver it to ${inactive.length} inactive recipient(s)`,
        { provider: PROVIDER, providerConfigId: ctx.providerConfigId, messageId, rejected: inactive },
      );
      return { messageId, rejectedRecipients: inactive };
    },

    async verify(config: PostmarkConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      try {
        const server = await clients.withTemporary(config, (client) =>
          callPostmark(ctx, 'verify', () => client.getServer()),
        );
        // Never the whole record: `ApiTokens` holds the server's tokens.
        return {
          valid: true,
          details: { serverId: server.ID, serverName: server.Name, deliveryType: server.DeliveryType },
        };
      } catch (error) {
        if (isProviderError(error) && error.code === 'PROVIDER_INVALID_CREDENTIALS') {
          return { valid: false, reason: error.message };
        }
        throw error;
      }
    },

    async domains(config: PostmarkConfig, ctx: AdapterCallContext): Promise<DomainStatus[]> {
      if (!config.accountToken) {
        // The server token cannot see domains or sender signatures; an empty list would read as "none".
        throw new MessagePipeError(
          'NOT_SUPPORTED',
          'Listing Postmark domains needs the account API token: set accountToken in the provider config',
          { provider: PROVIDER },
        );
      }
      const sdk = await loadSdk();
      const account = new sdk.AccountClient(config.accountToken, postmarkClientOptions(config));
      const domains = await listAll(ctx, async (page) => {
        const answer = await account.getDomains(page);
        return { TotalCount: answer.TotalCount, items: answer.Domains ?? [] };
      });
      const senders = await listAll(ctx, async (page) => {
        const answer = await account.getSenderSignatures(page);
        return { TotalCount: answer.TotalCount, items: answer.SenderSignatures ?? [] };
      });
      return [
        ...domains.map(
          (domain): DomainStatus => ({
            domain: domain.Name,
            // DKIM is what Postmark requires before a domain may send; Return-Path and SPF help delivery.
            verified: domain.DKIMVerified === true,
            details: {
              kind: 'domain',
              id: domain.ID,
              dkimVerified: domain.DKIMVerified === true,
              returnPathVerified: domain.ReturnPathDomainVerified === true,
              spfVerified: domain.SPFVerified === true,
            },
          }),
        ),
        ...senders.map(
          (sender): DomainStatus => ({
            domain: sender.EmailAddress,
            verified: sender.Confirmed === true,
            details: { kind: 'sender', id: sender.ID, name: sender.Name, senderDomain: sender.Domain },
          }),
        ),
      ];
    },

    release: (providerConfigId: string, projectId: string) => clients.release(providerConfigId, projectId),
    close: () => clients.close(),
  };
}
