import { type Logger, loadOptional } from './adapter';
import { isMessagePipeError } from './errors';
import type { SendEventBase } from './events';
import type { Attempt, SendResult } from './types';

type AttributeValue = string | number | boolean;

/** The part of an OpenTelemetry `Span` MessagePipe uses. */
export interface SpanLike {
  setAttribute(key: string, value: AttributeValue): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(endTime?: number): void;
}

/** The part of an OpenTelemetry `Tracer` MessagePipe uses. */
export interface TracerLike {
  startSpan(
    name: string,
    options?: { attributes?: Record<string, AttributeValue>; startTime?: number },
    context?: unknown,
  ): SpanLike;
}

/** Options of the OpenTelemetry integration. */
export interface TracingOptions {
  /** The tracer to use. @default trace.getTracer('messagepipe') from `@opentelemetry/api` */
  tracer?: TracerLike;
}

interface OtelApi {
  trace: {
    getTracer(name: string): TracerLike;
    setSpan(context: unknown, span: SpanLike): unknown;
  };
  context: { active(): unknown };
}

// SpanStatusCode of @opentelemetry/api.
const STATUS_OK = 1;
const STATUS_ERROR = 2;

/** The span of one send; attempts become child spans. */
export interface SendSpan {
  attempt(attempt: Attempt): void;
  end(result?: SendResult, error?: unknown): void;
}

/**
 * OpenTelemetry spans for sends: `messagepipe.send` per send and a `messagepipe.attempt` child per attempt, with the
 * provider, outcome and error code as attributes. No secret and no message content is ever recorded.
 * `@opentelemetry/api` is loaded on the first traced send. Observability never stops a send: when the package
 * cannot be loaded, tracing turns itself off with one warning and every send goes on untraced.
 */
export class Tracing {
  readonly #options: TracingOptions;
  readonly #logger: Logger;
  #api: Promise<OtelApi | undefined> | undefined;
  #unavailable = false;

  constructor(options: TracingOptions, logger: Logger) {
    this.#options = options;
    this.#logger = logger;
  }

  /** True once `@opentelemetry/api` turned out not to load: sends skip tracing from then on. */
  get unavailable(): boolean {
    return this.#unavailable;
  }

  /** The span of a send, or undefined when tracing is unavailable. */
  async startSend(base: SendEventBase): Promise<SendSpan | undefined> {
    this.#api ??= loadOptional('@opentelemetry/api', 'tracing', () => import('@opentelemetry/api')).then(
      (module) => module as unknown as OtelApi,
      (error: unknown) => {
        this.#unavailable = true;
        const reason = error instanceof Error ? error.message : String(error);
        this.#logger.warn(
          `Tracing is off: @opentelemetry/api could not be loaded; sends go on untraced. ${reason}`,
        );
        return undefined;
      },
    );
    const api = await this.#api;
    if (!api) return undefined;
    const tracer = this.#options.tracer ?? api.trace.getTracer('messagepipe');
    const sendSpan = tracer.startSpan('messagepipe.send', {
      attributes: {
        'messagepipe.project_id': base.projectId,
        'messagepipe.channel': base.channel,
        'messagepipe.idempotency_key': base.idempotencyKey,
      },
    });
    const parent = api.trace.setSpan(api.context.active(), sendSpan);
    return {
      attempt(attempt) {
        const attributes: Record<string, AttributeValue> = {
          'messagepipe.provider': attempt.provider,
          'messagepipe.provider_config_id': attempt.providerConfigId,
          'messagepipe.outcome': attempt.outcome,
        };
        if (attempt.error) {
          attributes['messagepipe.error_code'] = attempt.error.code;
          attributes['messagepipe.failure_class'] = attempt.error.failureClass;
          if (attempt.error.status !== undefined) attributes['messagepipe.status'] = attempt.error.status;
          if (attempt.error.ambiguous) attributes['messagepipe.ambiguous'] = true;
        }
        const end = Date.now();
        const span = tracer.startSpan(
          'messagepipe.attempt',
          { attributes, startTime: end - attempt.durationMs },
          parent,
        );
        span.setStatus(
          attempt.outcome === 'failed'
            ? { code: STATUS_ERROR, message: attempt.error?.code }
            : { code: STATUS_OK },
        );
        span.end(end);
      },
      end(result, error) {
        if (result) {
          sendSpan.setAttribute('messagepipe.provider', result.provider);
          sendSpan.setAttribute('messagepipe.attempts', result.attempts.length);
          sendSpan.setStatus({ code: STATUS_OK });
        } else {
          const code = isMessagePipeError(error) ? error.code : 'UNKNOWN';
          sendSpan.setAttribute('messagepipe.error_code', code);
          sendSpan.setStatus({ code: STATUS_ERROR, message: code });
        }
        sendSpan.end();
      },
    };
  }
}
