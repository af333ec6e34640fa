import { createRoute } from '@hono/zod-openapi';
import type { ProviderStats } from 'messagepipe';
import { projectOf } from '../auth';
import { invalidAs, type RouteContext } from '../context';
import { errorSchema, healthSchema, projectQuery, statsSchema } from '../schemas';
import { errorResponses, jsonContent } from './shared';

/** `GET /providers/stats` (the project's records only) and `GET /healthz` (public). */
export function monitoringRoutes({ app, pipe, health, logger }: RouteContext): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/providers/stats',
      tags: ['Monitoring'],
      summary:
        "Counters, latency and circuit breaker state of each of the project's providers, in this process",
      request: { query: projectQuery },
      responses: { 200: jsonContent(statsSchema, 'Per provider config'), ...errorResponses(errorSchema) },
    }),
    async (c) => {
      const projectId = projectOf(c.get('auth'), c.req.valid('query').projectId);
      const records = await pipe.providers.list({ projectId });
      // Stats and breakers are kept per (projectId, id): only this project's entries are read.
      const stats = new Map(
        pipe
          .stats()
          .filter((entry) => entry.projectId === projectId)
          .map((entry) => [entry.providerConfigId, entry]),
      );
      const data = records.map((record) => {
        const {
          projectId: _project,
          providerConfigId: _id,
          provider: _provider,
          ...figures
        } = stats.get(record.id) ?? empty();
        return {
          providerConfigId: record.id,
          provider: record.provider,
          channel: record.channel,
          name: record.name,
          enabled: record.enabled,
          priority: record.priority,
          ...figures,
          breaker: pipe.breakers.state({ projectId, id: record.id }),
        };
      });
      return c.json({ data }, 200);
    },
    invalidAs('CONFIG_INVALID'),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags: ['Monitoring'],
      summary: 'Liveness and store reachability (no authentication)',
      responses: {
        200: jsonContent(healthSchema, 'The store answers'),
        503: jsonContent(healthSchema, 'The store does not answer'),
      },
    }),
    async (c) => {
      try {
        await health();
        return c.json({ status: 'ok' as const }, 200);
      } catch (error) {
        logger.warn('Health check failed', { error: error instanceof Error ? error.message : String(error) });
        return c.json({ status: 'unavailable' as const }, 503);
      }
    },
  );
}

function empty(): ProviderStats {
  return {
    projectId: '',
    providerConfigId: '',
    provider: '',
    attempts: 0,
    successes: 0,
    failures: { transient: 0, provider: 0, message: 0 },
    skipped: 0,
    latencyMs: { p50: 0, p90: 0, p99: 0, max: 0, samples: 0 },
  };
}
