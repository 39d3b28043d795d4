// Tiny decoders and POVID examples shared by the engine tests: odd sizes (hidden 72, 3 query heads
// sharing 1 KV head of 24, ff 100, vocab 301), padding (sequences of different lengths) and image
// rows replacing placeholder tokens.
import { makeDecoderConfig, type DecoderConfig } from '../../src/engine/config';
import type { SequenceInput } from '../../src/engine/batch';
import type { PovidExample } from '../../src/engine/step';
import type { GpuContext } from '../../src/gpu';
import { Rng } from '../../src/util/rng';
import { testGpu } from '../helpers/gpu';
import { refSequence, type RefSequence } from '../reference/decoder';
import type { RefExample } from '../reference/povid';

export const TINY: DecoderConfig = makeDecoderConfig({
  hiddenSize: 72,
  numLayers: 2,
  numHeads: 3,
  numKvHeads: 1,
  intermediateSize: 100,
  vocabSize: 301,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  maxPositions: 512,
  tieWordEmbeddings: false,
});

export const IMAGE_TOKEN = 300;
export const EOU = 299; // end of utterance

export interface PromptSpec {
  prompt: number[]; // tokens, IMAGE_TOKEN where image rows go
  features: Float32Array; // [count(IMAGE_TOKEN), C]
}

/** A prompt of `len` tokens with `imageRows` image placeholders after the first token. */
export function makePrompt(rng: Rng, cfg: DecoderConfig, len: number, imageRows: number): PromptSpec {
  const prompt = [1];
  for (let i = 0; i < imageRows; i++) prompt.push(IMAGE_TOKEN);
  while (prompt.length < len) prompt.push(2 + rng.int(cfg.vocabSize - 4));
  const features = new Float32Array(imageRows * cfg.hiddenSize);
  rng.fillNormal(features);
  return { prompt, features };
}

/** prompt + answer + EOU; targets mark the positions predicting each answer token and the EOU. */
export function makeSequence(p: PromptSpec, answer: number[], features = p.features): SequenceInput {
  const tokens = [...p.prompt, ...answer, EOU];
  const targets = tokens.map((_, t) => (t >= p.prompt.length - 1 && t < tokens.length - 1 ? tokens[t + 1] : -1));
  const positions: number[] = [];
  tokens.forEach((tok, t) => tok === IMAGE_TOKEN && positions.push(t));
  return { tokens, targets, image: { features, positions } };
}

export function randomAnswer(rng: Rng, cfg: DecoderConfig, len: number): number[] {
  return Array.from({ length: len }, () => 2 + rng.int(cfg.vocabSize - 4));
}

/** A noisy copy of image features: sqrt(abar) x + sqrt(1 - abar) eps at t = 500. */
export function noisy(rng: Rng, f: Float32Array): Float32Array {
  const eps = new Float32Array(f.length);
  rng.fillNormal(eps);
  return f.map((x, i) => 0.86302 * x + 0.50517 * eps[i]);
}

/** E examples with prompts/answers of different lengths (so the batch is padded). */
export function makeExamples(
  seed: number,
  cfg: DecoderConfig,
  shapes: { prompt: number; image: number; chosen: number; rejected: number }[],
): PovidExample[] {
  const rng = new Rng(seed);
  return shapes.map((s) => {
    const p = makePrompt(rng, cfg, s.prompt, s.image);
    return {
      chosen: makeSequence(p, randomAnswer(rng, cfg, s.chosen)),
      rejected: makeSequence(p, randomAnswer(rng, cfg, s.rejected)),
      noisyImage: noisy(rng, p.features),
    };
  });
}

export function refExamples(examples: PovidExample[]): RefExample[] {
  return examples.map((x) => ({
    chosen: refSequence(x.chosen),
    rejected: refSequence(x.rejected),
    noisyImageRows: Float64Array.from(x.noisyImage ?? []),
  }));
}

export function toRef(s: SequenceInput): RefSequence {
  return refSequence(s);
}

/** Random values for every LoRA B (and optionally A), so that every gradient is nonzero. */
export function randomLoraValues(
  seed: number,
  shapes: ReadonlyMap<string, Float32Array>,
  scaleB: number,
  scaleA?: number,
): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, cur] of shapes) {
    if (name.includes('lora_B')) {
      const x = new Float32Array(cur.length);
      rng.fillNormal(x);
      out.set(
        name,
        x.map((v) => v * scaleB),
      );
    } else if (scaleA !== undefined) {
      const x = new Float32Array(cur.length);
      rng.fillNormal(x);
      out.set(
        name,
        x.map((v) => v * scaleA),
      );
    } else out.set(name, cur);
  }
  return out;
}

/** max |a - b| / max |b| over a tensor (norm-wise relative error). */
export function normRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** The test GPU context (one per test file). */
export function engineGpu(): Promise<GpuContext> {
  return testGpu();
}
