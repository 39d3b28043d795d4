// Assembles the `step` section's JSON from the timed runs, the fit and the memory figure.
import type { DecoderConfig } from '../../src/engine';
import { fullDepthFigures } from './fit';
import type { PeakMemory } from './memory';
import { fig, type Passes, type StepResult, type StepRun } from './results';
import { LORA, LOSS, WARMUP, type StepShape } from './workload';

export function stepResult(
  cfg: DecoderConfig,
  shape: StepShape,
  runs: StepRun[],
  passes: Passes,
  peak: PeakMemory,
  memory: Record<string, number>,
  budget: StepResult['budget'],
): StepResult {
  const L = cfg.numLayers;
  const tokens = 2 * shape.seqLen;
  const { step, phases, notes } = fullDepthFigures(runs, L);
  const extra = step.estimate ? { estimate: step.estimate } : {};
  return {
    shape: {
      layers: L,
      hidden: cfg.hiddenSize,
      heads: cfg.numHeads,
      kvHeads: cfg.numKvHeads,
      intermediate: cfg.intermediateSize,
      vocab: cfg.vocabSize,
      weights: 'random, bf16 on the GPU',
      lora: { ...LORA, targets: 'q,k,v,o,gate,up,down' },
      examples: 1,
      sequenceTokens: shape.seqLen,
      imageRows: shape.imageRows,
      answerTokens: shape.answerTokens,
      referenceCached: false,
      loss: { ...LOSS },
    },
    warmup: WARMUP,
    step,
    phases,
    passes,
    tokensPerSecond: fig(tokens / (step.value / 1000), 'tokens/s', step.iterations, extra),
    stepsPerSecond: fig(1000 / step.value, 'POVID steps/s', step.iterations, extra),
    runs,
    ...peak,
    memory,
    budget,
    notes: [
      ...notes,
      'phases come from the engine (timing: true syncs between them); forward = noisy pass + reference pass + policy forward, since no cached reference is given',
      'passes are timed on their own through engine.forward (which adds a small readback)',
      `tokensPerSecond counts the chosen and rejected sequences (${tokens} tokens) per step`,
    ],
  };
}
