// The Web Worker: owns the GPU, the model, the dataset and the training loop. The page calls
// these methods through comlink and renders what they return and stream.
import * as Comlink from 'comlink';
import { loraName, targetsOfProjections } from '../engine/checkpoint';
import { peftFromEngine, readPeftAdapter, zipAdapter, type AdapterFiles } from '../export/peft';
import { exportDataset } from '../export/dataset';
import { DeviceLostError, GpuContext } from '../gpu';
import { readZip } from '../povid/formats/zip';
import type { Checkpoint } from '../povid/checkpoint';
import { noiseImageBlob, noisyPixels } from '../povid/noise';
import { estimateRun, type ProbeTimings, type TrainEstimate } from '../povid/estimate';
import { noisyFeatures, prepareExamples, type ImageDeps, type PrepareDeps, type TrainExample } from '../povid/prepare';
import { exampleOrder, reusedExamples, totalOptimizerSteps } from '../povid/schedule';
import { PovidTrainer, TrainingError, validateTrainConfig } from '../povid/trainer';
import {
  DEFAULT_TRAIN_CONFIG,
  StaleViewError,
  type AnswerScore,
  type ScoreRequest,
  type TrainProgress,
  type DatasetView,
  type DropFile,
  type GenerateRequest,
  type GpuStatus,
  type ImageDetail,
  type LoadProgress,
  type ModelChoice,
  type ModelSummary,
  type PovidWorkerApi,
  type RecordView,
  type StepMetrics,
  type EvalMetrics,
  type TrainConfig,
  type RestoredSession,
  type RunMetrics,
  type RunSummary,
  type StorageReport,
  type WorkCounters,
} from './api';
import type { ImageGrid } from '../model/chat';
import { scoreAnswers } from './answer-scores';
import { DatasetStore } from './dataset-store';
import { HallucinationEvaluator } from './evaluate';
import { runHallucination } from './hallucination-report';
import type { BenchmarkOptions, EvalProgress, HallucinationReport, RecordEvalOptions } from './hallucination-api';
import { GpuQueue } from './gpu-queue';
import { ModelSession } from './model-session';
import { SessionKeeper } from './persist';
import type { RunContext } from './runs';
import { probeTimings } from './probe';

const MAX_SEQ = 384;
/** Question and answer room next to a tiled image's tokens. */
const TILES_TEXT_BUDGET = 128;
/** Records per message to the page: about 10 ms to deserialize there. */
const VIEW_SLICE = 1000;

/** A generation's Stop: set by stopGeneration; `keep` bounds the tokens it may still send. */
interface GenerationStop {
  stop: boolean;
  keep?: number;
}

function pageBase(): string {
  return new URL(import.meta.env.BASE_URL ?? '/', self.location.origin).href;
}

class PovidWorker implements PovidWorkerApi {
  private ctx: GpuContext | null = null;
  private session: ModelSession | null = null;
  private choice: ModelChoice | null = null;
  private dataset = new DatasetStore({
    seed: DEFAULT_TRAIN_CONFIG.seed,
    strength: 0.5,
    heldoutFraction: DEFAULT_TRAIN_CONFIG.heldoutFraction,
    decodeImage,
    viewLimit: VIEW_SLICE,
  });
  private trainer: PovidTrainer | null = null;
  /** The saved session (IndexedDB): dataset, features, reference log-probs, runs. */
  private keeper = SessionKeeper.forThisContext();
  private examples = new Map<string, TrainExample>();
  private evaluator = new HallucinationEvaluator({
    session: () => this.model(),
    builtin: async (onProgress) => {
      if (this.choice?.kind !== 'builtin' || !this.session)
        await this.loadModel({ kind: 'builtin' }, (p) => onProgress(p.phase === 'ready' ? 1 : 0, 1));
      return this.model();
    },
    heldout: (seed, fraction) => this.dataset.split(seed, fraction).heldout,
    image: (id) => this.image(id),
    training: () => this.trainer !== null,
  });
  private gpuJobs = new GpuQueue();
  /** The running generation; stopGeneration sets its flag and how many tokens it may keep. */
  private generation: GenerationStop | null = null;
  /** Pause / cancel asked for before the trainer exists (during preparation). */
  private control = { pause: false, cancel: false };
  /**
   * The probe's timings for the loaded model at one image detail. A run's adapter shape changes
   * them little (LoRA is a small share of a step), so they hold until another model loads, the
   * image detail changes, or Measure again.
   */
  private probe: { session: ModelSession; detail: ImageDetail; timings: ProbeTimings } | null = null;

  private probeFor(s: ModelSession): ProbeTimings | undefined {
    return this.probe?.session === s && this.probe.detail === s.detail ? this.probe.timings : undefined;
  }

  /** Switches the session's image detail (the engine is rebuilt when its sequence limit changes): a GPU job. */
  private async applyDetail(s: ModelSession, detail: ImageDetail): Promise<void> {
    if (s.detail === detail) return;
    await s.setDetail(await this.gpu(), detail);
    this.examples.clear(); // token layouts and features change with the detail
  }

  private async gpu(): Promise<GpuContext> {
    if (!this.ctx || this.ctx.isLost) this.ctx = await GpuContext.create();
    return this.ctx;
  }

  private model(): ModelSession {
    if (!this.session) throw new TrainingError('No model is loaded yet: pick a model and press Load first.');
    return this.session;
  }

  async gpuStatus(): Promise<GpuStatus> {
    try {
      const ctx = await this.gpu();
      return { ok: true, adapter: ctx.adapterInfo, features: { f16: ctx.features.f16, subgroups: ctx.features.subgroups } };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }

  async loadModel(choice: ModelChoice, onProgress?: (p: LoadProgress) => void): Promise<ModelSummary> {
    const ctx = await this.gpu();
    const replaced = this.session;
    this.session?.destroy();
    this.session = null;
    this.examples.clear();
    const c = DEFAULT_TRAIN_CONFIG;
    const lora = { r: c.loraRank, alpha: c.loraAlpha, targets: targetsOfProjections(c.loraTargets), seed: c.seed };
    this.session = await ModelSession.load(
      ctx,
      choice,
      { maxSeq: MAX_SEQ, textBudget: TILES_TEXT_BUDGET, baseUrl: pageBase(), lora },
      onProgress,
    );
    this.choice = choice;
    const s = this.session;
    await this.dataset.setLimit({
      model: s.summary.name,
      maxTokens: s.opts.maxSeq,
      length: (q, a) => s.tokenizer.buildExample(q, a, s.imageSeqLen).inputIds.length,
    });
    this.keeper.modelLoaded(choice, s, replaced);
    return s.summary;
  }

  async setImageDetail(detail: ImageDetail): Promise<{ detail: ImageDetail; maxSeq: number }> {
    if (detail !== 'single' && detail !== 'tiles')
      throw new TrainingError(`unknown image detail "${String(detail)}"; choose 'single' or 'tiles'`);
    const s = this.model();
    // The engine may be rebuilt: only once the GPU job that runs now (a generation, a probe) has ended.
    return this.gpuJobs.run(async () => {
      await this.applyDetail(s, detail);
      return { detail, maxSeq: s.engine.limits.maxSeq };
    });
  }

  async addFiles(files: DropFile[]): Promise<DatasetView> {
    await this.keeper.settled();
    const view = await this.dataset.add(files);
    this.keeper.datasetChanged(this.dataset);
    return view;
  }

  async recordsSlice(start: number, end: number, version: number): Promise<RecordView[]> {
    if (version !== this.dataset.version)
      throw new StaleViewError(`the dataset changed (view ${version}, now ${this.dataset.version}); read it again`);
    return this.dataset.slice(start, end);
  }

  async datasetView(split?: { seed: number; heldoutFraction: number }): Promise<DatasetView> {
    if (split) {
      this.dataset.opts.seed = split.seed;
      this.dataset.opts.heldoutFraction = split.heldoutFraction;
    }
    return this.dataset.view();
  }

  async updateRecord(id: string, patch: Partial<Pick<RecordView, 'question' | 'chosen' | 'rejected'>>): Promise<RecordView> {
    this.examples.delete(id);
    const view = this.dataset.update(id, patch);
    this.keeper.datasetChanged(this.dataset);
    return view;
  }

  async removeRecord(id: string): Promise<DatasetView> {
    this.examples.delete(id);
    const view = this.dataset.remove(id);
    this.keeper.datasetChanged(this.dataset);
    return view;
  }

  async clearDataset(): Promise<void> {
    this.examples.clear();
    this.dataset.clear();
    this.keeper.datasetChanged(this.dataset);
    this.keeper.datasetCleared();
  }

  async image(id: string): Promise<Blob> {
    const r = this.dataset.get(id);
    const blob = this.dataset.images.get(r.image);
    if (!blob) throw new Error(`record "${id}": its image ${r.image} is not loaded`);
    return blob;
  }

  async noisyImage(id: string, t: number, seed = DEFAULT_TRAIN_CONFIG.seed): Promise<Blob> {
    return noiseImageBlob(await this.image(id), t, seed);
  }

  async noisyAnswer(id: string, t: number, maxNewTokens = 48, onToken?: (text: string) => void): Promise<string> {
    const s = this.model();
    const r = this.dataset.get(id);
    const stop = this.startGeneration();
    return this.gpuJobs.run(async () => {
      const img = await s.image(r.image, await this.image(id));
      const features = await noisyFeatures(imageDeps(s), img.pixels, { t, seed: DEFAULT_TRAIN_CONFIG.seed, use: 0 });
      const text = await this.generateText(s, r.question, features, img.grid, true, { maxNewTokens }, stop, onToken);
      r.noisyAnswer = text;
      this.keeper.datasetChanged(this.dataset);
      return text;
    });
  }

  /** A new generation replaces the stop flag; Stop applies to the one that runs or waits now. */
  private startGeneration(): GenerationStop {
    this.generation = { stop: false };
    return this.generation;
  }

  async stopGeneration(shown?: number): Promise<void> {
    if (!this.generation) return;
    this.generation.stop = true;
    if (shown !== undefined) this.generation.keep = shown + 1;
  }

  private async generateText(
    s: ModelSession,
    question: string,
    features: Float32Array,
    grid: ImageGrid,
    lora: boolean,
    o: { maxNewTokens?: number; temperature?: number; topP?: number; seed?: number },
    stop: GenerationStop,
    onToken?: (text: string) => void,
  ): Promise<string> {
    if (stop.stop) return '';
    const tokens = s.promptTokens(question, grid);
    const stops = new Set(s.stopTokens);
    const out: number[] = [];
    let emitted = 0;
    await s.engine.generate(
      { tokens, image: { features } },
      {
        maxNewTokens: o.maxNewTokens ?? 48,
        lora,
        stopTokens: s.stopTokens,
        temperature: o.temperature ?? 0,
        topP: o.topP ?? 1,
        seed: o.seed ?? 0,
        onToken: (tok) => {
          // A token was on its way to the page when Stop was pressed: this one would be a second
          // token past what the page showed, so the answer ends before it.
          if (stop.stop && stop.keep !== undefined && emitted >= stop.keep) return false;
          emitted++;
          if (!stops.has(tok)) out.push(tok);
          onToken?.(s.tokenizer.decode(out, true));
          // Stop pressed while this token was computed: it is the last one.
          return stop.stop ? false : undefined;
        },
      },
    );
    // `out` is what the page was sent; the result's tokens may hold the one the answer ended before.
    return s.tokenizer.decode(out, true).trim();
  }

  /** Image features of a record's image or a given image, noised when noiseStep is set. */
  private async requestFeatures(
    s: ModelSession,
    req: { recordId?: string; image?: Blob; noiseStep?: number; seed?: number },
  ): Promise<{ features: Float32Array; grid: ImageGrid }> {
    let key: string;
    let blob: Blob;
    if (req.recordId) {
      const r = this.dataset.get(req.recordId);
      key = r.image;
      blob = await this.image(req.recordId);
    } else if (req.image) {
      blob = req.image;
      key = `upload:${blob.size}:${blob.type}:${await quickHash(blob)}`;
    } else {
      throw new Error('pick a record image or drop an image to ask about');
    }
    const img = await s.image(key, blob);
    const features =
      req.noiseStep !== undefined
        ? await noisyFeatures(imageDeps(s), img.pixels, { t: req.noiseStep, seed: req.seed ?? 0, use: 0 })
        : await s.imageFeatures(key, blob);
    return { features, grid: img.grid };
  }

  async generate(req: GenerateRequest, onToken?: (text: string) => void): Promise<string> {
    const s = this.model();
    const stop = this.startGeneration();
    return this.gpuJobs.run(async () => {
      const { features, grid } = await this.requestFeatures(s, req);
      return this.generateText(s, req.question, features, grid, req.lora, req, stop, onToken);
    });
  }

  async scoreAnswers(req: ScoreRequest): Promise<AnswerScore[]> {
    const s = this.model();
    return this.gpuJobs.run(async () => {
      const { features, grid } = await this.requestFeatures(s, req);
      return scoreAnswers(
        { engine: s.engine, example: (q, a) => s.tokenizer.buildExample(q, a, s.imageSeqLen, grid) },
        req.question,
        req.answers,
        features,
      );
    });
  }

  async estimate(config: TrainConfig, remeasure = false): Promise<TrainEstimate> {
    const s = this.model();
    const split = this.dataset.split(config.seed, config.heldoutFraction);
    if (split.train.length === 0)
      throw new TrainingError(
        this.dataset.records.size > 0 && this.dataset.usable().length === 0
          ? `Every record is too long for ${s.summary.name}'s context (see the problems above the table): shorten the answers first.`
          : 'The dataset has no training record yet: drop images with a questions-and-answers file first.',
      );
    return this.gpuJobs.run(async () => {
      // Timed at the run's image detail, as training will switch to it.
      await this.applyDetail(s, config.imageDetail);
      let timings = this.probeFor(s);
      if (remeasure || !timings) {
        const [ex] = await this.prepareExamples(s, [split.train[0].id]);
        // Saved features and reference log-probs first; the probe keeps the sums it computes,
        // which are then counted and saved as training's would be.
        await this.keeper.afterPrepare(s, this.dataset, [ex]);
        const hadReference = ex.reference !== undefined;
        timings = await probeTimings({ engine: s.engine, ...imageDeps(s) }, ex, config);
        if (!hadReference && ex.reference) this.keeper.referenceComputed(s, this.dataset, ex);
        this.probe = { session: s, detail: s.detail, timings };
      }
      const all = [...split.train, ...split.heldout];
      // As the trainer does (PovidTrainer.referenceTodo): held-out records and reused training ones.
      const n = split.train.length;
      const reused = reusedExamples(exampleOrder(n, totalOptimizerSteps(n, config) * config.gradAccumulation, config.seed), n);
      const needsReference = [...split.train.filter((_, i) => reused[i]), ...split.heldout];
      return estimateRun(
        timings,
        {
          trainRecords: split.train.length,
          heldoutRecords: split.heldout.length,
          imagesToEncode: all.filter((r) => !this.examples.has(r.id)).length,
          referencesToCompute: needsReference.filter((r) => !this.examples.get(r.id)?.reference).length,
        },
        config,
      );
    });
  }

  /** The records' training examples, prepared once per record and kept until it is edited. */
  private prepareExamples(
    s: ModelSession,
    ids: string[],
    onProgress?: (p: TrainProgress) => void,
    cancelled?: () => boolean,
  ): Promise<TrainExample[]> {
    const load = async (id: string) => {
      const r = this.dataset.get(id);
      return { id, image: r.image, blob: await this.image(id), question: r.question, chosen: r.chosen, rejected: r.rejectedText };
    };
    const probe = this.probeFor(s);
    return prepareExamples(prepareDeps(s), ids, load, {
      cache: this.examples,
      onProgress,
      cancelled,
      secondsPerExample: probe ? probe.encodeMs / 1000 : undefined,
    });
  }

  async train(
    config: TrainConfig,
    onStep: (m: StepMetrics) => void,
    onEval?: (m: EvalMetrics) => void,
    onStatus?: (s: string) => void,
    onProgress?: (p: TrainProgress) => void,
  ): Promise<{ steps: number; stopped: 'done' | 'cancelled' }> {
    this.control = { pause: false, cancel: false };
    return this.gpuJobs.run(() => this.trainRun(config, null, onStep, onEval, onStatus, onProgress));
  }

  async resumeRun(
    id: string,
    onStep: (m: StepMetrics) => void,
    onEval?: (m: EvalMetrics) => void,
    onStatus?: (s: string) => void,
    onProgress?: (p: TrainProgress) => void,
  ): Promise<{ steps: number; stopped: 'done' | 'cancelled' }> {
    // Settings added since the run was saved take their defaults.
    const config = { ...DEFAULT_TRAIN_CONFIG, ...this.keeper.runs.get(id).config };
    this.control = { pause: false, cancel: false };
    return this.gpuJobs.run(() => this.trainRun(config, id, onStep, onEval, onStatus, onProgress));
  }

  /** A new run (resumeId null: never touches an earlier run) or the continuation of a stored one. */
  private async trainRun(
    config: TrainConfig,
    resumeId: string | null,
    onStep: (m: StepMetrics) => void,
    onEval?: (m: EvalMetrics) => void,
    onStatus?: (s: string) => void,
    onProgress?: (p: TrainProgress) => void,
  ): Promise<{ steps: number; stopped: 'done' | 'cancelled' }> {
    const s = this.model();
    if (this.dataset.records.size === 0)
      throw new TrainingError('The dataset has no valid record yet: drop images with a questions-and-answers file first.');
    if (this.dataset.usable().length === 0)
      throw new TrainingError(
        `Every record is too long for ${s.summary.name}'s context (see the problems above the table): shorten the answers first.`,
      );
    if (this.evaluator.busy) throw new TrainingError('A hallucination evaluation is running and holds the GPU: wait for it or cancel it.');
    if (this.keeper.trainingRun) throw new TrainingError('A run is training already: pause or cancel it first.');
    validateTrainConfig(config);
    const ctx = await this.gpu();
    if (config.imageDetail !== s.detail) {
      await s.setDetail(ctx, config.imageDetail);
      this.examples.clear();
    }
    const lora = { r: config.loraRank, alpha: config.loraAlpha, targets: targetsOfProjections(config.loraTargets), seed: config.seed };
    const cur = s.opts.lora;
    const sameShape = cur.r === lora.r && cur.alpha === lora.alpha && cur.targets.join() === lora.targets.join();
    const datasetKey = this.dataset.key();
    const resume = resumeId ? await this.keeper.runs.resumePoint(resumeId, this.runContext()) : null;
    if (!sameShape || cur.seed !== lora.seed || !resume) {
      // A fresh adapter for a fresh run (new init seed or shape).
      // Cached reference sums stay valid: they come from the frozen base model.
      await s.rebuildEngine(ctx, lora);
    }
    this.keeper.activeRun = undefined;
    const runs = this.keeper.runs;
    this.dataset.opts.seed = config.seed;
    this.dataset.opts.heldoutFraction = config.heldoutFraction;
    const split = this.dataset.split(config.seed, config.heldoutFraction);
    const run =
      resume?.run ??
      (await runs.create({
        config,
        model: { name: s.summary.name, baseModel: s.baseModel, key: this.keeper.modelKey(s) },
        datasetKey,
        trainRecords: split.train.length,
        totalSteps: totalOptimizerSteps(split.train.length, config),
      }));
    this.keeper.trainingRun = run.id;
    let res: { steps: number; stopped: 'done' | 'cancelled' };
    try {
      if (resume) {
        // The page redraws the charts from what the run already has.
        await runs.resumed(run.id, resume.checkpoint.step);
        for (const m of runs.metrics(run.id).history) onStep(m);
        for (const m of runs.metrics(run.id).evals) onEval?.(m);
      }
      const prepared = await this.prepareExamples(
        s,
        [...split.train, ...split.heldout].map((r) => r.id),
        onProgress,
        () => this.control.cancel,
      );
      const train = prepared.slice(0, split.train.length);
      const heldout = prepared.slice(split.train.length);
      await this.keeper.afterPrepare(s, this.dataset, prepared);
      const store = runs.checkpointStore(
        run.id,
        (params) => this.keeper.adapterFiles(s, params),
        () => this.keeper.store.flush(),
      );
      // The probe's time per step seeds the ETA until a step has been timed.
      const probe = this.probeFor(s);
      const secondsPerStep = probe
        ? estimateRun(probe, { trainRecords: train.length, heldoutRecords: 0, imagesToEncode: 0, referencesToCompute: 0 }, config)
            .secondsPerStep
        : undefined;
      const cb = {
        onStep: (m: StepMetrics) => {
          runs.step(run.id, m);
          onStep(m);
        },
        onEval: (m: EvalMetrics) => {
          runs.evaluated(run.id, m);
          onEval?.(m);
        },
        onStatus,
        onProgress,
        onReference: (ex: TrainExample) => this.keeper.referenceComputed(s, this.dataset, ex),
      };
      const go = async (from: Checkpoint | null) => {
        this.trainer = new PovidTrainer(
          { engine: s.engine, ...imageDeps(s), store, runId: run.id, decode: (ids) => s.tokenizer.decode(ids, true), secondsPerStep },
          train,
          heldout,
          config,
          datasetKey,
        );
        if (this.control.pause) this.trainer.pause();
        if (this.control.cancel) this.trainer.cancel();
        return this.trainer.run(cb, from);
      };
      if (this.control.cancel) res = { steps: resume?.checkpoint.step ?? 0, stopped: 'cancelled' };
      else {
        try {
          res = await go(resume?.checkpoint ?? null);
        } catch (e) {
          if (!(e instanceof DeviceLostError)) throw e;
          // A lost device: make a new one, reload the model's engine and continue from the last checkpoint.
          onStatus?.(`${e.message} Recreating the GPU device…`);
          const fresh = await this.gpu();
          await s.rebuildEngine(fresh, lora);
          res = await go(await store.load());
        }
      }
    } catch (e) {
      // A new run that never made a step is not worth a row in the list.
      if (!resume && runs.get(run.id).history.length === 0) await runs.delete(run.id).catch(() => undefined);
      else await runs.finish(run.id, 'error', null, 0).catch(() => undefined);
      throw e;
    } finally {
      this.trainer = null;
      this.keeper.trainingRun = undefined;
    }
    // Cancelled while preparing: a new run with no step is not kept either.
    if (!resume && res.steps === 0 && runs.get(run.id).history.length === 0) {
      await runs.delete(run.id).catch(() => undefined);
      return res;
    }
    const params = (await s.engine.lora!.exportState()).params;
    await runs.finish(run.id, res.stopped === 'done' ? 'done' : 'cancelled', this.keeper.adapterFiles(s, params), res.steps);
    this.keeper.activeRun = run.id;
    return res;
  }

  async pause(): Promise<void> {
    this.control.pause = true;
    this.trainer?.pause();
  }

  async resume(): Promise<void> {
    this.control.pause = false;
    this.trainer?.resume();
  }

  async cancel(): Promise<void> {
    this.control.cancel = true;
    this.trainer?.cancel();
  }

  async checkpointInfo(): Promise<{ step: number; totalSteps: number; savedAt: string; runId?: string; blocker?: string | null } | null> {
    const runs = await this.listRuns();
    // The newest unfinished run with a checkpoint: what "Resume" continues.
    const r = [...runs].reverse().find((x) => x.status !== 'done' && x.savedStep > 0 && x.savedStep < x.totalSteps);
    return r ? { step: r.savedStep, totalSteps: r.totalSteps, savedAt: r.updatedAt, runId: r.id, blocker: r.resumeBlocker } : null;
  }

  private runContext(): RunContext {
    return {
      modelKey: this.session ? this.keeper.modelKey(this.session) : undefined,
      datasetKey: this.dataset.key(),
      activeRun: this.keeper.activeRun,
      trainingRun: this.keeper.trainingRun,
    };
  }

  async restoreSession(): Promise<RestoredSession> {
    return this.keeper.restore(this.dataset, () => this.runContext());
  }

  async storageStatus(): Promise<StorageReport> {
    return this.keeper.report(this.dataset.view());
  }

  async workCounters(): Promise<WorkCounters> {
    return this.keeper.workCounters(this.session);
  }

  async startOver(opts?: { modelCache?: boolean }): Promise<void> {
    this.trainer?.cancel();
    await this.keeper.startOver(opts);
    this.examples.clear();
    this.dataset.clear();
  }

  async listRuns(): Promise<RunSummary[]> {
    return this.keeper.runSummaries(this.runContext());
  }

  async runMetrics(id: string): Promise<RunMetrics> {
    return this.keeper.runs.metrics(id);
  }

  async runAdapter(id: string): Promise<{ zip: Uint8Array; files: { name: string; bytes: Uint8Array }[] }> {
    const run = this.keeper.runs.get(id);
    const files = await this.keeper.runs.adapter(id);
    if (!files)
      throw new Error(
        `Run ${run.number} has no stored adapter${run.notSaved.length ? ` (${run.notSaved.join('; ')})` : ': it stopped before its first checkpoint'}.`,
      );
    return transferAdapter(files);
  }

  async deleteRun(id: string): Promise<RunSummary[]> {
    if (id === this.keeper.trainingRun) throw new Error('This run is training: cancel it before deleting it.');
    await this.keeper.runs.delete(id);
    if (this.keeper.activeRun === id) this.keeper.activeRun = undefined;
    return this.listRuns();
  }

  async useRun(id: string): Promise<RunSummary[]> {
    const run = this.keeper.runs.get(id);
    const files = await this.keeper.runs.adapter(id);
    if (!files) throw new Error(`Run ${run.number} has no stored adapter to load.`);
    await this.loadAdapter([
      { path: 'adapter_config.json', blob: new Blob([files['adapter_config.json'] as Uint8Array<ArrayBuffer>]) },
      { path: 'adapter_model.safetensors', blob: new Blob([files['adapter_model.safetensors'] as Uint8Array<ArrayBuffer>]) },
    ]);
    this.keeper.activeRun = id;
    return this.listRuns();
  }

  async exportAdapter(): Promise<{ zip: Uint8Array; files: { name: string; bytes: Uint8Array }[] }> {
    const s = this.model();
    const lora = s.engine.lora!;
    const files = peftFromEngine(lora.layout, await lora.get(), s.baseModel, s.decoderPrefix);
    return transferAdapter(files);
  }

  async loadAdapter(files: DropFile[]): Promise<void> {
    const s = this.model();
    this.keeper.activeRun = undefined;
    const all: DropFile[] = [];
    for (const f of files) {
      if (f.path.toLowerCase().endsWith('.zip')) {
        // readZip checks declared sizes before inflating anything.
        for (const e of (await readZip({ name: f.path, blob: f.blob })).files) all.push({ path: e.name, blob: e.blob });
      } else all.push(f);
    }
    const find = (n: string) => all.find((f) => f.path.split('/').pop() === n);
    const cfg = find('adapter_config.json');
    const weights = find('adapter_model.safetensors');
    if (!cfg || !weights) throw new Error('drop both adapter_config.json and adapter_model.safetensors (as exported) to load an adapter');
    const { spec, matrices } = readPeftAdapter(
      new Uint8Array(await cfg.blob.arrayBuffer()),
      new Uint8Array(await weights.blob.arrayBuffer()),
    );
    const ctx = await this.gpu();
    await s.rebuildEngine(ctx, { r: spec.r, alpha: spec.alpha, targets: spec.targets, seed: s.opts.lora.seed });
    const values = new Map<string, Float32Array>();
    for (const m of matrices) {
      values.set(loraName(s.decoderPrefix, m.layer, m.target, 'A'), m.A);
      values.set(loraName(s.decoderPrefix, m.layer, m.target, 'B'), m.B);
    }
    await s.engine.lora!.set(values);
  }

  async evaluateHallucination(opts: RecordEvalOptions, onProgress?: (p: EvalProgress) => void): Promise<HallucinationReport> {
    const report = await this.gpuJobs.run(() => this.evaluator.records(opts, onProgress));
    // The adapter evaluated is the loaded run's (if one is): the run keeps its report.
    const run = this.keeper.activeRun;
    const kept = run ? runHallucination(report, new Date()) : null;
    if (run && kept) await this.keeper.runs.setReport(run, kept).catch((e) => console.warn('could not keep the report with the run', e));
    return report;
  }

  async runBuiltinBenchmark(
    opts: BenchmarkOptions,
    onProgress?: (p: EvalProgress) => void,
    onModel?: (s: ModelSummary) => void,
  ): Promise<HallucinationReport> {
    return this.gpuJobs.run(() => this.evaluator.benchmark(opts, onProgress, onModel));
  }

  async cancelEvaluation(): Promise<void> {
    this.evaluator.cancel();
  }

  async exportDataset(): Promise<Uint8Array> {
    const records = [...this.dataset.records.values()];
    // One noisy copy per image (same step and seed): records sharing an image share its file.
    const noisy = new Map<string, Blob>();
    for (const r of records) {
      const blob = this.dataset.images.get(r.image);
      if (blob && !noisy.has(r.image))
        noisy.set(r.image, await noiseImageBlob(blob, DEFAULT_TRAIN_CONFIG.noiseStep, DEFAULT_TRAIN_CONFIG.seed));
    }
    const zip = await exportDataset(
      records.map((r) => ({
        ...r,
        rejected: r.rejectedSource === 'user' ? r.rejectedText : undefined,
        rejectedText: r.rejectedText,
        noisyImage: noisy.get(r.image),
      })),
      this.dataset.images,
      { baseModel: this.session?.hubId },
    );
    return Comlink.transfer(zip, [zip.buffer]);
  }
}

/** The adapter's two PEFT files and a zip of them, moved (not copied) to the page. */
function transferAdapter(files: AdapterFiles): { zip: Uint8Array; files: { name: string; bytes: Uint8Array }[] } {
  const zip = zipAdapter(files);
  const list = [
    { name: 'adapter_config.json', bytes: files['adapter_config.json'] },
    { name: 'adapter_model.safetensors', bytes: files['adapter_model.safetensors'] },
  ];
  return Comlink.transfer({ zip, files: list }, [zip.buffer]);
}

/** The session's vision encoder with POVID's image noise. */
function imageDeps(s: ModelSession): ImageDeps {
  return { encodeImage: (p) => s.vision.encode(p), noise: noisyPixels };
}

/** The session's tokenizer, image processor (at its image detail) and features (cached, or stored by the saved session), for preparing examples. */
function prepareDeps(s: ModelSession): PrepareDeps {
  return {
    chat: s.tokenizer,
    imageSeqLen: s.imageSeqLen,
    maxSeq: s.engine.limits.maxSeq,
    image: async (key, blob) => {
      const views = await s.views(key, blob);
      // Pixel values made afresh from the cached bytes at each read: a dataset of tiled images
      // holds 13 MB per image instead of 53.
      return {
        grid: views.grid,
        get pixels() {
          return s.normalise(views);
        },
      };
    },
    features: (key, pixels, blob) => s.imageFeatures(key, blob, pixels),
  };
}

/** Decodes an image fully, off the page's thread, so one that does not decode is refused at import. */
async function decodeImage(blob: Blob): Promise<{ width: number; height: number }> {
  if (typeof createImageBitmap !== 'function') throw new Error('this browser has no createImageBitmap');
  const bitmap = await createImageBitmap(blob);
  const size = { width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return size;
}

async function quickHash(blob: Blob): Promise<string> {
  const buf = await blob.arrayBuffer();
  const digest = await crypto.subtle.digest('SHA-256', buf);
  return Array.from(new Uint8Array(digest).slice(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}

Comlink.expose(new PovidWorker());
