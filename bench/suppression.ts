/**
 * Suppression list and webhooks. (1) Send throughput with the check off (`suppression: false`: the message log
 * still records every send), with an empty suppression list, and with 100k suppressed addresses — in the memory
 * store and behind the send-path cache of a persistent store — measured side by side in interleaved rounds, with
 * the message log off too (`messageLog: false`) for reference. Target: every variant with the check sends at least
 * 0.95× as fast as without it. (2) Webhook verification + normalisation throughput per provider.
 *
 * Run alone with `npm run bench -- suppression` (BENCH_SENDS, BENCH_ROUNDS, BENCH_WEBHOOKS tune it).
 */
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import {
  type AnyAdapter,
  Dispatcher,
  type DispatcherOptions,
  generateSecretKey,
  InMemoryProviderStore,
  type WebhookInput,
} from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { postmark } from 'messagepipe/adapters/postmark';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { ses } from 'messagepipe/adapters/ses';
import { sns } from 'messagepipe/adapters/sns';
import { termii } from 'messagepipe/adapters/termii';
import { twilio } from 'messagepipe/adapters/twilio';
import { snsCertificate } from '../test/webhooks/signing';
import { type BenchReport, median, rotated, round, runIfMain, throughput } from './report';

const SENDS = Number(process.env.BENCH_SENDS ?? 30_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const WEBHOOKS = Number(process.env.BENCH_WEBHOOKS ?? 2_000);
const SUPPRESSED = 100_000;
const TARGET_RATIO = 0.95;
const PROJECT = 'bench';
const CHECK_OFF = 'check off (suppression: false)';
const LOG_OFF = 'no message log (messageLog: false)';

/** The memory store, claiming persistence so the dispatcher puts its send-path cache in front. */
class PersistentMemoryStore extends InMemoryProviderStore {
  override readonly persistent = true;
}

function instantAdapter(): AnyAdapter {
  return {
    provider: 'instant',
    channel: 'email',
    async send() {
      return { messageId: 'instant-id' };
    },
  };
}

async function sender(options: Partial<DispatcherOptions>, suppressed: number): Promise<Dispatcher> {
  const pipe = new Dispatcher({
    adapters: [instantAdapter()],
    secrets: { keys: { bench: generateSecretKey() }, activeKeyId: 'bench' },
    retry: false,
    ...options,
  });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add(
    { projectId: PROJECT, channel: 'email', provider: 'instant', name: 'instant', config: {} },
    { verify: false },
  );
  for (let index = 0; index < suppressed; index++) {
    await pipe.suppressions.add({
      projectId: PROJECT,
      channel: 'email',
      recipient: `gone${index}@example.test`,
    });
  }
  return pipe;
}

async function sendThroughput(): Promise<BenchReport> {
  // Each store is compared with itself with the check off (its CHECK_OFF row): the persistent one also
  // has the provider cache. The message log records every send in all but the `messageLog: false` rows; that cost
  // belongs to correlation, not to the check.
  const persistent = () => new PersistentMemoryStore();
  const variants: Array<[string, string, Dispatcher]> = [
    ['memory store', CHECK_OFF, await sender({ suppression: false }, 0)],
    ['memory store', 'empty list', await sender({}, 0)],
    ['memory store', '100k suppressed', await sender({}, SUPPRESSED)],
    ['memory store', LOG_OFF, await sender({ messageLog: false }, 0)],
    ['persistent store', CHECK_OFF, await sender({ store: persistent(), suppression: false }, 0)],
    ['persistent store', 'empty list (cached)', await sender({ store: persistent() }, 0)],
    ['persistent store', '100k suppressed (cached)', await sender({ store: persistent() }, SUPPRESSED)],
    ['persistent store', LOG_OFF, await sender({ store: persistent(), messageLog: false }, 0)],
  ];
  // Wall-clock rates swing with whatever else the shared machine runs; the CPU time a send takes is what the feature
  // adds, so the ratio is taken on sends per CPU second, with wall-clock rates beside it.
  const rates = new Map<Dispatcher, { wall: number[]; cpu: number[] }>(
    variants.map(([, , pipe]) => [pipe, { wall: [], cpu: [] }]),
  );
  // Each round runs every variant once, starting one further along each time, so no variant always follows the
  // same one (and pays for the garbage it leaves). Ratios are taken within a round, against the baseline's rate in
  // that round, and their median reported: the machine's speed drifts between rounds more than within one.
  for (let round = 0; round < ROUNDS; round++) {
    for (const [, , pipe] of rotated(variants, round)) {
      const cpuBefore = process.cpuUsage();
      const wall = await throughput(SENDS, (index) =>
        pipe.send({
          projectId: PROJECT,
          channel: 'email',
          to: `user${index % 1000}@example.test`,
          subject: 'Hi',
          text: 'x',
        }),
      );
      const cpu = process.cpuUsage(cpuBefore);
      rates.get(pipe)!.wall.push(wall);
      rates.get(pipe)!.cpu.push(SENDS / ((cpu.user + cpu.system) / 1e6));
    }
  }
  const rows = variants.map(([store, name, pipe]) => {
    const baseline = rates.get(
      variants.find(([other, variant]) => other === store && variant === CHECK_OFF)![2],
    )!;
    const own = rates.get(pipe)!;
    const paired = (pick: (rate: number, base: number) => number, of: 'cpu' | 'wall') =>
      median(own[of].map((rate, round) => pick(rate, baseline[of][round]!)));
    return {
      store,
      variant: name,
      'sends/s (wall)': Math.round(median(own.wall)),
      'sends per CPU-s': Math.round(median(own.cpu)),
      'ratio vs check off (CPU)': round(
        paired((rate, base) => rate / base, 'cpu'),
        3,
      ),
      'ratio vs check off (wall)': round(
        paired((rate, base) => rate / base, 'wall'),
        3,
      ),
      // What the variant adds to a send, in CPU time: a ratio shrinks as the send it is compared with gets faster.
      'µs per send vs check off (CPU)': round(
        paired((rate, base) => 1e6 / rate - 1e6 / base, 'cpu'),
        3,
      ),
    };
  });
  for (const [, , pipe] of variants) await pipe.close();
  const worst = Math.min(
    ...rows
      .filter((row) => row.variant !== CHECK_OFF && row.variant !== LOG_OFF)
      .map((row) => row['ratio vs check off (CPU)']),
  );
  return {
    title: `Send throughput with the suppression check (${SENDS} sequential sends per round; medians of ${ROUNDS} rounds, ratios paired within each round)`,
    rows,
    notes: [
      `Lowest CPU-time ratio ${worst} — target ≥ ${TARGET_RATIO}: ${worst >= TARGET_RATIO ? 'met' : 'NOT met'}.`,
      `"${CHECK_OFF}" is the baseline: same dispatcher, message log on, no check. "${LOG_OFF}" shows what the log's per-send record costs.`,
    ],
  };
}

async function webhookThroughput(): Promise<BenchReport> {
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cert = snsCertificate();
  const topic = 'arn:aws:sns:eu-west-1:123456789012:events';
  // Untyped: the provider names come from the table below.
  const pipe: Dispatcher = new Dispatcher({
    adapters: [sendgrid(), mailgun(), postmark(), ses(), twilio(), termii(), sns()],
    messageLog: false,
    webhooks: { fetch: async () => new Response(cert.certificatePem) },
  });
  const aws = {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'x',
    region: 'eu-west-1',
    webhookTopicArns: [topic],
  };
  const configs = {
    sendgrid: [
      'email',
      {
        apiKey: 'SG.x',
        webhookPublicKey: ec.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
      },
    ],
    mailgun: ['email', { apiKey: 'k', domain: 'mg.acme.test', webhookSigningKey: 'mg-key' }],
    postmark: ['email', { serverToken: 't', webhookUser: 'u', webhookPassword: 'p' }],
    ses: ['email', aws],
    twilio: ['sms', { accountSid: `AC${'a'.repeat(32)}`, authToken: 'tw-token', from: '+14155550100' }],
    termii: ['sms', { apiKey: 'k', senderId: 'Acme', webhookSecret: 'termii-key' }],
    sns: ['sms', aws],
  } as const;
  const ids: Record<string, string> = {};
  for (const [provider, [channel, config]] of Object.entries(configs)) {
    ids[provider] = (
      await pipe.providers.add(
        { projectId: PROJECT, channel, provider, name: provider, config },
        { verify: false },
      )
    ).id;
  }
  const url = 'https://hooks.acme.test/webhooks/x';
  const now = Math.floor(Date.now() / 1000);
  const snsBody = (message: string, index: number) => {
    const fields: Record<string, string> = {
      Type: 'Notification',
      MessageId: `m-${index}`,
      TopicArn: topic,
      Message: message,
      Timestamp: new Date().toISOString(),
      SignatureVersion: '2',
      SigningCertURL: 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-bench.pem',
    };
    const text = ['Message', 'MessageId', 'Timestamp', 'TopicArn', 'Type']
      .map((key) => `${key}\n${fields[key]}\n`)
      .join('');
    fields.Signature = sign('sha256', Buffer.from(text), cert.privateKey).toString('base64');
    return JSON.stringify(fields);
  };
  const requests: Record<string, (index: number) => Omit<WebhookInput, 'provider' | 'providerConfigId'>> = {
    sendgrid: (index) => {
      const body = JSON.stringify([
        {
          email: `a${index}@example.test`,
          timestamp: now,
          event: 'delivered',
          sg_message_id: `m${index}.filter1`,
        },
      ]);
      const signature = sign('sha256', Buffer.from(String(now) + body), ec.privateKey).toString('base64');
      return {
        headers: {
          'x-twilio-email-event-webhook-signature': signature,
          'x-twilio-email-event-webhook-timestamp': String(now),
        },
        rawBody: body,
        url,
      };
    },
    mailgun: (index) => {
      const token = `token-${index}-${Math.random()}`;
      const signature = createHmac('sha256', 'mg-key').update(`${now}${token}`).digest('hex');
      return {
        headers: {},
        rawBody: JSON.stringify({
          signature: { timestamp: String(now), token, signature },
          'event-data': {
            event: 'delivered',
            timestamp: now,
            recipient: 'a@example.test',
            message: { headers: { 'message-id': `m${index}` } },
          },
        }),
        url,
      };
    },
    postmark: (index) => ({
      headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` },
      rawBody: JSON.stringify({
        RecordType: 'Delivery',
        MessageID: `m${index}`,
        Recipient: 'a@example.test',
        DeliveredAt: new Date().toISOString(),
      }),
      url,
    }),
    ses: (index) => ({
      headers: {},
      rawBody: snsBody(
        JSON.stringify({
          eventType: 'Delivery',
          mail: { messageId: `m${index}`, destination: ['a@example.test'] },
          delivery: { recipients: ['a@example.test'] },
        }),
        index,
      ),
      url,
    }),
    twilio: (index) => {
      const params = { MessageSid: `SM${index}`, MessageStatus: 'delivered', To: '+15558675310' };
      const data = Object.keys(params)
        .sort()
        .reduce((text, key) => text + key + params[key as keyof typeof params], url);
      return {
        headers: { 'x-twilio-signature': createHmac('sha1', 'tw-token').update(data).digest('base64') },
        rawBody: new URLSearchParams(params).toString(),
        url,
      };
    },
    termii: (index) => {
      const body = JSON.stringify({ message_id: `${index}`, receiver: '2348012345678', status: 'Delivered' });
      return {
        headers: { 'x-termii-signature': createHmac('sha512', 'termii-key').update(body).digest('hex') },
        rawBody: body,
        url,
      };
    },
    sns: (index) => ({
      headers: {},
      rawBody: snsBody(
        JSON.stringify({
          eventType: 'TEXT_DELIVERED',
          messageId: `m${index}`,
          destinationPhoneNumber: '+14255550156',
          eventTimestamp: Date.now(),
        }),
        index,
      ),
      url,
    }),
  };
  const rows: BenchReport['rows'] = [];
  for (const [provider, make] of Object.entries(requests)) {
    const prepared = Array.from({ length: WEBHOOKS }, (_, index) => make(index));
    const first = await pipe.webhooks.handle({ provider, providerConfigId: ids[provider]!, ...prepared[0]! });
    if (first.status !== 200)
      throw new Error(`${provider} webhook refused in the benchmark: ${first.reason}`);
    const rate = await throughput(WEBHOOKS, (index) =>
      pipe.webhooks.handle({ provider, providerConfigId: ids[provider]!, ...prepared[index]! }),
    );
    rows.push({ provider, 'requests/s': Math.round(rate), 'µs/request': round(1e6 / rate, 1) });
  }
  await pipe.close();
  return {
    title: `Webhook verification + normalisation (${WEBHOOKS} requests per provider, one event each, no message log)`,
    rows,
    notes: ['SNS/SES: SignatureVersion 2 (RSA-SHA256), certificate cached after the first request.'],
  };
}

export async function run(): Promise<BenchReport> {
  const sends = await sendThroughput();
  const webhooks = await webhookThroughput();
  return {
    title: 'Suppression list and webhooks',
    rows: [...sends.rows, ...webhooks.rows],
    notes: [sends.title, ...(sends.notes ?? []), webhooks.title, ...(webhooks.notes ?? [])],
  };
}

runIfMain(import.meta.url, run);
