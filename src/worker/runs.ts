// Training runs, each kept on its own: settings, metrics, the checkpoint to resume from and the
// adapter in PEFT's format (and, once evaluated, its hallucination report). A new run never
// replaces an old one. The run list lives in small records; checkpoints (adapter + Adam moments)
// and adapter files are stored apart, so listing runs never reads megabytes.
import type { AdapterFiles } from '../export/peft';
import { StorageQuotaError, type Checkpoint, type CheckpointStore } from '../povid/checkpoint';
import {
  DEFAULT_TRAIN_CONFIG,
  type EvalMetrics,
  type HallucinationReport,
  type RunMetrics,
  type RunStatus,
  type RunSummary,
  type StepMetrics,
  type TrainConfig,
} from './api';
import { listSome } from './session-store';
import { isQuotaError, type StorageBackend } from './storage';

export const RUN_SCHEMA = 2;

export interface RunRecord {
  schema: number;
  id: string;
  number: number;
  createdAt: string;
  updatedAt: string;
  status: RunStatus;
  totalSteps: number;
  savedStep: number;
  config: TrainConfig;
  model: { name: string; baseModel: string; key: string };
  datasetKey: string;
  trainRecords: number;
  history: StepMetrics[];
  evals: EvalMetrics[];
  resumedFrom: number[];
  adapterStep: number; // 0: no adapter stored
  hallucination?: HallucinationReport;
  legacy?: boolean;
  /** Things of this run the browser refused to store. */
  notSaved: string[];
}

export interface StoredCheckpoint {
  step: number;
  microStep: number;
  totalSteps: number;
  params: Float32Array;
  adamM: Float32Array;
  adamV: Float32Array;
  rngState: Uint32Array;
  savedAt: string;
}

export type { AdapterFiles };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const STATUSES: RunStatus[] = ['running', 'done', 'cancelled', 'interrupted', 'error'];

/** Settings of another version: known fields kept, missing ones from the defaults, unknown ones dropped. */
export function parseConfig(v: unknown): TrainConfig | null {
  if (!isObj(v)) return null;
  const c: TrainConfig = { ...DEFAULT_TRAIN_CONFIG };
  for (const k of Object.keys(DEFAULT_TRAIN_CONFIG) as (keyof TrainConfig)[]) {
    const d = DEFAULT_TRAIN_CONFIG[k];
    const x = v[k];
    if (x === undefined) continue;
    if (typeof d === 'number' && isNum(x)) (c as unknown as Record<string, unknown>)[k] = x;
    else if (typeof d === 'string' && isStr(x)) (c as unknown as Record<string, unknown>)[k] = x;
    else if (Array.isArray(d) && Array.isArray(x) && x.every(isStr)) (c as unknown as Record<string, unknown>)[k] = [...x];
    else return null;
  }
  return c;
}

const isStep = (m: unknown): m is StepMetrics => isObj(m) && isNum(m.step) && isNum(m.loss) && isNum(m.totalSteps);
const isEval = (m: unknown): m is EvalMetrics => isObj(m) && isNum(m.step) && isNum(m.loss);

/** A stored run as this version reads it, or why not. */
export function parseRun(v: unknown): RunRecord | { reason: string } {
  if (!isObj(v)) return { reason: 'not a run' };
  if (!isStr(v.id) || !isNum(v.number)) return { reason: 'no id' };
  const config = parseConfig(v.config);
  if (!config) return { reason: 'its settings cannot be read' };
  const history = Array.isArray(v.history) ? v.history.filter(isStep) : [];
  const evals = Array.isArray(v.evals) ? v.evals.filter(isEval) : [];
  const model =
    isObj(v.model) && isStr(v.model.name)
      ? { name: v.model.name, baseModel: isStr(v.model.baseModel) ? v.model.baseModel : '', key: isStr(v.model.key) ? v.model.key : '' }
      : { name: 'unknown model', baseModel: '', key: '' };
  const last = history[history.length - 1];
  return {
    schema: RUN_SCHEMA,
    id: v.id,
    number: v.number,
    createdAt: isStr(v.createdAt) ? v.createdAt : '',
    updatedAt: isStr(v.updatedAt) ? v.updatedAt : '',
    status: STATUSES.includes(v.status as RunStatus) ? (v.status as RunStatus) : 'interrupted',
    totalSteps: isNum(v.totalSteps) ? v.totalSteps : (last?.totalSteps ?? 0),
    savedStep: isNum(v.savedStep) ? v.savedStep : 0,
    config,
    model,
    datasetKey: isStr(v.datasetKey) ? v.datasetKey : '',
    trainRecords: isNum(v.trainRecords) ? v.trainRecords : 0,
    history,
    evals,
    resumedFrom: Array.isArray(v.resumedFrom) ? v.resumedFrom.filter(isNum) : [],
    adapterStep: isNum(v.adapterStep) ? v.adapterStep : 0,
    ...(isObj(v.hallucination) ? { hallucination: v.hallucination as unknown as HallucinationReport } : {}),
    ...(v.legacy === true ? { legacy: true } : {}),
    notSaved: Array.isArray(v.notSaved) ? v.notSaved.filter(isStr) : [],
  };
}

function parseCheckpoint(v: unknown): StoredCheckpoint | null {
  if (
    !isObj(v) ||
    !isNum(v.step) ||
    !(v.params instanceof Float32Array) ||
    !(v.adamM instanceof Float32Array) ||
    !(v.adamV instanceof Float32Array)
  )
    return null;
  return {
    step: v.step,
    microStep: isNum(v.microStep) ? v.microStep : v.step,
    totalSteps: isNum(v.totalSteps) ? v.totalSteps : 0,
    params: v.params,
    adamM: v.adamM,
    adamV: v.adamV,
    rngState: v.rngState instanceof Uint32Array ? v.rngState : new Uint32Array(4),
    savedAt: isStr(v.savedAt) ? v.savedAt : '',
  };
}

/**
 * The one checkpoint an earlier version of the app kept (schema 1, IndexedDB "povid-checkpoints"),
 * as a run of this version: settings, metrics and the resumable state come over; that version
 * saved no records, so it can only resume on the same data dropped again.
 */
export function runFromLegacyCheckpoint(
  v: unknown,
  number: number,
  now: string,
): { run: RunRecord; checkpoint: StoredCheckpoint } | { reason: string } {
  const cp = parseCheckpoint(v);
  if (!cp || !isObj(v)) return { reason: 'its adapter state cannot be read' };
  const config = parseConfig(v.config);
  if (!config) return { reason: 'its settings cannot be read' };
  const history = Array.isArray(v.history) ? v.history.filter(isStep) : [];
  const run: RunRecord = {
    schema: RUN_SCHEMA,
    id: `run-${number}-legacy`,
    number,
    createdAt: cp.savedAt || now,
    updatedAt: cp.savedAt || now,
    status: cp.step >= cp.totalSteps ? 'done' : 'interrupted',
    totalSteps: cp.totalSteps,
    savedStep: cp.step,
    config,
    model: { name: 'model not recorded (earlier version)', baseModel: '', key: '' },
    datasetKey: isStr(v.datasetKey) ? v.datasetKey : '',
    trainRecords: 0,
    history,
    evals: [],
    resumedFrom: [],
    adapterStep: 0,
    legacy: true,
    notSaved: [],
  };
  return { run, checkpoint: cp };
}

export interface RunContext {
  /** The loaded model's key, if a model is loaded. */
  modelKey?: string;
  datasetKey: string;
  /** The run whose adapter is in the engine now. */
  activeRun?: string;
  /** A run training now. */
  trainingRun?: string;
}

export class RunBook {
  private readonly runs = new Map<string, RunRecord>();
  private nextNumber = 1;
  /** Runs whose latest record the browser refused to store. */
  private readonly unstored = new Set<string>();
  /** Notes from the last restore: what could not be read. */
  dropped: string[] = [];

  constructor(
    readonly db: StorageBackend,
    private readonly now: () => string = () => new Date().toISOString(),
  ) {}

  async restore(): Promise<RunRecord[]> {
    this.runs.clear();
    const bad: string[] = [];
    const interrupted: RunRecord[] = [];
    for (const [k, v] of await this.db.entries('runs')) {
      const r = parseRun(v);
      if ('reason' in r) {
        bad.push(`"${k}" (${r.reason})`);
        continue;
      }
      // A run that was training when the page went away: it stopped at its last checkpoint.
      if (r.status === 'running') {
        r.status = 'interrupted';
        interrupted.push(r);
      }
      this.runs.set(r.id, r);
      this.nextNumber = Math.max(this.nextNumber, r.number + 1);
    }
    this.dropped = bad.length
      ? [
          `${bad.length} saved run${bad.length === 1 ? '' : 's'} could not be read and ${bad.length === 1 ? 'was' : 'were'} dropped: ${listSome(bad)}.`,
        ]
      : [];
    for (const r of interrupted) await this.write(r).catch(() => undefined);
    return this.list();
  }

  /** Imports the checkpoint of an earlier version as a run (see runFromLegacyCheckpoint). */
  async importLegacy(v: unknown): Promise<string> {
    const got = runFromLegacyCheckpoint(v, this.nextNumber, this.now());
    if ('reason' in got) return `A checkpoint from an earlier version of this app could not be used (${got.reason}) and was dropped.`;
    await this.db.put('checkpoints', [[got.run.id, got.checkpoint]], 'the imported checkpoint');
    await this.write(got.run);
    this.runs.set(got.run.id, got.run);
    this.nextNumber++;
    return `A checkpoint from an earlier version of this app (step ${got.run.savedStep} of ${got.run.totalSteps}) is now run ${got.run.number}, with its settings and metrics. That version did not save records or images: to resume it, drop the same data again.`;
  }

  list(): RunRecord[] {
    return [...this.runs.values()].sort((a, b) => a.number - b.number);
  }

  get(id: string): RunRecord {
    const r = this.runs.get(id);
    if (!r) throw new Error(`no run "${id}": it may have been deleted`);
    return r;
  }

  latest(): RunRecord | undefined {
    const all = this.list();
    return all[all.length - 1];
  }

  private async write(r: RunRecord): Promise<void> {
    r.updatedAt = this.now();
    await this.db.put('runs', [[r.id, r]], `run ${r.number}`);
  }

  /** Writes a run's record; a full quota is noted on the run, not thrown. */
  private async writeSoft(r: RunRecord): Promise<void> {
    try {
      await this.write(r);
      this.unstored.delete(r.id);
      r.notSaved = r.notSaved.filter((n) => !n.startsWith('its metrics'));
    } catch (e) {
      if (!isQuotaError(e)) throw e;
      this.unstored.add(r.id);
      note(r, `its metrics after step ${r.history.length} could not be stored (the storage is full)`);
    }
  }

  async create(init: {
    config: TrainConfig;
    model: RunRecord['model'];
    datasetKey: string;
    trainRecords: number;
    totalSteps: number;
  }): Promise<RunRecord> {
    const number = this.nextNumber++;
    const t = this.now();
    const r: RunRecord = {
      schema: RUN_SCHEMA,
      id: `run-${number}-${Date.parse(t).toString(36)}`,
      number,
      createdAt: t,
      updatedAt: t,
      status: 'running',
      totalSteps: init.totalSteps,
      savedStep: 0,
      config: structuredClone(init.config),
      model: init.model,
      datasetKey: init.datasetKey,
      trainRecords: init.trainRecords,
      history: [],
      evals: [],
      resumedFrom: [],
      adapterStep: 0,
      notSaved: [],
    };
    this.runs.set(r.id, r);
    await this.writeSoft(r);
    return r;
  }

  /** Metrics as they stream: kept in memory, stored with each checkpoint and at the end. */
  step(id: string, m: StepMetrics): void {
    const r = this.get(id);
    r.history = r.history.filter((x) => x.step < m.step);
    r.history.push(m);
    r.totalSteps = m.totalSteps;
  }

  evaluated(id: string, m: EvalMetrics): void {
    const r = this.get(id);
    r.evals = r.evals.filter((x) => x.step !== m.step);
    r.evals.push(m);
  }

  async checkpoint(id: string): Promise<StoredCheckpoint | null> {
    return parseCheckpoint(await this.db.get('checkpoints', id));
  }

  /** Why this run cannot be resumed in this context, or null when it can. */
  async resumeBlocker(r: RunRecord, ctx: RunContext, cp?: StoredCheckpoint | null): Promise<string | null> {
    if (r.status === 'done') return 'it is finished';
    if (ctx.trainingRun === r.id) return 'it is training now';
    const c = cp === undefined ? await this.checkpoint(r.id) : cp;
    if (!c)
      return r.config.checkpointEvery > 0
        ? 'no checkpoint of it was stored (the storage was full, or it stopped before its first one)'
        : 'it had checkpoints turned off (Checkpoint every = 0)';
    if (c.step >= c.totalSteps) return 'it is finished';
    if (!ctx.modelKey) return `load the model it was trained on first (${r.model.name})`;
    if (r.model.key && r.model.key !== ctx.modelKey) return `it was trained on ${r.model.name}: load that model to resume it`;
    if (r.datasetKey !== ctx.datasetKey)
      return r.legacy
        ? 'drop the records it was trained on again (an earlier version did not save them)'
        : 'the records changed since it was saved (added, removed or edited): start a new run';
    return null;
  }

  /** The checkpoint to resume from, as the trainer takes it; throws why not. */
  async resumePoint(id: string, ctx: RunContext): Promise<{ run: RunRecord; checkpoint: Checkpoint }> {
    const r = this.get(id);
    const cp = await this.checkpoint(id);
    const why = await this.resumeBlocker(r, ctx, cp);
    if (why || !cp) throw new ResumeError(`Run ${r.number} cannot be resumed: ${why}.`);
    return { run: r, checkpoint: this.asCheckpoint(r, cp) };
  }

  private asCheckpoint(r: RunRecord, cp: StoredCheckpoint): Checkpoint {
    return {
      runId: r.id,
      step: cp.step,
      microStep: cp.microStep,
      totalSteps: cp.totalSteps,
      config: r.config,
      datasetKey: r.datasetKey,
      params: cp.params,
      adamM: cp.adamM,
      adamV: cp.adamV,
      rngState: cp.rngState,
      history: r.history.filter((m) => m.step <= cp.step),
      savedAt: cp.savedAt,
    };
  }

  /** The run continues from `step`: metrics after it are dropped (they are made again). */
  async resumed(id: string, step: number): Promise<void> {
    const r = this.get(id);
    r.history = r.history.filter((m) => m.step <= step);
    r.evals = r.evals.filter((m) => m.step <= step);
    r.resumedFrom.push(step);
    r.status = 'running';
    await this.writeSoft(r);
  }

  /**
   * The trainer's CheckpointStore for one run. Each save stores the checkpoint in one
   * transaction (a refused write keeps the last good one), then the adapter files made from it,
   * then the run's metrics so far.
   */
  checkpointStore(id: string, adapterOf: (params: Float32Array) => AdapterFiles, before?: () => Promise<void>): CheckpointStore {
    return {
      save: async (cp: Checkpoint) => {
        await before?.();
        const r = this.get(id);
        const stored: StoredCheckpoint = {
          step: cp.step,
          microStep: cp.microStep,
          totalSteps: cp.totalSteps,
          params: cp.params,
          adamM: cp.adamM,
          adamV: cp.adamV,
          rngState: cp.rngState,
          savedAt: cp.savedAt,
        };
        try {
          await this.db.put('checkpoints', [[id, stored]], `the checkpoint of run ${r.number} at step ${cp.step}`);
        } catch (e) {
          if (!isQuotaError(e)) throw e;
          note(
            r,
            `its checkpoint at step ${cp.step} could not be stored (the storage is full); ${r.savedStep ? `the one at step ${r.savedStep} is kept` : 'no earlier one exists'}`,
          );
          await this.writeSoft(r);
          throw new StorageQuotaError(e);
        }
        r.savedStep = cp.step;
        r.history = (cp.history as StepMetrics[]).slice();
        await this.saveAdapter(r, cp.step, adapterOf(cp.params));
        await this.writeSoft(r);
      },
      load: async () => {
        const cp = await this.checkpoint(id);
        return cp ? this.asCheckpoint(this.get(id), cp) : null;
      },
      clear: async () => {
        await this.db.delete('checkpoints', [id]);
      },
    };
  }

  private async saveAdapter(r: RunRecord, step: number, files: AdapterFiles): Promise<void> {
    try {
      await this.db.put('adapters', [[r.id, { step, files }]], `the adapter of run ${r.number}`);
      r.adapterStep = step;
      r.notSaved = r.notSaved.filter((n) => !n.startsWith('its adapter'));
    } catch (e) {
      if (!isQuotaError(e)) throw e;
      note(
        r,
        `its adapter at step ${step} could not be stored (the storage is full)${r.adapterStep ? `; the one of step ${r.adapterStep} is kept` : ''}: download it now`,
      );
    }
  }

  /**
   * The end of a training call. The final adapter is stored; a finished run gives up its
   * optimizer state (only needed to resume), a cancelled one keeps it.
   */
  async finish(id: string, status: RunStatus, adapter: AdapterFiles | null, step: number): Promise<void> {
    const r = this.get(id);
    r.status = status;
    if (adapter && step > 0) await this.saveAdapter(r, step, adapter);
    if (status === 'done') await this.db.delete('checkpoints', [id]).catch(() => undefined);
    await this.writeSoft(r);
  }

  async adapter(id: string): Promise<AdapterFiles | null> {
    const v = await this.db.get('adapters', id);
    if (!isObj(v) || !isObj(v.files)) return null;
    const config = v.files['adapter_config.json'];
    const weights = v.files['adapter_model.safetensors'];
    return config instanceof Uint8Array && weights instanceof Uint8Array
      ? { 'adapter_config.json': config, 'adapter_model.safetensors': weights }
      : null;
  }

  async setReport(id: string, report: HallucinationReport): Promise<void> {
    const r = this.get(id);
    r.hallucination = report;
    await this.writeSoft(r);
  }

  async delete(id: string): Promise<void> {
    const r = this.get(id);
    await this.db.delete('runs', [id]);
    await this.db.delete('checkpoints', [id]);
    await this.db.delete('adapters', [id]);
    this.runs.delete(r.id);
  }

  clearMemory(): void {
    this.runs.clear();
    this.nextNumber = 1;
    this.dropped = [];
  }

  async summaries(ctx: RunContext): Promise<RunSummary[]> {
    const out: RunSummary[] = [];
    for (const r of this.list()) {
      const blocker = r.status === 'done' ? null : await this.resumeBlocker(r, ctx);
      const last = r.history[r.history.length - 1];
      out.push({
        id: r.id,
        number: r.number,
        name: `Run ${r.number}`,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        status: r.status,
        step: last?.step ?? 0,
        totalSteps: r.totalSteps,
        savedStep: r.savedStep,
        config: r.config,
        model: r.model,
        datasetKey: r.datasetKey,
        trainRecords: r.trainRecords,
        ...(last ? { lastLoss: last.loss, lastAccuracy: last.accuracy } : {}),
        hasAdapter: r.adapterStep > 0,
        resumedFrom: [...r.resumedFrom],
        resumeBlocker: r.status === 'done' ? null : blocker,
        resumable: r.status !== 'done' && blocker === null,
        active: ctx.activeRun === r.id,
        ...(r.hallucination ? { hallucination: r.hallucination } : {}),
        ...(r.legacy ? { legacy: true } : {}),
      });
    }
    return out;
  }

  metrics(id: string): RunMetrics {
    const r = this.get(id);
    return { history: r.history.slice(), evals: r.evals.slice() };
  }

  /** Runs whose record is stored (the rest would not come back after a reload). */
  get storedCount(): number {
    return this.list().filter((r) => !this.unstored.has(r.id)).length;
  }

  /** Lines for the storage report: what of the runs is not stored. */
  notSaved(): string[] {
    return this.list().flatMap((r) => r.notSaved.map((n) => `Run ${r.number}: ${n}.`));
  }
}

function note(r: RunRecord, line: string): void {
  const kind = line.split(' ').slice(0, 2).join(' ');
  r.notSaved = [...r.notSaved.filter((n) => !n.startsWith(kind)), line];
}

export class ResumeError extends Error {
  override name = 'ResumeError';
}
