import { inspect } from 'node:util';
import type {
  AnyAdapter,
  Channel,
  Logger,
  ProviderListFilter,
  ProviderScanPage,
  ProviderStore,
  SenderConfig,
  StoredProviderRecord,
} from 'messagepipe';
import { InMemoryProviderStore } from 'messagepipe';

/** A realistic config of one built-in provider, and which of its values are secrets. */
export interface ProviderFixture {
  provider: string;
  channel: Channel;
  config: Record<string, unknown>;
  /** The secret values in `config`. */
  secrets: string[];
  /** A config with fresh secrets, for updates. */
  rotated: Record<string, unknown>;
  rotatedSecrets: string[];
}

/** One realistic config for each of the eight built-in providers; every secret value is distinct. */
export const PROVIDERS: ProviderFixture[] = [
  {
    provider: 'sendgrid',
    channel: 'email',
    config: { apiKey: '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', region: 'eu' },
    secrets: ['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'],
    rotated: { apiKey: 'SG.rotatedKey0987654321ab.zYxWvUtSrQpOnMlKjIhGfEdCbA0987654321zyxwv' },
    rotatedSecrets: ['SG.rotatedKey0987654321ab.zYxWvUtSrQpOnMlKjIhGfEdCbA0987654321zyxwv'],
  },
  {
    provider: 'mailgun',
    channel: 'email',
    config: {
      apiKey: 'f3a9c1e7b5d2048697ae1c3b5d7f9e02-8c1d2e3f-4a5b6c7d',
      domain: 'mg.acme.test',
      region: 'eu',
    },
    secrets: ['f3a9c1e7b5d2048697ae1c3b5d7f9e02-8c1d2e3f-4a5b6c7d'],
    rotated: { apiKey: '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e-11223344-55667788', domain: 'mg.acme.test' },
    rotatedSecrets: ['0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e-11223344-55667788'],
  },
  {
    provider: 'postmark',
    channel: 'email',
    config: {
      serverToken: 'b5e8c3a1-0f4d-4c2e-9a7b-1d3f5e7a9c0b',
      accountToken: '7e6d5c4b-3a29-4f18-8e07-d6c5b4a39281',
      messageStream: 'outbound',
    },
    secrets: ['b5e8c3a1-0f4d-4c2e-9a7b-1d3f5e7a9c0b', '7e6d5c4b-3a29-4f18-8e07-d6c5b4a39281'],
    rotated: {
      serverToken: '0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d',
      accountToken: '1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b',
      messageStream: 'outbound',
    },
    rotatedSecrets: ['0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d', '1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b'],
  },
  {
    provider: 'ses',
    channel: 'email',
    config: {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDHqa0AP1/fsessiontoken+abc',
      region: 'eu-west-1',
      configurationSetName: 'transactional',
    },
    secrets: [
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'FwoGZXIvYXdzEJr//////////wEaDHqa0AP1/fsessiontoken+abc',
    ],
    rotated: {
      accessKeyId: 'AKIAI44QH8DHBEXAMPLE',
      secretAccessKey: 'Rotated/SES/secretAccessKey+0123456789abcd',
      sessionToken: 'IQoJb3JpZ2luX2VjEHrotatedSessionToken/+abcdef',
      region: 'eu-west-1',
    },
    rotatedSecrets: [
      'Rotated/SES/secretAccessKey+0123456789abcd',
      'IQoJb3JpZ2luX2VjEHrotatedSessionToken/+abcdef',
    ],
  },
  {
    provider: 'smtp',
    channel: 'email',
    config: {
      host: 'smtp.acme.test',
      port: 587,
      secure: false,
      requireTLS: true,
      auth: { user: 'mailer@acme.test', pass: 'smtp-P@ss w0rd!/ü-2026' },
    },
    secrets: ['smtp-P@ss w0rd!/ü-2026'],
    rotated: {
      host: 'smtp.acme.test',
      port: 465,
      secure: true,
      auth: { user: 'mailer@acme.test', pass: 'rotated-smtp-pässword-#42' },
    },
    rotatedSecrets: ['rotated-smtp-pässword-#42'],
  },
  {
    provider: 'twilio',
    channel: 'sms',
    config: {
      accountSid: 'AC0123456789abcdef0123456789abcdef',
      authToken: '9f8e7d6c5b4a39281706f5e4d3c2b1a0',
      from: '+14155550100',
    },
    secrets: ['9f8e7d6c5b4a39281706f5e4d3c2b1a0'],
    rotated: {
      accountSid: 'AC0123456789abcdef0123456789abcdef',
      authToken: 'aa11bb22cc33dd44ee55ff6677889900',
      from: '+14155550100',
    },
    rotatedSecrets: ['aa11bb22cc33dd44ee55ff6677889900'],
  },
  {
    provider: 'termii',
    channel: 'sms',
    config: { apiKey: 'TLk3n9XqZ7wR2pV5mB8cY1dF4gH6jK0sA3eU9iO7lP2', senderId: 'Acme', channel: 'generic' },
    secrets: ['TLk3n9XqZ7wR2pV5mB8cY1dF4gH6jK0sA3eU9iO7lP2'],
    rotated: { apiKey: 'TLrotatedTermiiKey0123456789abcdefghijklmn', senderId: 'Acme' },
    rotatedSecrets: ['TLrotatedTermiiKey0123456789abcdefghijklmn'],
  },
  {
    provider: 'sns',
    channel: 'sms',
    config: {
      accessKeyId: 'AKIAJ7EXAMPLESNSKEY0',
      secretAccessKey: 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbSNSsecretKEY',
      region: 'us-east-1',
      smsType: 'Transactional',
      senderId: 'Acme',
    },
    secrets: ['je7MtGbClwBF/2Zp9Utk/h3yCo8nvbSNSsecretKEY'],
    rotated: {
      accessKeyId: 'AKIAJ7EXAMPLESNSKEY0',
      secretAccessKey: 'Rotated/SNS/secret+AccessKey0123456789xyz',
      region: 'us-east-1',
    },
    rotatedSecrets: ['Rotated/SNS/secret+AccessKey0123456789xyz'],
  },
];

/** Every secret value of every fixture, original and rotated. */
export const ALL_SECRETS = PROVIDERS.flatMap((fixture) => [...fixture.secrets, ...fixture.rotatedSecrets]);

/** Everything a test could capture, turned into text: errors with their stacks and hidden fields, objects deeply. */
export function captureText(value: unknown): string {
  const parts = [
    inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true, maxStringLength: null }),
  ];
  if (value instanceof Error) parts.push(String(value.stack), value.message);
  try {
    parts.push(JSON.stringify(value) ?? '');
  } catch {
    // Circular values are covered by inspect.
  }
  return parts.join('\n');
}

/** The secrets (raw, URL-encoded or base64) that appear in `text`. */
export function leakedSecrets(text: string, secrets: readonly string[] = ALL_SECRETS): string[] {
  return secrets.filter((secret) =>
    [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64')].some((form) =>
      text.includes(form),
    ),
  );
}

/** A logger that keeps every line, with its fields. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (message, fields) => lines.push(`debug ${message} ${captureText(fields)}`),
    warn: (message, fields) => lines.push(`warn ${message} ${captureText(fields)}`),
  };
}

/**
 * A persistent-looking store that records, as text, everything that crosses its boundary: every argument and
 * every answer. That text is what a database would hold and a driver would send.
 */
export class RecordingStore implements ProviderStore {
  readonly persistent = true;
  readonly inner = new InMemoryProviderStore();
  readonly traffic: string[] = [];

  async #record<T>(operation: string, args: unknown[], run: () => Promise<T>): Promise<T> {
    this.traffic.push(`${operation} ${JSON.stringify(args)}`);
    const result = await run();
    this.traffic.push(`${operation} -> ${JSON.stringify(result)}`);
    return result;
  }

  insertProvider(record: StoredProviderRecord) {
    return this.#record('insertProvider', [record], () => this.inner.insertProvider(record));
  }
  getProvider(projectId: string, id: string) {
    return this.#record('getProvider', [projectId, id], () => this.inner.getProvider(projectId, id));
  }
  listProviders(projectId: string, filter?: ProviderListFilter) {
    return this.#record('listProviders', [projectId, filter], () =>
      this.inner.listProviders(projectId, filter),
    );
  }
  replaceProvider(record: StoredProviderRecord, expectedVersion: number) {
    return this.#record('replaceProvider', [record, expectedVersion], () =>
      this.inner.replaceProvider(record, expectedVersion),
    );
  }
  scanProviders(page: ProviderScanPage) {
    return this.#record('scanProviders', [page], () => this.inner.scanProviders(page));
  }
  deleteProvider(projectId: string, id: string) {
    return this.#record('deleteProvider', [projectId, id], () => this.inner.deleteProvider(projectId, id));
  }
  getSender(projectId: string, channel: Channel) {
    return this.#record('getSender', [projectId, channel], () => this.inner.getSender(projectId, channel));
  }
  putSender(sender: SenderConfig) {
    return this.#record('putSender', [sender], () => this.inner.putSender(sender));
  }
}

/**
 * Adapters for all eight providers that misbehave the way careless SDKs do: every error and every refusal echoes
 * the whole config, secrets included. The dispatcher must scrub them.
 */
export function echoingAdapters(): AnyAdapter[] {
  return PROVIDERS.map(
    ({ provider, channel }): AnyAdapter => ({
      provider,
      channel,
      async send(_message, ctx) {
        throw new Error(`${provider} answered 401 to a request with ${JSON.stringify(ctx.config)}`);
      },
      async verify(config) {
        return { valid: false, reason: `credentials refused: ${JSON.stringify(config)}` };
      },
      async domains(config) {
        throw new Error(`cannot list domains for ${JSON.stringify(config)}`);
      },
    }),
  );
}
