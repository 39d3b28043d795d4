// The step's peak GPU memory: measured when the full-depth engine ran its steps, otherwise the
// full-depth training engine's creation peak plus the most a shallower step grew the context.
import { round } from '../timing';

/** What 1 GB means in the target for the step's GPU memory. */
const PEAK_TARGET_BYTES = 1e9;

export interface PeakMemory {
  peakGpuBytes: number;
  peakGpuGiB: number;
  peakBasis: string;
  peakTargetBytes: number;
  withinPeakTarget: boolean;
}

/** Measured: ctx.memory.peak over creating the L-layer engine and timing its steps. */
export function measuredPeak(peak: number, L: number): { peak: number; basis: string } {
  return { peak, basis: `measured: ctx.memory.peak from creating the ${L}-layer engine to the end of its timed steps` };
}

/** Estimated: the L-layer training engine's creation peak + the largest growth seen during a shallower step. */
export function estimatedPeak(createPeak: number, transient: number, L: number, layersTimed: number[]): { peak: number; basis: string } {
  return {
    peak: createPeak + transient,
    basis: `estimated: ctx.memory.peak of creating the ${L}-layer training engine (measured) + the most the context grew during a timed step (${transient} bytes, measured at ${layersTimed.join('/')} layers)`,
  };
}

export function peakFigure(peak: number, basis: string): PeakMemory {
  return {
    peakGpuBytes: peak,
    peakGpuGiB: round(peak / 2 ** 30),
    peakBasis: basis,
    peakTargetBytes: PEAK_TARGET_BYTES,
    withinPeakTarget: peak <= PEAK_TARGET_BYTES,
  };
}
