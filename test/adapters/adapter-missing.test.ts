import type { OutboundEmail } from 'messagepipe';
import { describe, expect, it, vi } from 'vitest';
import { mailgun } from '../../adapters/mailgun';
import { sendgrid } from '../../adapters/sendgrid';
import { callContext, expectProviderError, rejectionOf, sendContext } from './conformance';
import { sendWithoutPackage } from './without-package';

/** What Node throws when an imported package is not installed. */
function notInstalled(packageName: string): Error & { code: string } {
  return Object.assign(
    new Error(
      `Cannot find package '${packageName}' imported from /app/node_modules/messagepipe/dist/adapters.js`,
    ),
    { code: 'ERR_MODULE_NOT_FOUND' },
  );
}

// vitest wraps errors thrown by a mock factory, so absence is simulated one step later: `loadOptional` runs for
// real, with a loader that fails the way Node's import() does for a package that is not installed.
vi.mock('messagepipe', async (importOriginal) => {
  const original = await importOriginal<typeof import('messagepipe')>();
  return {
    ...original,
    loadOptional: (packageName: string, provider: string) =>
      original.loadOptional(packageName, provider, () => Promise.reject(notInstalled(packageName))),
  };
});

const message: OutboundEmail = {
  channel: 'email',
  from: { email: 'noreply@acme.test' },
  to: [{ email: 'ann@example.test' }],
  cc: [],
  bcc: [],
  replyTo: [],
  subject: 'Hi',
  text: 'Hello',
  attachments: [],
  headers: {},
  tags: [],
  metadata: {},
};

describe('an adapter whose SDK is not installed', () => {
  it('sendgrid fails with ADAPTER_MISSING naming @sendgrid/client', async () => {
    const config = { apiKey: 'SG.not-used', endpoint: 'http://127.0.0.1:9' };
    const adapter = sendgrid();
    const error = await rejectionOf(adapter.send(message, sendContext(config)));
    expectProviderError(
      error,
      'sendgrid',
      { code: 'ADAPTER_MISSING', message: /npm install @sendgrid\/client/ },
      [config.apiKey],
    );
    expectProviderError(
      await rejectionOf(adapter.verify!(config, callContext())),
      'sendgrid',
      { code: 'ADAPTER_MISSING' },
      [],
    );
  });

  it('mailgun fails with ADAPTER_MISSING naming mailgun.js', async () => {
    const config = { apiKey: 'key-not-used', domain: 'mg.acme.test', endpoint: 'http://127.0.0.1:9' };
    const adapter = mailgun();
    const error = await rejectionOf(adapter.send(message, sendContext(config)));
    expectProviderError(error, 'mailgun', { code: 'ADAPTER_MISSING', message: /npm install mailgun\.js/ }, [
      config.apiKey,
    ]);
    expectProviderError(
      await rejectionOf(adapter.domains!(config, callContext())),
      'mailgun',
      { code: 'ADAPTER_MISSING' },
      [],
    );
  });

  it('loadOptional names a package that really is not installed', async () => {
    const { loadOptional } = await vi.importActual<typeof import('messagepipe')>('messagepipe');
    const packageName = 'messagepipe-package-that-does-not-exist';
    const error = await rejectionOf(loadOptional(packageName, 'example', () => import(packageName)));
    expectProviderError(
      error,
      'example',
      { code: 'ADAPTER_MISSING', message: new RegExp(`npm install ${packageName}`) },
      [],
    );
  });
});

describe('an adapter run where its SDK cannot be resolved at all', () => {
  it.each([
    { factory: 'sendgrid', packageName: '@sendgrid/client', config: { apiKey: 'SG.not-used' } },
    {
      factory: 'mailgun',
      packageName: 'mailgun.js',
      config: { apiKey: 'key-not-used', domain: 'mg.acme.test' },
    },
  ])('$factory fails with ADAPTER_MISSING naming $packageName', async ({ factory, packageName, config }) => {
    const outcome = await sendWithoutPackage({
      packageName,
      adapterModule: new URL(`../../adapters/${factory}.ts`, import.meta.url),
      factory,
      message,
      config: { ...config, endpoint: 'http://127.0.0.1:9' },
    });
    expect(outcome.code).toBe('ADAPTER_MISSING');
    expect(outcome.message).toContain(`npm install ${packageName}`);
    expect(outcome.message).not.toContain(config.apiKey);
  });
});
