// Hallucination evaluation in the Worker, where the GPU is: greedy answers with the adapter off
// and on for the user's held-out records (estimates: the ground truth is what the preferred
// answers name), and the built-in benchmark in one go (the built-in model, generated scenes,
// a short POVID run, the same held-out scenes before and after). Progress streams as n/N; the
// page renders the report that hallucination-report.ts assembles.
import { targetsOfProjections } from '../engine/checkpoint';
import { benchmarkExamples, evaluateScenes, greedyAnswers, type BenchmarkDeps } from '../eval/benchmark';
import { renderScene, SCENE_SIZE, sceneSet, type Scene } from '../eval/scenes';
import type { ImageGrid } from '../model/chat';
import type { TrainConfig } from '../povid/config';
import { PovidTrainer, TrainingError } from '../povid/trainer';
import type { ModelSummary } from './api';
import type { BenchmarkOptions, EvalPhase, EvalProgress, HallucinationReport, RecordEvalOptions } from './hallucination-api';
import { benchmarkReport, planRecords, recordsReport, type PlanAnswers, type RecordInput } from './hallucination-report';
import type { ModelSession } from './model-session';

/** Scenes shown with their picture and answers in a benchmark report. */
const SAMPLE_SCENES = 8;
const THUMB = 128;
/** Bounds of the benchmark's sizes: enough to say something, small enough for one tab. */
const LIMITS = { trainScenes: [1, 512], heldoutScenes: [1, 512], steps: [1, 10_000] } as const;

export class EvaluationCancelled extends Error {
  override name = 'EvaluationCancelled';
  constructor() {
    super('The evaluation was cancelled.');
  }
}

/** What the evaluator needs from the Worker. */
export interface EvaluatorHost {
  /** The loaded model; throws with a message for the page when there is none. */
  session(): ModelSession;
  /** The built-in model, loaded now unless it is the one loaded. */
  builtin(onProgress: (done: number, total: number) => void): Promise<ModelSession>;
  /** Held-out records of the user's dataset for this seed and fraction, and their images. */
  heldout(seed: number, fraction: number): (RecordInput & { image: string })[];
  image(id: string): Promise<Blob>;
  /** A training run holds the GPU queue. */
  training(): boolean;
}

/** The session as the benchmark harness takes it (its engine as it is now). */
function harnessDeps(s: ModelSession): BenchmarkDeps {
  return {
    engine: s.engine,
    tokenizer: s.tokenizer,
    encodeImage: (p) => s.vision.encode(p),
    imageSeqLen: s.imageSeqLen,
    imageSize: s.vision.imageSize,
  };
}

/** A small PNG of a scene, for the report (undefined where there is no OffscreenCanvas). */
async function scenePicture(scene: Scene): Promise<Blob | undefined> {
  if (typeof OffscreenCanvas === 'undefined') return undefined;
  const full = new OffscreenCanvas(SCENE_SIZE, SCENE_SIZE);
  full.getContext('2d')!.putImageData(new ImageData(renderScene(scene) as Uint8ClampedArray<ArrayBuffer>, SCENE_SIZE, SCENE_SIZE), 0, 0);
  const small = new OffscreenCanvas(THUMB, THUMB);
  const g = small.getContext('2d')!;
  g.imageSmoothingQuality = 'high';
  g.drawImage(full, 0, 0, THUMB, THUMB);
  return small.convertToBlob({ type: 'image/png' });
}

/** Whole numbers within the benchmark's bounds, or a message naming the field and the range. */
export function checkBenchmarkOptions(o: Pick<BenchmarkOptions, 'trainScenes' | 'heldoutScenes' | 'steps'>): void {
  const names = { trainScenes: 'training scenes', heldoutScenes: 'held-out scenes', steps: 'training steps' };
  for (const k of Object.keys(LIMITS) as (keyof typeof LIMITS)[]) {
    const [lo, hi] = LIMITS[k];
    const v = o[k];
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new TrainingError(`the number of ${names[k]} must be a whole number from ${lo} to ${hi}, got ${String(v)}`);
  }
}

export class HallucinationEvaluator {
  private running = false;
  private cancelled = false;
  private trainer: PovidTrainer | null = null;

  constructor(private readonly host: EvaluatorHost) {}

  /** An evaluation holds the GPU queue. */
  get busy(): boolean {
    return this.running;
  }

  cancel(): void {
    this.cancelled = true;
    this.trainer?.cancel();
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running) throw new TrainingError('An evaluation is already running: wait for it or cancel it.');
    if (this.host.training())
      throw new TrainingError('Training is running and holds the GPU: wait for it to finish or cancel it, then evaluate.');
    this.running = true;
    this.cancelled = false;
    try {
      return await fn();
    } finally {
      this.running = false;
      this.trainer = null;
    }
  }

  private step(onProgress: ((p: EvalProgress) => void) | undefined, phase: EvalPhase, done: number, total: number): void {
    if (this.cancelled) throw new EvaluationCancelled();
    onProgress?.({ phase, done, total });
  }

  /** The user's held-out records, adapter off then on. */
  records(opts: RecordEvalOptions, onProgress?: (p: EvalProgress) => void): Promise<HallucinationReport> {
    return this.exclusive(async () => {
      const t0 = performance.now();
      const s = this.host.session();
      const held = this.host.heldout(opts.seed, opts.heldoutFraction);
      const { plans, estimate } = planRecords(held);
      const base = { model: s.summary.name, total: held.length, plans, estimate };
      if (plans.length === 0) return recordsReport({ ...base, before: null, after: null, seconds: (performance.now() - t0) / 1000 });
      const deps = harnessDeps(s);
      const keyOf = new Map(held.map((r) => [r.id, r.image]));
      const images = new Map<string, Blob>();
      const features: { features: Float32Array; grid: ImageGrid }[] = [];
      for (const [i, p] of plans.entries()) {
        const blob = await this.host.image(p.id);
        const key = keyOf.get(p.id)!;
        images.set(p.id, blob);
        // At the session's image detail: one view, or the tiles and a global view with their grid.
        features.push({ features: await s.imageFeatures(key, blob), grid: (await s.views(key, blob)).grid });
        this.step(onProgress, 'prepare', i + 1, plans.length);
      }
      const maxNewTokens = opts.maxNewTokens ?? 64;
      const side = async (lora: boolean, phase: EvalPhase): Promise<PlanAnswers[]> => {
        const out: PlanAnswers[] = [];
        this.step(onProgress, phase, 0, plans.length);
        for (const [i, p] of plans.entries()) {
          const { features: f, grid } = features[i];
          const texts = await greedyAnswers(
            deps,
            [
              { features: f, grid, question: p.question, draft: p.chosen },
              ...p.probes.map((q) => ({ features: f, grid, question: q.question, draft: q.present ? 'Yes.' : 'No.' })),
            ],
            { lora, maxNewTokens },
          );
          out.push({ answer: texts[0], probes: texts.slice(1) });
          this.step(onProgress, phase, i + 1, plans.length);
        }
        return out;
      };
      const before = await side(false, 'before');
      const after = await side(true, 'after');
      return recordsReport({ ...base, before, after, images, seconds: (performance.now() - t0) / 1000 });
    });
  }

  /**
   * The built-in benchmark: the built-in model with a fresh adapter, generated training and
   * held-out scenes (half of them inviting a planted pair), the held-out scenes evaluated, a
   * POVID run of `steps` steps on the training scenes, and the same scenes evaluated again.
   */
  async benchmark(
    opts: BenchmarkOptions,
    onProgress?: (p: EvalProgress) => void,
    onModel?: (s: ModelSummary) => void,
  ): Promise<HallucinationReport> {
    checkBenchmarkOptions(opts);
    const config: TrainConfig = { ...opts.config, steps: opts.steps, epochs: 0, evalEvery: 0, checkpointEvery: 0 };
    return this.exclusive(async () => {
      const t0 = performance.now();
      const s = await this.host.builtin((done, total) => this.step(onProgress, 'load', done, total));
      // A fresh adapter of the configured shape: the benchmark never starts from a trained one.
      await s.rebuildEngine(s.ctx, {
        r: config.loraRank,
        alpha: config.loraAlpha,
        targets: targetsOfProjections(config.loraTargets),
        seed: config.seed,
      });
      onModel?.(s.summary);
      const deps = harnessDeps(s);
      const train = sceneSet('train', opts.trainScenes, { inviting: 0.5 });
      const heldout = sceneSet('heldout', opts.heldoutScenes, { inviting: 0.5 });
      const before = await evaluateScenes(deps, heldout, { lora: false, onProgress: (d, t) => this.step(onProgress, 'before', d, t) });

      this.step(onProgress, 'prepare', 0, train.length);
      const data = await benchmarkExamples(deps, train, { seed: config.seed });
      this.step(onProgress, 'prepare', train.length, train.length);
      const trainer = new PovidTrainer({ engine: s.engine, encodeImage: deps.encodeImage }, data.examples, [], config, 'builtin-benchmark');
      this.trainer = trainer;
      const tt = performance.now();
      let lastLoss: number | null = null;
      const run = await trainer.run({
        onStep: (m) => {
          lastLoss = m.loss;
          onProgress?.({ phase: 'train', done: m.step, total: m.totalSteps });
        },
      });
      this.trainer = null;
      if (run.stopped === 'cancelled' || this.cancelled) throw new EvaluationCancelled();
      const trainSeconds = (performance.now() - tt) / 1000;

      const after = await evaluateScenes(deps, heldout, {
        lora: true,
        drafts: before,
        onProgress: (d, t) => this.step(onProgress, 'after', d, t),
      });
      const images = new Map<number, Blob>();
      for (const scene of heldout.slice(0, SAMPLE_SCENES)) {
        const png = await scenePicture(scene);
        if (png) images.set(scene.seed, png);
      }
      return benchmarkReport({
        model: s.summary.name,
        before,
        after,
        training: {
          steps: run.steps,
          records: data.examples.length,
          learningRate: config.learningRate,
          lossMode: config.lossMode,
          sftWeight: config.sftWeight,
          seconds: trainSeconds,
          lastLoss,
        },
        images,
        samples: SAMPLE_SCENES,
        seconds: (performance.now() - t0) / 1000,
      });
    });
  }
}
