/**
 * SendGrid adapter, on the official `@sendgrid/client` (v8). Sends with `POST /v3/mail/send`; the message id is
 * the `X-Message-Id` response header.
 *
 * @example
 * ```ts
 * import { Dispatcher } from 'messagepipe';
 * import { sendgrid } from 'messagepipe/adapters/sendgrid';
 * const pipe = new Dispatcher({ adapters: [sendgrid()] });
 * ```
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  type AdapterCallContext,
  type BuiltInAdapter,
  ClientPool,
  type DomainStatus,
  type EmailAddress,
  isProviderError,
  loadOptional,
  type OutboundEmail,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type SendgridConfig,
  sendgridConfigSchema,
  type VerifyResult,
} from 'messagepipe';
import { withDeadline } from './_shared/deadline';
import { toBase64 } from './_shared/email';
import { AXIOS_TRANSPORT_OPTIONS, axiosTransportFault } from './_shared/http';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  headerValue,
  isNetworkErrorCode,
  retryAfterFromHeaders,
} from './_shared/http-errors';
import { receiptFromSuccess } from './_shared/message-id';
import { sendgridWebhook } from './webhooks/sendgrid';

const PROVIDER = 'sendgrid';
const PACKAGE = '@sendgrid/client';

const GLOBAL_ORIGIN = 'https://api.sendgrid.com';
const EU_ORIGIN = 'https://api.eu.sendgrid.com';

/** SendGrid refuses more categories than this on one message. */
const MAX_CATEGORIES = 10;

/**
 * Page size of the domain and sender listings. Both are paginated: `GET /v3/whitelabel/domains` with `limit` and
 * `offset` (https://www.twilio.com/docs/sendgrid/api-reference/domain-authentication/list-all-authenticated-domains),
 * `GET /v3/verified_senders` with `limit` and `lastSeenID`, the id after which the next page starts
 * (https://www.twilio.com/docs/sendgrid/api-reference/sender-verification/get-all-verified-senders). A page shorter
 * than this is the last one.
 */
const LISTING_PAGE_SIZE = 100;
/** Stops a listing that never ends: 40 pages of 100 cover the 3,000 authenticated domains a user may have. */
const LISTING_MAX_PAGES = 40;

/** The API origin a config talks to: `endpoint` when set, else the global or EU host. */
export function sendgridApiOrigin(config: Pick<SendgridConfig, 'endpoint' | 'region'>): string {
  if (config.endpoint) return config.endpoint.replace(/\/+$/, '');
  return config.region === 'eu' ? EU_ORIGIN : GLOBAL_ORIGIN;
}

/** What this adapter uses of `@sendgrid/client`'s request options; `signal` is forwarded by {@link loadClient}. */
interface SendgridRequest {
  method: 'GET' | 'POST';
  url: string;
  /** Query string parameters (`@sendgrid/client` sends them as axios `params`). */
  qs?: Record<string, string | number>;
  body?: unknown;
  signal?: AbortSignal;
}

/** `[response, body]` as `@sendgrid/client` resolves it. */
type SendgridResult = [{ statusCode: number; headers: unknown; body: unknown }, unknown];

/** The part of a `@sendgrid/client` `Client` instance this adapter uses. */
interface SendgridClient {
  setApiKey(apiKey: string): void;
  setDefaultRequest(key: string, value: unknown): unknown;
  request(request: SendgridRequest): Promise<SendgridResult>;
}

/** A client plus the keep-alive agents it owns, so releasing it closes its connections. */
interface PooledClient {
  client: SendgridClient;
  agents: Array<HttpAgent | HttpsAgent>;
}

type SendgridClientClass = new () => SendgridClient & {
  createRequest(request: SendgridRequest): Record<string, unknown>;
};

async function loadClientClass(): Promise<SendgridClientClass> {
  const module = await loadOptional(PACKAGE, PROVIDER, () => import('@sendgrid/client'));
  const exported = module as unknown as { Client?: unknown; default?: { Client?: unknown } };
  return (exported.Client ?? exported.default?.Client) as SendgridClientClass;
}

async function createClient(config: SendgridConfig): Promise<PooledClient> {
  const Client = await loadClientClass();
  // The SDK copies only the request options it knows into axios' config; forward the abort signal too.
  class AbortableClient extends Client {
    override createRequest(request: SendgridRequest): Record<string, unknown> {
      const options = super.createRequest(request);
      if (request.signal) options.signal = request.signal;
      return options;
    }
  }
  const client = new AbortableClient();
  client.setApiKey(config.apiKey);
  // setApiKey() resets baseUrl to the region's host, so the origin is set after it.
  client.setDefaultRequest('baseUrl', `${sendgridApiOrigin(config)}/`);
  // Own keep-alive agents: connections are reused across this config's sends and closed when it is released.
  const agents = [new HttpAgent({ keepAlive: true }), new HttpsAgent({ keepAlive: true })];
  client.setDefaultRequest('httpAgent', agents[0]);
  client.setDefaultRequest('httpsAgent', agents[1]);
  // No redirects, answers read up to the size cap (see `_shared/http.ts`).
  for (const [key, value] of Object.entries(AXIOS_TRANSPORT_OPTIONS)) client.setDefaultRequest(key, value);
  return { client, agents };
}

function disposeClient(pooled: PooledClient): void {
  for (const agent of pooled.agents) agent.destroy();
}

/** A SendGrid API error object: `{ message, field, help }`. */
interface SendgridApiError {
  message?: unknown;
  field?: unknown;
}

function apiErrorsOf(body: unknown): SendgridApiError[] {
  if (typeof body !== 'object' || body === null) return [];
  const errors = (body as { errors?: unknown }).errors;
  return Array.isArray(errors)
    ? errors.filter((entry): entry is SendgridApiError => typeof entry === 'object' && entry !== null)
    : [];
}

function describeBody(body: unknown): string {
  const errors = apiErrorsOf(body);
  if (errors.length > 0) {
    return excerpt(
      errors
        .map((error) =>
          typeof error.field === 'string' && error.field
            ? `${String(error.message)} (${error.field})`
            : String(error.message),
        )
        .join('; '),
    );
  }
  if (typeof body === 'string' && body.trim()) return excerpt(body);
  return 'no error details';
}

const RECIPIENT_FIELD = /^personalizations\.\d+\.(to|cc|bcc)(\.\d+)?(\.email)?$/;

/**
 * The code of a SendGrid HTTP error, refined from the status by what the error body (`{ errors: [{ message, field }] }`)
 * says (https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/errors): 400 names the offending `field`, 403 on
 * `from` is an unverified Sender Identity.
 */
function codeForSendgridError(status: number, body: unknown): ProviderErrorCode {
  const errors = apiErrorsOf(body);
  const text = errors.map((error) => String(error.message)).join(' ');
  if (status === 403 || status === 401) {
    if (/suspend|disabled|banned|credits/i.test(text)) return 'ACCOUNT_SUSPENDED';
    if (status === 403 && (errors.some((error) => error.field === 'from') || /sender identity/i.test(text))) {
      return 'SENDER_UNVERIFIED';
    }
    return 'PROVIDER_INVALID_CREDENTIALS';
  }
  if (status === 400) {
    const recipientField = errors.some(
      (error) => typeof error.field === 'string' && RECIPIENT_FIELD.test(error.field),
    );
    return recipientField ? 'RECIPIENT_INVALID' : 'MESSAGE_REJECTED';
  }
  return codeForHttpStatus(status);
}

/** Turns whatever the SDK threw into a classified {@link ProviderError} holding no request data. */
function toProviderError(error: unknown, what: string, ambiguous: boolean): ProviderError {
  if (isProviderError(error)) return error;
  const transport = axiosTransportFault(error, PROVIDER, ambiguous ? 'send' : 'verify', 'SendGrid');
  if (transport) return transport;
  const response = (error as { response?: { headers?: unknown; body?: unknown } }).response;
  const status = (error as { code?: unknown }).code;
  if (typeof status === 'number' && response) {
    const code = codeForSendgridError(status, response.body);
    const options: ConstructorParameters<typeof ProviderError>[2] = { provider: PROVIDER, status };
    if (code === 'PROVIDER_RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE') {
      const retryAfterMs = retryAfterFromHeaders(response.headers);
      if (retryAfterMs !== undefined) options.retryAfterMs = retryAfterMs;
    }
    return new ProviderError(
      code,
      `SendGrid refused ${what} (${status}): ${describeBody(response.body)}`,
      options,
    );
  }
  if (isNetworkErrorCode(status)) {
    const failure = classifyNetworkErrorCode(status);
    return new ProviderError(failure.code, `Could not reach SendGrid for ${what} (${status})`, {
      provider: PROVIDER,
      ambiguous: ambiguous && failure.ambiguous,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError('ADAPTER_ERROR', `SendGrid ${what} failed: ${excerpt(message)}`, {
    provider: PROVIDER,
  });
}

function toSendgridAddress(address: EmailAddress): { email: string; name?: string } {
  return address.name ? { email: address.email, name: address.name } : { email: address.email };
}

/**
 * The `POST /v3/mail/send` body for a message. Recipients repeated across to/cc/bcc are sent once (SendGrid
 * refuses duplicates within a personalization); tags become `categories` (at most 10), metadata `custom_args`.
 */
export function toSendgridMail(message: OutboundEmail, config: Pick<SendgridConfig, 'sandbox'>): object {
  const seen = new Set<string>();
  const unique = (list: EmailAddress[]) =>
    list
      .filter((address) => {
        const key = address.email.toLowerCase();
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .map(toSendgridAddress);
  const personalization: Record<string, unknown> = { to: unique(message.to) };
  const cc = unique(message.cc);
  const bcc = unique(message.bcc);
  if (cc.length > 0) personalization.cc = cc;
  if (bcc.length > 0) personalization.bcc = bcc;

  const content: Array<{ type: string; value: string }> = [];
  // SendGrid requires text/plain before text/html.
  if (message.text !== undefined) content.push({ type: 'text/plain', value: message.text });
  if (message.html !== undefined) content.push({ type: 'text/html', value: message.html });

  const mail: Record<string, unknown> = {
    personalizations: [personalization],
    from: toSendgridAddress(message.from),
    subject: message.subject,
    content,
  };
  const [firstReplyTo] = message.replyTo;
  if (message.replyTo.length === 1 && firstReplyTo) mail.reply_to = toSendgridAddress(firstReplyTo);
  else if (message.replyTo.length > 1) mail.reply_to_list = message.replyTo.map(toSendgridAddress);
  if (message.attachments.length > 0) {
    mail.attachments = message.attachments.map((attachment) => {
      const mapped: Record<string, string> = {
        content: toBase64(attachment.content),
        filename: attachment.filename,
        disposition: attachment.disposition,
      };
      if (attachment.contentType) mapped.type = attachment.contentType;
      if (attachment.contentId) mapped.content_id = attachment.contentId;
      return mapped;
    });
  }
  if (Object.keys(message.headers).length > 0) mail.headers = { ...message.headers };
  const categories = [...new Set(message.tags)].slice(0, MAX_CATEGORIES);
  if (categories.length > 0) mail.categories = categories;
  if (Object.keys(message.metadata).length > 0) mail.custom_args = { ...message.metadata };
  if (config.sandbox) mail.mail_settings = { sandbox_mode: { enable: true } };
  return mail;
}

/** Options of {@link sendgrid}. None yet: everything is in the provider config. */
export type SendgridAdapterOptions = Record<string, never>;

/**
 * The SendGrid adapter. Needs `@sendgrid/client` installed (`npm install @sendgrid/client`). One SDK client per
 * provider config, created on first use and kept until the config changes, is removed, or the adapter closes.
 */
export function sendgrid(_options: SendgridAdapterOptions = {}): BuiltInAdapter<'sendgrid'> {
  const clients = new ClientPool<SendgridConfig, PooledClient>(createClient, disposeClient);

  async function call(
    pooled: PooledClient,
    ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
    request: Omit<SendgridRequest, 'signal'>,
    what: string,
    ambiguous: boolean,
  ): Promise<SendgridResult> {
    try {
      return await withDeadline(ctx, (signal) => pooled.client.request({ ...request, signal }), {
        provider: PROVIDER,
        ambiguous,
      });
    } catch (error) {
      throw toProviderError(error, what, ambiguous);
    }
  }

  return {
    provider: PROVIDER,
    channel: 'email',
    configSchema: sendgridConfigSchema,
    // docs.sendgrid.com/api-reference/mail-send/limitations: under 30MB in all, at most 1000 recipients across every
    // personalization's to, cc and bcc.
    limits: { maxRecipients: 1000, maxMessageBytes: 30_000_000 },
    webhook: sendgridWebhook,
    // The SDK is loaded before the attempt's timer starts (see `Adapter.load`).
    load: async () => {
      await loadClientClass();
    },

    async send(message: OutboundEmail, ctx: SendContext<SendgridConfig>) {
      const pooled = await clients.get(ctx);
      const [response] = await call(
        pooled,
        ctx,
        { method: 'POST', url: '/v3/mail/send', body: toSendgridMail(message, ctx.config) },
        'the message',
        true,
      );
      // The documented success answer is 202 with an empty body and the id in `X-Message-Id`: without the
      // header nothing proves the answer came from SendGrid.
      return receiptFromSuccess(ctx.logger, {
        provider: PROVIDER,
        label: 'SendGrid',
        status: response.statusCode,
        messageId: headerValue(response.headers, 'x-message-id'),
        documented: false,
      });
    },

    async verify(config: SendgridConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      return clients.withTemporary(config, async (pooled) => {
        let body: unknown;
        try {
          [, body] = await call(
            pooled,
            ctx,
            { method: 'GET', url: '/v3/scopes' },
            'the credential check',
            false,
          );
        } catch (error) {
          if (
            error instanceof ProviderError &&
            error.failureClass === 'provider' &&
            error.status !== undefined
          ) {
            return { valid: false, reason: error.message };
          }
          throw error;
        }
        const scopes = (body as { scopes?: unknown } | undefined)?.scopes;
        if (!Array.isArray(scopes)) {
          throw new ProviderError(
            'PROVIDER_UNAVAILABLE',
            'SendGrid answered GET /v3/scopes without a scope list',
            {
              provider: PROVIDER,
            },
          );
        }
        if (!scopes.includes('mail.send')) {
          return { valid: false, reason: 'The SendGrid API key lacks the mail.send scope' };
        }
        return { valid: true, details: { scopes: scopes.length } };
      });
    },

    async domains(config: SendgridConfig, ctx: AdapterCallContext): Promise<DomainStatus[]> {
      return clients.withTemporary(config, async (pooled) => {
        const domains: DomainStatus[] = [];
        for (let page = 0; page < LISTING_MAX_PAGES; page++) {
          const [, body] = await call(
            pooled,
            ctx,
            {
              method: 'GET',
              url: '/v3/whitelabel/domains',
              qs: { limit: LISTING_PAGE_SIZE, offset: page * LISTING_PAGE_SIZE },
            },
            'the domain listing',
            false,
          );
          const entries = toDomainStatuses(body);
          domains.push(...entries);
          if (entries.length < LISTING_PAGE_SIZE) break;
        }
        const senders: DomainStatus[] = [];
        try {
          let lastSeenId: number | undefined;
          for (let page = 0; page < LISTING_MAX_PAGES; page++) {
            const qs: Record<string, number> = { limit: LISTING_PAGE_SIZE };
            if (lastSeenId !== undefined) qs.lastSeenID = lastSeenId;
            const [, body] = await call(
              pooled,
              ctx,
              { method: 'GET', url: '/v3/verified_senders', qs },
              'the sender listing',
              false,
            );
            const entries = toSenderStatuses(body);
            senders.push(...entries);
            const lastId = entries.at(-1)?.details.id;
            // A short page is the last; so is one whose last id does not move the cursor on.
            if (entries.length < LISTING_PAGE_SIZE || typeof lastId !== 'number' || lastId === lastSeenId)
              break;
            lastSeenId = lastId;
          }
        } catch (error) {
          // Keys without the sender-verification scope can still list domains: report what they can see.
          if (!(error instanceof ProviderError && error.status === 403)) throw error;
          ctx.logger.debug('SendGrid key cannot list single senders; listing authenticated domains only');
        }
        return [...domains, ...senders];
      });
    },

    release: (providerConfigId: string, projectId: string) => clients.release(providerConfigId, projectId),
    close: () => clients.close(),
  };
}

function toDomainStatuses(body: unknown): DomainStatus[] {
  if (!Array.isArray(body)) {
    throw new ProviderError('PROVIDER_UNAVAILABLE', 'SendGrid answered the domain listing with no list', {
      provider: PROVIDER,
    });
  }
  return body
    .filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null)
    .map((entry) => {
      const dns: Record<string, unknown> = {};
      if (typeof entry.dns === 'object' && entry.dns !== null) {
        for (const [name, record] of Object.entries(entry.dns as Record<string, unknown>)) {
          if (typeof record !== 'object' || record === null) continue;
          const { valid, type, host, data } = record as Record<string, unknown>;
          dns[name] = { valid: valid === true, type, host, data };
        }
      }
      return {
        domain: String(entry.domain),
        verified: entry.valid === true,
        details: {
          kind: 'domain',
          id: entry.id,
          subdomain: entry.subdomain,
          default: entry.default === true,
          dns,
        },
      };
    });
}

function toSenderStatuses(body: unknown): DomainStatus[] {
  const results = (body as { results?: unknown } | undefined)?.results;
  if (!Array.isArray(results)) return [];
  return results
    .filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null)
    .map((entry) => ({
      domain: String(entry.from_email),
      verified: entry.verified === true,
      details: { kind: 'sender', id: entry.id, fromName: entry.from_name },
    }));
}
