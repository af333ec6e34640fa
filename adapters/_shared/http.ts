/**
 * The transport rules every HTTP adapter follows, whichever client its SDK brings (fetch, axios, the AWS SDK's
 * node-http-handler):
 *
 * - **No redirects.** A 3xx answer to any call (they all carry credentials) is refused as a provider-level
 *   `PROVIDER_REJECTED` naming the target's origin only. Same-origin redirects are refused too: no provider API
 *   redirects its API calls, a redirect is a proxy or a hijacked DNS name, and following only "safe" ones would
 *   mean trusting the `Location` header that an attacker writes. Node's fetch strips only `Authorization` and
 *   cookies on a cross-origin hop, not `X-Postmark-Server-Token` or a key in the body.
 * - **Bounded answers.** At most {@link MAX_RESPONSE_BYTES} of any answer are read; a longer one is a transient
 *   `PROVIDER_UNAVAILABLE` (ambiguous for a 2xx to a send: it may have been accepted). The body is read inside the
 *   call, so the attempt's deadline covers the whole read.
 * - **A cut after the status line.** A connection that breaks after a 2xx status line of a send is ambiguous:
 *   the provider had the message.
 *
 * Each call runs in an {@link HttpCallScope} (see {@link runHttpCall}); the transport records what it saw there
 * (the status, the body, a refusal of its own) so that the adapter's classification does not depend on how its
 * SDK wraps errors.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Readable } from 'node:stream';
import { type AdapterCallContext, isProviderError, ProviderError } from 'messagepipe';
import { withDeadline } from './deadline';

/** The most of a provider's answer that is read: 1 MiB. No provider's documented answer comes near it. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** What a call is for: a send may have been delivered when cut short; the read-only calls may not. */
export type HttpOperation = 'send' | 'verify' | 'domains';

/** What the transport saw of one call. */
export interface HttpCallScope {
  /** Provider name, as errors carry it (`postmark`). */
  provider: string;
  /** How messages name the provider (`Postmark`). */
  label: string;
  operation: HttpOperation;
  /** Aborted when the call's deadline passes or the caller gives up. */
  signal: AbortSignal;
  /** The last answer's status line and headers, once they arrived. */
  response?: { status: number; headers: Headers };
  /** The last answer's body as text, once it was read in full. */
  body?: string;
  /** A refusal of the transport itself (redirect, oversized or cut-off answer): it wins over the SDK's error. */
  fault?: ProviderError;
  /** The error of a request that got no answer at all, before the SDK wrapped it. */
  transportError?: unknown;
}

const scopes = new AsyncLocalStorage<HttpCallScope>();

/** The scope of the call under way, if any. */
export function currentHttpScope(): HttpCallScope | undefined {
  return scopes.getStore();
}

/**
 * Runs one provider call under the context's deadline ({@link withDeadline}) in a fresh {@link HttpCallScope}.
 * A failure becomes the transport's own refusal when there is one, else whatever `classify` makes of the SDK's
 * error (given the scope, so it can tell an answer that arrived from none).
 */
export async function runHttpCall<T>(
  ctx: Pick<AdapterCallContext, 'signal' | 'timeoutMs'>,
  { provider, label = provider, operation }: { provider: string; label?: string; operation: HttpOperation },
  call: (scope: HttpCallScope) => Promise<T>,
  classify: (error: unknown, scope: HttpCallScope) => ProviderError,
): Promise<T> {
  return withDeadline(
    ctx,
    async (signal) => {
      const scope: HttpCallScope = { provider, label, operation, signal };
      try {
        return await scopes.run(scope, () => call(scope));
      } catch (error) {
        if (scope.fault) throw scope.fault;
        if (isProviderError(error)) throw error;
        throw classify(error, scope);
      }
    },
    { provider, ambiguous: operation === 'send' },
  );
}

/** The origin of a redirect target, resolved against the request URL; never its path or query. */
function originOf(location: string | null | undefined, base: string | undefined): string {
  if (!location) return 'an unnamed location';
  try {
    const origin = new URL(location, base).origin;
    return origin === 'null' ? 'a non-HTTP location' : origin;
  } catch {
    return 'an unreadable location';
  }
}

/** True for the statuses that redirect (300 Multiple Choices included: it names a `Location` too). */
export function isRedirectStatus(status: number): boolean {
  return status >= 300 && status < 400 && status !== 304;
}

/** The refusal of a redirect: provider-level, naming the target's origin only. */
export function redirectRefused(
  provider: string,
  status: number,
  location: string | null | undefined,
  requestUrl: string | undefined,
  label: string = provider,
): ProviderError {
  return new ProviderError(
    'PROVIDER_REJECTED',
    `${label} answered ${status} redirecting to ${originOf(location, requestUrl)}; redirects are not followed, so credentials never leave the configured endpoint`,
    { provider, status },
  );
}

/** An answer longer than the limit: transient, and ambiguous for a 2xx to a send. */
export function responseTooLarge(
  provider: string,
  status: number,
  operation: HttpOperation,
  limit: number = MAX_RESPONSE_BYTES,
  label: string = provider,
): ProviderError {
  return new ProviderError(
    'PROVIDER_UNAVAILABLE',
    `${label} answered ${status} with a body over ${limit} bytes; it was not read`,
    { provider, status, ambiguous: operation === 'send' && isSuccess(status) },
  );
}

/** A connection that broke after the status line: ambiguous when a send had a 2xx. */
export function answerCutOff(
  provider: string,
  status: number,
  operation: HttpOperation,
  label: string = provider,
): ProviderError {
  return new ProviderError(
    'NETWORK_ERROR',
    `The connection to ${label} broke while reading its ${status} answer`,
    { provider, status, ambiguous: operation === 'send' && isSuccess(status) },
  );
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Records a transport refusal in the current scope and returns it, to be thrown. */
function fault(scope: HttpCallScope | undefined, error: ProviderError): ProviderError {
  if (scope && !scope.fault) scope.fault = error;
  return error;
}

/** Aborts when either signal does (`AbortSignal.any` needs Node 20.3). */
export function eitherSignal(
  first: AbortSignal | undefined,
  second: AbortSignal | undefined,
): AbortSignal | undefined {
  if (!first || !second || first === second) return first ?? second;
  if (first.aborted) return first;
  if (second.aborted) return second;
  const controller = new AbortController();
  const onFirst = () => controller.abort(first.reason);
  const onSecond = () => controller.abort(second.reason);
  first.addEventListener('abort', onFirst, { once: true });
  second.addEventListener('abort', onSecond, { once: true });
  controller.signal.addEventListener(
    'abort',
    () => {
      first.removeEventListener('abort', onFirst);
      second.removeEventListener('abort', onSecond);
    },
    { once: true },
  );
  return controller.signal;
}

/** Statuses whose `Response` may not have a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` for SDKs that take one (and for adapters on plain fetch) that applies the rules of this module: never
 * follows a redirect, reads at most `maxResponseBytes` of the answer (within the call's signal), and hands the SDK
 * a fully read `Response`. Outside a {@link runHttpCall} it applies the same rules under `provider`'s name.
 */
export function guardedFetch(
  provider: string,
  {
    label = provider,
    maxResponseBytes = MAX_RESPONSE_BYTES,
  }: { label?: string; maxResponseBytes?: number } = {},
): typeof fetch {
  return async (input, init) => {
    const scope = currentHttpScope();
    const names = { provider: scope?.provider ?? provider, label: scope?.label ?? label };
    const operation = scope?.operation ?? 'send';
    const signal = eitherSignal(init?.signal ?? undefined, scope?.signal);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    let response: Response;
    try {
      response = await fetch(input, { ...init, ...(signal ? { signal } : {}), redirect: 'manual' });
    } catch (error) {
      if (scope) scope.transportError = error;
      throw error;
    }
    if (scope) scope.response = { status: response.status, headers: response.headers };
    if (isRedirectStatus(response.status)) {
      await response.body?.cancel().catch(() => {});
      throw fault(
        scope,
        redirectRefused(names.provider, response.status, response.headers.get('location'), url, names.label),
      );
    }
    const bytes = await readResponseBody(response, maxResponseBytes, names, operation, scope);
    if (scope) scope.body = new TextDecoder().decode(bytes);
    const headers = new Headers(response.headers);
    // The body handed on is already decoded.
    headers.delete('content-encoding');
    headers.delete('content-length');
    return new Response(NULL_BODY.has(response.status) ? null : bytes, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  };
}

async function readResponseBody(
  response: Response,
  limit: number,
  { provider, label }: { provider: string; label: string },
  operation: HttpOperation,
  scope: HttpCallScope | undefined,
): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw fault(scope, responseTooLarge(provider, response.status, operation, limit, label));
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch (error) {
      // Our own deadline or the caller: not a fault of the answer.
      if (scope?.signal.aborted) throw error;
      throw fault(scope, answerCutOff(provider, response.status, operation, label));
    }
    if (chunk.done) break;
    total += chunk.value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw fault(scope, responseTooLarge(provider, response.status, operation, limit, label));
    }
    chunks.push(chunk.value);
  }
  return concat(chunks, total);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Reads a Node stream (the AWS SDK's response body) into a buffer of at most `limit` bytes, recording a refusal
 * in the scope when the answer is too long or the connection breaks.
 */
export async function readNodeStream(
  stream: Readable,
  status: number,
  scope: HttpCallScope | undefined,
  provider: string,
  limit: number = MAX_RESPONSE_BYTES,
): Promise<Buffer> {
  const operation = scope?.operation ?? 'send';
  const label = scope?.label ?? provider;
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      total += buffer.byteLength;
      if (total > limit) {
        stream.destroy();
        throw fault(scope, responseTooLarge(provider, status, operation, limit, label));
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (isProviderError(error)) throw error;
    if (scope?.signal.aborted) throw error;
    throw fault(scope, answerCutOff(provider, status, operation, label));
  }
  return Buffer.concat(chunks, total);
}

/** The axios request options that apply this module's rules (for SDKs built on axios). */
export const AXIOS_TRANSPORT_OPTIONS = { maxRedirects: 0, maxContentLength: MAX_RESPONSE_BYTES } as const;

/**
 * What an axios error says about the transport: a redirect answer, an answer over the size limit, or a connection
 * cut after the status line. `undefined` for anything else (the adapter's own classification applies).
 */
export function axiosTransportFault(
  error: unknown,
  provider: string,
  operation: HttpOperation,
  label: string = provider,
): ProviderError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { response, request, message, config } = error as {
    response?: { status?: unknown; headers?: unknown; data?: unknown };
    request?: { res?: { statusCode?: unknown } };
    message?: unknown;
    config?: { url?: unknown; baseURL?: unknown };
  };
  const status =
    typeof response?.status === 'number'
      ? response.status
      : typeof request?.res?.statusCode === 'number'
        ? request.res.statusCode
        : undefined;
  if (status === undefined) return undefined;
  if (isRedirectStatus(status)) {
    return redirectRefused(
      provider,
      status,
      axiosHeader(response?.headers, 'location'),
      axiosUrl(config),
      label,
    );
  }
  if (typeof message === 'string' && /^maxContentLength size of \d+ exceeded$/.test(message)) {
    return responseTooLarge(provider, status, operation, MAX_RESPONSE_BYTES, label);
  }
  // An error that carries the status line but no complete answer: the body broke off.
  if (response === undefined || response.data === undefined)
    return answerCutOff(provider, status, operation, label);
  return undefined;
}

function axiosHeader(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const value = (headers as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

function axiosUrl(config: { url?: unknown; baseURL?: unknown } | undefined): string | undefined {
  const url = typeof config?.url === 'string' ? config.url : undefined;
  const base = typeof config?.baseURL === 'string' ? config.baseURL : undefined;
  try {
    return url ? new URL(url, base).href : base;
  } catch {
    return undefined;
  }
}

/** True when `text` is a JSON object: the shape of every JSON provider's documented success answer. */
export function isJsonObjectText(text: string | undefined): boolean {
  if (!text) return false;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}

/** The parts of an AWS SDK v3 `HttpResponse` the guard touches. */
interface AwsHttpResponse {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body?: unknown;
}

/** The parts of an AWS SDK v3 `HttpRequest` the guard reads. */
interface AwsHttpRequest {
  protocol?: string;
  hostname?: string;
  port?: number;
  path?: string;
}

interface AwsRequestHandler {
  handle(request: AwsHttpRequest, options?: unknown): Promise<{ response: AwsHttpResponse }>;
}

/**
 * Puts the rules of this module around an AWS SDK v3 client's request handler (`@smithy/node-http-handler`,
 * which never follows redirects itself but hands a 3xx to the deserialiser): a 3xx is refused, and the body is
 * read here, within the call's signal and up to the cap, before the SDK parses it. Call it right after creating
 * the client, before its first `send`: the SDK reads `config.requestHandler` on every command.
 */
export function guardAwsClient(
  client: { config: { requestHandler?: unknown } },
  provider: string,
  label: string = provider,
): void {
  const inner = client.config.requestHandler as AwsRequestHandler | undefined;
  if (!inner || typeof inner.handle !== 'function') return;
  // The wrapper inherits from the SDK's handler, so `destroy()` and `updateHttpClientConfig()` still reach it.
  const guarded = Object.create(inner) as AwsRequestHandler;
  guarded.handle = async (request, options) => {
    const scope = currentHttpScope();
    const { response } = await inner.handle(request, options);
    const status = response.statusCode;
    if (scope) scope.response = { status, headers: new Headers(definedHeaders(response.headers)) };
    const body = response.body as Readable | undefined;
    if (isRedirectStatus(status)) {
      body?.destroy?.();
      const port = request.port ? `:${request.port}` : '';
      const url = `${request.protocol ?? 'https:'}//${request.hostname ?? ''}${port}${request.path ?? '/'}`;
      throw fault(scope, redirectRefused(provider, status, response.headers.location, url, label));
    }
    if (body && typeof (body as Partial<Readable>)[Symbol.asyncIterator] === 'function') {
      const bytes = await readNodeStream(body, status, scope, provider);
      if (scope) scope.body = bytes.toString('utf8');
      response.body = Readable.from(bytes.byteLength > 0 ? [bytes] : []);
    }
    return { response };
  };
  client.config.requestHandler = guarded;
}

function definedHeaders(headers: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value;
  return out;
}
