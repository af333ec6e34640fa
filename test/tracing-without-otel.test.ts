/**
 * `tracing: true` in an app without `@opentelemetry/api`: sends are never refused over observability. Tracing turns
 * itself off with one warning. Run in a child process whose module resolution cannot find the package.
 */
import { describe, expect, it } from 'vitest';
import { runWithoutPackage } from './adapters/without-package';

const script = `
import { Dispatcher } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
const warnings = [];
const adapter = createMockAdapter({ provider: 'sendgrid', channel: 'email' });
const pipe = new Dispatcher({
  adapters: [adapter],
  tracing: true,
  logger: { debug() {}, warn: (message) => warnings.push(message) },
});
await pipe.senders.set({ projectId: 'p', channel: 'email', senderEmail: 'noreply@acme.test' });
await pipe.providers.add({ projectId: 'p', channel: 'email', provider: 'sendgrid', name: 'a', config: { apiKey: 'SG.x' } });
const outcomes = [];
for (let send = 0; send < 3; send++) {
  outcomes.push(await pipe.send({ projectId: 'p', channel: 'email', to: 'a@b.test', subject: 's', text: 't' })
    .then((result) => result.provider, (error) => error.code));
}
console.log(JSON.stringify({ outcomes, calls: adapter.calls.length, warnings }));
`;

describe('tracing without @opentelemetry/api', () => {
  it('sends untraced, with one warning naming the package', async () => {
    const result = (await runWithoutPackage('@opentelemetry/api', script)) as {
      outcomes: string[];
      calls: number;
      warnings: string[];
    };
    expect(result.outcomes).toEqual(['sendgrid', 'sendgrid', 'sendgrid']);
    expect(result.calls).toBe(3);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/@opentelemetry\/api/);
  }, 60_000);
});
