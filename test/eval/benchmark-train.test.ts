// POVID on the built-in benchmark, in Node on WebGPU (SwiftShader): the pretrained built-in model's
// greedy descriptions of held-out scenes that show a planted anchor without its partner name the
// absent partner; a short POVID run on other scenes must make that rarer on the held-out scenes,
// by a margin chance cannot give. Measured with the adapter off (before) and on (after) in the
// same engine: the greedy descriptions (src/eval/benchmark.ts evaluateScenes), and the forced
// choice m = log p(caption naming the partner) - log p(exact caption) (plantedChoices). Fixed
// seeds make the run deterministic; the statistics say why the thresholds are not luck of them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchmarkExamples, evaluateScenes, plantedChoices, type PlantedChoice } from '../../src/eval/benchmark';
import { invitedPairs, sceneSet } from '../../src/eval/scenes';
import type { GpuContext } from '../../src/gpu';
import { PovidTrainer } from '../../src/povid/trainer';
import { targetsOfProjections } from '../../src/engine/checkpoint';
import { DEFAULT_TRAIN_CONFIG, type StepMetrics, type TrainConfig } from '../../src/povid/config';
import { benchmarkConfig } from '../../src/eval/settings';
import { loadBenchmarkSession, type BenchmarkSession } from '../../eval/session';
import { testGpu } from '../helpers/gpu';

/** The benchmark's settings (src/eval/settings.ts), fewer scenes and steps. */
const STEPS = Number(process.env.BENCH_CI_STEPS ?? 24);
const CONFIG: TrainConfig = { ...benchmarkConfig(DEFAULT_TRAIN_CONFIG, STEPS), seed: 11 };
const TRAIN_SCENES = Number(process.env.BENCH_CI_TRAIN ?? 8);
const HELDOUT_SCENES = 24;

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
    s = await loadBenchmarkSession(ctx, {
      lora: { r: CONFIG.loraRank, alpha: CONFIG.loraAlpha, seed: CONFIG.seed, targets: targetsOfProjections(CONFIG.loraTargets) },
      maxBatch: 4,
    });
  });
  afterAll(() => s?.destroy());

  it('binomialTail is the exact sign-test tail', () => {
    expect(binomialTail(4, 4)).toBe(1 / 16);
    expect(binomialTail(4, 3)).toBe(5 / 16);
    expect(binomialTail(10, 0)).toBeCloseTo(1, 12);
  });

  it('lowers the planted-hallucination rate on held-out scenes', async () => {
    const heldout = sceneSet('heldout', HELDOUT_SCENES, { inviting: 1 });
    const named = async (lora: boolean) => {
      const r = await evaluateScenes(s, heldout, { lora, describeOnly: true });
      return r.results.map((x, i) => x.hallucinated.includes(invitedPairs(heldout[i])[0].partner));
    };
    const t0 = performance.now();
    const namedBefore = await named(false);
    const before: PlantedChoice[] = await plantedChoices(s, heldout, { lora: false });
    expect(before).toHaveLength(HELDOUT_SCENES);
    const t1 = performance.now();

    const data = await benchmarkExamples(s, sceneSet('train', TRAIN_SCENES, { inviting: 1 }), { seed: CONFIG.seed });
    const metrics: StepMetrics[] = [];
    await new PovidTrainer({ engine: s.engine, encodeImage: s.encodeImage }, data.examples, [], CONFIG, 'benchmark-ci').run({
      onStep: (m) => metrics.push(m),
    });
    const t2 = performance.now();
    const namedAfter = await named(true);
    const after = await plantedChoices(s, heldout, { lora: true });

    const count = (xs: boolean[]) => xs.filter(Boolean).length;
    const fixed = namedBefore.filter((b, i) => b && !namedAfter[i]).length;
    const broken = namedBefore.filter((b, i) => !b && namedAfter[i]).length;
    const lower = before.filter((b, i) => after[i].captionMargin < b.captionMargin).length;
    const meanShift = before.reduce((acc, b, i) => acc + after[i].captionMargin - b.captionMargin, 0) / before.length;
    console.log(
      `POVID ${CONFIG.steps} steps on ${data.examples.length} records: greedy captions name the absent partner in ${count(namedBefore)}/${HELDOUT_SCENES} held-out scenes before, ` +
        `${count(namedAfter)} after (fixed ${fixed}, broken ${broken}); partner-naming caption's log-prob margin lower in ${lower}/${HELDOUT_SCENES}, mean shift ${meanShift.toFixed(3)} nats; ` +
        `last loss ${metrics.at(-1)?.loss.toFixed(4)}; seconds: evaluation ${((t1 - t0) / 1000).toFixed(0)}, training ${((t2 - t1) / 1000).toFixed(0)}, evaluation ${((performance.now() - t2) / 1000).toFixed(0)}`,
    );
    for (const c of [...before, ...after]) expect(Number.isFinite(c.captionMargin) && Number.isFinite(c.probeMargin)).toBe(true);

    // The pretrained model does name the absent partner (else there is nothing to cut).
    expect(count(namedBefore)).toBeGreaterThanOrEqual(HELDOUT_SCENES * 0.3);
    // McNemar's exact test on the paired greedy outcomes: if training did not change the rate, a
    // scene whose outcome flips would flip either way with probability 1/2, so `fixed` of the
    // `fixed + broken` flips is Binomial(fixed + broken, 1/2); one-sided p below 1e-2 (at least 7
    // fixed with none broken, or more with some), and a net drop of at least 5 of the 24 scenes.
    expect(binomialTail(fixed + broken, fixed)).toBeLessThan(1e-2);
    expect(count(namedBefore) - count(namedAfter)).toBeGreaterThanOrEqual(5);
    // Sign test on the paired log-prob margins log p(caption naming the partner) - log p(exact
    // caption): under the same null each goes down with probability 1/2, and 20 or more of 24
    // down has probability binomialTail(24, 20) = 7.7e-4.
    expect(binomialTail(HELDOUT_SCENES, 20)).toBeLessThan(1e-3);
    expect(lower).toBeGreaterThanOrEqual(20);
  }, 600_000);
});
