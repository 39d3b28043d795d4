// Where the session is kept between page loads: a small key-value interface over named stores,
// implemented on IndexedDB (pages and Workers) and in memory (no IndexedDB, and the unit tests,
// where a byte quota can be set to play a full disk). Each put is one transaction: all of its
// entries are stored or none, so a refused write never leaves half a record behind.

export type StoreName = 'meta' | 'records' | 'images' | 'features' | 'references' | 'runs' | 'checkpoints' | 'adapters';
export const STORE_NAMES: readonly StoreName[] = ['meta', 'records', 'images', 'features', 'references', 'runs', 'checkpoints', 'adapters'];

/** The browser (or the memory backend's quota) refused to store `what`. */
export class StorageFullError extends Error {
  override name = 'StorageFullError';
  constructor(
    readonly what: string,
    cause: unknown,
  ) {
    super(`The browser refused to store ${what} (storage quota full: ${String((cause as Error)?.message ?? cause)}).`);
  }
}

export interface StorageBackend {
  get(store: StoreName, key: string): Promise<unknown>;
  entries(store: StoreName): Promise<[string, unknown][]>;
  keys(store: StoreName): Promise<string[]>;
  /** One transaction: every entry is stored or none; a full quota rejects with StorageFullError. */
  put(store: StoreName, entries: [string, unknown][], what?: string): Promise<void>;
  delete(store: StoreName, keys: string[]): Promise<void>;
  clear(stores?: readonly StoreName[]): Promise<void>;
}

export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return name === 'QuotaExceededError' || name === 'StorageFullError';
}

/** Bytes a value takes, roughly as a structured clone would: exact for blobs and typed arrays. */
export function sizeOf(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'string') return 2 * v.length;
  if (typeof v === 'number' || typeof v === 'boolean') return 8;
  if (typeof Blob !== 'undefined' && v instanceof Blob) return v.size;
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (v instanceof ArrayBuffer) return v.byteLength;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + sizeOf(x), 8);
  if (typeof v === 'object') {
    let n = 8;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) n += 2 * k.length + sizeOf(x);
    return n;
  }
  return 8;
}

/** In memory, with an optional byte quota (to test what happens when the disk is full). */
export class MemoryBackend implements StorageBackend {
  private readonly stores = new Map<StoreName, Map<string, unknown>>(STORE_NAMES.map((s) => [s, new Map()]));
  /** Puts and deletes so far, for tests that check nothing was written twice. */
  writes = 0;

  constructor(public quotaBytes = Infinity) {}

  get usage(): number {
    let n = 0;
    for (const m of this.stores.values()) for (const v of m.values()) n += sizeOf(v);
    return n;
  }

  private store(s: StoreName): Map<string, unknown> {
    const m = this.stores.get(s);
    if (!m) throw new Error(`no store "${s}"`);
    return m;
  }

  async get(store: StoreName, key: string): Promise<unknown> {
    const v = this.store(store).get(key);
    return v === undefined ? undefined : structuredClone(v);
  }

  async entries(store: StoreName): Promise<[string, unknown][]> {
    return [...this.store(store)].map(([k, v]) => [k, structuredClone(v)]);
  }

  async keys(store: StoreName): Promise<string[]> {
    return [...this.store(store).keys()];
  }

  async put(
    store: StoreName,
    entries: [string, unknown][],
    what = `${entries.length} ${store} entr${entries.length === 1 ? 'y' : 'ies'}`,
  ): Promise<void> {
    const m = this.store(store);
    let next = this.usage;
    for (const [k, v] of entries) next += sizeOf(v) - sizeOf(m.get(k));
    if (next > this.quotaBytes) throw new StorageFullError(what, new Error(`${next} bytes would exceed the quota of ${this.quotaBytes}`));
    for (const [k, v] of entries) m.set(k, structuredClone(v));
    this.writes++;
  }

  async delete(store: StoreName, keys: string[]): Promise<void> {
    if (!keys.length) return;
    const m = this.store(store);
    for (const k of keys) m.delete(k);
    this.writes++;
  }

  async clear(stores: readonly StoreName[] = STORE_NAMES): Promise<void> {
    for (const s of stores) this.store(s).clear();
  }
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export const SESSION_DB = 'povid-session';
/** IndexedDB's own version: the list of object stores. The data's schema is versioned in the meta store. */
const IDB_VERSION = 1;

/** IndexedDB: one database, one object store per StoreName. */
export class IndexedDbBackend implements StorageBackend {
  private readonly db: Promise<IDBDatabase>;

  constructor(name = SESSION_DB) {
    this.db = new Promise((resolve, reject) => {
      const open = indexedDB.open(name, IDB_VERSION);
      open.onupgradeneeded = () => {
        for (const s of STORE_NAMES) if (!open.result.objectStoreNames.contains(s)) open.result.createObjectStore(s);
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
      open.onblocked = () =>
        reject(new Error(`the saved session (IndexedDB "${name}") is held by another tab of this app: close it and reload`));
    });
  }

  async get(store: StoreName, key: string): Promise<unknown> {
    const db = await this.db;
    return request(db.transaction(store).objectStore(store).get(key));
  }

  async entries(store: StoreName): Promise<[string, unknown][]> {
    const db = await this.db;
    const os = db.transaction(store).objectStore(store);
    const [keys, values] = await Promise.all([request(os.getAllKeys()), request(os.getAll())]);
    return keys.map((k, i) => [String(k), values[i]]);
  }

  async keys(store: StoreName): Promise<string[]> {
    const db = await this.db;
    return (await request(db.transaction(store).objectStore(store).getAllKeys())).map(String);
  }

  async put(store: StoreName, entries: [string, unknown][], what = `${entries.length} ${store} entries`): Promise<void> {
    if (!entries.length) return;
    const db = await this.db;
    try {
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction(store, 'readwrite');
        const os = tx.objectStore(store);
        for (const [k, v] of entries) os.put(v, k);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
      });
    } catch (e) {
      if (isQuotaError(e)) throw new StorageFullError(what, e);
      throw e;
    }
  }

  async delete(store: StoreName, keys: string[]): Promise<void> {
    if (!keys.length) return;
    const db = await this.db;
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(store, 'readwrite');
      for (const k of keys) tx.objectStore(store).delete(k);
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  async clear(stores: readonly StoreName[] = STORE_NAMES): Promise<void> {
    const db = await this.db;
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction([...stores], 'readwrite');
      for (const s of stores) tx.objectStore(s).clear();
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
}
