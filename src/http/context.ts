import type { OpenAPIHono, z } from '@hono/zod-openapi';
import { type CoreErrorCode, type Dispatcher, type Logger, MessagePipeError, toIssues } from 'messagepipe';
import type { SendQueue } from '../queue/index';
import type { AuthResult } from './auth';
import { HttpApiError } from './errors';
import type { IdempotentSends } from './idempotency';

/** The Hono environment of the API: what middleware puts on the context for the routes. */
export interface HttpApiEnv {
  Variables: {
    /** Who the request is (set by the auth middleware on every route but the public ones). */
    auth: AuthResult;
  };
}

/** The API's Hono app. */
export type HttpApi = OpenAPIHono<HttpApiEnv>;

/** What every route module gets: the app to add its routes to, and the parts it works with. */
export interface RouteContext {
  app: HttpApi;
  pipe: Dispatcher;
  queue: SendQueue | undefined;
  logger: Logger;
  sends: IdempotentSends;
  health: () => Promise<unknown>;
}

/**
 * The hook that turns a failed request validation into the core's error: the route's code (`CONFIG_INVALID`,
 * `MESSAGE_INVALID`, `SENDER_INVALID`) with field paths, body paths as the core reports them.
 */
export function invalidAs(
  code: CoreErrorCode,
): (result: { success: boolean; error?: z.ZodError; target: string }) => undefined {
  return (result) => {
    if (result.success || !result.error) return undefined;
    const prefix = result.target === 'json' ? [] : [result.target];
    const issues = toIssues(result.error).map((issue) => ({ ...issue, path: [...prefix, ...issue.path] }));
    const summary = issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    throw new MessagePipeError(code, `Invalid request: ${summary}`, { issues });
  };
}

/** The version an `If-Match` header asks for: `3`, `"3"` or `W/"3"`; none for `*` or no header. */
export function versionOf(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined || ifMatch.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(ifMatch);
  if (!match || Number(match[1]) < 1) {
    throw new HttpApiError('BAD_REQUEST', 'If-Match must be a record version, such as "3"', {
      issues: [{ path: ['header', 'if-match'], message: 'Expected a version number' }],
    });
  }
  return Number(match[1]);
}

/** The `ETag` of a record version. */
export function etagOf(version: number): string {
  return `"${version}"`;
}
