// From a record to what the engine trains on, in one place below the Worker:
//   image blob -> the processor's views at the run's image detail (one 512 view, or tiles plus
//     a global view: docs/model.md) -> pixel values [views, 3, S, S] in [-1, 1]
//     -> vision features [views * imageSeqLen, hidden] (the clean image's, cached)
//   question + answer -> chat prompt (the image block laid out for the tile grid) -> token
//     sequence with targets at the answer only, refused when longer than the engine takes
//   -> TrainExample (chosen and rejected share the clean features)
//   -> per use, the noised image's features (every view noised) -> the engine's PovidExample.
// The tokenizer, the image decoding, the vision encoder and the noise come in as arguments, so
// the same code runs in the Worker and in Node tests.
import type { PovidExample, SequenceInput } from '../engine';
import type { ImageGrid } from '../model/chat';
import { checkSequenceLength, type ChatTokenizer, type TrainingExample } from '../model/tokenizer';
import { EtaEstimator } from '../util/eta';
import type { TrainProgress } from './config';

/** A record that cannot become a training example (its sequence is too long, its text is refused, ...). */
export class ExampleError extends Error {
  override name = 'ExampleError';
  constructor(
    readonly recordId: string,
    readonly image: string,
    readonly reason: Error,
  ) {
    super(`record "${recordId}" (${image}): ${reason.message}`);
  }
}

/** An example ready for the engine: token sequences with the clean image's features. */
export interface TrainExample {
  id: string;
  chosen: SequenceInput;
  rejected: SequenceInput;
  /**
   * The clean image as the vision encoder takes it: [views, 3, S, S] in [-1, 1]. Read once per
   * noisy encoding; it may be a getter that makes the values afresh (a tiled image's float32
   * views are four times its bytes).
   */
  readonly pixels: Float32Array;
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
  /** Vision features [views * imageSeqLen, hidden] of pixel values [views, 3, S, S] in [-1, 1]. */
  encodeImage: (pixels: Float32Array) => Promise<Float32Array>;
  noise: NoiseFn;
}

/** An image as the processor made it at the run's image detail. */
export interface ImageViews {
  /** Tiles before the global view, rows x cols; 0 x 0 for one view. */
  grid: ImageGrid;
  /** Pixel values [views, 3, S, S] in [-1, 1]: tiles row-major, then the global view. May be a getter (see TrainExample.pixels). */
  readonly pixels: Float32Array;
}

export interface PrepareDeps {
  /** The model's tokenizer with its chat template. */
  chat: Pick<ChatTokenizer, 'buildExample'>;
  /** Image tokens per view in the prompt (rows of the vision encoder's output per view). */
  imageSeqLen: number;
  /** Longest sequence the engine takes: a longer example is refused, naming the record and the limit. */
  maxSeq: number;
  /** The image decoded and preprocessed: its views' pixel values and tile grid. */
  image: (key: string, blob: Blob) => Promise<ImageViews>;
  /** The clean image's features; `key` lets the caller cache them per image, `blob` look them up where it stored them. */
  features: (key: string, pixels: Float32Array, blob: Blob) => Promise<Float32Array>;
}

/** Engine sequence from the tokenizer's example: targets only at answer positions. */
export function toSequence(ex: TrainingExample, features: Float32Array): SequenceInput {
  const targets = new Int32Array(ex.targets.length);
  for (let t = 0; t < targets.length; t++) targets[t] = ex.answerMask[t] ? ex.targets[t] : -1;
  return { tokens: ex.inputIds, targets, image: { features, positions: ex.imagePositions } };
}

/**
 * The tokenizer's example for one answer, its image block laid out for `grid`; refused (naming
 * the record, its image and the limit) when it is longer than the engine takes.
 */
function buildSequence(deps: PrepareDeps, src: ExampleSource, answer: string, grid: ImageGrid): TrainingExample {
  try {
    const ex = deps.chat.buildExample(src.question, answer, deps.imageSeqLen, grid);
    checkSequenceLength(ex, deps.imageSeqLen, grid, deps.maxSeq, "engine's maximum sequence length");
    return ex;
  } catch (e) {
    throw e instanceof Error ? new ExampleError(src.id, src.image, e) : e;
  }
}

/** One record as a TrainExample: its image encoded once, both answers as token sequences. */
export async function prepareExample(deps: PrepareDeps, src: ExampleSource): Promise<TrainExample> {
  const img = await deps.image(src.image, src.blob);
  // Token sequences first: a record too long for the engine fails before its views are encoded.
  const chosen = buildSequence(deps, src, src.chosen, img.grid);
  const rejected = buildSequence(deps, src, src.rejected, img.grid);
  const features = await deps.features(src.image, img.pixels, src.blob);
  return {
    id: src.id,
    chosen: toSequence(chosen, features),
    rejected: toSequence(rejected, features),
    get pixels() {
      return img.pixels;
    },
  };
}

export interface PrepareOptions {
  /** Examples already prepared, by record id; new ones are added. */
  cache?: Map<string, TrainExample>;
  /** Called before the n-th (1-based) of `total` records is prepared, when it is not cached. */
  onExample?: (n: number, total: number) => void;
  /**
   * The 'images' stage: n of N records not cached, elapsed and ETA; at its start (when there is
   * anything to prepare) and after each record.
   */
  onProgress?: (p: TrainProgress) => void;
  /** Seconds per record measured before (a timed probe), for the ETA until one is timed. */
  secondsPerExample?: number;
  /** Asked before each record that is not cached: true stops, and only the examples ready are returned. */
  cancelled?: () => boolean;
}

/** The examples of `ids`, in order; `load` is asked only for the records not in the cache. */
export async function prepareExamples(
  deps: PrepareDeps,
  ids: readonly string[],
  load: (id: string) => Promise<ExampleSource>,
  opts: PrepareOptions = {},
): Promise<TrainExample[]> {
  const out: TrainExample[] = [];
  const todo = opts.cache ? ids.filter((id) => !opts.cache!.has(id)).length : ids.length;
  const eta = new EtaEstimator(todo, { priorSecondsPerUnit: opts.secondsPerExample });
  const report = () =>
    opts.onProgress?.({
      phase: 'images',
      done: eta.completed,
      total: todo,
      elapsedSeconds: eta.elapsedSeconds,
      etaSeconds: eta.etaSeconds,
    });
  if (todo > 0) report();
  for (const [i, id] of ids.entries()) {
    let ex = opts.cache?.get(id);
    if (!ex) {
      if (opts.cancelled?.()) break;
      opts.onExample?.(i + 1, ids.length);
      ex = await prepareExample(deps, await load(id));
      opts.cache?.set(id, ex);
      eta.tick();
      report();
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
