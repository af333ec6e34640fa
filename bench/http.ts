/**
 * Scenario: the HTTP API. `POST /messages` through a real HTTP server on 127.0.0.1 (keep-alive, one request at a
 * time) against `pipe.send()` in the same process, with a no-op adapter, so the figure is the cost of HTTP, JWT
 * verification, validation and JSON; and the latency of `GET /email-config/providers` for a project with 100
 * providers.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { SignJWT } from 'jose';
import { Dispatcher, defineAdapter } from 'messagepipe';
import { createHttpApi } from 'messagepipe/http';
import { z } from 'zod';
import { type BenchReport, median, percentile, round, runIfMain, throughput } from './report';

const SENDS = Number(process.env.BENCH_HTTP_SENDS ?? 3_000);
const LISTS = Number(process.env.BENCH_HTTP_LISTS ?? 1_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PROJECT = 'bench';
const SECRET = 'bench-jwt-secret-0123456789abcdef0123456789';

export async function run(): Promise<BenchReport> {
  const noop = defineAdapter({
    provider: 'noop',
    channel: 'email',
    configSchema: z.object({}),
    async send() {
      return { messageId: 'noop' };
    },
  });
  const pipe = new Dispatcher({ adapters: [noop] });
  await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add({
    projectId: PROJECT,
    channel: 'email',
    provider: 'noop',
    name: 'noop',
    config: {},
  });
  const listed = 'listed';
  for (let index = 0; index < 100; index++) {
    await pipe.providers.add({
      projectId: listed,
      channel: 'email',
      provider: 'noop',
      name: `noop ${index}`,
      priority: index,
      config: {},
    });
  }
  const app = createHttpApi({ dispatcher: pipe, auth: { jwt: { secret: SECRET } } });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = await new SignJWT({ projects: [PROJECT, listed] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
  const message = { to: 'ann@example.test', subject: 'Hello', text: 'Hi Ann' };
  const body = JSON.stringify({ channel: 'email', ...message });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  const viaHttp = async () => {
    const response = await fetch(`${url}/messages?projectId=${PROJECT}`, { method: 'POST', headers, body });
    if (response.status !== 200) throw new Error(`POST /messages answered ${response.status}`);
    await response.arrayBuffer();
  };
  const inProcess = () => pipe.send({ projectId: PROJECT, channel: 'email', ...message });
  await throughput(200, viaHttp);
  await throughput(200, inProcess);
  const http: number[] = [];
  const direct: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    http.push(await throughput(SENDS, viaHttp));
    direct.push(await throughput(SENDS, inProcess));
  }

  const latencies: number[] = [];
  for (let index = 0; index < LISTS + 50; index++) {
    const started = performance.now();
    const response = await fetch(`${url}/email-config/providers?projectId=${listed}`, { headers });
    const list = (await response.json()) as { data: unknown[] };
    if (list.data.length !== 100) throw new Error('expected 100 providers');
    if (index >= 50) latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  await new Promise((resolve) => server.close(resolve));
  await pipe.close();

  const httpRate = median(http);
  const directRate = median(direct);
  return {
    title: 'HTTP API: POST /messages vs pipe.send(), and GET /email-config/providers with 100 providers',
    rows: [
      {
        contender: 'pipe.send() in process',
        'sends/s': round(directRate, 0),
        'µs/send': round(1e6 / directRate, 1),
      },
      {
        contender: 'POST /messages over HTTP',
        'sends/s': round(httpRate, 0),
        'µs/send': round(1e6 / httpRate, 1),
      },
      {
        contender: 'GET /email-config/providers (100 providers)',
        'p50 ms': round(percentile(latencies, 0.5), 2),
        'p99 ms': round(percentile(latencies, 0.99), 2),
      },
    ],
    notes: [
      `HTTP costs ${round(directRate / httpRate, 1)}x the in-process send (no-op adapter; HTTP/1.1 keep-alive from fetch in the same process, so client and server share the CPU).`,
      `${SENDS} sequential sends per contender per round, median of ${ROUNDS} interleaved rounds; ${LISTS} list requests after 50 warm-up ones.`,
    ],
  };
}

runIfMain(import.meta.url, run);
