// Host side of shaders/gemm.wgsl: a strided C = [C +] alpha * A B used by linear and LoRA.
import gemmSource from '../../../shaders/gemm.wgsl?raw';
import reduceSource from '../../../shaders/gemm_reduce.wgsl?raw';
import type { Binding, GpuContext } from '../../gpu';
import { GpuLimitError, grid1d } from '../../gpu';

export interface GemmOperand {
  binding: Binding;
  /** Element offset and strides: X(i, j) = x[off + i * s0 + j * s1]. */
  off: number;
  s0: number;
  s1: number;
  bf16?: boolean;
}

const sources = new Map<boolean, string>();

/** The WGSL with `#ifdef BF16` resolved (WGSL has no preprocessor). */
function source(bf16: boolean): string {
  let s = sources.get(bf16);
  if (!s) {
    const out: string[] = [];
    let keep = [true];
    for (const line of gemmSource.split('\n')) {
      const t = line.trim();
      if (t === '#ifdef BF16') keep.push(keep[keep.length - 1] && bf16);
      else if (t === '#else') keep[keep.length - 1] = !keep[keep.length - 1] && keep[keep.length - 2];
      else if (t === '#endif') keep.pop();
      else if (keep[keep.length - 1]) out.push(line);
    }
    s = out.join('\n');
    sources.set(bf16, s);
  }
  return s;
}

/** C[M, N] (+)= alpha * sum_k A(m, k) B(k, n). */
export function gemm(ctx: GpuContext, c: Binding, A: GemmOperand, B: GemmOperand, M: number, N: number, K: number, opts: { alpha?: number; accumulate?: boolean } = {}): void {
  if (M === 0 || N === 0) return;
  const bf16 = !!B.bf16;
  const u = new ArrayBuffer(48);
  const w = new Uint32Array(u);
  w.set([M, N, K, opts.accumulate ? 1 : 0, A.off, A.s0, A.s1, B.off, B.s0, B.s1]);
  new Float32Array(u)[10] = opts.alpha ?? 1;
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (M >= 32 && N >= 32) {
    const gx = Math.ceil(N / 64);
    const gy = Math.ceil(M / 64);
    if (gx > maxDim || gy > maxDim) throw new GpuLimitError(`matrix product ${M} x ${N} is too large for one dispatch`);
    ctx.dispatch(ctx.pipeline(source(bf16), 'gemm_tiled'), ctx.uniform(u), [c, A.binding, B.binding], [gx, gy]);
    return;
  }
  const gx = Math.ceil(N / 256);
  if (gx > maxDim || M > maxDim) throw new GpuLimitError(`matrix product ${M} x ${N} is too large for one dispatch`);
  const splits = splitCount(gx * M, K);
  if (splits <= 1) {
    ctx.dispatch(ctx.pipeline(source(bf16), 'gemm'), ctx.uniform(u), [c, A.binding, B.binding], [gx, M]);
    return;
  }
  // Few outputs, long sums: spread K over workgroups, then add the slices.
  const part = scratch(ctx, splits * M * N);
  ctx.dispatch(ctx.pipeline(source(bf16), 'gemm_split'), ctx.uniform(u), [part, A.binding, B.binding], [gx, M, splits]);
  const r = new ArrayBuffer(16);
  new Uint32Array(r).set([M * N, splits, opts.accumulate ? 1 : 0]);
  new Float32Array(r)[3] = opts.alpha ?? 1;
  ctx.dispatch(ctx.pipeline(reduceSource, 'gemm_reduce'), ctx.uniform(r), [c, part], grid1d(Math.ceil((M * N) / 256)));
}

/** Enough workgroups to keep a GPU busy (~256), slices of K no shorter than 256. */
export function splitCount(workgroups: number, K: number): number {
  if (workgroups >= 128 || K < 1024) return 1;
  return Math.max(1, Math.min(Math.ceil(256 / workgroups), Math.floor(K / 256), 64));
}

const scratchOf = new WeakMap<GpuContext, GPUBuffer>();

/** One partial-sum buffer per context, grown on demand (dispatches in a pass run in order). */
function scratch(ctx: GpuContext, floats: number): GPUBuffer {
  let b = scratchOf.get(ctx);
  if (!b || b.size < floats * 4) {
    if (b) ctx.destroyBuffer(b);
    b = ctx.createBuffer('gemm split-K partials', Math.max(floats * 4, 1 << 20));
    scratchOf.set(ctx, b);
  }
  return b;
}
