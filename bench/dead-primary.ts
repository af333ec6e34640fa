/**
 * Scenario 3: a dead primary. The primary SMTP server either refuses connections or accepts them and never says a
 * word; the secondary is a working sink in another process. Reports total time, latency percentiles and how many
 * sends paid for the dead primary before its circuit breaker opened.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Dispatcher, type DispatcherOptions, type SendResult } from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';
import { type BenchReport, percentile, round, runIfMain, startSmtpSink } from './report';

const SENDS = Number(process.env.BENCH_DEAD_SENDS ?? 2000);
const CONTRAST_SENDS = Math.min(SENDS, 200);
const CONCURRENCY = 20;
const PRIMARY_TIMEOUT_MS = 1000;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A port on 127.0.0.1 with nothing listening. */
async function refusedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A server that accepts connections and never answers. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  return {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Outcome {
  totalMs: number;
  p50: number;
  p99: number;
  paidForPrimary: number;
  delivered: number;
}

async function measure(
  primaryPort: number,
  sinkPort: number,
  sends: number,
  options: Partial<DispatcherOptions>,
): Promise<Outcome> {
  const pipe = new Dispatcher({ adapters: [smtp()], ...options });
  await pipe.senders.set({ projectId: 'bench', channel: 'email', senderEmail: 'noreply@acme.test' });
  const base = { projectId: 'bench', channel: 'email' as const, provider: 'smtp' };
  await pipe.providers.add(
    {
      ...base,
      name: 'dead primary',
      priority: 1,
      config: { host: '127.0.0.1', port: primaryPort, secure: false, timeoutMs: PRIMARY_TIMEOUT_MS },
    },
    { verify: false },
  );
  await pipe.providers.add(
    { ...base, name: 'sink', priority: 2, config: { host: '127.0.0.1', port: sinkPort, secure: false } },
    { verify: false },
  );
  const latencies: number[] = [];
  let paidForPrimary = 0;
  let delivered = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < sends) {
        next++;
        const sendStarted = performance.now();
        const result: SendResult = await pipe.send({
          projectId: 'bench',
          channel: 'email',
          to: 'ann@example.test',
          subject: 'Hello',
          text: 'Hi Ann',
        });
        latencies.push(performance.now() - sendStarted);
        if (result.attempts.some((attempt) => attempt.outcome === 'failed')) paidForPrimary++;
        delivered++;
      }
    }),
  );
  const totalMs = performance.now() - started;
  await pipe.close();
  latencies.sort((a, b) => a - b);
  return {
    totalMs,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    paidForPrimary,
    delivered,
  };
}

export async function run(): Promise<BenchReport> {
  const sink = await startSmtpSink();
  const silent = await silentServer();
  const refused = await refusedPort();
  const rows: BenchReport['rows'] = [];
  const notes: string[] = [];
  try {
    for (const [failure, port] of [
      ['connection refused', refused],
      ['accepts, never answers', silent.port],
    ] as const) {
      for (const [label, sends, options] of [
        ['breaker on (default)', SENDS, {}],
        ['breaker off (contrast)', CONTRAST_SENDS, { circuitBreaker: false as const }],
      ] as const) {
        const outcome = await measure(port, sink.port, sends, options);
        rows.push({
          primary: failure,
          dispatcher: label,
          sends,
          delivered: outcome.delivered,
          'total s': round(outcome.totalMs / 1000),
          'p50 ms': round(outcome.p50, 1),
          'p99 ms': round(outcome.p99, 1),
          'sends that paid for the primary': outcome.paidForPrimary,
        });
        if (label.startsWith('breaker on')) {
          notes.push(
            `${failure}: ${outcome.paidForPrimary} of ${sends} sends paid for the dead primary (at most ${CONCURRENCY} in flight when the breaker opened); every other send skipped it.`,
          );
        }
      }
    }
  } finally {
    await silent.close();
    sink.process.kill('SIGTERM');
  }
  notes.push(
    `Primary timeout ${PRIMARY_TIMEOUT_MS} ms, ${CONCURRENCY} sends in flight, default retries (2, backoff from 250 ms) and breaker (5 failures, 30 s cool-down).`,
  );
  return { title: 'Dead primary: failover cost with and without the circuit breaker', rows, notes };
}

runIfMain(import.meta.url, run);
