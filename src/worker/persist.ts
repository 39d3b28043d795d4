// The Worker's link to the saved session: restores the dataset and the runs at page start, saves
// what changes, hands the model session its stored image features and the training examples
// their stored reference log-probs, and counts what was computed and what was reused, so that a
// reload costs no recomputation and the page can show (and tests can check) that it did not.
import { peftFromEngine } from '../export/peft';
import type { TrainExample } from '../povid/prepare';
import type { DatasetView, ModelChoice, RestoredSession, RunSummary, StorageReport, WorkCounters } from './api';
import type { DatasetStore } from './dataset-store';
import type { ModelSession } from './model-session';
import { RunBook, type AdapterFiles, type RunContext } from './runs';
import { modelKeyOf, referenceKey, SessionStore } from './session-store';
import { IndexedDbBackend, MemoryBackend, SESSION_DB, type StorageBackend } from './storage';

/** The database where an earlier version of the app kept its one checkpoint (schema 1). */
export const LEGACY_CHECKPOINT_DB = 'povid-checkpoints';
/** Cache Storage name of downloaded model files (src/model/cache.ts). */
const MODEL_CACHE = 'povid-models';

export interface LegacySource {
  /** The old checkpoint, if an earlier version left one. */
  read(): Promise<unknown | null>;
  remove(): Promise<void>;
}

export class SessionKeeper {
  readonly store: SessionStore;
  readonly runs: RunBook;
  readonly counters: WorkCounters = { referencePasses: 0, referencesReused: 0, featureEncodings: 0, featuresReused: 0 };
  /** Encodings counted by model sessions that were replaced. */
  private encodingsBefore = 0;
  activeRun?: string;
  trainingRun?: string;
  private restoring: Promise<RestoredSession> | null = null;
  /** Image keys whose features are stored for the current model. */
  private storedFeatures = new Set<string>();

  constructor(
    readonly db: StorageBackend,
    private readonly legacy?: LegacySource,
    now?: () => string,
  ) {
    this.store = new SessionStore(db, now);
    this.runs = new RunBook(db, now);
  }

  /** IndexedDB where there is one (pages and Workers), memory elsewhere. */
  static forThisContext(): SessionKeeper {
    if (typeof indexedDB === 'undefined') return new SessionKeeper(new MemoryBackend());
    return new SessionKeeper(new IndexedDbBackend(SESSION_DB), indexedDbLegacy(LEGACY_CHECKPOINT_DB));
  }

  /** Resolves after the restore (if one started), so a drop does not race it. */
  async settled(): Promise<void> {
    await this.restoring?.catch(() => undefined);
  }

  restore(dataset: DatasetStore, ctx: () => RunContext): Promise<RestoredSession> {
    this.restoring ??= this.doRestore(dataset, ctx);
    return this.restoring;
  }

  private async doRestore(dataset: DatasetStore, ctx: () => RunContext): Promise<RestoredSession> {
    const dropped: string[] = [];
    let restored = false;
    let modelNote: string | undefined;
    let model: ModelChoice | undefined;
    try {
      const d = await this.store.restore();
      restored = d.found;
      dropped.push(...d.dropped);
      for (const [k, b] of d.images) dataset.images.set(k, b);
      for (const r of d.records) dataset.records.set(r.id, r);
      dataset.version++; // views read before the restore are stale (length flags come with the model's limit)
      dataset.problems = [...d.problems];
      for (const id of d.reinject) dataset.update(id, { rejected: '' });
      if (d.model?.kind === 'files')
        modelNote = `The model was the local folder "${d.model.name}": the browser cannot open a folder by itself, so choose it again.`;
      else model = d.model;
      if (d.found) void this.store.saveDataset(dataset);
    } catch (e) {
      dropped.push(`The saved records could not be read (${(e as Error)?.message ?? String(e)}); the page starts without them.`);
    }
    try {
      await this.runs.restore();
      dropped.push(...this.runs.dropped);
      if (this.runs.list().length) restored = true;
    } catch (e) {
      dropped.push(`The saved runs could not be read (${(e as Error)?.message ?? String(e)}).`);
    }
    if (this.legacy) {
      try {
        const old = await this.legacy.read();
        if (old !== null) {
          dropped.push(await this.runs.importLegacy(old));
          await this.legacy.remove();
          restored = true;
        }
      } catch (e) {
        dropped.push(`A checkpoint from an earlier version of this app could not be read (${(e as Error)?.message ?? String(e)}).`);
      }
    }
    const latest = this.runs.latest();
    return {
      ...(model ? { model } : {}),
      ...(modelNote ? { modelNote } : {}),
      dataset: dataset.view(),
      runs: await this.runs.summaries(ctx()),
      ...(latest ? { latest: { id: latest.id, metrics: this.runs.metrics(latest.id) } } : {}),
      dropped,
      storage: await this.report(dataset.view()),
      restored,
    };
  }

  datasetChanged(dataset: DatasetStore): void {
    void this.store.saveDataset(dataset);
  }

  datasetCleared(): void {
    this.storedFeatures.clear();
    void this.store.clearDerived();
  }

  modelLoaded(choice: ModelChoice, s: ModelSession, replaced: ModelSession | null): void {
    this.encodingsBefore += replaced?.featureEncodings ?? 0;
    this.activeRun = undefined;
    this.storedFeatures.clear();
    // Stored features are looked up one image at a time, when needed, whatever the cache's size.
    s.featureStore = async (image, blob) => {
      const f = (await this.store.loadFeatures(this.derivedKey(s), [[image, blob]]).catch(() => new Map<string, Float32Array>())).get(
        image,
      );
      if (f) {
        this.counters.featuresReused++;
        this.storedFeatures.add(`${s.detail}:${image}`);
      }
      return f;
    };
    void this.store.saveModel(choice, s.summary.name);
  }

  workCounters(s: ModelSession | null): WorkCounters {
    return { ...this.counters, featureEncodings: this.encodingsBefore + (s?.featureEncodings ?? 0) };
  }

  modelKey(s: ModelSession): string {
    return modelKeyOf(s.summary);
  }

  /** Features and reference log-probs depend on the image detail too (other views, other prompt). */
  private derivedKey(s: ModelSession): string {
    return s.detail === 'single' ? this.modelKey(s) : `${this.modelKey(s)}|${s.detail}`;
  }

  /** Stores the features computed for these examples; gives them their stored reference log-probs. */
  async afterPrepare(s: ModelSession, dataset: DatasetStore, examples: TrainExample[]): Promise<void> {
    const key = this.derivedKey(s);
    const fresh: [string, Blob, Float32Array][] = [];
    for (const ex of examples) {
      const r = dataset.records.get(ex.id);
      const blob = r && dataset.images.get(r.image);
      const f = ex.chosen.image?.features;
      if (!r || !blob || !f || this.storedFeatures.has(`${s.detail}:${r.image}`)) continue;
      this.storedFeatures.add(`${s.detail}:${r.image}`);
      fresh.push([r.image, blob, f]);
    }
    await this.store.saveFeatures(key, fresh);
    for (const ex of examples) {
      if (ex.reference) continue;
      const k = this.referenceKeyOf(s, dataset, ex.id);
      const sums = k ? await this.store.loadReference(k).catch(() => undefined) : undefined;
      if (!sums) continue;
      ex.reference = sums;
      this.counters.referencesReused++;
    }
  }

  private referenceKeyOf(s: ModelSession, dataset: DatasetStore, id: string): string | undefined {
    const r = dataset.records.get(id);
    const blob = r && dataset.images.get(r.image);
    return r && blob ? referenceKey(this.derivedKey(s), r, blob) : undefined;
  }

  /** The trainer computed an example's reference log-probs: count and store them. */
  referenceComputed(s: ModelSession, dataset: DatasetStore, ex: TrainExample): void {
    this.counters.referencePasses++;
    const k = this.referenceKeyOf(s, dataset, ex.id);
    if (k && ex.reference) void this.store.saveReference(k, ex.reference);
  }

  /** PEFT files of flat LoRA parameters in the model session's engine layout. */
  adapterFiles(s: ModelSession, params: Float32Array): AdapterFiles {
    const layout = s.engine.lora!.layout;
    const values = new Map<string, Float32Array>();
    for (const t of layout.tensors) values.set(t.name, params.subarray(t.offset, t.offset + t.count));
    return peftFromEngine(layout, values, s.baseModel, s.decoderPrefix);
  }

  async runSummaries(ctx: RunContext): Promise<RunSummary[]> {
    return this.runs.summaries({ ...ctx, activeRun: this.activeRun, trainingRun: this.trainingRun });
  }

  async report(view: DatasetView): Promise<StorageReport> {
    const d = await this.store.report(view);
    const runs = this.runs.list();
    const runLines = this.runs.notSaved();
    let usage: StorageReport['usage'];
    try {
      const est = await globalThis.navigator?.storage?.estimate?.();
      if (est && typeof est.usage === 'number' && typeof est.quota === 'number') usage = { bytes: est.usage, quota: est.quota };
    } catch {
      // Not every context can ask.
    }
    const notSaved = [...d.notSaved, ...runLines];
    return {
      complete: notSaved.length === 0,
      saved: { ...d.saved, runs: this.runs.storedCount, adapters: runs.filter((r) => r.adapterStep > 0).length },
      total: { ...d.total, runs: runs.length },
      notSaved,
      ...(usage ? { usage } : {}),
    };
  }

  /** Deletes everything saved; the model cache only when asked. */
  async startOver(opts: { modelCache?: boolean } = {}): Promise<void> {
    await this.store.clearAll();
    this.runs.clearMemory();
    this.storedFeatures.clear();
    this.activeRun = undefined;
    await this.legacy?.remove().catch(() => undefined);
    if (opts.modelCache && typeof caches !== 'undefined') await caches.delete(MODEL_CACHE);
  }
}

function openDb(name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(name);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

/** The earlier version's database: slots "slot0"/"slot1" and a "latest" pointer in store "slots". */
function indexedDbLegacy(name: string): LegacySource {
  return {
    async read() {
      if (typeof indexedDB.databases !== 'function') return null;
      if (!(await indexedDB.databases()).some((d) => d.name === name)) return null;
      const db = await openDb(name);
      try {
        if (!db.objectStoreNames.contains('slots')) return null;
        const get = (k: string) =>
          new Promise<unknown>((resolve, reject) => {
            const r = db.transaction('slots').objectStore('slots').get(k);
            r.onsuccess = () => resolve(r.result);
            r.onerror = () => reject(r.error);
          });
        const latest = await get('latest');
        return typeof latest === 'number' ? ((await get(`slot${latest}`)) ?? null) : null;
      } finally {
        db.close();
      }
    },
    async remove() {
      await new Promise<void>((resolve) => {
        const r = indexedDB.deleteDatabase(name);
        r.onsuccess = r.onerror = r.onblocked = () => resolve();
      });
    },
  };
}
