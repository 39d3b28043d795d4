// The POVID records the benchmark trains on (src/eval/benchmark.ts trainingQuestions): balanced
// object probes, so that DPO cannot win by answering "No." to every probe.
import { describe, expect, it } from 'vitest';
import { trainingQuestions } from '../../src/eval/benchmark';
import { invitedPairs, sceneEntries, sceneSet } from '../../src/eval/scenes';
import { BENCHMARK_SETTINGS, benchmarkConfig } from '../../src/eval/settings';
import { DEFAULT_TRAIN_CONFIG } from '../../src/povid/config';
import { Rng } from '../../src/util/rng';

describe('benchmark training questions', () => {
  it('ask for the description, an absent kind (the invited partner first) and a present kind', () => {
    const scenes = sceneSet('train', 37, { inviting: 0.5 });
    const rng = new Rng(5);
    let yes = 0;
    let no = 0;
    for (const scene of scenes) {
      const kinds = sceneEntries(scene).map((e) => e.kind);
      const qs = trainingQuestions(scene, rng);
      expect(qs.map((q) => q.type)).toEqual(['describe', 'exists', 'exists']);
      const [, absent, present] = qs;
      expect(absent.truth).toBe(false);
      expect(absent.answer).toBe('No.');
      expect(kinds).not.toContain(absent.kind);
      const invited = invitedPairs(scene).map((p) => p.partner);
      if (invited.length > 0) expect(absent.kind).toBe(invited[0]);
      expect(present.truth).toBe(true);
      expect(present.answer).toBe('Yes.');
      expect(kinds).toContain(present.kind);
      for (const q of qs.slice(1)) q.truth ? yes++ : no++;
    }
    expect(yes).toBe(scenes.length);
    expect(no).toBe(scenes.length);
  });

  it('the benchmark run keeps the app defaults but for learning rate, warm-up, SFT weight and steps', () => {
    const c = benchmarkConfig(DEFAULT_TRAIN_CONFIG);
    expect(c).toEqual({
      ...DEFAULT_TRAIN_CONFIG,
      learningRate: BENCHMARK_SETTINGS.learningRate,
      warmupRatio: BENCHMARK_SETTINGS.warmupRatio,
      sftWeight: BENCHMARK_SETTINGS.sftWeight,
      steps: BENCHMARK_SETTINGS.steps,
      epochs: 0,
      evalEvery: 0,
      checkpointEvery: 0,
    });
    // One pass over the three records of each training scene.
    expect(BENCHMARK_SETTINGS.steps).toBe(3 * BENCHMARK_SETTINGS.trainScenes);
    expect(benchmarkConfig(DEFAULT_TRAIN_CONFIG, 7).steps).toBe(7);
  });
});
