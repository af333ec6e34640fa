import type { Logger } from '../adapter';
import { MessagePipeError } from '../errors';
import type { DispatcherEvents, Emitter } from '../events';
import type { EmailAddress, OutboundEmail, OutboundMessage, SendResult } from '../types';
import { correlationIdOf, normaliseRecipient } from './normalise';
import type { MessageLogStore, SentMessageRecord, SuppressionRecord } from './store';
import { SuppressionFilter } from './suppression-filter';
import type { DeliveryEvent, DeliveryEventType } from './types';

/**
 * Which delivery events put a recipient on the project's suppression list. Soft bounces never do unless asked:
 * a full mailbox today is a working one tomorrow.
 */
export interface AutoSuppressPolicy {
  /** `hard` (default): permanent bounces; `all`: soft ones too; `false`: none. */
  bounced?: 'hard' | 'all' | false;
  /** Spam complaints. @default true */
  complained?: boolean;
  /** Unsubscribes (email) and opt-outs / STOP replies (SMS). @default true */
  unsubscribed?: boolean;
  /** Messages the provider dropped without trying (it already suppresses the address). @default false */
  dropped?: boolean;
  /** SMS failures the provider calls permanent (an invalid number). @default false */
  failed?: boolean;
}

/** Options of the suppression list. */
export interface SuppressionOptions {
  /** Which events suppress a recipient automatically; `false` for none. */
  autoSuppress?: AutoSuppressPolicy | false;
  /**
   * How long the send-path copy of a project's list is reused before it is read again. Writes through this
   * dispatcher apply at once. @default the provider cache's `ttlMs` (5 s)
   */
  cacheTtlMs?: number;
  /** Projects with more suppressed recipients than this are checked with one store read per send. @default 1000000 */
  maxCachedEntries?: number;
}

/** What the send path learnt from the suppression list. */
export interface ScreenedMessage {
  message: OutboundMessage;
  /** Normalised recipients the message goes to. */
  recipients: string[];
  suppressed?: string[];
  suppressionIgnored?: string[];
}

/** The message log, the suppression list and the send-path check, shared by the APIs around them. */
export class DeliveryService {
  readonly store: MessageLogStore;
  readonly filter: SuppressionFilter;
  readonly #policy: Required<AutoSuppressPolicy> | false;
  /** Whether sends are checked against the list (`suppression: false` turns it off). */
  readonly #check: boolean;
  readonly #events: Emitter<DispatcherEvents>;
  readonly #logger: Logger;
  /** Send records on their way to the store: a send does not wait for them, reads do. */
  readonly #pending = new Set<Promise<void>>();

  constructor(
    store: MessageLogStore,
    options: SuppressionOptions & { cached: boolean; ttlMs: number; check?: boolean },
    events: Emitter<DispatcherEvents>,
    logger: Logger,
  ) {
    this.store = store;
    this.filter = new SuppressionFilter(store, {
      cached: options.cached,
      ttlMs: options.cacheTtlMs ?? options.ttlMs,
      maxEntries: options.maxCachedEntries ?? 1_000_000,
    });
    this.#check = options.check !== false;
    this.#policy =
      options.autoSuppress === false
        ? false
        : {
            bounced: 'hard',
            complained: true,
            unsubscribed: true,
            dropped: false,
            failed: false,
            ...options.autoSuppress,
          };
    this.#events = events;
    this.#logger = logger;
  }

  /**
   * Checks a message's recipients against the list before any provider is called: a single (or every primary)
   * recipient suppressed → `RECIPIENT_SUPPRESSED`; some of several → they are left out and listed. Answers without
   * waiting when the list is cached (or in this process). With the check off (`suppression: false`) it only
   * normalises the recipients, for the message log.
   */
  screen(
    projectId: string,
    message: OutboundMessage,
    ignoreSuppression: boolean,
  ): ScreenedMessage | Promise<ScreenedMessage> {
    const parts = recipientsOf(message);
    if (!this.#check) return { message, recipients: parts.all };
    const known = this.filter.suppressedNow(projectId, message.channel, parts.all);
    if (known) return decide(message, parts, known, ignoreSuppression);
    return this.filter
      .suppressed(projectId, message.channel, parts.all)
      .then((found) => decide(message, parts, found, ignoreSuppression));
  }

  /** Records a successful send without holding the send up; a failure to record is logged, never thrown. */
  recordSend(projectId: string, screened: ScreenedMessage, result: SendResult): void {
    const record: SentMessageRecord = {
      projectId,
      channel: screened.message.channel,
      providerConfigId: result.providerConfigId,
      provider: result.provider,
      messageId: result.messageId,
      correlationId: correlationIdOf(result.messageId),
      idempotencyKey: result.idempotencyKey,
      recipients: screened.recipients,
      sentAt: isoNow(),
    };
    if (screened.suppressed) record.suppressed = screened.suppressed;
    if (screened.suppressionIgnored) record.suppressionIgnored = screened.suppressionIgnored;
    // The built-in memory log takes the record as it is, at once: no copy, no promise, nothing pending.
    const owned = (this.store as { recordOwnedSend?: (record: SentMessageRecord) => void }).recordOwnedSend;
    if (owned) {
      try {
        owned.call(this.store, record);
      } catch (error) {
        this.#logger.warn('Recording a send in the message log failed', {
          providerConfigId: result.providerConfigId,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return;
    }
    const pending = this.#pending;
    const write: Promise<void> = this.store.recordSend(record).then(
      () => {
        pending.delete(write);
      },
      (error: unknown) => {
        pending.delete(write);
        this.#logger.warn('Recording a send in the message log failed', {
          providerConfigId: result.providerConfigId,
          error: error instanceof Error ? error.message : String(error),
        });
      },
    );
    pending.add(write);
  }

  /** Waits for the send records under way, so a read after a send sees it. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /**
   * Keeps a verified event unless it is a duplicate, correlates it with its send, applies the suppression policy
   * and fires `delivery`. Resolves the event when it was new, `undefined` for a duplicate.
   */
  async ingest(event: DeliveryEvent): Promise<DeliveryEvent | undefined> {
    const send = await this.store.findSend(event.projectId, {
      correlationId: event.messageId,
      provider: event.provider,
    });
    if (send) event.idempotencyKey = send.idempotencyKey;
    const reason = this.#suppressionReason(event);
    if (reason) {
      // The suppression is written before the event is kept: a kept event is a duplicate the next time, so if the
      // write failed after it, the provider's retry would be dropped and the bounce never applied.
      if (await this.#kept(event)) return undefined;
      await this.suppress({
        projectId: event.projectId,
        channel: event.channel,
        recipient: event.recipient,
        reason,
        source: 'event',
        eventType: event.type,
        provider: event.provider,
        providerConfigId: event.providerConfigId,
        messageId: event.messageId,
        ...(event.reason ? { detail: event.reason.slice(0, 500) } : {}),
        createdAt: new Date().toISOString(),
      });
    }
    if (!(await this.store.recordEvent(event))) return undefined;
    this.#events.emit('delivery', event);
    return event;
  }

  /** Whether the log already keeps this event (by its content key). */
  async #kept(event: DeliveryEvent): Promise<boolean> {
    const kept = await this.store.listEvents(event.projectId, event.messageId);
    return kept.some((other) => other.id === event.id);
  }

  async suppress(record: SuppressionRecord): Promise<void> {
    await this.store.putSuppression(record);
    this.filter.added(record.projectId, record.channel, record.recipient);
  }

  #suppressionReason(event: DeliveryEvent): SuppressionRecord['reason'] | undefined {
    const policy = this.#policy;
    if (!policy || !event.recipient) return undefined;
    const rules: Partial<Record<DeliveryEventType, () => boolean>> = {
      bounced: () => policy.bounced === 'all' || (policy.bounced === 'hard' && event.bounceClass === 'hard'),
      complained: () => policy.complained,
      unsubscribed: () => policy.unsubscribed,
      dropped: () => policy.dropped,
      failed: () => policy.failed && event.bounceClass === 'hard',
    };
    return rules[event.type]?.() ? event.type : undefined;
  }
}

interface Recipients {
  all: string[];
  /** Per list, for email: the normalised form of each address, by position. */
  to: string[];
  cc: readonly string[];
  bcc: readonly string[];
}

function recipientsOf(message: OutboundMessage): Recipients {
  if (message.channel === 'sms') {
    const to = [normaliseRecipient('sms', message.to)];
    return { all: to, to, cc: NONE, bcc: NONE };
  }
  const to = normalisedEmails(message.to);
  const cc = message.cc.length > 0 ? normalisedEmails(message.cc) : NONE;
  const bcc = message.bcc.length > 0 ? normalisedEmails(message.bcc) : NONE;
  return { all: cc.length + bcc.length > 0 ? [...to, ...cc, ...bcc] : to, to, cc, bcc };
}

/** Shared by every message without copies: nothing ever writes to it. */
const NONE: readonly string[] = Object.freeze([]);

function normalisedEmails(list: readonly EmailAddress[]): string[] {
  const normalised = new Array<string>(list.length);
  for (let index = 0; index < list.length; index++) {
    normalised[index] = normaliseRecipient('email', list[index]!.email);
  }
  return normalised;
}

function decide(
  message: OutboundMessage,
  parts: Recipients,
  found: readonly string[],
  ignore: boolean,
): ScreenedMessage {
  if (found.length === 0) return { message, recipients: parts.all };
  const suppressed = new Set(found);
  const unique = [...suppressed];
  if (ignore) return { message, recipients: parts.all, suppressionIgnored: unique };
  if (message.channel === 'sms') {
    throw suppressedError([{ path: ['to'], message: 'The recipient is on the suppression list' }]);
  }
  const keep = (list: EmailAddress[], keys: readonly string[]) =>
    list.filter((_, index) => !suppressed.has(keys[index]!));
  const kept = {
    to: keep(message.to, parts.to),
    cc: keep(message.cc, parts.cc),
    bcc: keep(message.bcc, parts.bcc),
  };
  // Without a primary recipient left, what remains would go to copies only: refuse, like a single recipient.
  if (kept.to.length === 0) {
    throw suppressedError(
      parts.to.map((_, index) => ({
        path: ['to', index],
        message: 'The recipient is on the suppression list',
      })),
    );
  }
  return {
    message: Object.freeze({ ...message, ...kept }) as OutboundEmail,
    recipients: parts.all.filter((recipient) => !suppressed.has(recipient)),
    suppressed: unique,
  };
}

function suppressedError(issues: { path: (string | number)[]; message: string }[]): MessagePipeError {
  return new MessagePipeError(
    'RECIPIENT_SUPPRESSED',
    'The recipient is on the suppression list (no provider was called); pass { ignoreSuppression: true } to send anyway',
    { issues },
  );
}

let lastMs = 0;
let lastIso = '';

/** The current time as ISO 8601, formatted once per millisecond (sends come many to the millisecond). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
