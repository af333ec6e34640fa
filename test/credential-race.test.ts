/**
 * A credential verdict must survive a concurrent update: `validate()` bumps the version, merges its verdict into a
 * write that got there first, and a provider whose credentials were revoked leaves the chain.
 */
import { Dispatcher, InMemoryProviderStore, type StoredProviderRecord, type VerifyResult } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { email, PROJECT, sampleConfigs } from './helpers';

/** A store that runs `interleave` once, just before the next compare-and-set write lands. */
class InterleavingStore extends InMemoryProviderStore {
  interleave: (() => Promise<void>) | undefined;

  override async replaceProvider(record: StoredProviderRecord, expectedVersion: number): Promise<boolean> {
    const step = this.interleave;
    this.interleave = undefined;
    if (step) await step();
    return super.replaceProvider(record, expectedVersion);
  }
}

async function setUp() {
  const store = new InterleavingStore();
  let verdict: VerifyResult = { valid: true };
  const main = createMockAdapter({ provider: 'sendgrid', channel: 'email', verify: () => verdict });
  const backup = createMockAdapter({ provider: 'smtp', channel: 'email' });
  const pipe = new Dispatcher({ adapters: [main, backup], store, retry: false });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  const record = await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'sendgrid',
    name: 'Main',
    priority: 1,
    config: sampleConfigs.sendgrid,
  });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'smtp',
    name: 'Backup',
    priority: 2,
    config: sampleConfigs.smtp,
  });
  const ref = { projectId: PROJECT, id: record.id };
  const revoke = () => {
    verdict = { valid: false, reason: 'API key revoked' };
  };
  return { pipe, store, main, ref, revoke };
}

describe('a credential verdict and a concurrent rename', () => {
  it('keeps the verdict when the rename lands first (merged into what it stored)', async () => {
    const { pipe, store, main, ref, revoke } = await setUp();
    revoke();
    store.interleave = async () => {
      await pipe.providers.update(ref, { name: 'Renamed' });
    };
    const result = await pipe.providers.validate(ref);
    expect(result).toMatchObject({ valid: false, reason: 'API key revoked' });
    const stored = await pipe.providers.get(ref);
    expect(stored.name).toBe('Renamed');
    expect(stored.credentials).toMatchObject({ status: 'invalid', reason: 'API key revoked' });
    const sent = await pipe.send(email);
    expect(sent.provider).toBe('smtp');
    expect(main.calls).toHaveLength(0);
  });

  it('keeps the verdict when it lands first: a rename based on the older read is refused, not undoing it', async () => {
    const { pipe, store, ref, revoke } = await setUp();
    revoke();
    // The rename read the record before the verdict was written; its write comes after.
    const staleRead = (await store.getProvider(ref.projectId, ref.id))!;
    await pipe.providers.validate(ref);
    const staleWrite = await store.replaceProvider(
      { ...staleRead, name: 'Renamed', version: staleRead.version + 1 },
      staleRead.version,
    );
    expect(staleWrite).toBe(false);
    await expect(
      pipe.providers.update({ ...ref, version: staleRead.version }, { name: 'x' }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect((await pipe.providers.get(ref)).credentials.status).toBe('invalid');
    expect((await pipe.send(email)).provider).toBe('smtp');
  });

  it('drops the verdict when the winning write changed the credentials it checked', async () => {
    const { pipe, store, ref, revoke } = await setUp();
    revoke();
    store.interleave = async () => {
      await pipe.providers.update(ref, { config: { apiKey: 'SG.fresh-key' } }, { verify: false });
    };
    await pipe.providers.validate(ref);
    expect((await pipe.providers.get(ref)).credentials.status).toBe('unchecked');
  });
});
