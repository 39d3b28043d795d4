// Host side of shaders/linear.wgsl: linear layers with weights stored [OUT, IN] as checkpoints
// store them (Y = X W^T), and the strided tiled product behind them that LoRA reuses.
import code from '../../../shaders/linear.wgsl?raw';
import { GpuLimitError, grid1d, type Binding, type GpuContext } from '../../gpu';
import type { Weight } from './types';

/** A size, offset or buffer that does not fit the product asked for (a caller bug). */
export class LinearShapeError extends Error {
  override name = 'LinearShapeError';
}

export const linearFlops = (T: number, IN: number, OUT: number): number => 2 * T * IN * OUT;

/** A strided operand: X(i, j) = x[off + i * s0 + j * s1] (elements), f32 unless `bf16`. */
export interface MatmulOperand {
  binding: Binding;
  s0: number;
  s1: number;
  off?: number;
  bf16?: boolean;
}

/** The entry point names the layout the wrappers use; the kernel itself reads the strides. */
export type MatmulEntry = 'linear_forward' | 'linear_backward_input' | 'linear_backward_weight';

interface Tile {
  WX: number;
  WY: number;
  BK: number;
}
// Each invocation owns an 8 x 8 block of C: 64 x 64 tiles for square products; thin tiles for the
// LoRA rank (and few-token products) so that a 64-wide tile does not waste most of its work.
const SQUARE: Tile = { WX: 8, WY: 8, BK: 16 }; // 64 x 64
const THIN_N: Tile = { WX: 2, WY: 32, BK: 8 }; // 256 x 16
const THIN_M: Tile = { WX: 32, WY: 2, BK: 8 }; // 16 x 256

function tileFor(M: number, N: number): Tile {
  if (N <= 16 && M > N) return THIN_N;
  if (M <= 16 && N > M) return THIN_M;
  return SQUARE;
}

/** Forward products with at most this many tokens take the matrix-vector kernel. */
export const GEMV_MAX_T = 4;

function checkSize(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new LinearShapeError(`${what} must be a non-negative integer, got ${n}`);
}

function bindingBytes(b: Binding): number {
  return b.size; // a GPUBuffer's size, or the window's
}

/** Throws unless `b` holds `floats` elements (f32, or bf16 when `bf16`). */
function checkHolds(what: string, b: Binding, floats: number, bf16 = false): void {
  const need = bf16 ? Math.ceil(floats / 2) * 4 : floats * 4;
  if (bindingBytes(b) < need)
    throw new LinearShapeError(`${what}: ${bindingBytes(b)} bytes bound, the product needs ${need} (${floats} ${bf16 ? 'bf16' : 'f32'} values)`);
}

/** The kernel's uniform block (struct Params in linear.wgsl). */
function params(M: number, N: number, K: number, A: MatmulOperand | null, B: MatmulOperand | null, alpha: number, accumulate: boolean, kPer = K, partial = false): ArrayBuffer {
  const u = new ArrayBuffer(64);
  const w = new Uint32Array(u);
  w.set([M, N, K, accumulate ? 1 : 0, A?.off ?? 0, A?.s0 ?? 0, A?.s1 ?? 0, B?.off ?? 0, B?.s0 ?? 0, B?.s1 ?? 0, 0, kPer, partial ? 1 : 0]);
  new Float32Array(u)[10] = alpha;
  return u;
}

/**
 * K-slices for a product with few output tiles and a long sum (LoRA's dA [R, IN] and dB [OUT, R]
 * sum over all tokens): enough workgroups to fill a GPU, slices no shorter than 256.
 */
export function splitCount(workgroups: number, K: number): number {
  if (workgroups >= 64 || K < 1024) return 1;
  return Math.max(1, Math.min(Math.ceil(128 / workgroups), Math.floor(K / 256), 64));
}

const scratchOf = new WeakMap<GpuContext, GPUBuffer>();

/** The split-K partial sums: one buffer per context, grown on demand. */
function scratch(ctx: GpuContext, floats: number): GPUBuffer {
  let b = scratchOf.get(ctx);
  if (!b || b.size < floats * 4) {
    if (b) {
      ctx.flush(); // recorded dispatches may still use the old one
      ctx.destroyBuffer(b);
    }
    b = ctx.createBuffer('linear split-K partials', Math.max(floats * 4, 1 << 16));
    scratchOf.set(ctx, b);
  }
  return b;
}

/**
 * C[M, N] = (C +) alpha * sum_k A(m, k) B(k, n), C row-major [M, N]. Records one dispatch.
 * Only B may be bf16. Sizes are checked by the public wrappers.
 */
export function matmul(
  ctx: GpuContext,
  entry: MatmulEntry,
  c: Binding,
  A: MatmulOperand,
  B: MatmulOperand,
  M: number,
  N: number,
  K: number,
  opts: { alpha?: number; accumulate?: boolean } = {},
): void {
  if (M === 0 || N === 0) return;
  const tile = tileFor(M, N);
  const gx = Math.ceil(N / (tile.WX * 8));
  const gy = Math.ceil(M / (tile.WY * 8));
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (gx > maxDim || gy > maxDim) throw new GpuLimitError(`matrix product ${M} x ${N} needs ${gx} x ${gy} workgroups, over this GPU's ${maxDim} per dimension`);
  const pipe = ctx.pipeline(code, entry, { BF16: B.bf16 ? 1 : 0, WX: tile.WX, WY: tile.WY, BK: tile.BK });
  const alpha = opts.alpha ?? 1;
  const accumulate = !!opts.accumulate;
  const splits = splitCount(gx * gy, K);
  if (splits <= 1) {
    ctx.dispatch(pipe, ctx.uniform(params(M, N, K, A, B, alpha, accumulate)), [c, A.binding, B.binding], [gx, gy]);
    return;
  }
  const kPer = Math.ceil(K / splits / tile.BK) * tile.BK;
  const S = Math.ceil(K / kPer);
  const part = scratch(ctx, S * M * N);
  ctx.dispatch(pipe, ctx.uniform(params(M, N, K, A, B, 1, false, kPer, true)), [part, A.binding, B.binding], [gx, gy, S]);
  ctx.dispatch(ctx.pipeline(code, 'linear_reduce'), ctx.uniform(params(M, N, S, null, null, alpha, accumulate)), [c, part], grid1d(Math.ceil((M * N) / 256), maxDim));
}

/** out[T, OUT] (+)= inp[T, IN] W^T. */
export function linearForward(
  ctx: GpuContext,
  out: Binding,
  inp: Binding,
  weight: Weight,
  T: number,
  IN: number,
  OUT: number,
  opts: { accumulate?: boolean } = {},
): void {
  checkSize('linearForward T', T);
  checkSize('linearForward IN', IN);
  checkSize('linearForward OUT', OUT);
  const bf16 = weight.dtype === 'bf16';
  checkHolds(`linearForward out [${T}, ${OUT}]`, out, T * OUT);
  checkHolds(`linearForward inp [${T}, ${IN}]`, inp, T * IN);
  checkHolds(`linearForward weight [${OUT}, ${IN}]`, weight.buffer, OUT * IN, bf16);
  if (T === 0 || OUT === 0) return;
  const A = { binding: inp, s0: IN, s1: 1 };
  const B = { binding: weight.buffer, s0: 1, s1: IN, bf16 };
  if (T <= GEMV_MAX_T && IN > 0) {
    // Few tokens (decoding): one pass over W for all of them.
    const u = params(T, OUT, IN, A, B, 1, !!opts.accumulate);
    const pipe = ctx.pipeline(code, 'linear_forward_gemv', { BF16: bf16 ? 1 : 0, GV_T: T });
    ctx.dispatch(pipe, ctx.uniform(u), [out, inp, weight.buffer], grid1d(Math.ceil(OUT / 32), ctx.limits.maxComputeWorkgroupsPerDimension));
    return;
  }
  matmul(ctx, 'linear_forward', out, A, B, T, OUT, IN, opts);
}

/** dinp[T, IN] (+)= dout[T, OUT] W. */
export function linearBackwardInput(
  ctx: GpuContext,
  dinp: Binding,
  dout: Binding,
  weight: Weight,
  T: number,
  IN: number,
  OUT: number,
  opts: { accumulate?: boolean } = {},
): void {
  checkSize('linearBackwardInput T', T);
  checkSize('linearBackwardInput IN', IN);
  checkSize('linearBackwardInput OUT', OUT);
  const bf16 = weight.dtype === 'bf16';
  checkHolds(`linearBackwardInput dinp [${T}, ${IN}]`, dinp, T * IN);
  checkHolds(`linearBackwardInput dout [${T}, ${OUT}]`, dout, T * OUT);
  checkHolds(`linearBackwardInput weight [${OUT}, ${IN}]`, weight.buffer, OUT * IN, bf16);
  matmul(ctx, 'linear_backward_input', dinp, { binding: dout, s0: OUT, s1: 1 }, { binding: weight.buffer, s0: IN, s1: 1, bf16 }, T, IN, OUT, opts);
}

/** dweight[OUT, IN] += dout^T inp (f32; parameter gradients always accumulate). */
export function linearBackwardWeight(ctx: GpuContext, dweight: Binding, dout: Binding, inp: Binding, T: number, IN: number, OUT: number): void {
  checkSize('linearBackwardWeight T', T);
  checkSize('linearBackwardWeight IN', IN);
  checkSize('linearBackwardWeight OUT', OUT);
  checkHolds(`linearBackwardWeight dweight [${OUT}, ${IN}]`, dweight, OUT * IN);
  checkHolds(`linearBackwardWeight dout [${T}, ${OUT}]`, dout, T * OUT);
  checkHolds(`linearBackwardWeight inp [${T}, ${IN}]`, inp, T * IN);
  matmul(ctx, 'linear_backward_weight', dweight, { binding: dout, s0: 1, s1: OUT }, { binding: inp, s0: IN, s1: 1 }, OUT, IN, T, { accumulate: true });
}
