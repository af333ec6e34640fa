import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway Redis server on 127.0.0.1, with its data in a temporary directory. */
export interface RedisServer {
  host: '127.0.0.1';
  port: number;
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** Stops the server and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

const READY = /Ready to accept connections/;
const START_TIMEOUT_MS = 15_000;

/**
 * Starts `redis-server` (Debian package `redis-server`; `REDIS_SERVER` overrides the binary) on a free port with
 * persistence off. Retries on another port when the chosen one was taken in the meantime.
 */
export async function startRedis(): Promise<RedisServer> {
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    try {
      return await startOnce(await freePort());
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(port: number): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'messagepipe-redis-'));
  const binary = process.env.REDIS_SERVER ?? 'redis-server';
  const child = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    await waitUntilReady(child, binary);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    stop() {
      stopped ??= stop(child, dir);
      return stopped;
    },
  };
}

function waitUntilReady(child: ChildProcess, binary: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => fail(new Error(`redis-server did not start in time:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (READY.test(output)) done();
    };
    const onError = (error: NodeJS.ErrnoException) =>
      fail(
        error.code === 'ENOENT'
          ? new Error(`${binary} not found: install it (Debian: apt-get install -y redis-server)`)
          : error,
      );
    const onExit = (code: number | null) => fail(new Error(`redis-server exited (${code}):\n${output}`));
    const cleanUp = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('error', onError);
      child.off('exit', onExit);
      // Keep draining the pipes so a chatty server never blocks on a full buffer.
      child.stdout?.resume();
      child.stderr?.resume();
    };
    const done = () => {
      cleanUp();
      resolve();
    };
    const fail = (error: Error) => {
      cleanUp();
      reject(error);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  await rm(dir, { recursive: true, force: true });
}

/** A port that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('Could not find a free port'));
      });
    });
  });
}
