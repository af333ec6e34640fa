import { z } from 'zod';
import { MessagePipeError } from '../errors';
import { parseOrThrow } from '../schemas/fields';
import type { Channel } from '../types';
import { correlationIdOf, normaliseRecipient } from './normalise';
import type { DeliveryService } from './service';
import type { SentMessageRecord, SuppressionRecord } from './store';
import type { DeliveryEvent, DeliveryEventType } from './types';

const projectId = z.string().min(1).max(200);
const channel = z.enum(['email', 'sms']);
const recipient = z.string().trim().min(1).max(320);

const getSchema = z.union([
  z.strictObject({ projectId, idempotencyKey: z.string().min(1).max(200) }),
  z.strictObject({ projectId, messageId: z.string().min(1).max(500) }),
]);

/** Input of `pipe.messages.get`: a send by the idempotency key it ran under, or by its provider message id. */
export type GetMessageInput =
  | { projectId: string; idempotencyKey: string }
  | { projectId: string; messageId: string };

/** A message's delivery state, as its events tell it. */
export type MessageState = DeliveryEventType | 'sent';

/** What `pipe.messages.get` resolves. */
export interface MessageView {
  /** The send, when it is in the message log (events can arrive first). */
  send?: SentMessageRecord;
  /** Its events in order (provider time). */
  events: DeliveryEvent[];
  /**
   * The current state: the latest event that says where the message is (opens and clicks count as `delivered`
   * when nothing later says otherwise); `sent` while the provider has reported nothing.
   */
  state: MessageState;
}

/** Types that say nothing about where the message is. */
const NON_STATE = new Set<DeliveryEventType>(['opened', 'clicked', 'unknown']);

/** `pipe.messages`: a send and what became of it. */
export class MessagesApi {
  readonly #delivery: () => DeliveryService;

  constructor(delivery: () => DeliveryService) {
    this.#delivery = delivery;
  }

  /**
   * The send (from the message log) and its delivery events in order, with the current state.
   *
   * @throws {@link MessagePipeError} `NOT_FOUND` when neither a send nor an event is known; `NOT_SUPPORTED` when
   * the dispatcher runs without a message log.
   */
  async get(input: GetMessageInput): Promise<MessageView> {
    const query = parseOrThrow(getSchema, input, 'CONFIG_INVALID', 'message query');
    const delivery = this.#delivery();
    await delivery.flush();
    const send =
      'idempotencyKey' in query
        ? await delivery.store.findSend(query.projectId, { idempotencyKey: query.idempotencyKey })
        : await delivery.store.findSend(query.projectId, { correlationId: correlationIdOf(query.messageId) });
    const correlationId =
      send?.correlationId ?? ('messageId' in query ? correlationIdOf(query.messageId) : undefined);
    const events = correlationId ? await delivery.store.listEvents(query.projectId, correlationId) : [];
    const own = send ? events.filter((event) => event.provider === send.provider) : events;
    if (!send && own.length === 0) throw new MessagePipeError('NOT_FOUND', 'No such message in this project');
    if (send) for (const event of own) event.idempotencyKey ??= send.idempotencyKey;
    const view: MessageView = { events: own, state: stateOf(own) };
    if (send) view.send = send;
    return view;
  }
}

function stateOf(events: DeliveryEvent[]): MessageState {
  let state: MessageState = 'sent';
  let engaged = false;
  for (const event of events) {
    if (event.type === 'opened' || event.type === 'clicked') engaged = true;
    if (!NON_STATE.has(event.type)) state = event.type;
  }
  if (engaged && (state === 'sent' || state === 'accepted' || state === 'deferred')) return 'delivered';
  return state;
}

const addSchema = z.strictObject({
  projectId,
  channel,
  recipient,
  reason: z.string().trim().min(1).max(100).optional(),
  detail: z.string().max(500).optional(),
});
const refSchema = z.strictObject({ projectId, channel, recipient });
const listSchema = z.strictObject({
  projectId,
  channel: channel.optional(),
  after: z.strictObject({ channel, recipient }).optional(),
  limit: z.number().int().min(1).max(1000).optional(),
});

/** Input of `pipe.suppressions.add`. */
export type AddSuppressionInput = z.input<typeof addSchema>;
/** Names one suppressed recipient. */
export type SuppressionRef = z.input<typeof refSchema>;
/** Input of `pipe.suppressions.list`. */
export type ListSuppressionsInput = z.input<typeof listSchema>;

/** One page of `pipe.suppressions.list`. */
export interface SuppressionList {
  items: SuppressionRecord[];
  /** Pass as `after` for the next page; absent on the last one. */
  next?: { channel: Channel; recipient: string };
}

/**
 * `pipe.suppressions`: the project's suppression list, shared by every provider of a channel. `send()` checks it
 * before calling any provider, unless the dispatcher has `suppression: false`.
 */
export class SuppressionsApi {
  readonly #delivery: () => DeliveryService;

  constructor(delivery: () => DeliveryService) {
    this.#delivery = delivery;
  }

  /** Adds (or replaces) a recipient; the next send to it is refused (with the check on). `reason` defaults to `manual`. */
  async add(input: AddSuppressionInput): Promise<SuppressionRecord> {
    const parsed = parseOrThrow(addSchema, input, 'CONFIG_INVALID', 'suppression');
    const record: SuppressionRecord = {
      projectId: parsed.projectId,
      channel: parsed.channel,
      recipient: normaliseRecipient(parsed.channel, parsed.recipient),
      reason: parsed.reason ?? 'manual',
      source: 'manual',
      createdAt: new Date().toISOString(),
    };
    if (parsed.detail) record.detail = parsed.detail;
    await this.#delivery().suppress(record);
    return record;
  }

  /** Removes a recipient; resolves `false` when it was not on the list. */
  async remove(input: SuppressionRef): Promise<boolean> {
    const parsed = parseOrThrow(refSchema, input, 'CONFIG_INVALID', 'suppression');
    const delivery = this.#delivery();
    const normalised = normaliseRecipient(parsed.channel, parsed.recipient);
    const removed = await delivery.store.deleteSuppression(parsed.projectId, parsed.channel, normalised);
    delivery.filter.removed(parsed.projectId, parsed.channel, normalised);
    return removed;
  }

  /** The entry of a recipient, or `undefined` when it is not suppressed. */
  async check(input: SuppressionRef): Promise<SuppressionRecord | undefined> {
    const parsed = parseOrThrow(refSchema, input, 'CONFIG_INVALID', 'suppression');
    const normalised = normaliseRecipient(parsed.channel, parsed.recipient);
    const [found] = await this.#delivery().store.findSuppressions(parsed.projectId, parsed.channel, [
      normalised,
    ]);
    return found;
  }

  /** The project's list, by channel then recipient, `limit` (default 100) at a time. */
  async list(input: ListSuppressionsInput): Promise<SuppressionList> {
    const parsed = parseOrThrow(listSchema, input, 'CONFIG_INVALID', 'suppression list input');
    const limit = parsed.limit ?? 100;
    const items = await this.#delivery().store.listSuppressions(parsed.projectId, {
      ...(parsed.channel ? { channel: parsed.channel } : {}),
      ...(parsed.after ? { after: parsed.after } : {}),
      limit,
    });
    const last = items.at(-1);
    return items.length === limit && last
      ? { items, next: { channel: last.channel, recipient: last.recipient } }
      : { items };
  }
}
