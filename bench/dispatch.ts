/**
 * Scenario 1: dispatch overhead. The Dispatcher with no-op adapters, a hand-written try/catch fallback loop over the
 * same adapters, and notifme-sdk's `fallback` strategy with two custom providers, side by side in one process:
 * healthy primary, and primary always failing.
 */
import { createRequire } from 'node:module';
import {
  type Adapter,
  type AnyAdapter,
  Dispatcher,
  defineAdapter,
  type OutboundEmail,
  ProviderError,
  type SendContext,
} from 'messagepipe';
import { z } from 'zod';
import { type BenchReport, median, pairedRatio, rotated, round, runIfMain, throughput } from './report';

const SENDS = Number(process.env.BENCH_SENDS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const PROJECT = 'bench';
/**
 * Healthy: ≥ 5× notifme-sdk; against the bare loop (a no-op call) the ratio is reported, with a goal of 0.15×.
 * Failing primary: ≥ 10× notifme-sdk and ≥ 2× the loop, which pays for the dead primary on every send.
 */
const TARGETS = {
  healthy: { notifme: 5, loop: 0.15, loopIsGoal: true },
  failing: { notifme: 10, loop: 2, loopIsGoal: false },
};

interface NotifmeSdk {
  logger: { configure(options: { silent: boolean }): void };
  send(request: { email: Record<string, string> }): Promise<{ status: string }>;
}
type NotifmeConstructor = new (options: Record<string, unknown>) => NotifmeSdk;

/**
 * `uniqueIds`: each send gets its own provider message id, as from a real provider, so the message log keeps every
 * send (with one id for all, it keeps the first and skips the rest as duplicates).
 */
function adapters(
  primaryFails: boolean,
  uniqueIds = false,
): [Adapter<'email', unknown>, Adapter<'email', unknown>] {
  const schema = z.object({});
  let sent = 0;
  const messageId = (name: string) => (uniqueIds ? `${name}-${++sent}` : `${name}-id`);
  const primary = defineAdapter({
    provider: 'primary',
    channel: 'email',
    configSchema: schema,
    async send() {
      if (primaryFails)
        throw new ProviderError('PROVIDER_UNAVAILABLE', 'HTTP 503', { provider: 'primary', status: 503 });
      return { messageId: messageId('primary') };
    },
  });
  const secondary = defineAdapter({
    provider: 'secondary',
    channel: 'email',
    configSchema: schema,
    async send() {
      return { messageId: messageId('secondary') };
    },
  });
  return [primary, secondary];
}

async function dispatcherFor(pair: AnyAdapter[]): Promise<Dispatcher> {
  const pipe = new Dispatcher({ adapters: pair });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  for (const [index, adapter] of pair.entries()) {
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: adapter.provider,
      name: adapter.provider,
      priority: index + 1,
      config: {},
    });
  }
  return pipe;
}

/** What a careful developer writes by hand: try each adapter in order, catch, move on. */
function handLoop(pair: AnyAdapter[]): (message: OutboundEmail) => Promise<string> {
  const controller = new AbortController();
  const ctx: SendContext<unknown> = {
    config: {},
    projectId: PROJECT,
    providerConfigId: 'hand',
    configRevision: '1',
    idempotencyKey: 'hand',
    signal: controller.signal,
    timeoutMs: 15_000,
    logger: { debug() {}, warn() {} },
  };
  return async (message) => {
    let lastError: unknown;
    for (const adapter of pair) {
      try {
        return (await adapter.send(message, ctx)).messageId;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };
}

function notifmeFor(primaryFails: boolean): NotifmeSdk {
  const require = createRequire(import.meta.url);
  const NotifmeSdk = (require('notifme-sdk') as { default: NotifmeConstructor }).default;
  const sdk = new NotifmeSdk({
    useNotificationCatcher: false,
    channels: {
      email: {
        multiProviderStrategy: 'fallback',
        providers: [
          {
            type: 'custom',
            id: 'primary',
            send: async () => {
              if (primaryFails) throw new Error('HTTP 503');
              return 'primary-id';
            },
          },
          { type: 'custom', id: 'secondary', send: async () => 'secondary-id' },
        ],
      },
    },
  });
  // `mute()` swaps winston transports and leaks; `silent` just drops the lines.
  sdk.logger.configure({ silent: true });
  return sdk;
}

const emailInput = {
  projectId: PROJECT,
  channel: 'email' as const,
  to: 'ann@example.test',
  subject: 'Hello',
  text: 'Hi Ann',
};

const outbound: OutboundEmail = {
  channel: 'email',
  from: { email: 'noreply@acme.test' },
  to: [{ email: 'ann@example.test' }],
  cc: [],
  bcc: [],
  replyTo: [],
  subject: 'Hello',
  text: 'Hi Ann',
  attachments: [],
  headers: {},
  tags: [],
  metadata: {},
};

/**
 * The healthy primary again with a provider message id per send, as real providers return: the message log then
 * keeps every send (up to 100k), which the one-id rows do not pay for. Measured in rounds of its own against
 * notifme-sdk, after the others, so the sends it keeps weigh on no other contender's rounds. Reported, no target.
 */
async function withUniqueIds(
  notifme: NotifmeSdk,
  notifmeRequest: Parameters<NotifmeSdk['send']>[0],
  notes: string[],
): Promise<BenchReport['rows'][number]> {
  const pipe = await dispatcherFor(adapters(false, true));
  await throughput(2000, () => pipe.send(emailInput));
  const rates = { dispatcher: [] as number[], notifme: [] as number[] };
  const contenders: Array<[keyof typeof rates, () => Promise<unknown>]> = [
    ['dispatcher', () => pipe.send(emailInput)],
    ['notifme', () => notifme.send(notifmeRequest)],
  ];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, send] of rotated(contenders, round)) rates[name].push(await throughput(SENDS, send));
  }
  await pipe.close();
  const dispatcher = median(rates.dispatcher);
  const notifmeRate = median(rates.notifme);
  const vsNotifme = pairedRatio(rates.dispatcher, rates.notifme);
  notes.push(
    `healthy primary, unique message ids (the message log keeps every send): ${round(vsNotifme)}× ` +
      `notifme-sdk, ${round(1e6 / dispatcher)} µs per send (reported; measured in rounds of its own).`,
  );
  return {
    scenario: 'healthy primary, unique message ids',
    'dispatcher sends/s': Math.round(dispatcher),
    'hand loop sends/s': '',
    'notifme-sdk sends/s': Math.round(notifmeRate),
    'dispatcher / notifme': round(vsNotifme),
    'dispatcher / hand loop': '',
  };
}

export async function run(): Promise<BenchReport> {
  const rows: BenchReport['rows'] = [];
  const notes: string[] = [];
  for (const primaryFails of [false, true]) {
    const pair = adapters(primaryFails);
    const pipe = await dispatcherFor(pair);
    const loop = handLoop(pair);
    const notifme = notifmeFor(primaryFails);
    const notifmeRequest = {
      email: { from: 'noreply@acme.test', to: 'ann@example.test', subject: 'Hello', text: 'Hi Ann' },
    };

    // Warm up every contender, then measure them in rounds in rotating order.
    await throughput(2000, () => pipe.send(emailInput));
    await throughput(2000, () => loop(outbound));
    await throughput(2000, () => notifme.send(notifmeRequest));
    const rates = { dispatcher: [] as number[], loop: [] as number[], notifme: [] as number[] };
    const contenders: Array<[keyof typeof rates, () => Promise<unknown>]> = [
      ['dispatcher', () => pipe.send(emailInput)],
      ['loop', () => loop(outbound)],
      ['notifme', () => notifme.send(notifmeRequest)],
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, send] of rotated(contenders, round)) rates[name].push(await throughput(SENDS, send));
    }
    const dispatcher = median(rates.dispatcher);
    const loopRate = median(rates.loop);
    const notifmeRate = median(rates.notifme);
    // Ratios are paired within a round: the machine's speed drifts between rounds more than within one.
    const vsNotifme = pairedRatio(rates.dispatcher, rates.notifme);
    const vsLoop = pairedRatio(rates.dispatcher, rates.loop);
    const scenario = primaryFails ? 'primary always failing' : 'healthy primary';
    rows.push({
      scenario,
      'dispatcher sends/s': Math.round(dispatcher),
      'hand loop sends/s': Math.round(loopRate),
      'notifme-sdk sends/s': Math.round(notifmeRate),
      'dispatcher / notifme': round(vsNotifme),
      'dispatcher / hand loop': round(vsLoop),
    });
    const target = TARGETS[primaryFails ? 'failing' : 'healthy'];
    notes.push(
      `${scenario}: ${round(vsNotifme)}× notifme-sdk (target ≥ ${target.notifme}×: ${vsNotifme >= target.notifme ? 'met' : 'NOT met'}), ` +
        `${round(vsLoop)}× the hand loop (${target.loopIsGoal ? 'goal' : 'target'} ≥ ${target.loop}×: ${vsLoop >= target.loop ? 'met' : 'NOT met'})`,
    );
    if (!primaryFails) {
      // The goal's meaning in absolute terms: the loop's own call is subtracted, whatever it costs on this machine.
      const ownUs = 1e6 / dispatcher - 1e6 / loopRate;
      notes.push(
        `healthy primary: ${round(ownUs)} µs of the dispatcher's own work per send (${round(1e6 / dispatcher)} µs per send, ` +
          `${round(1e6 / loopRate, 3)} µs per no-op call in the loop); the loop goal reads "under ~2 µs of our own work".`,
      );
    }
    if (primaryFails) {
      const stats = pipe.stats().find((entry) => entry.provider === 'primary');
      notes.push(
        `primary always failing: the circuit breaker let ${stats?.attempts ?? 0} of ${stats ? stats.attempts + stats.skipped : 0} ` +
          'sends reach the dead primary; the rest skipped it.',
      );
    }
    await pipe.close();
    if (!primaryFails) rows.push(await withUniqueIds(notifme, notifmeRequest, notes));
  }
  notes.push(
    `${SENDS} sequential sends per contender per round, ${ROUNDS} rounds in rotating order; rates are medians, ratios the ` +
      'median of the ratios paired within each round.',
  );
  return { title: 'Dispatch overhead: Dispatcher vs hand-written loop vs notifme-sdk', rows, notes };
}

runIfMain(import.meta.url, run);
