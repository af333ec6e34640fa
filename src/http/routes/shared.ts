import type { z } from '@hono/zod-openapi';

/** A required JSON request body. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { 'application/json': { schema } } } as const;
}

/** A JSON response. */
export function jsonContent<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } } as const;
}

/** The error responses every authenticated route can give (see the status table in the README). */
export function errorResponses<T extends z.ZodType>(schema: T) {
  const error = (description: string) => jsonContent(schema, description);
  return {
    400: error(
      'Invalid input (CONFIG_INVALID, MESSAGE_INVALID, SENDER_INVALID, PROJECT_REQUIRED, BAD_REQUEST)',
    ),
    401: error('Missing or bad token (UNAUTHORIZED)'),
    403: error('The token may not use this project (FORBIDDEN)'),
    404: error('No such record in this project (NOT_FOUND)'),
    409: error('CONFLICT, CHANNEL_DISABLED, NO_PROVIDERS'),
    413: error('The body is larger than the limit (PAYLOAD_TOO_LARGE)'),
    415: error('The body is not application/json (UNSUPPORTED_MEDIA_TYPE)'),
    422: error(
      'PROVIDER_INVALID_CREDENTIALS, RECIPIENT_INVALID, RECIPIENT_SUPPRESSED, MESSAGE_REJECTED, NOT_SUPPORTED',
    ),
    502: error('ALL_PROVIDERS_FAILED, an ambiguous stop, or a provider that could not be reached'),
  } as const;
}
