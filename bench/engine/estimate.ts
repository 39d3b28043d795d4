// A FLOP model of the step and of decoding, only to decide what fits the time budget: the
// full-depth step, or 1- and 2-layer steps for a fit. Measured times take over from there.
import type { DecoderConfig } from '../../src/engine';
import { round, type Budget } from '../timing';
import type { BenchHost, BenchOptions } from '../types';
import type { StepShape } from './workload';

/** Multiply-adds x 2 of one token through one layer's seven linear layers. */
function layerTokenFlops(cfg: DecoderConfig): number {
  const C = cfg.hiddenSize;
  const KV = cfg.numKvHeads * cfg.headDim;
  const FF = cfg.intermediateSize;
  return 2 * (2 * C * C + 2 * C * KV + 3 * C * FF);
}

/** GFLOP of one POVID step (noisy + reference + policy forwards, backward) and of its two no-grad passes. */
export function stepGflop(cfg: DecoderConfig, shape: StepShape, layers: number): { step: number; passes: number } {
  const T = shape.seqLen;
  const M = 2 * shape.answerTokens;
  const Mc = shape.answerTokens;
  const head = 2 * cfg.hiddenSize * cfg.vocabSize; // per answer row and lm_head product
  const tok = layerTokenFlops(cfg) * layers;
  const step = tok * (T + 2 * T + 2 * T + 2 * T) + head * (Mc + (M + Mc) + (M + Mc) + 2 * (M + Mc));
  const passes = tok * (2 * T + T) + head * (M + Mc);
  return { step: step / 1e9, passes: passes / 1e9 };
}

/** A step's `seconds` at `from` layers, scaled by the FLOP model to `to` layers. */
export function scaleStepTime(cfg: DecoderConfig, shape: StepShape, seconds: number, from: number, to: number): number {
  return (seconds * stepGflop(cfg, shape, to).step) / stepGflop(cfg, shape, from).step;
}

export function decodeGflop(cfg: DecoderConfig, promptTokens: number, newTokens: number): { prefill: number; perToken: number } {
  const head = 2 * cfg.hiddenSize * cfg.vocabSize;
  const tok = layerTokenFlops(cfg) * cfg.numLayers;
  return { prefill: (promptTokens * tok + head) / 1e9, perToken: (tok + head) / 1e9 };
}

/**
 * Slack on FLOP-based estimates (attention, norms, small or ragged products and dispatch overhead
 * are not counted). Seen on SwiftShader: steps of 1, 2 and (fitted) 30 layers took 3.4 to 4.4
 * times FLOPs / the linear layers' GFLOP/s, a prefill ~6 times. Only used to decide what to
 * time; measured times take over from there.
 */
const SLACK = 4;
export const PREFILL_SLACK = 6;

export interface StepPlan {
  /** Seconds of a step from its GFLOP at the linear layers' rate, with SLACK. */
  est: (gflop: number) => number;
  /** Layer counts to time: [L], [1, 2], [1] or [] (nothing fits). */
  layersToTime: number[];
  /** The planning budget in seconds (null: no limit). */
  planSeconds: number | null;
  estimatedSeconds: Record<string, number>;
}

/** Decides which layer counts to time, from the FLOP model at `rate` GFLOP/s. */
export function planStep(
  host: BenchHost,
  cfg: DecoderConfig,
  shape: StepShape,
  opts: BenchOptions,
  budget: Budget,
  want: { step: boolean; decode: boolean },
  rate: number,
): StepPlan {
  const L = cfg.numLayers;
  const est = (gflop: number) => (gflop / rate) * SLACK;
  // The step may use what generation leaves of the section; plan it on three quarters.
  const plan = budget.share(want.decode ? 0.75 : 1);
  const planSeconds = plan.unlimited ? null : round(plan.remaining(), 1);
  const full = stepGflop(cfg, shape, L);
  const estimatedSeconds: Record<string, number> = {
    [`step${L}`]: round(est(full.step), 1),
    [`passes${L}`]: round(est(full.passes), 1),
    step1: round(est(stepGflop(cfg, shape, 1).step), 1),
    step2: round(est(stepGflop(cfg, shape, 2).step), 1),
  };
  let layersToTime: number[] = [];
  if (want.step) {
    if (opts.stepLayers) layersToTime = [Math.min(opts.stepLayers, L)];
    else if (plan.fits(est(full.step) * opts.stepRuns + est(full.passes))) layersToTime = [L];
    // The 2-layer step is decided again from the 1-layer one's measured time.
    else if (plan.fits(est(stepGflop(cfg, shape, 1).step))) layersToTime = L > 2 ? [1, 2] : [1];
    host.progress(
      `engine: linear layers at ${rate.toFixed(3)} GFLOP/s; a ${L}-layer step is ~${est(full.step).toFixed(0)} s, ${plan.unlimited ? 'no time budget' : `${plan.remaining().toFixed(0)} s budget`}: timing ${layersToTime.length ? layersToTime.join(' and ') + '-layer steps' : 'nothing'}`,
    );
  }
  return { est, layersToTime, planSeconds, estimatedSeconds };
}
