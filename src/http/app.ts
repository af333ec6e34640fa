import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { type Dispatcher, defaultLogger, type Logger } from 'messagepipe';
import type { SendQueue } from '../queue/index';
import { createAuthenticator, type HttpAuthOption } from './auth';
import type { HttpApi, HttpApiEnv, RouteContext } from './context';
import { errorResponse, HttpApiError } from './errors';
import { type IdempotencyOptions, IdempotentSends } from './idempotency';
import { messageRoutes } from './routes/messages';
import { monitoringRoutes } from './routes/monitoring';
import { providerRoutes } from './routes/providers';
import { senderRoutes } from './routes/senders';
import { WEBHOOK_PATH_PREFIX, webhookRoutes } from './routes/webhooks';

/** Options of {@link createHttpApi}. */
export interface HttpApiOptions {
  /** The dispatcher every route works through. It stays the caller's: the app never closes it. */
  dispatcher: Dispatcher;
  /**
   * How requests authenticate: `{ jwt: { secret } }` (HS256), `{ jwt: { publicKey | jwksUrl, issuer?, audience? } }`
   * (RS256/ES256/EdDSA), a function of your own, or `'none'`, which lets anyone use every project (development
   * only). Required: there is no default.
   */
  auth: HttpAuthOption;
  /**
   * With a queue (`createSendQueue` from `messagepipe/queue`), `POST /messages` answers 202 and a worker sends;
   * `GET /messages/{id}` tells the outcome. Without one, `POST /messages` sends before it answers.
   */
  queue?: SendQueue;
  /** Largest accepted request body, in bytes, attachments included; larger ones get 413. @default 10485760 (10 MB) */
  maxBodyBytes?: number;
  /**
   * Longest a request may take before it is answered 504 `REQUEST_TIMEOUT`, in ms. Keep it above the dispatcher's
   * `sendTimeoutMs`, so a send is not cut short while a provider is being tried. @default 120000
   */
  requestTimeoutMs?: number;
  /**
   * What `GET /healthz` checks; a rejection (or no answer within 5 s) answers 503. `messagepipe serve` queries the
   * database. @default a sender read through the dispatcher (cached for up to its cache TTL)
   */
  health?: () => Promise<unknown>;
  /** Where unexpected errors are logged (never sent to clients). @default the dispatcher's default logger */
  logger?: Logger;
  /** The in-process `Idempotency-Key` memory used without a queue. */
  idempotency?: IdempotencyOptions;
  /** `info` of the OpenAPI document. */
  openapi?: { title?: string; version?: string; description?: string };
}

/** Paths that answer without authentication. (Provider webhooks, authenticated by signature, belong here too.) */
export const PUBLIC_PATHS: readonly string[] = ['/healthz', '/openapi.json'];

const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
const HEALTH_TIMEOUT_MS = 5_000;
const JSON_TYPE = /^application\/json\s*(?:;\s*charset="?utf-8"?\s*)?$/i;

/**
 * The REST API of MessagePipe as a Hono app: `app.fetch(request)` is a fetch-standard handler, so it mounts in Node
 * (`@hono/node-server`), Bun, Deno, Next.js route handlers or anything with a fetch bridge. Every route works
 * through `dispatcher` (the same validation, errors, sealing and failover as the SDK); errors answer
 * `{"error":{"code","message","issues"?,"attempts"?}}` with the statuses of the README's table.
 *
 * @example
 * ```ts
 * import { serve } from '@hono/node-server';
 * import { createHttpApi } from 'messagepipe/http';
 *
 * const app = createHttpApi({ dispatcher: pipe, auth: { jwt: { secret: process.env.JWT_SECRET! } } });
 * serve({ fetch: app.fetch, port: 3000 });
 * ```
 *
 * @throws `CONFIG_INVALID` without an `auth` option, or with JWT options that cannot work.
 */
export function createHttpApi(options: HttpApiOptions): HttpApi {
  const logger = options.logger ?? defaultLogger;
  const authenticate = createAuthenticator(options.auth);
  const pipe = options.dispatcher;
  const app: HttpApi = new OpenAPIHono<HttpApiEnv>();
  const check =
    options.health ?? (() => pipe.senders.get({ projectId: 'messagepipe-health', channel: 'email' }));

  app.onError((error, c) => errorResponse(c, error, logger));
  app.notFound((c) => errorResponse(c, new HttpApiError('NOT_FOUND' as never, 'No such route'), logger));

  app.use('*', timeout(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS));
  app.use('*', async (c, next) => {
    if (!isPublic(c.req.path)) c.set('auth', await authenticate(c.req.raw));
    await next();
  });
  app.use('*', strictJson);
  app.use(
    '*',
    bodyLimit({
      maxSize: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      onError: () => {
        throw new HttpApiError(
          'PAYLOAD_TOO_LARGE',
          `The body is larger than ${options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes`,
        );
      },
    }),
  );

  const context: RouteContext = {
    app,
    pipe,
    queue: options.queue,
    logger,
    sends: new IdempotentSends(options.idempotency),
    health: () => withDeadline(check(), HEALTH_TIMEOUT_MS),
  };
  // One module per area; a new area (say, provider webhooks) is one more module here.
  for (const channel of ['email', 'sms'] as const) {
    senderRoutes(context, channel);
    providerRoutes(context, channel);
  }
  messageRoutes(context);
  monitoringRoutes(context);
  webhookRoutes(context);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: options.openapi?.title ?? 'MessagePipe',
      version: options.openapi?.version ?? '1',
      ...(options.openapi?.description ? { description: options.openapi.description } : {}),
    },
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
  });
  return app;
}

/** A body, when there is one, must be JSON: no form or text body reaches a route. */
const strictJson: MiddlewareHandler = async (c, next) => {
  // Providers post their events as JSON or as forms (Twilio); the webhook route reads the raw bytes.
  if (c.req.path.startsWith(WEBHOOK_PATH_PREFIX)) return next();
  const length = c.req.header('content-length');
  const hasBody =
    c.req.raw.body !== null &&
    (c.req.header('transfer-encoding') !== undefined || (length !== undefined && length !== '0'));
  if (hasBody && !JSON_TYPE.test(c.req.header('content-type') ?? '')) {
    throw new HttpApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
  }
  await next();
};

/** Routes without a bearer token: health, the OpenAPI document, and webhooks (verified by their signatures). */
function isPublic(path: string): boolean {
  return PUBLIC_PATHS.includes(path) || path.startsWith(WEBHOOK_PATH_PREFIX);
}

function timeout(ms: number): MiddlewareHandler {
  return async (_c, next) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpApiError('REQUEST_TIMEOUT', `The request took longer than ${ms} ms`)),
        ms,
      );
    });
    try {
      await Promise.race([next(), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`No answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
