import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, `postgres` on a free port on
 * 127.0.0.1, torn down (and deleted) by `stop()`. Uses the server binaries of Debian's `postgresql` package (or any
 * on PATH); as root, runs them as the `postgres` user, since the server refuses to run as root.
 */
export interface PostgresCluster {
  /** Connection string of the `postgres` database, as superuser `messagepipe`. */
  connectionString: string;
  port: number;
  /** Creates a fresh, empty database and returns its connection string. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The directory holding `initdb` and `postgres`, or `undefined` when PostgreSQL is not installed. */
export function findPostgresBinaries(): string | undefined {
  const candidates: string[] = [];
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(debianRoot, version, 'bin')));
  }
  candidates.push(...(process.env.PATH ?? '').split(':').filter(Boolean));
  return candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** uid and gid of the `postgres` user, when running as root. */
function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(
      'Running as root needs a "postgres" user to run the server as (apt-get install postgresql)',
    );
  }
}

/** Starts a cluster; rejects (after cleaning up) when it cannot. */
export async function startPostgres(): Promise<PostgresCluster> {
  const bin = findPostgresBinaries();
  if (!bin) throw new Error('PostgreSQL server binaries not found: apt-get install postgresql');
  const user = unprivilegedUser();
  const root = mkdtempSync(join(tmpdir(), 'messagepipe-pg-'));
  const dataDir = join(root, 'data');
  if (user) chownSync(root, user.uid, user.gid);
  const spawnOptions = { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C', LANG: 'C' } };
  let server: ChildProcess | undefined;
  const output: string[] = [];

  const stop = async () => {
    const running = server;
    server = undefined;
    if (running && running.exitCode === null && running.signalCode === null) {
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGINT'); // fast shutdown
      const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(root, { recursive: true, force: true });
  };

  try {
    execFileSync(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'messagepipe', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      { ...spawnOptions, stdio: 'pipe' },
    );
    const port = await freePort();
    server = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const connectionString = `postgresql://messagepipe@127.0.0.1:${port}/postgres`;
    await waitUntilReady(connectionString, server);
    return {
      connectionString,
      port,
      async createDatabase(name: string) {
        const client = new pg.Client({ connectionString });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
        } finally {
          await client.end();
        }
        return `postgresql://messagepipe@127.0.0.1:${port}/${encodeURIComponent(name)}`;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`Could not start PostgreSQL: ${(error as Error).message}\n${output.join('')}`);
  }
}

async function waitUntilReady(connectionString: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`postgres exited with code ${server.exitCode}`);
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`postgres did not accept connections: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
