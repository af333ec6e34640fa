/**
 * Runs one adapter send in a separate Node process whose module resolution cannot find a package, as in an app
 * that did not install the provider's SDK, and reports what the send failed with.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** What {@link sendWithoutPackage} runs. */
export interface WithoutPackageRun {
  /** The package the child process cannot resolve (and anything under it). */
  packageName: string;
  /** The adapter's source file. */
  adapterModule: URL;
  /** The factory the adapter module exports, called without arguments. */
  factory: string;
  /** Passed to `send` as it is (JSON). */
  message: unknown;
  /** The send context's config (JSON). */
  config: unknown;
}

/** The code and message of the error the send failed with. */
export async function sendWithoutPackage(run: WithoutPackageRun): Promise<{ code: string; message: string }> {
  const script = `import { ${run.factory} } from ${JSON.stringify(fileURLToPath(run.adapterModule))};
const context = { config: ${JSON.stringify(run.config)}, signal: new AbortController().signal, timeoutMs: 5000,
  logger: { debug() {}, warn() {} }, projectId: 'p', providerConfigId: 'c', configRevision: '1', idempotencyKey: 'k' };
const error = await ${run.factory}().send(${JSON.stringify(run.message)}, context).then(() => ({}), (thrown) => thrown);
console.log(JSON.stringify({ code: error.code, message: error.message }));
`;
  return (await runWithoutPackage(run.packageName, script)) as { code: string; message: string };
}

/**
 * Runs a TypeScript module (source text; `messagepipe` imports resolve to this repository) in a separate Node
 * process that cannot resolve `packageName`, and returns the JSON its last line of output holds.
 */
export async function runWithoutPackage(packageName: string, source: string): Promise<unknown> {
  const dir = await mkdtemp(join(tmpdir(), 'messagepipe-missing-'));
  try {
    const hook = join(dir, 'hide-package.mjs');
    await writeFile(
      hook,
      `const name = ${JSON.stringify(packageName)};
export async function resolve(specifier, context, next) {
  if (specifier === name || specifier.startsWith(name + '/')) {
    const error = new Error("Cannot find package '" + name + "' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}
`,
    );
    const script = join(dir, 'run.mts');
    await writeFile(script, source);
    const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(pathToFileURL(hook).href)})`;
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', '--import', register, script],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
      },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as unknown;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
