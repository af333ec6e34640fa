import type { Logger } from './adapter';
import type { MessagePipeError } from './errors';
import type { BreakerState } from './failover/breaker';
import type { Attempt, Channel, SendResult } from './types';

/** Identifies the send an event belongs to. */
export interface SendEventBase {
  projectId: string;
  channel: Channel;
  idempotencyKey: string;
}

/** Events emitted by a dispatcher, by name. Payloads never hold secrets or message content. */
export interface DispatcherEvents {
  /** An attempt is about to call a provider. */
  'attempt:start': SendEventBase & { providerConfigId: string; provider: string; attemptNumber: number };
  /** An attempt finished, successfully or not. */
  'attempt:finish': SendEventBase & { attempt: Attempt; attemptNumber: number };
  /** The dispatcher gave up on one provider and moves on to the next. */
  failover: SendEventBase & { from: Attempt; toProviderConfigId: string; toProvider: string };
  /** A send succeeded. */
  'send:success': SendEventBase & { result: SendResult };
  /** A send failed; `error.attempts` lists what was tried. */
  'send:failure': SendEventBase & { error: MessagePipeError; attempts: Attempt[] };
  /** A transient failure will be retried on the same provider after `delayMs`. */
  'retry:scheduled': SendEventBase & { attempt: Attempt; delayMs: number; retryNumber: number };
  /** A provider config's circuit opened: it is skipped until its cool-down ends. */
  'breaker:open': BreakerEvent;
  /** A provider config's cool-down ended: one probe is let through. */
  'breaker:half-open': BreakerEvent;
  /** A provider config's circuit closed again after a successful probe. */
  'breaker:close': BreakerEvent;
}

/** Payload of the circuit breaker events. */
export interface BreakerEvent {
  /** The project the provider config belongs to. */
  projectId: string;
  providerConfigId: string;
  provider: string;
  state: BreakerState;
}

/** Name of a dispatcher event. */
export type DispatcherEventName = keyof DispatcherEvents;

/** A minimal typed event emitter. A listener that throws is logged and never breaks a send. */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<E extends keyof Events>(event: E, listener: (payload: Events[E]) => void): () => void {
    let listeners = this.#listeners.get(event);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(event, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  /** True when someone listens, so callers can skip building a payload nobody reads. */
  has(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const listeners = this.#listeners.get(event);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        (listener as (payload: Events[E]) => void)(payload);
      } catch (error) {
        this.#logger.warn(`A listener of "${String(event)}" threw`, {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }
}
