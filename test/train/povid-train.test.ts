// Trains the built-in tiny model with POVID on a small synthetic preference set (Node, WebGPU on
// SwiftShader) and checks that the loss falls and the reward accuracy rises; then that a run
// resumed from a checkpoint continues with the same losses as an uninterrupted run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCheckpointStore } from '../../src/povid/checkpoint';
import { injectHallucination } from '../../src/povid/inject';
import { DEFAULT_TRAIN_CONFIG, type StepMetrics, type TrainConfig } from '../../src/povid/config';
import { toSequence, type TrainExample } from '../../src/povid/prepare';
import { PovidTrainer } from '../../src/povid/trainer';
import type { GpuContext } from '../../src/gpu';
import { testGpu } from '../helpers/gpu';
import { discImage, loadTinySession, type TinySession } from './tiny-model';

const DATA: { q: string; a: string; fg: [number, number, number]; bg: [number, number, number] }[] = [
  { q: 'What is in the picture?', a: 'A red ball on a green lawn.', fg: [220, 30, 30], bg: [40, 160, 60] },
  { q: 'Describe the image.', a: 'A yellow sun in a blue sky.', fg: [250, 220, 40], bg: [60, 120, 230] },
  { q: 'What colour is the circle?', a: 'The circle is white.', fg: [250, 250, 250], bg: [20, 20, 20] },
  { q: 'Is there a dog in the image?', a: 'No, there is only an orange.', fg: [250, 150, 20], bg: [200, 200, 200] },
];

async function examples(s: TinySession): Promise<TrainExample[]> {
  const S = s.vision.imageSize;
  const out: TrainExample[] = [];
  for (const [i, d] of DATA.entries()) {
    const pixels = discImage(S, d.fg, d.bg, 0.3 + 0.1 * i, 0.5, 0.2);
    const features = await s.vision.encode(pixels);
    const rejected = injectHallucination(d.a, { seed: i, question: d.q }).text;
    out.push({
      id: `ex${i}`,
      chosen: toSequence(s.tokenizer.buildExample(d.q, d.a, s.vision.imageSeqLen), features),
      rejected: toSequence(s.tokenizer.buildExample(d.q, rejected, s.vision.imageSeqLen), features),
      pixels,
    });
  }
  return out;
}

const CONFIG: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  loraRank: 8,
  loraAlpha: 16,
  learningRate: 2e-3,
  warmupRatio: 0.1,
  steps: 16,
  seed: 7,
  evalEvery: 0,
  checkpointEvery: 4,
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('POVID training of the built-in tiny model', () => {
  let ctx: GpuContext;
  let s: TinySession;
  let data: TrainExample[];
  beforeAll(async () => {
    ctx = await testGpu();
    s = await loadTinySession(ctx, { r: CONFIG.loraRank, alpha: CONFIG.loraAlpha, seed: CONFIG.seed });
    data = await examples(s);
  });
  afterAll(() => {
    s?.engine.destroy();
    s?.vision.dispose();
  });

  it(`lowers the loss and raises reward accuracy over ${CONFIG.steps} steps`, async () => {
    const metrics: StepMetrics[] = [];
    const trainer = new PovidTrainer({ engine: s.engine, encodeImage: (p) => s.vision.encode(p) }, data, [], CONFIG, 'synthetic');
    const res = await trainer.run({ onStep: (m) => metrics.push(m) });
    expect(res).toEqual({ steps: CONFIG.steps, stopped: 'done' });
    const first = metrics.slice(0, 4);
    const last = metrics.slice(-4);
    const report = (ms: StepMetrics[]) => ({
      loss: mean(ms.map((m) => m.loss)),
      accuracy: mean(ms.map((m) => m.accuracy)),
      marginText: mean(ms.map((m) => m.marginText)),
      marginNoise: mean(ms.map((m) => m.marginNoise)),
    });
    const a = report(first);
    const b = report(last);
    console.log(`POVID tiny-model training, ${CONFIG.steps} steps, seed ${CONFIG.seed}: first 4 steps`, a, 'last 4 steps', b);
    for (const m of metrics) expect(Number.isFinite(m.loss) && Number.isFinite(m.gradNorm)).toBe(true);
    expect(first[0].loss).toBeCloseTo(Math.log(2), 3); // B = 0 at the start: policy == reference
    expect(b.loss).toBeLessThan(a.loss - 0.1);
    expect(b.accuracy).toBeGreaterThan(a.accuracy);
    expect(b.accuracy).toBeGreaterThanOrEqual(0.75);
  }, 1_200_000);

  it('resumes from a checkpoint with the same losses as an uninterrupted run', async () => {
    const cfg: TrainConfig = { ...CONFIG, steps: 6, checkpointEvery: 2, learningRate: 1e-3 };
    const fresh = async () => {
      s.engine.destroy();
      s = await loadTinySession(ctx, { r: cfg.loraRank, alpha: cfg.loraAlpha, seed: cfg.seed });
    };
    await fresh();
    const full: number[] = [];
    await new PovidTrainer({ engine: s.engine, encodeImage: (p) => s.vision.encode(p) }, data, [], cfg, 'synthetic').run({
      onStep: (m) => full.push(m.loss),
    });

    await fresh();
    const store = new MemoryCheckpointStore();
    const partial: number[] = [];
    const t1 = new PovidTrainer({ engine: s.engine, encodeImage: (p) => s.vision.encode(p), store }, data, [], cfg, 'synthetic');
    await t1.run({
      onStep: (m) => {
        partial.push(m.loss);
        if (m.step === 3) t1.cancel(); // interrupted after step 3; the last checkpoint is step 2
      },
    });
    const cp = await store.load();
    expect(cp!.step).toBe(2);

    await fresh(); // a "reloaded page": new engine, adapter state only from the checkpoint
    const resumed: number[] = [];
    await new PovidTrainer({ engine: s.engine, encodeImage: (p) => s.vision.encode(p), store }, data, [], cfg, 'synthetic').run(
      { onStep: (m) => resumed.push(m.loss) },
      cp,
    );
    const afterResume = resumed; // onStep reports only the steps run after the resume: 3..6
    console.log(
      'uninterrupted',
      full.map((x) => x.toFixed(6)).join(' '),
      '\nresumed from 2 ',
      afterResume.map((x) => x.toFixed(6)).join(' '),
    );
    expect(afterResume.length).toBe(4);
    for (let i = 0; i < 4; i++) expect(Math.abs(afterResume[i] - full[2 + i])).toBeLessThan(1e-5);
    expect(partial.slice(0, 3)).toEqual(full.slice(0, 3));
  }, 1_200_000);

  it('adds the SFT term (mean NLL of the preferred answer) alike in the training step and the held-out evaluation', async () => {
    const cfg: TrainConfig = { ...CONFIG, steps: 1, checkpointEvery: 0, learningRate: 1e-3, sftWeight: 0.5 };
    s.engine.destroy();
    s = await loadTinySession(ctx, { r: cfg.loraRank, alpha: cfg.loraAlpha, seed: cfg.seed });
    // B = 0 before the first update: every DPO term is log 2, whatever y_n is; the rest is the SFT term.
    const nll = async (ex: TrainExample) => {
      const sum = (await s.engine.forward([ex.chosen], { lora: false })).logprobSums[0];
      return -sum / Array.from(ex.chosen.targets!).filter((t) => t >= 0).length;
    };
    const trainer = new PovidTrainer(
      { engine: s.engine, encodeImage: (p) => s.vision.encode(p) },
      data.slice(0, 2),
      data.slice(2),
      cfg,
      'synthetic',
    );
    const held = await trainer.evaluate(0);
    const wantHeld = Math.log(2) + (0.5 * ((await nll(data[2])) + (await nll(data[3])))) / 2;
    const metrics: StepMetrics[] = [];
    await trainer.run({ onStep: (m) => metrics.push(m) });
    const first = data.find((d) => d.id === metrics[0].exampleId)!;
    const wantStep = Math.log(2) + 0.5 * (await nll(first));
    console.log(`SFT weight 0.5 at B = 0: held-out loss ${held.loss} (want ${wantHeld}), step loss ${metrics[0].loss} (want ${wantStep})`);
    expect(wantStep - Math.log(2)).toBeGreaterThan(0.05); // the term is really there
    expect(Math.abs(held.loss - wantHeld)).toBeLessThan(1e-5);
    expect(Math.abs(metrics[0].loss - wantStep)).toBeLessThan(1e-5);
  }, 1_200_000);
});
