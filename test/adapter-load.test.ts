/** Loading an adapter's SDK happens before the attempt's timer starts (`Adapter.load`): it is not provider time. */
import { Dispatcher, defineAdapter } from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { postmark } from 'messagepipe/adapters/postmark';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { ses } from 'messagepipe/adapters/ses';
import { smtp } from 'messagepipe/adapters/smtp';
import { sns } from 'messagepipe/adapters/sns';
import { twilio } from 'messagepipe/adapters/twilio';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An adapter whose SDK takes 300 ms to load and whose provider answers in 20 ms. */
function slowLoading() {
  let loads = 0;
  let loading: Promise<void> | undefined;
  // Like a real adapter: loads on first use when nobody loaded it before.
  const ensureLoaded = () => {
    loading ??= (async () => {
      loads++;
      await sleep(300);
    })();
    return loading;
  };
  const adapter = defineAdapter({
    provider: 'slow-sdk',
    channel: 'email',
    configSchema: z.object({}),
    load: ensureLoaded,
    async send() {
      await ensureLoaded();
      await sleep(20);
      return { messageId: 'sent-1' };
    },
    async verify() {
      await ensureLoaded();
      await sleep(20);
      return { valid: true };
    },
  });
  return { adapter, loads: () => loads };
}

describe('Adapter.load', () => {
  it('is awaited before the attempt timer: a 100 ms attempt budget is not spent loading a 300 ms SDK', async () => {
    const { adapter, loads } = slowLoading();
    const pipe = new Dispatcher({ adapters: [adapter], attemptTimeoutMs: 100, retry: false });
    try {
      await pipe.providers.add({
        projectId: 'p',
        channel: 'email',
        provider: 'slow-sdk',
        name: 'slow',
        config: {},
      });
      const first = await pipe.send({
        projectId: 'p',
        channel: 'email',
        from: 'a@acme.test',
        to: 'b@example.test',
        subject: 'Hi',
        text: 'Hello',
      });
      expect(first.messageId).toBe('sent-1');
      expect(first.attempts).toHaveLength(1);
      // Loaded once, outside the credential check's 100 ms too; later calls do not load again.
      expect(loads()).toBe(1);
    } finally {
      await pipe.close();
    }
  });

  it('still counts against the send deadline and honours the caller signal', async () => {
    const { adapter } = slowLoading();
    const pipe = new Dispatcher({ adapters: [adapter], attemptTimeoutMs: 100, retry: false });
    try {
      await pipe.providers.add(
        { projectId: 'p', channel: 'email', provider: 'slow-sdk', name: 'slow', config: {} },
        { verify: false },
      );
      const started = performance.now();
      const error = await pipe
        .send(
          {
            projectId: 'p',
            channel: 'email',
            from: 'a@acme.test',
            to: 'b@example.test',
            subject: 'Hi',
            text: 'x',
          },
          { signal: AbortSignal.timeout(50) },
        )
        .catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ code: 'ABORTED' });
      expect(performance.now() - started).toBeLessThan(250);
    } finally {
      await pipe.close();
    }
  });

  it('is declared by every adapter that loads an SDK', () => {
    for (const adapter of [sendgrid(), mailgun(), postmark(), ses(), sns(), twilio(), smtp()]) {
      expect(typeof adapter.load, adapter.provider).toBe('function');
    }
  });
});
