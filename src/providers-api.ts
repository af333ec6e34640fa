import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AnyAdapter, Logger } from './adapter';
import type { ProviderCatalog } from './catalog';
import { MessagePipeError, ProviderError } from './errors';
import { sanitizeProviderError } from './failover/classify';
import { withTimeout } from './failover/timeout';
import { parseOrThrow } from './schemas/fields';
import { mergeSecrets, type SecretCodec, type SecretValues, splitSecrets } from './secrets';
import type { ProviderStore } from './store/types';
import type {
  CredentialState,
  DomainStatus,
  ProviderRecord,
  StoredProviderRecord,
  VerifyResult,
} from './types';

/** What the provider and sender APIs share with the dispatcher. */
export interface DispatcherCore {
  store: ProviderStore;
  catalog: ProviderCatalog;
  codec: SecretCodec;
  logger: Logger;
  /** Default time budget of one provider call. */
  timeoutMs: number;
}

const projectId = z.string().min(1).max(200);
const channel = z.enum(['email', 'sms']);
const name = z.string().trim().min(1).max(200);
const priority = z.number().int().min(0).max(1_000_000);

const addInputSchema = z.strictObject({
  projectId,
  channel,
  provider: z.string().min(1).max(100),
  name,
  enabled: z.boolean().default(true),
  priority: priority.default(100),
  config: z.record(z.string(), z.unknown()),
});

const refSchema = z.strictObject({
  projectId,
  id: z.string().min(1).max(200),
  /** When set, the write is refused with `CONFLICT` unless the record is still at this version. */
  version: z.number().int().min(1).optional(),
});

const listSchema = z.strictObject({ projectId, channel: channel.optional() });

const patchSchema = z.strictObject({
  name: name.optional(),
  enabled: z.boolean().optional(),
  priority: priority.optional(),
  config: z.record(z.string(), z.unknown()).optional(),
});

/** Input of `pipe.providers.add`. */
export type AddProviderInput = z.input<typeof addInputSchema>;
/** Names one provider record; `version` turns on optimistic concurrency for writes. */
export type ProviderRef = z.input<typeof refSchema>;
/** Input of `pipe.providers.list`. */
export type ListProvidersInput = z.input<typeof listSchema>;
/**
 * Changes for `pipe.providers.update`. `config` replaces the whole config, except that secret fields left out keep
 * their stored values.
 */
export type ProviderPatch = z.input<typeof patchSchema>;

/** Options of `add` and `update`. */
export interface WriteOptions {
  /** Check the credentials with the provider before storing them. Default `true`. */
  verify?: boolean;
}

/** Outcome of `pipe.providers.validate`. */
export interface ValidationResult {
  valid: boolean;
  provider: string;
  providerConfigId: string;
  checkedAt: string;
  /** Why the provider refused the credentials. */
  reason?: string;
}

/** Strips the stored secrets from a record. */
export function toPublicRecord(record: StoredProviderRecord): ProviderRecord {
  const { secrets: _secrets, ...rest } = record;
  return rest;
}

/**
 * `pipe.providers`: provider records of each project. Configs are validated against the provider's schema and,
 * unless told otherwise, their credentials are checked before anything is stored. Nothing returned holds a secret.
 */
export class ProvidersApi {
  readonly #core: DispatcherCore;

  constructor(core: DispatcherCore) {
    this.#core = core;
  }

  /** Adds a provider record after validating its config and (by default) checking its credentials. */
  async add(input: AddProviderInput, options: WriteOptions = {}): Promise<ProviderRecord> {
    const parsed = parseOrThrow(addInputSchema, input, 'CONFIG_INVALID', 'provider');
    const { catalog, codec, store } = this.#core;
    const config = catalog.parseConfig(parsed.channel, parsed.provider, parsed.config);
    const adapter = catalog.adapterFor(parsed.provider);
    const credentials = await this.#checkCredentials(adapter, config, options);
    const id = randomUUID();
    const now = new Date().toISOString();
    const { publicConfig, secrets } = splitSecrets(
      config,
      catalog.secretPaths(parsed.channel, parsed.provider),
    );
    const record: StoredProviderRecord = {
      id,
      projectId: parsed.projectId,
      channel: parsed.channel,
      provider: parsed.provider,
      name: parsed.name,
      enabled: parsed.enabled,
      priority: parsed.priority,
      credentials,
      secretFields: Object.keys(secrets),
      config: publicConfig,
      secrets: codec.encode(secrets, id),
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    await store.insertProvider(record);
    return toPublicRecord(record);
  }

  /** The project's provider records, ordered by priority (lower first). */
  async list(input: ListProvidersInput): Promise<ProviderRecord[]> {
    const parsed = parseOrThrow(listSchema, input, 'CONFIG_INVALID', 'list input');
    const records = await this.#core.store.listProviders(parsed.projectId, { channel: parsed.channel });
    return records.map(toPublicRecord);
  }

  /** One provider record; `NOT_FOUND` when the project has none with that id. */
  async get(ref: ProviderRef): Promise<ProviderRecord> {
    return toPublicRecord(await this.#load(ref));
  }

  /**
   * Changes a provider record. A new config is validated and (by default) its credentials checked before it is
   * stored; secret fields it leaves out keep their stored values.
   */
  async update(ref: ProviderRef, patch: ProviderPatch, options: WriteOptions = {}): Promise<ProviderRecord> {
    const changes = parseOrThrow(patchSchema, patch, 'CONFIG_INVALID', 'provider update');
    const { catalog, codec } = this.#core;
    const current = await this.#load(ref);
    const next: StoredProviderRecord = {
      ...current,
      name: changes.name ?? current.name,
      enabled: changes.enabled ?? current.enabled,
      priority: changes.priority ?? current.priority,
      version: current.version + 1,
      updatedAt: new Date().toISOString(),
    };
    if (changes.config) {
      const stored = codec.decode(current.secrets, current.id);
      const merged = mergeSecrets(changes.config, stored, { onlyWhereMissing: true });
      const config = catalog.parseConfig(current.channel, current.provider, merged);
      const adapter = catalog.adapterFor(current.provider);
      next.credentials = await this.#checkCredentials(adapter, config, options);
      const { publicConfig, secrets } = splitSecrets(
        config,
        catalog.secretPaths(current.channel, current.provider),
      );
      next.config = publicConfig;
      next.secretFields = Object.keys(secrets);
      next.secrets = codec.encode(secrets, current.id);
    }
    await this.#replace(next, current.version);
    if (changes.config) await this.#release(current.provider, current.id);
    return toPublicRecord(next);
  }

  /** Deletes a provider record and releases its adapter resources. */
  async remove(ref: ProviderRef): Promise<void> {
    const current = await this.#load(ref);
    const removed = await this.#core.store.deleteProvider(current.projectId, current.id);
    if (!removed) throw notFound(current.id);
    await this.#release(current.provider, current.id);
  }

  /**
   * Checks the stored credentials with the provider again and records the outcome on the record. A provider whose
   * credentials are invalid leaves the failover chain until it validates again; `enabled` is left as it is.
   */
  async validate(ref: ProviderRef): Promise<ValidationResult> {
    const current = await this.#load(ref);
    const adapter = this.#core.catalog.adapterFor(current.provider);
    if (!adapter.verify) {
      throw new MessagePipeError(
        'NOT_SUPPORTED',
        `The ${current.provider} adapter cannot check credentials`,
        {
          provider: current.provider,
        },
      );
    }
    const { config, secrets } = this.openConfig(current);
    const verdict = await this.#callProvider(current.provider, secrets, config, (signal, timeoutMs) =>
      adapter.verify!(config, { signal, timeoutMs, logger: this.#core.logger }),
    );
    const credentials = toCredentialState(verdict);
    // A concurrent change of the record wins: its own check (or lack of one) is what counts.
    await this.#core.store.replaceProvider({ ...current, credentials }, current.version);
    const result: ValidationResult = {
      valid: verdict.valid,
      provider: current.provider,
      providerConfigId: current.id,
      checkedAt: credentials.checkedAt!,
    };
    if (credentials.reason) result.reason = credentials.reason;
    return result;
  }

  /** Sending domains (or senders) and their verification state, for providers that can tell. */
  async domains(ref: ProviderRef): Promise<DomainStatus[]> {
    const current = await this.#load(ref);
    const adapter = this.#core.catalog.adapterFor(current.provider);
    if (!adapter.domains) {
      throw new MessagePipeError('NOT_SUPPORTED', `${current.provider} does not report domain verification`, {
        provider: current.provider,
      });
    }
    const { config, secrets } = this.openConfig(current);
    return this.#callProvider(current.provider, secrets, config, (signal, timeoutMs) =>
      adapter.domains!(config, { signal, timeoutMs, logger: this.#core.logger }),
    );
  }

  /** The full config of a stored record, secrets included, and the secret values for scrubbing. */
  openConfig(record: StoredProviderRecord): { config: Record<string, unknown>; secrets: string[] } {
    const secrets: SecretValues = this.#core.codec.decode(record.secrets, record.id);
    return { config: mergeSecrets(record.config, secrets), secrets: Object.values(secrets) };
  }

  async #checkCredentials(
    adapter: AnyAdapter,
    config: Record<string, unknown>,
    options: WriteOptions,
  ): Promise<CredentialState> {
    if (options.verify === false || !adapter.verify) return { status: 'unchecked' };
    const secrets = Object.values(
      splitSecrets(config, this.#core.catalog.secretPaths(adapter.channel, adapter.provider)).secrets,
    );
    const verdict = await this.#callProvider(adapter.provider, secrets, config, (signal, timeoutMs) =>
      adapter.verify!(config, { signal, timeoutMs, logger: this.#core.logger }),
    );
    if (!verdict.valid) {
      throw new ProviderError(
        'PROVIDER_INVALID_CREDENTIALS',
        `${adapter.provider} refused the credentials: ${verdict.reason}`,
        { provider: adapter.provider },
      );
    }
    return toCredentialState(verdict);
  }

  /** Calls the provider with the config's timeout; failures come back classified and free of secrets. */
  async #callProvider<T>(
    provider: string,
    secrets: string[],
    config: Record<string, unknown>,
    call: (signal: AbortSignal, timeoutMs: number) => Promise<T>,
  ): Promise<T> {
    const timeoutMs = typeof config.timeoutMs === 'number' ? config.timeoutMs : this.#core.timeoutMs;
    try {
      const result = await withTimeout((signal) => call(signal, timeoutMs), {
        timeoutMs,
        provider,
        ambiguousOnTimeout: false,
      });
      return scrubDeep(result, secrets);
    } catch (error) {
      throw sanitizeProviderError(error, provider, secrets);
    }
  }

  async #load(ref: ProviderRef): Promise<StoredProviderRecord> {
    const parsed = parseOrThrow(refSchema, ref, 'CONFIG_INVALID', 'provider reference');
    const record = await this.#core.store.getProvider(parsed.projectId, parsed.id);
    if (!record) throw notFound(parsed.id);
    if (parsed.version !== undefined && parsed.version !== record.version) throw conflict(record.id);
    return record;
  }

  async #replace(next: StoredProviderRecord, expectedVersion: number): Promise<void> {
    const replaced = await this.#core.store.replaceProvider(next, expectedVersion);
    if (replaced) return;
    const now = await this.#core.store.getProvider(next.projectId, next.id);
    throw now ? conflict(next.id) : notFound(next.id);
  }

  async #release(provider: string, id: string): Promise<void> {
    const adapter = this.#core.catalog.adapters().find((candidate) => candidate.provider === provider);
    try {
      await adapter?.release?.(id);
    } catch (error) {
      this.#core.logger.warn(`Releasing the ${provider} client failed`, {
        providerConfigId: id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

function toCredentialState(verdict: VerifyResult): CredentialState {
  const checkedAt = new Date().toISOString();
  return verdict.valid
    ? { status: 'valid', checkedAt }
    : { status: 'invalid', checkedAt, reason: verdict.reason };
}

/** Scrubs secret values out of any string in data an adapter returned (reasons, domain details). */
function scrubDeep<T>(value: T, secrets: string[]): T {
  if (secrets.length === 0) return value;
  const json = JSON.stringify(value);
  if (json === undefined || !secrets.some((secret) => secret.length >= 4 && json.includes(secret)))
    return value;
  let scrubbed = json;
  for (const secret of secrets) if (secret.length >= 4) scrubbed = scrubbed.split(secret).join('[REDACTED]');
  return JSON.parse(scrubbed) as T;
}

function notFound(id: string): MessagePipeError {
  return new MessagePipeError('NOT_FOUND', `No provider ${id} in this project`);
}

function conflict(id: string): MessagePipeError {
  return new MessagePipeError(
    'CONFLICT',
    `Provider ${id} was changed by someone else; load it and try again`,
  );
}
