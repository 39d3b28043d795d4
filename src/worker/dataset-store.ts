// The Worker's copy of the user's dataset: imported records, their images, the dispreferred
// text answers (user supplied or injected) and the problems found. Drops add to what is there;
// edits re-run the injector only where the user did not write the rejected answer.
import { importDataset, sortProblems } from '../povid/dataset';
import { yieldToEventLoop, YIELD_EVERY } from '../povid/formats/common';
import { injectHallucination } from '../povid/inject';
import { splitHeldout } from '../povid/schedule';
import type { PreferenceRecord, Problem } from '../povid/types';
import type { ImageDecoder } from '../povid/validate';
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
  /** Full decode of each image at import (createImageBitmap in the Worker). */
  decodeImage?: ImageDecoder;
  /**
   * Most records a view carries (default all); the rest are read with slice(). Keeps each
   * message to the page small enough to deserialize without stalling it.
   */
  viewLimit?: number;
}

/** The loaded model's context: records whose prompt + answer do not fit are flagged. */
export interface LengthLimit {
  model: string;
  /** Longest sequence (image, prompt, answer, end token) the engine takes. */
  maxTokens: number;
  /** Tokens of the training sequence for this question and answer; throws when the text cannot be tokenized. */
  length(question: string, answer: string): number;
}

export class DatasetStore {
  readonly records = new Map<string, StoredRecord>();
  readonly images = new Map<string, Blob>();
  problems: Problem[] = [];
  /** Bumped on every change of the records, so a view read in slices can tell it is stale. */
  version = 0;
  /** Records left out of training, with the reason (too long for the loaded model's context). */
  private readonly flags = new Map<string, string>();
  private limit: LengthLimit | null = null;

  constructor(public opts: DatasetStoreOptions) {}

  /**
   * Sets the model's context and checks every record against it, so data dropped before the
   * model was loaded is flagged as soon as it is. Returns how many records are flagged.
   */
  async setLimit(limit: LengthLimit | null): Promise<number> {
    this.limit = limit;
    this.flags.clear();
    this.version++;
    let k = 0;
    for (const r of this.records.values()) {
      if (++k % YIELD_EVERY === 0) await yieldToEventLoop();
      this.checkLength(r);
    }
    return this.flags.size;
  }

  private checkLength(r: StoredRecord): void {
    this.flags.delete(r.id);
    const lim = this.limit;
    if (!lim) return;
    for (const [what, answer] of [
      ['the answer', r.chosen],
      [r.rejectedSource === 'user' ? 'the rejected answer' : 'the injected rejected answer', r.rejectedText],
    ] as const) {
      let n: number;
      try {
        n = lim.length(r.question, answer);
      } catch (e) {
        this.flags.set(r.id, `${what} cannot be used with ${lim.model}: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      if (n > lim.maxTokens) {
        this.flags.set(
          r.id,
          `with the image and the question, ${what} makes ${n} tokens, over the ${lim.maxTokens} of ${lim.model}'s context; shorten it (the record is left out of training until then)`,
        );
        return;
      }
    }
  }

  async add(files: DropFile[]): Promise<DatasetView> {
    const result = await importDataset(
      files.map((f) => ({ name: f.path, blob: f.blob })),
      { decodeImage: this.opts.decodeImage },
    );
    const found: Problem[] = [...result.problems];
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
        found.push({
          file: r.source.file,
          record: r.id,
          line: r.source.line,
          reason: `duplicate id "${r.id}": a record with this id was added before; it is kept and this one skipped`,
        });
        continue;
      }
      const img = result.images.get(rec.image);
      if (img) this.images.set(r.image, img);
      const stored = this.withRejected(r);
      this.records.set(r.id, stored);
      this.checkLength(stored);
    }
    this.problems.push(...sortProblems(found));
    this.version++;
    return this.view();
  }

  private withRejected(r: PreferenceRecord): StoredRecord {
    if (r.rejected !== undefined && r.rejected.trim() !== '') return { ...r, rejectedText: r.rejected, rejectedSource: 'user', edits: [] };
    const inj = injectHallucination(r.chosen, { seed: this.seedOf(r.id), strength: this.opts.strength, question: r.question });
    return {
      ...r,
      rejectedText: inj.text,
      rejectedSource: 'injected',
      edits: inj.edits.map((e) => ({ kind: e.kind, start: e.start, end: e.end, from: e.from, to: e.to })),
    };
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
      next = {
        ...r,
        question,
        chosen,
        rejected: patch.rejected.trim(),
        rejectedText: patch.rejected.trim(),
        rejectedSource: 'user',
        edits: [],
      };
    } else if (r.rejectedSource === 'injected' || patch.rejected?.trim() === '') {
      next = this.withRejected({ ...r, question, chosen, rejected: undefined });
    } else {
      next = { ...r, question, chosen };
    }
    next.noisyAnswer = chosen === r.chosen && question === r.question ? r.noisyAnswer : undefined;
    this.records.set(id, next);
    this.checkLength(next);
    this.version++;
    return this.viewOf(next, this.splitSets().heldout.has(id));
  }

  remove(id: string): DatasetView {
    this.get(id);
    this.records.delete(id);
    this.flags.delete(id);
    this.version++;
    return this.view();
  }

  clear(): void {
    this.records.clear();
    this.images.clear();
    this.problems = [];
    this.flags.clear();
    this.version++;
  }

  /** Records that can be trained on: all but the flagged ones. */
  usable(): StoredRecord[] {
    const out: StoredRecord[] = [];
    for (const r of this.records.values()) if (!this.flags.has(r.id)) out.push(r);
    return out;
  }

  /** Usable records in train / held-out, deterministically for the seed. */
  split(seed = this.opts.seed, fraction = this.opts.heldoutFraction): { train: StoredRecord[]; heldout: StoredRecord[] } {
    return splitHeldout(this.usable(), fraction, seed);
  }

  private splitSets(): { heldout: Set<string> } {
    return { heldout: new Set(this.split().heldout.map((r) => r.id)) };
  }

  /** Identifies the training data of a run (so a checkpoint is not resumed on other data). */
  key(): string {
    let h = 2166136261;
    const usable = this.usable();
    for (const r of usable) {
      const s = `${r.id}\u0000${r.image}\u0000${r.question}\u0000${r.chosen}\u0000${r.rejectedText}\u0001`;
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
    }
    return `${usable.length}-${h.toString(16)}`;
  }

  private viewOf(r: StoredRecord, heldout: boolean): RecordView {
    const flag = this.flags.get(r.id);
    return {
      id: r.id,
      image: r.image,
      question: r.question,
      chosen: r.chosen,
      rejected: r.rejectedText,
      rejectedSource: r.rejectedSource,
      edits: r.edits,
      noisyAnswer: r.noisyAnswer,
      split: flag !== undefined ? 'excluded' : heldout ? 'heldout' : 'train',
      ...(flag !== undefined ? { flag } : {}),
    };
  }

  /**
   * Problems of the imports, then one per flagged record (current: they go when the record is
   * fixed). Records up to `limit`; `total` and `version` tell the reader what slice() to ask for.
   */
  view(limit = this.opts.viewLimit ?? Infinity): DatasetView {
    const flagged: Problem[] = [];
    for (const [id, reason] of this.flags) {
      const r = this.records.get(id)!;
      flagged.push({
        file: r.source.file,
        record: id,
        line: r.source.line,
        reason: r.source.line ? `line ${r.source.line}: ${reason}` : reason,
      });
    }
    return {
      records: this.slice(0, limit),
      problems: [...this.problems, ...sortProblems(flagged)],
      total: this.records.size,
      version: this.version,
    };
  }

  /** Views of the records from `start` to `end` (exclusive), in order. */
  slice(start: number, end: number): RecordView[] {
    const { heldout } = this.splitSets();
    const out: RecordView[] = [];
    let i = 0;
    for (const r of this.records.values()) {
      if (i >= end) break;
      if (i++ >= start) out.push(this.viewOf(r, heldout.has(r.id)));
    }
    return out;
  }
}
