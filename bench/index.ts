/**
 * `npm run bench`: every benchmark, one after the other, each in a process of its own, printed as tables and written
 * to bench/results.json. Each comparison inside a scenario is measured side by side in the same run, so its figures
 * are ratios.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertMeasuringBuild, type BenchReport, printReport } from './report';

const scenarios: Array<[string, () => Promise<{ run: () => Promise<BenchReport> }>]> = [
  ['dispatch', () => import('./dispatch')],
  ['gc', () => import('./gc')],
  ['smtp', () => import('./smtp')],
  ['dead-primary', () => import('./dead-primary')],
  ['memory', () => import('./memory')],
  ['store-cache', () => import('./store-cache')],
  ['queue', () => import('./queue')],
  ['suppression', () => import('./suppression')],
  ['http', () => import('./http')],
];

assertMeasuringBuild();
const args = process.argv.slice(2);
/** `--profile`: run the dispatch scenario alone under the CPU profiler and write the profile (see README). */
const profile = args.includes('--profile');
/** Set in the child process that runs one scenario: where to write its report. */
const reportFile = process.env.BENCH_REPORT_FILE;
const only = profile ? ['dispatch'] : args.filter((arg) => !arg.startsWith('--'));
if (reportFile) {
  // A child: run the one scenario named, print it and hand the report back.
  const load = scenarios.find(([name]) => name === only[0])?.[1];
  if (!load) throw new Error(`unknown scenario ${only[0]}`);
  const report = await (await load()).run();
  printReport(report);
  await writeFile(reportFile, JSON.stringify(report));
  process.exit(0);
}
const results: Record<string, BenchReport> = {};
for (const [name, load] of scenarios) {
  if (only.length > 0 && !only.includes(name)) continue;
  const report = profile ? await profiled(name, (await load()).run) : await inChildProcess(name);
  if (profile) printReport(report);
  results[name] = report;
}
if (profile) process.exit(0);
// bench/results.json is the record of a full run: a run of some scenarios must not replace it with a part.
if (only.length > 0) {
  console.log('\nbench/results.json left as it was (only some scenarios ran)');
  process.exit(0);
}
const machine = {
  node: process.version,
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  memoryGb: Math.round(totalmem() / 2 ** 30),
};
await writeFile(
  new URL('./results.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2)}\n`,
);
console.log('\nWrote bench/results.json');

/**
 * Runs a scenario in a process of its own, so what one scenario leaves behind (V8's type feedback from other
 * dispatcher configurations, a grown heap, timers) does not slow the next; its comparisons still run side by side
 * inside that process. Same Node flags as this process.
 */
async function inChildProcess(name: string): Promise<BenchReport> {
  const directory = await mkdtemp(join(tmpdir(), 'messagepipe-bench-'));
  const file = join(directory, `${name}.json`);
  try {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_REPORT_FILE: file },
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`bench scenario ${name} exited with ${code}`);
    return JSON.parse(await readFile(file, 'utf8')) as BenchReport;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Runs a scenario under the V8 CPU profiler; writes bench/profiles/<name>.cpuprofile (open it in Chrome DevTools). */
async function profiled(name: string, run: () => Promise<BenchReport>): Promise<BenchReport> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  let report: BenchReport;
  try {
    report = await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    const directory = new URL('./profiles/', import.meta.url);
    await mkdir(directory, { recursive: true });
    const file = new URL(`${name}.cpuprofile`, directory);
    await writeFile(file, JSON.stringify(profile));
    console.log(`\nWrote ${fileURLToPath(file)}`);
    session.disconnect();
  }
  return report;
}
