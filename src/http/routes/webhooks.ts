import { createRoute, z } from '@hono/zod-openapi';
import type { RouteContext } from '../context';

/** Where provider webhooks arrive: authenticated by the provider's own signature, not by a bearer token. */
export const WEBHOOK_PATH_PREFIX = '/webhooks/';

const webhookParams = z.object({
  provider: z
    .string()
    .min(1)
    .max(50)
    .openapi({ param: { name: 'provider', in: 'path' }, example: 'sendgrid' }),
  providerConfigId: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: 'providerConfigId', in: 'path' } }),
});

const text = (description: string) => ({ description, content: { 'text/plain': { schema: z.string() } } });

/**
 * `POST /webhooks/{provider}/{providerConfigId}`: a provider's delivery events, verified with the provider's own
 * scheme (signature, HMAC or basic auth, as the config says) by `pipe.webhooks`, normalised and correlated with the
 * send. The provider config names the project, so the URL carries no token.
 */
export function webhookRoutes({ app, pipe }: RouteContext): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/webhooks/{provider}/{providerConfigId}',
      tags: ['Delivery events'],
      summary: "A provider's delivery events (point the provider's webhook here; no bearer token)",
      security: [],
      request: { params: webhookParams },
      responses: {
        200: {
          description: 'Verified; the events were recorded',
          content: {
            'application/json': { schema: z.object({ received: z.number(), duplicates: z.number() }) },
          },
        },
        400: text('Verified, but the body could not be read'),
        401: text('Verification failed: nothing was read'),
        404: text('No such provider config, or its provider sends no webhooks'),
        500: text('The events could not be recorded: the provider retries later'),
      },
    }),
    async (c) => {
      const { provider, providerConfigId } = c.req.valid('param');
      // The client address, for Postmark's optional IP allow-list (set when served by @hono/node-server).
      const socket = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming
        ?.socket;
      const handler = pipe.webhooks.fetchHandler({
        provider,
        providerConfigId,
        remoteAddress: () => socket?.remoteAddress,
      });
      const response = await handler(c.req.raw);
      if (response.status === 200) {
        return c.json((await response.json()) as { received: number; duplicates: number }, 200);
      }
      return c.text(await response.text(), response.status as 400 | 401 | 404 | 500);
    },
  );
}
