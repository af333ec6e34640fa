/**
 * Scenario 4: memory. Heap in use before and after 1M sends through one dispatcher with no-op adapters, for a
 * healthy primary and for a primary that always fails. Needs `node --expose-gc` (as `npm run bench` runs it).
 */
import { Dispatcher, defineAdapter, ProviderError } from 'messagepipe';
import { z } from 'zod';
import { type BenchReport, round, runIfMain } from './report';

const SENDS = Number(process.env.BENCH_MEMORY_SENDS ?? 1_000_000);
const LIMIT_MB = 5;

function collect(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('Run with node --expose-gc (npm run bench does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function heapGrowth(primaryFails: boolean): Promise<{ before: number; after: number }> {
  const configSchema = z.object({});
  const primary = defineAdapter({
    provider: 'primary',
    channel: 'email',
    configSchema,
    async send() {
      if (primaryFails)
        throw new ProviderError('PROVIDER_UNAVAILABLE', 'HTTP 503', { provider: 'primary', status: 503 });
      return { messageId: 'primary-id' };
    },
  });
  const secondary = defineAdapter({
    provider: 'secondary',
    channel: 'email',
    configSchema,
    async send() {
      return { messageId: 'secondary-id' };
    },
  });
  const pipe = new Dispatcher({ adapters: [primary, secondary], retry: false });
  await pipe.senders.set({ projectId: 'bench', channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add({
    projectId: 'bench',
    channel: 'email',
    provider: 'primary',
    name: 'p',
    priority: 1,
    config: {},
  });
  await pipe.providers.add({
    projectId: 'bench',
    channel: 'email',
    provider: 'secondary',
    name: 's',
    priority: 2,
    config: {},
  });
  pipe.on('attempt:finish', () => {});
  const input = {
    projectId: 'bench',
    channel: 'email' as const,
    to: 'ann@example.test',
    subject: 'Hello',
    text: 'Hi Ann',
  };
  // Warm up first, so lazily built caches and compiled code are in the "before" figure.
  for (let index = 0; index < 20_000; index++) await pipe.send(input);
  const before = collect();
  for (let index = 0; index < SENDS; index++) await pipe.send(input);
  const after = collect();
  await pipe.close();
  return { before, after };
}

export async function run(): Promise<BenchReport> {
  const rows: BenchReport['rows'] = [];
  const notes: string[] = [];
  for (const primaryFails of [false, true]) {
    const { before, after } = await heapGrowth(primaryFails);
    const growthMb = (after - before) / 1024 / 1024;
    const scenario = primaryFails ? 'primary always failing' : 'healthy primary';
    rows.push({
      scenario,
      sends: SENDS,
      'heap before MB': round(before / 1024 / 1024),
      'heap after MB': round(after / 1024 / 1024),
      'growth MB': round(growthMb),
    });
    notes.push(
      `${scenario}: heap grew ${round(growthMb)} MB over ${SENDS} sends (target < ${LIMIT_MB} MB: ${growthMb < LIMIT_MB ? 'met' : 'NOT met'}).`,
    );
  }
  return { title: 'Memory: heap growth over 1M sends', rows, notes };
}

runIfMain(import.meta.url, run);
