/**
 * Provider-list cache: send throughput with a store whose every call takes 2 ms (a database over a network),
 * behind the dispatcher's cache, against the in-memory store, measured side by side in one process. Target: the
 * slow store with the cache sends at least 0.9× as fast as the in-memory store.
 *
 * Run alone with `npm run bench -- store-cache` (BENCH_SENDS, BENCH_ROUNDS, BENCH_CONCURRENCY tune it).
 */
import {
  type AnyAdapter,
  type Channel,
  Dispatcher,
  type DispatcherOptions,
  generateSecretKey,
  InMemoryProviderStore,
  type ProviderCursor,
  type ProviderListFilter,
  type ProviderStore,
  type SenderConfig,
  type StoredProviderRecord,
} from 'messagepipe';
import { type BenchReport, median, rotated, round, runIfMain } from './report';

const SENDS = Number(process.env.BENCH_SENDS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const UNCACHED_SENDS = 200;
const STORE_LATENCY_MS = 2;
const TARGET_RATIO = 0.9;
const PROJECT = 'bench';

/** A store like a database across a network: every call waits 2 ms before the in-memory store answers. */
class SlowStore implements ProviderStore {
  readonly persistent = true;
  readonly #inner = new InMemoryProviderStore();
  reads = 0;

  async #slow<T>(call: () => Promise<T>): Promise<T> {
    await new Promise((resolve) => setTimeout(resolve, STORE_LATENCY_MS));
    return call();
  }

  insertProvider(record: StoredProviderRecord) {
    return this.#slow(() => this.#inner.insertProvider(record));
  }
  getProvider(projectId: string, id: string) {
    this.reads++;
    return this.#slow(() => this.#inner.getProvider(projectId, id));
  }
  listProviders(projectId: string, filter?: ProviderListFilter) {
    this.reads++;
    return this.#slow(() => this.#inner.listProviders(projectId, filter));
  }
  replaceProvider(record: StoredProviderRecord, expectedVersion: number) {
    return this.#slow(() => this.#inner.replaceProvider(record, expectedVersion));
  }
  scanProviders(page: { after?: ProviderCursor; limit: number }) {
    this.reads++;
    return this.#slow(() => this.#inner.scanProviders(page));
  }
  deleteProvider(projectId: string, id: string) {
    return this.#slow(() => this.#inner.deleteProvider(projectId, id));
  }
  getSender(projectId: string, channel: Channel) {
    this.reads++;
    return this.#slow(() => this.#inner.getSender(projectId, channel));
  }
  putSender(sender: SenderConfig) {
    return this.#slow(() => this.#inner.putSender(sender));
  }
}

/** A provider that accepts every message at once, so the numbers show the dispatcher and its store. */
function instantAdapter(provider: string): AnyAdapter {
  return {
    provider,
    channel: 'email',
    async send() {
      return { messageId: `${provider}-id` };
    },
  };
}

async function dispatcher(options: Pick<DispatcherOptions, 'store' | 'cache'>): Promise<Dispatcher> {
  const pipe = new Dispatcher({
    adapters: [instantAdapter('sendgrid'), instantAdapter('postmark')],
    secrets: { keys: { bench: generateSecretKey() }, activeKeyId: 'bench' },
    ...options,
  });
  await pipe.senders.set({
    projectId: PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    enabled: true,
  });
  const providers = [
    { provider: 'sendgrid', config: { apiKey: 'SG.bench-key' } },
    { provider: 'postmark', config: { serverToken: 'bench-token' } },
  ];
  for (const [index, { provider, config }] of providers.entries()) {
    await pipe.providers.add(
      { projectId: PROJECT, channel: 'email', provider, name: provider, priority: index + 1, config },
      { verify: false },
    );
  }
  return pipe;
}

const message = {
  projectId: PROJECT,
  channel: 'email',
  to: 'ann@example.test',
  subject: 'Hi',
  text: 'Hello',
} as const;

/** Sends per second of `count` sends, `concurrency` at a time. */
async function throughput(pipe: Dispatcher, count: number, concurrency: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        next++;
        await pipe.send(message);
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

/** Runs the benchmark and reports sends per second of each set-up and the ratio to the in-memory store. */
export async function run(): Promise<BenchReport> {
  const memory = await dispatcher({});
  const slowStore = new SlowStore();
  const cached = await dispatcher({ store: slowStore });
  const uncached = await dispatcher({ store: new SlowStore(), cache: false });

  const rows: Array<Record<string, string | number>> = [];
  const notes: string[] = [];
  for (const concurrency of [1, CONCURRENCY]) {
    // Warm up both paths (JIT, first cache load), then alternate which goes first in each round.
    await throughput(memory, 2_000, concurrency);
    await throughput(cached, 2_000, concurrency);
    const memoryRates: number[] = [];
    const cachedRates: number[] = [];
    const ratios: number[] = [];
    for (let roundIndex = 0; roundIndex < ROUNDS; roundIndex++) {
      const rates: Record<string, number> = {};
      for (const which of rotated(['memory', 'cached'], roundIndex)) {
        rates[which] = await throughput(which === 'memory' ? memory : cached, SENDS, concurrency);
      }
      memoryRates.push(rates.memory!);
      cachedRates.push(rates.cached!);
      ratios.push(rates.cached! / rates.memory!);
    }
    const uncachedRate = await throughput(uncached, UNCACHED_SENDS, concurrency);
    const ratio = median(ratios);
    rows.push(
      {
        concurrency,
        store: 'in-memory',
        'sends/s': Math.round(median(memoryRates)),
        'ratio to in-memory': 1,
      },
      {
        concurrency,
        store: `${STORE_LATENCY_MS} ms store + cache`,
        'sends/s': Math.round(median(cachedRates)),
        'ratio to in-memory': round(ratio),
      },
      {
        concurrency,
        store: `${STORE_LATENCY_MS} ms store, no cache`,
        'sends/s': Math.round(uncachedRate),
        'ratio to in-memory': round(uncachedRate / median(memoryRates), 3),
      },
    );
    notes.push(
      `concurrency ${concurrency}: cached/in-memory = ${round(ratio)} (median of ${ROUNDS} interleaved rounds of ${SENDS} sends; target ≥ ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'})`,
    );
  }
  notes.push(
    `The cached dispatcher read the slow store ${slowStore.reads} times in all (list and sender reads, refreshed every 5 s).`,
  );
  await Promise.all([memory.close(), cached.close(), uncached.close()]);
  return {
    title: `Provider-list cache: sends/s with a ${STORE_LATENCY_MS} ms store vs the in-memory store`,
    rows,
    notes,
  };
}

runIfMain(import.meta.url, run);
