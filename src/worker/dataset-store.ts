// The Worker's copy of the user's dataset: imported records, their images, the dispreferred
// text answers (user supplied or injected) and the problems found. Drops add to what is there;
// edits re-run the injector only where the user did not write the rejected answer.
import { importDataset } from '../povid/dataset';
import { injectHallucination } from '../povid/inject';
import { splitHeldout } from '../povid/schedule';
import type { PreferenceRecord, Problem } from '../povid/types';
import type { DatasetView, DropFile, Edit, RecordView } from './api';

export interface StoredRecord extends PreferenceRecord {
  rejectedText: string;
  rejectedSource: 'user' | 'injected';
  edits: Edit[];
  noisyAnswer?: string;
}

export interface DatasetStoreOptions {
  seed: number;
  strength: number;
  heldoutFraction: number;
  countTokens?: (text: string) => number;
  maxTokens?: number;
}

export class DatasetStore {
  readonly records = new Map<string, StoredRecord>();
  readonly images = new Map<string, Blob>();
  problems: Problem[] = [];

  constructor(public opts: DatasetStoreOptions) {}

  async add(files: DropFile[]): Promise<DatasetView> {
    const result = await importDataset(
      files.map((f) => ({ name: f.path, blob: f.blob })),
      { countTokens: this.opts.countTokens, maxTokens: this.opts.maxTokens },
    );
    this.problems.push(...result.problems);
    // Image keys are base names, unique within one drop: a later drop's "1.jpg" gets its own key.
    const rekey = new Map<string, string>();
    for (const [name, blob] of result.images) {
      let key = name;
      for (let i = 2; this.images.has(key) && this.images.get(key) !== blob; i++) key = `${name} (${i})`;
      rekey.set(name, key);
    }
    for (const rec of result.records) {
      const r = { ...rec, image: rekey.get(rec.image) ?? rec.image };
      if (this.records.has(r.id)) {
        this.problems.push({ file: r.source.file, record: r.id, reason: `duplicate id "${r.id}": a record with this id was added before; it is kept and this one skipped` });
        continue;
      }
      const img = result.images.get(rec.image);
      if (img) this.images.set(r.image, img);
      this.records.set(r.id, this.withRejected(r));
    }
    return this.view();
  }

  private withRejected(r: PreferenceRecord): StoredRecord {
    if (r.rejected !== undefined && r.rejected.trim() !== '') return { ...r, rejectedText: r.rejected, rejectedSource: 'user', edits: [] };
    const inj = injectHallucination(r.chosen, { seed: this.seedOf(r.id), strength: this.opts.strength, question: r.question });
    return { ...r, rejectedText: inj.text, rejectedSource: 'injected', edits: inj.edits.map((e) => ({ kind: e.kind, start: e.start, end: e.end, from: e.from, to: e.to })) };
  }

  /** Per-record seed: the same record gets the same hallucination whatever else is in the drop. */
  private seedOf(id: string): number {
    let h = this.opts.seed >>> 0;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
    return h;
  }

  get(id: string): StoredRecord {
    const r = this.records.get(id);
    if (!r) throw new Error(`no record with id "${id}"; it may have been removed`);
    return r;
  }

  update(id: string, patch: { question?: string; chosen?: string; rejected?: string }): RecordView {
    const r = this.get(id);
    const question = patch.question?.trim() ?? r.question;
    const chosen = patch.chosen?.trim() ?? r.chosen;
    if (question === '') throw new Error(`record "${id}": the question cannot be empty`);
    if (chosen === '') throw new Error(`record "${id}": the answer cannot be empty`);
    let next: StoredRecord;
    if (patch.rejected !== undefined && patch.rejected.trim() !== '' && patch.rejected !== r.rejectedText) {
      next = { ...r, question, chosen, rejected: patch.rejected.trim(), rejectedText: patch.rejected.trim(), rejectedSource: 'user', edits: [] };
    } else if (r.rejectedSource === 'injected' || patch.rejected?.trim() === '') {
      next = this.withRejected({ ...r, question, chosen, rejected: undefined });
    } else {
      next = { ...r, question, chosen };
    }
    next.noisyAnswer = chosen === r.chosen && question === r.question ? r.noisyAnswer : undefined;
    this.records.set(id, next);
    return this.viewOf(next, this.splitSets().heldout.has(id));
  }

  remove(id: string): DatasetView {
    this.get(id);
    this.records.delete(id);
    return this.view();
  }

  clear(): void {
    this.records.clear();
    this.images.clear();
    this.problems = [];
  }

  /** Records in train / held-out, deterministically for the seed. */
  split(seed = this.opts.seed, fraction = this.opts.heldoutFraction): { train: StoredRecord[]; heldout: StoredRecord[] } {
    return splitHeldout([...this.records.values()], fraction, seed);
  }

  private splitSets(): { heldout: Set<string> } {
    return { heldout: new Set(this.split().heldout.map((r) => r.id)) };
  }

  /** Identifies the training data of a run (so a checkpoint is not resumed on other data). */
  key(): string {
    let h = 2166136261;
    for (const r of this.records.values()) {
      const s = `${r.id}\u0000${r.image}\u0000${r.question}\u0000${r.chosen}\u0000${r.rejectedText}\u0001`;
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
    }
    return `${this.records.size}-${h.toString(16)}`;
  }

  private viewOf(r: StoredRecord, heldout: boolean): RecordView {
    return {
      id: r.id,
      image: r.image,
      question: r.question,
      chosen: r.chosen,
      rejected: r.rejectedText,
      rejectedSource: r.rejectedSource,
      edits: r.edits,
      noisyAnswer: r.noisyAnswer,
      split: heldout ? 'heldout' : 'train',
    };
  }

  view(): DatasetView {
    const { heldout } = this.splitSets();
    return { records: [...this.records.values()].map((r) => this.viewOf(r, heldout.has(r.id))), problems: [...this.problems] };
  }
}
