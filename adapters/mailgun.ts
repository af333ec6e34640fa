/**
 * Mailgun adapter, on the official `mailgun.js` (v12+). Sends with `POST /v3/{domain}/messages` (multipart form);
 * the message id is the answer's `id` without its angle brackets, as webhooks report it.
 *
 * @example
 * ```ts
 * import { Dispatcher } from 'messagepipe';
 * import { mailgun } from 'messagepipe/adapters/mailgun';
 * const pipe = new Dispatcher({ adapters: [mailgun()] });
 * ```
 */
import {
  type AdapterCallContext,
  type BuiltInAdapter,
  ClientPool,
  type DomainStatus,
  isProviderError,
  loadOptional,
  type MailgunConfig,
  mailgunConfigSchema,
  type OutboundEmail,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type VerifyResult,
} from 'messagepipe';
import { DEFAULT_ATTEMPT_TIMEOUT_MS } from './_shared/deadline';
import { formatAddress, toBuffer } from './_shared/email';
import { guardedFetch, runHttpCall } from './_shared/http';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  isNetworkErrorCode,
} from './_shared/http-errors';
import { receiptFromSuccess } from './_shared/message-id';
import { mailgunWebhook } from './webhooks/mailgun';

const PROVIDER = 'mailgun';
const PACKAGE = 'mailgun.js';

const US_ORIGIN = 'https://api.mailgun.net';
const EU_ORIGIN = 'https://api.eu.mailgun.net';

/** Mailgun keeps at most this many `o:tag` values per message. */
const MAX_TAGS = 3;

/** The API origin a config talks to: `endpoint` when set, else the US or EU host. */
export function mailgunApiOrigin(config: Pick<MailgunConfig, 'endpoint' | 'region'>): string {
  if (config.endpoint) return config.endpoint.replace(/\/+$/, '');
  return config.region === 'eu' ? EU_ORIGIN : US_ORIGIN;
}

/** A form field value as `mailgun.js` takes it: text, repeated text, or files. */
type FormValue = string | string[] | File[];

/** The part of a `mailgun.js` client this adapter uses. */
interface MailgunClient {
  messages: {
    create(domain: string, data: Record<string, FormValue>): Promise<{ id?: unknown; message?: unknown }>;
  };
  domains: {
    get(domain: string): Promise<{ name?: unknown; state?: unknown; is_disabled?: unknown }>;
    list(query?: Record<string, unknown>): Promise<unknown[]>;
  };
}

type MailgunClass = new (
  formData: typeof FormData,
) => {
  client(options: { username: string; key: string; url: string; timeout?: number }): unknown;
};

/** A config plus the time budget the SDK's own timeout is set to (it frees a hung socket). */
type ClientConfig = MailgunConfig & { sdkTimeoutMs: number };

async function createClient(config: ClientConfig): Promise<MailgunClient> {
  const module = await loadOptional(PACKAGE, PROVIDER, () => import('mailgun.js'));
  const exported = module as unknown as { default: MailgunClass | { default: MailgunClass } };
  const Mailgun = (
    typeof exported.default === 'function' ? exported.default : exported.default.default
  ) as MailgunClass;
  const client = new Mailgun(FormData).client({
    username: 'api',
    key: config.apiKey,
    url: mailgunApiOrigin(config),
    timeout: config.sdkTimeoutMs,
  }) as MailgunClient & { request?: { requestProvider?: { makeRequest?: unknown } } };
  // mailgun.js bundles its own axios, which follows redirects (with the Basic credentials) and reads answers
  // without a limit, and takes no option for either. Its single HTTP entry point, `requestProvider.makeRequest`
  // (mailgun.js 12-14, `Classes/common/RequestProviders/AxiosProvider`), is replaced by one on our transport.
  const provider = client.request?.requestProvider;
  if (!provider || typeof provider.makeRequest !== 'function') {
    throw new ProviderError(
      'ADAPTER_ERROR',
      'This mailgun.js version is not supported: install mailgun.js 12 to 14',
      {
        provider: PROVIDER,
      },
    );
  }
  provider.makeRequest = mailgunRequest(`Basic ${mailgunBasicCredentials(config.apiKey)}`);
  return client;
}

/** `base64("api:" + key)`: what the Authorization header carries, and a form of the key to redact. */
export function mailgunBasicCredentials(apiKey: string): string {
  return Buffer.from(`api:${apiKey}`).toString('base64');
}

const mailgunFetch = guardedFetch(PROVIDER, { label: 'Mailgun' });

/**
 * `makeRequest(url, method, { params, data }, options)` as mailgun.js calls it, answering as it does: `{ body,
 * status }` for a 2xx (the JSON body, or `{ message: text }`), else an APIError-shaped `{ status, message,
 * details }` (see `asApiError`).
 */
function mailgunRequest(authorization: string) {
  return async (
    url: string,
    method: string,
    input: { params?: URLSearchParams; data?: unknown } = {},
  ): Promise<{ body: unknown; status: number }> => {
    const target = new URL(url);
    if (input.params) for (const [name, value] of input.params) target.searchParams.append(name, value);
    const headers = new Headers({ authorization });
    let body: RequestInit['body'];
    if (input.data instanceof FormData || typeof input.data === 'string') body = input.data;
    else if (typeof input.data === 'object' && input.data !== null) {
      body = new URLSearchParams(input.data as Record<string, string>);
    }
    const response = await mailgunFetch(target.href, { method, headers, ...(body ? { body } : {}) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
      throw Object.assign(new Error(typeof fields.error === 'string' ? fields.error : response.statusText), {
        status: response.status,
        details: typeof fields.message === 'string' ? fields.message : text,
        type: 'MailgunAPIError',
      });
    }
    if (text.trim() === 'Mailgun Magnificent API') {
      throw Object.assign(new Error('Incorrect url'), {
        status: 400,
        details: text,
        type: 'MailgunAPIError',
      });
    }
    return {
      body: typeof parsed === 'object' && parsed !== null ? parsed : { message: text },
      status: response.status,
    };
  };
}

/** What `mailgun.js` throws: `APIError { status, message, details }`. */
interface MailgunApiError {
  status: number;
  message: string;
  details: string;
}

function asApiError(error: unknown): MailgunApiError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, message, details } = error as Record<string, unknown>;
  if (typeof status !== 'number') return undefined;
  return {
    status,
    message: typeof message === 'string' ? message : '',
    details: typeof details === 'string' ? details : '',
  };
}

/**
 * The code of a Mailgun HTTP error, refined from the status by what the error text says. Mailgun answers errors as
 * `{ message }` with 400 (bad parameters), 401/403 (key, account), 404 (which "can be temporal"), 429 and 5xx
 * (https://documentation.mailgun.com/docs/mailgun/quickstart-guide/responses); mailgun.js puts the body's `message`
 * in `APIError.details`.
 */
export function codeForMailgunError(status: number, text: string): ProviderErrorCode {
  if (status === 400 || status === 402 || status === 403) {
    // Account and domain problems: Mailgun sends some of them as 400 too ("… is not allowed to send: …").
    if (/disabled|suspend|activate|deactivated|banned|payment/i.test(text)) return 'ACCOUNT_SUSPENDED';
    if (/unverified|not verified|verify your domain/i.test(text)) return 'SENDER_UNVERIFIED';
    // Sandbox domains only deliver to authorised recipients; a real domain elsewhere would deliver.
    if (/sandbox|authori[sz]ed recipients|not allowed to send/i.test(text)) return 'PROVIDER_REJECTED';
  }
  if (status === 400) {
    // e.g. "to parameter is not a valid address. please check documentation"
    if (/\b(to|cc|bcc)\b.*not a valid address|invalid (recipient|address)/i.test(text))
      return 'RECIPIENT_INVALID';
    return 'MESSAGE_REJECTED';
  }
  if (status === 401 || status === 402 || status === 403) return 'PROVIDER_INVALID_CREDENTIALS';
  // A wrong sending domain is a config problem of this provider, not an outage.
  if (status === 404 && /domain not found/i.test(text)) return 'PROVIDER_REJECTED';
  return codeForHttpStatus(status);
}

/**
 * The Node/axios code of a failure that got no HTTP answer, or `undefined` when Mailgun answered.
 *
 * mailgun.js 14 builds every failure as `new APIError({ status: err.response?.status || 400, statusText:
 * err.response?.statusText || err.code, body: err.response?.data || err.message })` (AxiosProvider.makeRequest,
 * ESM/mailgun.node.js), with `message = body.error || statusText`. So an answer is the status Mailgun sent and,
 * as message, its `error` field or reason phrase — or, when the answer has no reason phrase (`HTTP/1.1 400 `, any
 * HTTP/2 answer), the code axios gives every answered error: `ERR_BAD_REQUEST` for a 4xx, `ERR_BAD_RESPONSE` for
 * a 5xx (axios lib/core/settle.js). No answer leaves the default 400 and the failure's own code (`ECONNREFUSED`,
 * `ECONNABORTED`, `ERR_CANCELED`, `ERR_BAD_RESPONSE` for a body cut short…). The APIError keeps no response, so
 * this is decided from those fields: a 400 that is not a 4xx answer of axios is no answer at all.
 */
export function mailgunFailureWithoutAnswer(
  apiError: Pick<MailgunApiError, 'status' | 'message'>,
): string | undefined {
  const { status, message } = apiError;
  if (message === 'ERR_BAD_REQUEST' && status >= 400 && status < 500) return undefined;
  if (message === 'ERR_BAD_RESPONSE' && status >= 500) return undefined;
  return status === 400 && isNetworkErrorCode(message) ? message : undefined;
}

/** Turns whatever the SDK threw into a classified {@link ProviderError} holding no request data. */
/** A request that got no answer: undici puts the socket's code on the error's `cause`. */
function networkFailure(error: unknown, what: string, ambiguous: boolean): ProviderError {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const errorCode = cause?.code ?? (error as { code?: unknown } | undefined)?.code;
  const failure = isNetworkErrorCode(errorCode)
    ? classifyNetworkErrorCode(errorCode)
    : { code: 'NETWORK_ERROR' as const, ambiguous: true };
  return new ProviderError(
    failure.code,
    `Could not reach Mailgun for ${what} (${isNetworkErrorCode(errorCode) ? errorCode : 'connection failed'})`,
    { provider: PROVIDER, ambiguous: ambiguous && failure.ambiguous },
  );
}

function toProviderError(error: unknown, what: string, ambiguous: boolean): ProviderError {
  if (isProviderError(error)) return error;
  const apiError = asApiError(error);
  if (apiError) {
    const failureCode = mailgunFailureWithoutAnswer(apiError);
    if (failureCode !== undefined) {
      const failure = classifyNetworkErrorCode(failureCode);
      return new ProviderError(failure.code, `Could not reach Mailgun for ${what} (${failureCode})`, {
        provider: PROVIDER,
        ambiguous: ambiguous && failure.ambiguous,
      });
    }
    // The SDK's own complaint about an answer that is not the API (a wrong endpoint).
    if (apiError.message === 'Incorrect url') {
      return new ProviderError(
        'PROVIDER_REJECTED',
        `Mailgun endpoint did not answer as the API for ${what}`,
        {
          provider: PROVIDER,
        },
      );
    }
    const text = excerpt(apiError.details || apiError.message || 'no error details');
    return new ProviderError(
      codeForMailgunError(apiError.status, text),
      `Mailgun refused ${what} (${apiError.status}): ${text}`,
      { provider: PROVIDER, status: apiError.status },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError('ADAPTER_ERROR', `Mailgun ${what} failed: ${excerpt(message)}`, {
    provider: PROVIDER,
  });
}

/**
 * The form fields of `POST /v3/{domain}/messages` for a message. Reply-To and custom headers go as `h:` fields,
 * tags as `o:tag` (the first 3 distinct ones: Mailgun keeps no more), metadata as `v:` variables (they come back
 * in webhooks as `user-variables`). Inline parts are named by their content id, since Mailgun uses the file name
 * as the `cid`.
 */
export function toMailgunForm(
  message: OutboundEmail,
  config: Pick<MailgunConfig, 'testMode'>,
): Record<string, FormValue> {
  const form: Record<string, FormValue> = {
    from: formatAddress(message.from),
    to: message.to.map(formatAddress),
    subject: message.subject,
  };
  if (message.cc.length > 0) form.cc = message.cc.map(formatAddress);
  if (message.bcc.length > 0) form.bcc = message.bcc.map(formatAddress);
  if (message.text !== undefined) form.text = message.text;
  if (message.html !== undefined) form.html = message.html;
  if (message.replyTo.length > 0) form['h:Reply-To'] = message.replyTo.map(formatAddress).join(', ');
  for (const [name, value] of Object.entries(message.headers)) form[`h:${name}`] = value;
  const tags = [...new Set(message.tags)].slice(0, MAX_TAGS);
  if (tags.length > 0) form['o:tag'] = tags;
  for (const [name, value] of Object.entries(message.metadata)) form[`v:${name}`] = value;
  if (config.testMode) form['o:testmode'] = 'yes';

  const files = (disposition: 'attachment' | 'inline') =>
    message.attachments
      .filter((attachment) => attachment.disposition === disposition)
      .map((attachment) => {
        const name =
          disposition === 'inline' ? (attachment.contentId ?? attachment.filename) : attachment.filename;
        const options = attachment.contentType ? { type: attachment.contentType } : {};
        return new File([toBuffer(attachment.content)], name, options);
      });
  const attachments = files('attachment');
  const inline = files('inline');
  if (attachments.length > 0) form.attachment = attachments;
  if (inline.length > 0) form.inline = inline;
  return form;
}

/**
 * True when `mailgun.js` handed back a body it could not parse: it then returns `{ status, message: <raw text> }`,
 * whereas a JSON answer is spread into the result. A JSON answer has fields besides `message`, or Mailgun's
 * "Queued. Thank you." as its message.
 */
function isUnreadSendAnswer(answer: Record<string, unknown>): boolean {
  const fields = Object.keys(answer).filter((key) => key !== 'status' && key !== 'message');
  if (fields.length > 0) return false;
  return !(typeof answer.message === 'string' && /^queued\b/i.test(answer.message.trim()));
}

/** Options of {@link mailgun}. None yet: everything is in the provider config. */
export type MailgunAdapterOptions = Record<string, never>;

/**
 * The Mailgun adapter. Needs `mailgun.js` installed (`npm install mailgun.js`). One SDK client per provider
 * config, created on first use and kept until the config changes, is removed, or the adapter closes.
 *
 * `mailgun.js` takes no abort signal: an abandoned call settles at once, and the SDK's own timeout (the attempt
 * budget) closes its socket.
 */
export function mailgun(_options: MailgunAdapterOptions = {}): BuiltInAdapter<'mailgun'> {
  const clients = new ClientPool<ClientConfig, MailgunClient>(createClient);

  async function call<T>(
    ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
    work: () => Promise<T>,
    what: string,
    ambiguous: boolean,
  ): Promise<T> {
    return runHttpCall(
      ctx,
      { provider: PROVIDER, label: 'Mailgun', operation: ambiguous ? 'send' : 'verify' },
      work,
      (error, scope) =>
        scope.transportError === undefined
          ? toProviderError(error, what, ambiguous)
          : networkFailure(scope.transportError, what, ambiguous),
    );
  }

  const temporary = <T>(
    config: MailgunConfig,
    ctx: AdapterCallContext,
    use: (client: MailgunClient) => Promise<T>,
  ) => clients.withTemporary({ ...config, sdkTimeoutMs: config.timeoutMs ?? ctx.timeoutMs }, use);

  return {
    provider: PROVIDER,
    channel: 'email',
    configSchema: mailgunConfigSchema,
    // documentation.mailgun.com (Send via HTTP): "The maximum message size Mailgun supports is 25MB".
    limits: { maxMessageBytes: 25_000_000 },
    webhook: mailgunWebhook,
    // The SDK is loaded before the attempt's timer starts (see `Adapter.load`).
    load: async () => {
      await loadOptional(PACKAGE, PROVIDER, () => import('mailgun.js'));
    },
    // The Authorization header's `base64("api:" + key)`, in case an answer echoes it.
    secretForms: (config: MailgunConfig) => [mailgunBasicCredentials(config.apiKey)],

    async send(message: OutboundEmail, ctx: SendContext<MailgunConfig>) {
      const client = await clients.get({
        projectId: ctx.projectId,
        providerConfigId: ctx.providerConfigId,
        configRevision: ctx.configRevision,
        // Not `ctx.timeoutMs`: that is what is left of this send's budget, and the client outlives the send.
        // Shorter budgets are enforced per call by `withDeadline`.
        config: {
          ...ctx.config,
          sdkTimeoutMs: ctx.config.timeoutMs ?? Math.max(DEFAULT_ATTEMPT_TIMEOUT_MS, ctx.timeoutMs),
        },
      });
      const answer = await call(
        ctx,
        () => client.messages.create(ctx.config.domain, toMailgunForm(message, ctx.config)),
        'the message',
        true,
      );
      const messageId = typeof answer.id === 'string' ? answer.id.replace(/^<|>$/g, '') : '';
      // The documented answer is 200 `{id, message: "Queued. Thank you."}`.
      return receiptFromSuccess(ctx.logger, {
        provider: PROVIDER,
        label: 'Mailgun',
        messageId,
        documented: typeof answer === 'object' && answer !== null && !isUnreadSendAnswer(answer),
      });
    },

    async verify(config: MailgunConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      return temporary(config, ctx, async (client) => {
        try {
          const domain = await call(
            ctx,
            () => client.domains.get(config.domain),
            'the credential check',
            false,
          );
          return { valid: true, details: { domain: config.domain, state: domain.state } };
        } catch (error) {
          if (!isProviderError(error) || error.status === undefined) throw error;
          // Here a 404 means "no such domain for this key", not an outage.
          if (error.status === 404) {
            const hint = config.region === 'eu' ? '' : ' (domains in the EU region need region "eu")';
            return { valid: false, reason: `Mailgun has no domain ${config.domain} for this key${hint}` };
          }
          if (error.status === 401 || error.status === 403) {
            return {
              valid: false,
              reason: `Mailgun refused the key for GET /v4/domains/${config.domain} (${error.status}). Checking needs a private API key: a domain sending key can send but cannot read its domain.`,
            };
          }
          if (error.failureClass === 'transient') throw error;
          return { valid: false, reason: error.message };
        }
      });
    },

    async domains(config: MailgunConfig, ctx: AdapterCallContext): Promise<DomainStatus[]> {
      return temporary(config, ctx, async (client) => {
        const items = await call(
          ctx,
          () => client.domains.list({ limit: 1000 }),
          'the domain listing',
          false,
        );
        return items
          .filter((item): item is Record<string, unknown> => typeof item === 'object' && item !== null)
          .map((item) => ({
            domain: String(item.name),
            verified: item.state === 'active',
            // Only non-secret fields: domain records also carry the domain's SMTP password.
            details: {
              state: item.state,
              type: item.type,
              disabled: item.is_disabled === true,
              spamAction: item.spam_action,
            },
          }));
      });
    },

    release: (providerConfigId: string, projectId: string) => clients.release(providerConfigId, projectId),
    close: () => clients.close(),
  };
}
