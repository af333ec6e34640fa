/**
 * Twilio adapter, on the official `twilio` SDK (v5 or v6), loaded on first use. Sends with
 * `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
 *
 * Everything the SDK would otherwise read from `process.env` (`TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`,
 * `TWILIO_EDGE`, `TWILIO_REGION`, `TWILIO_LOG_LEVEL`) is passed explicitly, so one process can hold many Twilio
 * accounts and a stray variable never redirects a send. The SDK's own transport (`twilio.RequestClient`) is wrapped
 * to point it at `endpoint`, to give it the attempt's abort signal and time budget, and to keep the answer's
 * headers (for `Retry-After`), which the SDK's errors drop.
 *
 * Sender, first match wins:
 * 1. the message's own `from` (a number or an alphanumeric sender id), sent as `From`;
 * 2. the project's SMS sender number, then its sender id (`pipe.senders.set({ channel: 'sms', … })`), sent as
 *    `From` — with the config's `messagingServiceSid` too when there is one, so the service's settings apply;
 * 3. the config's `messagingServiceSid` (Twilio picks a number from the service's pool; with the config's `from`
 *    also set, that number is used from the pool);
 * 4. the config's `from`.
 * The project's sender configuration says who its messages come from, as it does for email; the provider config's
 * sender is the account's default. A project sender that the account does not own is refused by Twilio
 * (21606/21212, `SENDER_UNVERIFIED`), and the send fails over.
 *
 * @example
 * ```ts
 * import { Dispatcher } from 'messagepipe';
 * import { twilio } from 'messagepipe/adapters/twilio';
 * const pipe = new Dispatcher({ adapters: [twilio()] });
 * ```
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent as HttpAgent } from 'node:http';
import {
  type AdapterCallContext,
  type BuiltInAdapter,
  ClientPool,
  isProviderError,
  loadOptional,
  type OutboundSms,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type TwilioConfig,
  twilioConfigSchema,
  type VerifyResult,
} from 'messagepipe';
import type TwilioSdk from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type Response from 'twilio/lib/http/response';
import { withDeadline } from './_shared/deadline';
import {
  AXIOS_TRANSPORT_OPTIONS,
  axiosTransportFault,
  isRedirectStatus,
  redirectRefused,
} from './_shared/http';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  headerValue,
  isNetworkErrorCode,
  retryAfterFromHeaders,
} from './_shared/http-errors';
import { receiptFromSuccess } from './_shared/message-id';
import { twilioWebhook } from './webhooks/twilio';

const PROVIDER = 'twilio';
const PACKAGE = 'twilio';

/** The SDK's own default time budget of one request. */
const SDK_DEFAULT_TIMEOUT_MS = 30_000;

/** What one call through the SDK needs from the transport, and what the transport saw of the answer. */
interface CallScope {
  signal: AbortSignal;
  timeoutMs: number;
  /** The last answer's status and headers; the SDK's errors drop the headers. */
  response?: { statusCode: number; headers: unknown };
}

/**
 * The scope of the call under way. The SDK offers no per-request options, so the signal and time budget travel
 * beside it, and concurrent sends on one client each see their own.
 */
const callScope = new AsyncLocalStorage<CallScope>();

type TwilioModule = typeof TwilioSdk;
type TwilioClient = TwilioSdk.Twilio;
type TwilioAccount = Awaited<ReturnType<ReturnType<TwilioClient['api']['v2010']['accounts']>['fetch']>>;

/** A Twilio client plus the transport it owns, so releasing it closes its connections. */
interface PooledClient {
  client: TwilioClient;
  transport: TwilioSdk.RequestClient;
}

async function loadTwilio(): Promise<TwilioModule> {
  const module = await loadOptional(PACKAGE, PROVIDER, () => import('twilio'));
  // CommonJS: the callable export is `default` under ESM, the module itself under a CJS build.
  return ((module as { default?: TwilioModule }).default ?? module) as TwilioModule;
}

/** `uri` with its scheme, host and port replaced by `origin` (path and query kept). */
export function rewriteOrigin(uri: string, origin: string): string {
  const from = new URL(uri);
  const to = new URL(origin);
  from.protocol = to.protocol;
  from.host = to.host;
  return from.href;
}

async function createClient(config: TwilioConfig): Promise<PooledClient> {
  const sdk = await loadTwilio();
  const origin = config.endpoint?.replace(/\/+$/, '');

  class ScopedRequestClient extends sdk.RequestClient {
    override async request<TData>(options: RequestClient.RequestOptions<TData>): Promise<Response<TData>> {
      const scope = callScope.getStore();
      const uri = origin ? rewriteOrigin(options.uri, origin) : options.uri;
      const response = await super.request<TData>({
        ...options,
        uri,
        // Never the SDK's debug logging: it prints request details to the console.
        logLevel: 'none',
        ...(scope ? { timeout: scope.timeoutMs } : {}),
      });
      if (scope) scope.response = { statusCode: response.statusCode, headers: response.headers };
      // RequestClient never follows redirects (maxRedirects 0) but hands a 3xx to the SDK as an answer.
      if (isRedirectStatus(response.statusCode)) {
        throw redirectRefused(
          PROVIDER,
          response.statusCode,
          headerValue(response.headers, 'location'),
          uri,
          'Twilio',
        );
      }
      return response;
    }
  }

  const transport = new ScopedRequestClient({
    timeout: config.timeoutMs ?? SDK_DEFAULT_TIMEOUT_MS,
    keepAlive: true,
    autoRetry: false,
  });
  // RequestClient brings a keep-alive agent for https only; plain http (a local endpoint) gets one too, so every
  // connection of this client is closed when it is released.
  transport.axios.defaults.httpAgent = new HttpAgent({ keepAlive: true });
  // Answers are read up to the size cap (see `_shared/http.ts`); RequestClient sets no limit of its own.
  transport.axios.defaults.maxContentLength = AXIOS_TRANSPORT_OPTIONS.maxContentLength;
  // RequestClient does not forward an abort signal to axios; its interceptor does, from the call's scope.
  transport.axios.interceptors.request.use((request) => {
    const scope = callScope.getStore();
    if (scope) request.signal = scope.signal;
    return request;
  });

  // An API key logs in as `apiKeySid:apiKeySecret` while the URLs keep the account SID
  // (twilio(apiKeySid, apiKeySecret, { accountSid }); https://www.twilio.com/docs/iam/api-keys).
  const [username, password] =
    config.apiKeySid !== undefined && config.apiKeySecret !== undefined
      ? [config.apiKeySid, config.apiKeySecret]
      : [config.accountSid, config.authToken ?? ''];
  const client = sdk(username, password, {
    accountSid: config.accountSid,
    httpClient: transport,
    // Empty values rather than undefined: the SDK falls back to TWILIO_EDGE / TWILIO_REGION / TWILIO_LOG_LEVEL
    // from process.env only for undefined ones.
    edge: config.edge ?? '',
    region: config.region ?? '',
    logLevel: 'none',
    env: {},
    autoRetry: false,
    lazyLoading: true,
  });
  return { client, transport };
}

function disposeClient(pooled: PooledClient): void {
  const agents = [pooled.transport.axios.defaults.httpsAgent, pooled.transport.axios.defaults.httpAgent];
  for (const agent of agents) (agent as { destroy?: () => void } | undefined)?.destroy?.();
}

/**
 * Runs one SDK call under the context's signal and time budget ({@link withDeadline}), with its {@link CallScope}
 * set for the transport; failures come back classified.
 */
async function callTwilio<T>(
  ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
  what: string,
  ambiguous: boolean,
  call: () => Promise<T>,
): Promise<T> {
  const scope: CallScope = { signal: ctx.signal, timeoutMs: ctx.timeoutMs };
  try {
    return await withDeadline(
      ctx,
      (signal) => {
        scope.signal = signal;
        return callScope.run(scope, call);
      },
      { provider: PROVIDER, ambiguous },
    );
  } catch (error) {
    throw toProviderError(error, scope, what, ambiguous);
  }
}

/**
 * Twilio error codes that say the message itself cannot be delivered: stop, do not fail over. Each code is documented
 * at https://www.twilio.com/docs/api/errors/<code>.
 */
const MESSAGE_LEVEL: Record<number, ProviderErrorCode> = {
  21211: 'RECIPIENT_INVALID', // invalid To number
  21610: 'RECIPIENT_SUPPRESSED', // the recipient replied STOP
  21614: 'RECIPIENT_INVALID', // To is not a mobile number
  21635: 'RECIPIENT_INVALID', // To is a landline
  21602: 'MESSAGE_REJECTED', // body missing
  21617: 'MESSAGE_REJECTED', // body longer than 1600 characters
};

/** Twilio error codes about this account or sender: fail over to the next provider at once. */
const PROVIDER_LEVEL: Record<number, ProviderErrorCode> = {
  20003: 'PROVIDER_INVALID_CREDENTIALS', // authentication failed
  20005: 'ACCOUNT_SUSPENDED', // account not active
  10001: 'ACCOUNT_SUSPENDED', // account is not active
  21606: 'SENDER_UNVERIFIED', // From cannot send to this destination
  21212: 'SENDER_UNVERIFIED', // invalid From number
  21659: 'SENDER_UNVERIFIED', // From is not a Twilio number
  21660: 'SENDER_UNVERIFIED', // From does not belong to this account
  21408: 'PROVIDER_REJECTED', // sending to this region is not enabled on the account
  // A trial account may only send to verified numbers: the number is fine, and another provider can deliver.
  21608: 'PROVIDER_REJECTED',
  // "cannot be sent with the current combination of 'To' and/or 'From'": the destination's sender-id rules or an
  // unreachable route for this sender, not the recipient; another provider can deliver
  // (https://www.twilio.com/docs/api/errors/21612).
  21612: 'PROVIDER_REJECTED',
  21601: 'SENDER_UNVERIFIED', // From is not a valid SMS-capable number
  21603: 'SENDER_UNVERIFIED', // From (or a Messaging Service) is required: the config names no sender
  21661: 'SENDER_UNVERIFIED', // From is not SMS-capable
  21701: 'PROVIDER_REJECTED', // the Messaging Service does not exist
  21702: 'PROVIDER_REJECTED', // the Messaging Service is not valid for this account
  21703: 'SENDER_UNVERIFIED', // the Messaging Service has no sender that can reach the destination
  21704: 'SENDER_UNVERIFIED', // the Messaging Service contains no phone numbers
  21705: 'PROVIDER_REJECTED', // the Messaging Service is invalid or inactive
  20404: 'PROVIDER_REJECTED', // resource not found: a wrong AccountSid or service, which every send will hit
};

/** Twilio error codes that say "later": retry, then fail over. */
const TRANSIENT: Record<number, ProviderErrorCode> = {
  20429: 'PROVIDER_RATE_LIMITED', // too many requests
  21611: 'PROVIDER_RATE_LIMITED', // the From number's queue is full
};

/**
 * The code of a Twilio answer: its own error code where known, else the HTTP status. Only the codes listed in
 * `MESSAGE_LEVEL` stop failover; a 4xx with a code we do not know is read as provider-level, since Twilio's codes
 * are mostly about the account, the sender or the service, and another provider may deliver. A 404 means the
 * account or service in the URL does not exist, which no retry fixes.
 */
export function codeForTwilioError(status: number, twilioCode: number | undefined): ProviderErrorCode {
  if (twilioCode !== undefined) {
    const known = MESSAGE_LEVEL[twilioCode] ?? PROVIDER_LEVEL[twilioCode] ?? TRANSIENT[twilioCode];
    if (known) return known;
  }
  if (status === 401) return 'PROVIDER_INVALID_CREDENTIALS';
  if (status === 404) return 'PROVIDER_REJECTED';
  const byStatus = codeForHttpStatus(status);
  if (twilioCode !== undefined && byStatus === 'MESSAGE_REJECTED') return 'PROVIDER_REJECTED';
  return byStatus;
}

/** Turns what the SDK threw into a classified {@link ProviderError} that holds no request data. */
function toProviderError(error: unknown, scope: CallScope, what: string, ambiguous: boolean): ProviderError {
  if (error instanceof ProviderError) return error;
  // Before the status: axios puts the status of an answer whose body broke off on the error too.
  const transport = axiosTransportFault(error, PROVIDER, ambiguous ? 'send' : 'verify', 'Twilio');
  if (transport) return transport;
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number') {
    const rawCode = (error as { code?: unknown }).code;
    // A bare 5xx has no body, hence no code; RFC 9457 answers use 0 for "none".
    const twilioCode = typeof rawCode === 'number' && rawCode > 0 ? rawCode : undefined;
    const code = codeForTwilioError(status, twilioCode);
    const options: ConstructorParameters<typeof ProviderError>[2] = { provider: PROVIDER, status };
    if (twilioCode !== undefined) options.providerCode = twilioCode;
    if ((code === 'PROVIDER_RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE') && scope.response) {
      const retryAfterMs = retryAfterFromHeaders(scope.response.headers);
      if (retryAfterMs !== undefined) options.retryAfterMs = retryAfterMs;
    }
    const detail = error instanceof Error && error.message ? excerpt(error.message) : 'no error details';
    const label = twilioCode === undefined ? `${status}` : `${status}, ${twilioCode}`;
    return new ProviderError(code, `Twilio refused ${what} (${label}): ${detail}`, options);
  }
  const answered = scope.response?.statusCode;
  if (answered !== undefined && answered >= 200 && answered < 300) {
    // Twilio accepted the request but its answer could not be read: the message may well be on its way.
    return new ProviderError(
      'PROVIDER_UNAVAILABLE',
      `Twilio answered ${answered} to ${what} with a body that could not be read; it may have been accepted`,
      { provider: PROVIDER, status: answered, ambiguous },
    );
  }
  // axios: ECONNREFUSED, ECONNRESET, ECONNABORTED (its own timeout), ERR_CANCELED (our signal).
  const errorCode = (error as { code?: unknown }).code;
  if (errorCode === 'ERR_CANCELED' && scope.signal.aborted) {
    const reason: unknown = scope.signal.reason;
    if (reason instanceof ProviderError) return reason;
  }
  if (isNetworkErrorCode(errorCode)) {
    const failure = classifyNetworkErrorCode(errorCode);
    return new ProviderError(failure.code, `Could not reach Twilio for ${what} (${errorCode})`, {
      provider: PROVIDER,
      ambiguous: ambiguous && failure.ambiguous,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderError('ADAPTER_ERROR', `Twilio ${what} failed: ${excerpt(message)}`, {
    provider: PROVIDER,
  });
}

/** The sender parameters of a message (`From`, `MessagingServiceSid`); see the module comment for the order. */
export function twilioSenderOf(
  message: Pick<OutboundSms, 'from' | 'senderId' | 'senderNumber'>,
  config: Pick<TwilioConfig, 'from' | 'messagingServiceSid'>,
): { from?: string; messagingServiceSid?: string } {
  if (message.from !== undefined) return { from: message.from };
  const projectSender = message.senderNumber ?? message.senderId;
  if (projectSender !== undefined) {
    return config.messagingServiceSid
      ? { messagingServiceSid: config.messagingServiceSid, from: projectSender }
      : { from: projectSender };
  }
  if (config.messagingServiceSid) {
    return config.from
      ? { messagingServiceSid: config.messagingServiceSid, from: config.from }
      : { messagingServiceSid: config.messagingServiceSid };
  }
  return config.from === undefined ? {} : { from: config.from };
}

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * The Twilio adapter. Register it with `new Dispatcher({ adapters: [twilio()] })`; the provider config is
 * {@link TwilioConfig} (`accountSid`, `authToken`, `from` and/or `messagingServiceSid`, optional `region`, `edge`,
 * `endpoint`, `timeoutMs`).
 */
export function twilio(): BuiltInAdapter<'twilio'> {
  const clients = new ClientPool<TwilioConfig, PooledClient>(createClient, disposeClient);

  return {
    provider: PROVIDER,
    channel: 'sms',
    configSchema: twilioConfigSchema,
    // twilio.com/docs/api/errors/21617: the Messages resource takes a Body of up to 1,600 characters.
    limits: { maxBodyCharacters: 1600 },
    webhook: twilioWebhook,
    // The SDK (a ~220 ms require) is loaded before the attempt's timer starts (see `Adapter.load`).
    load: async () => {
      await loadTwilio();
    },
    // The Authorization header's Basic credentials (`accountSid:authToken`, or `apiKeySid:apiKeySecret` for an
    // API key), in case an answer echoes them.
    secretForms: (config: TwilioConfig) =>
      config.apiKeySid && config.apiKeySecret
        ? [Buffer.from(`${config.apiKeySid}:${config.apiKeySecret}`).toString('base64')]
        : [Buffer.from(`${config.accountSid}:${config.authToken ?? ''}`).toString('base64')],

    async send(message: OutboundSms, ctx: SendContext<TwilioConfig>) {
      // The core validated `to` as E.164; checked again because a custom caller may hand the adapter anything.
      if (!E164.test(message.to)) {
        throw new ProviderError('RECIPIENT_INVALID', 'Twilio needs an E.164 recipient such as +14155550100', {
          provider: PROVIDER,
        });
      }
      const sender = twilioSenderOf(message, ctx.config);
      if (!sender.from && !sender.messagingServiceSid) {
        throw new ProviderError(
          'SENDER_UNVERIFIED',
          'No Twilio sender: set from or messagingServiceSid in the provider config, or the project SMS sender',
          { provider: PROVIDER },
        );
      }
      const { client } = await clients.get(ctx);
      const created = await callTwilio(ctx, 'the message', true, () =>
        client.messages.create({ to: message.to, body: message.body, ...sender }),
      );
      // The documented answer is 201 with the Message resource; its `sid` is the id.
      return receiptFromSuccess(ctx.logger, {
        provider: PROVIDER,
        label: 'Twilio',
        status: 201,
        messageId: typeof created?.sid === 'string' ? created.sid : undefined,
        documented: typeof created?.status === 'string',
      });
    },

    async verify(config: TwilioConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      if (config.apiKeySid !== undefined) return verifyApiKey(config, ctx);
      return clients.withTemporary(config, async ({ client }) => {
        let account: TwilioAccount;
        try {
          account = await callTwilio(ctx, 'the credentials', false, () =>
            client.api.v2010.accounts(config.accountSid).fetch(),
          );
        } catch (error) {
          // Refused credentials or a closed account are a verdict; anything else means "cannot tell".
          if (isProviderError(error) && error.failureClass === 'provider' && error.code !== 'ADAPTER_ERROR') {
            return { valid: false, reason: error.message };
          }
          throw error;
        }
        if (account.status !== 'active') {
          return { valid: false, reason: `The Twilio account is ${account.status}` };
        }
        return { valid: true, details: { status: account.status, type: account.type } };
      });
    },

    release: (providerConfigId, projectId) => clients.release(providerConfigId, projectId),
    close: () => clients.close(),
  };

  /**
   * Standard API keys may not read the Account resource ("Access to all Twilio API resources, except for Accounts
   * (/Accounts) or Keys", https://www.twilio.com/docs/iam/api-keys/key-resource-v1), so an API key is checked by
   * listing one message of the account (`GET /Accounts/{sid}/Messages.json?PageSize=1`), which it can read. A 401
   * (20003) refuses the key; a 403 or 70051 "Authorization Failed" (also what a restricted key without read access
   * to messages gets, https://www.twilio.com/docs/api/errors/70051) cannot tell.
   */
  function verifyApiKey(config: TwilioConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
    return clients.withTemporary(config, async ({ client }) => {
      try {
        await callTwilio(ctx, 'the credentials', false, () =>
          client.api.v2010.accounts(config.accountSid).messages.list({ limit: 1, pageSize: 1 }),
        );
      } catch (error) {
        if (isProviderError(error) && (error.status === 403 || error.providerCode === 70051)) {
          return {
            valid: null,
            reason: `This Twilio API key may not read messages, so it cannot be checked: ${error.message}`,
          };
        }
        if (isProviderError(error) && error.failureClass === 'provider' && error.code !== 'ADAPTER_ERROR') {
          return { valid: false, reason: error.message };
        }
        throw error;
      }
      return { valid: true, details: { credentials: 'apiKey' } };
    });
  }
}
