import { ClientPool } from 'messagepipe';
import { describe, expect, it } from 'vitest';

describe('ClientPool', () => {
  const pool = () => {
    const disposed: string[] = [];
    let created = 0;
    const clients = new ClientPool<{ name: string }, { id: number; name: string }>(
      (config) => ({ id: ++created, name: config.name }),
      (client) => {
        disposed.push(`${client.name}#${client.id}`);
      },
    );
    return { clients, disposed };
  };
  const ctx = (revision: string, name = `rev${revision}`) => ({
    projectId: 'project-a',
    providerConfigId: 'p1',
    configRevision: revision,
    config: { name },
  });

  it('reuses one client per revision and replaces it when the config moves on', async () => {
    const { clients, disposed } = pool();
    const first = await clients.get(ctx('1'));
    expect(await clients.get(ctx('1'))).toBe(first);
    const second = await clients.get(ctx('2'));
    expect(second).not.toBe(first);
    await Promise.resolve();
    expect(disposed).toEqual(['rev1#1']);
  });

  it('hands a send holding an older revision the newer client instead of closing it', async () => {
    const { clients, disposed } = pool();
    const newer = await clients.get(ctx('2'));
    expect(await clients.get(ctx('1'))).toBe(newer);
    expect(await clients.get(ctx('2'))).toBe(newer);
    expect(disposed).toEqual([]);
  });

  it('shares one creation among concurrent first uses, and releases and closes', async () => {
    const { clients, disposed } = pool();
    const [a, b] = await Promise.all([clients.get(ctx('1')), clients.get(ctx('1'))]);
    expect(a).toBe(b);
    await clients.release('p1');
    expect(disposed).toEqual(['rev1#1']);
    await clients.get(ctx('1'));
    await clients.close();
    expect(disposed).toEqual(['rev1#1', 'rev1#2']);
  });
});
