// What the `step` and `decode` sections run: a decoder of the default model's shape (or the tiny
// profile's) with random bf16 weights, one POVID example of fixed layout, and engines made from
// them through the engine's public API (src/engine).
import type { GpuContext } from '../../src/gpu';
import type { DecoderConfig, Engine, PovidExample, PovidStepOptions, SequenceInput } from '../../src/engine';
import { Rng } from '../../src/util/rng';
import { errorText } from '../timing';
import type { BenchHost, BenchOptions, Skipped } from '../types';

/** Sequence layout of one benchmark example. */
export interface StepShape {
  seqLen: number; // tokens per sequence (chosen and rejected alike)
  imageRows: number; // image feature rows inside the prompt
  answerTokens: number; // scored answer positions at the end
  promptTokens: number; // decode: prompt length, image rows included
  newTokens: number; // decode: tokens generated
}

const DEFAULT_SHAPE: StepShape = { seqLen: 256, imageRows: 64, answerTokens: 48, promptTokens: 80, newTokens: 32 };
export const TINY_SHAPE: StepShape = { seqLen: 24, imageRows: 6, answerTokens: 5, promptTokens: 12, newTokens: 4 };
/** The warm-up engine's sequences: every pipeline of the real ones at a fraction of the work. */
const WARMUP_SHAPE: StepShape = { seqLen: 16, imageRows: 4, answerTokens: 4, promptTokens: 8, newTokens: 2 };

export const LORA = { r: 16, alpha: 32 } as const;
export const LOSS = { beta: 0.1, mode: 'povid', wText: 0.5, wNoise: 0.5 } as const;
/** The image rows sit after `<|im_start|>User:<fake_token_around_image><global-img>`. */
const IMAGE_AT = 4;

type EngineModule = typeof import('../../src/engine');

export async function loadEngine(): Promise<EngineModule | Skipped> {
  try {
    const mod = await import('../../src/engine');
    if (typeof mod.Engine?.create !== 'function') return { skipped: 'src/engine/index.ts exports no Engine' };
    return mod;
  } catch (e) {
    return { skipped: `the engine (src/engine) could not be loaded: ${errorText(e)}` };
  }
}

function tinyDecoderConfig(mod: EngineModule): DecoderConfig {
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
function sequence(
  rng: Rng,
  cfg: DecoderConfig,
  len: number,
  answer: number,
  prompt: Int32Array | null,
  image: Float32Array,
  imageRows: number,
): SequenceInput {
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
function benchExample(cfg: DecoderConfig, shape: StepShape, seed: number): PovidExample {
  const rng = new Rng(seed);
  const C = cfg.hiddenSize;
  const clean = features(rng, shape.imageRows, C, 0.5);
  const noisy = Float32Array.from(clean, (v) => v + 0.25 * rng.normal());
  const chosen = sequence(rng, cfg, shape.seqLen, shape.answerTokens, null, clean, shape.imageRows);
  // Same prompt and image, another answer of the same length (the text-injected hallucination).
  const rejected = sequence(rng, cfg, shape.seqLen, shape.answerTokens, chosen.tokens as Int32Array, clean, shape.imageRows);
  return { chosen, rejected, noisyImage: noisy };
}

/** The decode section's prompt: the chosen sequence's first `promptTokens` tokens and its image. */
export function decodePrompt(example: PovidExample, shape: StepShape): SequenceInput {
  const tokens = Int32Array.from((example.chosen.tokens as Int32Array).subarray(0, shape.promptTokens));
  return { tokens, image: example.chosen.image };
}

/** Everything the sections share: the model, the example, the step options and an engine factory. */
export interface Workload {
  cfg: DecoderConfig;
  shape: StepShape;
  /** The tiny profile: its engines' sequences differ from the warm-up's, so each is warmed itself. */
  tiny: boolean;
  example: PovidExample;
  stepOpts: PovidStepOptions;
  create(layers: number, training: boolean, seqLen?: number): Promise<Engine>;
}

export function makeWorkload(host: BenchHost, ctx: GpuContext, mod: EngineModule, opts: BenchOptions): Workload {
  const tiny = opts.profile === 'tiny';
  const cfg = tiny ? tinyDecoderConfig(mod) : mod.SMOLVLM_256M_DECODER;
  const shape = tiny ? TINY_SHAPE : DEFAULT_SHAPE;
  host.progress(`engine: random weights for ${cfg.numLayers} layers x ${cfg.hiddenSize}, vocab ${cfg.vocabSize}`);
  const t = performance.now();
  const weights = mod.randomDecoderWeights(cfg, opts.seed);
  host.progress(`engine: weights generated in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return {
    cfg,
    shape,
    tiny,
    example: benchExample(cfg, shape, opts.seed + 1),
    stepOpts: { loss: { ...LOSS }, optimizer: { lr: 1e-5, maxGradNorm: 1 }, timing: true },
    create: (layers, training, seqLen = shape.seqLen) =>
      mod.Engine.create(ctx, { ...cfg, numLayers: layers }, weights, {
        maxBatch: 2,
        maxSeq: seqLen,
        lora: { ...LORA },
        weightDtype: 'bf16',
        training,
      }),
  };
}

export const WARMUP =
  'one untimed step, forward passes and generate of a 1-layer, 16-token engine of the same widths: compiles every pipeline';

/** Compiles every pipeline on a 1-layer engine of the same widths and short sequences. */
export async function warmUp(host: BenchHost, w: Workload, seed: number): Promise<void> {
  const t = performance.now();
  const e1 = await w.create(1, true, WARMUP_SHAPE.seqLen);
  try {
    const ex = benchExample(w.cfg, WARMUP_SHAPE, seed);
    await e1.povidStep([ex], w.stepOpts);
    await e1.forward([ex.chosen, ex.rejected], { lora: false });
    await e1.generate(decodePrompt(ex, WARMUP_SHAPE), { maxNewTokens: 2 });
  } finally {
    e1.destroy();
  }
  host.progress(`engine: warm-up took ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
