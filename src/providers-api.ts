import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AnyAdapter, Logger } from './adapter';
import type { ProviderCatalog } from './catalog';
import {
  type ErrorCode,
  isMessagePipeError,
  isProviderError,
  MessagePipeError,
  ProviderError,
} from './errors';
import { sanitizeProviderError } from './failover/classify';
import { withTimeout } from './failover/timeout';
import { identifier, parseOrThrow, refuseProtoKeys, wellFormed } from './schemas/fields';
import {
  mergeSecrets,
  type SecretBinding,
  type SecretCodec,
  type SecretValues,
  scrubSecrets,
  splitSecrets,
  valueAt,
} from './secrets';
import type { ProviderCursor, ProviderStore } from './store/types';
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
  /** Called when a provider record's config changes or the record is removed (resets its breaker and stats). */
  onProviderReleased?: (projectId: string, providerConfigId: string) => void;
}

const projectId = identifier;
const channel = z.enum(['email', 'sms']);
const name = wellFormed(z.string().trim().min(1).max(200));
const priority = z.number().int().min(0).max(1_000_000);
const weight = z.number().int().min(1).max(1000);
const configInput = refuseProtoKeys(z.record(z.string(), z.unknown()), { deep: true });

const addInputSchema = z.strictObject({
  projectId,
  channel,
  provider: wellFormed(z.string().min(1).max(100)),
  name,
  enabled: z.boolean().default(true),
  priority: priority.default(100),
  /** Share of sends among providers of the same priority. @default 1 */
  weight: weight.optional(),
  config: configInput,
});

const refSchema = z.strictObject({
  projectId,
  id: identifier,
  /** When set, the write is refused with `CONFLICT` unless the record is still at this version. */
  version: z.number().int().min(1).optional(),
});

const listSchema = z.strictObject({ projectId, channel: channel.optional() });

const patchSchema = z.strictObject({
  name: name.optional(),
  enabled: z.boolean().optional(),
  priority: priority.optional(),
  weight: weight.optional(),
  config: configInput.optional(),
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

/** Options of `pipe.providers.reseal`. */
export interface ResealOptions {
  /** Records read from the store per page. @default 100 */
  batchSize?: number;
  /**
   * Start after this record: the `cursor` of the last `onProgress` call of an interrupted run. Optional, since a
   * new run skips records already sealed with the active key anyway; it only saves reading them again.
   */
  after?: ProviderCursor;
  /** Stops between records when aborted (`ABORTED`); what was re-sealed stays re-sealed. */
  signal?: AbortSignal;
  /** Called after each page with the totals so far and the cursor to resume from. */
  onProgress?: (progress: ResealProgress) => void;
}

/** Totals of a `reseal` run so far. */
export interface ResealProgress {
  /** Records read. */
  scanned: number;
  /** Records written again, sealed with the active key. */
  resealed: number;
  /** Records that were already sealed with the active key. */
  current: number;
  /** Records that could not be re-sealed (see {@link ResealResult.failed}). */
  failed: number;
  /** The last record read: pass it as `after` to resume from there. */
  cursor?: ProviderCursor;
}

/** A record `reseal` could not re-seal, and why. */
export interface ResealFailure {
  projectId: string;
  id: string;
  /** `SECRET_KEY_MISSING` or `SECRET_INVALID` when its secrets cannot be opened; `CONFLICT` when it kept changing. */
  code: ErrorCode;
  message: string;
}

/** Outcome of `pipe.providers.reseal`. */
export interface ResealResult extends Omit<ResealProgress, 'failed'> {
  /** Records left as they were; every other record is sealed with the active key. */
  failed: ResealFailure[];
}

/** Outcome of `pipe.providers.validate`. */
export interface ValidationResult {
  /** True only when the provider confirmed the credentials; see `status` for "could not check". */
  valid: boolean;
  /**
   * What was recorded on the provider: `valid`, `invalid` (it leaves the failover chain), or `unchecked` when the
   * provider answered that these credentials may not call the check (a send-only key): it stays in the chain.
   */
  status: CredentialState['status'];
  provider: string;
  providerConfigId: string;
  checkedAt: string;
  /** Why the provider refused the credentials, or why they could not be checked. */
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
      ...(parsed.weight === undefined ? {} : { weight: parsed.weight }),
      credentials,
      secretFields: Object.keys(secrets),
      config: publicConfig,
      secrets: codec.encode(secrets, { projectId: parsed.projectId, recordId: id }),
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
      ...(changes.weight === undefined ? {} : { weight: changes.weight }),
      version: current.version + 1,
      updatedAt: new Date().toISOString(),
    };
    if (changes.config) {
      const config = catalog.parseConfig(
        current.channel,
        current.provider,
        this.#withKeptSecrets(current, changes.config),
      );
      const adapter = catalog.adapterFor(current.provider);
      next.credentials = await this.#checkCredentials(adapter, config, options);
      const { publicConfig, secrets } = splitSecrets(
        config,
        catalog.secretPaths(current.channel, current.provider),
      );
      next.config = publicConfig;
      next.secretFields = Object.keys(secrets);
      next.secrets = codec.encode(secrets, bindingOf(current));
    }
    // A concurrent write (another update, a credential verdict: both bump the version) makes this one CONFLICT
    // rather than be lost or undo it.
    await this.#replace(next, current.version);
    if (changes.config) await this.#release(current);
    return toPublicRecord(next);
  }

  /** Deletes a provider record and releases its adapter resources. */
  async remove(ref: ProviderRef): Promise<void> {
    const current = await this.#load(ref);
    const removed = await this.#core.store.deleteProvider(current.projectId, current.id);
    if (!removed) throw notFound(current.id);
    await this.#release(current);
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
    const { config, secrets } = openConfig(this.#core, current);
    const verdict = await this.#callProvider(current.provider, secrets, config, (signal, timeoutMs) =>
      adapter.verify!(config, { signal, timeoutMs, logger: this.#core.logger }),
    );
    const credentials = toCredentialState(verdict);
    await this.#recordVerdict(current, credentials);
    const result: ValidationResult = {
      valid: verdict.valid === true,
      status: credentials.status,
      provider: current.provider,
      providerConfigId: current.id,
      checkedAt: credentials.checkedAt!,
    };
    if (credentials.reason) result.reason = credentials.reason;
    return result;
  }

  /**
   * Stores a credential verdict. The write bumps the version, so an update based on an older read cannot put the
   * old credential state back; when another write got there first, the verdict is merged into what it stored, as
   * long as it still holds the credentials that were checked (same secrets and config). A write that changed them
   * brought its own check, or none, and wins.
   */
  async #recordVerdict(checked: StoredProviderRecord, credentials: CredentialState): Promise<void> {
    const { store } = this.#core;
    let current: StoredProviderRecord | undefined = checked;
    for (let tries = 0; tries < MAX_WRITE_TRIES && current; tries++) {
      if (!sameCredentials(current, checked)) return;
      // `updatedAt` is left alone: the config did not change; `credentials.checkedAt` says when this happened.
      const next = { ...current, credentials, version: current.version + 1 };
      if (await store.replaceProvider(next, current.version)) return;
      current = await store.getProvider(checked.projectId, checked.id);
    }
    if (current) throw conflict(checked.id);
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
    const { config, secrets } = openConfig(this.#core, current);
    return this.#callProvider(current.provider, secrets, config, (signal, timeoutMs) =>
      adapter.domains!(config, { signal, timeoutMs, logger: this.#core.logger }),
    );
  }

  /**
   * Re-seals the secrets of every record, in every project, with the active key (`secrets.activeKeyId`), one page
   * at a time; run it after rotating keys, or after configuring keys for a store that held unsealed secrets.
   *
   * Each record is rewritten on its own, with optimistic concurrency, so an interrupted run loses nothing: every
   * record is then sealed either with its old key (which still opens it) or with the active one. Run it again to
   * finish; records already sealed with the active key are skipped. Records whose secrets cannot be opened are
   * left alone and listed in `failed`. Once it reports no failures, old keys can be dropped.
   *
   * @throws `CONFIG_INVALID` when the dispatcher has no keys; whatever the store throws, which ends the run.
   */
  async reseal(options: ResealOptions = {}): Promise<ResealResult> {
    const { codec, store } = this.#core;
    if (!codec.seals) {
      throw new MessagePipeError(
        'CONFIG_INVALID',
        'Nothing to seal with: pass secrets: { keys, activeKeyId } to the Dispatcher',
      );
    }
    const limit = Math.max(1, Math.floor(options.batchSize ?? 100));
    const progress: ResealProgress = { scanned: 0, resealed: 0, current: 0, failed: 0 };
    if (options.after) progress.cursor = options.after;
    const failed: ResealFailure[] = [];
    for (;;) {
      const page = await store.scanProviders({ after: progress.cursor, limit });
      if (page.length === 0) break;
      for (const record of page) {
        if (options.signal?.aborted) {
          throw new MessagePipeError('ABORTED', 'Re-sealing was aborted', { cause: options.signal.reason });
        }
        progress.scanned++;
        try {
          const outcome = await this.#resealOne(record);
          if (outcome === 'resealed') progress.resealed++;
          else if (outcome === 'current') progress.current++;
        } catch (error) {
          if (!isMessagePipeError(error) || !RESEAL_SKIPPABLE.has(error.code)) throw error;
          progress.failed++;
          failed.push({
            projectId: record.projectId,
            id: record.id,
            code: error.code,
            message: error.message,
          });
        }
        progress.cursor = { projectId: record.projectId, id: record.id };
      }
      options.onProgress?.({ ...progress });
    }
    return { ...progress, failed };
  }

  /** Re-seals one record, re-reading it when a concurrent write got there first. */
  async #resealOne(record: StoredProviderRecord): Promise<'resealed' | 'current' | 'gone'> {
    const { codec, store } = this.#core;
    let current: StoredProviderRecord | undefined = record;
    for (let tries = 0; tries < 5 && current; tries++) {
      if (codec.isCurrent(current.secrets)) return 'current';
      const binding = bindingOf(current);
      const values = codec.decode(current.secrets, binding);
      const next = { ...current, secrets: codec.encode(values, binding), version: current.version + 1 };
      if (await store.replaceProvider(next, current.version)) return 'resealed';
      current = await store.getProvider(current.projectId, current.id);
    }
    if (!current) return 'gone';
    throw conflict(current.id);
  }

  /**
   * The submitted config with the stored secrets it leaves out put back. A secret given as `null` is removed. When
   * the config changes where credentials go (a field marked `credentialTarget()`: endpoint, host, region, account),
   * stored secrets are not carried over and must be entered again, so nobody allowed to edit a config can redirect
   * a stored key to a server of their own.
   */
  #withKeptSecrets(
    current: StoredProviderRecord,
    submitted: Record<string, unknown>,
  ): Record<string, unknown> {
    const { catalog, codec } = this.#core;
    const config = structuredClone(submitted);
    const removed = new Set<string>();
    for (const path of catalog.secretPaths(current.channel, current.provider)) {
      const keys = path.split('.');
      const name = keys.pop()!;
      const parent = keys.length === 0 ? config : valueAt(config, keys.join('.'));
      if (typeof parent !== 'object' || parent === null) continue;
      if ((parent as Record<string, unknown>)[name] === null) {
        delete (parent as Record<string, unknown>)[name];
        removed.add(path);
      }
    }
    const toKeep = current.secretFields.filter((path) => {
      if (removed.has(path) || valueAt(config, path) !== undefined) return false;
      const parentPath = path.split('.').slice(0, -1).join('.');
      // A section the new config leaves out (say `auth`) takes its secrets with it.
      return parentPath === '' || valueAt(config, parentPath) !== undefined;
    });
    if (toKeep.length === 0) return config;
    const changedTargets = catalog
      .credentialTargetPaths(current.channel, current.provider)
      .filter(
        (path) => JSON.stringify(valueAt(current.config, path)) !== JSON.stringify(valueAt(config, path)),
      );
    if (changedTargets.length > 0) {
      const changed = changedTargets.join(', ');
      throw new MessagePipeError(
        'CONFIG_INVALID',
        `Enter the secrets again: changing ${changed} does not carry the stored ones over`,
        {
          issues: toKeep.map((path) => ({
            path: ['config', ...path.split('.')],
            message: `Enter this secret again, or set it to null to remove it: ${changed} changed`,
          })),
        },
      );
    }
    const stored = codec.decode(current.secrets, bindingOf(current));
    const kept = Object.fromEntries(
      toKeep.flatMap((path) => (path in stored ? [[path, stored[path]!]] : [])),
    );
    return mergeSecrets(config, kept, { onlyWhereMissing: true });
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
    if (verdict.valid === null) {
      this.#core.logger.warn(`${adapter.provider} credentials could not be checked; stored as unchecked`, {
        provider: adapter.provider,
        reason: verdict.reason,
      });
    } else if (!verdict.valid) {
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
      const result = await withTimeout((signal) => call(signal(), timeoutMs), {
        timeoutMs,
        provider,
        ambiguousOnTimeout: false,
      });
      return scrubDeep(result, secrets);
    } catch (error) {
      // An adapter may refuse with a core code, e.g. NOT_SUPPORTED when the call needs an optional field that is unset.
      if (isMessagePipeError(error) && !isProviderError(error)) {
        throw new MessagePipeError(error.code, scrubSecrets(error.message, secrets), { provider });
      }
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

  async #release({ projectId, provider, id }: StoredProviderRecord): Promise<void> {
    this.#core.onProviderReleased?.(projectId, id);
    const adapter = this.#core.catalog.adapters().find((candidate) => candidate.provider === provider);
    try {
      await adapter?.release?.(id, projectId);
    } catch (error) {
      this.#core.logger.warn(`Releasing the ${provider} client failed`, {
        providerConfigId: id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}

/** Compare-and-set tries of a write that merges with concurrent ones before it gives up with `CONFLICT`. */
const MAX_WRITE_TRIES = 5;

/** Whether two revisions of a record hold the same credentials and config (what a credential check checked). */
function sameCredentials(a: StoredProviderRecord, b: StoredProviderRecord): boolean {
  return a.secrets === b.secrets && JSON.stringify(a.config) === JSON.stringify(b.config);
}

/** Codes of records `reseal` reports and moves past, rather than stopping at. */
const RESEAL_SKIPPABLE = new Set<ErrorCode>(['SECRET_KEY_MISSING', 'SECRET_INVALID', 'CONFLICT']);

function bindingOf(record: Pick<StoredProviderRecord, 'projectId' | 'id'>): SecretBinding {
  return { projectId: record.projectId, recordId: record.id };
}

/** An opened config: secrets merged back in, and their values for scrubbing errors. */
export interface OpenedConfig {
  config: Record<string, unknown>;
  secrets: string[];
}

/**
 * The full config of a stored record, secrets included. Internal to the dispatcher: never reachable from the
 * public API, so no caller can read a credential back.
 */
export function openConfig(core: Pick<DispatcherCore, 'codec'>, record: StoredProviderRecord): OpenedConfig {
  const secrets: SecretValues = core.codec.decode(record.secrets, bindingOf(record));
  return { config: mergeSecrets(record.config, secrets), secrets: Object.values(secrets) };
}

function toCredentialState(verdict: VerifyResult): CredentialState {
  const checkedAt = new Date().toISOString();
  if (verdict.valid === true) return { status: 'valid', checkedAt };
  // "Cannot check with these permissions" is not a verdict: the provider stays in the failover chain.
  if (verdict.valid === null) return { status: 'unchecked', checkedAt, reason: verdict.reason };
  return { status: 'invalid', checkedAt, reason: verdict.reason };
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
