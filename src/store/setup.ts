import type { Logger } from '../adapter';
import { createSealingCodec, type SecretsOptions } from '../sealing';
import { plainSecretCodec, type SecretCodec } from '../secrets';
import { CachingProviderStore, type ProviderCacheOptions } from './caching';
import { InMemoryProviderStore } from './in-memory';
import type { ProviderStore } from './types';

/** The storage-related dispatcher options. */
export interface StorageOptions {
  store?: ProviderStore;
  secrets?: SecretsOptions;
  cache?: ProviderCacheOptions | false;
}

/** Stores already warned about, so several dispatchers sharing one store warn once. */
const warnedStores = new WeakSet<ProviderStore>();

/**
 * Picks the secret codec and wraps the store in the provider-list cache, from the dispatcher's options:
 * - with `secrets`, configs are sealed with AES-256-GCM; without, a persistent store gets a one-time warning;
 * - a persistent store (any store that does not say `persistent: false`) is cached unless `cache: false`; a
 *   memory store is cached only when `cache` options are given.
 */
export function setUpStorage(
  options: StorageOptions,
  logger: Logger,
): { store: ProviderStore; codec: SecretCodec } {
  const given = options.store ?? new InMemoryProviderStore();
  const persistent = given.persistent !== false;
  const codec = options.secrets
    ? createSealingCodec(options.secrets, {
        onUnsealed: () =>
          logger.warn(
            'Some provider records hold unsealed secrets (stored before keys were configured): run pipe.providers.reseal() to seal them',
          ),
      })
    : plainSecretCodec;
  if (persistent && !options.secrets && !warnedStores.has(given)) {
    warnedStores.add(given);
    logger.warn(
      'Provider credentials are stored unencrypted in a persistent store: pass secrets: { keys, activeKeyId } to the Dispatcher to seal them',
    );
  }
  const cached =
    options.cache === false || given instanceof CachingProviderStore
      ? false
      : options.cache !== undefined || persistent;
  const store = cached ? new CachingProviderStore(given, options.cache || {}) : given;
  return { store, codec };
}
