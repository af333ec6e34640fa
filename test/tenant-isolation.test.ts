/**
 * Tenant isolation: a provider record is identified by `(projectId, id)`. Two projects whose records share an id
 * (a copy of rows, a custom store) must never share an SDK client, a circuit breaker, stats or an opened config.
 */
import { Dispatcher, InMemoryProviderStore, type SendResult } from 'messagepipe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendgrid } from '../adapters/sendgrid';
import { type FakeHttpServer, fakeSecret, startFakeHttpServer } from './adapters/fake-http-server';

const TENANT_A = 'tenant-a';
const TENANT_B = 'tenant-b';
const KEY_A = fakeSecret('SG.a-');
const KEY_B = fakeSecret('SG.b-');

let fakeA: FakeHttpServer;
let fakeB: FakeHttpServer;
beforeAll(async () => {
  [fakeA, fakeB] = await Promise.all([startFakeHttpServer(), startFakeHttpServer()]);
});
afterAll(async () => {
  await Promise.all([fakeA.close(), fakeB.close()]);
});
beforeEach(() => {
  fakeA.reset();
  fakeB.reset();
  fakeA.route('POST', '/v3/mail/send', { status: 202, headers: { 'x-message-id': 'msg-a' } });
  fakeB.route('POST', '/v3/mail/send', { status: 202, headers: { 'x-message-id': 'msg-b' } });
});

const mail = (projectId: string) =>
  ({ projectId, channel: 'email', to: 'ann@example.test', subject: 'Hi', text: 'Hello' }) as const;

/** Two projects, each with one SendGrid record, and B's row copied so that it carries A's id. */
async function twoTenantsSharingAnId() {
  const store = new InMemoryProviderStore();
  const pipe = new Dispatcher({
    adapters: [sendgrid()],
    store,
    retry: false,
    circuitBreaker: { failureThreshold: 2, cooldownMs: 60_000 },
  });
  for (const projectId of [TENANT_A, TENANT_B]) {
    await pipe.senders.set({ projectId, channel: 'email', senderEmail: `noreply@${projectId}.test` });
  }
  const a = await pipe.providers.add(
    {
      projectId: TENANT_A,
      channel: 'email',
      provider: 'sendgrid',
      name: 'A',
      config: { apiKey: KEY_A, endpoint: fakeA.origin },
    },
    { verify: false },
  );
  const b = await pipe.providers.add(
    {
      projectId: TENANT_B,
      channel: 'email',
      provider: 'sendgrid',
      name: 'B',
      config: { apiKey: KEY_B, endpoint: fakeB.origin },
    },
    { verify: false },
  );
  // The copy of rows: B's record, same contents, under A's id (the store's key is (projectId, id)).
  const row = (await store.getProvider(TENANT_B, b.id))!;
  await store.deleteProvider(TENANT_B, b.id);
  await store.insertProvider({ ...row, id: a.id });
  return { pipe, id: a.id };
}

describe('records of two projects that share an id', () => {
  it('use their own client: B’s message reaches B’s endpoint with B’s key', async () => {
    const { pipe, id } = await twoTenantsSharingAnId();
    const first = await pipe.send(mail(TENANT_A));
    const second = await pipe.send(mail(TENANT_B));
    expect([first.providerConfigId, second.providerConfigId]).toEqual([id, id]);
    expect(second.messageId).toBe('msg-b');
    expect(fakeA.requests).toHaveLength(1);
    expect(fakeA.requests[0]!.headers.authorization).toBe(`Bearer ${KEY_A}`);
    expect(fakeB.requests).toHaveLength(1);
    expect(fakeB.requests[0]!.headers.authorization).toBe(`Bearer ${KEY_B}`);
    expect(fakeB.requests[0]!.json()).toMatchObject({ from: { email: `noreply@${TENANT_B}.test` } });
    await pipe.close();
  });

  it('keep separate circuit breakers and stats, each naming its project', async () => {
    const { pipe, id } = await twoTenantsSharingAnId();
    fakeA.reset();
    fakeA.route('POST', '/v3/mail/send', { status: 503, json: { errors: [{ message: 'down' }] } });
    for (let send = 0; send < 3; send++) await pipe.send(mail(TENANT_A)).catch(() => undefined);

    expect(pipe.breakers.state({ projectId: TENANT_A, id })).toMatchObject({ state: 'open' });
    expect(pipe.breakers.state({ projectId: TENANT_B, id })).toEqual({
      state: 'closed',
      consecutiveFailures: 0,
    });
    const result: SendResult = await pipe.send(mail(TENANT_B));
    expect(result.attempts.map((attempt) => attempt.outcome)).toEqual(['sent']);

    const exported = pipe.breakers.export();
    expect(exported).toEqual([
      expect.objectContaining({ projectId: TENANT_A, providerConfigId: id, state: 'open' }),
    ]);
    const stats = pipe.stats();
    expect(stats).toHaveLength(2);
    const byProject = Object.fromEntries(stats.map((entry) => [entry.projectId, entry]));
    expect(byProject[TENANT_A]).toMatchObject({
      providerConfigId: id,
      // The only candidate is probed even while open (every circuit open): three calls, no skip.
      attempts: 3,
      skipped: 0,
      failures: { transient: 3, provider: 0, message: 0 },
    });
    expect(byProject[TENANT_B]).toMatchObject({
      providerConfigId: id,
      attempts: 1,
      successes: 1,
      skipped: 0,
    });

    // A breaker restored on another dispatcher lands on the project it names, not on every record with the id.
    const other = new Dispatcher({ adapters: [sendgrid()], circuitBreaker: {} });
    other.breakers.restore(JSON.parse(JSON.stringify(exported)));
    expect(other.breakers.state({ projectId: TENANT_A, id }).state).toBe('open');
    expect(other.breakers.state({ projectId: TENANT_B, id }).state).toBe('closed');
    await Promise.all([pipe.close(), other.close()]);
  });

  it('forget only their own project’s state when one of them is updated', async () => {
    const { pipe, id } = await twoTenantsSharingAnId();
    await pipe.send(mail(TENANT_A));
    await pipe.send(mail(TENANT_B));
    await pipe.providers.update(
      { projectId: TENANT_A, id },
      { name: 'A renamed', config: { apiKey: KEY_A, endpoint: fakeA.origin } },
      { verify: false },
    );
    expect(pipe.stats().map((entry) => entry.projectId)).toEqual([TENANT_B]);
    await pipe.send(mail(TENANT_B));
    // B's kept-alive connection survived A's release.
    expect(fakeB.requests[1]!.connectionId).toBe(fakeB.requests[0]!.connectionId);
    await pipe.close();
  });
});
