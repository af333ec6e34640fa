/**
 * Termii adapter, on plain `fetch` (Termii has no official Node SDK, so there is nothing to install). Sends with
 * `POST {endpoint}/api/sms/send`; the API key travels in the JSON body and, for the balance check, in the query
 * string, so neither request bodies nor URLs are ever logged or put in an error.
 *
 * Sender id, first match wins:
 * 1. the message's own `from`, when it is an alphanumeric sender id — a phone number there is ignored, since
 *    Termii's SMS routes take registered sender ids, not numbers;
 * 2. the project's SMS sender id (`pipe.senders.set({ channel: 'sms', senderId })`): the project's sender
 *    configuration says who its messages come from, as it does for email;
 * 3. the provider config's `senderId` (the account's default registered id).
 * Termii sender ids are 3-11 characters ("from … a 3-11 character sender ID", https://developers.termii.com/messaging-api).
 * The config's own `senderId` is held to that when the config is validated (`CONFIG_INVALID`). A message or project
 * sender id outside it (the shared SMS sender id allows 1-11 characters, which other providers take) is refused
 * here before any request, as `SENDER_UNVERIFIED`: provider-level, so the send fails over to a provider that can
 * use it rather than going out from another identity.
 *
 * Success: Termii's documented answer is `{"message_id":"9122821270554876574","message":"Successfully Sent",
 * "balance":9,"user":"Peter Mcleish"}`, with no `code` field (https://developers.termii.com/messaging-api; the
 * termii-rust models have `code` optional). A 200 that names a `message_id` is a send, as is one with
 * `code: "ok"`; the id is read from the raw text, since a JSON number of 19 digits does not survive `JSON.parse`.
 *
 * @example
 * ```ts
 * import { Dispatcher } from 'messagepipe';
 * import { termii } from 'messagepipe/adapters/termii';
 * const pipe = new Dispatcher({ adapters: [termii()] });
 * ```
 */
import {
  type Adapter,
  type AdapterCallContext,
  ClientPool,
  type OutboundSms,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type TermiiConfig,
  termiiConfigSchema,
  type VerifyResult,
} from 'messagepipe';
import { withDeadline } from './_shared/deadline';
import {
  classifyNetworkErrorCode,
  codeForHttpStatus,
  excerpt,
  isNetworkErrorCode,
  retryAfterFromHeaders,
} from './_shared/http-errors';
import { acceptedWithoutId } from './_shared/message-id';

const PROVIDER = 'termii';

/** Termii's default API origin; accounts are given their own base URL in the dashboard (`endpoint`). */
export const TERMII_DEFAULT_ORIGIN = 'https://v3.api.termii.com';

/** A Termii sender id: 3 to 11 letters, digits or spaces. */
const TERMII_SENDER_ID = /^[A-Za-z0-9 ]{3,11}$/;
/** An E.164 number, which Termii's `from` does not take on SMS routes (see the module comment). */
const PHONE_NUMBER = /^\+[1-9]\d{6,14}$/;

/** Termii's answer to a send or a balance check; every field is optional because error bodies vary. */
interface TermiiAnswer {
  code?: unknown;
  message?: unknown;
  message_id?: unknown;
  message_id_str?: unknown;
  balance?: unknown;
  currency?: unknown;
  errors?: unknown;
}

/** What one HTTP exchange with Termii produced. */
interface TermiiResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined when it was not JSON. */
  answer: TermiiAnswer | undefined;
  /** The raw body, for error messages when it was not JSON, and for ids too long for a JSON number. */
  text: string;
}

/** A top-level `"message_id": <number>` in a raw answer. */
const NUMERIC_MESSAGE_ID = /"message_id"\s*:\s*(-?\d+)\s*[,}]/;

/**
 * The message id of an answer as text, every digit kept: `message_id_str` when given, else `message_id` — as Termii
 * sent it when it is a JSON number (`9122821270554876574` is beyond `Number.MAX_SAFE_INTEGER`, and `JSON.parse`
 * would round it to `9122821270554876000`). `undefined` when the answer names none.
 */
export function termiiMessageIdOf(answer: TermiiAnswer | undefined, rawText: string): string | undefined {
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
  const fromString = text(answer?.message_id_str) ?? text(answer?.message_id);
  if (fromString) return fromString;
  if (typeof answer?.message_id !== 'number') return undefined;
  return NUMERIC_MESSAGE_ID.exec(rawText)?.[1] ?? String(answer.message_id);
}

/**
 * One Termii account: its origin and API key. Cheap to build, but kept per provider config like the SDK clients
 * of the other adapters, so the key is read from the config once.
 */
class TermiiClient {
  readonly #origin: string;
  readonly #apiKey: string;

  constructor(config: Pick<TermiiConfig, 'apiKey' | 'endpoint'>) {
    this.#origin = termiiApiOrigin(config);
    this.#apiKey = config.apiKey;
  }

  /** `POST /api/sms/send`. */
  send(payload: Omit<TermiiSendBody, 'api_key'>, signal: AbortSignal): Promise<TermiiResponse> {
    const body: TermiiSendBody = { api_key: this.#apiKey, ...payload };
    return this.#exchange(`${this.#origin}/api/sms/send`, signal, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
  }

  /** `GET /api/get-balance?api_key=…`. */
  balance(signal: AbortSignal): Promise<TermiiResponse> {
    const url = new URL('/api/get-balance', this.#origin);
    url.searchParams.set('api_key', this.#apiKey);
    return this.#exchange(url.href, signal, { method: 'GET', headers: { accept: 'application/json' } });
  }

  /** Removes the API key from text that came back from Termii, in case an answer echoes the request. */
  scrub(text: string): string {
    if (this.#apiKey.length < 4) return text;
    return text
      .split(this.#apiKey)
      .join('[REDACTED]')
      .split(encodeURIComponent(this.#apiKey))
      .join('[REDACTED]');
  }

  async #exchange(url: string, signal: AbortSignal, init: RequestInit): Promise<TermiiResponse> {
    const response = await fetch(url, { ...init, signal, redirect: 'error' });
    const text = await response.text();
    let answer: TermiiAnswer | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) answer = parsed as TermiiAnswer;
    } catch {
      // Not JSON (a proxy's HTML page, an empty 503): classified by status alone.
    }
    return { status: response.status, headers: response.headers, answer, text };
  }
}

/** The JSON body of `POST /api/sms/send`. */
export interface TermiiSendBody {
  api_key: string;
  /** International format without `+`, e.g. `2348012345678`. */
  to: string;
  from: string;
  sms: string;
  type: 'plain';
  channel: 'generic' | 'dnd' | 'whatsapp';
}

/** The API origin a config talks to: `endpoint` when set, else {@link TERMII_DEFAULT_ORIGIN}. */
export function termiiApiOrigin(config: Pick<TermiiConfig, 'endpoint'>): string {
  return (config.endpoint ?? TERMII_DEFAULT_ORIGIN).replace(/\/+$/, '');
}

/**
 * The sender id Termii gets for a message: the message's alphanumeric `from`, else the project's sender id
 * (`message.senderId`), else the config's `senderId`. `undefined` when there is none. The chosen id is not checked
 * here; {@link toTermiiPayload} refuses one Termii cannot use.
 */
export function termiiSenderOf(
  message: Pick<OutboundSms, 'from' | 'senderId'>,
  config: Partial<Pick<TermiiConfig, 'senderId'>>,
): string | undefined {
  if (message.from !== undefined && !PHONE_NUMBER.test(message.from)) return message.from;
  return message.senderId ?? config.senderId;
}

/** The send body without the API key, for a message already validated as E.164. */
export function toTermiiPayload(
  message: OutboundSms,
  config: Pick<TermiiConfig, 'senderId' | 'channel'>,
): Omit<TermiiSendBody, 'api_key'> {
  // The core validated `to` as E.164; checked again because a custom caller may hand the adapter anything.
  if (!/^\+[1-9]\d{6,14}$/.test(message.to)) {
    throw new ProviderError('RECIPIENT_INVALID', 'Termii needs an E.164 recipient such as +2348012345678', {
      provider: PROVIDER,
    });
  }
  const from = termiiSenderOf(message, config);
  if (!from) {
    throw new ProviderError(
      'SENDER_UNVERIFIED',
      'No Termii sender id: set senderId in the provider config or the project SMS sender',
      { provider: PROVIDER },
    );
  }
  if (!TERMII_SENDER_ID.test(from)) {
    const source = from === message.from ? "the message's from" : "the project's SMS sender id";
    throw new ProviderError(
      'SENDER_UNVERIFIED',
      `Termii takes sender ids of 3-11 letters, digits or spaces; ${source} (${from.length} characters) is not one`,
      { provider: PROVIDER },
    );
  }
  return {
    to: message.to.slice(1),
    from,
    sms: message.body,
    type: 'plain',
    channel: config.channel ?? 'generic',
  };
}

/** Termii's own explanation of a failure, without the API key, shortened. */
function describeAnswer(response: TermiiResponse, client: TermiiClient): string {
  const { answer } = response;
  const parts: string[] = [];
  if (typeof answer?.message === 'string' && answer.message.trim()) parts.push(answer.message);
  if (typeof answer?.errors === 'object' && answer.errors !== null) {
    for (const value of Object.values(answer.errors)) {
      if (Array.isArray(value)) parts.push(...value.filter((entry) => typeof entry === 'string'));
      else if (typeof value === 'string') parts.push(value);
    }
  }
  if (parts.length === 0 && !answer && response.text.trim()) parts.push(response.text);
  return parts.length > 0 ? excerpt(client.scrub(parts.join('; '))) : 'no error details';
}

const SENDER_PROBLEM = /sender ?id|not set up on this route/i;
/**
 * Wording that is about the recipient itself: "Invalid phone number", "phone number is invalid", "recipient … not
 * valid", a validation error on the `to` field. Generic words ("to", "number") alone are not enough: "Failed to
 * send message" says nothing about the number, and reading it as message-level would stop failover.
 */
const RECIPIENT_PROBLEM =
  /\b(?:invalid|incorrect|wrong|bad|unsupported)\s+(?:(?:phone|mobile|destination|recipient)\s+)?(?:number|recipient|destination)s?\b|\b(?:phone|mobile|destination)\s+numbers?\s+(?:is\s+|are\s+)?(?:invalid|not valid|incorrect|not supported)|\brecipients?\b[^.;]*\b(?:invalid|not valid|incorrect|blocked|opted[ -]?out|dnd|unreachable|not supported)|\bthe to field\b/i;
const BALANCE_PROBLEM = /insufficient|balance|fund|top ?up/i;
const AUTH_PROBLEM = /api[ _]?key|unauthori[sz]ed|unauthenticated/i;

/**
 * The code of a refused send. Termii answers with free text, so the text refines the status: a sender id the
 * route does not know is provider-level (another provider may send), a bad number is message-level.
 */
export function codeForTermiiRefusal(status: number, message: string): ProviderErrorCode {
  if (status === 429) return 'PROVIDER_RATE_LIMITED';
  if (status >= 500) return 'PROVIDER_UNAVAILABLE';
  if (SENDER_PROBLEM.test(message)) return 'SENDER_UNVERIFIED';
  if (status === 401 || AUTH_PROBLEM.test(message)) return 'PROVIDER_INVALID_CREDENTIALS';
  if (BALANCE_PROBLEM.test(message)) return 'ACCOUNT_SUSPENDED';
  if (status === 400 || status === 422 || status === 200) {
    if (RECIPIENT_PROBLEM.test(message)) return 'RECIPIENT_INVALID';
    // Anything else ("Failed to send message, try again", "Unable to process request", a 200 without
    // `code: "ok"`) says nothing certain about the message: let another provider try.
    return 'PROVIDER_REJECTED';
  }
  return codeForHttpStatus(status);
}

function refusal(response: TermiiResponse, client: TermiiClient, what: string): ProviderError {
  const description = describeAnswer(response, client);
  const code = codeForTermiiRefusal(response.status, description);
  const options: ConstructorParameters<typeof ProviderError>[2] = {
    provider: PROVIDER,
    status: response.status,
  };
  if (typeof response.answer?.code === 'string' && response.answer.code !== 'ok') {
    options.providerCode = response.answer.code;
  }
  if (code === 'PROVIDER_RATE_LIMITED' || code === 'PROVIDER_UNAVAILABLE') {
    const retryAfterMs = retryAfterFromHeaders(response.headers);
    if (retryAfterMs !== undefined) options.retryAfterMs = retryAfterMs;
  }
  const verb = response.status === 200 ? 'did not accept' : 'refused';
  return new ProviderError(code, `Termii ${verb} ${what} (${response.status}): ${description}`, options);
}

/**
 * Turns what `fetch` threw into a classified error. Undici reports network failures as `TypeError: fetch failed`
 * with the Node error (`ECONNREFUSED`, `UND_ERR_SOCKET`…) as `cause`; neither holds the body, but the error is not
 * kept as `cause` anyway.
 */
function networkFailure(error: unknown, what: string, ambiguous: boolean): ProviderError {
  if (error instanceof ProviderError) return error;
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const errorCode = cause?.code ?? (error as { code?: unknown } | undefined)?.code;
  if (isNetworkErrorCode(errorCode)) {
    const failure = classifyNetworkErrorCode(errorCode);
    return new ProviderError(failure.code, `Could not reach Termii for ${what} (${errorCode})`, {
      provider: PROVIDER,
      ambiguous: ambiguous && failure.ambiguous,
    });
  }
  const name = error instanceof Error ? error.name : 'Error';
  // A body cut short, a redirect refused: the request may have been processed.
  return new ProviderError('NETWORK_ERROR', `Termii ${what} failed (${name})`, {
    provider: PROVIDER,
    ambiguous,
  });
}

/**
 * The Termii adapter. Register it with `new Dispatcher({ adapters: [termii()] })`; the provider config is
 * {@link TermiiConfig} (`apiKey`, `senderId`, optional `channel`, `endpoint`, `timeoutMs`).
 */
export function termii(): Adapter<'sms', TermiiConfig> {
  const clients = new ClientPool<TermiiConfig, TermiiClient>((config) => new TermiiClient(config));

  return {
    provider: PROVIDER,
    channel: 'sms',
    configSchema: termiiConfigSchema,

    async send(message: OutboundSms, ctx: SendContext<TermiiConfig>) {
      const payload = toTermiiPayload(message, ctx.config);
      const client = await clients.get(ctx);
      const response = await withDeadline(
        ctx,
        (signal) =>
          client.send(payload, signal).catch((error: unknown) => {
            throw networkFailure(error, 'the message', true);
          }),
        { provider: PROVIDER, ambiguous: true },
      );
      const messageId = termiiMessageIdOf(response.answer, response.text);
      if (response.status === 200 && (messageId !== undefined || response.answer?.code === 'ok')) {
        ctx.logger.debug('termii accepted a message', { status: response.status });
        // A message id, or `code: "ok"` even without one, is a definite acceptance: failing over would deliver
        // twice.
        return { messageId: messageId ?? acceptedWithoutId(ctx.logger, 'Termii', PROVIDER) };
      }
      if (response.status >= 200 && response.status < 300 && !response.answer) {
        // Termii took the request but its answer could not be read: the message may well be on its way.
        throw new ProviderError(
          'PROVIDER_UNAVAILABLE',
          `Termii answered ${response.status} with a body that is not JSON; the message may have been accepted`,
          { provider: PROVIDER, status: response.status, ambiguous: true },
        );
      }
      throw refusal(response, client, 'the message');
    },

    async verify(config: TermiiConfig, ctx: AdapterCallContext): Promise<VerifyResult> {
      const client = new TermiiClient(config);
      const response = await withDeadline(
        ctx,
        (signal) =>
          client.balance(signal).catch((error: unknown) => {
            throw networkFailure(error, 'the balance check', false);
          }),
        { provider: PROVIDER, ambiguous: false },
      );
      const answer = response.answer;
      if (response.status === 200 && answer && answer.balance !== undefined && answer.balance !== null) {
        const details: Record<string, unknown> = { balance: answer.balance };
        if (typeof answer.currency === 'string') details.currency = answer.currency;
        return { valid: true, details };
      }
      const error = refusal(response, client, 'the balance check');
      if (
        error.code === 'PROVIDER_INVALID_CREDENTIALS' ||
        error.code === 'ACCOUNT_SUSPENDED' ||
        response.status === 200
      ) {
        return { valid: false, reason: error.message };
      }
      throw error;
    },

    release: (providerConfigId, projectId) => clients.release(providerConfigId, projectId),
    close: () => clients.close(),
  };
}
