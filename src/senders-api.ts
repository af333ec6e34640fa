import { z } from 'zod';
import { identifier, parseOrThrow } from './schemas/fields';
import { type SenderInput, senderSchema } from './schemas/sender';
import type { ProviderStore } from './store/types';
import type { SenderConfig } from './types';

const getSchema = z.strictObject({
  projectId: identifier,
  channel: z.enum(['email', 'sms']),
});

/** Input of `pipe.senders.get`. */
export type GetSenderInput = z.input<typeof getSchema>;

/** `pipe.senders`: who messages of a project come from, per channel, and whether the channel may send. */
export class SendersApi {
  readonly #store: ProviderStore;

  constructor(store: ProviderStore) {
    this.#store = store;
  }

  /** The sender configuration of a project's channel, or `undefined` when none is set. */
  async get(input: GetSenderInput): Promise<SenderConfig | undefined> {
    const parsed = parseOrThrow(getSchema, input, 'SENDER_INVALID', 'sender lookup');
    return this.#store.getSender(parsed.projectId, parsed.channel);
  }

  /** Creates or replaces the sender configuration of a project's channel. */
  async set(input: SenderInput): Promise<SenderConfig> {
    const parsed = parseOrThrow(senderSchema, input, 'SENDER_INVALID', 'sender');
    const sender: SenderConfig = { ...parsed, updatedAt: new Date().toISOString() };
    await this.#store.putSender(sender);
    return sender;
  }
}
