import { createRoute } from '@hono/zod-openapi';
import { type Channel, MessagePipeError, type SenderInput } from 'messagepipe';
import { projectOf } from '../auth';
import { invalidAs, type RouteContext } from '../context';
import {
  emailSenderBody,
  emailSenderPatch,
  errorSchema,
  projectQuery,
  senderSchema,
  smsSenderBody,
  smsSenderPatch,
} from '../schemas';
import { errorResponses, jsonBody, jsonContent } from './shared';

/** `GET|POST|PUT /email-config` and `/sms-config`: the project's sender configuration of a channel. */
export function senderRoutes({ app, pipe }: RouteContext, channel: Channel): void {
  const base = `/${channel}-config`;
  const tag = channel === 'email' ? 'Email' : 'SMS';
  const body = channel === 'email' ? emailSenderBody : smsSenderBody;
  const patch = channel === 'email' ? emailSenderPatch : smsSenderPatch;
  const hook = invalidAs('SENDER_INVALID');

  app.openapi(
    createRoute({
      method: 'get',
      path: base,
      tags: [tag],
      summary: `The project's ${channel} sender configuration`,
      request: { query: projectQuery },
      responses: {
        200: jsonContent(senderSchema, 'The sender configuration'),
        ...errorResponses(errorSchema),
      },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const sender = await pipe.senders.get({ projectId, channel });
      if (!sender)
        throw new MessagePipeError('NOT_FOUND', `No ${channel} sender configuration in this project`);
      return c.json(sender, 200);
    },
    hook,
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: base,
      tags: [tag],
      summary: `Sets the project's ${channel} sender configuration`,
      request: { query: projectQuery, body: jsonBody(body) },
      responses: {
        201: jsonContent(senderSchema, 'The sender configuration'),
        ...errorResponses(errorSchema),
      },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const sender = await pipe.senders.set({ ...c.req.valid('json'), projectId, channel } as SenderInput);
      return c.json(sender, 201);
    },
    hook,
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: base,
      tags: [tag],
      summary: `Changes the project's ${channel} sender configuration; fields left out keep their values`,
      request: { query: projectQuery, body: jsonBody(patch) },
      responses: {
        200: jsonContent(senderSchema, 'The sender configuration'),
        ...errorResponses(errorSchema),
      },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const current = await pipe.senders.get({ projectId, channel });
      const { updatedAt: _updatedAt, ...kept } = current ?? {};
      const sender = await pipe.senders.set({
        ...kept,
        ...c.req.valid('json'),
        projectId,
        channel,
      } as SenderInput);
      return c.json(sender, 200);
    },
    hook,
  );
}
