// The POVID training loop (docs/method.md): for each example, noise its image afresh (seeded per
// use), encode it, and take one engine step on the combined loss; warm-up + cosine learning
// rate, gradient accumulation, held-out evaluation, checkpoints, pause / resume / cancel.
// It runs wherever the engine runs: the app's Worker, and Node in the tests.
import type { Engine, PovidExample, PovidStepResult } from '../engine';
import { EtaEstimator } from '../util/eta';
import { StorageQuotaError, type Checkpoint, type CheckpointStore } from './checkpoint';
import type { EvalMetrics, LossMode, StepMetrics, TrainConfig, TrainProgress } from './config';
import { noisyPixels } from './noise';
import { noisyFeatures, povidExample, type ImageDeps, type NoiseFn, type TrainExample } from './prepare';
import { exampleOrder, learningRateAt, reusedExamples, totalOptimizerSteps } from './schedule';

export class TrainingError extends Error {
  override name = 'TrainingError';
}

export interface TrainerCallbacks {
  onStep?: (m: StepMetrics) => void;
  onEval?: (m: EvalMetrics) => void;
  /** Notices that are not a stage (resumed from a checkpoint, a full storage quota). */
  onStatus?: (s: string) => void;
  /** The stage and n/N with elapsed time and ETA, at its start and after every unit. */
  onProgress?: (p: TrainProgress) => void;
  onCheckpoint?: (step: number) => void;
  /** An example's reference log-probs were just computed (not given): to count and keep them. */
  onReference?: (example: TrainExample) => void;
}

export interface TrainerDeps {
  engine: Engine;
  /** Image features [views * imageSeqLen, hidden] of pixels [views, 3, S, S] in [-1, 1]. */
  encodeImage: (pixels: Float32Array) => Promise<Float32Array>;
  /** The image noise per use (default: noisyPixels, POVID's diffusion noise). */
  noise?: NoiseFn;
  store?: CheckpointStore;
  runId?: string;
  /** Token ids to text, to show the noise-triggered answer y_n. */
  decode?: (ids: number[]) => string;
  /** Seconds per step measured before the run (a timed probe), for the ETA until a step is timed. */
  secondsPerStep?: number;
}

function lossModeAt(c: TrainConfig, step: number, total: number): 'povid' | 'dpo-text' | 'weighted' {
  if (c.lossMode === 'two-stage') return step < Math.round(c.stage1Fraction * total) ? 'dpo-text' : 'povid';
  return c.lossMode as Exclude<LossMode, 'two-stage'>;
}

export function validateTrainConfig(c: TrainConfig): void {
  const pos = (k: keyof TrainConfig) => {
    const v = c[k] as number;
    if (!(typeof v === 'number' && v > 0 && Number.isFinite(v)))
      throw new TrainingError(`training setting ${k} must be a positive number, got ${String(v)}`);
  };
  pos('loraRank');
  pos('loraAlpha');
  pos('beta');
  pos('learningRate');
  if (!Number.isInteger(c.gradAccumulation) || c.gradAccumulation < 1)
    throw new TrainingError(`gradient accumulation must be a whole number >= 1, got ${c.gradAccumulation}`);
  if (!(c.steps > 0) && !(c.epochs > 0)) throw new TrainingError('set a number of steps or of epochs above 0');
  if (!Number.isInteger(c.noiseStep) || c.noiseStep < 0 || c.noiseStep > 999)
    throw new TrainingError(`noise step must be a whole number in 0..999, got ${c.noiseStep}`);
  if (!(c.warmupRatio >= 0 && c.warmupRatio < 1)) throw new TrainingError(`warm-up ratio must be in [0, 1), got ${c.warmupRatio}`);
  if (!['povid', 'dpo-text', 'two-stage', 'weighted'].includes(c.lossMode)) throw new TrainingError(`unknown loss mode "${c.lossMode}"`);
  if (c.noiseReference !== undefined && !['own-argmax', 'policy-argmax'].includes(c.noiseReference))
    throw new TrainingError(
      `unknown noise-term reference "${String(c.noiseReference)}": use "own-argmax" (the release) or "policy-argmax"`,
    );
}

/** The noise term's reference side; configs saved before the setting existed get the release's. */
const noiseReferenceOf = (c: TrainConfig): 'own-argmax' | 'policy-argmax' => c.noiseReference ?? 'own-argmax';

/** -log sigmoid(x), stable for large |x|. */
const softplusNeg = (x: number): number => (x > 0 ? Math.log1p(Math.exp(-x)) : -x + Math.log1p(Math.exp(x)));

export class PovidTrainer {
  readonly totalSteps: number;
  private order: number[];
  private paused = false;
  private resumeGate: (() => void) | null = null;
  private cancelled = false;
  private history: StepMetrics[] = [];
  private images: ImageDeps;

  constructor(
    private deps: TrainerDeps,
    private train: TrainExample[],
    private heldout: TrainExample[],
    readonly config: TrainConfig,
    readonly datasetKey: string,
  ) {
    validateTrainConfig(config);
    this.images = { encodeImage: deps.encodeImage, noise: deps.noise ?? noisyPixels };
    if (train.length === 0)
      throw new TrainingError('the dataset has no valid training record: add images with questions and answers first');
    this.totalSteps = totalOptimizerSteps(train.length, config);
    this.order = exampleOrder(train.length, this.totalSteps * config.gradAccumulation, config.seed);
  }

  /**
   * Examples whose LoRA-off sums are computed before the steps from micro-step `fromMicro` on:
   * the held-out ones (every evaluation scores them) and the training examples used more than
   * once. An example used once gets its sums from its own step, whose LoRA-off pass computes them
   * anyway: computing them first would cost a pass, and the step another for the noise term.
   */
  referenceTodo(fromMicro = 0): TrainExample[] {
    const reused = reusedExamples(this.order, this.train.length, fromMicro);
    return [...this.train.filter((_, i) => reused[i]), ...this.heldout].filter((e) => !e.reference);
  }

  /** LoRA-off sums of chosen and rejected for the examples of referenceTodo. */
  async prepareReference(
    onProgress?: (p: TrainProgress) => void,
    onReference?: (example: TrainExample) => void,
    fromMicro = 0,
  ): Promise<void> {
    const todo = this.referenceTodo(fromMicro);
    const eta = new EtaEstimator(todo.length);
    const report = () =>
      onProgress?.({
        phase: 'reference',
        done: eta.completed,
        total: todo.length,
        elapsedSeconds: eta.elapsedSeconds,
        etaSeconds: eta.etaSeconds,
      });
    report();
    for (let i = 0; i < todo.length; i++) {
      if (this.cancelled) return;
      const [r] = await this.deps.engine.referenceSums([todo[i]]);
      todo[i].reference = r;
      eta.tick(i + 1);
      onReference?.(todo[i]);
      report();
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.resumeGate?.();
    this.resumeGate = null;
  }

  cancel(): void {
    this.cancelled = true;
    this.resume();
  }

  get metrics(): readonly StepMetrics[] {
    return this.history;
  }

  private lossParams(mode: 'povid' | 'dpo-text' | 'weighted') {
    const c = this.config;
    return { beta: c.beta, mode, wText: c.wText, wNoise: c.wNoise, noiseReference: noiseReferenceOf(c), sftWeight: c.sftWeight ?? 0 };
  }

  private exampleForUse(ex: TrainExample, use: number, mode: string): Promise<PovidExample> {
    return povidExample(this.images, ex, mode === 'dpo-text' ? null : { t: this.config.noiseStep, seed: this.config.seed, use });
  }

  /** Runs to the end (or until cancelled); `from` continues a checkpointed run. */
  async run(cb: TrainerCallbacks = {}, from?: Checkpoint | null): Promise<{ steps: number; stopped: 'done' | 'cancelled' }> {
    const { engine } = this.deps;
    const c = this.config;
    const lora = engine.lora;
    if (!lora) throw new TrainingError('the engine has no LoRA adapter to train');
    let step = 0;
    if (from) {
      if (from.datasetKey !== this.datasetKey)
        throw new TrainingError('the checkpoint belongs to another dataset; start a new run or restore that dataset');
      lora.importState({ params: from.params, m: from.adamM, v: from.adamV, step: from.step });
      step = from.step;
      this.history = (from.history as StepMetrics[]).slice();
      cb.onStatus?.(`resumed from the checkpoint at step ${step}`);
    }
    if (this.referenceTodo(step * c.gradAccumulation).length > 0)
      await this.prepareReference(cb.onProgress, cb.onReference, step * c.gradAccumulation);
    const eta = new EtaEstimator(this.totalSteps, { priorSecondsPerUnit: this.deps.secondsPerStep }, step);
    const report = (phase: TrainProgress['phase'], done = step, total = this.totalSteps) =>
      cb.onProgress?.({ phase, done, total, elapsedSeconds: eta.elapsedSeconds, etaSeconds: eta.etaSeconds });
    while (step < this.totalSteps) {
      if (this.paused && !this.cancelled) {
        // Reported only here, between steps: once the page shows "paused", no step runs until resume.
        eta.pause();
        report('paused');
        await new Promise<void>((r) => (this.resumeGate = r));
        eta.resume();
      }
      if (this.cancelled) return { steps: step, stopped: 'cancelled' };
      report('training');
      const mode = lossModeAt(c, step, this.totalSteps);
      const lr = learningRateAt(step, { learningRate: c.learningRate, warmupRatio: c.warmupRatio, totalSteps: this.totalSteps });
      const t0 = performance.now();
      let prep = 0;
      let result: PovidStepResult | null = null;
      let tokens = 0;
      const agg = { loss: 0, rc: 0, rt: 0, rn: 0, mt: 0, mn: 0, acc: 0, n: 0 };
      let exampleId = '';
      let noiseAnswer: string | undefined;
      for (let a = 0; a < c.gradAccumulation; a++) {
        const micro = step * c.gradAccumulation + a;
        const ex = this.train[this.order[micro]];
        exampleId = ex.id;
        const p0 = performance.now();
        const pe = await this.exampleForUse(ex, micro, mode);
        prep += performance.now() - p0;
        result = await engine.povidStep([pe], {
          loss: this.lossParams(mode),
          optimizer: { lr, weightDecay: c.weightDecay, maxGradNorm: c.maxGradNorm },
          zeroGrads: a === 0,
          update: a === c.gradAccumulation - 1,
          gradScale: 1 / c.gradAccumulation,
          timing: true,
        });
        if (!ex.reference) {
          // Used once (referenceTodo): its step's LoRA-off pass gave the sums; keep them.
          const r = result.examples[0].reference;
          ex.reference = { chosen: r.chosen, rejected: r.text };
          cb.onReference?.(ex);
        }
        tokens += 2 * ex.chosen.tokens.length + ex.rejected.tokens.length;
        const yn = result.examples[0]?.yn;
        if (this.deps.decode && yn && mode !== 'dpo-text') noiseAnswer = this.deps.decode(Array.from(yn));
        for (const e of result.examples) {
          agg.rc += e.rewards.chosen;
          agg.rt += e.rewards.text;
          agg.rn += e.rewards.noise;
          agg.mt += e.margins.text;
          agg.mn += e.margins.noise;
          agg.acc += mode === 'dpo-text' ? Number(e.margins.text > 0) : (Number(e.margins.text > 0) + Number(e.margins.noise > 0)) / 2;
          agg.n++;
        }
        agg.loss += result.loss;
      }
      step++;
      eta.tick(step);
      const ms = performance.now() - t0;
      const n = Math.max(1, agg.n);
      const tm = result!.timings;
      const m: StepMetrics = {
        step,
        totalSteps: this.totalSteps,
        epoch: (step * c.gradAccumulation) / this.train.length,
        loss: agg.loss / c.gradAccumulation,
        rewardChosen: agg.rc / n,
        rewardText: agg.rt / n,
        rewardNoise: agg.rn / n,
        marginText: agg.mt / n,
        marginNoise: agg.mn / n,
        accuracy: agg.acc / n,
        gradNorm: result!.gradNorm,
        learningRate: lr,
        tokensPerSecond: tokens / (ms / 1000),
        etaSeconds: eta.etaSeconds ?? Number.NaN,
        exampleId,
        noiseAnswer,
        ms: {
          reference: 0,
          noisy: prep,
          forward: tm?.forward ?? 0,
          backward: tm?.backward ?? 0,
          optimizer: (tm?.optimizer ?? 0) + (tm?.loss ?? 0),
        },
      };
      this.history.push(m);
      cb.onStep?.(m);
      if (c.evalEvery > 0 && this.heldout.length > 0 && (step % c.evalEvery === 0 || step === this.totalSteps)) {
        report('evaluating');
        cb.onEval?.(await this.evaluate(step));
      }
      if (this.deps.store && c.checkpointEvery > 0 && (step % c.checkpointEvery === 0 || step === this.totalSteps)) {
        report('checkpoint');
        try {
          await this.checkpoint(step, cb);
        } catch (e) {
          // A full quota must not end the run: the last good checkpoint stays, training goes on.
          if (!(e instanceof StorageQuotaError)) throw e;
          cb.onStatus?.(e.message);
        }
      }
    }
    return { steps: step, stopped: 'done' };
  }

  async checkpoint(step: number, cb: TrainerCallbacks = {}): Promise<void> {
    const lora = this.deps.engine.lora!;
    const s = await lora.exportState();
    await this.deps.store!.save({
      runId: this.deps.runId ?? 'run',
      step,
      microStep: step * this.config.gradAccumulation,
      totalSteps: this.totalSteps,
      config: this.config,
      datasetKey: this.datasetKey,
      params: s.params,
      adamM: s.m,
      adamV: s.v,
      rngState: new Uint32Array(4), // noise and order derive from (seed, step); nothing else to keep
      history: this.history,
      savedAt: new Date().toISOString(),
    });
    cb.onCheckpoint?.(step);
  }

  /**
   * Held-out metrics, no update: the same loss as training (mode of the current stage), with a
   * fixed noise draw per example so evaluations are comparable across steps.
   */
  async evaluate(step = 0): Promise<EvalMetrics> {
    const { engine } = this.deps;
    const c = this.config;
    const mode = lossModeAt(c, Math.max(0, step - 1), this.totalSteps);
    let loss = 0;
    let acc = 0;
    let mt = 0;
    let mn = 0;
    for (const [i, ex] of this.heldout.entries()) {
      const pol = await engine.forward([ex.chosen, ex.rejected], { lora: true });
      const ref = ex.reference ?? (await engine.referenceSums([ex]))[0];
      const dw = pol.logprobSums[0] - ref.chosen;
      const dt = pol.logprobSums[1] - ref.rejected;
      let dn = 0;
      if (mode !== 'dpo-text') {
        const noisy = await noisyFeatures(this.images, ex.pixels, { t: c.noiseStep, seed: c.seed ^ 0x7fff, use: i });
        // y_n: the argmax on the noisy image with y_w teacher-forced, then scored on the clean one;
        // the reference side scores its own argmax ('own-argmax', the release) or the policy's.
        const noisySeq = { ...ex.chosen, image: { ...ex.chosen.image!, features: noisy } };
        const answer = async (lora: boolean) => {
          const yn = (await engine.forward([noisySeq], { lora })).argmax[0];
          const tg = Int32Array.from(ex.chosen.targets!);
          let k = 0;
          for (let t = 0; t < tg.length; t++) if (tg[t] >= 0) tg[t] = yn[k++];
          return { ...ex.chosen, targets: tg };
        };
        const withYn = await answer(true);
        const withYnRef = noiseReferenceOf(c) === 'own-argmax' ? await answer(false) : withYn;
        const pn = await engine.forward([withYn], { lora: true });
        const rn = await engine.forward([withYnRef], { lora: false });
        dn = pn.logprobSums[0] - rn.logprobSums[0];
      }
      const b = c.beta;
      const lt = softplusNeg(b * (dw - dt));
      const ln = softplusNeg(b * (dw - dn));
      loss +=
        mode === 'dpo-text'
          ? lt
          : mode === 'weighted'
            ? softplusNeg(b * dw - (c.wText * b * dt + c.wNoise * b * dn))
            : c.wText * lt + c.wNoise * ln;
      // The SFT term: one example's batch, so the mean NLL over its own answer tokens.
      const sft = c.sftWeight ?? 0;
      if (sft > 0) loss += (sft * -pol.logprobSums[0]) / Math.max(1, Array.from(ex.chosen.targets!).filter((t) => t >= 0).length);
      mt += b * (dw - dt);
      mn += b * (dw - dn);
      acc += mode === 'dpo-text' ? Number(dw > dt) : (Number(dw > dt) + Number(dw > dn)) / 2;
    }
    const n = Math.max(1, this.heldout.length);
    return { step, loss: loss / n, accuracy: acc / n, marginText: mt / n, marginNoise: mn / n };
  }
}
