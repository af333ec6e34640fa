import { InMemoryProviderStore } from 'messagepipe';

/** Stands in for a store of the app's own database: what the README's conformance snippet tests. */
export class MyStore extends InMemoryProviderStore {
  #open = true;

  static async open(options: { database: string }): Promise<MyStore> {
    if (options.database === '') throw new Error('no database');
    return new MyStore();
  }

  async close(): Promise<void> {
    this.#open = false;
  }

  get isOpen(): boolean {
    return this.#open;
  }
}
