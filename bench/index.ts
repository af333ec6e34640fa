/**
 * `npm run bench`: every benchmark, one after the other, printed as tables and written to bench/results.json.
 * Each comparison inside a scenario is measured side by side in the same run, so its figures are ratios.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { type BenchReport, printReport } from './report';

const scenarios: Array<[string, () => Promise<{ run: () => Promise<BenchReport> }>]> = [
  ['dispatch', () => import('./dispatch')],
  ['smtp', () => import('./smtp')],
  ['dead-primary', () => import('./dead-primary')],
  ['memory', () => import('./memory')],
  ['store-cache', () => import('./store-cache')],
  ['queue', () => import('./queue')],
  ['suppression', () => import('./suppression')],
  ['http', () => import('./http')],
];

const only = process.argv.slice(2);
const results: Record<string, BenchReport> = {};
for (const [name, load] of scenarios) {
  if (only.length > 0 && !only.includes(name)) continue;
  const report = await (await load()).run();
  printReport(report);
  results[name] = report;
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
