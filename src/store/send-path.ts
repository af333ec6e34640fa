import type { Channel, SenderConfig, StoredProviderRecord } from '../types';

/**
 * The reads of a send, as the built-in stores answer them without copies: frozen snapshots, shared by every send
 * until the next write. A cache hit answers synchronously (a plain value, not a promise), so a send with its
 * set-up at hand pays neither a copy nor a tick. Not part of the public store contract: other stores are read
 * with `listProviders` and `getSender`, which return copies.
 */
export const SEND_PATH: unique symbol = Symbol('messagepipe.sendPath');

/** A value now, or a promise of it when the store has to be read. */
export type Now<T> = T | Promise<T>;

/** What a store with a send path offers under {@link SEND_PATH}. */
export interface SendPathReads {
  /**
   * The project's records of a channel, ordered as `listProviders` orders them, deeply frozen. The same array is
   * returned until a write changes the project, so callers may key derived data on its identity. `now` is the
   * send's own `performance.now()` reading: a cache tells whether its entry is fresh without a clock read of its
   * own (each costs ~50 ns on a virtual machine).
   */
  providers(projectId: string, channel: Channel, now: number): Now<readonly StoredProviderRecord[]>;
  /** The project's sender configuration for a channel, deeply frozen; `now` as for {@link providers}. */
  sender(projectId: string, channel: Channel, now: number): Now<Readonly<SenderConfig> | undefined>;
}

/** Per project: the frozen snapshot of each channel's records. */
export interface ChannelSnapshots {
  email?: readonly StoredProviderRecord[];
  sms?: readonly StoredProviderRecord[];
}
