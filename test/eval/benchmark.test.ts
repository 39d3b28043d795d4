// The benchmark harness on the engine (Node, WebGPU on SwiftShader) with the pretrained built-in
// model: draft-checked greedy answers equal plain token-by-token greedy decoding, whatever the
// draft; evaluateScenes batches scenes and takes a previous report as drafts without changing a
// word; evaluation questions are fixed per scene; the report never holds NaN.
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

  it('evaluateScenes batches scenes and takes any report on them as drafts, with the same answers', async () => {
    const scenes = sceneSet('heldout', 5, { setSeed: 7, inviting: 0.5 }); // two calls of 4 scenes and 1
    const plain = await evaluateScenes(s, scenes, { lora: false, describeOnly: true });
    const slow: string[] = [];
    for (const scene of scenes)
      slow.push(await answer(s, await s.encodeImage(scenePixels(scene)), 'Describe the image.', { lora: false, maxNewTokens: 40 }));
    expect(plain.results.map((r) => r.generated)).toEqual(slow);
    // Right drafts (the same report) and wrong ones (a report on other scenes) change nothing.
    const other = await evaluateScenes(s, sceneSet('heldout', 5, { setSeed: 8, inviting: 0.5 }), { lora: false, describeOnly: true });
    for (const drafts of [plain, other]) {
      const again = await evaluateScenes(s, scenes, { lora: false, describeOnly: true, drafts });
      expect(again.results.map((r) => r.generated)).toEqual(slow);
      expect(again.planted).toEqual(plain.planted);
    }
    await expect(evaluateScenes(s, scenes.slice(0, 2), { describeOnly: true, drafts: plain })).rejects.toThrow(/drafts cover 5 scenes, 2/);
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
