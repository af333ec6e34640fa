#!/usr/bin/env node
/**
 * `messagepipe serve | worker | token`: the HTTP API as a server, queue workers, and development tokens.
 * Every flag has an environment variable; flags win. Exit codes: 0 done, 1 failed while running, 2 bad usage or
 * configuration.
 */
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type AnyAdapter, Dispatcher, type Logger, type SecretsOptions } from 'messagepipe';
import { mailgun } from 'messagepipe/adapters/mailgun';
import { postmark } from 'messagepipe/adapters/postmark';
import { sendgrid } from 'messagepipe/adapters/sendgrid';
import { ses } from 'messagepipe/adapters/ses';
import { smtp } from 'messagepipe/adapters/smtp';
import { sns } from 'messagepipe/adapters/sns';
import { termii } from 'messagepipe/adapters/termii';
import { twilio } from 'messagepipe/adapters/twilio';
import { PostgresProviderStore } from 'messagepipe/stores/postgres';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** A problem with how the command was called or configured: exit code 2, one line, no stack. */
class UsageError extends Error {}

interface Flag {
  env?: string;
  type: 'string' | 'boolean';
  description: string;
  default?: string;
  multiple?: boolean;
}

const SHARED: Record<string, Flag> = {
  'secret-keys': {
    env: 'MESSAGEPIPE_SECRET_KEYS',
    type: 'string',
    description: 'Sealing keys, id=base64 pairs separated by commas; the first seals new writes',
  },
  'database-url': {
    env: 'DATABASE_URL',
    type: 'string',
    description: 'PostgreSQL connection string; without it, an embedded database in --data-dir',
  },
  'data-dir': {
    env: 'MESSAGEPIPE_DATA_DIR',
    type: 'string',
    default: './.messagepipe',
    description: 'Where the embedded database lives',
  },
  'redis-url': { env: 'REDIS_URL', type: 'string', description: 'Redis for the send queue (BullMQ)' },
  verbose: { type: 'boolean', description: 'Debug lines, and stack traces with errors' },
  help: { type: 'boolean', description: 'Show this help' },
};

const COMMANDS: Record<string, { summary: string; flags: Record<string, Flag> }> = {
  serve: {
    summary: 'Runs the REST API (and, with --with-worker, a queue worker)',
    flags: {
      host: { env: 'HOST', type: 'string', default: '127.0.0.1', description: 'Address to listen on' },
      port: { env: 'PORT', type: 'string', default: '3000', description: 'Port to listen on' },
      'jwt-secret': {
        env: 'MESSAGEPIPE_JWT_SECRET',
        type: 'string',
        description: 'HS256 secret of bearer tokens (32 bytes or more)',
      },
      'jwks-url': {
        env: 'MESSAGEPIPE_JWKS_URL',
        type: 'string',
        description: 'JWKS of the identity provider that signs bearer tokens (RS256/ES256/EdDSA)',
      },
      'jwt-issuer': { env: 'MESSAGEPIPE_JWT_ISSUER', type: 'string', description: 'Required iss of tokens' },
      'jwt-audience': {
        env: 'MESSAGEPIPE_JWT_AUDIENCE',
        type: 'string',
        description: 'Required aud of tokens',
      },
      'projects-claim': {
        env: 'MESSAGEPIPE_PROJECTS_CLAIM',
        type: 'string',
        description: "Claim that lists a token's projects (default: projects, else projectId)",
      },
      'no-auth': {
        env: 'MESSAGEPIPE_NO_AUTH',
        type: 'boolean',
        description: 'Development only: no authentication, every project open to anyone who can connect',
      },
      'max-body-bytes': {
        env: 'MESSAGEPIPE_MAX_BODY_BYTES',
        type: 'string',
        default: String(10 * 1024 * 1024),
        description: 'Largest request body accepted',
      },
      'with-worker': {
        env: 'MESSAGEPIPE_WITH_WORKER',
        type: 'boolean',
        description: 'Also run a queue worker in this process (needs --redis-url)',
      },
      ...SHARED,
    },
  },
  worker: {
    summary: 'Runs queue workers that send what `serve` (with --redis-url) queues',
    flags: {
      concurrency: {
        env: 'MESSAGEPIPE_WORKER_CONCURRENCY',
        type: 'string',
        default: '10',
        description: 'Jobs run at once',
      },
      ...SHARED,
    },
  },
  token: {
    summary: 'Prints an HS256 bearer token signed with the JWT secret, for development and scripts',
    flags: {
      project: { type: 'string', multiple: true, description: 'A project the token may use (repeatable)' },
      expires: { type: 'string', default: '1h', description: 'Lifetime, e.g. 15m, 1h, 7d' },
      'jwt-secret': { env: 'MESSAGEPIPE_JWT_SECRET', type: 'string', description: 'HS256 secret' },
      help: SHARED.help!,
    },
  },
};

/** Provider SDK packages, to tell at start which are installed. */
const SDKS: Array<[string, string]> = [
  ['sendgrid', '@sendgrid/client'],
  ['mailgun', 'mailgun.js'],
  ['postmark', 'postmark'],
  ['ses', '@aws-sdk/client-sesv2'],
  ['smtp', 'nodemailer'],
  ['twilio', 'twilio'],
  ['sns', '@aws-sdk/client-sns'],
];

function usage(command?: string): string {
  if (!command || !COMMANDS[command]) {
    return [
      'Usage: messagepipe <command> [options]',
      '',
      'Commands:',
      ...Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(8)} ${summary}`),
      '',
      'Run `messagepipe <command> --help` for its options.',
    ].join('\n');
  }
  const { summary, flags } = COMMANDS[command]!;
  const lines = Object.entries(flags).map(([name, flag]) => {
    const value = flag.type === 'string' ? ' <value>' : '';
    const extra = [flag.env ? `env ${flag.env}` : '', flag.default ? `default ${flag.default}` : '']
      .filter(Boolean)
      .join('; ');
    return `  --${`${name}${value}`.padEnd(24)} ${flag.description}${extra ? ` (${extra})` : ''}`;
  });
  return [`Usage: messagepipe ${command} [options]`, '', summary, '', 'Options:', ...lines].join('\n');
}

type Options = Record<string, string | boolean | string[] | undefined>;

/** Flags, then environment variables, then defaults. */
function readOptions(command: string, args: string[], env: NodeJS.ProcessEnv): Options {
  const flags = COMMANDS[command]!.flags;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args,
      options: Object.fromEntries(
        Object.entries(flags).map(([name, flag]) => [
          name,
          { type: flag.type, multiple: flag.multiple ?? false },
        ]),
      ),
      allowPositionals: false,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${usage(command)}`);
  }
  const options: Options = {};
  for (const [name, flag] of Object.entries(flags)) {
    const given = parsed.values[name];
    const fromEnv = flag.env ? env[flag.env] : undefined;
    if (given !== undefined) options[name] = given as string | boolean | string[];
    else if (fromEnv !== undefined && fromEnv !== '') {
      options[name] =
        flag.type === 'boolean' ? ['1', 'true', 'yes'].includes(fromEnv.toLowerCase()) : fromEnv;
    } else if (flag.default !== undefined) options[name] = flag.default;
  }
  return options;
}

function stringOf(options: Options, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}

function integerOf(options: Options, name: string, min: number, max: number): number {
  const text = stringOf(options, name);
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}"`);
  }
  return value;
}

function loggerOf(verbose: boolean): Logger {
  const line = (level: string, message: string, fields?: Record<string, unknown>) =>
    console.error(
      `${level}: ${message}${fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}`,
    );
  return {
    debug: (message, fields) => {
      if (verbose) line('debug', message, fields);
    },
    warn: (message, fields) => line('warning', message, fields),
  };
}

function secretsOf(text: string | undefined): SecretsOptions | undefined {
  if (!text) return undefined;
  const keys: Record<string, string> = {};
  let activeKeyId: string | undefined;
  for (const pair of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at < 1) throw new UsageError('MESSAGEPIPE_SECRET_KEYS: expected id=base64 pairs separated by commas');
    const id = pair.slice(0, at);
    keys[id] = pair.slice(at + 1);
    activeKeyId ??= id;
  }
  if (!activeKeyId) throw new UsageError('MESSAGEPIPE_SECRET_KEYS is empty');
  return { keys, activeKeyId };
}

function allAdapters(): AnyAdapter[] {
  return [sendgrid(), mailgun(), postmark(), ses(), smtp(), twilio(), termii(), sns()];
}

function reportSdks(logger: Logger): void {
  const require = createRequire(import.meta.url);
  const installed: string[] = [];
  const missing: string[] = [];
  for (const [provider, pkg] of SDKS) {
    try {
      require.resolve(pkg);
      installed.push(provider);
    } catch {
      missing.push(`${provider} (npm install ${pkg})`);
    }
  }
  console.log(`Provider SDKs installed: ${installed.join(', ') || 'none'}; termii needs none`);
  if (missing.length > 0)
    logger.warn(`Not installed, sends through them fail with ADAPTER_MISSING: ${missing.join(', ')}`);
}

/** The store: PostgreSQL with a connection string, else the embedded database in the data directory. */
async function openStore(options: Options, logger: Logger) {
  const url = stringOf(options, 'database-url');
  if (url) {
    const { default: pg } = await import('pg').catch((error: unknown) => {
      throw new UsageError(
        `DATABASE_URL needs the "pg" package: npm install pg (${(error as Error).message})`,
      );
    });
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    pool.on('error', (error) => logger.warn('PostgreSQL connection error', { error: error.message }));
    const store = new PostgresProviderStore({ pool });
    await store.migrate();
    console.log('Store: PostgreSQL (DATABASE_URL)');
    return { store, health: () => pool.query('SELECT 1'), close: () => pool.end() };
  }
  const { openEmbeddedDatabase } = await import('messagepipe/stores/postgres');
  const dir = resolve(stringOf(options, 'data-dir') ?? './.messagepipe');
  const embedded = await openEmbeddedDatabase(join(dir, 'db')).catch((error: unknown) => {
    throw new Error(`Could not open the embedded database in ${dir}: ${(error as Error).message}`);
  });
  const store = new PostgresProviderStore({ pool: embedded.connection });
  await store.migrate();
  console.log(`Store: embedded PostgreSQL in ${dir}`);
  return { store, health: () => embedded.connection.query('SELECT 1'), close: () => embedded.close() };
}

function redisConnection(url: string) {
  // BullMQ takes ioredis options; ioredis parses the URL (redis://user:pass@host:port/db, rediss:// for TLS).
  return { url, maxRetriesPerRequest: null };
}

/** Runs `close` steps once, on the first SIGTERM or SIGINT; a second signal exits at once. */
function onShutdown(steps: Array<() => Promise<unknown>>, logger: Logger): Promise<void> {
  return new Promise((done) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        logger.warn(`${signal} again: exiting without waiting`);
        process.exit(EXIT_FAILED);
      }
      stopping = true;
      console.log(`${signal}: finishing requests under way, then stopping`);
      for (const step of steps) {
        try {
          await step();
        } catch (error) {
          logger.warn('Shutdown step failed', { error: (error as Error).message });
        }
      }
      done();
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });
}

async function serve(options: Options): Promise<void> {
  const logger = loggerOf(options.verbose === true);
  const secret = stringOf(options, 'jwt-secret');
  const jwksUrl = stringOf(options, 'jwks-url');
  if (secret && jwksUrl) throw new UsageError('Give --jwt-secret or --jwks-url, not both');
  if (!secret && !jwksUrl && options['no-auth'] !== true) {
    throw new UsageError(
      'No authentication configured: set MESSAGEPIPE_JWT_SECRET (or --jwt-secret), MESSAGEPIPE_JWKS_URL, or --no-auth for local development',
    );
  }
  const port = integerOf(options, 'port', 0, 65_535);
  const host = stringOf(options, 'host') ?? '127.0.0.1';
  const maxBodyBytes = integerOf(options, 'max-body-bytes', 1024, 1024 ** 3);
  const redisUrl = stringOf(options, 'redis-url');
  if (options['with-worker'] === true && !redisUrl)
    throw new UsageError('--with-worker needs --redis-url (REDIS_URL)');
  const secrets = secretsOf(stringOf(options, 'secret-keys'));

  const [{ serve: listen }, { createHttpApi }] = await Promise.all([
    import('@hono/node-server'),
    import('messagepipe/http'),
  ]).catch((error: unknown) => {
    throw new UsageError(
      `messagepipe serve needs hono, @hono/node-server, @hono/zod-openapi and jose: npm install hono @hono/node-server @hono/zod-openapi jose (${(error as Error).message})`,
    );
  });

  const storage = await openStore(options, logger);
  const pipe = new Dispatcher({
    adapters: allAdapters(),
    store: storage.store,
    logger,
    ...(secrets ? { secrets } : {}),
  });
  reportSdks(logger);
  const queueModule = redisUrl ? await import('messagepipe/queue') : undefined;
  const queue =
    queueModule && redisUrl
      ? await queueModule.createSendQueue({ connection: redisConnection(redisUrl), logger })
      : undefined;
  const worker =
    queueModule && redisUrl && options['with-worker'] === true
      ? await queueModule.createSendWorker(pipe, { connection: redisConnection(redisUrl), logger })
      : undefined;
  if (queue)
    console.log(
      `Queue: Redis${worker ? ', with a worker in this process' : ' (run `messagepipe worker` to send)'}`,
    );

  const jwt = {
    ...(secret ? { secret } : { jwksUrl: jwksUrl! }),
    ...(stringOf(options, 'jwt-issuer') ? { issuer: stringOf(options, 'jwt-issuer')! } : {}),
    ...(stringOf(options, 'jwt-audience') ? { audience: stringOf(options, 'jwt-audience')! } : {}),
    ...(stringOf(options, 'projects-claim') ? { projectsClaim: stringOf(options, 'projects-claim')! } : {}),
  };
  if (!secret && !jwksUrl)
    logger.warn('Authentication is off (--no-auth): anyone who can connect can use every project');
  const app = createHttpApi({
    dispatcher: pipe,
    auth: secret || jwksUrl ? { jwt } : 'none',
    logger,
    maxBodyBytes,
    health: storage.health,
    ...(queue ? { queue } : {}),
  });

  const server = await new Promise<ReturnType<typeof listen>>((ready, fail) => {
    const started = listen({ fetch: app.fetch, hostname: host, port }, (info) => {
      const shown = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      console.log(`MessagePipe API listening on http://${shown}:${info.port}`);
      ready(started);
    });
    started.once('error', (error: NodeJS.ErrnoException) =>
      fail(error.code === 'EADDRINUSE' ? new Error(`Port ${port} on ${host} is already in use`) : error),
    );
  });

  await onShutdown(
    [
      // Stops accepting connections; resolves once the requests under way have been answered.
      () =>
        new Promise<void>((closed) => {
          server.close(() => closed());
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        }),
      async () => worker?.close(),
      async () => queue?.close(),
      () => pipe.close(),
      () => storage.close(),
    ],
    logger,
  );
  console.log('Stopped');
}

async function work(options: Options): Promise<void> {
  const logger = loggerOf(options.verbose === true);
  const redisUrl = stringOf(options, 'redis-url');
  if (!redisUrl) throw new UsageError('messagepipe worker needs REDIS_URL (or --redis-url)');
  const concurrency = integerOf(options, 'concurrency', 1, 1000);
  const secrets = secretsOf(stringOf(options, 'secret-keys'));
  const storage = await openStore(options, logger);
  const pipe = new Dispatcher({
    adapters: allAdapters(),
    store: storage.store,
    logger,
    ...(secrets ? { secrets } : {}),
  });
  reportSdks(logger);
  const { createSendWorker } = await import('messagepipe/queue');
  const worker = await createSendWorker(pipe, { connection: redisConnection(redisUrl), concurrency, logger });
  console.log(`MessagePipe worker running (${concurrency} at a time)`);
  await onShutdown([() => worker.close(), () => pipe.close(), () => storage.close()], logger);
  console.log('Stopped');
}

async function printToken(options: Options): Promise<void> {
  const secret = stringOf(options, 'jwt-secret');
  if (!secret) throw new UsageError('messagepipe token needs MESSAGEPIPE_JWT_SECRET (or --jwt-secret)');
  const projects = (options.project as string[] | undefined) ?? [];
  if (projects.length === 0) throw new UsageError('Name at least one --project');
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({ projects })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(stringOf(options, 'expires') ?? '1h')
    .sign(new TextEncoder().encode(secret));
  console.log(token);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(usage(args[0]));
    return 0;
  }
  if (!COMMANDS[command]) {
    console.error(`messagepipe: unknown command "${command}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  const options = readOptions(command, args, process.env);
  if (options.help === true) {
    console.log(usage(command));
    return 0;
  }
  if (command === 'serve') await serve(options);
  else if (command === 'worker') await work(options);
  else await printToken(options);
  return 0;
}

const verbose = process.argv.includes('--verbose');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A client library that keeps a socket open must not keep a stopped server alive.
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`messagepipe: ${message}`);
    if (verbose && error instanceof Error && error.stack) console.error(error.stack);
    process.exitCode = error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
  },
);
