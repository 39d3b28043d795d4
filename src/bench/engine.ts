// Sections `step` and `decode`: a POVID training step and KV-cache generation of a decoder of the
// default model's shape with random bf16 weights, through the engine's public API (src/engine).
// On a slow (CPU) adapter a 30-layer step can take far longer than the time budget; then steps
// of 1 and 2 layers of the same widths are timed and the 30-layer figures are fitted from them
// (time = head + layers x per-layer), each such figure marked with how it was estimated.
import type { GpuContext } from '../gpu';
import type { DecoderConfig, Engine, PovidExample, SequenceInput } from '../engine';
import { Rng } from '../util/rng';
import type { Rates } from './matmul';
import { profileDispatches, type KernelProfile } from './profile';
import { Budget, errorText, measure, round } from './timing';
import type { BenchHost, BenchOptions, Figure, Skipped } from './types';

/** Sequence layout of one benchmark example. */
export interface StepShape {
  seqLen: number; // tokens per sequence (chosen and rejected alike)
  imageRows: number; // image feature rows inside the prompt
  answerTokens: number; // scored answer positions at the end
  promptTokens: number; // decode: prompt length, image rows included
  newTokens: number; // decode: tokens generated
}

export const DEFAULT_SHAPE: StepShape = { seqLen: 256, imageRows: 64, answerTokens: 48, promptTokens: 80, newTokens: 32 };
export const TINY_SHAPE: StepShape = { seqLen: 24, imageRows: 6, answerTokens: 5, promptTokens: 12, newTokens: 4 };
/** The warm-up engine's sequences: every pipeline of the real ones at a fraction of the work. */
const WARMUP_SHAPE: StepShape = { seqLen: 16, imageRows: 4, answerTokens: 4, promptTokens: 8, newTokens: 2 };

export const LORA = { r: 16, alpha: 32 } as const;
export const LOSS = { beta: 0.1, mode: 'povid', wText: 0.5, wNoise: 0.5 } as const;
/** The image rows sit after `<|im_start|>User:<fake_token_around_image><global-img>`. */
const IMAGE_AT = 4;
/** What 1 GB means in the target for the step's GPU memory. */
export const PEAK_TARGET_BYTES = 1e9;

type EngineModule = typeof import('../engine');
type StepResultOf = Awaited<ReturnType<Engine['povidStep']>>;
type Timings = NonNullable<StepResultOf['timings']>;
const PHASES = ['forward', 'loss', 'backward', 'optimizer'] as const;
type Phase = (typeof PHASES)[number];

async function loadEngine(): Promise<EngineModule | Skipped> {
  try {
    const mod = await import('../engine');
    if (typeof mod.Engine?.create !== 'function') return { skipped: 'src/engine/index.ts exports no Engine' };
    return mod;
  } catch (e) {
    return { skipped: `the engine (src/engine) could not be loaded: ${errorText(e)}` };
  }
}

export function tinyDecoderConfig(mod: EngineModule): DecoderConfig {
  return mod.makeDecoderConfig({
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    intermediateSize: 96,
    vocabSize: 300,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    maxPositions: 256,
    tieWordEmbeddings: false,
  });
}

function features(rng: Rng, rows: number, C: number, scale: number): Float32Array {
  const f = new Float32Array(rows * C);
  rng.fillNormal(f);
  for (let i = 0; i < f.length; i++) f[i] *= scale;
  return f;
}

/** Tokens [seqLen] ending in the answer, with targets on the answer's predicting positions. */
function sequence(rng: Rng, cfg: DecoderConfig, len: number, answer: number, prompt: Int32Array | null, image: Float32Array, imageRows: number): SequenceInput {
  const V = cfg.vocabSize;
  const tokens = new Int32Array(len);
  for (let t = 0; t < len; t++) tokens[t] = prompt && t < len - answer ? prompt[t] : 2 + rng.int(V - 2);
  tokens[0] = 1;
  const targets = new Int32Array(len).fill(-1);
  for (let t = len - answer - 1; t < len - 1; t++) targets[t] = tokens[t + 1];
  const positions = Int32Array.from({ length: imageRows }, (_, i) => IMAGE_AT + i);
  return { tokens, targets, image: { features: image, positions } };
}

/** One example: chosen and rejected answers after the same prompt and image, and a noisy image. */
export function benchExample(cfg: DecoderConfig, shape: StepShape, seed: number): PovidExample {
  const rng = new Rng(seed);
  const C = cfg.hiddenSize;
  const clean = features(rng, shape.imageRows, C, 0.5);
  const noisy = Float32Array.from(clean, (v) => v + 0.25 * rng.normal());
  const chosen = sequence(rng, cfg, shape.seqLen, shape.answerTokens, null, clean, shape.imageRows);
  // Same prompt and image, another answer of the same length (the text-injected hallucination).
  const rejected = sequence(rng, cfg, shape.seqLen, shape.answerTokens, chosen.tokens as Int32Array, clean, shape.imageRows);
  return { chosen, rejected, noisyImage: noisy };
}

function decodePrompt(example: PovidExample, shape: StepShape): SequenceInput {
  const tokens = Int32Array.from((example.chosen.tokens as Int32Array).subarray(0, shape.promptTokens));
  return { tokens, image: example.chosen.image };
}

// ---- a FLOP model, only to decide what fits the time budget ----------------------------------

/** Multiply-adds x 2 of one token through one layer's seven linear layers. */
function layerTokenFlops(cfg: DecoderConfig): number {
  const C = cfg.hiddenSize;
  const KV = cfg.numKvHeads * cfg.headDim;
  const FF = cfg.intermediateSize;
  return 2 * (2 * C * C + 2 * C * KV + 3 * C * FF);
}

/** GFLOP of one POVID step (noisy + reference + policy forwards, backward) and of its two no-grad passes. */
export function stepGflop(cfg: DecoderConfig, shape: StepShape, layers: number): { step: number; passes: number } {
  const T = shape.seqLen;
  const M = 2 * shape.answerTokens;
  const Mc = shape.answerTokens;
  const head = 2 * cfg.hiddenSize * cfg.vocabSize; // per answer row and lm_head product
  const tok = layerTokenFlops(cfg) * layers;
  const step = tok * (T + 2 * T + 2 * T + 2 * T) + head * (Mc + (M + Mc) + (M + Mc) + 2 * (M + Mc));
  const passes = tok * (2 * T + T) + head * (M + Mc);
  return { step: step / 1e9, passes: passes / 1e9 };
}

function decodeGflop(cfg: DecoderConfig, promptTokens: number, newTokens: number): { prefill: number; perToken: number } {
  const head = 2 * cfg.hiddenSize * cfg.vocabSize;
  const tok = layerTokenFlops(cfg) * cfg.numLayers;
  return { prefill: (promptTokens * tok + head) / 1e9, perToken: (tok + head) / 1e9 };
}

/**
 * Slack on FLOP-based estimates (attention, norms, small or ragged products and dispatch overhead
 * are not counted). Seen on SwiftShader: steps of 1, 2 and (fitted) 30 layers took 3.4 to 4.4
 * times FLOPs / the linear layers' GFLOP/s, a prefill ~6 times. Only used to decide what to
 * time; measured times take over from there.
 */
const SLACK = 4;
const PREFILL_SLACK = 6;

// ---- results ---------------------------------------------------------------------------------

const fig = (value: number, unit: string, iterations: number, extra: Partial<Figure> = {}): Figure => ({ value: round(value), unit, iterations, ...extra });
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export interface StepRun {
  layers: number;
  step: Figure; // ms
  phases: Record<Phase, Figure>;
  peakGpuBytes: number;
  loss: number;
  gradNorm: number;
}

export interface StepResult {
  shape: Record<string, unknown>;
  warmup: string;
  /** The full-depth step: timed, or fitted from `runs` (then each figure says so in `estimate`). */
  step: Figure;
  phases: Record<Phase, Figure>;
  passes: Record<'reference' | 'noisy', Figure> | Skipped;
  tokensPerSecond: Figure;
  stepsPerSecond: Figure;
  /** Every timed configuration (one per layer count). */
  runs: StepRun[];
  peakGpuBytes: number;
  peakGpuGiB: number;
  peakBasis: string;
  peakTargetBytes: number;
  withinPeakTarget: boolean;
  memory: Record<string, number>;
  budget: { seconds: number | null; gflopPerSecond: number; estimatedSeconds: Record<string, number> };
  /** With --kernel-profile: one step's dispatches replayed one at a time, time per kernel. */
  kernelProfile?: (KernelProfile & { layers: number }) | Skipped;
  notes: string[];
}

export interface DecodeResult {
  shape: Record<string, unknown>;
  decodeTokensPerSecond: Figure;
  prefill: Figure; // ms
  generate: Figure; // ms for the whole call
  tokensGenerated: number;
  stopReason: string;
  lora: boolean;
}

export interface EngineSections {
  step?: StepResult | Skipped | { error: string };
  decode?: DecodeResult | Skipped | { error: string };
}

/** GFLOP/s of the engine's bf16 linear layers on this device (from the matmul section, or timed here). */
async function linearRate(ctx: GpuContext, rates: Rates): Promise<number> {
  if (rates.bf16) return rates.bf16;
  const { linearForward } = await import('../engine/kernels/linear');
  const [T, IN, OUT] = [256, 576, 1536];
  const x = ctx.createBuffer('calibration X', T * IN * 4);
  const w = ctx.createBuffer('calibration W', IN * OUT * 2);
  const y = ctx.createBuffer('calibration Y', T * OUT * 4);
  try {
    const weight = { buffer: w, dtype: 'bf16' as const };
    linearForward(ctx, y, x, weight, 1, IN, OUT);
    await ctx.sync();
    const t0 = performance.now();
    linearForward(ctx, y, x, weight, T, IN, OUT);
    await ctx.sync();
    rates.bf16 = (2 * T * IN * OUT) / ((performance.now() - t0) * 1e6);
    return rates.bf16;
  } finally {
    for (const b of [x, w, y]) ctx.destroyBuffer(b);
  }
}

export async function benchEngine(
  host: BenchHost,
  ctx: GpuContext,
  opts: BenchOptions,
  want: { step: boolean; decode: boolean },
  budget: Budget = new Budget(0),
  rates: Rates = {},
): Promise<EngineSections> {
  const out: EngineSections = {};
  const mod = await loadEngine();
  if ('skipped' in mod) {
    if (want.step) out.step = mod;
    if (want.decode) out.decode = mod;
    return out;
  }
  const tiny = opts.profile === 'tiny';
  const cfg = tiny ? tinyDecoderConfig(mod) : mod.SMOLVLM_256M_DECODER;
  const shape = tiny ? TINY_SHAPE : DEFAULT_SHAPE;
  const L = cfg.numLayers;
  host.progress(`engine: random weights for ${L} layers x ${cfg.hiddenSize}, vocab ${cfg.vocabSize}`);
  let t = performance.now();
  const weights = mod.randomDecoderWeights(cfg, opts.seed);
  host.progress(`engine: weights generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const example = benchExample(cfg, shape, opts.seed + 1);
  const stepOpts = { loss: { ...LOSS }, optimizer: { lr: 1e-5, maxGradNorm: 1 }, timing: true };
  const create = (layers: number, training: boolean, seqLen = shape.seqLen) =>
    mod.Engine.create(ctx, { ...cfg, numLayers: layers }, weights, { maxBatch: 2, maxSeq: seqLen, lora: { ...LORA }, weightDtype: 'bf16', training });

  // Warm-up: compile every pipeline on a 1-layer engine of the same widths and short sequences.
  const warmup = 'one untimed step, forward passes and generate of a 1-layer, 16-token engine of the same widths: compiles every pipeline';
  {
    t = performance.now();
    const e1 = await create(1, true, WARMUP_SHAPE.seqLen);
    try {
      const ex = benchExample(cfg, WARMUP_SHAPE, opts.seed + 2);
      await e1.povidStep([ex], stepOpts);
      await e1.forward([ex.chosen, ex.rejected], { lora: false });
      await e1.generate(decodePrompt(ex, WARMUP_SHAPE), { maxNewTokens: 2 });
    } finally {
      e1.destroy();
    }
    host.progress(`engine: warm-up took ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }

  // Decide what fits: the full-depth step, or 1- and 2-layer steps and a fit.
  const rate = await linearRate(ctx, rates);
  const est = (gflop: number) => (gflop / rate) * SLACK;
  // The step may use what generation leaves of the section; plan it on three quarters.
  const stepBudget = budget;
  const plan = budget.share(want.decode ? 0.75 : 1);
  const planSeconds = plan.unlimited ? null : round(plan.remaining(), 1);
  const full = stepGflop(cfg, shape, L);
  const estimatedSeconds: Record<string, number> = {
    [`step${L}`]: round(est(full.step), 1),
    [`passes${L}`]: round(est(full.passes), 1),
    step1: round(est(stepGflop(cfg, shape, 1).step), 1),
    step2: round(est(stepGflop(cfg, shape, 2).step), 1),
  };
  let layersToTime: number[] = [];
  if (want.step) {
    if (opts.stepLayers) layersToTime = [Math.min(opts.stepLayers, L)];
    else if (plan.fits(est(full.step) * opts.stepRuns + est(full.passes))) layersToTime = [L];
    // The 2-layer step is decided again from the 1-layer one's measured time.
    else if (plan.fits(est(stepGflop(cfg, shape, 1).step))) layersToTime = L > 2 ? [1, 2] : [1];
    host.progress(
      `engine: linear layers at ${rate.toFixed(3)} GFLOP/s; a ${L}-layer step is ~${est(full.step).toFixed(0)} s, ${plan.unlimited ? 'no time budget' : `${plan.remaining().toFixed(0)} s budget`}: timing ${layersToTime.length ? layersToTime.join(' and ') + '-layer steps' : 'nothing'}`,
    );
  }

  const runs: StepRun[] = [];
  let passes: StepResult['passes'] = { skipped: 'not run' };
  let memory: Record<string, number> = {};
  let peak = 0;
  let peakBasis = '';
  let transient = 0;
  let kernelProfile: StepResult['kernelProfile'];

  const timeStep = async (engine: Engine, layers: number): Promise<void> => {
    const timings: Timings[] = [];
    let last: StepResultOf | null = null;
    if (tiny) await engine.povidStep([example], stepOpts); // the warm-up engine had other sequence lengths
    const afterCreate = ctx.memory.current;
    ctx.resetPeak();
    const s = await measure(
      async (n) => {
        for (let i = 0; i < n; i++) {
          last = await engine.povidStep([example], stepOpts);
          if (last.timings) timings.push(last.timings);
          host.progress(`step (${layers} layers) ${timings.length}: ${((last.timings?.total ?? 0) / 1000).toFixed(2)} s, loss ${last.loss.toFixed(4)}`);
        }
      },
      { targetSeconds: opts.targetSeconds, minRuns: opts.stepRuns, maxRuns: Math.max(opts.stepRuns, opts.maxRuns), noWarmup: true, budgetMs: stepBudget.unlimited ? undefined : stepBudget.remaining() * 1000 },
    );
    const res = last as unknown as StepResultOf;
    transient = Math.max(transient, ctx.memory.peak - afterCreate);
    runs.push({
      layers,
      step: fig(s.msPerIteration, 'ms', s.iterations, { msPerIteration: round(s.msPerIteration) }),
      phases: Object.fromEntries(PHASES.map((k) => [k, fig(mean(timings.map((x) => x[k])), 'ms', timings.length)])) as Record<Phase, Figure>,
      peakGpuBytes: ctx.memory.peak,
      loss: res.loss,
      gradNorm: res.gradNorm,
    });
    if (opts.kernelProfile && !kernelProfile) {
      const need = (2 * s.msPerIteration) / 1000;
      if (!stepBudget.fits(need)) kernelProfile = { skipped: `profiling a ${layers}-layer step needs ~${need.toFixed(0)} s, over the ${stepBudget.remaining().toFixed(0)} s left` };
      else {
        kernelProfile = { layers, ...(await profileDispatches(ctx, () => engine.povidStep([example], stepOpts))) };
        host.progress(`step: kernel profile (${layers} layers): ${kernelProfile.kernels.slice(0, 5).map((k) => `${k.kernel} ${k.ms} ms`).join(', ')}`);
      }
    }
  };

  const timePasses = async (engine: Engine, layers: number): Promise<void> => {
    const g = stepGflop(cfg, shape, layers);
    const timed = runs.find((r) => r.layers === layers);
    const need = timed ? (timed.step.value / 1000) * (g.passes / g.step) : est(g.passes);
    if (!stepBudget.fits(need)) {
      passes = { skipped: `the reference and noisy passes of ${layers} layers need ~${need.toFixed(0)} s, over the ${stepBudget.remaining().toFixed(0)} s left` };
      host.progress(`step: passes skipped (${passes.skipped})`);
      return;
    }
    const passOpts = { targetSeconds: opts.targetSeconds, minRuns: 1, maxRuns: opts.maxRuns, noWarmup: true };
    const ref = await measure(async (k) => {
      for (let i = 0; i < k; i++) await engine.forward([example.chosen, example.rejected], { lora: false });
    }, passOpts);
    host.progress(`step: reference pass (${layers} layers, LoRA off, chosen + rejected) ${ref.msPerIteration.toFixed(0)} ms`);
    const noisySeq: SequenceInput = { ...example.chosen, image: { features: example.noisyImage!, positions: example.chosen.image!.positions } };
    const noisy = await measure(async (k) => {
      for (let i = 0; i < k; i++) await engine.forward([noisySeq], { lora: true });
    }, passOpts);
    host.progress(`step: noisy pass (${layers} layers, LoRA on, no grad) ${noisy.msPerIteration.toFixed(0)} ms`);
    const note = layers === L ? {} : { estimate: `NOT a ${L}-layer figure: timed at ${layers} of ${L} layers, not scaled` };
    passes = {
      reference: fig(ref.msPerIteration, 'ms', ref.iterations, { msPerIteration: round(ref.msPerIteration), ...note }),
      noisy: fig(noisy.msPerIteration, 'ms', noisy.iterations, { msPerIteration: round(noisy.msPerIteration), ...note }),
    };
  };

  // The full-depth engine: its memory, generation, and the step when it fits.
  await ctx.sync();
  ctx.resetPeak();
  let engine: Engine | null = null;
  try {
    t = performance.now();
    engine = await create(L, want.step);
    host.progress(`engine: ${engine.describe()} (created in ${((performance.now() - t) / 1000).toFixed(1)} s)`);
    memory = { ...engine.memory() };
    peak = ctx.memory.peak;
    if (want.decode) {
      try {
        out.decode = await benchDecode(host, engine, cfg, example, shape, opts, budget.share(want.step ? 0.25 : 1), rate);
      } catch (e) {
        out.decode = { error: errorText(e) };
        host.progress(`decode: ${out.decode.error}`);
      }
    }
    if (want.step && layersToTime.includes(L)) {
      try {
        await timeStep(engine, L);
        peak = Math.max(peak, ...runs.map((r) => r.peakGpuBytes));
        peakBasis = `measured: ctx.memory.peak from creating the ${L}-layer engine to the end of its timed steps`;
        await timePasses(engine, L);
      } catch (e) {
        out.step = { error: errorText(e) };
      }
    }
  } finally {
    engine?.destroy();
  }
  if (!want.step || out.step) return out;
  if (layersToTime.length === 0) {
    out.step = { skipped: `a ${L}-layer step needs ~${estimatedSeconds[`step${L}`]} s and even a 1-layer one ~${estimatedSeconds.step1} s at ${rate.toFixed(3)} GFLOP/s, over the ${stepBudget.remaining().toFixed(0)} s budget; raise --budget-minutes` };
    return out;
  }
  try {
    for (const layers of layersToTime.filter((l) => l !== L)) {
      // After the 1-layer step, the 2-layer one is predicted from its measured time.
      if (layers === 2 && runs.length && !stepBudget.unlimited) {
        const t1 = runs[0].step.value / 1000;
        const t2 = (t1 * stepGflop(cfg, shape, 2).step) / stepGflop(cfg, shape, 1).step;
        if (!stepBudget.fits(t2)) {
          host.progress(`step: a 2-layer step would take ~${t2.toFixed(0)} s, over the ${stepBudget.remaining().toFixed(0)} s left`);
          break;
        }
      }
      const e = await create(layers, true);
      try {
        await timeStep(e, layers);
        if (layers === 2 || layersToTime.length === 1) await timePasses(e, layers);
      } finally {
        e.destroy();
      }
    }
    if (!peakBasis) {
      peak += transient;
      peakBasis = `estimated: ctx.memory.peak of creating the ${L}-layer training engine (measured) + the most the context grew during a timed step (${transient} bytes, measured at ${layersToTime.join('/')} layers)`;
    }
    out.step = stepResult(cfg, shape, runs, passes, peak, peakBasis, memory, warmup, {
      seconds: planSeconds,
      gflopPerSecond: round(rate),
      estimatedSeconds,
    });
    if (kernelProfile) out.step.kernelProfile = kernelProfile;
  } catch (e) {
    out.step = { error: errorText(e) };
  }
  return out;
}

function stepResult(
  cfg: DecoderConfig,
  shape: StepShape,
  runs: StepRun[],
  passes: StepResult['passes'],
  peak: number,
  peakBasis: string,
  memory: Record<string, number>,
  warmup: string,
  budget: StepResult['budget'],
): StepResult {
  const L = cfg.numLayers;
  const tokens = 2 * shape.seqLen;
  const byLayers = new Map(runs.map((r) => [r.layers, r]));
  let step: Figure;
  let phases: Record<Phase, Figure>;
  const notes: string[] = [];
  const exact = byLayers.get(L);
  if (exact) {
    step = exact.step;
    phases = exact.phases;
  } else if (byLayers.has(1) && byLayers.has(2)) {
    // time(layers) = head + layers * perLayer, through the two timed points.
    const basis = `fitted: max(t(1) + (${L} - 1) x (t(2) - t(1)), t(1), t(2)) from the timed 1- and 2-layer steps`;
    // More layers never take less time, so the noise of small phases cannot fit below max(t1, t2).
    const fit = (a: number, b: number) => Math.max(a + (L - 1) * (b - a), a, b);
    const r1 = byLayers.get(1)!;
    const r2 = byLayers.get(2)!;
    const n = r1.step.iterations + r2.step.iterations;
    step = fig(fit(r1.step.value, r2.step.value), 'ms', n, { estimate: basis });
    phases = Object.fromEntries(PHASES.map((k) => [k, fig(fit(r1.phases[k].value, r2.phases[k].value), 'ms', n, { estimate: basis })])) as Record<Phase, Figure>;
    notes.push(`only ${[...byLayers.keys()].join(' and ')}-layer steps fitted the time budget; the ${L}-layer figures are a linear fit in the layer count`);
  } else {
    const r = runs[0];
    const basis = `NOT a ${L}-layer figure: timed with ${r.layers} of ${L} layers only, not scaled`;
    step = { ...r.step, estimate: basis };
    phases = Object.fromEntries(PHASES.map((k) => [k, { ...r.phases[k], estimate: basis }])) as Record<Phase, Figure>;
    notes.push(`only a ${r.layers}-layer step fitted the time budget; step, phases, tokensPerSecond and stepsPerSecond are for ${r.layers} layers`);
  }
  const extra = step.estimate ? { estimate: step.estimate } : {};
  return {
    shape: {
      layers: L,
      hidden: cfg.hiddenSize,
      heads: cfg.numHeads,
      kvHeads: cfg.numKvHeads,
      intermediate: cfg.intermediateSize,
      vocab: cfg.vocabSize,
      weights: 'random, bf16 on the GPU',
      lora: { ...LORA, targets: 'q,k,v,o,gate,up,down' },
      examples: 1,
      sequenceTokens: shape.seqLen,
      imageRows: shape.imageRows,
      answerTokens: shape.answerTokens,
      referenceCached: false,
      loss: { ...LOSS },
    },
    warmup,
    step,
    phases,
    passes,
    tokensPerSecond: fig(tokens / (step.value / 1000), 'tokens/s', step.iterations, extra),
    stepsPerSecond: fig(1000 / step.value, 'POVID steps/s', step.iterations, extra),
    runs,
    peakGpuBytes: peak,
    peakGpuGiB: round(peak / 2 ** 30),
    peakBasis,
    peakTargetBytes: PEAK_TARGET_BYTES,
    withinPeakTarget: peak <= PEAK_TARGET_BYTES,
    memory,
    budget,
    notes: [
      ...notes,
      'phases come from the engine (timing: true syncs between them); forward = noisy pass + reference pass + policy forward, since no cached reference is given',
      'passes are timed on their own through engine.forward (which adds a small readback)',
      `tokensPerSecond counts the chosen and rejected sequences (${tokens} tokens) per step`,
    ],
  };
}

async function benchDecode(host: BenchHost, engine: Engine, cfg: DecoderConfig, example: PovidExample, shape: StepShape, opts: BenchOptions, budget: Budget, rate: number): Promise<DecodeResult | Skipped> {
  const g = decodeGflop(cfg, shape.promptTokens, shape.newTokens);
  const prefillEst = (g.prefill / rate) * PREFILL_SLACK;
  if (!budget.unlimited && !budget.fits(prefillEst))
    return { skipped: `a ${cfg.numLayers}-layer prefill of ${shape.promptTokens} tokens needs ~${prefillEst.toFixed(0)} s, over the ${budget.remaining().toFixed(0)} s budget` };
  const newTokens = shape.newTokens;
  let note = '';
  const prompt = decodePrompt(example, shape);
  const prefill: number[] = [];
  const perToken: number[] = [];
  let tokens = 0;
  let stopReason = '';
  const m = await measure(
    async (n) => {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        let first = 0;
        let lastT = 0;
        const r = await engine.generate(prompt, {
          maxNewTokens: newTokens,
          onToken: (_tok, idx) => {
            lastT = performance.now();
            if (idx === 0) first = lastT;
            // Out of time: stop here (at least two tokens, for one decode step).
            if (idx >= 1 && !budget.unlimited && budget.remaining() <= 0) {
              note = `stopped after ${idx + 1} of ${newTokens} new tokens: the time budget ran out`;
              return false;
            }
          },
        });
        tokens = r.tokens.length;
        stopReason = r.stopReason;
        prefill.push(first - t0);
        if (tokens > 1) perToken.push((lastT - first) / (tokens - 1));
        host.progress(`decode: ${tokens} tokens, prefill ${(first - t0).toFixed(0)} ms, ${tokens > 1 ? ((1000 * (tokens - 1)) / (lastT - first)).toFixed(2) : '-'} tokens/s after it`);
      }
    },
    { targetSeconds: opts.targetSeconds, minRuns: 1, maxRuns: opts.maxRuns, noWarmup: true, budgetMs: budget.unlimited ? undefined : budget.remaining() * 1000 },
  );
  const pt = mean(perToken);
  return {
    shape: { layers: cfg.numLayers, promptTokens: shape.promptTokens, imageRows: shape.imageRows, newTokens, sampling: 'greedy', ...(note ? { note } : {}) },
    decodeTokensPerSecond: fig(1000 / pt, 'tokens/s', m.iterations, { msPerIteration: round(pt) }),
    prefill: fig(mean(prefill), 'ms', m.iterations),
    generate: fig(m.msPerIteration, 'ms', m.iterations, { msPerIteration: round(m.msPerIteration) }),
    tokensGenerated: tokens,
    stopReason,
    lora: true,
  };
}
