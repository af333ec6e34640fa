/**
 * Scenario: garbage collection on the send path. 1M sequential healthy sends through one dispatcher with no-op
 * adapters, without and with an `attempt:finish` listener: young-generation (scavenge) GC time and count, full
 * (mark-compact) collections, and the peak heap in use, from `PerformanceObserver` 'gc' entries and heap samples.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { Dispatcher, defineAdapter } from 'messagepipe';
import { z } from 'zod';
import { type BenchReport, round, runIfMain } from './report';

const SENDS = Number(process.env.BENCH_GC_SENDS ?? 1_000_000);
const YOUNG_GC_LIMIT_MS = 1000;
const PEAK_HEAP_LIMIT_MB = 32;
/** Heap samples are taken every this many sends (a sample costs far more than a send). */
const SAMPLE_EVERY = 1000;
/** Counted by the listener, so its work cannot be optimised away. */
let sentEvents = 0;

async function dispatcher(listener: boolean): Promise<Dispatcher> {
  const configSchema = z.object({});
  const adapter = (provider: string) =>
    defineAdapter({
      provider,
      channel: 'email',
      configSchema,
      async send() {
        return { messageId: `${provider}-id` };
      },
    });
  const pipe = new Dispatcher({ adapters: [adapter('primary'), adapter('secondary')] });
  await pipe.senders.set({ projectId: 'bench', channel: 'email', senderEmail: 'noreply@acme.test' });
  for (const [index, provider] of ['primary', 'secondary'].entries()) {
    await pipe.providers.add({
      projectId: 'bench',
      channel: 'email',
      provider,
      name: provider,
      priority: index + 1,
      config: {},
    });
  }
  if (listener) {
    pipe.on('attempt:finish', (event) => {
      if (event.attempt.outcome === 'sent') sentEvents++;
    });
    process.on('exit', () => {
      if (sentEvents === 0) console.error('the attempt:finish listener saw nothing');
    });
  }
  return pipe;
}

interface GcFigures {
  youngMs: number;
  youngCount: number;
  fullCount: number;
  fullMs: number;
  peakHeapMb: number;
  microsPerSend: number;
}

async function measure(listener: boolean): Promise<GcFigures> {
  const pipe = await dispatcher(listener);
  const input = {
    projectId: 'bench',
    channel: 'email' as const,
    to: 'ann@example.test',
    subject: 'Hello',
    text: 'Hi Ann',
  };
  for (let index = 0; index < 20_000; index++) await pipe.send(input);
  (globalThis as { gc?: () => void }).gc?.();

  const figures = { youngMs: 0, youngCount: 0, fullCount: 0, fullMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        figures.youngMs += entry.duration;
        figures.youngCount++;
      } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        figures.fullMs += entry.duration;
        figures.fullCount++;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  let peak = getHeapStatistics().used_heap_size;
  const started = performance.now();
  for (let index = 0; index < SENDS; index++) {
    await pipe.send(input);
    if (index % SAMPLE_EVERY === 0) {
      const used = getHeapStatistics().used_heap_size;
      if (used > peak) peak = used;
    }
  }
  const elapsed = performance.now() - started;
  // GC entries are delivered asynchronously: let the last ones arrive.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  await pipe.close();
  return { ...figures, peakHeapMb: peak / 2 ** 20, microsPerSend: (elapsed * 1000) / SENDS };
}

/**
 * Each case runs in a fresh process (this file with `--child`), so the heap holds the dispatcher alone, not what
 * earlier scenarios (notifme-sdk and its dependencies) left behind.
 */
async function measureInChild(listener: boolean): Promise<GcFigures> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      listener ? 'listener' : 'none',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: process.env },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`GC scenario child exited with ${code}`);
  return JSON.parse(output.trim().split('\n').pop()!) as GcFigures;
}

export async function run(): Promise<BenchReport> {
  const rows: BenchReport['rows'] = [];
  const notes: string[] = [];
  for (const listener of [false, true]) {
    const figures = await measureInChild(listener);
    const scenario = listener ? "with an 'attempt:finish' listener" : 'no listener';
    rows.push({
      scenario,
      sends: SENDS,
      'µs per send': round(figures.microsPerSend),
      'young-gen GC ms': Math.round(figures.youngMs),
      scavenges: figures.youngCount,
      'full GCs': figures.fullCount,
      'full GC ms': Math.round(figures.fullMs),
      'peak heap MB': round(figures.peakHeapMb),
    });
    const youngOk = figures.youngMs < YOUNG_GC_LIMIT_MS;
    const heapOk = figures.peakHeapMb < PEAK_HEAP_LIMIT_MB;
    notes.push(
      `${scenario}: young-generation GC ${Math.round(figures.youngMs)} ms over ${SENDS} sends (target < ${YOUNG_GC_LIMIT_MS} ms: ${youngOk ? 'met' : 'NOT met'}), peak heap ${round(figures.peakHeapMb)} MB (target < ${PEAK_HEAP_LIMIT_MB} MB: ${heapOk ? 'met' : 'NOT met'}).`,
    );
  }
  notes.push(
    `Each case in a fresh process; heap sampled every ${SAMPLE_EVERY} sends; GC times from PerformanceObserver 'gc' entries.`,
  );
  return { title: 'Garbage collection: 1M healthy sends', rows, notes };
}

if (process.argv[2] === '--child') {
  measure(process.argv[3] === 'listener').then(
    (figures) => console.log(JSON.stringify(figures)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
} else {
  runIfMain(import.meta.url, run);
}
