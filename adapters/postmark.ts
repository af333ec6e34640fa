import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Adapter,
  type AdapterCallContext,
  ClientPool,
  type DomainStatus,
  type EmailAddress,
  type EmailAttachment,
  isProviderError,
  loadOptional,
  MessagePipeError,
  type OutboundEmail,
  type PostmarkConfig,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type SendReceipt,
  type VerifyResult,
} from 'messagepipe';
import type { Models, ServerClient } from 'postmark';

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

/**
 * What one SDK call needs and leaves behind. The SDK builds its own abort signal (from its timeout option) and keeps
 * neither response headers nor the network error's code, so a per-call scope lets our `fetch` add the caller's
 * signal and record both, while the client itself stays shared by every send of a provider config.
 */
interface CallScope {
  signal: AbortSignal;
  response?: { status: number; headers: Headers };
  transportError?: unknown;
}

const callScopes = new AsyncLocalStorage<CallScope>();

const scopedFetch: FetchImplementation = async (input, init) => {
  const scope = callScopes.getStore();
  if (!scope) return fetch(input, init);
  const signal = init?.signal ? AbortSignal.any([init.signal, scope.signal]) : scope.signal;
  try {
    const response = await fetch(input, { ...init, signal });
    scope.response = { status: response.status, headers: response.headers };
    return response;
  } catch (error) {
    scope.transportError = error;
    throw error;
  }
};

/**
 * Postmark adapter on the official `postmark` SDK (`npm install postmark`). Sends through `POST /email` with the
 * server token, checks credentials with `GET /server`, and lists domains and sender signatures when the config
 * holds the optional account token.
 *
 * @example
 * ```ts
 * import { postmark } from 'messagepipe/adapters/postmark';
 * const pipe = new Dispatcher({ adapters: [postmark()] });
 * ```
 */
export function postmark(): Adapter<'email', PostmarkConfig> {
  const clients = new ClientPool<PostmarkConfig, ServerClient>(async (config) => {
    const sdk = await loadSdk();
    return new sdk.ServerClient(config.serverToken, clientOptions(config));
  });

  return {
    provider: PROVIDER,
    channel: 'email',

    async send(message: OutboundEmail, ctx: SendContext<PostmarkConfig>): Promise<SendReceipt> {
      const client = await clients.get(ctx);
      const request = toPostmarkMessage(message, ctx.config, ctx);
      const answer = await callPostmark(ctx, 'send', () => client.sendEmail(request));
      if (answer.ErrorCode !== undefined && answer.ErrorCode !== 0) {
        throw classifyAnswer(200, answer.ErrorCode, answer.Message ?? '', 'send', undefined);
      }
      if (typeof answer.MessageID !== 'string' || answer.MessageID === '') {
        // A 2xx without an id (a proxy page, a truncated body): the message may well have been accepted.
        throw new ProviderError('PROVIDER_UNAVAILABLE', 'Postmark answered without a MessageID', {
          provider: PROVIDER,
          status: 200,
          ambiguous: true,
        });
      }
      return { messageId: answer.MessageID };
    },

    async verify(config: PostmarkConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      try {
        const server = await clients.withTemporary(config, (client) =>
          callPostmark(ctx, 'verify', () => client.getServer()),
        );
        // Never return the whole record: `ApiTokens` holds the server's tokens.
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
        throw new MessagePipeError(
          'NOT_SUPPORTED',
          'Listing Postmark domains needs the account API token: set accountToken in the provider config',
          { provider: PROVIDER },
        );
      }
      const sdk = await loadSdk();
      const account = new sdk.AccountClient(config.accountToken, clientOptions(config));
      const [domains, senders] = await Promise.all([
        listAll(ctx, (page) => account.getDomains(page), 'Domains'),
        listAll(ctx, (page) => account.getSenderSignatures(page), 'SenderSignatures'),
      ]);
      return [
        ...domains.map(
          (domain): DomainStatus => ({
            domain: domain.Name,
            // DKIM is what Postmark requires before a domain may send; SPF and Return-Path improve delivery.
            verified: domain.DKIMVerified === true,
            details: {
              type: 'domain',
              dkimVerified: domain.DKIMVerified,
              spfVerified: domain.SPFVerified,
              returnPathVerified: domain.ReturnPathDomainVerified,
              weakDkim: domain.WeakDKIM,
            },
          }),
        ),
        ...senders.map(
          (sender): DomainStatus => ({
            domain: sender.EmailAddress,
            verified: sender.Confirmed === true,
            details: { type: 'sender-signature', name: sender.Name, senderDomain: sender.Domain },
          }),
        ),
      ];
    },

    release: (providerConfigId) => clients.release(providerConfigId),
    close: () => clients.close(),
  };
}

function loadSdk(): Promise<PostmarkModule> {
  return loadOptional(PACKAGE, PROVIDER, () => import('postmark'));
}

function clientOptions(config: PostmarkConfig): Models.ClientOptions.Configuration {
  const origin = config.endpoint ? new URL(config.endpoint) : undefined;
  return {
    useHttps: origin ? origin.protocol === 'https:' : true,
    requestHost: origin ? origin.host : DEFAULT_HOST,
    // The SDK takes seconds; our own per-call signal enforces the exact budget.
    timeout: Math.ceil((config.timeoutMs ?? SDK_TIMEOUT_MS) / 1000),
    fetch: scopedFetch,
  };
}

/** Maps our message to Postmark's `POST /email` body. */
function toPostmarkMessage(
  message: OutboundEmail,
  config: PostmarkConfig,
  ctx: AdapterCallContext,
): Models.Message {
  const request: Models.Message = {
    From: formatAddress(message.from),
    To: formatList(message.to),
    Subject: message.subject,
    MessageStream: config.messageStream ?? 'outbound',
  };
  if (message.cc.length > 0) request.Cc = formatList(message.cc);
  if (message.bcc.length > 0) request.Bcc = formatList(message.bcc);
  if (message.replyTo.length > 0) request.ReplyTo = formatList(message.replyTo);
  if (message.text !== undefined) request.TextBody = message.text;
  if (message.html !== undefined) request.HtmlBody = message.html;
  const [tag, ...extraTags] = message.tags;
  if (tag !== undefined) request.Tag = tag;
  if (extraTags.length > 0) {
    ctx.logger.debug('Postmark keeps one tag per message; the others are not sent', {
      provider: PROVIDER,
      dropped: extraTags.length,
    });
  }
  if (Object.keys(message.metadata).length > 0) request.Metadata = { ...message.metadata };
  const headers = Object.entries(message.headers);
  if (headers.length > 0) request.Headers = headers.map(([Name, Value]) => ({ Name, Value }));
  if (message.attachments.length > 0) request.Attachments = message.attachments.map(toPostmarkAttachment);
  return request;
}

function toPostmarkAttachment(attachment: EmailAttachment): Models.Attachment {
  return {
    Name: attachment.filename,
    Content: Buffer.from(attachment.content).toString('base64'),
    ContentType: attachment.contentType ?? 'application/octet-stream',
    // Postmark makes a part inline when it has a ContentID, written as a `cid:` reference.
    ContentID:
      attachment.disposition === 'inline' && attachment.contentId ? `cid:${attachment.contentId}` : null,
  };
}

/** `"Name" <email>`, quoting the name so commas and angle brackets in it cannot split the list. */
function formatAddress(address: EmailAddress): string {
  if (!address.name) return address.email;
  return `"${address.name.replace(/[\\"]/g, '\\$&')}" <${address.email}>`;
}

function formatList(addresses: readonly EmailAddress[]): string {
  return addresses.map(formatAddress).join(', ');
}

type Operation = 'send' | 'verify' | 'domains';

/** Runs one SDK call with the caller's signal and time budget, turning every failure into a ProviderError. */
async function callPostmark<T>(
  ctx: AdapterCallContext,
  operation: Operation,
  call: () => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(ctx.timeoutMs);
  const scope: CallScope = { signal: AbortSignal.any([ctx.signal, timeout]) };
  try {
    return await callScopes.run(scope, call);
  } catch (error) {
    if (ctx.signal.aborted) throw abortedError(ctx.signal.reason);
    if (timeout.aborted) {
      throw new ProviderError('PROVIDER_TIMEOUT', `Postmark did not answer within ${ctx.timeoutMs} ms`, {
        provider: PROVIDER,
        ambiguous: operation === 'send',
      });
    }
    throw classifyFailure(error, scope, operation);
  }
}

function abortedError(reason: unknown): ProviderError {
  if (isProviderError(reason)) return reason;
  return new ProviderError(
    'PROVIDER_TIMEOUT',
    'The Postmark request was abandoned before an answer came back',
    {
      provider: PROVIDER,
      ambiguous: true,
    },
  );
}

/** Shape of the SDK's `PostmarkError`: `statusCode` 0 means no answer came back. */
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

function classifyFailure(error: unknown, scope: CallScope, operation: Operation): ProviderError {
  if (isProviderError(error)) return error;
  if (!isPostmarkError(error)) {
    // The body stream broke after the answer began: Postmark had the request.
    return networkError(error, operation === 'send' && scope.response !== undefined);
  }
  if (error.statusCode === 0) {
    return scope.transportError === undefined
      ? new ProviderError('ADAPTER_ERROR', `Postmark SDK failed: ${error.message}`, { provider: PROVIDER })
      : networkError(scope.transportError, operation === 'send');
  }
  return classifyAnswer(error.statusCode, error.code, error.message, operation, scope.response?.headers);
}

/** Network codes that prove the request never left: failing over cannot deliver twice. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Classifies a failed fetch by the code undici puts on the error or its cause. */
function networkError(error: unknown, mayHaveBeenSent: boolean): ProviderError {
  const code = errorCodeOf(error);
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new ProviderError('PROVIDER_TIMEOUT', 'Postmark did not answer in time', {
      provider: PROVIDER,
      ambiguous: mayHaveBeenSent,
    });
  }
  if (code && TIMEOUT_CODES.has(code)) {
    return new ProviderError('PROVIDER_TIMEOUT', `Postmark did not answer in time (${code})`, {
      provider: PROVIDER,
      ambiguous: mayHaveBeenSent,
    });
  }
  const notSent = code !== undefined && NOT_SENT_CODES.has(code);
  return new ProviderError('NETWORK_ERROR', `Could not reach Postmark (${code ?? 'connection failed'})`, {
    provider: PROVIDER,
    ambiguous: mayHaveBeenSent && !notSent,
  });
}

function errorCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Postmark `ErrorCode`s of a 422 answer and the failure each one is. */
const UNPROCESSABLE: Partial<Record<number, ProviderErrorCode>> = {
  400: 'SENDER_UNVERIFIED', // Sender signature not found
  401: 'SENDER_UNVERIFIED', // Sender signature not confirmed
  402: 'ADAPTER_ERROR', // Invalid JSON: our request, not the message
  403: 'ADAPTER_ERROR', // Incompatible JSON
  405: 'ACCOUNT_SUSPENDED', // Not allowed to send (credits used up)
  406: 'RECIPIENT_SUPPRESSED', // Inactive recipient (hard bounce, spam complaint, manual suppression)
  409: 'ADAPTER_ERROR', // JSON required
  411: 'MESSAGE_REJECTED', // Forbidden attachment type
  412: 'ACCOUNT_SUSPENDED', // Account pending approval
  413: 'ACCOUNT_SUSPENDED', // Account may not send
};

/** Classifies an answer Postmark gave, by HTTP status and its own `ErrorCode` (see PROVIDERS.md). */
function classifyAnswer(
  status: number,
  errorCode: number,
  providerMessage: string,
  operation: Operation,
  headers: Headers | undefined,
): ProviderError {
  const options = { provider: PROVIDER, status, providerCode: errorCode };
  const detail = `(${status}, ErrorCode ${errorCode}): ${providerMessage}`;
  if (status === 401 || errorCode === 10) {
    return new ProviderError(
      'PROVIDER_INVALID_CREDENTIALS',
      `Postmark refused the ${operation === 'domains' ? 'account' : 'server'} token ${detail}`,
      options,
    );
  }
  if (status === 429 || errorCode === 429) {
    const retryAfterMs = retryAfterOf(headers);
    return new ProviderError('PROVIDER_RATE_LIMITED', `Postmark rate limit reached ${detail}`, {
      ...options,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  // 100 is Postmark's maintenance code; 404 is a proxy or routing fault more often than a real absence.
  if (status >= 500 || status === 404 || errorCode === 100) {
    return new ProviderError('PROVIDER_UNAVAILABLE', `Postmark is unavailable ${detail}`, options);
  }
  const code =
    (status === 422 ? UNPROCESSABLE[errorCode] : undefined) ??
    refineInvalidRequest(errorCode, providerMessage);
  return new ProviderError(code, `Postmark refused the request ${detail}`, options);
}

/**
 * ErrorCode 300 ("Invalid email request") covers both a bad message and a sender Postmark will not accept; the
 * message tells them apart. Anything else unknown is a provider-level refusal, so another provider gets a try.
 */
function refineInvalidRequest(errorCode: number, providerMessage: string): ProviderErrorCode {
  if (errorCode !== 300) return 'PROVIDER_REJECTED';
  if (/'From'|sender signature|not (?:been )?(?:verified|confirmed)/i.test(providerMessage)) {
    return 'SENDER_UNVERIFIED';
  }
  if (/'(?:To|Cc|Bcc)'|recipient/i.test(providerMessage)) return 'RECIPIENT_INVALID';
  return 'MESSAGE_REJECTED';
}

/** `Retry-After` in seconds or as an HTTP date, when Postmark (or a proxy in front of it) sends one. */
function retryAfterOf(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Reads every page of a Postmark account listing. */
async function listAll<K extends 'Domains' | 'SenderSignatures', Item>(
  ctx: AdapterCallContext,
  fetchPage: (page: { count: number; offset: number }) => Promise<{ TotalCount: number } & Record<K, Item[]>>,
  key: K,
): Promise<Item[]> {
  const items: Item[] = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await callPostmark(ctx, 'domains', () =>
      fetchPage({ count: PAGE_SIZE, offset: items.length }),
    );
    const batch = answer[key] ?? [];
    items.push(...batch);
    if (batch.length < PAGE_SIZE || items.length >= answer.TotalCount) break;
  }
  return items;
}
