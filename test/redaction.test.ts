import { Dispatcher, defineAdapter, type Logger, ProviderError, type SendInput } from 'messagepipe';
import { createMockAdapter } from 'messagepipe/testing';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { channelOf, PROJECT, sampleConfigs, sampleSecrets } from './helpers';

type Provider = keyof typeof sampleConfigs;

/** Everything a test can capture, to be searched for secret values. */
function collector() {
  const captured: unknown[] = [];
  const logger: Logger = {
    debug: (message, fields) => captured.push(message, fields),
    warn: (message, fields) => captured.push(message, fields),
  };
  const capture = (value: unknown) => {
    captured.push(value);
    if (value instanceof Error) captured.push(value.message, value.stack, { ...value });
  };
  const text = () =>
    captured
      .map((value) => {
        if (typeof value === 'string') return value;
        try {
          return JSON.stringify(value);
        } catch {
          return String(value);
        }
      })
      .join('\n');
  return { logger, capture, text };
}

/** An adapter that echoes its whole config back in every error, reason and detail, as a careless SDK might. */
function leakyAdapter(provider: Provider) {
  return defineAdapter({
    provider,
    channel: channelOf[provider],
    configSchema: z.unknown(),
    async send(_message, ctx) {
      throw new ProviderError('PROVIDER_UNAVAILABLE', `request failed: ${JSON.stringify(ctx.config)}`, {
        provider,
        status: 503,
      });
    },
    async verify(config) {
      return { valid: true, details: { echoed: JSON.stringify(config) } };
    },
    async domains(config) {
      return [{ domain: 'acme.test', verified: false, details: { echoed: JSON.stringify(config) } }];
    },
  });
}

function sendInput(provider: Provider): SendInput {
  return channelOf[provider] === 'email'
    ? { projectId: PROJECT, channel: 'email', to: 'ann@example.test', subject: 'Hi', text: 'Hello' }
    : { projectId: PROJECT, channel: 'sms', to: '+14155550101', body: 'Hello' };
}

describe('secrets never leave the dispatcher', () => {
  it.each(Object.keys(sampleConfigs) as Provider[])(
    'no %s secret appears in records, errors, events or logs',
    async (provider) => {
      const { logger, capture, text } = collector();
      const pipe = new Dispatcher({ adapters: [leakyAdapter(provider)], logger, retry: false });
      for (const event of [
        'attempt:start',
        'attempt:finish',
        'failover',
        'send:success',
        'send:failure',
      ] as const) {
        pipe.on(event, capture);
      }
      await pipe.senders.set({ projectId: PROJECT, channel: 'email', senderEmail: 'noreply@acme.test' });
      await pipe.senders.set({ projectId: PROJECT, channel: 'sms', senderId: 'Acme' });

      const channel = channelOf[provider];
      const record = await pipe.providers.add({
        projectId: PROJECT,
        channel,
        provider,
        name: provider,
        config: sampleConfigs[provider],
      });
      capture(record);
      capture(await pipe.providers.list({ projectId: PROJECT }));
      capture(await pipe.providers.get({ projectId: PROJECT, id: record.id }));
      capture(await pipe.providers.update({ projectId: PROJECT, id: record.id }, { name: 'renamed' }));
      capture(await pipe.providers.validate({ projectId: PROJECT, id: record.id }));
      capture(await pipe.providers.domains({ projectId: PROJECT, id: record.id }));
      await pipe.send(sendInput(provider)).catch(capture);
      // A config rejected for another field must not echo the secrets it carried.
      await pipe.providers
        .add({
          projectId: PROJECT,
          channel,
          provider,
          name: '',
          priority: -1,
          // @ts-expect-error unknownField is no config field: refused here by the types, at run time by the schema
          config: { ...sampleConfigs[provider], unknownField: 1 },
        })
        .catch(capture);

      const everything = text();
      expect(everything).toContain(record.id);
      expect(everything).toContain('[REDACTED]');
      for (const secretValue of sampleSecrets) expect(everything).not.toContain(secretValue);
    },
  );

  it('keeps secrets out of a mock adapter’s call log', async () => {
    const mock = createMockAdapter({ provider: 'twilio', channel: 'sms' });
    const pipe = new Dispatcher({ adapters: [mock] });
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'sms',
      provider: 'twilio',
      name: 'TW',
      config: sampleConfigs.twilio,
    });
    await pipe.send(sendInput('twilio'));
    expect(JSON.stringify(mock.calls)).not.toContain(sampleConfigs.twilio.authToken);
  });
});
