// From a record to what the engine trains on, in one place below the Worker:
//   image blob -> pixel values [3, S, S] in [-1, 1] -> vision features (the clean image's, cached)
//   question + answer -> chat prompt -> token sequence with targets at the answer only
//   -> TrainExample (chosen and rejected share the clean features)
//   -> per use, the noised image's features -> the engine's PovidExample.
// The tokenizer, the image decoding, the vision encoder and the noise come in as arguments, so
// the same code runs in the Worker and in Node tests.
import type { PovidExample, SequenceInput } from '../engine';
import type { ChatTokenizer, TrainingExample } from '../model/tokenizer';

/** An example ready for the engine: token sequences with the clean image's features. */
export interface TrainExample {
  id: string;
  chosen: SequenceInput;
  rejected: SequenceInput;
  /** The clean image as the vision encoder takes it: [3, S, S] in [-1, 1]. */
  pixels: Float32Array;
  /** LoRA-off log-prob sums, computed once (prepare) and cached. */
  reference?: { chosen: number; rejected: number };
}

/** A record's texts and image, as the dataset holds them. */
export interface ExampleSource {
  id: string;
  /** The image's key (its file name): pixels and features are cached under it. */
  image: string;
  blob: Blob;
  question: string;
  /** Preferred answer y_w. */
  chosen: string;
  /** Dispreferred text answer y_t: the user's, or the injector's. */
  rejected: string;
}

/** POVID's noised copy of pixel values for the `use`-th use of an example (noise.ts: noisyPixels). */
export type NoiseFn = (pixels: Float32Array, t: number, seed: number, use: number) => Float32Array;

/** One draw of image noise: diffusion step t, run seed, and which use of the example it is. */
export interface NoiseDraw {
  t: number;
  seed: number;
  use: number;
}

/** Pixels to features, clean or noised. */
export interface ImageDeps {
  /** Vision features [imageSeqLen, hidden] of pixel values [3, S, S] in [-1, 1]. */
  encodeImage: (pixels: Float32Array) => Promise<Float32Array>;
  noise: NoiseFn;
}

export interface PrepareDeps {
  /** The model's tokenizer with its chat template. */
  chat: Pick<ChatTokenizer, 'buildExample'>;
  /** Image tokens per image in the prompt (rows of the vision encoder's output). */
  imageSeqLen: number;
  /** Decoded, resized and normalised pixel values of an image: [3, S, S] in [-1, 1]. */
  pixels: (key: string, blob: Blob) => Promise<Float32Array>;
  /** The clean image's features; `key` lets the caller cache them per image, `blob` look them up where it stored them. */
  features: (key: string, pixels: Float32Array, blob: Blob) => Promise<Float32Array>;
}

/** Engine sequence from the tokenizer's example: targets only at answer positions. */
export function toSequence(ex: TrainingExample, features: Float32Array): SequenceInput {
  const targets = new Int32Array(ex.targets.length);
  for (let t = 0; t < targets.length; t++) targets[t] = ex.answerMask[t] ? ex.targets[t] : -1;
  return { tokens: ex.inputIds, targets, image: { features, positions: ex.imagePositions } };
}

/** One record as a TrainExample: its image encoded once, both answers as token sequences. */
export async function prepareExample(deps: PrepareDeps, src: ExampleSource): Promise<TrainExample> {
  const pixels = await deps.pixels(src.image, src.blob);
  const features = await deps.features(src.image, pixels, src.blob);
  return {
    id: src.id,
    chosen: toSequence(deps.chat.buildExample(src.question, src.chosen, deps.imageSeqLen), features),
    rejected: toSequence(deps.chat.buildExample(src.question, src.rejected, deps.imageSeqLen), features),
    pixels,
  };
}

export interface PrepareOptions {
  /** Examples already prepared, by record id; new ones are added. */
  cache?: Map<string, TrainExample>;
  /** Called before the n-th (1-based) of `total` records is prepared, when it is not cached. */
  onExample?: (n: number, total: number) => void;
}

/** The examples of `ids`, in order; `load` is asked only for the records not in the cache. */
export async function prepareExamples(
  deps: PrepareDeps,
  ids: readonly string[],
  load: (id: string) => Promise<ExampleSource>,
  opts: PrepareOptions = {},
): Promise<TrainExample[]> {
  const out: TrainExample[] = [];
  for (const [i, id] of ids.entries()) {
    let ex = opts.cache?.get(id);
    if (!ex) {
      opts.onExample?.(i + 1, ids.length);
      ex = await prepareExample(deps, await load(id));
      opts.cache?.set(id, ex);
    }
    out.push(ex);
  }
  return out;
}

/** Features of the noised image for one draw (never cached: each use gets new noise). */
export function noisyFeatures(deps: ImageDeps, pixels: Float32Array, draw: NoiseDraw): Promise<Float32Array> {
  return deps.encodeImage(deps.noise(pixels, draw.t, draw.seed, draw.use));
}

/** The engine's example for one use; `draw` null (text-only DPO) leaves out the noisy image. */
export async function povidExample(deps: ImageDeps, ex: TrainExample, draw: NoiseDraw | null): Promise<PovidExample> {
  const noisyImage = draw ? await noisyFeatures(deps, ex.pixels, draw) : undefined;
  return { chosen: ex.chosen, rejected: ex.rejected, noisyImage, reference: ex.reference };
}
