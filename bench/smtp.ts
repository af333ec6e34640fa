/**
 * Scenario 2: the SMTP path. Dispatcher + SMTP adapter vs raw pooled nodemailer (same nodemailer, same
 * `maxConnections`, same concurrency) against an smtp-server sink in a separate process on 127.0.0.1.
 *
 * Raw nodemailer writes a short message's body and its closing dot in separate TCP segments; with Nagle's algorithm
 * on, the second waits for the sink's delayed ACK (~40 ms on Linux), which caps a connection at ~25 messages/s and
 * says nothing about either contender's own cost. So the comparison runs with TCP_NODELAY on every socket of the
 * process (both contenders alike); the default-socket figures are measured and printed too.
 */
import { Socket } from 'node:net';
import { Dispatcher } from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';
import nodemailer from 'nodemailer';
import { type BenchReport, median, round, runIfMain, startSmtpSink } from './report';

const MESSAGES = Number(process.env.BENCH_SMTP_MESSAGES ?? 5000);
const CONCURRENCY = 20;
const MAX_CONNECTIONS = 5;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Messages per second of `count` sends, `concurrency` at a time. */
async function rate(count: number, send: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        await send();
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

interface Contenders {
  viaDispatcher: () => Promise<unknown>;
  viaRaw: () => Promise<unknown>;
  close: () => Promise<void>;
}

/** A dispatcher with the SMTP adapter and a raw pooled transport, both on fresh connections to the sink. */
async function contenders(port: number): Promise<Contenders> {
  const pipe = new Dispatcher({ adapters: [smtp()] });
  await pipe.senders.set({
    projectId: 'bench',
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    senderName: 'Acme',
  });
  await pipe.providers.add(
    {
      projectId: 'bench',
      channel: 'email',
      provider: 'smtp',
      name: 'sink',
      config: { host: '127.0.0.1', port, secure: false, maxConnections: MAX_CONNECTIONS },
    },
    { verify: false },
  );
  const raw = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    pool: true,
    maxConnections: MAX_CONNECTIONS,
    logger: false,
  });
  return {
    viaDispatcher: () =>
      pipe.send({
        projectId: 'bench',
        channel: 'email',
        to: 'ann@example.test',
        subject: 'Hello',
        text: 'Hi Ann',
      }),
    viaRaw: () =>
      raw.sendMail({
        from: '"Acme" <noreply@acme.test>',
        to: 'ann@example.test',
        subject: 'Hello',
        text: 'Hi Ann',
      }),
    close: async () => {
      raw.close();
      await pipe.close();
    },
  };
}

export async function run(): Promise<BenchReport> {
  const sink = await startSmtpSink();
  const rows: BenchReport['rows'] = [];
  const row = (sockets: string, dispatcher: number, raw: number) => ({
    sockets,
    messages: MESSAGES,
    concurrency: CONCURRENCY,
    maxConnections: MAX_CONNECTIONS,
    'dispatcher msgs/s': Math.round(dispatcher),
    'raw nodemailer msgs/s': Math.round(raw),
    'dispatcher / nodemailer': round(dispatcher / raw),
  });
  let ratio = 0;
  const connect = Socket.prototype.connect;
  try {
    // Default sockets first (one round each, for the record), then TCP_NODELAY for the comparison.
    const plain = await contenders(sink.port);
    await rate(500, plain.viaDispatcher);
    await rate(500, plain.viaRaw);
    const defaults = {
      dispatcher: await rate(MESSAGES, plain.viaDispatcher),
      raw: await rate(MESSAGES, plain.viaRaw),
    };
    await plain.close();

    Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
      this.setNoDelay(true);
      return (connect as (...args: unknown[]) => Socket).apply(this, args);
    } as typeof connect;
    const { viaDispatcher, viaRaw, close } = await contenders(sink.port);
    try {
      await rate(500, viaDispatcher);
      await rate(500, viaRaw);
      const dispatcherRates: number[] = [];
      const rawRates: number[] = [];
      for (let index = 0; index < ROUNDS; index++) {
        dispatcherRates.push(await rate(MESSAGES, viaDispatcher));
        rawRates.push(await rate(MESSAGES, viaRaw));
      }
      const dispatcher = median(dispatcherRates);
      const nodemailerRate = median(rawRates);
      ratio = dispatcher / nodemailerRate;
      rows.push(row('TCP_NODELAY (compared)', dispatcher, nodemailerRate));
    } finally {
      await close();
    }
    rows.push(row('default (Nagle on)', defaults.dispatcher, defaults.raw));
  } finally {
    Socket.prototype.connect = connect;
    sink.process.kill('SIGTERM');
  }
  return {
    title: 'SMTP path: Dispatcher + SMTP adapter vs raw pooled nodemailer',
    rows,
    notes: [
      `Dispatcher path at ${round(ratio)}× raw nodemailer with TCP_NODELAY (target ≥ 0.95×: ${ratio >= 0.95 ? 'met' : 'NOT met'}); median of ${ROUNDS} interleaved rounds against a sink in another process.`,
      'With default sockets raw nodemailer waits out a delayed ACK per message (see the top of bench/smtp.ts); that row is one round each, for the record.',
    ],
  };
}

runIfMain(import.meta.url, run);
