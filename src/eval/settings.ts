// The built-in benchmark's run settings, one definition for the page's "Try the built-in
// benchmark" and `npm run eval`. No imports beyond types: the page reads it too.
import type { TrainConfig } from '../povid/config';

/**
 * Generated scenes (half of them inviting a planted pair) and the settings that differ from the
 * app's defaults. Those suit a 256M model and thousands of records; the built-in model's adapter
 * needs a larger step to move within a few hundred steps.
 */
export const BENCHMARK_SETTINGS = {
  trainScenes: 48,
  heldoutScenes: 48,
  /** One pass over the records (three per scene). */
  steps: 144,
  learningRate: 1e-3,
  warmupRatio: 0.1,
  /**
   * The SFT term (the preferred answers' mean NLL, TRL's rpo_alpha) at weight 1. At this learning
   * rate DPO alone also moves the answers it should keep: on the benchmark's held-out scenes it
   * cut CHAIR_i as much, but lost two count answers and fixed no probe (docs/benchmark.md).
   */
  sftWeight: 1,
} as const;

/** The app's training settings with the benchmark's learning rate, warm-up, SFT weight and steps. */
export function benchmarkConfig(base: TrainConfig, steps: number = BENCHMARK_SETTINGS.steps): TrainConfig {
  return {
    ...base,
    learningRate: BENCHMARK_SETTINGS.learningRate,
    warmupRatio: BENCHMARK_SETTINGS.warmupRatio,
    sftWeight: BENCHMARK_SETTINGS.sftWeight,
    steps,
    epochs: 0,
    evalEvery: 0,
    checkpointEvery: 0,
  };
}
