// Sections `step` and `decode`: a POVID training step and KV-cache generation of a decoder of the
// default model's shape with random bf16 weights, through the engine's public API (src/engine).
// On a slow (CPU) adapter a 30-layer step can take far longer than the time budget; then steps
// of 1 and 2 layers of the same widths are timed and the 30-layer figures are fitted from them
// (fit.ts), each such figure marked with how it was estimated.
//   workload.ts  model, example, engine factory, warm-up     estimate.ts  FLOP model, what to time
//   step-timer.ts  timed steps and passes                     fit.ts       the full-depth figures
//   memory.ts  the peak GPU memory figure                     decode.ts    the decode section
//   report.ts  the step section's JSON                        results.ts   result types
import type { Engine } from '../../src/engine';
import type { GpuContext } from '../../src/gpu';
import { linearRate, type Rates } from '../matmul';
import { Budget, errorText, round } from '../timing';
import type { BenchHost, BenchOptions } from '../types';
import { benchDecode } from './decode';
import { planStep, scaleStepTime, type StepPlan } from './estimate';
import { estimatedPeak, measuredPeak, peakFigure } from './memory';
import { stepResult } from './report';
import type { EngineSections } from './results';
import { StepTimer } from './step-timer';
import { loadEngine, makeWorkload, warmUp, type Workload } from './workload';

export { TINY_SHAPE } from './workload';
export type { EngineSections } from './results';

export async function benchEngine(
  host: BenchHost,
  ctx: GpuContext,
  opts: BenchOptions,
  want: { step: boolean; decode: boolean },
  budget: Budget = new Budget(0),
  rates: Rates = {},
): Promise<EngineSections> {
  const out: EngineSections = {};
  const mod = await loadEngine();
  if ('skipped' in mod) {
    if (want.step) out.step = mod;
    if (want.decode) out.decode = mod;
    return out;
  }
  const w = makeWorkload(host, ctx, mod, opts);
  await warmUp(host, w, opts.seed + 2);
  const rate = await linearRate(ctx, rates);
  const plan = planStep(host, w.cfg, w.shape, opts, budget, want, rate);
  const timer = new StepTimer(host, ctx, opts, w, budget, plan.est);
  const full = await runFullDepth(host, ctx, w, opts, want, budget, rate, plan, timer, out);
  if (!want.step || out.step) return out;
  out.step = await runShallow(host, w, budget, rate, plan, timer, full);
  return out;
}

interface FullDepthRun {
  memory: Record<string, number>;
  /** ctx.memory.peak over the engine's creation (and its timed steps, when they ran). */
  peak: number;
  /** Set when the full-depth step was timed: the peak is measured. */
  measured: boolean;
}

/** The full-depth engine: its memory, generation, and the step when it fits. Errors of the step land in `out.step`. */
async function runFullDepth(
  host: BenchHost,
  ctx: GpuContext,
  w: Workload,
  opts: BenchOptions,
  want: { step: boolean; decode: boolean },
  budget: Budget,
  rate: number,
  plan: StepPlan,
  timer: StepTimer,
  out: EngineSections,
): Promise<FullDepthRun> {
  const L = w.cfg.numLayers;
  const run: FullDepthRun = { memory: {}, peak: 0, measured: false };
  await ctx.sync();
  ctx.resetPeak();
  let engine: Engine | null = null;
  try {
    const t = performance.now();
    engine = await w.create(L, want.step);
    host.progress(`engine: ${engine.describe()} (created in ${((performance.now() - t) / 1000).toFixed(1)} s)`);
    run.memory = { ...engine.memory() };
    run.peak = ctx.memory.peak;
    if (want.decode) {
      try {
        out.decode = await benchDecode(host, engine, w.cfg, w.example, w.shape, opts, budget.share(want.step ? 0.25 : 1), rate);
      } catch (e) {
        out.decode = { error: errorText(e) };
        host.progress(`decode: ${out.decode.error}`);
      }
    }
    if (want.step && plan.layersToTime.includes(L)) {
      try {
        await timer.timeStep(engine, L);
        run.peak = Math.max(run.peak, ...timer.runs.map((r) => r.peakGpuBytes));
        run.measured = true;
        await timer.timePasses(engine, L);
      } catch (e) {
        out.step = { error: errorText(e) };
      }
    }
  } finally {
    engine?.destroy();
  }
  return run;
}

/** Steps of fewer layers when the full-depth one did not fit, then the section's result. */
async function runShallow(
  host: BenchHost,
  w: Workload,
  budget: Budget,
  rate: number,
  plan: StepPlan,
  timer: StepTimer,
  full: FullDepthRun,
): Promise<NonNullable<EngineSections['step']>> {
  const L = w.cfg.numLayers;
  const { layersToTime, estimatedSeconds } = plan;
  if (layersToTime.length === 0)
    return {
      skipped: `a ${L}-layer step needs ~${estimatedSeconds[`step${L}`]} s and even a 1-layer one ~${estimatedSeconds.step1} s at ${rate.toFixed(3)} GFLOP/s, over the ${budget.remaining().toFixed(0)} s budget; raise --budget-minutes`,
    };
  try {
    for (const layers of layersToTime.filter((l) => l !== L)) {
      // After the 1-layer step, the 2-layer one is predicted from its measured time.
      if (layers === 2 && timer.runs.length && !budget.unlimited) {
        const t2 = scaleStepTime(w.cfg, w.shape, timer.runs[0].step.value / 1000, 1, 2);
        if (!budget.fits(t2)) {
          host.progress(`step: a 2-layer step would take ~${t2.toFixed(0)} s, over the ${budget.remaining().toFixed(0)} s left`);
          break;
        }
      }
      const e = await w.create(layers, true);
      try {
        await timer.timeStep(e, layers);
        if (layers === 2 || layersToTime.length === 1) await timer.timePasses(e, layers);
      } finally {
        e.destroy();
      }
    }
    const peak = full.measured ? measuredPeak(full.peak, L) : estimatedPeak(full.peak, timer.transient, L, layersToTime);
    const result = stepResult(w.cfg, w.shape, timer.runs, timer.passes, peakFigure(peak.peak, peak.basis), full.memory, {
      seconds: plan.planSeconds,
      gflopPerSecond: round(rate),
      estimatedSeconds,
    });
    if (timer.kernelProfile) result.kernelProfile = timer.kernelProfile;
    return result;
  } catch (e) {
    return { error: errorText(e) };
  }
}
