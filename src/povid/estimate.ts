// Time a run will take, before it starts, from one timed probe of the slow parts on the first
// training example (src/worker/probe.ts) and the counts of what is still to compute. The
// training step dominates; preparation (image features and reference log-probs not cached yet)
// and held-out evaluations are added separately so the page can say what each costs.
import { totalOptimizerSteps } from './schedule';

/** Milliseconds measured by the probe, each for one example. */
export interface ProbeTimings {
  /** Vision encoder on a clean image. */
  encodeMs: number;
  /** LoRA-off log-prob sums of chosen and rejected (one forward of two sequences). */
  referenceMs: number;
  /** Noising and encoding the noisy image (0 when the run is text-only DPO). */
  noisyMs: number;
  /** One engine step: forward and backward of chosen, rejected and y_n (no optimizer update). */
  stepMs: number;
}

export interface RunCounts {
  trainRecords: number;
  heldoutRecords: number;
  /** Records whose image features are not cached yet. */
  imagesToEncode: number;
  /** Records whose reference log-probs are not cached yet. */
  referencesToCompute: number;
}

export interface RunShape {
  steps: number;
  epochs: number;
  gradAccumulation: number;
  evalEvery: number;
  lossMode: 'povid' | 'dpo-text' | 'two-stage' | 'weighted';
}

export interface TrainEstimate {
  steps: number;
  secondsPerStep: number;
  /** Image features and reference log-probs still to compute. */
  prepareSeconds: number;
  /** All held-out evaluations of the run. */
  evalSeconds: number;
  totalSeconds: number;
  imagesToEncode: number;
  referencesToCompute: number;
  evaluations: number;
  /** Two-stage runs: the text-only stage is faster than measured, so the figures are an upper bound. */
  upperBound: boolean;
  probe: ProbeTimings;
}

/** Steps in 1..steps after which the held-out set is evaluated (as the trainer does). */
export function evaluationCount(steps: number, evalEvery: number, heldout: number): number {
  if (!(evalEvery > 0) || heldout === 0 || steps <= 0) return 0;
  const regular = Math.floor(steps / evalEvery);
  return regular + (steps % evalEvery === 0 ? 0 : 1);
}

export function estimateRun(probe: ProbeTimings, counts: RunCounts, shape: RunShape): TrainEstimate {
  const steps = totalOptimizerSteps(Math.max(1, counts.trainRecords), shape);
  const textOnly = shape.lossMode === 'dpo-text';
  const micro = probe.stepMs + (textOnly ? 0 : probe.noisyMs);
  const secondsPerStep = (shape.gradAccumulation * micro) / 1000;
  const prepareSeconds = (counts.imagesToEncode * probe.encodeMs + counts.referencesToCompute * probe.referenceMs) / 1000;
  // Per held-out record: the policy forward of chosen + rejected, and with the noise term the
  // noisy image's encoding and two forwards of y_n (adapter on and off).
  const perRecordMs = probe.referenceMs + (textOnly ? 0 : probe.noisyMs + probe.referenceMs);
  const evaluations = evaluationCount(steps, shape.evalEvery, counts.heldoutRecords);
  const evalSeconds = (evaluations * counts.heldoutRecords * perRecordMs) / 1000;
  return {
    steps,
    secondsPerStep,
    prepareSeconds,
    evalSeconds,
    totalSeconds: steps * secondsPerStep + prepareSeconds + evalSeconds,
    imagesToEncode: counts.imagesToEncode,
    referencesToCompute: counts.referencesToCompute,
    evaluations,
    upperBound: shape.lossMode === 'two-stage',
    probe,
  };
}
