// Where a step's time goes: record every dispatch of one call, then replay them one at a time
// with the GPU drained after each, summing wall-clock time per kernel entry point (and its
// pipeline constants). Replays overwrite activations and gradients: profile an engine whose
// results are no longer needed. Dispatches whose per-call uniform was already freed are skipped.
import type { GpuContext } from '../src/gpu';
import { round } from './timing';

export interface KernelTime {
  kernel: string;
  ms: number;
  dispatches: number;
  share: number;
}

export interface KernelProfile {
  dispatches: number;
  replayed: number;
  /** Sum of the one-at-a-time replays (more than the batched call: each pays a full sync). */
  totalMs: number;
  kernels: KernelTime[];
}

type DispatchArgs = Parameters<GpuContext['dispatch']>;

export async function profileDispatches(ctx: GpuContext, call: () => Promise<unknown>): Promise<KernelProfile> {
  const names = new WeakMap<GPUComputePipeline, string>();
  const recorded: DispatchArgs[] = [];
  const c = ctx as unknown as { pipeline: GpuContext['pipeline']; dispatch: GpuContext['dispatch'] };
  const pipeline = c.pipeline;
  const dispatch = c.dispatch;
  // Instance properties shadow the prototype's methods for the duration of the call.
  c.pipeline = (code, entry, constants) => {
    const p = pipeline.call(ctx, code, entry, constants);
    names.set(p, constants ? `${entry} ${JSON.stringify(constants)}` : entry);
    return p;
  };
  c.dispatch = (...args: DispatchArgs) => {
    recorded.push(args);
    dispatch.apply(ctx, args);
  };
  try {
    await call();
  } finally {
    delete (c as Partial<typeof c>).pipeline;
    delete (c as Partial<typeof c>).dispatch;
  }
  const acc = new Map<string, { ms: number; n: number }>();
  let total = 0;
  let replayed = 0;
  for (const args of recorded) {
    const uniform = args[1];
    if (uniform && uniform.label === 'uniform (transient)') continue;
    const t = performance.now();
    ctx.dispatch(...args);
    await ctx.sync();
    const ms = performance.now() - t;
    total += ms;
    replayed++;
    const k = names.get(args[0]) ?? 'unknown (pipeline made before profiling)';
    const v = acc.get(k) ?? { ms: 0, n: 0 };
    v.ms += ms;
    v.n++;
    acc.set(k, v);
  }
  return {
    dispatches: recorded.length,
    replayed,
    totalMs: round(total, 1),
    kernels: [...acc.entries()]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([kernel, v]) => ({ kernel, ms: round(v.ms, 1), dispatches: v.n, share: round(v.ms / total, 3) })),
  };
}
