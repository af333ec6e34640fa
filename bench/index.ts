/**
 * `npm run bench`: every benchmark, one after the other, printed as tables and written to bench/results.json.
 * Each comparison inside a scenario is measured side by side in the same run, so its figures are ratios.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type BenchReport, printReport } from './report';

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

const args = process.argv.slice(2);
/** `--profile`: run the dispatch scenario alone under the CPU profiler and write the profile (see README). */
const profile = args.includes('--profile');
const only = profile ? ['dispatch'] : args.filter((arg) => !arg.startsWith('--'));
const results: Record<string, BenchReport> = {};
for (const [name, load] of scenarios) {
  if (only.length > 0 && !only.includes(name)) continue;
  const module = await load();
  const report = profile ? await profiled(name, module.run) : await module.run();
  printReport(report);
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
