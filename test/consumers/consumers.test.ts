/**
 * The packed package (`npm pack`) as its users get it: separate CommonJS, ES module, Jest, vitest and TypeScript
 * projects in a temporary directory, each with the tarball extracted into its `node_modules/messagepipe` and the
 * package's dependencies and peers linked from this repository's `node_modules` (no network, no registry).
 *
 * Run by `npm run test:consumers` (part of `npm test`) after the build. `MESSAGEPIPE_TARBALL=<path.tgz>` tests a
 * tarball built elsewhere instead of packing this checkout.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../queue/redis-server';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PROJECTS = join(REPO, 'test/consumers/projects');
const MODULES = join(REPO, 'node_modules');
// Generous: a type-check with skipLibCheck off takes tens of seconds on a busy 2-core machine.
const RUN_TIMEOUT_MS = 180_000;

/** Node without require(esm), as on Node < 20.19 (the flag exists from 20.17; older runtimes lack the feature). */
const NO_REQUIRE_ESM = process.allowedNodeEnvironmentFlags.has('--experimental-require-module')
  ? ['--no-experimental-require-module']
  : [];

interface Inbox {
  port: number;
  /** Subjects of the messages accepted so far. */
  subjects: string[];
  close(): Promise<void>;
}

/** A real SMTP server on 127.0.0.1; `failWith` makes it refuse every MAIL FROM with that temporary reply. */
async function startSmtp(failWith?: string): Promise<Inbox> {
  const subjects: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onMailFrom(_address, _session, callback) {
      if (failWith) callback(Object.assign(new Error(failWith), { responseCode: 451 }));
      else callback();
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const subject = /^Subject: (.*)$/m.exec(Buffer.concat(chunks).toString('utf8'))?.[1];
        if (subject) subjects.push(subject.trim());
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    subjects,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never throws for a non-zero exit. */
function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  // A vitest run inside this one must not take this run's worker settings for its own.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST') && name !== 'NODE_OPTIONS'),
  );
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: { ...inherited, ...env }, timeout: RUN_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const killed = error?.killed ? `\n(killed by ${error.signal} after ${RUN_TIMEOUT_MS} ms)` : '';
        resolve({ code, stdout, stderr: stderr + killed });
      },
    );
  });
}

/** Asserts a run succeeded, showing its output when it did not. */
function expectSuccess(result: Run): void {
  expect(result.code, `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`).toBe(
    0,
  );
}

/** The last line of a run's output, parsed as JSON (what the project scripts print on success). */
function summaryOf(result: Run): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as Record<string, unknown>;
}

let work: string;
let tarball: string;
let packedManifest: { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
let inbox: Inbox;
let failing: Inbox;
let redis: RedisServer;

async function pack(): Promise<string> {
  if (!existsSync(join(REPO, 'dist/index.cjs'))) throw new Error('Build the package first: npm run build');
  const result = await run('npm', ['pack', '--json', '--pack-destination', work], REPO);
  expectSuccess(result);
  const [packed] = JSON.parse(result.stdout) as Array<{ filename: string }>;
  return join(work, packed!.filename);
}

/**
 * A consumer project in the temporary directory: the files of `projects/<from>`, the tarball in
 * `node_modules/messagepipe`, and links to the package's dependencies and peers (and `extra` packages).
 */
async function project(
  name: string,
  options: { from?: string; type?: 'module' | 'commonjs'; extra?: string[] } = {},
): Promise<string> {
  const dir = join(work, name);
  await cp(join(PROJECTS, options.from ?? name), dir, { recursive: true });
  if (options.type) {
    await writeFile(
      join(dir, 'package.json'),
      `${JSON.stringify({ private: true, type: options.type }, null, 2)}\n`,
    );
  }
  const target = join(dir, 'node_modules/messagepipe');
  await mkdir(target, { recursive: true });
  expectSuccess(await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], dir));
  const names = [
    ...Object.keys(packedManifest.dependencies ?? {}),
    ...Object.keys(packedManifest.peerDependencies ?? {}),
    ...(options.extra ?? []),
  ];
  for (const dependency of new Set(names)) {
    const source = join(MODULES, dependency);
    if (!existsSync(source)) continue; // an optional peer this repository does not install
    const link = join(dir, 'node_modules', dependency);
    await mkdir(dirname(link), { recursive: true });
    await symlink(source, link, 'dir');
  }
  return dir;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'messagepipe-consumers-'));
  tarball = process.env.MESSAGEPIPE_TARBALL ?? (await pack());
  const manifest = await run('tar', ['-xzOf', tarball, 'package/package.json'], work);
  expectSuccess(manifest);
  packedManifest = JSON.parse(manifest.stdout) as typeof packedManifest;
  [inbox, failing, redis] = await Promise.all([
    startSmtp(),
    startSmtp('4.3.0 Temporarily unable to queue messages'),
    startRedis(),
  ]);
});

afterAll(async () => {
  await Promise.all([inbox?.close(), failing?.close(), redis?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

function envFor(label: string): Record<string, string> {
  return {
    MP_LABEL: label,
    MP_SMTP_INBOX_PORT: String(inbox.port),
    MP_SMTP_FAILING_PORT: String(failing.port),
    MP_REDIS_PORT: String(redis.port),
  };
}

it('the tarball ships the MIT license', async () => {
  const license = await run('tar', ['-xzOf', tarball, 'package/LICENSE'], work);
  expectSuccess(license);
  expect(license.stdout).toMatch(/^MIT License\n\nCopyright \(c\) 2026 MessagePipe contributors\n/);
});

/** The core's error class as the bundler writes it. */
const CORE_ERROR_CLASS = /\bMessagePipeError = class\b|\bclass MessagePipeError\b/;

it('subpath entries load the core as `messagepipe`, so an app holds one copy of it', async () => {
  const dir = await project('entries', { from: 'esm' });
  const dist = join(dir, 'node_modules/messagepipe/dist');
  const entries = ['testing', 'queue', 'stores/postgres', 'adapters/smtp', 'adapters/twilio'];
  for (const entry of entries) {
    for (const [extension, loadsCore] of [
      ['.js', /from "messagepipe"/],
      ['.cjs', /require\("messagepipe"\)/],
    ] as const) {
      const code = await readFile(join(dist, `${entry}${extension}`), 'utf8');
      expect(code, `${entry}${extension}`).toMatch(loadsCore);
      expect(code, `${entry}${extension}`).not.toMatch(CORE_ERROR_CLASS);
    }
  }
  for (const core of ['index.js', 'index.cjs']) {
    expect(await readFile(join(dist, core), 'utf8')).toMatch(CORE_ERROR_CLASS);
  }
});

describe('CommonJS project (require)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await project('commonjs');
  });

  it('retries a transiently failing primary, then fails over (mock adapters and real SMTP servers)', async () => {
    const result = await run(process.execPath, ['failover.js'], dir, envFor('commonjs'));
    expectSuccess(result);
    expect(summaryOf(result).smtp).toEqual([
      ['smtp', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['smtp', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['smtp', 'failed', 'PROVIDER_UNAVAILABLE'],
      ['smtp', 'sent', null],
    ]);
    expect(inbox.subjects).toContain('commonjs: smtp failover');
  });

  it('runs the queue worker: a job enqueued on Redis is sent after retries and a failover', async () => {
    const result = await run(process.execPath, ['queue.js'], dir, envFor('commonjs-queue'));
    expectSuccess(result);
    expect(summaryOf(result)).toEqual({
      label: 'commonjs-queue',
      status: 'sent',
      provider: 'termii',
      runs: 1,
    });
  });

  describe('on a runtime without require(esm)', () => {
    it('requires every package the CommonJS build loads, none of them an ES module', async () => {
      const result = await run(process.execPath, [...NO_REQUIRE_ESM, 'requires.js'], dir);
      expectSuccess(result);
      const { required, failures } = summaryOf(result) as { required: string[]; failures: string[] };
      expect(failures).toEqual([]);
      // Every SDK an adapter loads lazily, and the core's own dependencies; the ES-module-only ones are bundled.
      expect(required).toEqual(
        expect.arrayContaining([
          '@aws-sdk/client-sesv2',
          '@aws-sdk/client-sns',
          '@opentelemetry/api',
          '@sendgrid/client',
          'bullmq',
          'ioredis',
          'mailgun.js',
          'nodemailer',
          'pg',
          'postmark',
          'twilio',
          'zod',
        ]),
      );
      expect(required).not.toContain('p-retry');
    });

    it('fails over', async () => {
      const result = await run(
        process.execPath,
        [...NO_REQUIRE_ESM, 'failover.js'],
        dir,
        envFor('no-require-esm'),
      );
      expectSuccess(result);
      expect(inbox.subjects).toContain('no-require-esm: smtp failover');
    });

    it('runs the queue worker', async () => {
      const result = await run(
        process.execPath,
        [...NO_REQUIRE_ESM, 'queue.js'],
        dir,
        envFor('no-require-esm-queue'),
      );
      expectSuccess(result);
      expect(summaryOf(result)).toMatchObject({ status: 'sent', provider: 'termii' });
    });
  });
});

it('Jest in its default CommonJS mode requires the package and fails over to a real SMTP server', async () => {
  const dir = await project('jest');
  const jest = join(MODULES, 'jest/bin/jest.js');
  const args = [
    jest,
    '--rootDir',
    dir,
    '--ci',
    '--no-watchman',
    '--cacheDirectory',
    join(work, 'jest-cache'),
  ];
  const result = await run(process.execPath, args, dir, envFor('jest'));
  expectSuccess(result);
  expect(result.stderr).toMatch(/Tests:\s+2 passed, 2 total/);
  expect(inbox.subjects).toContain('jest: jest');
});

it('an ES module project imports the package and fails over across three providers', async () => {
  const dir = await project('esm');
  const result = await run(process.execPath, ['failover.js'], dir, envFor('esm'));
  expectSuccess(result);
  expect(inbox.subjects).toContain('esm: esm');
});

it('a vitest project imports the package and fails over to a real SMTP server', async () => {
  const dir = await project('vitest', { extra: ['vitest'] });
  const result = await run(
    process.execPath,
    [join(MODULES, 'vitest/vitest.mjs'), 'run', '--root', dir],
    dir,
    {
      ...envFor('vitest'),
      NO_COLOR: '1',
    },
  );
  expectSuccess(result);
  expect(result.stdout).toMatch(/Tests\s+1 passed \(1\)/);
  expect(inbox.subjects).toContain('vitest: vitest');
});

describe('TypeScript consumer (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, skipLibCheck off)', () => {
  const typeOnly = ['@types/node', '@types/nodemailer', '@types/pg', 'vitest'];

  it.each(['module', 'commonjs'] as const)('type-checks against the packed types as %s', async (type) => {
    const dir = await project(`typescript-${type}`, { from: 'typescript', type, extra: typeOnly });
    const result = await run(process.execPath, [join(MODULES, 'typescript/bin/tsc'), '-p', dir], dir);
    expectSuccess(result);
  });

  it("the README's conformance snippet is the file compiled here", async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    const snippet = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)]
      .map((match) => match[1])
      .find((code) => code?.includes('providerStoreConformance('));
    expect(snippet).toBe(await readFile(join(PROJECTS, 'typescript/conformance.ts'), 'utf8'));
  });
});
