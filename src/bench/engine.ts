// Sections `step` and `decode`: a POVID training step and KV-cache generation of a decoder of the
// default model's shape with random bf16 weights, through the engine's public API (src/engine).
import type { GpuContext } from '../gpu';
import type { DecoderConfig, Engine, PovidExample, SequenceInput } from '../engine';
import { Rng } from '../util/rng';
import { errorText, measure, round } from './timing';
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

export const LORA = { r: 16, alpha: 32 } as const;
export const LOSS = { beta: 0.1, mode: 'povid', wText: 0.5, wNoise: 0.5 } as const;
/** The image rows sit after `<|im_start|>User:<fake_token_around_image><global-img>`. */
const IMAGE_AT = 4;
/** What 1 GB means in the target for the step's GPU memory. */
export const PEAK_TARGET_BYTES = 1e9;

type EngineModule = typeof import('../engine');

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

const fig = (value: number, unit: string, iterations: number, msPerIteration?: number): Figure =>
  msPerIteration === undefined ? { value: round(value), unit, iterations } : { value: round(value), unit, iterations, msPerIteration: round(msPerIteration) };

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export interface StepResult {
  shape: Record<string, unknown>;
  warmup: string;
  step: Figure; // ms per POVID step
  phases: Record<'forward' | 'loss' | 'backward' | 'optimizer', Figure>;
  passes: Record<'reference' | 'noisy', Figure>;
  tokensPerSecond: Figure;
  stepsPerSecond: Figure;
  peakGpuBytes: number;
  peakGpuGiB: number;
  peakTargetBytes: number;
  withinPeakTarget: boolean;
  memory: Record<string, number>;
  loss: number;
  gradNorm: number;
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

export async function benchEngine(host: BenchHost, ctx: GpuContext, opts: BenchOptions, want: { step: boolean; decode: boolean }): Promise<EngineSections> {
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
  host.progress(`engine: random weights for ${cfg.numLayers} layers x ${cfg.hiddenSize}, vocab ${cfg.vocabSize}`);
  let t = performance.now();
  const weights = mod.randomDecoderWeights(cfg, opts.seed);
  host.progress(`engine: weights generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const example = benchExample(cfg, shape, opts.seed + 1);
  const engineOpts = { maxBatch: 2, maxSeq: shape.seqLen, lora: { ...LORA }, weightDtype: 'bf16' as const, training: want.step };
  const stepOpts = { loss: { ...LOSS }, optimizer: { lr: 1e-5, maxGradNorm: 1 }, timing: true };

  // Compile every pipeline on an engine of the same widths and sequence length but one layer, so
  // the timed runs of the full model (minutes on a CPU adapter) need no warm-up of their own.
  let warmup = 'one untimed step of the same engine';
  if (!tiny) {
    warmup = 'one untimed step (and generate) of a 1-layer engine of the same widths and lengths: compiles every pipeline';
    const cfg1 = { ...cfg, numLayers: 1 };
    const e1 = await mod.Engine.create(ctx, cfg1, weights, engineOpts);
    try {
      t = performance.now();
      if (want.step) await e1.povidStep([example], stepOpts);
      if (want.decode) await e1.generate(decodePrompt(example, shape), { maxNewTokens: 2 });
      host.progress(`engine: warm-up on 1 layer took ${((performance.now() - t) / 1000).toFixed(1)} s`);
    } finally {
      e1.destroy();
    }
  }
  await ctx.sync();
  ctx.resetPeak();
  let engine: Engine | null = null;
  try {
    t = performance.now();
    engine = await mod.Engine.create(ctx, cfg, weights, engineOpts);
    weights.clear(); // the host copies are on the GPU now
    host.progress(`engine: ${engine.describe()} (created in ${((performance.now() - t) / 1000).toFixed(1)} s)`);
    if (want.step) {
      try {
        out.step = await benchStep(host, ctx, engine, cfg, shape, example, stepOpts, opts, tiny, warmup);
      } catch (e) {
        out.step = { error: errorText(e) };
        host.progress(`step: ${out.step.error}`);
      }
    }
    if (want.decode) {
      try {
        out.decode = await benchDecode(host, engine, example, shape, opts, tiny);
      } catch (e) {
        out.decode = { error: errorText(e) };
        host.progress(`decode: ${out.decode.error}`);
      }
    }
  } finally {
    engine?.destroy();
  }
  return out;
}

async function benchStep(
  host: BenchHost,
  ctx: GpuContext,
  engine: Engine,
  cfg: DecoderConfig,
  shape: StepShape,
  example: PovidExample,
  stepOpts: Parameters<Engine['povidStep']>[1],
  opts: BenchOptions,
  tiny: boolean,
  warmup: string,
): Promise<StepResult> {
  if (tiny) await engine.povidStep([example], stepOpts);
  const timings: NonNullable<Awaited<ReturnType<Engine['povidStep']>>['timings']>[] = [];
  let last: Awaited<ReturnType<Engine['povidStep']>> | null = null;
  const s = await measure(
    async (n) => {
      for (let i = 0; i < n; i++) {
        last = await engine.povidStep([example], stepOpts);
        if (last.timings) timings.push(last.timings);
        host.progress(`step ${timings.length}: ${last.timings ? `${(last.timings.total / 1000).toFixed(2)} s` : ''} loss ${last.loss.toFixed(4)}`);
      }
    },
    { targetSeconds: opts.targetSeconds, minRuns: opts.stepRuns, maxRuns: Math.max(opts.stepRuns, opts.maxRuns), noWarmup: true },
  );
  const res = last as unknown as Awaited<ReturnType<Engine['povidStep']>>;
  const peak = ctx.memory.peak;
  const mem = engine.memory();
  const n = s.iterations;
  const phase = (k: 'forward' | 'loss' | 'backward' | 'optimizer') => fig(mean(timings.map((x) => x[k])), 'ms', timings.length);
  // The step's forward phase holds three passes; time the two no-grad ones on their own.
  const passOpts = { targetSeconds: opts.targetSeconds, minRuns: 1, maxRuns: opts.maxRuns, noWarmup: true };
  const ref = await measure(async (k) => {
    for (let i = 0; i < k; i++) await engine.forward([example.chosen, example.rejected], { lora: false });
  }, passOpts);
  host.progress(`step: reference pass (LoRA off, chosen + rejected) ${ref.msPerIteration.toFixed(0)} ms`);
  const noisySeq: SequenceInput = { ...example.chosen, image: { features: example.noisyImage!, positions: example.chosen.image!.positions } };
  const noisy = await measure(async (k) => {
    for (let i = 0; i < k; i++) await engine.forward([noisySeq], { lora: true });
  }, passOpts);
  host.progress(`step: noisy pass (LoRA on, no grad, chosen on the noisy image) ${noisy.msPerIteration.toFixed(0)} ms`);
  const tokens = 2 * shape.seqLen;
  return {
    shape: {
      layers: cfg.numLayers,
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
    step: fig(s.msPerIteration, 'ms', n, s.msPerIteration),
    phases: { forward: phase('forward'), loss: phase('loss'), backward: phase('backward'), optimizer: phase('optimizer') },
    passes: {
      reference: fig(ref.msPerIteration, 'ms', ref.iterations, ref.msPerIteration),
      noisy: fig(noisy.msPerIteration, 'ms', noisy.iterations, noisy.msPerIteration),
    },
    tokensPerSecond: fig(tokens / (s.msPerIteration / 1000), 'tokens/s', n),
    stepsPerSecond: fig(1000 / s.msPerIteration, 'POVID steps/s', n),
    peakGpuBytes: peak,
    peakGpuGiB: round(peak / 2 ** 30),
    peakTargetBytes: PEAK_TARGET_BYTES,
    withinPeakTarget: peak <= PEAK_TARGET_BYTES,
    memory: { ...mem },
    loss: res.loss,
    gradNorm: res.gradNorm,
    notes: [
      'phases come from the engine (timing: true syncs between them); forward = noisy pass + reference pass + policy forward, since no cached reference is given',
      'passes.reference and passes.noisy are timed separately through engine.forward (includes a small readback)',
      `tokensPerSecond counts the chosen and rejected sequences (${tokens} tokens) per step`,
      'peakGpuBytes: ctx.memory.peak from before the engine was created to the end of the timed steps (weights, LoRA and Adam state, activations, scratch)',
    ],
  };
}

function decodePrompt(example: PovidExample, shape: StepShape): SequenceInput {
  const tokens = Int32Array.from((example.chosen.tokens as Int32Array).subarray(0, shape.promptTokens));
  return { tokens, image: example.chosen.image };
}

async function benchDecode(host: BenchHost, engine: Engine, example: PovidExample, shape: StepShape, opts: BenchOptions, tiny: boolean): Promise<DecodeResult> {
  const prompt = decodePrompt(example, shape);
  const prefill: number[] = [];
  const perToken: number[] = [];
  let tokens = 0;
  let stopReason = '';
  const g = await measure(
    async (n) => {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        let first = 0;
        let lastT = 0;
        const r = await engine.generate(prompt, {
          maxNewTokens: shape.newTokens,
          onToken: (_tok, idx) => {
            lastT = performance.now();
            if (idx === 0) first = lastT;
          },
        });
        tokens = r.tokens.length;
        stopReason = r.stopReason;
        prefill.push(first - t0);
        if (tokens > 1) perToken.push((lastT - first) / (tokens - 1));
        host.progress(`decode: ${tokens} tokens, prefill ${(first - t0).toFixed(0)} ms, ${tokens > 1 ? ((1000 * (tokens - 1)) / (lastT - first)).toFixed(2) : '-'} tokens/s after it`);
      }
    },
    { targetSeconds: opts.targetSeconds, minRuns: 1, maxRuns: opts.maxRuns, noWarmup: !tiny },
  );
  // measure() warms up once itself when asked to; only the timed calls count.
  const timed = g.iterations;
  const pt = mean(perToken.slice(-timed));
  return {
    shape: { promptTokens: shape.promptTokens, imageRows: shape.imageRows, newTokens: shape.newTokens, sampling: 'greedy' },
    decodeTokensPerSecond: fig(1000 / pt, 'tokens/s', timed, pt),
    prefill: fig(mean(prefill.slice(-timed)), 'ms', timed),
    generate: fig(g.msPerIteration, 'ms', timed, g.msPerIteration),
    tokensGenerated: tokens,
    stopReason,
    lora: true,
  };
}
