/**
 * A wire-level fake of a provider's HTTP API, on 127.0.0.1 with an ephemeral port. The real SDK is pointed at
 * {@link FakeHttpServer.origin} (every HTTP provider config has an `endpoint` field), so the fake sees exactly the
 * bytes the SDK sends and answers with the provider's real status codes, headers and bodies.
 *
 * Typical use, once per test file:
 * ```ts
 * const fake = useFakeHttpServer(); // starts before the file's tests, resets before each, closes after
 * fake.route('POST', '/v3/mail/send', { status: 202, headers: { 'x-message-id': 'abc' } });
 * fake.once('POST', '/v3/mail/send', { status: 429, json: { errors: [] }, headers: { 'x-ratelimit-reset': '…' } });
 * fake.once('POST', '/v3/mail/send', { fault: 'hang' });
 * // … run the adapter, then look at fake.requests[0].json() / .form() / .multipart()
 * ```
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';

/** One part of a `multipart/form-data` body. */
export interface MultipartPart {
  /** The form field name (`name=` of Content-Disposition). */
  name: string;
  /** Present for file parts. */
  filename?: string;
  contentType?: string;
  /** Part headers, lower-cased names. */
  headers: Record<string, string>;
  data: Buffer;
  /** `data` decoded as UTF-8. */
  text: string;
}

/** A request the fake received, exactly as it came off the wire. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v3/mail/send`. */
  path: string;
  query: URLSearchParams;
  /** Header names are lower-cased (Node's parsing). */
  headers: IncomingHttpHeaders;
  /** The raw body. */
  body: Buffer;
  /** Identifies the TCP connection it came on: equal ids mean a kept-alive connection was reused. */
  connectionId: number;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON (throws when it is not JSON). */
  json<T = unknown>(): T;
  /** The body parsed as `application/x-www-form-urlencoded`. */
  form(): URLSearchParams;
  /** The body parsed as `multipart/form-data` (throws when the content type has no boundary). */
  multipart(): MultipartPart[];
  /**
   * Form fields of a urlencoded or multipart body as `name → values` (repeated fields keep their order).
   * File parts are included with their text.
   */
  fields(): Record<string, string[]>;
}

/** A normal HTTP answer. Give `json` or `body` (text or bytes), or neither for an empty body. */
export interface HttpReply {
  status: number;
  /** The reason phrase of the status line; `''` sends none (`HTTP/1.1 400 `), as HTTP/2 answers never have one. */
  reason?: string;
  headers?: Record<string, string | string[]>;
  /** Serialised as JSON with `content-type: application/json` unless a content type is given. */
  json?: unknown;
  /** Sent verbatim; `content-type: text/plain` unless a content type is given. */
  body?: string | Buffer;
  /** Answers this many milliseconds after the request arrived (a slow provider). */
  delayMs?: number;
}

/**
 * A broken answer:
 * - `hang`: reads the request and never answers (the socket stays open until the client gives up or the fake
 *   closes) — for timeout tests.
 * - `reset`: reads the request, then resets the TCP connection — the request may have been processed.
 * - `malformed-json`: answers `status` (default 200) with `content-type: application/json` and a truncated body.
 */
export interface FaultReply {
  fault: 'hang' | 'reset' | 'malformed-json';
  /** For `malformed-json`. @default 200 */
  status?: number;
  /** For `malformed-json`. */
  headers?: Record<string, string | string[]>;
}

/** What the fake answers: a fixed reply, or one computed from the request (which may itself be computed). */
export type FakeReply = HttpReply | FaultReply | ((request: RecordedRequest) => FakeReply);

/** Which requests a route answers: an exact path (query string ignored) or a regular expression on the path. */
export type PathMatcher = string | RegExp;

interface Route {
  method: string;
  path: PathMatcher;
  reply: FakeReply;
}

interface ConnectionState {
  socket: Socket;
  closed: boolean;
  onClose: Array<() => void>;
}

/** The body sent for `malformed-json`: valid JSON cut in the middle. */
export const MALFORMED_JSON_BODY = '{"id": "<trunc';

/** The fake server. Create it with {@link startFakeHttpServer} or {@link useFakeHttpServer}. */
export class FakeHttpServer {
  /** Every request received since the last {@link reset}, in arrival order (matched or not). */
  readonly requests: RecordedRequest[] = [];
  /** Requests no route or queued reply matched; they were answered 404. A test should usually expect none. */
  readonly unmatched: RecordedRequest[] = [];

  readonly #server: Server;
  readonly #routes: Route[] = [];
  readonly #queue: Route[] = [];
  readonly #connections = new Map<number, ConnectionState>();
  readonly #hanging = new Set<ServerResponse>();
  readonly #waiters: Array<{ count: number; resolve: () => void }> = [];
  #nextConnectionId = 1;
  #origin: string | undefined;

  constructor() {
    this.#server = createServer((request, response) => void this.#handle(request, response));
    // Keep idle kept-alive connections open for the whole test: connection reuse is something tests look at.
    this.#server.keepAliveTimeout = 60_000;
    this.#server.on('connection', (socket: Socket) => {
      const id = this.#nextConnectionId++;
      const state: ConnectionState = { socket, closed: false, onClose: [] };
      this.#connections.set(id, state);
      (socket as Socket & { fakeConnectionId?: number }).fakeConnectionId = id;
      socket.on('close', () => {
        state.closed = true;
        for (const callback of state.onClose.splice(0)) callback();
      });
    });
  }

  /** Starts listening on 127.0.0.1 with an ephemeral port. */
  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.#server.address() as AddressInfo;
    this.#origin = `http://127.0.0.1:${port}`;
    return this;
  }

  /** `http://127.0.0.1:<port>`: put it in the provider config's `endpoint`. */
  get origin(): string {
    if (!this.#origin) throw new Error('The fake server has not been started');
    return this.#origin;
  }

  /** Answers every matching request with `reply` (until {@link reset}). Later routes win over earlier ones. */
  route(method: string, path: PathMatcher, reply: FakeReply): this {
    this.#routes.unshift({ method: method.toUpperCase(), path, reply });
    return this;
  }

  /**
   * Answers the next matching request with `reply`, once. Queued replies are used in order and win over
   * {@link route}s, so `once(…503)` then `once(…202)` scripts a failure followed by a success.
   */
  once(method: string, path: PathMatcher, reply: FakeReply): this {
    this.#queue.push({ method: method.toUpperCase(), path, reply });
    return this;
  }

  /** Forgets routes, queued replies and recorded requests; hung requests are dropped (their sockets destroyed). */
  reset(): void {
    this.#routes.length = 0;
    this.#queue.length = 0;
    this.requests.length = 0;
    this.unmatched.length = 0;
    for (const response of this.#hanging) response.socket?.destroy();
    this.#hanging.clear();
  }

  /** Resolves once at least `count` requests have been received since the last reset. */
  waitForRequests(count: number): Promise<void> {
    if (this.requests.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Number of TCP connections currently open (kept-alive ones included). */
  get openConnections(): number {
    let open = 0;
    for (const state of this.#connections.values()) if (!state.closed) open++;
    return open;
  }

  /** True when the connection with this id has been closed by either side. */
  isConnectionClosed(connectionId: number): boolean {
    return this.#connections.get(connectionId)?.closed ?? true;
  }

  /** Resolves when the connection with this id closes (at once if it already has). */
  connectionClosed(connectionId: number): Promise<void> {
    const state = this.#connections.get(connectionId);
    if (!state || state.closed) return Promise.resolve();
    return new Promise((resolve) => state.onClose.push(resolve));
  }

  /** Stops the server and destroys every socket, hung ones included. */
  async close(): Promise<void> {
    this.reset();
    for (const state of this.#connections.values()) state.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'http://fake.invalid');
    const recorded = recordRequest({
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: Buffer.concat(chunks),
      connectionId: (request.socket as Socket & { fakeConnectionId?: number }).fakeConnectionId ?? 0,
    });
    this.requests.push(recorded);
    for (const waiter of [...this.#waiters]) {
      if (this.requests.length >= waiter.count) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }

    const route = this.#take(recorded);
    if (!route) {
      this.unmatched.push(recorded);
      send(response, {
        status: 404,
        json: { error: `The fake has no route for ${recorded.method} ${recorded.path}` },
      });
      return;
    }
    let reply = route.reply;
    while (typeof reply === 'function') reply = reply(recorded);
    if ('fault' in reply) {
      if (reply.fault === 'hang') {
        this.#hanging.add(response);
        response.on('close', () => this.#hanging.delete(response));
        return;
      }
      if (reply.fault === 'reset') {
        // RST rather than FIN, so the client sees ECONNRESET like a dropped connection.
        request.socket.resetAndDestroy();
        return;
      }
      send(response, {
        status: reply.status ?? 200,
        headers: { 'content-type': 'application/json', ...reply.headers },
        body: MALFORMED_JSON_BODY,
      });
      return;
    }
    if (reply.delayMs !== undefined) {
      const delayed = reply;
      this.#hanging.add(response);
      const timer = setTimeout(() => {
        this.#hanging.delete(response);
        if (!response.destroyed) send(response, delayed);
      }, delayed.delayMs);
      response.on('close', () => {
        clearTimeout(timer);
        this.#hanging.delete(response);
      });
      return;
    }
    send(response, reply);
  }

  #take(request: RecordedRequest): Route | undefined {
    const index = this.#queue.findIndex((route) => matches(route, request));
    if (index >= 0) return this.#queue.splice(index, 1)[0];
    return this.#routes.find((route) => matches(route, request));
  }
}

function matches(route: Route, request: RecordedRequest): boolean {
  if (route.method !== request.method) return false;
  return typeof route.path === 'string' ? route.path === request.path : route.path.test(request.path);
}

function send(response: ServerResponse, reply: HttpReply): void {
  const headers: Record<string, string | string[]> = { ...reply.headers };
  const hasContentType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  let body: string | Buffer = '';
  if (reply.json !== undefined) {
    body = JSON.stringify(reply.json);
    if (!hasContentType) headers['content-type'] = 'application/json';
  } else if (reply.body !== undefined) {
    body = reply.body;
    if (!hasContentType) headers['content-type'] = 'text/plain; charset=utf-8';
  }
  headers['content-length'] = String(Buffer.byteLength(body));
  if (reply.reason !== undefined) response.writeHead(reply.status, reply.reason, headers);
  else response.writeHead(reply.status, headers);
  response.end(body);
}

function recordRequest(
  raw: Omit<RecordedRequest, 'text' | 'json' | 'form' | 'multipart' | 'fields'>,
): RecordedRequest {
  const contentType = String(raw.headers['content-type'] ?? '');
  const recorded: RecordedRequest = {
    ...raw,
    text: () => raw.body.toString('utf8'),
    json: <T>() => JSON.parse(raw.body.toString('utf8')) as T,
    form: () => new URLSearchParams(raw.body.toString('utf8')),
    multipart: () => parseMultipart(raw.body, contentType),
    fields: () => {
      const fields: Record<string, string[]> = {};
      const add = (name: string, value: string) => {
        const values = fields[name] ?? [];
        values.push(value);
        fields[name] = values;
      };
      if (contentType.startsWith('multipart/form-data')) {
        for (const part of recorded.multipart()) add(part.name, part.text);
      } else {
        for (const [name, value] of recorded.form()) add(name, value);
      }
      return fields;
    },
  };
  return recorded;
}

/** Parses a `multipart/form-data` body (RFC 7578). Enough for what SDKs send: no nested multiparts. */
export function parseMultipart(body: Buffer, contentType: string): MultipartPart[] {
  const boundaryMatch = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = boundaryMatch?.[1] ?? boundaryMatch?.[2];
  if (!boundary) throw new Error(`Not a multipart content type: ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let position = body.indexOf(delimiter);
  while (position >= 0) {
    const start = position + delimiter.length;
    // `--` after a delimiter ends the body.
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    // Each part sits between CRLF after the delimiter and CRLF before the next one.
    const raw = body.subarray(start + 2, next - 2);
    const headerEnd = raw.indexOf('\r\n\r\n');
    const headerText = raw.subarray(0, headerEnd).toString('utf8');
    const data = raw.subarray(headerEnd + 4);
    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const disposition = headers['content-disposition'] ?? '';
    const part: MultipartPart = {
      name: /\bname="([^"]*)"/.exec(disposition)?.[1] ?? '',
      headers,
      data: Buffer.from(data),
      text: data.toString('utf8'),
    };
    const filename = /\bfilename="([^"]*)"/.exec(disposition)?.[1];
    if (filename !== undefined) part.filename = filename;
    if (headers['content-type']) part.contentType = headers['content-type'];
    parts.push(part);
    position = next;
  }
  return parts;
}

/** Starts a fake server; close it with {@link FakeHttpServer.close}. */
export function startFakeHttpServer(): Promise<FakeHttpServer> {
  return new FakeHttpServer().start();
}

/**
 * Registers vitest hooks for one fake server in the current file (or `describe` block): started before all tests,
 * {@link FakeHttpServer.reset} before each, closed after all. Returns the server at once; its `origin` is readable
 * from inside tests.
 */
export function useFakeHttpServer(): FakeHttpServer {
  const fake = new FakeHttpServer();
  beforeAll(async () => {
    await fake.start();
  });
  beforeEach(() => fake.reset());
  afterAll(async () => {
    await fake.close();
  });
  return fake;
}

/**
 * A localhost port nothing listens on, for connection-refused tests: a server is bound to an ephemeral port and
 * closed again. Returned as an origin (`http://127.0.0.1:<port>`).
 */
export async function refusedOrigin(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A unique, recognisable value for a fake credential, so tests can search errors for it. */
export function fakeSecret(prefix = ''): string {
  return `${prefix}secret-${randomUUID()}`;
}
