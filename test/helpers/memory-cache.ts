// An in-memory ByteCache for tests: entries live as long as the object.
import type { ByteCache } from '../../src/model/cache';

export class MemoryByteCache implements ByteCache {
  /** Exposed so tests can inspect or damage entries. */
  readonly entries = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.entries.get(key);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.entries.set(key, bytes.slice()); // the caller may hold a view into a larger buffer
  }
}
