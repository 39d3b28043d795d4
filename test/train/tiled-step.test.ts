// One POVID training step of the built-in tiny model on a tiled image (Node, WebGPU on
// SwiftShader): a 1024 x 768 image split as transformers' processor splits it (3 x 4 tiles of
// 512 and a global view, 13 x 64 image rows), the feature rows in the order of the <image>
// tokens, the noisy image tiled the same way. The example is prepared as the Worker prepares it
// (povid/prepare.ts), from the processor's views of the image.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu';
import { parseImageProcessorConfig, preprocessImage } from '../../src/model/image';
import { DEFAULT_TRAIN_CONFIG, type StepMetrics, type TrainConfig } from '../../src/povid/config';
import { prepareExample, type TrainExample } from '../../src/povid/prepare';
import { PovidTrainer } from '../../src/povid/trainer';
import { testGpu } from '../helpers/gpu';
import { decodePng } from '../helpers/png';
import { loadTinySession, type TinySession } from './tiny-model';

const CONFIG: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  loraRank: 4,
  loraAlpha: 8,
  learningRate: 1e-3,
  warmupRatio: 0,
  steps: 1,
  seed: 3,
  evalEvery: 0,
  checkpointEvery: 0,
  imageDetail: 'tiles',
};

describe('a POVID step with a tiled image', () => {
  let ctx: GpuContext;
  let s: TinySession;
  let ex: TrainExample;
  beforeAll(async () => {
    ctx = await testGpu();
    s = await loadTinySession(ctx, { r: CONFIG.loraRank, alpha: CONFIG.loraAlpha, seed: CONFIG.seed }, 960);
    const cfg = parseImageProcessorConfig(s.bundle.preprocessorConfigJson, s.vision.imageSize);
    const img = decodePng(readFileSync('test/golden/processor/photo-1024x768.png'));
    const p = preprocessImage(img.data, img.width, img.height, cfg, 'tiles');
    expect(p.grid).toEqual({ rows: 3, cols: 4 });
    ex = await prepareExample(
      {
        chat: s.tokenizer,
        imageSeqLen: s.vision.imageSeqLen,
        maxSeq: s.engine.limits.maxSeq,
        image: async () => ({ grid: p.grid, pixels: p.pixels }),
        features: (_key, pixels) => s.vision.encode(pixels),
      },
      {
        id: 'photo',
        image: 'photo-1024x768.png',
        blob: new Blob([]),
        question: 'What is in this picture?',
        chosen: 'A red house under a yellow sun.',
        rejected: 'A blue house under a full moon.',
      },
    );
  }, 120_000);
  afterAll(() => {
    s?.engine.destroy();
    s?.vision.dispose();
  });

  it('feeds 13 x 64 image rows and trains one step', async () => {
    expect(ex.pixels.length).toBe(13 * 3 * 512 * 512);
    expect(ex.chosen.image!.positions).toHaveLength(13 * 64);
    expect(ex.chosen.image!.features.length).toBe(13 * 64 * s.bundle.config.decoder.hiddenSize);
    expect(ex.chosen.tokens.length).toBeGreaterThan(13 * 64);
    expect(ex.chosen.tokens.length).toBeLessThanOrEqual(s.engine.limits.maxSeq);
    const before = await s.engine.lora!.get();
    const metrics: StepMetrics[] = [];
    let noisyViews = 0;
    const trainer = new PovidTrainer(
      {
        engine: s.engine,
        encodeImage: (pixels) => {
          noisyViews = pixels.length / (3 * 512 * 512);
          return s.vision.encode(pixels);
        },
      },
      [ex],
      [],
      CONFIG,
      'tiled',
    );
    const res = await trainer.run({ onStep: (m) => metrics.push(m) });
    expect(res).toEqual({ steps: 1, stopped: 'done' });
    expect(noisyViews).toBe(13); // the noisy image is tiled like the clean one
    const m = metrics[0];
    console.log(
      `tiled POVID step: ${ex.chosen.tokens.length} tokens, loss ${m.loss}, grad norm ${m.gradNorm}, ${m.ms.forward + m.ms.backward} ms forward+backward`,
    );
    expect(m.loss).toBeCloseTo(Math.log(2), 4); // B = 0 before the first update: policy == reference
    expect(Number.isFinite(m.gradNorm) && m.gradNorm > 0).toBe(true);
    const after = await s.engine.lora!.get();
    let changed = 0;
    for (const [k, v] of after) if (v.some((x, i) => x !== before.get(k)![i])) changed++;
    expect(changed).toBeGreaterThan(0);
  }, 300_000);
});
