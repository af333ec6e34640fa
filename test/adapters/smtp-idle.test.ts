import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Self-signed certificate for CN=localhost / 127.0.0.1 (see smtp.test.ts).
const TLS_KEY = readFileSync(new URL('../fixtures/smtp-tls/key.pem', import.meta.url));
const TLS_CERT = readFileSync(new URL('../fixtures/smtp-tls/cert.pem', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./smtp-idle-process.ts', import.meta.url));
/** How long a process may take to end after its last line; the pool's timeouts are 54 s and more. */
const EXIT_WITHIN_MS = 3_000;
/** Past this the child is killed: it would otherwise wait for the server or the pool's timers. */
const GIVE_UP_MS = 15_000;

/** An SMTP server on 127.0.0.1 that counts connections and records subjects; STARTTLS only when `tls`. */
interface Server {
  port: number;
  connects: number;
  subjects: string[];
  close(): Promise<void>;
}

async function startServer(tls: boolean): Promise<Server> {
  const state = { connects: 0, subjects: [] as string[] };
  const server = new SMTPServer({
    authOptional: true,
    logger: false,
    ...(tls ? { key: TLS_KEY, cert: TLS_CERT } : { disabledCommands: ['STARTTLS'] }),
    // The server never drops an idle connection while a test waits.
    socketTimeout: 120_000,
    onConnect(_session, callback) {
      state.connects += 1;
      callback();
    },
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => {
        raw += chunk.toString('utf8');
      });
      stream.on('end', () => {
        state.subjects.push(/^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '');
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    get connects() {
      return state.connects;
    },
    subjects: state.subjects,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let plain: Server;
let starttls: Server;

beforeAll(async () => {
  [plain, starttls] = await Promise.all([startServer(false), startServer(true)]);
});

afterAll(async () => {
  await Promise.all([plain?.close(), starttls?.close()]);
});

interface ChildRun {
  code: number | null;
  lines: string[];
  stderr: string;
  /** From the child's last line to its exit; undefined when it had to be killed. */
  exitedAfterMs: number | undefined;
}

function runChild(server: Server, env: Record<string, string>): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, MP_SMTP_PORT: String(server.port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let doneAt: number | undefined;
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (doneAt === undefined && stdout.includes('"done":true')) {
        doneAt = Date.now();
        timer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, GIVE_UP_MS);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      const lines = stdout.trim().split('\n');
      resolve({
        code,
        lines,
        stderr,
        exitedAfterMs: killed || doneAt === undefined ? undefined : Date.now() - doneAt,
      });
    });
  });
}

describe('SMTP pooled connections and process exit', () => {
  it.each([
    ['plain SMTP, no close()', false, {}],
    ['STARTTLS, no close()', true, { MP_STARTTLS: '1' }],
    ['plain SMTP, with close()', false, { MP_CLOSE: '1' }],
  ] as const)(
    '%s: the process ends promptly after its last send, and the pooled connection was reused',
    async (_name, tls, env) => {
      const server = tls ? starttls : plain;
      const connectsBefore = server.connects;
      const subjectsBefore = server.subjects.length;
      const run = await runChild(server, env);

      expect(run.code, run.stderr).toBe(0);
      expect(run.lines).toEqual([
        JSON.stringify({ sent: 1, provider: 'smtp' }),
        JSON.stringify({ sent: 2, provider: 'smtp' }),
        JSON.stringify({ done: true }),
      ]);
      expect(run.exitedAfterMs, 'still running long after its last line').toBeDefined();
      expect(run.exitedAfterMs).toBeLessThan(EXIT_WITHIN_MS);
      expect(server.subjects.slice(subjectsBefore)).toEqual(['idle 1', 'idle 2']);
      // One connection for both sends: an idle socket that lets the process exit still serves the next send.
      expect(server.connects - connectsBefore).toBe(1);
    },
    60_000,
  );
});
