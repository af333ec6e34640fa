/**
 * Scenario 2: the SMTP path. Dispatcher + SMTP adapter vs raw pooled nodemailer (the very nodemailer the adapter
 * loads, same `maxConnections`, same concurrency) against an smtp-server sink in a separate process on 127.0.0.1.
 *
 * The bench's own dependencies (notifme-sdk) bring an older nodemailer into `bench/node_modules`, which a plain
 * `import 'nodemailer'` from this folder would pick: it writes commands one at a time and leaves Nagle on, so it is
 * not the baseline. The raw contender is therefore resolved from the repository root, and the run refuses to
 * compare two different versions.
 */
import { createRequire } from 'node:module';
import { Dispatcher } from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';
import type * as Nodemailer from 'nodemailer';
import { type BenchReport, median, pairedRatio, rotated, round, runIfMain, startSmtpSink } from './report';

const MESSAGES = Number(process.env.BENCH_SMTP_MESSAGES ?? 2000);
const CONCURRENCY = 20;
const MAX_CONNECTIONS = 5;
const ROUNDS = Number(process.env.BENCH_SMTP_ROUNDS ?? process.env.BENCH_ROUNDS ?? 11);

/** Resolves like the adapter does: from the package root, not from `bench/node_modules`. */
const requireFromRoot = createRequire(new URL('../package.json', import.meta.url));
const nodemailer = requireFromRoot('nodemailer') as typeof Nodemailer;
const nodemailerVersion = (requireFromRoot('nodemailer/package.json') as { version: string }).version;

/** The nodemailer version the adapter gets when it imports `nodemailer` from the built package. */
async function adapterNodemailerVersion(): Promise<string> {
  const adapterUrl = import.meta.resolve('messagepipe/adapters/smtp');
  return (createRequire(adapterUrl)('nodemailer/package.json') as { version: string }).version;
}

/** Messages per second of `count` sends, `concurrency` at a time, and this process's CPU time per message. */
async function rate(count: number, send: () => Promise<unknown>): Promise<{ rate: number; cpuUs: number }> {
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        await send();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { rate: count / seconds, cpuUs: (cpu.user + cpu.system) / count };
}

export async function run(): Promise<BenchReport> {
  const adapterVersion = await adapterNodemailerVersion();
  if (adapterVersion !== nodemailerVersion) {
    throw new Error(`raw nodemailer ${nodemailerVersion} is not the adapter's nodemailer ${adapterVersion}`);
  }
  const sink = await startSmtpSink();
  const pipe = new Dispatcher({ adapters: [smtp()] });
  const raw = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sink.port,
    secure: false,
    pool: true,
    maxConnections: MAX_CONNECTIONS,
    logger: false,
  });
  let ratio = 0;
  let cpuRatio = 0;
  const rows: BenchReport['rows'] = [];
  try {
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
        config: { host: '127.0.0.1', port: sink.port, secure: false, maxConnections: MAX_CONNECTIONS },
      },
      { verify: false },
    );
    const viaDispatcher = () =>
      pipe.send({
        projectId: 'bench',
        channel: 'email',
        to: 'ann@example.test',
        subject: 'Hello',
        text: 'Hi Ann',
      });
    const viaRaw = () =>
      raw.sendMail({
        from: '"Acme" <noreply@acme.test>',
        to: 'ann@example.test',
        subject: 'Hello',
        text: 'Hi Ann',
      });
    // Warm-up: both pools open their connections and the JIT settles before anything is timed.
    await rate(500, viaDispatcher);
    await rate(500, viaRaw);
    // The sink shares the machine, and the machine's speed drifts: each round of one contender is paired with the
    // adjacent round of the other (order alternating), and the ratio is the median of those paired ratios.
    const dispatcherRounds: Array<{ rate: number; cpuUs: number }> = [];
    const rawRounds: Array<{ rate: number; cpuUs: number }> = [];
    const contenders: Array<[typeof rawRounds, () => Promise<unknown>]> = [
      [dispatcherRounds, viaDispatcher],
      [rawRounds, viaRaw],
    ];
    for (let index = 0; index < ROUNDS; index++) {
      for (const [rounds, send] of rotated(contenders, index)) rounds.push(await rate(MESSAGES, send));
    }
    ratio = pairedRatio(
      dispatcherRounds.map((own) => own.rate),
      rawRounds.map((own) => own.rate),
    );
    // CPU per message is a cost: the raw contender's over the dispatcher's reads like the rate ratio.
    cpuRatio = pairedRatio(
      rawRounds.map((own) => own.cpuUs),
      dispatcherRounds.map((own) => own.cpuUs),
    );
    rows.push({
      nodemailer: nodemailerVersion,
      messages: MESSAGES,
      concurrency: CONCURRENCY,
      maxConnections: MAX_CONNECTIONS,
      'dispatcher msgs/s': Math.round(median(dispatcherRounds.map((own) => own.rate))),
      'raw nodemailer msgs/s': Math.round(median(rawRounds.map((own) => own.rate))),
      'dispatcher / nodemailer': round(ratio, 3),
      'client CPU µs/msg (dispatcher)': Math.round(median(dispatcherRounds.map((own) => own.cpuUs))),
      'client CPU µs/msg (raw)': Math.round(median(rawRounds.map((own) => own.cpuUs))),
      'CPU ratio (raw / dispatcher)': round(cpuRatio),
    });
  } finally {
    raw.close();
    await pipe.close();
    sink.process.kill('SIGTERM');
  }
  return {
    title: 'SMTP path: Dispatcher + SMTP adapter vs raw pooled nodemailer',
    rows,
    notes: [
      `Dispatcher path at ${round(ratio, 3)}× raw nodemailer ${nodemailerVersion} (target ≥ 0.95×: ${ratio >= 0.95 ? 'met' : 'NOT met'}); median of ${ROUNDS} paired rounds (order alternating) against a sink in another process.`,
      `Client CPU per message: the raw contender's is ${round(cpuRatio)}× the dispatcher's (raw nodemailer generates its own Message-ID and envelope; the adapter passes both).`,
    ],
  };
}

runIfMain(import.meta.url, run);
