import type { z } from 'zod';
import type { AdapterWebhook } from './delivery/types';
import { ProviderError } from './errors';
import { RecordMap } from './record-map';
import type { BuiltInConfigs, BuiltInProviders } from './schemas/providers';
import type { BuiltInProviderName, Channel, DomainStatus, OutboundMessage, VerifyResult } from './types';

/** Where MessagePipe writes warnings and debug lines. Nothing written here ever holds a secret. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** The default logger: warnings go to `process.emitWarning`, debug lines nowhere. */
export const defaultLogger: Logger = {
  debug: () => {},
  warn: (message) => process.emitWarning(message, { type: 'MessagePipeWarning' }),
};

/** What an adapter gets for a credential check or a domain listing. */
export interface AdapterCallContext {
  /** Aborted when the call times out or the caller gives up. Pass it to the SDK. */
  signal: AbortSignal;
  /** The time budget of this call, for SDKs that take a timeout rather than a signal. */
  timeoutMs: number;
  logger: Logger;
}

/** What an adapter gets with each message. */
export interface SendContext<Config> extends AdapterCallContext {
  /** The validated config, secrets included. Never log it. */
  config: Config;
  projectId: string;
  providerConfigId: string;
  /** Changes whenever the provider record changes: key cached clients on it (see {@link ClientPool}). */
  configRevision: string;
  /** The same for every attempt of one send. Use it where the provider supports idempotent requests. */
  idempotencyKey: string;
  /**
   * True when `signal` aborts by itself once `timeoutMs` has passed, with a `PROVIDER_TIMEOUT`
   * {@link ProviderError} as its reason, as the dispatcher's contexts do: the adapter then needs no timer of its
   * own. If the adapter rejects at once (before the event loop turns) with a `PROVIDER_TIMEOUT` of its own, for
   * example one that is not ambiguous because nothing had been sent, the dispatcher takes that one.
   */
  readonly signalTimesOut?: boolean;
}

/** What a provider returned for an accepted message. */
export interface SendReceipt {
  messageId: string;
  /**
   * Recipients the provider refused while accepting the message for the others (a partial delivery). Report
   * them here, and warn: the send still counts as sent, since failing over would deliver twice to the others.
   */
  rejectedRecipients?: string[];
}

/**
 * What one provider documents that it takes in one message, beyond the message-wide limits every message is held to.
 * A message over one of them skips this provider as a failed attempt (`PROVIDER_LIMIT_EXCEEDED`, provider-level) and
 * the send goes on to the next; no request is made. Unset fields are not checked.
 */
export interface ProviderLimits {
  /** Email: recipients in to, cc and bcc together. */
  readonly maxRecipients?: number;
  /**
   * Email: bytes of the subject, text, html and attachments together, measured before any encoding (UTF-8 text,
   * raw attachment bytes). Providers that count the encoded message (base64 grows attachments by a third) may
   * still refuse a message just under this figure.
   */
  readonly maxMessageBytes?: number;
  /** SMS: UTF-8 bytes of the body (Amazon SNS counts bytes, not characters). */
  readonly maxBodyBytes?: number;
  /** SMS: characters (UTF-16 code units, as the provider counts them) of the body. */
  readonly maxBodyCharacters?: number;
}

/**
 * A provider adapter: a plain object that sends one message through one provider. Throw a {@link ProviderError}
 * to report a failure; anything else thrown counts as a provider-level `ADAPTER_ERROR`.
 *
 * `Provider` and `Schema` type the dispatcher's API: with a literal provider name, `providers.add` takes that name
 * on this channel with a config of that schema's input type. With the defaults (`string`) any name and object
 * type-check, and only the run-time validation applies.
 */
export interface Adapter<
  C extends Channel = Channel,
  Config = Record<string, unknown>,
  Provider extends string = string,
  Schema extends z.ZodType = z.ZodType<Config>,
> {
  /** Provider name, e.g. `sendgrid`; one adapter per name in a dispatcher. */
  readonly provider: Provider;
  readonly channel: C;
  /**
   * Config schema. Built-in provider names always use the core's schema; a custom provider needs its own
   * (fields wrapped in `secret()` are treated as credentials). Without one, any object is accepted.
   */
  readonly configSchema?: Schema;
  /**
   * The provider's documented limits on one message, checked by the dispatcher before each attempt: a message over
   * one skips this provider (a failed `PROVIDER_LIMIT_EXCEEDED` attempt, no request made) and goes to the next.
   */
  readonly limits?: ProviderLimits;
  /** Sends one message; resolves with the provider's message id. */
  send(message: OutboundMessage<C>, ctx: SendContext<Config>): Promise<SendReceipt>;
  /**
   * Cheap read-only check of the credentials. Throws a transient {@link ProviderError} when the provider cannot be
   * reached; resolves `{ valid: null, reason }` when it answered that these credentials may not call the check.
   */
  verify?(config: Config, ctx: AdapterCallContext): Promise<VerifyResult>;
  /** Sending domains or senders and their verification state. */
  domains?(config: Config, ctx: AdapterCallContext): Promise<DomainStatus[]>;
  /**
   * Strings this adapter derives from the config's secrets and puts on the wire, such as the base64 of Basic
   * credentials (`user:password`) or an SMTP `AUTH PLAIN` token. The core scrubs them (and their URL-encoded and
   * JSON-escaped forms) from every error, verdict and log line, as it does the secret values themselves: a provider
   * that echoes its `Authorization` header back must not leak the key in another encoding.
   */
  secretForms?(config: Config): string[];
  /**
   * Loads what the adapter needs before its first call, typically its SDK (`import()`). The dispatcher awaits it
   * before it starts an attempt's timer, so loading a module never counts as provider time. Must be cheap once
   * loaded; a failure (say `ADAPTER_MISSING`) is reported as the attempt's error.
   */
  load?(): Promise<void>;
  /**
   * Drops whatever is cached for a provider config (called when it is updated or removed). Ids are unique within
   * a project only: key anything cached per config by `(projectId, providerConfigId)`, as {@link ClientPool} does.
   */
  release?(providerConfigId: string, projectId: string): Promise<void> | void;
  /** Releases every resource (clients, pooled connections). */
  close?(): Promise<void> | void;
  /** Delivery events: how this provider's webhooks are verified and normalised (see `pipe.webhooks`). */
  readonly webhook?: AdapterWebhook<Config>;
}

/** An adapter of any channel and config, as the dispatcher holds it. */
export type AnyAdapter = Adapter<Channel, unknown>;

/**
 * An adapter for a built-in provider, as the factories in `messagepipe/adapters/*` return it: the literal provider
 * name and channel, and the core's config schema.
 */
export type BuiltInAdapter<P extends BuiltInProviderName> = Adapter<
  BuiltInProviders[P]['channel'],
  BuiltInConfigs[P],
  P,
  BuiltInProviders[P]['configSchema']
>;

/** Definition of a custom adapter: like {@link Adapter}, with the config type inferred from `configSchema`. */
export interface AdapterDefinition<C extends Channel, S extends z.ZodType, P extends string = string> {
  provider: P;
  channel: C;
  configSchema: S;
  /** The provider's documented limits on one message; see {@link Adapter.limits}. */
  limits?: ProviderLimits;
  send(message: OutboundMessage<C>, ctx: SendContext<z.output<S>>): Promise<SendReceipt>;
  verify?(config: z.output<S>, ctx: AdapterCallContext): Promise<VerifyResult>;
  domains?(config: z.output<S>, ctx: AdapterCallContext): Promise<DomainStatus[]>;
  secretForms?(config: z.output<S>): string[];
  load?(): Promise<void>;
  release?(providerConfigId: string, projectId: string): Promise<void> | void;
  close?(): Promise<void> | void;
  webhook?: AdapterWebhook<z.output<S>>;
}

/**
 * Awaits an adapter's {@link Adapter.load} (once per adapter while it succeeds), settling early with the signal's
 * reason when it aborts.
 */
export function loadAdapter(adapter: Pick<AnyAdapter, 'load'>, signal?: AbortSignal): Promise<void> {
  if (!adapter.load) return Promise.resolve();
  let loading = loaded.get(adapter);
  if (!loading) {
    loading = adapter.load();
    loaded.set(adapter, loading);
    loading.then(
      () => ready.add(adapter),
      () => loaded.delete(adapter),
    );
  }
  if (!signal) return loading;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    loading.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

const loaded = new WeakMap<object, Promise<void>>();
const ready = new WeakSet<object>();

/** True once an adapter's {@link Adapter.load} has succeeded (or when it has none): the send path skips the wait. */
export function adapterLoaded(adapter: Pick<AnyAdapter, 'load'>): boolean {
  return !adapter.load || ready.has(adapter);
}

/**
 * Types a custom adapter: the config type of `send`, `verify` and `domains` is inferred from `configSchema`, and
 * the provider name and channel are kept as literals, so a dispatcher built with it types `providers.add` with
 * that name and the schema's input type. The result works exactly like a built-in adapter.
 */
export function defineAdapter<const P extends string, C extends Channel, S extends z.ZodType>(
  definition: AdapterDefinition<C, S, P>,
): Adapter<C, z.output<S>, P, S> {
  // TypeScript cannot see that a generic `S` is a ZodType of its own output.
  return definition as Adapter<C, z.output<S>, P, S>;
}

/**
 * One SDK client per provider record, created on first use and reused until the config changes, is released,
 * or the pool is closed. Concurrent first uses share one creation. Clients are keyed by `(projectId,
 * providerConfigId)`: two projects whose records share an id never share a client (nor its credentials).
 */
export class ClientPool<Config, Client> {
  readonly #entries = new RecordMap<{ revision: string; client: Promise<Client> }>();
  readonly #create: (config: Config) => Client | Promise<Client>;
  readonly #dispose: ((client: Client) => void | Promise<void>) | undefined;

  constructor(
    create: (config: Config) => Client | Promise<Client>,
    dispose?: (client: Client) => void | Promise<void>,
  ) {
    this.#create = create;
    this.#dispose = dispose;
  }

  /** The client for this config revision, creating it (and disposing of an older one) when needed. */
  get(
    ctx: Pick<SendContext<Config>, 'config' | 'projectId' | 'providerConfigId' | 'configRevision'>,
  ): Promise<Client> {
    const { projectId, providerConfigId } = ctx;
    const entry = this.#entries.get(projectId, providerConfigId);
    if (entry && entry.revision === ctx.configRevision) return entry.client;
    // A send that still holds an older revision (it started before an update) uses the newer client rather than
    // replacing it, which would close the client under every send that already uses the new config.
    if (entry && isOlderRevision(ctx.configRevision, entry.revision)) return entry.client;
    if (entry) void this.#disposeEntry(entry.client);
    const client = Promise.resolve().then(() => this.#create(ctx.config));
    // A failed creation is not cached: the next send tries again.
    client.catch(() => {
      if (this.#entries.get(projectId, providerConfigId)?.client === client) {
        this.#entries.delete(projectId, providerConfigId);
      }
    });
    this.#entries.set(projectId, providerConfigId, { revision: ctx.configRevision, client });
    return client;
  }

  /** Runs `use` with a client that is not cached (for `verify` before a config is stored). */
  async withTemporary<T>(config: Config, use: (client: Client) => Promise<T>): Promise<T> {
    const client = await this.#create(config);
    try {
      return await use(client);
    } finally {
      await this.#disposeEntry(Promise.resolve(client));
    }
  }

  /**
   * Disposes of the client of one provider record. Without `projectId`, of every project's record with that id
   * (for callers that predate per-project keys).
   */
  async release(providerConfigId: string, projectId?: string): Promise<void> {
    const released: Promise<Client>[] = [];
    for (const [project, id, entry] of [...this.#entries.entries()]) {
      if (id !== providerConfigId || (projectId !== undefined && project !== projectId)) continue;
      this.#entries.delete(project, id);
      released.push(entry.client);
    }
    await Promise.all(released.map((client) => this.#disposeEntry(client)));
  }

  /** Disposes of every client. */
  async close(): Promise<void> {
    const entries = [...this.#entries.entries()].map(([, , entry]) => entry);
    this.#entries.clear();
    await Promise.all(entries.map((entry) => this.#disposeEntry(entry.client)));
  }

  async #disposeEntry(client: Promise<Client>): Promise<void> {
    if (!this.#dispose) return;
    try {
      await this.#dispose(await client);
    } catch {
      // A client that failed to start or to stop has nothing left to release.
    }
  }
}

function isOlderRevision(candidate: string, current: string): boolean {
  const [a, b] = [Number(candidate), Number(current)];
  return Number.isFinite(a) && Number.isFinite(b) && a < b;
}

const MISSING_MODULE = new Set(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND']);

/**
 * Loads an optional dependency (a provider SDK). When it is not installed, throws `ADAPTER_MISSING` naming the
 * package to install. Pass a literal `import()` so bundlers and type-checkers see the specifier.
 */
export async function loadOptional<T>(
  packageName: string,
  provider: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : '';
    if (typeof code === 'string' && MISSING_MODULE.has(code) && message.includes(packageName)) {
      throw new ProviderError(
        'ADAPTER_MISSING',
        `The ${provider} adapter needs the "${packageName}" package: npm install ${packageName}`,
        { provider, cause: error },
      );
    }
    throw error;
  }
}
