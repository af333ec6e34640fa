import {
  Dispatcher,
  type DispatcherEventName,
  generateSecretKey,
  isMessagePipeError,
  type SecretsOptions,
} from 'messagepipe';
import { createMockAdapter, type MockAdapter, scanAll } from 'messagepipe/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ALL_SECRETS,
  captureText,
  echoingAdapters,
  leakedSecrets,
  PROVIDERS,
  RecordingStore,
  recordingLogger,
} from './secrets-fixtures';

const PROJECT = 'project-a';

/** Every event name, so each one is listened to; the type makes a new event a compile error here. */
const EVENT_NAMES: Record<DispatcherEventName, true> = {
  'attempt:start': true,
  'attempt:finish': true,
  failover: true,
  'send:success': true,
  'send:failure': true,
  'retry:scheduled': true,
  'breaker:open': true,
  'breaker:half-open': true,
  'breaker:close': true,
  delivery: true,
};

/** Everything the test can capture of one dispatcher: results, errors, events, log lines, process warnings. */
class Capture {
  readonly surfaces: string[] = [];
  readonly logger = recordingLogger();

  listen(pipe: Dispatcher): void {
    for (const name of Object.keys(EVENT_NAMES) as DispatcherEventName[]) {
      pipe.on(name, (payload) => this.surfaces.push(`event ${name} ${captureText(payload)}`));
    }
  }

  /** Runs an operation and keeps what it returned or threw. */
  async keep<T>(operation: Promise<T>): Promise<T | undefined> {
    try {
      const result = await operation;
      this.surfaces.push(captureText(result));
      return result;
    } catch (error) {
      this.surfaces.push(captureText(error));
      return undefined;
    }
  }

  text(): string {
    return [...this.surfaces, ...this.logger.lines].join('\n');
  }
}

let warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(captureText(warning));
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

function mocks(): MockAdapter[] {
  return PROVIDERS.map(({ provider, channel }) =>
    createMockAdapter({
      provider,
      channel,
      verify: (config) => {
        verified.push(config as Record<string, unknown>);
        return { valid: true };
      },
      ...(channel === 'email'
        ? { domains: [{ domain: 'acme.test', verified: true, details: { dkim: 'verified' } }] }
        : {}),
    }),
  );
}
let verified: Record<string, unknown>[] = [];

/** Drives every provider API and a few sends, keeping everything observable. */
async function exerciseEverything(
  pipe: Dispatcher,
  adapters: MockAdapter[],
  capture: Capture,
): Promise<void> {
  verified = [];
  capture.listen(pipe);
  await capture.keep(
    pipe.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      enabled: true,
    }),
  );
  await capture.keep(
    pipe.senders.set({ projectId: PROJECT, channel: 'sms', senderId: 'Acme', enabled: true }),
  );
  const ids = new Map<string, string>();
  for (const [index, fixture] of PROVIDERS.entries()) {
    const added = await capture.keep(
      pipe.providers.add({
        projectId: PROJECT,
        channel: fixture.channel,
        provider: fixture.provider,
        name: `${fixture.provider} primary`,
        priority: index,
        config: fixture.config,
      }),
    );
    expect(added?.secretFields.length).toBeGreaterThan(0);
    ids.set(fixture.provider, added!.id);
  }
  // The adapters' credential checks saw the full configs.
  expect(verified).toEqual(PROVIDERS.map((fixture) => fixture.config));

  await capture.keep(pipe.providers.list({ projectId: PROJECT }));
  await capture.keep(pipe.providers.list({ projectId: PROJECT, channel: 'sms' }));
  for (const fixture of PROVIDERS) {
    const id = ids.get(fixture.provider)!;
    await capture.keep(pipe.providers.get({ projectId: PROJECT, id }));
    await capture.keep(pipe.providers.domains({ projectId: PROJECT, id }));
    // A bad config that carries a secret: the validation error must not echo it.
    await capture.keep(
      pipe.providers.update(
        { projectId: PROJECT, id },
        { config: { ...fixture.rotated, region: 42, port: 'x' } },
      ),
    );
  }
  expect(capture.surfaces.filter((text) => text.includes('CONFIG_INVALID')).length).toBe(PROVIDERS.length);

  for (const kind of ['email', 'sms'] as const) {
    const message =
      kind === 'email'
        ? { projectId: PROJECT, channel: kind, to: 'ann@example.test', subject: 'Hi', text: 'Hello' }
        : { projectId: PROJECT, channel: kind, to: '+447700900123', body: 'Hello' };
    expect((await capture.keep(pipe.send(message)))?.provider).toBeDefined();
    // Every provider of the channel fails at the provider level: the error lists every attempt.
    for (const adapter of adapters) if (adapter.channel === kind) adapter.respondWith('provider');
    await capture.keep(pipe.send(message));
  }
  expect(capture.surfaces.some((text) => text.includes('ALL_PROVIDERS_FAILED'))).toBe(true);

  verified = [];
  for (const fixture of PROVIDERS) {
    const id = ids.get(fixture.provider)!;
    // Rotate the credentials, then change only public fields: the stored secrets must be kept.
    await capture.keep(pipe.providers.update({ projectId: PROJECT, id }, { config: fixture.rotated }));
    await capture.keep(
      pipe.providers.update({ projectId: PROJECT, id }, { name: `${fixture.provider} renamed` }),
    );
    await capture.keep(pipe.providers.validate({ projectId: PROJECT, id }));
  }
  expect(verified).toEqual(PROVIDERS.flatMap((fixture) => [fixture.rotated, fixture.rotated]));
}

/** The same store seen through adapters that echo the config in every error and refusal. */
async function exerciseEchoingAdapters(
  store: RecordingStore,
  secrets: SecretsOptions | undefined,
  capture: Capture,
): Promise<void> {
  const pipe = new Dispatcher({ adapters: echoingAdapters(), store, secrets, logger: capture.logger });
  capture.listen(pipe);
  const records = await pipe.providers.list({ projectId: PROJECT });
  for (const record of records) {
    await capture.keep(pipe.providers.validate({ projectId: PROJECT, id: record.id }));
    await capture.keep(pipe.providers.domains({ projectId: PROJECT, id: record.id }));
  }
  const email = await capture.keep(
    pipe.send({ projectId: PROJECT, channel: 'email', to: 'ann@example.test', subject: 'Hi', text: 'Hello' }),
  );
  expect(email).toBeUndefined();
  await capture.keep(pipe.send({ projectId: PROJECT, channel: 'sms', to: '+447700900123', body: 'Hello' }));
  for (const fixture of PROVIDERS) {
    await capture.keep(
      pipe.providers.add({
        projectId: PROJECT,
        channel: fixture.channel,
        provider: fixture.provider,
        name: 'refused',
        config: fixture.config,
      }),
    );
  }
  const refusals = capture.surfaces.filter((text) => text.includes('PROVIDER_INVALID_CREDENTIALS'));
  expect(refusals.length).toBeGreaterThanOrEqual(PROVIDERS.length);
  expect(capture.surfaces.some((text) => text.includes('[REDACTED]'))).toBe(true);
}

describe('secrets of all eight providers, sealed', () => {
  const secrets: SecretsOptions = { keys: { k2026: generateSecretKey() }, activeKeyId: 'k2026' };

  it('never reach the store, nor any record, error, event, log line or warning', async () => {
    const store = new RecordingStore();
    const adapters = mocks();
    const capture = new Capture();
    const pipe = new Dispatcher({ adapters, store, secrets, logger: capture.logger });
    await exerciseEverything(pipe, adapters, capture);
    await capture.keep(pipe.providers.reseal());
    await exerciseEchoingAdapters(store, secrets, capture);

    const stored = await scanAll(store.inner, 50);
    expect(stored.length).toBe(PROVIDERS.length);
    for (const record of stored) expect(record.secrets).toMatch(/^sealed:v1:k2026:/);
    expect(leakedSecrets([...store.traffic, captureText(stored)].join('\n'))).toEqual([]);
    expect(leakedSecrets(capture.text())).toEqual([]);
    expect(leakedSecrets(warnings.join('\n'))).toEqual([]);
    expect(capture.logger.lines.filter((line) => line.includes('unencrypted'))).toEqual([]);
  });
});

describe('secrets of all eight providers, without keys', () => {
  it('never reach a record, error, event, log line or warning, but do reach the store', async () => {
    const store = new RecordingStore();
    const adapters = mocks();
    const capture = new Capture();
    const pipe = new Dispatcher({ adapters, store, logger: capture.logger });
    await exerciseEverything(pipe, adapters, capture);
    await exerciseEchoingAdapters(store, undefined, capture);

    expect(leakedSecrets(capture.text())).toEqual([]);
    expect(leakedSecrets(warnings.join('\n'))).toEqual([]);
    // The scan finds secrets where they are: unsealed, in the store.
    const stored = captureText(await scanAll(store.inner, 50));
    expect(leakedSecrets(stored)).toEqual(PROVIDERS.flatMap((fixture) => fixture.rotatedSecrets));
    expect(ALL_SECRETS.length).toBeGreaterThan(PROVIDERS.length);
  });

  it('warns once per persistent store', async () => {
    const store = new RecordingStore();
    const logger = recordingLogger();
    new Dispatcher({ adapters: [], store, logger });
    new Dispatcher({ adapters: [], store, logger });
    new Dispatcher({
      adapters: [],
      store: new RecordingStore(),
      secrets: { keys: { k: generateSecretKey() }, activeKeyId: 'k' },
      logger,
    });
    new Dispatcher({ adapters: [], logger });
    expect(logger.lines.filter((line) => line.includes('unencrypted'))).toHaveLength(1);
  });
});

describe('records sealed with a key the dispatcher lacks', () => {
  it('fail with SECRET_KEY_MISSING naming the key, and sends fail over to a provider that opens', async () => {
    const store = new RecordingStore();
    const old: SecretsOptions = { keys: { old: generateSecretKey() }, activeKeyId: 'old' };
    const fresh: SecretsOptions = { keys: { fresh: generateSecretKey() }, activeKeyId: 'fresh' };
    const [sendgrid, smtp] = [mocks()[0]!, mocks()[4]!];
    const before = new Dispatcher({ adapters: [sendgrid, smtp], store, secrets: old });
    const sealedWithOld = await before.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'sendgrid',
        name: 'old',
        priority: 1,
        config: PROVIDERS[0]!.config,
      },
      { verify: false },
    );
    const after = new Dispatcher({ adapters: [sendgrid, smtp], store, secrets: fresh });
    await after.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      enabled: true,
    });
    await after.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'smtp',
        name: 'fresh',
        priority: 2,
        config: PROVIDERS[4]!.config,
      },
      { verify: false },
    );

    const error = await after.providers
      .validate({ projectId: PROJECT, id: sealedWithOld.id })
      .catch((e) => e);
    expect(isMessagePipeError(error) && error.code).toBe('SECRET_KEY_MISSING');
    expect(error.message).toContain('"old"');
    const update = await after.providers
      .update({ projectId: PROJECT, id: sealedWithOld.id }, { config: { region: 'eu', sandbox: true } })
      .catch((e) => e);
    expect(update.code).toBe('SECRET_KEY_MISSING');

    const result = await after.send({
      projectId: PROJECT,
      channel: 'email',
      to: 'a@b.test',
      subject: 'Hi',
      text: 'x',
    });
    expect(result.provider).toBe('smtp');
    expect(result.attempts[0]?.outcome).toBe('failed');
    expect(result.attempts[0]?.error?.message).toContain('"old"');
    expect(sendgrid.calls).toHaveLength(0);

    const resealed = await after.providers.reseal();
    expect(resealed.failed).toEqual([
      {
        projectId: PROJECT,
        id: sealedWithOld.id,
        code: 'SECRET_KEY_MISSING',
        message: expect.stringContaining('"old"'),
      },
    ]);
    expect(resealed.current).toBe(1);
    // The record it could not open is left exactly as it was.
    expect((await store.inner.getProvider(PROJECT, sealedWithOld.id))?.secrets).toMatch(/^sealed:v1:old:/);
  });
});
