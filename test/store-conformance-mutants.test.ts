import {
  InMemoryProviderStore,
  type ProviderListFilter,
  type ProviderScanPage,
  type StoredProviderRecord,
} from 'messagepipe';
import { providerStoreConformance } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';

/** Runs the suite against a broken store and returns the names of the cases that failed. */
async function failingCases(create: () => InMemoryProviderStore): Promise<string[]> {
  const failed: string[] = [];
  for (const check of providerStoreConformance({ create, manyProviders: 60 })) {
    try {
      await check.run();
    } catch {
      failed.push(check.name);
    }
  }
  return failed;
}

class LastWriteWins extends InMemoryProviderStore {
  override async replaceProvider(record: StoredProviderRecord): Promise<boolean> {
    const current = await this.getProvider(record.projectId, record.id);
    return super.replaceProvider(record, current?.version ?? -1);
  }
}

class SortsByPriorityOnly extends InMemoryProviderStore {
  override async listProviders(projectId: string, filter?: ProviderListFilter) {
    const records = await super.listProviders(projectId, filter);
    return records.reverse().sort((a, b) => a.priority - b.priority);
  }
}

class RepeatsTheCursor extends InMemoryProviderStore {
  override async scanProviders(page: ProviderScanPage) {
    if (!page.after) return super.scanProviders(page);
    const found = await super.scanProviders({ after: page.after, limit: page.limit });
    const cursor = await this.getProvider(page.after.projectId, page.after.id);
    return cursor && found.length > 0 ? [cursor, ...found].slice(0, page.limit) : found;
  }
}

class IgnoresProjectOnGet extends InMemoryProviderStore {
  override async getProvider(projectId: string, id: string) {
    for (const candidate of ['project-a', 'project-b', projectId]) {
      const record = await super.getProvider(candidate, id);
      if (record) return record;
    }
    return undefined;
  }
}

class DropsOptionalFields extends InMemoryProviderStore {
  override async getProvider(projectId: string, id: string) {
    const record = await super.getProvider(projectId, id);
    return record && { ...record, credentials: { status: record.credentials.status } };
  }
}

describe('the store conformance suite catches broken stores', () => {
  it('a store that ignores the expected version', async () => {
    const failed = await failingCases(() => new LastWriteWins());
    expect(failed).toContain('replaces a record only at the expected version');
    expect(failed).toContain('refuses a write based on a stale read (read, modify, write)');
  });

  it('a store that orders by priority alone', async () => {
    const failed = await failingCases(() => new SortsByPriorityOnly());
    expect(failed).toContain('lists by priority, then creation time, then id, and filters by channel');
    expect(failed).toContain('handles many providers');
  });

  it('a store whose scan repeats the cursor record', async () => {
    const failed = await failingCases(() => new RepeatsTheCursor());
    expect(failed).toContain('scans every record of every project once, in pages');
  });

  it('a store that finds records of other projects', async () => {
    const failed = await failingCases(() => new IgnoresProjectOnGet());
    expect(failed).toContain('isolates projects on every operation');
  });

  it('a store that loses fields', async () => {
    const failed = await failingCases(() => new DropsOptionalFields());
    expect(failed).toContain('returns an inserted record unchanged');
    expect(failed).toContain('keeps every field exactly, including unusual values');
  });

  it('passes the memory store', async () => {
    expect(await failingCases(() => new InMemoryProviderStore())).toEqual([]);
  });
});
