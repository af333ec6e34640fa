/**
 * Scenario 2: the SMTP path. Dispatcher + SMTP adapter vs raw pooled nodemailer (same nodemailer, same
 * `maxConnections`, same concurrency) against an smtp-server sink in a separate process on 127.0.0.1.
 */
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

export async function run(): Promise<BenchReport> {
  const sink = await startSmtpSink();
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
      config: { host: '127.0.0.1', port: sink.port, secure: false, maxConnections: MAX_CONNECTIONS },
    },
    { verify: false },
  );
  const raw = nodemailer.createTransport({
    host: '127.0.0.1',
    port: sink.port,
    secure: false,
    pool: true,
    maxConnections: MAX_CONNECTIONS,
    logger: false,
  });
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
    const ratio = dispatcher / nodemailerRate;
    return {
      title: 'SMTP path: Dispatcher + SMTP adapter vs raw pooled nodemailer',
      rows: [
        {
          messages: MESSAGES,
          concurrency: CONCURRENCY,
          maxConnections: MAX_CONNECTIONS,
          'dispatcher msgs/s': Math.round(dispatcher),
          'raw nodemailer msgs/s': Math.round(nodemailerRate),
          'dispatcher / nodemailer': round(ratio),
        },
      ],
      notes: [
        `Dispatcher path at ${round(ratio)}× raw nodemailer (target ≥ 0.95×: ${ratio >= 0.95 ? 'met' : 'NOT met'}); median of ${ROUNDS} interleaved rounds against a sink in another process.`,
      ],
    };
  } finally {
    raw.close();
    await pipe.close();
    sink.process.kill('SIGTERM');
  }
}

runIfMain(import.meta.url, run);
