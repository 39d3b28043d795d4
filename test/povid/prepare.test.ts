// Preparing training examples with the built-in tiny model's tokenizer and ONNX vision encoder
// (WASM, no GPU): record -> pixels -> features, question + answers -> token sequences (one view
// or tiles plus a global view), the engine's length limit, and the noisy image's features per use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatTokenizer } from '../../src/model/tokenizer';
import { VisionEncoder } from '../../src/model/vision';
import { noisyPixels } from '../../src/povid/noise';
import type { TrainProgress } from '../../src/povid/config';
import {
  ExampleError,
  noisyFeatures,
  povidExample,
  prepareExample,
  prepareExamples,
  type ExampleSource,
  type ImageDeps,
  type PrepareDeps,
} from '../../src/povid/prepare';
import { discImage, loadTinyBundle } from '../train/tiny-model';

/** The Worker's sequence limit with one view per image. */
const MAX_SEQ = 384;
const ONE_VIEW = { rows: 0, cols: 0 };

const RECORDS: Omit<ExampleSource, 'blob'>[] = [
  {
    id: 'r0',
    image: 'red.png',
    question: 'What is in the picture?',
    chosen: 'A red ball on a green lawn.',
    rejected: 'A red ball and a dog on a green lawn.',
  },
  {
    id: 'r1',
    image: 'sun.png',
    question: 'Describe the image.',
    chosen: 'A yellow sun in a blue sky.',
    rejected: 'Two yellow suns in a blue sky.',
  },
  { id: 'r2', image: 'red.png', question: 'What colour is the ball?', chosen: 'It is red.', rejected: 'It is blue.' },
];

describe('preparing examples', () => {
  let tokenizer: ChatTokenizer;
  let vision: VisionEncoder;
  let images: Map<string, Float32Array>;
  /** Which image keys were decoded and encoded, in order. */
  let calls: { pixels: string[]; features: string[] };
  let deps: PrepareDeps;
  let imageDeps: ImageDeps;
  const source = (i: number): ExampleSource => ({ ...RECORDS[i], blob: new Blob([RECORDS[i].image]) });

  beforeAll(async () => {
    const bundle = await loadTinyBundle();
    tokenizer = ChatTokenizer.fromJson(bundle.tokenizerJson, bundle.tokenizerConfigJson, bundle.chatTemplate);
    vision = await VisionEncoder.create(bundle.visionOnnx!, { executionProvider: 'wasm', numThreads: 1 });
    const S = vision.imageSize;
    images = new Map([
      ['red.png', discImage(S, [220, 30, 30], [40, 160, 60], 0.4, 0.5, 0.2)],
      ['sun.png', discImage(S, [250, 220, 40], [60, 120, 230], 0.6, 0.3, 0.25)],
    ]);
    imageDeps = { encodeImage: (p) => vision.encode(p), noise: noisyPixels };
  });
  afterAll(() => vision?.dispose());

  const freshDeps = () => {
    calls = { pixels: [], features: [] };
    deps = {
      chat: tokenizer,
      imageSeqLen: vision.imageSeqLen,
      maxSeq: MAX_SEQ,
      // Stands in for decoding the blob: the test's images are drawn, not decoded.
      image: async (key) => {
        calls.pixels.push(key);
        const p = images.get(key);
        if (!p) throw new Error(`no test image ${key}`);
        return { grid: ONE_VIEW, pixels: p };
      },
      features: (key, pixels) => {
        calls.features.push(key);
        return vision.encode(pixels);
      },
    };
  };

  it('turns a record into two token sequences on the clean image, targets at the answer only', async () => {
    freshDeps();
    const ex = await prepareExample(deps, source(0));
    expect(ex.id).toBe('r0');
    expect(ex.pixels).toBe(images.get('red.png'));
    expect(calls).toEqual({ pixels: ['red.png'], features: ['red.png'] });

    const features = await vision.encode(images.get('red.png')!);
    expect(features.length).toBe(vision.imageSeqLen * vision.hidden);
    for (const [seq, answer] of [
      [ex.chosen, RECORDS[0].chosen],
      [ex.rejected, RECORDS[0].rejected],
    ] as const) {
      const t = tokenizer.buildExample(RECORDS[0].question, answer, vision.imageSeqLen);
      expect(Array.from(seq.tokens)).toEqual(Array.from(t.inputIds));
      const targets = Array.from(seq.targets!);
      for (let i = 0; i < targets.length; i++) expect(targets[i]).toBe(t.answerMask[i] ? t.targets[i] : -1);
      // The answer's tokens and the closing <end_of_utterance>, nothing of the prompt.
      expect(targets.filter((x) => x >= 0).length).toBe(t.inputIds.length - t.promptLength);
      expect(targets[targets.length - 2]).toBe(tokenizer.eosId);
      expect(Array.from(seq.image!.positions!)).toEqual(Array.from(t.imagePositions));
      expect(Array.from(seq.image!.positions!).every((p) => seq.tokens[p] === tokenizer.imageTokenId)).toBe(true);
      expect(Array.from(seq.image!.features)).toEqual(Array.from(features));
    }
    // One encoding serves both answers.
    expect(ex.rejected.image!.features).toBe(ex.chosen.image!.features);
    expect(Array.from(ex.rejected.tokens)).not.toEqual(Array.from(ex.chosen.tokens));
  });

  it('prepares each record once, in order, and asks only for the ones not cached', async () => {
    freshDeps();
    const cache = new Map();
    const loaded: string[] = [];
    const progress: [number, number][] = [];
    const load = async (id: string) => {
      loaded.push(id);
      return source(RECORDS.findIndex((r) => r.id === id));
    };
    const first = await prepareExamples(deps, ['r1', 'r0'], load, { cache, onExample: (n, total) => progress.push([n, total]) });
    expect(first.map((e) => e.id)).toEqual(['r1', 'r0']);
    expect(loaded).toEqual(['r1', 'r0']);
    expect(progress).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect([...cache.keys()]).toEqual(['r1', 'r0']);

    const again = await prepareExamples(deps, ['r0', 'r2', 'r1'], load, { cache, onExample: (n, total) => progress.push([n, total]) });
    expect(again.map((e) => e.id)).toEqual(['r0', 'r2', 'r1']);
    expect(again[0]).toBe(first[1]);
    expect(again[2]).toBe(first[0]);
    expect(loaded).toEqual(['r1', 'r0', 'r2']);
    expect(progress.slice(2)).toEqual([[2, 3]]);
    // r2 shares r0's image: the caller's caches are asked by image key.
    expect(calls.pixels).toEqual(['sun.png', 'red.png', 'red.png']);

    // Without a cache every record is prepared again.
    const uncached = await prepareExamples(deps, ['r0'], load);
    expect(uncached[0]).not.toBe(first[1]);
    expect(loaded.at(-1)).toBe('r0');
  });

  it('reports the images stage as n of the records not cached, with an ETA, and stops when cancelled', async () => {
    freshDeps();
    const cache = new Map();
    const load = async (id: string) => source(RECORDS.findIndex((r) => r.id === id));
    await prepareExamples(deps, ['r1'], load, { cache });
    const progress: TrainProgress[] = [];
    const all = await prepareExamples(deps, ['r0', 'r1', 'r2'], load, { cache, onProgress: (p) => progress.push(p) });
    expect(all.map((e) => e.id)).toEqual(['r0', 'r1', 'r2']);
    expect(progress.map((p) => [p.phase, p.done, p.total])).toEqual([
      ['images', 0, 2],
      ['images', 1, 2],
      ['images', 2, 2],
    ]);
    expect(progress[0].etaSeconds).toBeNull(); // nothing timed and no prior
    expect(progress[1].etaSeconds).not.toBeNull();
    expect(progress[2].etaSeconds).toBe(0);
    expect(progress[2].elapsedSeconds).toBeGreaterThanOrEqual(progress[1].elapsedSeconds);

    // Everything cached: no stage to report.
    const none: TrainProgress[] = [];
    await prepareExamples(deps, ['r0', 'r2'], load, { cache, onProgress: (p) => none.push(p) });
    expect(none).toEqual([]);

    // A measured time per record gives the ETA before the first one ends.
    const timed: TrainProgress[] = [];
    await prepareExamples(deps, ['r0', 'r1'], load, { onProgress: (p) => timed.push(p), secondsPerExample: 0.5 });
    expect(timed[0].etaSeconds).toBeGreaterThan(0.9);
    expect(timed[0].etaSeconds).toBeLessThanOrEqual(1);

    // Cancelled after the first record: the rest are neither loaded nor reported.
    const loaded: string[] = [];
    const reports: TrainProgress[] = [];
    let stop = true;
    const part = await prepareExamples(
      deps,
      ['r0', 'r1', 'r2'],
      async (id) => {
        loaded.push(id);
        return load(id);
      },
      { onProgress: (p) => reports.push(p), cancelled: () => stop },
    );
    expect(part).toEqual([]);
    expect(loaded).toEqual([]);
    stop = false;
    const cancelAfterOne = await prepareExamples(
      deps,
      ['r0', 'r1', 'r2'],
      async (id) => {
        loaded.push(id);
        stop = true;
        return load(id);
      },
      { onProgress: (p) => reports.push(p), cancelled: () => stop },
    );
    expect(cancelAfterOne.map((e) => e.id)).toEqual(['r0']);
    expect(loaded).toEqual(['r0']);
    expect(reports.map((p) => p.done)).toEqual([0, 0, 1]);
  });

  it('gives the noisy image per use: the same for a (seed, use), new for another use, none for text-only DPO', async () => {
    freshDeps();
    const ex = { ...(await prepareExample(deps, source(1))), reference: { chosen: -3.5, rejected: -4.25 } };
    const draw = { t: 500, seed: 7, use: 3 };
    const a = await povidExample(imageDeps, ex, draw);
    const b = await povidExample(imageDeps, ex, { ...draw });
    const other = await povidExample(imageDeps, ex, { ...draw, use: 4 });
    expect(a.chosen).toBe(ex.chosen);
    expect(a.rejected).toBe(ex.rejected);
    expect(a.reference).toEqual({ chosen: -3.5, rejected: -4.25 });
    expect(Array.from(a.noisyImage!)).toEqual(Array.from(b.noisyImage!));
    expect(Array.from(a.noisyImage!)).toEqual(Array.from(await vision.encode(noisyPixels(ex.pixels, 500, 7, 3))));
    expect(Array.from(a.noisyImage!)).toEqual(Array.from(await noisyFeatures(imageDeps, ex.pixels, draw)));
    expect(Array.from(other.noisyImage!)).not.toEqual(Array.from(a.noisyImage!));
    expect(Array.from(a.noisyImage!)).not.toEqual(Array.from(ex.chosen.image!.features));

    const textOnly = await povidExample(imageDeps, ex, null);
    expect(textOnly.noisyImage).toBeUndefined();
    expect(textOnly.chosen).toBe(ex.chosen);
  });

  it("passes on the tokenizer's error for an empty answer", async () => {
    freshDeps();
    await expect(prepareExample(deps, { ...source(0), rejected: '  ' })).rejects.toThrow(/the answer is empty/);
  });

  it('lays out a tiled image: the prompt for its grid, every view encoded, its pixels read per use', async () => {
    freshDeps();
    // 1 x 2 tiles and the global view: three views, tiles row-major, then the global one.
    const grid = { rows: 1, cols: 2 };
    const S = vision.imageSize;
    const pixels = new Float32Array(3 * 3 * S * S);
    pixels.set(images.get('red.png')!, 0);
    pixels.set(images.get('sun.png')!, 3 * S * S);
    pixels.set(discImage(S, [10, 10, 10], [240, 240, 240], 0.5, 0.5, 0.3), 2 * 3 * S * S);
    let reads = 0;
    deps.image = async (key) => {
      calls.pixels.push(key);
      return {
        grid,
        get pixels() {
          reads++;
          return pixels;
        },
      };
    };
    const ex = await prepareExample(deps, source(0));
    expect(reads).toBe(1); // once, for the clean features
    const t = tokenizer.buildExample(RECORDS[0].question, RECORDS[0].chosen, vision.imageSeqLen, grid);
    expect(Array.from(ex.chosen.tokens)).toEqual(Array.from(t.inputIds));
    expect(ex.chosen.image!.positions).toHaveLength(3 * vision.imageSeqLen);
    expect(Array.from(ex.chosen.image!.positions!)).toEqual(Array.from(t.imagePositions));
    // One view's prompt is shorter by exactly the tile blocks.
    const single = tokenizer.buildExample(RECORDS[0].question, RECORDS[0].chosen, vision.imageSeqLen);
    expect(t.inputIds.length - single.inputIds.length).toBe(
      tokenizer.imagePromptTokens(vision.imageSeqLen, grid) - tokenizer.imagePromptTokens(vision.imageSeqLen),
    );
    // The features of all three views, in the order of the <image> tokens.
    const features = await vision.encode(pixels);
    expect(features.length).toBe(3 * vision.imageSeqLen * vision.hidden);
    expect(Array.from(ex.chosen.image!.features)).toEqual(Array.from(features));
    // The noisy image is read afresh at each use and noises every view.
    expect(ex.pixels).toBe(pixels);
    expect(reads).toBe(2);
    const noisy = await povidExample(imageDeps, ex, { t: 500, seed: 7, use: 0 });
    expect(reads).toBe(3);
    expect(noisy.noisyImage!.length).toBe(features.length);
    expect(Array.from(noisy.noisyImage!)).toEqual(Array.from(await vision.encode(noisyPixels(pixels, 500, 7, 0))));
  });

  it('refuses a record whose sequence is longer than the engine takes, naming it and the limit, before encoding its image', async () => {
    freshDeps();
    const single = tokenizer.buildExample(RECORDS[1].question, RECORDS[1].chosen, vision.imageSeqLen);
    const limit = single.inputIds.length - 1;
    const err = await prepareExample({ ...deps, maxSeq: limit }, source(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExampleError);
    const e = err as ExampleError;
    expect([e.recordId, e.image]).toEqual(['r1', 'sun.png']);
    expect(e.message).toMatch(
      new RegExp(
        `^record "r1" \\(sun\\.png\\): the sequence is ${single.inputIds.length} tokens long, more than the engine's maximum sequence length of ${limit}`,
      ),
    );
    expect(e.message).toMatch(/shorten the question or answer/);
    expect(calls.features).toEqual([]);

    // A tiled image that does not fit says how many tokens its tiles take and what to choose.
    deps.image = async () => ({ grid: { rows: 3, cols: 4 }, pixels: new Float32Array(0) });
    const tiled = await prepareExample(deps, source(1)).catch((x: unknown) => x);
    expect(tiled).toBeInstanceOf(ExampleError);
    expect((tiled as Error).message).toMatch(/3 x 4 tiles plus the global view takes 13 x \d+ = \d+ image tokens.*one 512 view \(fast\)/);
    expect(calls.features).toEqual([]);
  });
});
