// Times POVID steps and the step's two no-grad passes on engines of a given depth, keeping every
// run, the passes, the most the GPU context grew during a step and the optional kernel profile.
import type { GpuContext } from '../../src/gpu';
import type { Engine, PovidStepResult, SequenceInput, StepTimings } from '../../src/engine';
import { profileDispatches } from '../profile';
import { measure, round, type Budget } from '../timing';
import type { BenchHost, BenchOptions, Figure } from '../types';
import { stepGflop } from './estimate';
import { fig, mean, PHASES, type Passes, type Phase, type StepResult, type StepRun } from './results';
import type { Workload } from './workload';

export class StepTimer {
  readonly runs: StepRun[] = [];
  passes: Passes = { skipped: 'not run' };
  /** The most ctx.memory.peak rose above an engine's allocation during its timed steps. */
  transient = 0;
  kernelProfile: StepResult['kernelProfile'];

  constructor(
    private readonly host: BenchHost,
    private readonly ctx: GpuContext,
    private readonly opts: BenchOptions,
    private readonly w: Workload,
    private readonly budget: Budget,
    private readonly est: (gflop: number) => number,
  ) {}

  /** Times steps of `engine` (`layers` deep) until the target time, the run limits or the budget. */
  async timeStep(engine: Engine, layers: number): Promise<void> {
    const { ctx, host, opts, w, budget } = this;
    const timings: StepTimings[] = [];
    let last: PovidStepResult | null = null;
    if (w.tiny) await engine.povidStep([w.example], w.stepOpts); // the warm-up engine had other sequence lengths
    const afterCreate = ctx.memory.current;
    ctx.resetPeak();
    const s = await measure(
      async (n) => {
        for (let i = 0; i < n; i++) {
          last = await engine.povidStep([w.example], w.stepOpts);
          if (last.timings) timings.push(last.timings);
          host.progress(
            `step (${layers} layers) ${timings.length}: ${((last.timings?.total ?? 0) / 1000).toFixed(2)} s, loss ${last.loss.toFixed(4)}`,
          );
        }
      },
      {
        targetSeconds: opts.targetSeconds,
        minRuns: opts.stepRuns,
        maxRuns: Math.max(opts.stepRuns, opts.maxRuns),
        noWarmup: true,
        budgetMs: budget.unlimited ? undefined : budget.remaining() * 1000,
      },
    );
    const res = last as unknown as PovidStepResult;
    this.transient = Math.max(this.transient, ctx.memory.peak - afterCreate);
    this.runs.push({
      layers,
      step: fig(s.msPerIteration, 'ms', s.iterations, { msPerIteration: round(s.msPerIteration) }),
      phases: Object.fromEntries(PHASES.map((k) => [k, fig(mean(timings.map((x) => x[k])), 'ms', timings.length)])) as Record<
        Phase,
        Figure
      >,
      peakGpuBytes: ctx.memory.peak,
      loss: res.loss,
      gradNorm: res.gradNorm,
    });
    if (opts.kernelProfile && !this.kernelProfile) await this.profile(engine, layers, s.msPerIteration);
  }

  /** One step's dispatches replayed one at a time (--kernel-profile), when two steps' time is left. */
  private async profile(engine: Engine, layers: number, msPerStep: number): Promise<void> {
    const need = (2 * msPerStep) / 1000;
    if (!this.budget.fits(need)) {
      this.kernelProfile = {
        skipped: `profiling a ${layers}-layer step needs ~${need.toFixed(0)} s, over the ${this.budget.remaining().toFixed(0)} s left`,
      };
      return;
    }
    const profile = { layers, ...(await profileDispatches(this.ctx, () => engine.povidStep([this.w.example], this.w.stepOpts))) };
    this.kernelProfile = profile;
    this.host.progress(
      `step: kernel profile (${layers} layers): ${profile.kernels
        .slice(0, 5)
        .map((k) => `${k.kernel} ${k.ms} ms`)
        .join(', ')}`,
    );
  }

  /** Times the reference pass (LoRA off, chosen + rejected) and the noisy pass (LoRA on, no grad). */
  async timePasses(engine: Engine, layers: number): Promise<void> {
    const { host, opts, w, budget } = this;
    const L = w.cfg.numLayers;
    const example = w.example;
    const g = stepGflop(w.cfg, w.shape, layers);
    const timed = this.runs.find((r) => r.layers === layers);
    const need = timed ? (timed.step.value / 1000) * (g.passes / g.step) : this.est(g.passes);
    if (!budget.fits(need)) {
      const skipped = `the reference and noisy passes of ${layers} layers need ~${need.toFixed(0)} s, over the ${budget.remaining().toFixed(0)} s left`;
      this.passes = { skipped };
      host.progress(`step: passes skipped (${skipped})`);
      return;
    }
    const passOpts = { targetSeconds: opts.targetSeconds, minRuns: 1, maxRuns: opts.maxRuns, noWarmup: true };
    const ref = await measure(async (k) => {
      for (let i = 0; i < k; i++) await engine.forward([example.chosen, example.rejected], { lora: false });
    }, passOpts);
    host.progress(`step: reference pass (${layers} layers, LoRA off, chosen + rejected) ${ref.msPerIteration.toFixed(0)} ms`);
    const noisySeq: SequenceInput = {
      ...example.chosen,
      image: { features: example.noisyImage!, positions: example.chosen.image!.positions },
    };
    const noisy = await measure(async (k) => {
      for (let i = 0; i < k; i++) await engine.forward([noisySeq], { lora: true });
    }, passOpts);
    host.progress(`step: noisy pass (${layers} layers, LoRA on, no grad) ${noisy.msPerIteration.toFixed(0)} ms`);
    const note = layers === L ? {} : { estimate: `NOT a ${L}-layer figure: timed at ${layers} of ${L} layers, not scaled` };
    this.passes = {
      reference: fig(ref.msPerIteration, 'ms', ref.iterations, { msPerIteration: round(ref.msPerIteration), ...note }),
      noisy: fig(noisy.msPerIteration, 'ms', noisy.iterations, { msPerIteration: round(noisy.msPerIteration), ...note }),
    };
  }
}
