// Kernel scratch for the kernel tests, sized by the same functions the engine's plan uses
// (src/engine/layout.ts); the engine allocates these as part of its plan instead.
import { gradNormPartials, type GradNormScratch } from '../../src/engine/kernels/adamw';
import { attentionStatsFloats } from '../../src/engine/kernels/attention';
import { SPLIT_K_FLOATS } from '../../src/engine/kernels/linear';
import { logprobChunk, type LogprobScratch } from '../../src/engine/kernels/logprob';
import type { GpuContext } from '../../src/gpu';

const splitK = new WeakMap<GpuContext, GPUBuffer>();

/** Split-K partials for any product (one per test context: the tests run one product at a time). */
export function splitKBuffer(ctx: GpuContext): GPUBuffer {
  let b = splitK.get(ctx);
  if (!b) splitK.set(ctx, (b = ctx.createBuffer('split-K partials', SPLIT_K_FLOATS * 4)));
  return b;
}

/** Log-prob scratch for up to M rows over V words (`chunk` columns per chunk, default as the engine). */
export function logprobScratchFor(
  ctx: GpuContext,
  M: number,
  V: number,
  opts: { chunk?: number; maxChunkBytes?: number } = {},
): LogprobScratch {
  const Vc = logprobChunk(M, V, opts);
  return {
    M,
    V,
    Vc,
    logits: ctx.createBuffer('logprob logits chunk', M * Vc * 4),
    state: ctx.createBuffer('logprob state', M * 8),
    splitK: splitKBuffer(ctx),
  };
}

export function destroyLogprobScratch(ctx: GpuContext, s: LogprobScratch): void {
  for (const b of [s.logits, s.state]) ctx.destroyBuffer(b as GPUBuffer);
}

/** Gradient-norm partials for up to n values. */
export function gradNormScratchFor(ctx: GpuContext, n: number): GradNormScratch {
  const [a, b] = gradNormPartials(n);
  return { n, a: ctx.createBuffer('grad norm partials a', a * 4), b: ctx.createBuffer('grad norm partials b', b * 4) };
}

/** attentionBackward's statistics scratch. */
export function attentionStatsBuffer(ctx: GpuContext, B: number, NH: number, T: number): GPUBuffer {
  return ctx.createBuffer('attention backward stats', attentionStatsFloats(B, NH, T) * 4);
}
