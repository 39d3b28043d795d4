// The `step` and `decode` sections' JSON, and the helpers that build its figures.
import type { KernelProfile } from '../profile';
import { round } from '../timing';
import type { Figure, Skipped } from '../types';

export const PHASES = ['forward', 'loss', 'backward', 'optimizer'] as const;
export type Phase = (typeof PHASES)[number];

export const fig = (value: number, unit: string, iterations: number, extra: Partial<Figure> = {}): Figure => ({
  value: round(value),
  unit,
  iterations,
  ...extra,
});
export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export interface StepRun {
  layers: number;
  step: Figure; // ms
  phases: Record<Phase, Figure>;
  peakGpuBytes: number;
  loss: number;
  gradNorm: number;
}

export type Passes = Record<'reference' | 'noisy', Figure> | Skipped;

export interface StepResult {
  shape: Record<string, unknown>;
  warmup: string;
  /** The full-depth step: timed, or fitted from `runs` (then each figure says so in `estimate`). */
  step: Figure;
  phases: Record<Phase, Figure>;
  passes: Passes;
  tokensPerSecond: Figure;
  stepsPerSecond: Figure;
  /** Every timed configuration (one per layer count). */
  runs: StepRun[];
  peakGpuBytes: number;
  peakGpuGiB: number;
  peakBasis: string;
  peakTargetBytes: number;
  withinPeakTarget: boolean;
  memory: Record<string, number>;
  budget: { seconds: number | null; gflopPerSecond: number; estimatedSeconds: Record<string, number> };
  /** With --kernel-profile: one step's dispatches replayed one at a time, time per kernel. */
  kernelProfile?: (KernelProfile & { layers: number }) | Skipped;
  notes: string[];
}

export interface DecodeResult {
  shape: Record<string, unknown>;
  decodeTokensPerSecond: Figure;
  prefill: Figure; // ms
  generate: Figure; // ms for the whole call
  tokensGenerated: number;
  stopReason: string;
  lora: boolean;
  /** The engine's batch of copies of the prompt decoding together; speedupOverOne = their tokens/s over one sequence's. */
  batched?: { sequences: number; tokensPerSecond: Figure; speedupOverOne: number };
}

export interface EngineSections {
  step?: StepResult | Skipped | { error: string };
  decode?: DecodeResult | Skipped | { error: string };
}
