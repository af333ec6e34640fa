import { createRoute } from '@hono/zod-openapi';
import { isMessagePipeError, MessagePipeError, type SendInput, type SentMessageRecord } from 'messagepipe';
import type { SendJobOutcome } from '../../queue/index';
import { projectOf } from '../auth';
import { invalidAs, type RouteContext } from '../context';
import { HttpApiError } from '../errors';
import { queuedJobId } from '../idempotency';
import {
  errorSchema,
  idempotencyHeader,
  idParam,
  jobSchema,
  messageBody,
  projectQuery,
  queuedSchema,
  sendQuery,
  sendResultSchema,
} from '../schemas';
import { errorResponses, jsonBody, jsonContent } from './shared';

const MAX_KEY_LENGTH = 200;

/** `POST /messages` and `GET /messages/{id}`: sending, right away or through the queue. */
export function messageRoutes({ app, pipe, queue, sends }: RouteContext): void {
  const errors = errorResponses(errorSchema);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/messages',
      tags: ['Messages'],
      summary:
        'Sends a message through the project providers, with failover. With a queue configured, it is queued (202).',
      request: { query: sendQuery, headers: idempotencyHeader, body: jsonBody(messageBody) },
      responses: {
        200: jsonContent(sendResultSchema, 'Sent (no queue configured)'),
        202: jsonContent(queuedSchema, 'Queued: GET /messages/{id} tells the outcome'),
        ...errors,
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const projectId = projectOf(c.get('auth'), query.projectId);
      const key = idempotencyKeyOf(c.req.valid('header')['idempotency-key']);
      const body = c.req.valid('json');
      const input = { ...body, projectId } as SendInput;
      const ignoreSuppression = query.ignoreSuppression === 'true';
      const override = ignoreSuppression ? { ignoreSuppression } : {};
      if (queue) {
        const job = await queue.enqueue(input, {
          ...override,
          ...(key === undefined ? {} : { idempotencyKey: queuedJobId(projectId, key) }),
        });
        return c.json({ id: job.idempotencyKey, status: 'queued' as const }, 202);
      }
      // Here a key reused with the override switched is a different request (409), like one with another message.
      // The queue above keeps the first job of a key, whatever is enqueued under it later.
      const request = ignoreSuppression ? { body, ignoreSuppression } : body;
      const result =
        key === undefined
          ? await pipe.send(input, override)
          : await sends.run(projectId, key, request, () =>
              pipe.send(input, { ...override, idempotencyKey: key }),
            );
      return c.json(result, 200);
    },
    invalidAs('MESSAGE_INVALID'),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/messages/{id}',
      tags: ['Messages'],
      summary:
        'The outcome of a queued message: queued, sent (provider, messageId, attempts) or failed (code)',
      request: { query: projectQuery, params: idParam },
      responses: { 200: jsonContent(jobSchema, 'The outcome so far'), ...errors },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const { id } = c.req.valid('param');
      const notFound = new MessagePipeError('NOT_FOUND', `No message ${id} in this project`);
      if (!queue) {
        // Sent right away: the message log knows it by its idempotency key or by the provider's message id.
        const view =
          (await deliveryOf(pipe, projectId, { idempotencyKey: id })) ??
          (await deliveryOf(pipe, projectId, { messageId: id }));
        if (!view?.send) throw notFound;
        const { send, ...delivery } = view;
        return c.json(
          {
            id,
            status: 'sent' as const,
            provider: send.provider,
            providerConfigId: send.providerConfigId,
            messageId: send.messageId,
            attempts: [],
            ...(send.suppressed ? { suppressed: send.suppressed } : {}),
            ...(send.suppressionIgnored ? { suppressionIgnored: send.suppressionIgnored } : {}),
            delivery,
          },
          200,
        );
      }
      const job = queue.job(id);
      const outcome: SendJobOutcome | undefined = await job.outcome();
      if (outcome) {
        if (outcome.projectId !== projectId) throw notFound;
        const { idempotencyKey: _key, projectId: _project, runs: _runs, ...rest } = outcome;
        const view =
          rest.status === 'sent' ? await deliveryOf(pipe, projectId, { idempotencyKey: id }) : undefined;
        return c.json(
          { id, ...rest, ...(view ? { delivery: { state: view.state, events: view.events } } : {}) },
          200,
        );
      }
      const bullJob = await queue.bullQueue.getJob(id);
      if (!bullJob || bullJob.data?.input?.projectId !== projectId) throw notFound;
      const [state, progress] = await Promise.all([job.state(), job.progress()]);
      return c.json({ id, status: 'queued' as const, state, attempts: progress?.attempts ?? [] }, 200);
    },
    invalidAs('MESSAGE_INVALID'),
  );
}

/** A send's delivery events from the message log, or undefined when the log does not know it (or there is none). */
async function deliveryOf(
  pipe: RouteContext['pipe'],
  projectId: string,
  query: { idempotencyKey: string } | { messageId: string },
): Promise<{ send?: SentMessageRecord; state: string; events: Record<string, unknown>[] } | undefined> {
  try {
    const view = await pipe.messages.get({ projectId, ...query });
    return { ...view, events: view.events.map((event) => ({ ...event })) };
  } catch (error) {
    if (isMessagePipeError(error) && ['NOT_FOUND', 'NOT_SUPPORTED', 'CONFIG_INVALID'].includes(error.code))
      return undefined;
    throw error;
  }
}

function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // Printable ASCII only: the key travels to providers and into queue job ids.
  if (header.length === 0 || header.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(header)) {
    throw new HttpApiError(
      'BAD_REQUEST',
      `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable characters`,
      {
        issues: [{ path: ['header', 'idempotency-key'], message: 'Invalid idempotency key' }],
      },
    );
  }
  return header;
}
