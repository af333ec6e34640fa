import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** What every benchmark module returns: a titled table, plus notes (targets met or not, and why). */
export interface BenchReport {
  title: string;
  rows: Array<Record<string, string | number>>;
  notes?: string[];
}

/** The median of measured values (rates, ratios) from interleaved rounds. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * The contenders in the order they run in round `round`: each round starts one further along, so drift hits all alike
 * and none always follows the same one (and pays for the garbage it leaves). With two, the order alternates.
 */
export function rotated<T>(contenders: readonly T[], round: number): T[] {
  const first = round % contenders.length;
  return [...contenders.slice(first), ...contenders.slice(0, first)];
}

/**
 * The median of `own[round] / other[round]`: two contenders measured in the same rounds compared round by round, so
 * the machine's drift between rounds, larger than within one, cancels out.
 */
export function pairedRatio(own: readonly number[], other: readonly number[]): number {
  return median(own.map((rate, round) => rate / other[round]!));
}

/** Sends per second of `count` sequential calls of `send`. */
export async function throughput(count: number, send: (index: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let index = 0; index < count; index++) await send(index);
  return count / ((performance.now() - started) / 1000);
}

/** The value at a quantile of sorted numbers. */
export function percentile(sorted: readonly number[], quantile: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(quantile * sorted.length) - 1))]!;
}

export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** Prints a report as a table. */
export function printReport(report: BenchReport): void {
  console.log(`\n## ${report.title}`);
  console.table(report.rows);
  for (const note of report.notes ?? []) console.log(`- ${note}`);
}

/**
 * Refuses to measure anything but the built package, the code users install: `npm run bench` builds it and runs the
 * scenarios with bench/tsconfig.json, which maps no `messagepipe` import to the sources, so the package's own exports
 * lead to dist/. Run from the sources through tsx, every closure a send creates would also pay for the name tsx
 * gives it (esbuild's `keepNames`): figures of code nobody runs.
 */
export function assertMeasuringBuild(): void {
  const core = fileURLToPath(import.meta.resolve('messagepipe'));
  if (!core.startsWith(fileURLToPath(new URL('../dist/', import.meta.url)))) {
    throw new Error(
      `'messagepipe' resolves to ${core}, not to the build in dist/: run the benchmarks with npm run bench`,
    );
  }
}

/** Runs a bench module's `run` when the file is executed directly. */
export function runIfMain(url: string, run: () => Promise<BenchReport>): void {
  if (process.argv[1] && url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
    assertMeasuringBuild();
    run().then(printReport, (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  }
}

/** Starts the SMTP sink (bench/smtp-sink.ts) in its own process on 127.0.0.1. */
export async function startSmtpSink(): Promise<{ port: number; process: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./smtp-sink.ts', import.meta.url))],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { port: Number(chunk.toString().trim()), process: child };
}
