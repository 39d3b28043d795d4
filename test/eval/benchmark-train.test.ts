// POVID on the built-in benchmark, in Node on WebGPU (SwiftShader): the pretrained built-in model
// prefers, on held-out scenes that show a planted anchor without its partner, captions that name
// the absent partner; a short POVID run on other scenes must lower that preference on the
// held-out scenes, by a margin chance cannot give.
//
// The measure is a forced choice (src/eval/benchmark.ts plantedChoices): m = log p(caption naming
// the partner) - log p(exact caption) per held-out scene, with the adapter off (before) and on
// (after) in the same engine. Fixed seeds make the run deterministic; the statistics say why the
// thresholds are not luck of the seeds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchmarkExamples, plantedChoices, type PlantedChoice } from '../../src/eval/benchmark';
import { sceneSet } from '../../src/eval/scenes';
import type { GpuContext } from '../../src/gpu';
import { PovidTrainer } from '../../src/povid/trainer';
import { DEFAULT_TRAIN_CONFIG, type StepMetrics, type TrainConfig } from '../../src/worker/api';
import { engineTargets } from '../../src/worker/model-session';
import { loadBenchmarkSession, type BenchmarkSession } from '../../eval/session';
import { testGpu } from '../helpers/gpu';

const CONFIG: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  learningRate: 2e-3,
  warmupRatio: 0.1,
  steps: 40,
  epochs: 0,
  seed: 11,
  evalEvery: 0,
  checkpointEvery: 0,
};
const TRAIN_SCENES = 16;
const HELDOUT_SCENES = 32;

/** P(X >= k) for X ~ Binomial(n, 1/2). */
function binomialTail(n: number, k: number): number {
  let p = 0;
  let c = 1; // C(n, 0)
  for (let i = 0; i <= n; i++) {
    if (i >= k) p += c;
    c = (c * (n - i)) / (i + 1);
  }
  return p / 2 ** n;
}

describe('POVID on the benchmark scenes (built-in model)', () => {
  let ctx: GpuContext;
  let s: BenchmarkSession;
  beforeAll(async () => {
    ctx = await testGpu();
    s = await loadBenchmarkSession(ctx, { lora: { r: CONFIG.loraRank, alpha: CONFIG.loraAlpha, seed: CONFIG.seed, targets: engineTargets(CONFIG.loraTargets) }, maxBatch: 4 });
  });
  afterAll(() => s?.destroy());

  it('binomialTail is the exact sign-test tail', () => {
    expect(binomialTail(4, 4)).toBe(1 / 16);
    expect(binomialTail(4, 3)).toBe(5 / 16);
    expect(binomialTail(10, 0)).toBeCloseTo(1, 12);
  });

  it('lowers the planted-partner preference on held-out scenes', async () => {
    const heldout = sceneSet('heldout', HELDOUT_SCENES, { inviting: 1 });
    const before: PlantedChoice[] = await plantedChoices(s, heldout, { lora: false });
    expect(before).toHaveLength(HELDOUT_SCENES);
    const prefersBefore = before.filter((c) => c.captionMargin > 0).length;

    const data = await benchmarkExamples(s, sceneSet('train', TRAIN_SCENES, { inviting: 0.75 }), { seed: CONFIG.seed });
    const metrics: StepMetrics[] = [];
    const t0 = performance.now();
    await new PovidTrainer({ engine: s.engine, encodeImage: s.encodeImage }, data.examples, [], CONFIG, 'benchmark-ci').run({ onStep: (m) => metrics.push(m) });
    const trainSeconds = (performance.now() - t0) / 1000;
    const after = await plantedChoices(s, heldout, { lora: true });
    const prefersAfter = after.filter((c) => c.captionMargin > 0).length;

    const lower = before.filter((b, i) => after[i].captionMargin < b.captionMargin).length;
    const fixed = before.filter((b, i) => b.captionMargin > 0 && after[i].captionMargin <= 0).length;
    const broken = before.filter((b, i) => b.captionMargin <= 0 && after[i].captionMargin > 0).length;
    const meanShift = before.reduce((a, b, i) => a + after[i].captionMargin - b.captionMargin, 0) / before.length;
    console.log(
      `POVID ${CONFIG.steps} steps on ${data.examples.length} records (${trainSeconds.toFixed(0)} s): partner-naming caption preferred in ${prefersBefore}/${HELDOUT_SCENES} held-out scenes before, ${prefersAfter} after; ` +
        `margin lower in ${lower}/${HELDOUT_SCENES}, mean shift ${meanShift.toFixed(3)} nats; fixed ${fixed}, broken ${broken}; last loss ${metrics.at(-1)?.loss.toFixed(4)}`,
    );
    for (const c of [...before, ...after]) expect(Number.isFinite(c.captionMargin) && Number.isFinite(c.probeMargin)).toBe(true);

    // The pretrained model does hallucinate the partner (else there is nothing to cut).
    expect(prefersBefore).toBeGreaterThanOrEqual(HELDOUT_SCENES * 0.3);
    // Sign test on the paired margins: if training did not move the planted preference, each
    // scene's margin would go up or down with probability 1/2, and 26 or more of 32 lower has
    // probability binomialTail(32, 26) = 2.1e-4.
    expect(binomialTail(HELDOUT_SCENES, 26)).toBeLessThan(3e-4);
    expect(lower).toBeGreaterThanOrEqual(26);
    // McNemar's exact test on the flips of the preference itself: under the same null a flip is
    // as likely either way; at least 8 fixed with none broken has probability <= 2^-8 = 0.004.
    expect(broken).toBe(0);
    expect(fixed).toBeGreaterThanOrEqual(8);
    expect(prefersAfter).toBeLessThanOrEqual(prefersBefore - 8);
  }, 600_000);
});
