import {
  InMemoryMessageLog,
  type MessageLogStore,
  type SentMessageQuery,
  type SentMessageRecord,
  type SuppressionPage,
  type SuppressionRecord,
} from '../delivery/store';
import type { DeliveryEvent } from '../delivery/types';
import { MessagePipeError } from '../errors';
import { deepFreeze } from '../schemas/message';
import type { Channel, SenderConfig, StoredProviderRecord } from '../types';
import { cloneData } from './clone';
import { type ChannelSnapshots, SEND_PATH, type SendPathReads } from './send-path';
import type { ProviderListFilter, ProviderScanPage, ProviderStore } from './types';

/** Orders records the way every store must: priority, then creation time, then id. */
export function compareProviderRecords(a: StoredProviderRecord, b: StoredProviderRecord): number {
  return (
    a.priority - b.priority ||
    (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * The default store: records live in this process and vanish with it. Good for tests, demos and apps whose
 * providers are configured in code at start-up.
 */
export class InMemoryProviderStore implements ProviderStore, MessageLogStore {
  /** Records live only as long as this process. */
  readonly persistent: boolean = false;
  /** Frozen copies of what was written: reads hand out copies, the send path the frozen records themselves. */
  readonly #providers = new Map<string, Map<string, StoredProviderRecord>>();
  readonly #senders = new Map<string, { email?: SenderConfig; sms?: SenderConfig }>();
  /** Each project's ordered records per channel, built on first read and dropped by any write to the project. */
  readonly #snapshots = new Map<string, ChannelSnapshots>();

  /** @internal Frozen snapshots for the send path; see `SendPathReads`. */
  readonly [SEND_PATH]: SendPathReads = {
    // A subclass or a spy that replaces a read method is honoured: the snapshot stands in only for our own.
    providers: (projectId, channel) =>
      this.listProviders === InMemoryProviderStore.prototype.listProviders
        ? this.#snapshot(projectId, channel)
        : this.listProviders(projectId, { channel }),
    sender: (projectId, channel) =>
      this.getSender === InMemoryProviderStore.prototype.getSender
        ? this.#senders.get(projectId)?.[channel]
        : this.getSender(projectId, channel),
  };
  /** The message log and suppression list (the `MessageLogStore` capability). */
  readonly #log = new InMemoryMessageLog();

  async findProvider(id: string): Promise<StoredProviderRecord | undefined> {
    let found: StoredProviderRecord | undefined;
    for (const project of this.#providers.values()) {
      const record = project.get(id);
      if (!record) continue;
      if (found) return undefined;
      found = record;
    }
    return found && cloneData(found);
  }

  recordSend(record: SentMessageRecord): Promise<void> {
    return this.#log.recordSend(record);
  }

  /** @internal See `InMemoryMessageLog.recordOwnedSend`. */
  recordOwnedSend(record: SentMessageRecord): void {
    this.#log.recordOwnedSend(record);
  }

  findSend(projectId: string, query: SentMessageQuery): Promise<SentMessageRecord | undefined> {
    return this.#log.findSend(projectId, query);
  }

  recordEvent(event: DeliveryEvent): Promise<boolean> {
    return this.#log.recordEvent(event);
  }

  listEvents(projectId: string, correlationId: string): Promise<DeliveryEvent[]> {
    return this.#log.listEvents(projectId, correlationId);
  }

  putSuppression(record: SuppressionRecord): Promise<void> {
    return this.#log.putSuppression(record);
  }

  deleteSuppression(projectId: string, channel: Channel, recipient: string): Promise<boolean> {
    return this.#log.deleteSuppression(projectId, channel, recipient);
  }

  findSuppressions(
    projectId: string,
    channel: Channel,
    recipients: readonly string[],
  ): Promise<SuppressionRecord[]> {
    return this.#log.findSuppressions(projectId, channel, recipients);
  }

  listSuppressions(projectId: string, page: SuppressionPage): Promise<SuppressionRecord[]> {
    return this.#log.listSuppressions(projectId, page);
  }

  suppressedNow(projectId: string, channel: Channel, recipients: readonly string[]): readonly string[] {
    return this.#log.suppressedNow(projectId, channel, recipients);
  }

  suppressedRecipients(projectId: string, channel: Channel, limit: number): Promise<string[]> {
    return this.#log.suppressedRecipients(projectId, channel, limit);
  }

  async insertProvider(record: StoredProviderRecord): Promise<void> {
    const project = this.#project(record.projectId);
    if (project.has(record.id)) {
      throw new MessagePipeError('CONFLICT', `A provider with id ${record.id} already exists`);
    }
    project.set(record.id, deepFreeze(cloneData(record)));
    this.#snapshots.delete(record.projectId);
  }

  async getProvider(projectId: string, id: string): Promise<StoredProviderRecord | undefined> {
    const record = this.#providers.get(projectId)?.get(id);
    return record && cloneData(record);
  }

  async listProviders(projectId: string, filter: ProviderListFilter = {}): Promise<StoredProviderRecord[]> {
    const records = [...(this.#providers.get(projectId)?.values() ?? [])].filter(
      (record) => filter.channel === undefined || record.channel === filter.channel,
    );
    return records.sort(compareProviderRecords).map((record) => cloneData(record));
  }

  #snapshot(projectId: string, channel: Channel): readonly StoredProviderRecord[] {
    let snapshots = this.#snapshots.get(projectId);
    const cached = snapshots?.[channel];
    if (cached) return cached;
    const records = [...(this.#providers.get(projectId)?.values() ?? [])]
      .filter((record) => record.channel === channel)
      .sort(compareProviderRecords);
    const snapshot = Object.freeze(records);
    // Only projects that exist are remembered, so reads of unknown projects cannot grow the map.
    if (!this.#providers.has(projectId)) return snapshot;
    if (!snapshots) {
      snapshots = {};
      this.#snapshots.set(projectId, snapshots);
    }
    snapshots[channel] = snapshot;
    return snapshot;
  }

  async replaceProvider(record: StoredProviderRecord, expectedVersion: number): Promise<boolean> {
    const project = this.#providers.get(record.projectId);
    const current = project?.get(record.id);
    if (!project || !current || current.version !== expectedVersion) return false;
    project.set(record.id, deepFreeze(cloneData(record)));
    this.#snapshots.delete(record.projectId);
    return true;
  }

  async scanProviders(page: ProviderScanPage): Promise<StoredProviderRecord[]> {
    const { after, limit } = page;
    const projectIds = [...this.#providers.keys()].sort(compareText);
    const found: StoredProviderRecord[] = [];
    for (const projectId of projectIds) {
      if (after && projectId < after.projectId) continue;
      const ids = [...this.#providers.get(projectId)!.keys()].sort(compareText);
      for (const id of ids) {
        if (after && projectId === after.projectId && id <= after.id) continue;
        found.push(cloneData(this.#providers.get(projectId)!.get(id)!));
        if (found.length >= limit) return found;
      }
    }
    return found;
  }

  async deleteProvider(projectId: string, id: string): Promise<boolean> {
    this.#snapshots.delete(projectId);
    return this.#providers.get(projectId)?.delete(id) ?? false;
  }

  async getSender(projectId: string, channel: Channel): Promise<SenderConfig | undefined> {
    const sender = this.#senders.get(projectId)?.[channel];
    return sender && cloneData(sender);
  }

  async putSender(sender: SenderConfig): Promise<void> {
    let senders = this.#senders.get(sender.projectId);
    if (!senders) {
      senders = {};
      this.#senders.set(sender.projectId, senders);
    }
    senders[sender.channel] = deepFreeze(cloneData(sender));
  }

  #project(projectId: string): Map<string, StoredProviderRecord> {
    let project = this.#providers.get(projectId);
    if (!project) {
      project = new Map();
      this.#providers.set(projectId, project);
    }
    return project;
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
