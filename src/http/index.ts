/**
 * The REST API of MessagePipe as an embeddable Hono app (`createHttpApi`), with JWT authentication (`jose`) and an
 * OpenAPI 3.1 document generated from the core's Zod schemas. Needs the optional peer dependencies `hono` and
 * `@hono/zod-openapi`, and `jose` for JWT authentication. `messagepipe serve` runs it as a server.
 *
 * @packageDocumentation
 */
export { createHttpApi, type HttpApiOptions, PUBLIC_PATHS } from './app';
export type { AuthFunction, AuthResult, HttpAuthOption, JwtAuthOptions } from './auth';
export type { HttpApi, HttpApiEnv } from './context';
export { type ErrorBody, HTTP_STATUS, HttpApiError, type HttpErrorCode } from './errors';
export type { IdempotencyOptions } from './idempotency';
