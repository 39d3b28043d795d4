// The benchmark harness on the engine (Node, WebGPU on SwiftShader) with the pretrained built-in
// model: draft-checked greedy answers equal plain token-by-token greedy decoding, whatever the
// draft; evaluation questions are fixed per scene; the report never holds NaN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answer, evalQuestions, evaluateScenes, greedyAnswers, scenePixels } from '../../src/eval/benchmark';
import { describeScene, sceneSet } from '../../src/eval/scenes';
import type { GpuContext } from '../../src/gpu';
import { loadBenchmarkSession, type BenchmarkSession } from '../../eval/session';
import { testGpu } from '../helpers/gpu';

describe('benchmark harness (built-in model)', () => {
  let ctx: GpuContext;
  let s: BenchmarkSession;
  beforeAll(async () => {
    ctx = await testGpu();
    s = await loadBenchmarkSession(ctx, { lora: { r: 4, alpha: 8, seed: 1 }, maxBatch: 4 });
  });
  afterAll(() => s?.destroy());

  it('greedyAnswers gives what token-by-token greedy decoding gives, with a right or a wrong draft', async () => {
    const [a, b] = sceneSet('heldout', 2, { setSeed: 5, inviting: 0.5 });
    const fa = await s.encodeImage(scenePixels(a));
    const fb = await s.encodeImage(scenePixels(b));
    const reqs = [
      { features: fa, question: 'Describe the image.', draft: describeScene(a) },
      { features: fb, question: 'Describe the image.', draft: describeScene(a) }, // another scene's caption
      { features: fa, question: evalQuestions(a).probes[1].question, draft: 'Yes.' },
      { features: fb, question: 'What colour is the sun?', draft: 'Purple and green, with stripes.' },
    ];
    const fast = await greedyAnswers(s, reqs, { lora: false, maxNewTokens: 32 });
    const slow: string[] = [];
    for (const r of reqs) slow.push(await answer(s, r.features, r.question, { lora: false, maxNewTokens: 32 }));
    console.log(reqs.map((r, i) => `${r.question} [draft ${JSON.stringify(r.draft)}] -> ${JSON.stringify(fast[i])}`).join('\n'));
    expect(fast).toEqual(slow);
    for (const t of fast) expect(t.length).toBeGreaterThan(0);
  }, 600_000);

  it('asks the same questions of a scene every time, and reports ratios, never NaN', async () => {
    const scenes = sceneSet('heldout', 2, { setSeed: 6, inviting: 0.5 });
    expect(evalQuestions(scenes[0])).toEqual(evalQuestions(scenes[0]));
    const q = evalQuestions(scenes[0]);
    expect(q.probes.map((p) => p.truth)).toEqual([true, false]);
    const r = await evaluateScenes(s, scenes, { lora: false });
    expect(r.results).toHaveLength(2);
    const numbers = [
      r.chairI.value,
      r.chairS.value,
      r.recall.value,
      r.planted.value,
      r.pope.f1,
      r.pope.yesRatio.value,
      r.attributes.overall.value,
    ];
    for (const v of numbers) expect(v === null || Number.isFinite(v)).toBe(true);
    expect(r.results[0].probes).toHaveLength(2);
    expect(r.results[0].attributes).toHaveLength(2);
  }, 600_000);
});
