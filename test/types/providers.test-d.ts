/**
 * Type-level tests of typed provider configs, checked by `npx tsc --noEmit` (tsconfig includes test/). Each
 * `@ts-expect-error` line must be an error: if the typing is lost, tsc fails with "Unused '@ts-expect-error'".
 */
import {
  type AddProviderInput,
  type AnyAdapter,
  type BuiltInAdapter,
  type ConfigInput,
  type ConfigUpdateInput,
  Dispatcher,
  defineAdapter,
  type JsonSchema,
  type PostmarkConfig,
  type ProviderNameOf,
  type ProviderRecord,
  type postmarkConfigSchema,
  secret,
  type sendgridConfigSchema,
  type smtpConfigSchema,
  type termiiConfigSchema,
  type twilioConfigSchema,
} from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { postmark } from 'messagepipe/adapters/postmark';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { ses } from 'messagepipe/adapters/ses';
import { smtp } from 'messagepipe/adapters/smtp';
import { sns } from 'messagepipe/adapters/sns';
import { termii } from 'messagepipe/adapters/termii';
import { twilio } from 'messagepipe/adapters/twilio';
import { createMockAdapter } from 'messagepipe/testing';
import { expectTypeOf } from 'vitest';
import { z } from 'zod';

const projectId = 'project-a';
const ref = { projectId, id: 'record-1' };

const acmeSchema = z.strictObject({
  token: secret(z.string().min(8)),
  backupToken: secret(z.string()).optional(),
  region: z.enum(['a', 'b']).default('a'),
  retries: z.number().int().optional(),
});

const acmeSms = defineAdapter({
  provider: 'acme-sms',
  channel: 'sms',
  configSchema: acmeSchema,
  async send(_message, { config }) {
    expectTypeOf(config).toEqualTypeOf<z.output<typeof acmeSchema>>();
    return { messageId: 'acme-1' };
  },
});

const pipe = new Dispatcher({ adapters: [sendgrid(), smtp(), postmark(), twilio(), termii(), acmeSms] });
type Pipe = typeof pipe;
type Registered = Pipe extends Dispatcher<infer A> ? A[number] : never;

// Adapter factories keep their literal provider name, channel and the core's config schema.
expectTypeOf(sendgrid()).toEqualTypeOf<BuiltInAdapter<'sendgrid'>>();
expectTypeOf(mailgun()).toEqualTypeOf<BuiltInAdapter<'mailgun'>>();
expectTypeOf(postmark()).toEqualTypeOf<BuiltInAdapter<'postmark'>>();
expectTypeOf(ses()).toEqualTypeOf<BuiltInAdapter<'ses'>>();
expectTypeOf(smtp()).toEqualTypeOf<BuiltInAdapter<'smtp'>>();
expectTypeOf(twilio()).toEqualTypeOf<BuiltInAdapter<'twilio'>>();
expectTypeOf(termii()).toEqualTypeOf<BuiltInAdapter<'termii'>>();
expectTypeOf(sns()).toEqualTypeOf<BuiltInAdapter<'sns'>>();
expectTypeOf(smtp().provider).toEqualTypeOf<'smtp'>();
expectTypeOf(smtp().channel).toEqualTypeOf<'email'>();
expectTypeOf(twilio().channel).toEqualTypeOf<'sms'>();
expectTypeOf(sendgrid().configSchema).toEqualTypeOf<typeof sendgridConfigSchema | undefined>();

// defineAdapter infers the literal provider name, the channel and the schema.
expectTypeOf(acmeSms.provider).toEqualTypeOf<'acme-sms'>();
expectTypeOf(acmeSms.channel).toEqualTypeOf<'sms'>();
expectTypeOf(acmeSms.configSchema).toEqualTypeOf<typeof acmeSchema | undefined>();

// The registered names per channel.
expectTypeOf<ProviderNameOf<Registered, 'email'>>().toEqualTypeOf<'sendgrid' | 'smtp' | 'postmark'>();
expectTypeOf<ProviderNameOf<Registered, 'sms'>>().toEqualTypeOf<'twilio' | 'termii' | 'acme-sms'>();

// `config` of add is the provider's config input: what the user writes (defaults optional).
type AddConfig<P extends string> = Extract<AddProviderInput<Registered>, { provider: P }>['config'];
expectTypeOf<AddConfig<'sendgrid'>>().toEqualTypeOf<z.input<typeof sendgridConfigSchema>>();
expectTypeOf<AddConfig<'smtp'>>().toEqualTypeOf<z.input<typeof smtpConfigSchema>>();
expectTypeOf<AddConfig<'twilio'>>().toEqualTypeOf<z.input<typeof twilioConfigSchema>>();
expectTypeOf<AddConfig<'termii'>>().toEqualTypeOf<z.input<typeof termiiConfigSchema>>();
expectTypeOf<AddConfig<'acme-sms'>>().toEqualTypeOf<z.input<typeof acmeSchema>>();
expectTypeOf<AddConfig<'acme-sms'>>().toEqualTypeOf<{
  token: string;
  backupToken?: string | undefined;
  region?: 'a' | 'b' | undefined;
  retries?: number | undefined;
}>();
expectTypeOf<ConfigInput<typeof sendgridConfigSchema>>().toEqualTypeOf<AddConfig<'sendgrid'>>();

async function adds(): Promise<ProviderRecord[]> {
  const base = { projectId, name: 'Primary' } as const;
  return Promise.all([
    pipe.providers.add({ ...base, channel: 'email', provider: 'sendgrid', config: { apiKey: 'SG.x' } }),
    pipe.providers.add({
      ...base,
      channel: 'email',
      provider: 'smtp',
      config: { host: 'smtp.acme.test', port: 587, secure: false, auth: { user: 'u', pass: 'p' } },
    }),
    pipe.providers.add({
      ...base,
      channel: 'sms',
      provider: 'twilio',
      config: { accountSid: `AC${'a'.repeat(32)}`, authToken: 't', from: '+14155550100' },
    }),
    // A defaulted field (region) may be left out.
    pipe.providers.add({ ...base, channel: 'sms', provider: 'acme-sms', config: { token: 'tok-12345678' } }),
    pipe.providers.add(
      { ...base, channel: 'sms', provider: 'termii', config: { apiKey: 'k', senderId: 'Acme' } },
      { verify: false },
    ),
  ]);
}

// Each refused call is on one line, so its `@ts-expect-error` covers the whole call.
const email = { projectId, name: 'Email', channel: 'email' } as const;
const sms = { projectId, name: 'SMS', channel: 'sms' } as const;
const smtpBase = { host: 'smtp.acme.test', port: 587, secure: false } as const;
const twilioConfig = { accountSid: `AC${'a'.repeat(32)}`, authToken: 't', from: '+14155550100' };

function refusedAdds(): void {
  const add = pipe.providers.add.bind(pipe.providers);
  // @ts-expect-error misspelt field
  add({ ...email, provider: 'sendgrid', config: { apiKy: 'SG.x' } });
  // @ts-expect-error misspelt provider name
  add({ ...email, provider: 'sendgird', config: { apiKey: 'SG.x' } });
  // @ts-expect-error an SMS provider on the email channel
  add({ ...email, provider: 'twilio', config: twilioConfig });
  // @ts-expect-error wrong field type: port is a number
  add({ ...email, provider: 'smtp', config: { host: 'smtp.acme.test', port: '587', secure: false } });
  // @ts-expect-error excess property
  add({ ...email, provider: 'sendgrid', config: { apiKey: 'SG.x', sandbox: true, extra: 1 } });
  // @ts-expect-error excess property in a nested object
  add({ ...email, provider: 'smtp', config: { ...smtpBase, auth: { user: 'u', pass: 'p', password: 'p' } } });
  // @ts-expect-error a required field (host) is missing
  add({ ...email, provider: 'smtp', config: { port: 587, secure: false } });
  // @ts-expect-error a built-in provider whose adapter is not registered (ADAPTER_MISSING at run time)
  add({ ...email, provider: 'mailgun', config: { apiKey: 'k', domain: 'mg.acme.test' } });
  // @ts-expect-error custom adapter: wrong field type
  add({ ...sms, provider: 'acme-sms', config: { token: 12345678 } });
  // @ts-expect-error custom adapter: value outside the enum
  add({ ...sms, provider: 'acme-sms', config: { token: 'tok-12345678', region: 'c' } });
  // @ts-expect-error custom adapter: misspelt field
  add({ ...sms, provider: 'acme-sms', config: { tokn: 'tok-12345678' } });
  // @ts-expect-error custom adapter on the wrong channel
  add({ ...email, provider: 'acme-sms', config: { token: 'tok-12345678' } });
  // @ts-expect-error built-in SMS provider: wrong field type
  add({ ...sms, provider: 'termii', config: { apiKey: 'k', senderId: 'Acme', channel: 'sms' } });
  // @ts-expect-error the message channel is no config field of twilio
  add({ ...sms, provider: 'twilio', config: { ...twilioConfig, channel: 'generic' } });
  // The same calls with valid configs type-check.
  add({ ...email, provider: 'sendgrid', config: { apiKey: 'SG.x' } });
  add({ ...email, provider: 'smtp', config: { ...smtpBase, auth: { user: 'u', pass: 'p' } } });
  add({ ...sms, provider: 'twilio', config: twilioConfig });
  add({ ...sms, provider: 'termii', config: { apiKey: 'k', senderId: 'Acme', channel: 'dnd' } });
}

// Update: secrets may be left out (kept) and optional secrets set to null (removed); the rest is a full config.
expectTypeOf<ConfigUpdateInput<typeof smtpConfigSchema>>().toEqualTypeOf<{
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass?: string | undefined } | undefined;
  tls?: { rejectUnauthorized: boolean; servername?: string | undefined } | undefined;
  requireTLS?: boolean | undefined;
  maxConnections?: number | undefined;
  timeoutMs?: number | undefined;
}>();
expectTypeOf<ConfigUpdateInput<typeof postmarkConfigSchema>>().toEqualTypeOf<{
  serverToken?: string | undefined;
  accountToken?: string | null | undefined;
  messageStream?: string | undefined;
  webhookUser?: string | null | undefined;
  webhookPassword?: string | null | undefined;
  webhookAllowedIps?: string[] | undefined;
  endpoint?: string | undefined;
  timeoutMs?: number | undefined;
}>();
expectTypeOf<ConfigUpdateInput<typeof acmeSchema>>().toEqualTypeOf<{
  token?: string | undefined;
  backupToken?: string | null | undefined;
  region?: 'a' | 'b' | undefined;
  retries?: number | undefined;
}>();
// A config as a form sends it back: no secret values, which the store keeps.
expectTypeOf<Omit<PostmarkConfig, 'serverToken' | 'accountToken'>>().toExtend<
  ConfigUpdateInput<typeof postmarkConfigSchema>
>();

async function updates(): Promise<ProviderRecord[]> {
  return Promise.all([
    pipe.providers.update(ref, { priority: 2 }),
    pipe.providers.update(ref, { config: { sandbox: true } }),
    pipe.providers.update<'sendgrid'>(ref, { config: { region: 'eu' } }),
    pipe.providers.update<'smtp'>(ref, {
      config: { host: 'smtp.acme.test', port: 2525, secure: false, auth: { user: 'u' } },
    }),
    pipe.providers.update<'postmark'>(ref, { config: { accountToken: null } }),
    pipe.providers.update<'acme-sms'>(ref, { config: { backupToken: null, region: 'b' } }),
    pipe.providers.update(ref, { config: { token: 'tok-87654321' } }),
  ]);
}

function refusedUpdates(): void {
  // @ts-expect-error misspelt field, whichever provider the record has
  pipe.providers.update(ref, { config: { apiKy: 'SG.x' } });
  // @ts-expect-error fields of two providers in one config
  pipe.providers.update(ref, { config: { apiKey: 'SG.x', port: 587 } });
  pipe.providers.update<'smtp'>(ref, {
    // @ts-expect-error wrong field type
    config: { host: 'smtp.acme.test', port: '2525', secure: false },
  });
  // @ts-expect-error an update replaces the config: required fields that are not secrets stay required
  pipe.providers.update<'smtp'>(ref, { config: { port: 2525 } });
  // @ts-expect-error a required secret cannot be removed
  pipe.providers.update<'postmark'>(ref, { config: { serverToken: null } });
  // @ts-expect-error a field of another provider, with the provider named
  pipe.providers.update<'sendgrid'>(ref, { config: { serverToken: 'x' } });
  // @ts-expect-error excess property
  pipe.providers.update<'acme-sms'>(ref, { config: { token: 'tok-12345678', extra: true } });
}

// schema(): any built-in provider of the channel (registered or not) and the registered custom ones.
expectTypeOf(pipe.schema('email', 'mailgun')).toEqualTypeOf<JsonSchema>();
expectTypeOf(pipe.schema('sms', 'acme-sms')).toEqualTypeOf<JsonSchema>();
function refusedSchemas(): void {
  // @ts-expect-error an SMS provider on the email channel
  pipe.schema('email', 'twilio');
  // @ts-expect-error a custom provider on the wrong channel
  pipe.schema('email', 'acme-sms');
  // @ts-expect-error unknown provider
  pipe.schema('sms', 'acme');
}

// Mock adapters keep their name too, and stand in for a built-in provider with its config type.
const mocked = new Dispatcher({
  adapters: [
    createMockAdapter({ provider: 'sendgrid', channel: 'email' }),
    createMockAdapter({ provider: 'custom-mail', channel: 'email' }),
  ],
});
type Mocked = typeof mocked extends Dispatcher<infer A> ? A[number] : never;
expectTypeOf<ProviderNameOf<Mocked, 'email'>>().toEqualTypeOf<'sendgrid' | 'custom-mail'>();
expectTypeOf<Extract<AddProviderInput<Mocked>, { provider: 'sendgrid' }>['config']>().toEqualTypeOf<
  z.input<typeof sendgridConfigSchema>
>();
// A custom provider without a schema accepts any object, as at run time.
expectTypeOf<Extract<AddProviderInput<Mocked>, { provider: 'custom-mail' }>['config']>().toEqualTypeOf<
  Record<string, unknown>
>();

// The untyped fallback: `Dispatcher` without type arguments takes any name and any object.
const untyped: Dispatcher = pipe;
const fromArray = new Dispatcher({ adapters: [sendgrid(), smtp()] as AnyAdapter[] });
expectTypeOf(fromArray).toEqualTypeOf<Dispatcher<AnyAdapter[]>>();
const untypedToo: Dispatcher = fromArray;
expectTypeOf<Parameters<Dispatcher['providers']['add']>[0]>().toEqualTypeOf<{
  projectId: string;
  channel: 'email' | 'sms';
  provider: string;
  name: string;
  enabled?: boolean | undefined;
  priority?: number | undefined;
  weight?: number | undefined;
  config: Record<string, unknown>;
}>();
function untypedCalls(input: { provider: string; config: Record<string, unknown> }): void {
  untyped.providers.add({ projectId, channel: 'email', name: 'Any', ...input });
  untypedToo.providers.update(ref, { config: input.config });
  untyped.schema('email', input.provider);
}

// The README example ("Managing providers").
async function readmeExample(id: string): Promise<void> {
  const pipe = new Dispatcher({ adapters: [sendgrid(), smtp()] });
  await pipe.providers.add({
    projectId,
    channel: 'email',
    provider: 'smtp',
    name: 'Relay',
    config: { host: 'smtp.acme.test', port: 587, secure: false },
  });
  await pipe.providers.update<'smtp'>(
    { projectId, id },
    { config: { host: 'smtp.acme.test', port: 2525, secure: false, auth: { user: 'me' } } },
  );
  const untyped: Dispatcher = pipe;
  await untyped.providers.add({ projectId, channel: 'sms', provider: 'any', name: 'Any', config: { a: 1 } });
}

export { adds, readmeExample, refusedAdds, refusedSchemas, refusedUpdates, untypedCalls, updates };
