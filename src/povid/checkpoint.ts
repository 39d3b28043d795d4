// Checkpoints of a training run (adapter, optimizer state, step, data order) so that a reload or
// a lost device costs at most `checkpointEvery` steps. Two slots are written alternately and a
// pointer moves only after a write succeeded, so a failed write (full quota) keeps the last good one.

export interface Checkpoint {
  runId: string;
  step: number; // optimizer steps done
  microStep: number; // examples consumed
  totalSteps: number;
  config: unknown; // the TrainConfig of the run
  datasetKey: string; // identifies the records the run trains on
  /** Flat LoRA parameters, Adam first and second moments, in the engine's layout. */
  params: Float32Array;
  adamM: Float32Array;
  adamV: Float32Array;
  rngState: Uint32Array;
  history: unknown[]; // metrics so far, to redraw the charts
  savedAt: string;
}

export class StorageQuotaError extends Error {
  override name = 'StorageQuotaError';
  constructor(cause: unknown) {
    super(
      `The browser refused to store the checkpoint (storage quota full: ${String((cause as Error)?.message ?? cause)}). ` +
        "The last good checkpoint is kept. Free space by clearing this site's storage of other models, or download the adapter now.",
    );
  }
}

export interface CheckpointStore {
  save(cp: Checkpoint): Promise<void>;
  load(): Promise<Checkpoint | null>;
  clear(): Promise<void>;
}

export class MemoryCheckpointStore implements CheckpointStore {
  private slots: (Checkpoint | null)[] = [null, null];
  private latest = -1;
  /** Tests set this to simulate a full quota on the next save. */
  failNext: unknown = null;

  async save(cp: Checkpoint): Promise<void> {
    const slot = this.latest === 0 ? 1 : 0;
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = null;
      throw new StorageQuotaError(e);
    }
    this.slots[slot] = structuredClone(cp);
    this.latest = slot;
  }

  async load(): Promise<Checkpoint | null> {
    return this.latest < 0 ? null : structuredClone(this.slots[this.latest]);
  }

  async clear(): Promise<void> {
    this.slots = [null, null];
    this.latest = -1;
  }
}

const DB = 'povid-checkpoints';
const STORE = 'slots';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** IndexedDB (available in pages and Workers). */
export class IndexedDbCheckpointStore implements CheckpointStore {
  private db: Promise<IDBDatabase>;

  constructor(name = DB) {
    this.db = new Promise((resolve, reject) => {
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(STORE);
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
  }

  async save(cp: Checkpoint): Promise<void> {
    const db = await this.db;
    const latest = (await request(db.transaction(STORE).objectStore(STORE).get('latest'))) as number | undefined;
    const slot = latest === 0 ? 1 : 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction(STORE, 'readwrite');
        tx.objectStore(STORE).put(cp, `slot${slot}`);
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } catch (e) {
      if ((e as DOMException)?.name === 'QuotaExceededError') throw new StorageQuotaError(e);
      throw e;
    }
    const tx = db.transaction(STORE, 'readwrite');
    await request(tx.objectStore(STORE).put(slot, 'latest'));
  }

  async load(): Promise<Checkpoint | null> {
    const db = await this.db;
    const store = db.transaction(STORE).objectStore(STORE);
    const latest = (await request(store.get('latest'))) as number | undefined;
    if (latest === undefined) return null;
    return ((await request(db.transaction(STORE).objectStore(STORE).get(`slot${latest}`))) as Checkpoint | undefined) ?? null;
  }

  async clear(): Promise<void> {
    const db = await this.db;
    await request(db.transaction(STORE, 'readwrite').objectStore(STORE).clear());
  }
}
