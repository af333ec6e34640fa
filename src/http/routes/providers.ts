import { createRoute, type z } from '@hono/zod-openapi';
import { type Channel, type Dispatcher, MessagePipeError, type ProviderRecord } from 'messagepipe';
import { projectOf } from '../auth';
import { etagOf, invalidAs, type RouteContext, versionOf } from '../context';
import {
  attemptSchema,
  deletedSchema,
  domainsSchema,
  emailTestBody,
  errorSchema,
  idParam,
  ifMatchHeader,
  jsonSchemaMap,
  jsonSchemaSchema,
  projectQuery,
  providerBody,
  providerListSchema,
  providerParam,
  providerPatchBody,
  providerRecordSchema,
  smsTestBody,
  validationResultSchema,
  writeQuery,
} from '../schemas';
import { errorResponses, jsonBody, jsonContent } from './shared';

/**
 * `/email-config/provider-schemas…` and `/email-config/providers…` (the same under `/sms-config`): provider
 * records of a project, with their credential checks, domains and test sends.
 */
export function providerRoutes({ app, pipe }: RouteContext, channel: Channel): void {
  const base = `/${channel}-config`;
  const tags = [channel === 'email' ? 'Email providers' : 'SMS providers'];
  const hook = invalidAs('CONFIG_INVALID');
  const errors = errorResponses(errorSchema);
  const recordResponse = (description: string) => jsonContent(providerRecordSchema, description);

  app.openapi(
    createRoute({
      method: 'get',
      path: `${base}/provider-schemas`,
      tags,
      summary: `JSON Schemas of every ${channel} provider's config, by provider (secrets are writeOnly)`,
      responses: { 200: jsonContent(jsonSchemaMap, 'The schemas'), ...errors },
    }),
    (c) => c.json(pipe.schemas(channel), 200),
    hook,
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: `${base}/provider-schemas/{provider}`,
      tags,
      summary: `JSON Schema of one ${channel} provider's config`,
      request: { params: providerParam },
      responses: { 200: jsonContent(jsonSchemaSchema, 'The schema'), ...errors },
    }),
    (c) => c.json(pipe.schema(channel, c.req.valid('param').provider), 200),
    hook,
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: `${base}/providers`,
      tags,
      summary: `Adds a ${channel} provider; its credentials are checked first unless ?verify=false`,
      request: { query: writeQuery, body: jsonBody(providerBody) },
      responses: { 201: recordResponse('The new record (no secret values)'), ...errors },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const projectId = projectOf(c.get('auth'), query.projectId);
      const record = await pipe.providers.add(
        { ...c.req.valid('json'), projectId, channel },
        { verify: query.verify !== 'false' },
      );
      c.header('ETag', etagOf(record.version));
      return c.json(record, 201);
    },
    hook,
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: `${base}/providers`,
      tags,
      summary: `The project's ${channel} providers, in failover order (priority)`,
      request: { query: projectQuery },
      responses: { 200: jsonContent(providerListSchema, 'The records'), ...errors },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      return c.json({ data: await pipe.providers.list({ projectId, channel }) }, 200);
    },
    hook,
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: `${base}/providers/{id}`,
      tags,
      summary: `One ${channel} provider`,
      request: { query: projectQuery, params: idParam },
      responses: { 200: recordResponse('The record'), ...errors },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const record = await recordOf(pipe, channel, projectId, c.req.valid('param').id);
      c.header('ETag', etagOf(record.version));
      return c.json(record, 200);
    },
    hook,
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: `${base}/providers/{id}`,
      tags,
      summary: `Changes a ${channel} provider; secrets left out of config keep their stored values`,
      request: {
        query: writeQuery,
        params: idParam,
        headers: ifMatchHeader,
        body: jsonBody(providerPatchBody),
      },
      responses: { 200: recordResponse('The changed record'), ...errors },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const projectId = projectOf(c.get('auth'), query.projectId);
      const { id } = c.req.valid('param');
      const version = versionOf(c.req.valid('header')['if-match']);
      await recordOf(pipe, channel, projectId, id);
      const record = await pipe.providers.update(
        { projectId, id, ...(version === undefined ? {} : { version }) },
        c.req.valid('json'),
        { verify: query.verify !== 'false' },
      );
      c.header('ETag', etagOf(record.version));
      return c.json(record, 200);
    },
    hook,
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: `${base}/providers/{id}`,
      tags,
      summary: `Removes a ${channel} provider`,
      request: { query: projectQuery, params: idParam, headers: ifMatchHeader },
      responses: { 200: jsonContent(deletedSchema, 'Removed'), ...errors },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const { id } = c.req.valid('param');
      const version = versionOf(c.req.valid('header')['if-match']);
      await recordOf(pipe, channel, projectId, id);
      await pipe.providers.remove({ projectId, id, ...(version === undefined ? {} : { version }) });
      return c.json({ id, deleted: true as const }, 200);
    },
    hook,
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: `${base}/providers/{id}/validate`,
      tags,
      summary: 'Checks the stored credentials with the provider again, and records the outcome',
      request: { query: projectQuery, params: idParam },
      responses: { 200: jsonContent(validationResultSchema, 'The outcome'), ...errors },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const { id } = c.req.valid('param');
      await recordOf(pipe, channel, projectId, id);
      return c.json(await pipe.providers.validate({ projectId, id }), 200);
    },
    hook,
  );

  if (channel === 'email') {
    app.openapi(
      createRoute({
        method: 'get',
        path: `${base}/providers/{id}/domains`,
        tags,
        summary: 'Sending domains (or senders) and their verification state, for providers that can tell',
        request: { query: projectQuery, params: idParam },
        responses: { 200: jsonContent(domainsSchema, 'The domains'), ...errors },
      }),
      async (c) => {
        const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
        const { id } = c.req.valid('param');
        await recordOf(pipe, channel, projectId, id);
        return c.json({ data: await pipe.providers.domains({ projectId, id }) }, 200);
      },
      hook,
    );
  }

  const testBody: z.ZodType = channel === 'email' ? emailTestBody : smsTestBody;
  app.openapi(
    createRoute({
      method: 'post',
      path: `${base}/providers/{id}/test`,
      tags,
      summary:
        'Sends one message through this provider only (enabled or not; no failover, no retries) and answers the attempt',
      request: { query: projectQuery, params: idParam, body: jsonBody(testBody) },
      responses: {
        200: jsonContent(attemptSchema, 'The attempt: sent with a message id, or failed'),
        ...errors,
      },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const { id } = c.req.valid('param');
      await recordOf(pipe, channel, projectId, id);
      const message = c.req.valid('json') as Parameters<Dispatcher['providers']['test']>[1];
      return c.json(await pipe.providers.test({ projectId, id }, message), 200);
    },
    invalidAs('MESSAGE_INVALID'),
  );
}

/** The record, if the project has it on this channel (an SMS provider is not found under /email-config). */
async function recordOf(
  pipe: Dispatcher,
  channel: Channel,
  projectId: string,
  id: string,
): Promise<ProviderRecord> {
  const record = await pipe.providers.get({ projectId, id });
  if (record.channel !== channel)
    throw new MessagePipeError('NOT_FOUND', `No provider ${id} in this project`);
  return record;
}
