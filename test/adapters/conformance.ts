/**
 * The adapter conformance suite: one set of wire-level tests that every HTTP adapter (email and SMS) runs against
 * a {@link FakeHttpServer} standing in for its provider. A provider's test file describes the provider (routes,
 * real status codes and bodies, expected error codes) and calls {@link describeAdapterConformance}; the suite
 * registers the tests.
 *
 * Every case calls the adapter both ways an app does: directly (`adapter.send(message, ctx)` with a context built
 * by {@link sendContext}) and, for sends, failures and credential checks, through a real {@link Dispatcher}.
 *
 * Generic cases, always run:
 * - success: the request the SDK sent is checked by the spec, the message id mapped from the answer;
 * - every row of `failures`: the right code, failure class, status, retry-after and ambiguity;
 * - a hung connection: `ctx.timeoutMs` and `ctx.signal` both end the call with a transient `PROVIDER_TIMEOUT`;
 * - a reset connection: transient `NETWORK_ERROR`, ambiguous (the request had been sent);
 * - connection refused: transient `NETWORK_ERROR`, not ambiguous (nothing was sent);
 * - a malformed JSON answer;
 * - no error ever holds a secret of the config (message, `JSON.stringify`, `util.inspect` with causes), nor does
 *   any log line;
 * - one client per config revision, reused across sends and released by `release()` / `close()`;
 * - `verify` and `domains` rows, when the spec has them.
 *
 * @example
 * ```ts
 * const fake = useFakeHttpServer();
 * describeAdapterConformance({
 *   provider: 'sendgrid', channel: 'email', fake,
 *   createAdapter: () => sendgrid(),
 *   config: (endpoint) => ({ apiKey: API_KEY, endpoint }),
 *   secrets: () => [API_KEY],
 *   message,
 *   send: { method: 'POST', path: '/v3/mail/send', success: {…}, messageId: '…', assertRequest: (req) => {…} },
 *   failures: [{ name: '401 bad key', reply: { status: 401, json: {…} }, expected: { code: 'PROVIDER_INVALID_CREDENTIALS' } }],
 *   malformedJson: { expected: { code: 'PROVIDER_UNAVAILABLE' } },
 *   connections: 'per-client',
 * });
 * ```
 */
import { inspect } from 'node:util';
import {
  type Adapter,
  type AdapterCallContext,
  type AnyAdapter,
  type Channel,
  Dispatcher,
  type DomainStatus,
  type FailureClass,
  failureClassOf,
  isMessagePipeError,
  isProviderError,
  type Logger,
  type OutboundMessage,
  type ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type SenderInput,
  type SendInput,
} from 'messagepipe';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FakeHttpServer,
  type FakeReply,
  type PathMatcher,
  type RecordedRequest,
  refusedOrigin,
  startFakeHttpServer,
} from './fake-http-server';

/** What a failed call must look like. Only the fields given are checked, except `code` and the failure class. */
export interface ExpectedFailure {
  code: ProviderErrorCode;
  /** Checked always; defaults to the class of `code`. */
  failureClass?: FailureClass;
  /** The HTTP status the error must carry. */
  status?: number;
  /** The provider's own error code the error must carry. */
  providerCode?: string | number;
  /**
   * The wait the error must carry: an exact number (from `Retry-After: 30` → 30000) or a range (for epoch-based
   * reset headers computed from the clock). Give it only where the provider's SDK exposes headers.
   */
  retryAfterMs?: number | { min: number; max: number };
  /** Whether the request may have been delivered. */
  ambiguous?: boolean;
  /** The error message must match (it is meant for people: check it names the cause). */
  message?: RegExp;
}

/** One scripted failure answer and what the adapter must turn it into. */
export interface FailureRow<C extends Channel> {
  /** Test name, e.g. `'400 invalid recipient'`. */
  name: string;
  /** The provider's real answer (status, headers, body per PROVIDERS.md). */
  reply: FakeReply;
  expected: ExpectedFailure;
  /** A message to send instead of the spec's sample one. */
  message?: OutboundMessage<C>;
}

/** A route of the fake with its reply, for rows that need several requests answered. */
export interface FakeRouteReply {
  method: string;
  path: PathMatcher;
  reply: FakeReply;
}

/** A credential check and its expected verdict. */
export interface VerifyRow {
  name: string;
  /** Answers for the request(s) `verify` makes. */
  routes: FakeRouteReply[];
  /**
   * `{ valid: true }`; `{ valid: false, reason }` with a pattern the reason must match; `{ valid: null, reason }`
   * when the provider answered that these credentials may not call the check (a send-only key: stored as
   * `unchecked`, kept in the chain); or `{ error }` when the check cannot tell (network trouble, 5xx) and must throw.
   */
  expected:
    | { valid: true }
    | { valid: false; reason: RegExp }
    | { valid: null; reason: RegExp }
    | { error: ExpectedFailure };
  /** Checks the request(s) the SDK sent (auth header, path). */
  assertRequests?: (requests: RecordedRequest[]) => void;
}

/** A domain listing and its expected result in the common shape. */
export interface DomainsRow {
  name: string;
  routes: FakeRouteReply[];
  /** The exact list (compared with `toEqual`), or `{ error }` when the listing must fail. */
  expected: DomainStatus[] | { error: ExpectedFailure };
}

/**
 * How a provider is described to the suite. `C` is the channel, `Config` the provider's config type.
 */
export interface AdapterConformanceSpec<C extends Channel, Config> {
  /** Provider name, as the adapter reports it. */
  provider: string;
  channel: C;
  /** The fake standing in for the provider, from {@link useFakeHttpServer} at the top of the test file. */
  fake: FakeHttpServer;
  /** A new adapter; the suite makes one per test and closes it afterwards. */
  createAdapter: () => Adapter<C, Config>;
  /**
   * A valid config sending to `endpoint` (the fake's origin, or a refused port). Use distinctive secret values
   * (see `fakeSecret()`), so leaks can be searched for. The suite adds `timeoutMs` where it needs one.
   */
  config: (endpoint: string) => Config;
  /**
   * Every value that must never appear in an error or a log line: the config's secrets, plus forms the SDK derives
   * from them (e.g. the base64 of Basic credentials `api:<key>`).
   */
  secrets: (config: Config) => string[];
  /** A sample message using every field the adapter maps (names, cc/bcc, attachments, headers, tags…). */
  message: OutboundMessage<C>;
  send: {
    /** The route the SDK sends a message to. */
    method: string;
    path: PathMatcher;
    /** The provider's real success answer. */
    success: FakeReply;
    /** The message id the adapter must return for `success`. */
    messageId: string;
    /**
     * Checks the request the SDK actually sent for `message`: path, auth header, content type, every body field.
     * Use `expect`; it runs for both the direct and the Dispatcher send.
     */
    assertRequest: (request: RecordedRequest, message: OutboundMessage<C>, config: Config) => void;
  };
  /** Failure answers and what they must become: the provider's 400/401/403/422/429/5xx per PROVIDERS.md. */
  failures: FailureRow<C>[];
  /**
   * The answer to a send that is cut off inside a JSON body (`content-type: application/json`, truncated), with
   * `status` (default 200) and `headers`, and what must come of it: a message id (the provider's success does
   * not depend on the body) or a failure.
   */
  malformedJson: {
    status?: number;
    headers?: Record<string, string>;
    expected: { messageId: string } | ExpectedFailure;
  };
  /** Overrides of the expected timeout failure. @default `{ code: 'PROVIDER_TIMEOUT', ambiguous: true }` */
  timeout?: Partial<ExpectedFailure>;
  /** Overrides of the expected reset failure. @default `{ code: 'NETWORK_ERROR', ambiguous: true }` */
  reset?: Partial<ExpectedFailure>;
  /** Overrides of the expected refused-connection failure. @default `{ code: 'NETWORK_ERROR', ambiguous: false }` */
  refused?: Partial<ExpectedFailure>;
  /**
   * Whether aborting `ctx.signal` also closes the hung connection (the SDK takes a signal), or only settles the
   * call (the SDK has none; its own timeout, set from `ctx.timeoutMs`, closes the connection later).
   */
  abortClosesConnection: boolean;
  /**
   * How client reuse shows at the fake:
   * - `'per-client'`: each SDK client owns its keep-alive connections, so sends of one config revision share a
   *   connection, a new revision opens another, and `release()` / `close()` close them;
   * - `'shared'`: the SDK uses Node's global agent; the suite checks only that sends keep working across
   *   `release()`, new revisions and `close()`.
   */
  connections: 'per-client' | 'shared';
  /** Credential-check rows, when the adapter has `verify`. */
  verify?: VerifyRow[];
  /** Domain-listing rows, when the adapter has `domains`. */
  domains?: DomainsRow[];
  /**
   * What the Dispatcher is given to send: defaults to {@link toSendInput}(message), which yields the same message
   * after validation. Give the sender config too if the message does not name its sender.
   */
  dispatcher?: { input?: SendInput; sender?: SenderInput };
}

const PROJECT = 'conformance-project';

/** Log lines an adapter wrote, for checking that no secret was logged. */
export interface RecordingLogger extends Logger {
  lines: string[];
}

/** A logger that keeps every line (message and fields) as text. */
export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${fields ? inspect(fields, { depth: 5 }) : ''}`);
  };
  return { lines, debug: record('debug'), warn: record('warn') };
}

/** A {@link SendContext} plus the controller of its signal. */
export type TestSendContext<Config> = SendContext<Config> & {
  controller: AbortController;
  logger: RecordingLogger;
};

/**
 * A send context for calling an adapter directly: a fresh abort signal, a 10 s budget, provider config id
 * `pc-1` at revision `1`, a recording logger. Override any field.
 */
export function sendContext<Config>(
  config: Config,
  overrides: Partial<Omit<SendContext<Config>, 'config' | 'signal'>> = {},
): TestSendContext<Config> {
  const controller = new AbortController();
  return {
    config,
    projectId: PROJECT,
    providerConfigId: 'pc-1',
    configRevision: '1',
    idempotencyKey: 'idem-1',
    timeoutMs: 10_000,
    ...overrides,
    logger: (overrides.logger as RecordingLogger | undefined) ?? recordingLogger(),
    signal: controller.signal,
    controller,
  };
}

/** A context for `verify` / `domains` called directly. */
export function callContext(
  overrides: Partial<Omit<AdapterCallContext, 'signal'>> = {},
): AdapterCallContext & { controller: AbortController; logger: RecordingLogger } {
  const controller = new AbortController();
  return {
    timeoutMs: 10_000,
    ...overrides,
    logger: (overrides.logger as RecordingLogger | undefined) ?? recordingLogger(),
    signal: controller.signal,
    controller,
  };
}

/**
 * The Dispatcher input that yields `message` after validation: empty lists and records are left out (the input
 * schema wants at least one entry), SMS sender fields that come from the sender config are dropped.
 */
export function toSendInput(projectId: string, message: OutboundMessage): SendInput {
  if (message.channel === 'sms') {
    return {
      projectId,
      channel: 'sms',
      to: message.to,
      body: message.body,
      ...(message.from ? { from: message.from } : {}),
    };
  }
  const input: Record<string, unknown> = { projectId, channel: 'email' };
  for (const [key, value] of Object.entries(message)) {
    if (key === 'channel') continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      Object.keys(value).length === 0 &&
      key !== 'from'
    )
      continue;
    input[key] = value;
  }
  return input as SendInput;
}

/** Fails unless no secret value appears in the error: message, JSON form, and inspected form (causes included). */
export function expectNoSecrets(value: unknown, secrets: readonly string[]): void {
  const forms = [
    value instanceof Error ? value.message : '',
    value instanceof Error ? String(value.stack) : '',
    JSON.stringify(value) ?? '',
    inspect(value, { depth: 8, showHidden: false }),
    String(value),
  ];
  for (const secret of secrets) {
    for (const form of forms)
      expect(form.includes(secret), `a secret value leaked into: ${form.slice(0, 500)}`).toBe(false);
  }
}

/** Awaits a promise that must reject, returning what it rejected with. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    const value = await promise;
    throw new Error(`Expected a failure, got ${JSON.stringify(value)}`);
  } catch (error) {
    return error;
  }
}

/** Checks that `error` is a {@link ProviderError} matching `expected` and holding no secret. */
export function expectProviderError(
  error: unknown,
  provider: string,
  expected: ExpectedFailure,
  secrets: readonly string[],
): asserts error is ProviderError {
  if (!isProviderError(error)) {
    throw new Error(`Expected a ProviderError, got: ${inspect(error, { depth: 2 })}`);
  }
  expect({ code: error.code, failureClass: error.failureClass, provider: error.provider }).toEqual({
    code: expected.code,
    failureClass: expected.failureClass ?? failureClassOf(expected.code),
    provider,
  });
  checkFailureDetails(error, expected);
  expectNoSecrets(error, secrets);
}

function checkFailureDetails(
  error: {
    status?: number;
    providerCode?: string | number;
    retryAfterMs?: number;
    ambiguous?: boolean;
    message: string;
  },
  expected: ExpectedFailure,
): void {
  if (expected.status !== undefined) expect(error.status).toBe(expected.status);
  if (expected.providerCode !== undefined) expect(error.providerCode).toBe(expected.providerCode);
  if (expected.ambiguous !== undefined) expect(error.ambiguous ?? false).toBe(expected.ambiguous);
  if (typeof expected.retryAfterMs === 'number') expect(error.retryAfterMs).toBe(expected.retryAfterMs);
  else if (expected.retryAfterMs) {
    expect(error.retryAfterMs).toBeGreaterThanOrEqual(expected.retryAfterMs.min);
    expect(error.retryAfterMs).toBeLessThanOrEqual(expected.retryAfterMs.max);
  }
  if (expected.message) expect(error.message).toMatch(expected.message);
}

/** Registers the conformance tests of one adapter. See {@link AdapterConformanceSpec}. */
export function describeAdapterConformance<C extends Channel, Config>(
  spec: AdapterConformanceSpec<C, Config>,
): void {
  const { fake, provider } = spec;
  const opened: Array<{ close?: () => unknown }> = [];

  /** A new adapter, closed after the test. */
  const adapter = (): Adapter<C, Config> => {
    const created = spec.createAdapter();
    opened.push(created);
    return created;
  };

  /** A Dispatcher with this adapter and one provider record of `config`, closed after the test. */
  const dispatcher = async (config: Config) => {
    const pipe = singleAttemptDispatcher(adapter());
    opened.push(pipe);
    if (spec.dispatcher?.sender) await pipe.senders.set(spec.dispatcher.sender);
    const record = await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: spec.channel,
        provider,
        name: `${provider} under test`,
        config: config as Record<string, unknown>,
      },
      { verify: false },
    );
    return { pipe, record };
  };

  const sendInput = (message: OutboundMessage<C> = spec.message): SendInput =>
    spec.dispatcher?.input && message === spec.message
      ? spec.dispatcher.input
      : toSendInput(PROJECT, message as OutboundMessage);

  const withTimeout = (config: Config, timeoutMs: number): Config => ({ ...config, timeoutMs }) as Config;

  afterEach(async () => {
    for (const resource of opened.splice(0)) await resource.close?.();
  });

  describe(`${provider} adapter conformance`, () => {
    describe('send', () => {
      it('sends the message as the provider expects and returns its message id', async () => {
        fake.route(spec.send.method, spec.send.path, spec.send.success);
        const config = spec.config(fake.origin);
        const ctx = sendContext(config);
        const receipt = await adapter().send(spec.message, ctx);
        expect(receipt).toEqual({ messageId: spec.send.messageId });
        expect(fake.unmatched).toEqual([]);
        expect(fake.requests).toHaveLength(1);
        spec.send.assertRequest(fake.requests[0]!, spec.message, config);
        for (const line of ctx.logger.lines) expectNoSecrets(line, spec.secrets(config));
      });

      it('sends through a Dispatcher', async () => {
        fake.route(spec.send.method, spec.send.path, spec.send.success);
        const config = spec.config(fake.origin);
        const { pipe, record } = await dispatcher(config);
        const result = await pipe.send(sendInput());
        expect(result).toMatchObject({
          provider,
          providerConfigId: record.id,
          messageId: spec.send.messageId,
        });
        expect(result.attempts.map((attempt) => attempt.outcome)).toEqual(['sent']);
        expect(fake.requests).toHaveLength(1);
        spec.send.assertRequest(fake.requests[0]!, spec.message, config);
      });
    });

    describe('failures', () => {
      for (const row of spec.failures) {
        it(`${row.name} → ${row.expected.code}`, async () => {
          fake.once(spec.send.method, spec.send.path, row.reply);
          const config = spec.config(fake.origin);
          const ctx = sendContext(config);
          const error = await rejectionOf(adapter().send(row.message ?? spec.message, ctx));
          expectProviderError(error, provider, row.expected, spec.secrets(config));
          expect(fake.requests).toHaveLength(1);
          for (const line of ctx.logger.lines) expectNoSecrets(line, spec.secrets(config));
        });

        it(`${row.name} → ${row.expected.code}, through a Dispatcher`, async () => {
          fake.once(spec.send.method, spec.send.path, row.reply);
          const config = spec.config(fake.origin);
          const { pipe } = await dispatcher(config);
          const error = await rejectionOf(pipe.send(sendInput(row.message)));
          expectDispatcherFailure(error, provider, row.expected, spec.secrets(config));
        });
      }

      it('a hung connection ends with a timeout when ctx.timeoutMs runs out', async () => {
        fake.route(spec.send.method, spec.send.path, { fault: 'hang' });
        const config = spec.config(fake.origin);
        const error = await rejectionOf(
          adapter().send(spec.message, sendContext(config, { timeoutMs: 150 })),
        );
        expectProviderError(error, provider, timeoutExpectation(spec), spec.secrets(config));
        expect(fake.requests).toHaveLength(1);
      });

      it('a hung connection ends when ctx.signal aborts', async () => {
        fake.route(spec.send.method, spec.send.path, { fault: 'hang' });
        const config = spec.config(fake.origin);
        const ctx = sendContext(config, { timeoutMs: 60_000 });
        const pending = rejectionOf(adapter().send(spec.message, ctx));
        await fake.waitForRequests(1);
        const connectionId = fake.requests[0]!.connectionId;
        ctx.controller.abort(new Error('caller gave up'));
        const error = await pending;
        expectProviderError(
          error,
          provider,
          { ...timeoutExpectation(spec), ambiguous: undefined },
          spec.secrets(config),
        );
        expect((error as ProviderError).failureClass).toBe('transient');
        if (spec.abortClosesConnection) await fake.connectionClosed(connectionId);
      });

      it('a hung connection times out through a Dispatcher with the config timeoutMs', async () => {
        fake.route(spec.send.method, spec.send.path, { fault: 'hang' });
        const config = withTimeout(spec.config(fake.origin), 150);
        const { pipe } = await dispatcher(config);
        const error = await rejectionOf(pipe.send(sendInput()));
        expectDispatcherFailure(error, provider, timeoutExpectation(spec), spec.secrets(config));
      });

      it('a connection reset after the request → transient, ambiguous', async () => {
        fake.route(spec.send.method, spec.send.path, { fault: 'reset' });
        const config = spec.config(fake.origin);
        const error = await rejectionOf(adapter().send(spec.message, sendContext(config)));
        expectProviderError(
          error,
          provider,
          { code: 'NETWORK_ERROR', ambiguous: true, ...spec.reset },
          spec.secrets(config),
        );
      });

      it('connection refused → transient NETWORK_ERROR, not ambiguous', async () => {
        const config = spec.config(await refusedOrigin());
        const error = await rejectionOf(adapter().send(spec.message, sendContext(config)));
        expectProviderError(
          error,
          provider,
          { code: 'NETWORK_ERROR', ambiguous: false, ...spec.refused },
          spec.secrets(config),
        );
      });

      it('connection refused fails over through a Dispatcher', async () => {
        const config = spec.config(await refusedOrigin());
        const { pipe } = await dispatcher(config);
        const error = await rejectionOf(pipe.send(sendInput()));
        expectDispatcherFailure(
          error,
          provider,
          { code: 'NETWORK_ERROR', ambiguous: false, ...spec.refused },
          spec.secrets(config),
        );
      });

      it('a malformed JSON answer', async () => {
        fake.once(spec.send.method, spec.send.path, {
          fault: 'malformed-json',
          status: spec.malformedJson.status ?? 200,
          ...(spec.malformedJson.headers ? { headers: spec.malformedJson.headers } : {}),
        });
        const config = spec.config(fake.origin);
        const outcome = adapter().send(spec.message, sendContext(config));
        const expected = spec.malformedJson.expected;
        if ('messageId' in expected) {
          expect(await outcome).toEqual({ messageId: expected.messageId });
        } else {
          expectProviderError(await rejectionOf(outcome), provider, expected, spec.secrets(config));
        }
      });
    });

    describe('clients', () => {
      it('reuses one client per config revision and releases it', async () => {
        fake.route(spec.send.method, spec.send.path, spec.send.success);
        const config = spec.config(fake.origin);
        const subject = adapter();
        const ctx = sendContext(config);
        await subject.send(spec.message, ctx);
        await subject.send(spec.message, ctx);
        const [first, second] = fake.requests;
        if (spec.connections === 'per-client') expect(second!.connectionId).toBe(first!.connectionId);

        await subject.release?.(ctx.providerConfigId, ctx.projectId);
        if (spec.connections === 'per-client') await fake.connectionClosed(first!.connectionId);
        await subject.send(spec.message, ctx);
        const third = fake.requests[2]!;
        if (spec.connections === 'per-client') expect(third.connectionId).not.toBe(first!.connectionId);

        const revised = sendContext(config, { configRevision: '2' });
        await subject.send(spec.message, revised);
        const fourth = fake.requests[3]!;
        if (spec.connections === 'per-client') {
          expect(fourth.connectionId).not.toBe(third.connectionId);
          await fake.connectionClosed(third.connectionId);
        }

        await subject.close?.();
        if (spec.connections === 'per-client') await fake.connectionClosed(fourth.connectionId);
        expect(fake.requests).toHaveLength(4);
        for (const request of fake.requests) spec.send.assertRequest(request, spec.message, config);
      });

      it('keeps separate clients for separate provider configs', async () => {
        fake.route(spec.send.method, spec.send.path, spec.send.success);
        const config = spec.config(fake.origin);
        const subject = adapter();
        await subject.send(spec.message, sendContext(config, { providerConfigId: 'pc-a' }));
        await subject.send(spec.message, sendContext(config, { providerConfigId: 'pc-b' }));
        const [first, second] = fake.requests;
        if (spec.connections === 'per-client') expect(second!.connectionId).not.toBe(first!.connectionId);
        await subject.release?.('pc-a', sendContext(config).projectId);
        if (spec.connections === 'per-client') {
          await fake.connectionClosed(first!.connectionId);
          expect(fake.isConnectionClosed(second!.connectionId)).toBe(false);
        }
        await subject.send(spec.message, sendContext(config, { providerConfigId: 'pc-b' }));
        if (spec.connections === 'per-client')
          expect(fake.requests[2]!.connectionId).toBe(second!.connectionId);
      });

      it('never shares a client between two projects whose records have the same id', async () => {
        // Ids are unique per project only (a copy of rows produces the same id in two projects): project B's
        // message must reach B's endpoint with B's config, never ride on the client built for project A.
        const other = await startFakeHttpServer();
        try {
          fake.route(spec.send.method, spec.send.path, spec.send.success);
          other.route(spec.send.method, spec.send.path, spec.send.success);
          const configA = spec.config(fake.origin);
          const configB = spec.config(other.origin);
          const subject = adapter();
          const shared = { providerConfigId: 'pc-same', configRevision: '1' };
          await subject.send(spec.message, sendContext(configA, { ...shared, projectId: 'tenant-a' }));
          await subject.send(spec.message, sendContext(configB, { ...shared, projectId: 'tenant-b' }));
          expect(fake.requests).toHaveLength(1);
          expect(other.requests).toHaveLength(1);
          spec.send.assertRequest(other.requests[0]!, spec.message, configB);
          // Releasing one project's record leaves the other's client alone.
          await subject.release?.('pc-same', 'tenant-a');
          await subject.send(spec.message, sendContext(configB, { ...shared, projectId: 'tenant-b' }));
          expect(other.requests).toHaveLength(2);
          if (spec.connections === 'per-client') {
            expect(other.requests[1]!.connectionId).toBe(other.requests[0]!.connectionId);
          }
        } finally {
          await other.close();
        }
      });
    });

    const verifyRows = spec.verify ?? [];
    if (verifyRows.length > 0) {
      describe('verify', () => {
        for (const row of verifyRows) {
          it(row.name, async () => {
            for (const route of row.routes) fake.route(route.method, route.path, route.reply);
            const config = spec.config(fake.origin);
            const subject = adapter();
            const outcome = subject.verify!(config, callContext());
            if ('error' in row.expected) {
              expectProviderError(
                await rejectionOf(outcome),
                provider,
                row.expected.error,
                spec.secrets(config),
              );
            } else {
              const verdict = await outcome;
              if (row.expected.valid) expect(verdict.valid).toBe(true);
              else {
                expect(verdict).toEqual({
                  valid: row.expected.valid,
                  reason: expect.stringMatching(row.expected.reason),
                });
              }
              expectNoSecrets(verdict, spec.secrets(config));
            }
            row.assertRequests?.(fake.requests);
            expect(fake.unmatched).toEqual([]);
          });

          it(`${row.name}, through Dispatcher providers.add`, async () => {
            for (const route of row.routes) fake.route(route.method, route.path, route.reply);
            const config = spec.config(fake.origin);
            const pipe = singleAttemptDispatcher(adapter());
            opened.push(pipe);
            const outcome = pipe.providers.add({
              projectId: PROJECT,
              channel: spec.channel,
              provider,
              name: 'verified',
              config: config as Record<string, unknown>,
            });
            if ('error' in row.expected) {
              expectProviderError(
                await rejectionOf(outcome),
                provider,
                row.expected.error,
                spec.secrets(config),
              );
            } else if (row.expected.valid) {
              const record = await outcome;
              expect(record.credentials.status).toBe('valid');
              expectNoSecrets(record, spec.secrets(config));
            } else if (row.expected.valid === null) {
              // Cannot check is not a verdict: stored as unchecked, with the reason, and kept in the chain.
              const record = await outcome;
              expect(record.credentials).toEqual({
                status: 'unchecked',
                checkedAt: expect.any(String),
                reason: expect.stringMatching(row.expected.reason),
              });
              const again = await pipe.providers.validate({ projectId: PROJECT, id: record.id });
              expect(again).toMatchObject({ valid: false, status: 'unchecked' });
              const [listed] = await pipe.providers.list({ projectId: PROJECT });
              expect(listed?.credentials.status).toBe('unchecked');
              expectNoSecrets([record, again], spec.secrets(config));
            } else {
              expectProviderError(
                await rejectionOf(outcome),
                provider,
                { code: 'PROVIDER_INVALID_CREDENTIALS', message: row.expected.reason },
                spec.secrets(config),
              );
            }
          });
        }
      });
    }

    const domainRows = spec.domains ?? [];
    if (domainRows.length > 0) {
      describe('domains', () => {
        for (const row of domainRows) {
          it(row.name, async () => {
            for (const route of row.routes) fake.route(route.method, route.path, route.reply);
            const config = spec.config(fake.origin);
            const outcome = adapter().domains!(config, callContext());
            if (Array.isArray(row.expected)) {
              const domains = await outcome;
              expect(domains).toEqual(row.expected);
              expectNoSecrets(domains, spec.secrets(config));
            } else {
              expectProviderError(
                await rejectionOf(outcome),
                provider,
                row.expected.error,
                spec.secrets(config),
              );
            }
            expect(fake.unmatched).toEqual([]);
          });
        }
      });
    }
  });
}

/**
 * A Dispatcher that makes exactly one attempt per provider (no retries, no circuit breaker), so each scripted
 * answer maps to one attempt.
 */
export function singleAttemptDispatcher(...adapters: AnyAdapter[]): Dispatcher {
  return new Dispatcher({ adapters, logger: recordingLogger(), retry: false, circuitBreaker: false });
}

function timeoutExpectation(spec: { timeout?: Partial<ExpectedFailure> }): ExpectedFailure {
  return { code: 'PROVIDER_TIMEOUT', ambiguous: true, ...spec.timeout };
}

/**
 * Checks what a single-provider Dispatcher throws for a failure: a message-level failure is rethrown as it is
 * (with the attempts); anything else ends in `ALL_PROVIDERS_FAILED` with the classified attempt.
 */
export function expectDispatcherFailure(
  error: unknown,
  provider: string,
  expected: ExpectedFailure,
  secrets: readonly string[],
): void {
  expect(isMessagePipeError(error)).toBe(true);
  expectNoSecrets(error, secrets);
  const failureClass = expected.failureClass ?? failureClassOf(expected.code);
  if (failureClass === 'message') {
    expectProviderError(error, provider, { code: expected.code, failureClass }, secrets);
  } else {
    expect((error as { code: string }).code).toBe('ALL_PROVIDERS_FAILED');
  }
  const attempts = (error as { attempts?: Array<{ provider: string; outcome: string; error?: unknown }> })
    .attempts;
  expect(attempts).toHaveLength(1);
  const attempt = attempts![0]!;
  expect(attempt).toMatchObject({ provider, outcome: 'failed' });
  const attemptError = attempt.error as { code: string; failureClass: string; message: string };
  expect({ code: attemptError.code, failureClass: attemptError.failureClass }).toEqual({
    code: expected.code,
    failureClass,
  });
  checkFailureDetails(attemptError, expected);
}

/**
 * Checks the outcome of a send the provider definitely accepted without giving a message id: counted as sent
 * under an `unknown-<uuid>` placeholder, with one warning that names `providerLabel` and holds no secret.
 */
export function expectPlaceholderReceipt(
  receipt: { messageId: string },
  logger: RecordingLogger,
  providerLabel: string,
  secrets: readonly string[],
): void {
  expect(receipt.messageId).toMatch(/^unknown-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(logger.lines.filter((line) => line.startsWith('warn'))).toEqual([
    expect.stringContaining(`${providerLabel} accepted a message without returning a message id`),
  ]);
  expectNoSecrets(logger.lines, secrets);
}
