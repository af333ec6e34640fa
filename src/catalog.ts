import { z } from 'zod';
import type { AnyAdapter } from './adapter';
import { MessagePipeError, ProviderError } from './errors';
import { parseOrThrow } from './schemas/fields';
import { type JsonSchema, markedPathsOf, toJsonSchema } from './schemas/json-schema';
import { builtInProviders, isBuiltInProvider } from './schemas/providers';
import type { Channel } from './types';

const anyConfig = z.record(z.string(), z.unknown());

/**
 * What the dispatcher knows about providers: the registered adapters and each provider's config schema.
 * Built-in providers always use the core's schema, so configs validate the same with or without an SDK.
 */
export class ProviderCatalog {
  readonly #adapters = new Map<string, AnyAdapter>();

  constructor(adapters: readonly AnyAdapter[]) {
    for (const adapter of adapters) {
      if (this.#adapters.has(adapter.provider)) {
        throw new MessagePipeError('CONFIG_INVALID', `Two adapters are registered for "${adapter.provider}"`);
      }
      if (
        isBuiltInProvider(adapter.provider) &&
        builtInProviders[adapter.provider].channel !== adapter.channel
      ) {
        throw new MessagePipeError(
          'CONFIG_INVALID',
          `"${adapter.provider}" is a ${builtInProviders[adapter.provider].channel} provider, not ${adapter.channel}`,
        );
      }
      if (!isBuiltInProvider(adapter.provider) && adapter.configSchema) {
        const { problems } = markedPathsOf(adapter.configSchema);
        if (problems.length > 0) {
          throw new MessagePipeError(
            'CONFIG_INVALID',
            `The config schema of "${adapter.provider}" marks secrets that cannot be kept apart: ${problems.join('; ')}`,
          );
        }
      }
      this.#adapters.set(adapter.provider, adapter);
    }
  }

  /** The registered adapters. */
  adapters(): AnyAdapter[] {
    return [...this.#adapters.values()];
  }

  /** The adapter for a provider, or `ADAPTER_MISSING`. */
  adapterFor(provider: string): AnyAdapter {
    const adapter = this.#adapters.get(provider);
    if (!adapter) {
      throw new ProviderError(
        'ADAPTER_MISSING',
        `No adapter is registered for "${provider}": pass it in new Dispatcher({ adapters })`,
        { provider },
      );
    }
    return adapter;
  }

  /** The config schema of a provider on a channel, or undefined when the provider is unknown there. */
  schemaFor(channel: Channel, provider: string): z.ZodType | undefined {
    if (isBuiltInProvider(provider)) {
      const builtIn = builtInProviders[provider];
      return builtIn.channel === channel ? builtIn.configSchema : undefined;
    }
    const adapter = this.#adapters.get(provider);
    if (!adapter || adapter.channel !== channel) return undefined;
    return adapter.configSchema ?? anyConfig;
  }

  /** Names of the providers known on a channel: every built-in one, then the custom adapters'. */
  providersOf(channel: Channel): string[] {
    const names = Object.entries(builtInProviders)
      .filter(([, provider]) => provider.channel === channel)
      .map(([name]) => name);
    for (const adapter of this.#adapters.values()) {
      if (adapter.channel === channel && !names.includes(adapter.provider)) names.push(adapter.provider);
    }
    return names;
  }

  /** JSON Schema of one provider's config, or `NOT_FOUND`. */
  jsonSchema(channel: Channel, provider: string): JsonSchema {
    const schema = this.schemaFor(channel, provider);
    if (!schema) throw new MessagePipeError('NOT_FOUND', `No ${channel} provider is called "${provider}"`);
    return toJsonSchema(schema);
  }

  /** Dotted paths of a provider's secret fields. */
  secretPaths(channel: Channel, provider: string): readonly string[] {
    const schema = this.schemaFor(channel, provider);
    return schema ? markedPathsOf(schema).secrets : [];
  }

  /** Dotted paths of the fields that decide where a provider's credentials are sent. */
  credentialTargetPaths(channel: Channel, provider: string): readonly string[] {
    const schema = this.schemaFor(channel, provider);
    return schema ? markedPathsOf(schema).credentialTargets : [];
  }

  /** Validates a config; `CONFIG_INVALID` with paths under `config.` when it does not fit the schema. */
  parseConfig(channel: Channel, provider: string, config: unknown): Record<string, unknown> {
    const schema = this.schemaFor(channel, provider);
    if (!schema) {
      throw new MessagePipeError('CONFIG_INVALID', `No ${channel} provider is called "${provider}"`, {
        issues: [{ path: ['provider'], message: `Unknown ${channel} provider` }],
      });
    }
    return parseOrThrow(schema, config, 'CONFIG_INVALID', `${provider} config`, ['config']) as Record<
      string,
      unknown
    >;
  }
}
