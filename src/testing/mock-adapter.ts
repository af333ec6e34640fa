import {
  type Adapter,
  type Channel,
  type DomainStatus,
  type FailureClass,
  type OutboundMessage,
  ProviderError,
  type ProviderErrorCode,
  type SendContext,
  type SendReceipt,
  type VerifyResult,
} from 'messagepipe';
import type { z } from 'zod';

/** A failure to script: a failure class (a typical code is used) or an exact error code. */
export interface MockFailure {
  fail: FailureClass | ProviderErrorCode;
  message?: string;
  status?: number;
  providerCode?: string | number;
  retryAfterMs?: number;
  ambiguous?: boolean;
  /** Wait this long (honouring the abort signal) before failing. */
  delayMs?: number;
}

/** A success to script. */
export interface MockSuccess {
  ok: true;
  messageId?: string;
  /** Wait this long (honouring the abort signal) before succeeding. */
  delayMs?: number;
}

/**
 * What the mock does with one send: `'ok'`, a failure class (`'transient'`, `'provider'`, `'message'`), `'hang'`
 * (never answers until the attempt is aborted), or a detailed {@link MockSuccess} / {@link MockFailure}.
 */
export type MockBehaviour = 'ok' | FailureClass | 'hang' | MockSuccess | MockFailure;

/** One call the mock received. Holds no config, so no secret. */
export interface MockCall<C extends Channel = Channel> {
  message: OutboundMessage<C>;
  projectId: string;
  providerConfigId: string;
  idempotencyKey: string;
  /** What the call ended with. */
  outcome: 'sent' | 'failed' | 'pending';
  messageId?: string;
  error?: ProviderError;
}

/** Options of {@link createMockAdapter}. */
export interface MockAdapterOptions<
  C extends Channel,
  P extends string = string,
  S extends z.ZodType = z.ZodType<unknown>,
> {
  /**
   * Provider name: a built-in one (`sendgrid`…) to stand in for it, or any name for a custom provider. Kept as a
   * literal, so a dispatcher built with the mock types its configs as that provider's.
   */
  provider: P;
  channel: C;
  /** Config schema for a custom provider name; built-in names use the core's schema. */
  configSchema?: S;
  /** What every send does unless a one-off behaviour is queued. @default 'ok' */
  behaviour?: MockBehaviour;
  /** Outcome of credential checks. @default { valid: true } */
  verify?: VerifyResult | ((config: unknown) => VerifyResult | Promise<VerifyResult>);
  /** What `domains` returns; without it the mock does not support domain listing. */
  domains?: DomainStatus[];
}

/** A scriptable adapter that records what it was sent. */
export interface MockAdapter<
  C extends Channel = Channel,
  P extends string = string,
  S extends z.ZodType = z.ZodType<unknown>,
> extends Adapter<C, unknown, P, S> {
  /** Every send call, in order. */
  readonly calls: readonly MockCall<C>[];
  /** The messages it accepted, in order. */
  readonly sent: readonly MockCall<C>[];
  /** How many credential checks it answered. */
  readonly verifyCount: number;
  /** True once `close()` has been called. */
  readonly closed: boolean;
  /** Provider config ids passed to `release()`, in order. */
  readonly released: readonly string[];
  /** Queues behaviours for the next sends, one each; later sends fall back to the default. */
  respondWith(...behaviours: MockBehaviour[]): this;
  /** Sets the default behaviour. */
  setBehaviour(behaviour: MockBehaviour): this;
  /** Sets the outcome of credential checks. */
  setVerify(result: VerifyResult): this;
  /** Forgets calls and queued behaviours and restores the defaults given at creation. */
  reset(): void;
}

const TYPICAL_FAILURE: Record<FailureClass, { code: ProviderErrorCode; status: number; message: string }> = {
  transient: { code: 'PROVIDER_UNAVAILABLE', status: 503, message: 'Service unavailable (mock)' },
  provider: { code: 'PROVIDER_INVALID_CREDENTIALS', status: 401, message: 'Unauthorized (mock)' },
  message: { code: 'RECIPIENT_INVALID', status: 400, message: 'Invalid recipient (mock)' },
};

/**
 * Creates a scriptable adapter for unit tests: it succeeds, fails with any error class, waits, or hangs, as told,
 * and records every message it was given. It works with the real {@link Dispatcher}, so tests exercise the real
 * failover logic without any network.
 *
 * @example
 * ```ts
 * const primary = createMockAdapter({ provider: 'sendgrid', channel: 'email', behaviour: 'transient' });
 * const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
 * const pipe = new Dispatcher({ adapters: [primary, backup] });
 * // … add providers with { verify: false } or rely on the mock's verify, send, then:
 * expect(backup.sent[0]?.message.subject).toBe('Hi');
 * ```
 */
export function createMockAdapter<
  const P extends string,
  C extends Channel,
  S extends z.ZodType = z.ZodType<unknown>,
>(options: MockAdapterOptions<C, P, S>): MockAdapter<C, P, S> {
  const { provider, channel } = options;
  let calls: MockCall<C>[] = [];
  let queue: MockBehaviour[] = [];
  let behaviour: MockBehaviour = options.behaviour ?? 'ok';
  let verifyResult = options.verify;
  let verifyCount = 0;
  let closed = false;
  let released: string[] = [];
  let counter = 0;

  const mock: MockAdapter<C, P, S> = {
    provider,
    channel,
    ...(options.configSchema ? { configSchema: options.configSchema } : {}),
    get calls() {
      return calls;
    },
    get sent() {
      return calls.filter((call) => call.outcome === 'sent');
    },
    get verifyCount() {
      return verifyCount;
    },
    get closed() {
      return closed;
    },
    get released() {
      return released;
    },
    async send(message: OutboundMessage<C>, ctx: SendContext<unknown>): Promise<SendReceipt> {
      const call: MockCall<C> = {
        message,
        projectId: ctx.projectId,
        providerConfigId: ctx.providerConfigId,
        idempotencyKey: ctx.idempotencyKey,
        outcome: 'pending',
      };
      calls.push(call);
      const next = queue.shift() ?? behaviour;
      try {
        const messageId = await perform(next, ctx.signal, provider, () => `${provider}-${++counter}`);
        call.outcome = 'sent';
        call.messageId = messageId;
        return { messageId };
      } catch (error) {
        call.outcome = 'failed';
        if (error instanceof ProviderError) call.error = error;
        throw error;
      }
    },
    async verify(config: unknown): Promise<VerifyResult> {
      verifyCount++;
      if (typeof verifyResult === 'function') return verifyResult(config);
      return verifyResult ?? { valid: true };
    },
    ...(options.domains ? { domains: async () => structuredClone(options.domains!) } : {}),
    release(providerConfigId: string) {
      released.push(providerConfigId);
    },
    close() {
      closed = true;
    },
    respondWith(...behaviours: MockBehaviour[]) {
      queue.push(...behaviours);
      return mock;
    },
    setBehaviour(next: MockBehaviour) {
      behaviour = next;
      return mock;
    },
    setVerify(result: VerifyResult) {
      verifyResult = result;
      return mock;
    },
    reset() {
      calls = [];
      queue = [];
      released = [];
      behaviour = options.behaviour ?? 'ok';
      verifyResult = options.verify;
      verifyCount = 0;
      closed = false;
    },
  };
  return mock;
}

async function perform(
  behaviour: MockBehaviour,
  signal: AbortSignal,
  provider: string,
  nextId: () => string,
): Promise<string> {
  if (behaviour === 'hang') {
    return new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
  if (behaviour === 'ok') return nextId();
  if (typeof behaviour === 'string') throw failure({ fail: behaviour }, provider);
  if (behaviour.delayMs) await sleep(behaviour.delayMs, signal);
  if ('ok' in behaviour) return behaviour.messageId ?? nextId();
  throw failure(behaviour, provider);
}

function failure(spec: MockFailure, provider: string): ProviderError {
  const typical = spec.fail in TYPICAL_FAILURE ? TYPICAL_FAILURE[spec.fail as FailureClass] : undefined;
  const code = typical?.code ?? (spec.fail as ProviderErrorCode);
  const options: ConstructorParameters<typeof ProviderError>[2] = { provider };
  const status = spec.status ?? typical?.status;
  if (status !== undefined) options.status = status;
  if (spec.providerCode !== undefined) options.providerCode = spec.providerCode;
  if (spec.retryAfterMs !== undefined) options.retryAfterMs = spec.retryAfterMs;
  if (spec.ambiguous !== undefined) options.ambiguous = spec.ambiguous;
  return new ProviderError(code, spec.message ?? typical?.message ?? `${code} (mock)`, options);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
