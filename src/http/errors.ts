import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import {
  type Attempt,
  type ErrorCode,
  isMessagePipeError,
  isProviderError,
  type Logger,
  type ValidationIssue,
} from 'messagepipe';

/** Codes the HTTP layer adds to the core's, for what only HTTP has (tokens, bodies, routes). */
export type HttpErrorCode =
  | 'BAD_REQUEST'
  | 'PROJECT_REQUIRED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'REQUEST_TIMEOUT'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_ERROR';

/** The body of every error response. */
export interface ErrorBody {
  error: {
    code: ErrorCode | HttpErrorCode;
    message: string;
    issues?: ValidationIssue[];
    attempts?: Attempt[];
  };
}

/** An error of the HTTP layer, with the status it answers. */
export class HttpApiError extends Error {
  readonly code: HttpErrorCode;
  readonly status: number;
  readonly issues?: ValidationIssue[];
  readonly headers?: Record<string, string>;

  constructor(
    code: HttpErrorCode,
    message: string,
    options: { issues?: ValidationIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpApiError';
    this.code = code;
    this.status = HTTP_STATUS[code] ?? 500;
    if (options.issues) this.issues = options.issues;
    if (options.headers) this.headers = options.headers;
  }
}

/**
 * The status of every error code: the table in the README ("Run it as a service"). Provider failures not listed
 * (a provider that could not be reached to check credentials or list domains) answer 502; anything else 500.
 */
export const HTTP_STATUS: Readonly<Partial<Record<ErrorCode | HttpErrorCode, number>>> = {
  CONFIG_INVALID: 400,
  MESSAGE_INVALID: 400,
  SENDER_INVALID: 400,
  PROJECT_REQUIRED: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  CHANNEL_DISABLED: 409,
  NO_PROVIDERS: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PROVIDER_INVALID_CREDENTIALS: 422,
  RECIPIENT_INVALID: 422,
  RECIPIENT_SUPPRESSED: 422,
  MESSAGE_REJECTED: 422,
  NOT_SUPPORTED: 422,
  ALL_PROVIDERS_FAILED: 502,
  ABORTED: 503,
  DISPATCHER_CLOSED: 503,
  SERVICE_UNAVAILABLE: 503,
  REQUEST_TIMEOUT: 504,
  SECRET_KEY_MISSING: 500,
  SECRET_INVALID: 500,
  INTERNAL_ERROR: 500,
};

/** The status and body an error answers with. Never a stack, a secret or a store's raw error text. */
export function toErrorResponse(error: unknown, logger: Logger): { status: number; body: ErrorBody } {
  if (error instanceof HttpApiError) {
    return { status: error.status, body: bodyOf(error.code, error.message, error.issues) };
  }
  if (isMessagePipeError(error)) {
    const status = HTTP_STATUS[error.code] ?? (isProviderError(error) ? 502 : 500);
    if (status >= 500 && !isProviderError(error)) {
      logger.warn('HTTP API: request failed', { code: error.code, error: error.message });
    }
    return { status, body: bodyOf(error.code, error.message, error.issues, error.attempts) };
  }
  if (error instanceof HTTPException) {
    // Hono's own: a body that is not JSON (400), or anything thrown with a status by middleware.
    if (error.status === 400)
      return { status: 400, body: bodyOf('BAD_REQUEST', 'The body is not valid JSON') };
    if (error.status === 413)
      return { status: 413, body: bodyOf('PAYLOAD_TOO_LARGE', 'The body is too large') };
  }
  // A store that is down, a bug: logged here, never shown (the text may hold hosts, SQL or data).
  logger.warn('HTTP API: unexpected error', {
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  return { status: 500, body: bodyOf('INTERNAL_ERROR', 'Internal server error') };
}

function bodyOf(
  code: ErrorCode | HttpErrorCode,
  message: string,
  issues?: ValidationIssue[],
  attempts?: Attempt[],
): ErrorBody {
  const error: ErrorBody['error'] = { code, message };
  if (issues && issues.length > 0) error.issues = issues;
  if (attempts && attempts.length > 0) error.attempts = attempts;
  return { error };
}

/** Answers an error as JSON (the app's one error handler). */
export function errorResponse(c: Context, error: unknown, logger: Logger): Response {
  const { status, body } = toErrorResponse(error, logger);
  const response = c.json(body, status as 400);
  if (error instanceof HttpApiError && error.headers) {
    for (const [name, value] of Object.entries(error.headers)) response.headers.set(name, value);
  }
  return response;
}
