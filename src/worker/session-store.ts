// The saved dataset side of a session: records (with their edits and dispreferred answers),
// images, problems, the chosen model, and what was computed from them that is costly to redo
// (clean-image features, reference log-probs). Writes only what changed. The schema is
// versioned; entries from another version load when they still make sense and are listed as
// dropped when they do not. A full quota never stops the app: what could not be stored is
// reported, derived data (features) gives way to the user's own images, and the rest goes on.
import type { Problem } from '../povid/types';
import type { DatasetView, Edit, ModelChoice, StorageReport } from './api';
import type { StoredRecord } from './dataset-store';
import { isQuotaError, type StorageBackend } from './storage';

/**
 * Schema of the saved session.
 * 1: an earlier version of the app kept only one checkpoint (IndexedDB "povid-checkpoints"),
 *    no records or images (imported as a run by RunBook.importLegacy).
 * 2: this layout: meta, records, images, features, references, runs, checkpoints, adapters.
 */
export const SESSION_SCHEMA = 2;

export type SavedModel = Exclude<ModelChoice, { kind: 'files' }> | { kind: 'files'; name: string };

export interface SessionMeta {
  schema: number;
  model?: SavedModel;
  problems: Problem[];
  nextSeq: number;
  savedAt: string;
}

interface RecordEntry {
  seq: number;
  record: StoredRecord;
}

export interface RestoredDataset {
  model?: SavedModel;
  records: StoredRecord[];
  images: Map<string, Blob>;
  problems: Problem[];
  /** Ids of records that came back without their dispreferred answer: the injector makes it again. */
  reinject: string[];
  /** What could not be loaded, one line each. */
  dropped: string[];
  /** Anything was stored at all. */
  found: boolean;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A stored record as this version reads it, or why it cannot be used. */
export function parseRecord(v: unknown, seq: number): { record: StoredRecord; reinject: boolean } | { reason: string } {
  const r = isObj(v) && isObj(v.record) ? v.record : v;
  if (!isObj(r)) return { reason: 'not a record' };
  for (const k of ['id', 'image', 'question', 'chosen'] as const)
    if (!isStr(r[k]) || (r[k] as string).trim() === '') return { reason: `no ${k}` };
  const id = r.id as string;
  const userRejected = isStr(r.rejected) && r.rejected.trim() !== '' ? r.rejected : undefined;
  const source =
    isObj(r.source) && isStr(r.source.file) && isNum(r.source.index)
      ? { file: r.source.file, index: r.source.index, ...(isNum(r.source.line) ? { line: r.source.line } : {}) }
      : { file: '(saved session)', index: seq };
  const edits: Edit[] = Array.isArray(r.edits)
    ? r.edits.filter((e): e is Edit => isObj(e) && isStr(e.kind) && isNum(e.start) && isNum(e.end) && isStr(e.from) && isStr(e.to))
    : [];
  const base = {
    id,
    image: r.image as string,
    question: r.question as string,
    chosen: r.chosen as string,
    rejected: userRejected,
    source,
    ...(isObj(r.turn) && isNum(r.turn.index) && isNum(r.turn.count) ? { turn: { index: r.turn.index, count: r.turn.count } } : {}),
    ...(isStr(r.noisyAnswer) ? { noisyAnswer: r.noisyAnswer } : {}),
  };
  if (isStr(r.rejectedText) && r.rejectedText.trim() !== '' && (r.rejectedSource === 'user' || r.rejectedSource === 'injected'))
    return {
      record: { ...base, rejectedText: r.rejectedText, rejectedSource: r.rejectedSource, edits: r.rejectedSource === 'user' ? [] : edits },
      reinject: false,
    };
  if (userRejected) return { record: { ...base, rejectedText: userRejected, rejectedSource: 'user', edits: [] }, reinject: false };
  // No usable dispreferred answer stored (an older layout): the injector makes it again.
  return { record: { ...base, rejectedText: '', rejectedSource: 'injected', edits: [] }, reinject: true };
}

export function parseModel(v: unknown): SavedModel | undefined {
  if (!isObj(v)) return undefined;
  if (v.kind === 'builtin') return { kind: 'builtin' };
  if (v.kind === 'hub' && isStr(v.id))
    return {
      kind: 'hub',
      id: v.id,
      ...(isStr(v.baseUrl) ? { baseUrl: v.baseUrl } : {}),
      ...(isStr(v.revision) ? { revision: v.revision } : {}),
    };
  if (v.kind === 'url' && isStr(v.url)) return { kind: 'url', url: v.url };
  if (v.kind === 'files' && isStr(v.name)) return { kind: 'files', name: v.name };
  return undefined;
}

function parseProblems(v: unknown): Problem[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter((p): p is Problem => isObj(p) && isStr(p.file) && isStr(p.reason))
    .map((p) => ({ file: p.file, reason: p.reason, ...(isStr(p.record) ? { record: p.record } : {}) }));
}

/** "a, b, c and 4 more". */
export function listSome(items: readonly string[], n = 4): string {
  if (items.length <= n) return items.join(', ');
  return `${items.slice(0, n).join(', ')} and ${items.length - n} more`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Identifies one model for cached features and reference log-probs (same files, same numbers). */
export function modelKeyOf(m: {
  baseModel: string;
  name: string;
  layers: number;
  hidden: number;
  vocab: number;
  parameters: number;
  imageSeqLen: number;
}): string {
  return [m.baseModel, m.name, m.layers, m.hidden, m.vocab, m.parameters, m.imageSeqLen].join('|');
}

/** Two 32-bit FNV-1a hashes: a short key for long text. */
export function textHash(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0;
    b ^= b >>> 15;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

const SEP = '\u0000';
export const featureKey = (modelKey: string, image: string, blob: Blob) => [modelKey, image, blob.size].join(SEP);
/** The reference log-probs depend on the model, the image and the three texts. */
export const referenceKey = (modelKey: string, r: Pick<StoredRecord, 'image' | 'question' | 'chosen' | 'rejectedText'>, blob: Blob) =>
  [modelKey, r.image, blob.size, textHash([r.question, r.chosen, r.rejectedText].join(SEP))].join(SEP);

export interface ReferenceSums {
  chosen: number;
  rejected: number;
}

export class SessionStore {
  private meta: SessionMeta = { schema: SESSION_SCHEMA, problems: [], nextSeq: 0, savedAt: '' };
  /** Record id -> the JSON last written (to write only what changed) and its order. */
  private readonly written = new Map<string, { json: string; seq: number }>();
  /** Image key -> the blob last written. */
  private readonly storedImages = new Map<string, Blob>();
  private unsavedImages = new Map<string, string>(); // key -> reason
  private unsavedRecords = new Set<string>();
  private recordsTotal = 0;
  private imagesTotal = 0;
  private unsavedFeatures = 0;
  private unsavedReferences = 0;
  private featuresEvicted = 0;
  private otherFailure: string | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly db: StorageBackend,
    private readonly now: () => string = () => new Date().toISOString(),
  ) {}

  /** Runs `job` after every earlier write (writes never interleave). */
  private queue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.chain.then(job, job);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Resolves when every write queued so far has finished. */
  flush(): Promise<void> {
    return this.chain.then(() => undefined);
  }

  async restore(): Promise<RestoredDataset> {
    const dropped: string[] = [];
    const rawMeta = await this.db.get('meta', 'session');
    const recordEntries = await this.db.entries('records');
    const imageEntries = await this.db.entries('images');
    const found = rawMeta !== undefined || recordEntries.length > 0 || imageEntries.length > 0;
    const meta = isObj(rawMeta) ? rawMeta : {};
    const schema = isNum(meta.schema) ? meta.schema : undefined;
    if (found && schema !== SESSION_SCHEMA) {
      dropped.push(
        schema === undefined
          ? 'The saved session has no version number (an older or damaged save): what this version can read was loaded.'
          : schema > SESSION_SCHEMA
            ? `The saved session was written by a newer version of this app (schema ${schema}; this one reads ${SESSION_SCHEMA}): what this version can read was loaded.`
            : `The saved session was written by an older version of this app (schema ${schema}; this one reads ${SESSION_SCHEMA}): what is still compatible was loaded.`,
      );
    }
    const model = parseModel(meta.model);
    if (meta.model !== undefined && !model) dropped.push('The saved model choice could not be read: pick the model again.');
    const problems = parseProblems(meta.problems);

    const images = new Map<string, Blob>();
    const badImages: string[] = [];
    for (const [k, v] of imageEntries) {
      if (typeof Blob !== 'undefined' && v instanceof Blob) images.set(k, v);
      else badImages.push(k);
    }
    if (badImages.length) dropped.push(`${plural(badImages.length, 'saved image')} could not be read (${listSome(badImages)}).`);

    const parsed: { seq: number; record: StoredRecord; reinject: boolean }[] = [];
    const bad: string[] = [];
    const noImage: string[] = [];
    for (const [k, v] of recordEntries) {
      const seq = isObj(v) && isNum(v.seq) ? v.seq : Number.MAX_SAFE_INTEGER;
      const p = parseRecord(v, parsed.length);
      // Keep a note of every stored key so the next save deletes what is not used any more.
      this.written.set(k, { json: '', seq: isNum(seq) ? seq : 0 });
      if ('reason' in p) {
        bad.push(`"${k}" (${p.reason})`);
        continue;
      }
      if (!images.has(p.record.image)) {
        noImage.push(`"${p.record.id}" (${p.record.image})`);
        continue;
      }
      parsed.push({ seq, ...p });
    }
    parsed.sort((a, b) => a.seq - b.seq);
    if (bad.length)
      dropped.push(
        `${plural(bad.length, 'saved record')} could not be read and ${bad.length === 1 ? 'was' : 'were'} dropped: ${listSome(bad)}.`,
      );
    if (noImage.length)
      dropped.push(
        `${plural(noImage.length, 'saved record')} came back without ${noImage.length === 1 ? 'its image' : 'their images'} (not stored, e.g. because the storage was full): ${listSome(noImage)}. Drop those images with their questions file again.`,
      );
    const reinject = parsed.filter((p) => p.reinject).map((p) => p.record.id);
    if (reinject.length)
      dropped.push(
        `${plural(reinject.length, 'record')} had no usable dispreferred answer saved; the injector made ${reinject.length === 1 ? 'it' : 'them'} again.`,
      );

    for (const [k, b] of images) this.storedImages.set(k, b);
    // Entries of another schema are written again in this one at the next save.
    const stale = schema !== SESSION_SCHEMA;
    for (const p of parsed) this.written.set(p.record.id, { json: stale ? '~' : JSON.stringify(p.record), seq: p.seq });
    let maxSeq = -1;
    for (const w of this.written.values()) maxSeq = Math.max(maxSeq, w.seq);
    this.meta = {
      schema: SESSION_SCHEMA,
      model,
      problems,
      nextSeq: Math.max(isNum(meta.nextSeq) ? meta.nextSeq : 0, maxSeq + 1),
      savedAt: this.now(),
    };
    const usedImages = new Map([...parsed].map((p) => [p.record.image, images.get(p.record.image)!]));
    this.recordsTotal = parsed.length;
    this.imagesTotal = usedImages.size;
    return { model, records: parsed.map((p) => p.record), images: usedImages, problems, reinject, dropped, found };
  }

  /** Saves the model choice (a local folder only by name: its files are not stored). */
  saveModel(choice: ModelChoice | undefined, name?: string): Promise<void> {
    this.meta.model = choice?.kind === 'files' ? { kind: 'files', name: name ?? 'a local folder' } : choice;
    return this.queue(() => this.writeMeta());
  }

  get model(): SavedModel | undefined {
    return this.meta.model;
  }

  private async writeMeta(): Promise<void> {
    this.meta.savedAt = this.now();
    try {
      await this.db.put('meta', [['session', this.meta]], 'the session summary');
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    if (!isQuotaError(e))
      this.otherFailure = `Saving failed: ${(e as Error)?.message ?? String(e)}. What is on the page works as before; it may not come back after a reload.`;
  }

  /** Writes what changed in the dataset (queued; never throws: see report()). */
  saveDataset(d: {
    records: ReadonlyMap<string, StoredRecord>;
    images: ReadonlyMap<string, Blob>;
    problems: readonly Problem[];
  }): Promise<void> {
    // Snapshot now: the caller keeps changing its maps.
    const records = [...d.records.values()].map((r) => ({ ...r }));
    const used = new Map<string, Blob>();
    for (const r of records) {
      const b = d.images.get(r.image);
      if (b) used.set(r.image, b);
    }
    const problems = [...d.problems];
    return this.queue(() => this.writeDataset(records, used, problems));
  }

  private async writeDataset(records: StoredRecord[], images: Map<string, Blob>, problems: Problem[]): Promise<void> {
    this.recordsTotal = records.length;
    this.imagesTotal = images.size;
    try {
      // Records first: they are small and hold the user's edits; a record whose image did not fit
      // comes back named, so only that image has to be dropped again.
      const ids = new Set(records.map((r) => r.id));
      const changed: [string, RecordEntry][] = [];
      for (const r of records) {
        const json = JSON.stringify(r);
        const w = this.written.get(r.id);
        if (w && w.json === json) continue;
        changed.push([r.id, { seq: w?.seq ?? this.meta.nextSeq++, record: r }]);
      }
      const unsaved = new Set<string>();
      const stored = (chunk: [string, RecordEntry][]) => {
        for (const [id, e] of chunk) this.written.set(id, { json: JSON.stringify(e.record), seq: e.seq });
      };
      for (let i = 0; i < changed.length; i += 500) {
        const chunk = changed.slice(i, i + 500);
        try {
          await this.putMakingRoom('records', chunk, plural(chunk.length, 'record'));
          stored(chunk);
        } catch (e) {
          if (!isQuotaError(e)) throw e;
          // One by one: as many as fit.
          for (const one of chunk) {
            try {
              await this.db.put('records', [one], `the record ${one[0]}`);
              stored([one]);
            } catch (e2) {
              if (!isQuotaError(e2)) throw e2;
              unsaved.add(one[0]);
            }
          }
        }
      }
      for (const id of this.unsavedRecords) if (ids.has(id) && !changed.some(([c]) => c === id)) unsaved.add(id);
      this.unsavedRecords = unsaved;
      const gone = [...this.written.keys()].filter((id) => !ids.has(id));
      await this.db.delete('records', gone);
      for (const id of gone) this.written.delete(id);

      for (const [k, blob] of images) {
        if (this.storedImages.get(k) === blob) continue;
        try {
          await this.putMakingRoom('images', [[k, blob]], `the image ${k}`);
          this.storedImages.set(k, blob);
          this.unsavedImages.delete(k);
        } catch (e) {
          if (!isQuotaError(e)) throw e;
          this.unsavedImages.set(k, 'the storage is full');
        }
      }
      const goneImages = [...this.storedImages.keys()].filter((k) => !images.has(k));
      await this.db.delete('images', goneImages);
      for (const k of goneImages) this.storedImages.delete(k);
      for (const k of [...this.unsavedImages.keys()]) if (!images.has(k)) this.unsavedImages.delete(k);

      this.meta.problems = problems;
      await this.writeMeta();
      this.otherFailure = null;
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * A put that, when the quota is full, first gives up the cached image features (they can be
   * computed again; the user's images and records cannot) and tries once more.
   */
  private async putMakingRoom(store: 'images' | 'records', entries: [string, unknown][], what: string): Promise<void> {
    try {
      await this.db.put(store, entries, what);
    } catch (e) {
      if (!isQuotaError(e)) throw e;
      const features = await this.db.keys('features');
      if (!features.length) throw e;
      await this.db.clear(['features']);
      this.featuresEvicted += features.length;
      await this.db.put(store, entries, what);
    }
  }

  /** Stored features for these images (by image key). */
  async loadFeatures(modelKey: string, images: [string, Blob][]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const [k, blob] of images) {
      const v = await this.db.get('features', featureKey(modelKey, k, blob));
      if (v instanceof Float32Array) out.set(k, v);
    }
    return out;
  }

  /** Stores features; a full quota skips them (they are computed again after a reload). */
  saveFeatures(modelKey: string, entries: [string, Blob, Float32Array][]): Promise<void> {
    return this.queue(async () => {
      for (const [k, blob, f] of entries) {
        try {
          await this.db.put('features', [[featureKey(modelKey, k, blob), f]], `the features of ${k}`);
        } catch (e) {
          if (!isQuotaError(e)) return this.fail(e);
          this.unsavedFeatures++;
        }
      }
    });
  }

  async loadReference(key: string): Promise<ReferenceSums | undefined> {
    const v = await this.db.get('references', key);
    return isObj(v) && isNum(v.chosen) && isNum(v.rejected) ? { chosen: v.chosen, rejected: v.rejected } : undefined;
  }

  saveReference(key: string, sums: ReferenceSums): Promise<void> {
    return this.queue(async () => {
      try {
        await this.db.put('references', [[key, { chosen: sums.chosen, rejected: sums.rejected }]], 'reference log-probs');
      } catch (e) {
        if (!isQuotaError(e)) return this.fail(e);
        this.unsavedReferences++;
      }
    });
  }

  /** Features and reference log-probs of a dataset that is gone. */
  clearDerived(): Promise<void> {
    return this.queue(() => this.db.clear(['features', 'references']));
  }

  /** Everything: the next page load starts empty. */
  async clearAll(): Promise<void> {
    await this.queue(() => this.db.clear());
    this.written.clear();
    this.storedImages.clear();
    this.unsavedImages.clear();
    this.unsavedRecords.clear();
    this.meta = { schema: SESSION_SCHEMA, problems: [], nextSeq: 0, savedAt: '' };
    this.unsavedFeatures = this.unsavedReferences = this.featuresEvicted = 0;
    this.otherFailure = null;
  }

  /** What is stored and what is not (after the pending writes). */
  async report(view?: DatasetView): Promise<Pick<StorageReport, 'saved' | 'total' | 'notSaved'>> {
    await this.flush();
    const notSaved: string[] = [];
    if (this.unsavedImages.size) {
      const keys = [...this.unsavedImages.keys()];
      const users = view ? view.records.filter((r) => this.unsavedImages.has(r.image)).length : undefined;
      notSaved.push(
        `${plural(keys.length, 'image')} of ${this.imagesTotal} could not be stored (${listSome(keys)}): the storage is full. ` +
          `${users !== undefined ? `The ${plural(users, 'record')} using ${keys.length === 1 ? 'it' : 'them'} will` : 'Records using them will'} not come back after a reload; everything works until then, training included.`,
      );
    }
    if (this.unsavedRecords.size)
      notSaved.push(
        `${plural(this.unsavedRecords.size, 'record')} of ${this.recordsTotal} could not be stored (${listSome([...this.unsavedRecords])}): the storage is full.`,
      );
    if (this.featuresEvicted)
      notSaved.push(
        `Cached image features (${this.featuresEvicted}) were deleted to make room for your images: they are computed again when needed.`,
      );
    if (this.unsavedFeatures)
      notSaved.push(
        `Image features of ${plural(this.unsavedFeatures, 'image')} could not be stored: after a reload they are computed again.`,
      );
    if (this.unsavedReferences)
      notSaved.push(
        `Reference log-probs of ${plural(this.unsavedReferences, 'record')} could not be stored: after a reload they are computed again.`,
      );
    if (this.otherFailure) notSaved.push(this.otherFailure);
    const [features, references] = await Promise.all([this.db.keys('features'), this.db.keys('references')]);
    const savedRecords = [...this.written.values()].filter((w) => w.json !== '').length;
    return {
      saved: {
        records: savedRecords,
        images: this.storedImages.size,
        features: features.length,
        references: references.length,
        runs: 0,
        adapters: 0,
      },
      total: { records: this.recordsTotal, images: this.imagesTotal, runs: 0 },
      notSaved,
    };
  }
}
