// Host side of shaders/linear.wgsl: linear layers with weights stored [OUT, IN] as checkpoints
// store them (Y = X W^T), and the strided tiled product behind them that LoRA reuses.
import bf16Source from '../../../shaders/bf16.wgsl?raw';
import linear from '../../../shaders/linear.wgsl?raw';
import { GpuLimitError, grid1d, type Binding, type GpuContext } from '../../gpu';
import { expectHolds, expectInteger, KernelArgumentError } from '../errors';
import type { Weight } from './types';

const code = `${bf16Source}\n${linear}`;

/** A strided operand: X(i, j) = x[off + i * s0 + j * s1] (elements), f32 unless `bf16`. */
export interface MatmulOperand {
  binding: Binding;
  s0: number;
  s1: number;
  off?: number;
  bf16?: boolean;
}

/** The layout a wrapper asks for: one tiled kernel reads it from the strides; only forward products
 * of few tokens take the decoding kernels. */
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
// A few answer rows against the vocabulary (the head's logits: M ~ 20-32, N ~ 13k): a 64-row tile
// would compute mostly padding. On SwiftShader 2.2x faster than SQUARE at M = 28, N = 13107, K = 64.
const THIN_M32: Tile = { WX: 16, WY: 4, BK: 8 }; // 32 x 128

function tileFor(M: number, N: number): Tile {
  if (N <= 16 && M > N) return THIN_N;
  if (M <= 16 && N > M) return THIN_M;
  if (M <= 32 && N > 4 * M) return THIN_M32;
  return SQUARE;
}

/** Forward products with at most this many tokens take the matrix-vector kernels. */
export const GEMV_MAX_T = 4;
/** ... and with at least this many outputs, the one-invocation-per-output kernel. */
export const COLUMNS_MIN_N = 2048;

/** The kernel's uniform block (struct Params in linear.wgsl). */
function params(
  M: number,
  N: number,
  K: number,
  A: MatmulOperand | null,
  B: MatmulOperand | null,
  alpha: number,
  accumulate: boolean,
  kPer = K,
  partial = false,
): ArrayBuffer {
  const u = new ArrayBuffer(64);
  const w = new Uint32Array(u);
  w.set([M, N, K, accumulate ? 1 : 0, A?.off ?? 0, A?.s0 ?? 0, A?.s1 ?? 0, B?.off ?? 0, B?.s0 ?? 0, B?.s1 ?? 0, 0, kPer, partial ? 1 : 0]);
  new Float32Array(u)[10] = alpha;
  return u;
}

const SPLIT_BELOW = 64; // output tiles (workgroups) under which a long sum is split
const SPLIT_TARGET = 128; // workgroups a split aims for

/**
 * K-slices for a product with few output tiles and a long sum (LoRA's dA [R, IN] and dB [OUT, R]
 * sum over all tokens): enough workgroups to fill a GPU, slices no shorter than 256.
 */
function splitCount(workgroups: number, K: number): number {
  if (workgroups >= SPLIT_BELOW || K < 1024) return 1;
  return Math.max(1, Math.min(Math.ceil(SPLIT_TARGET / workgroups), Math.floor(K / 256), 64));
}

/**
 * f32 values of split-K partials that any product may need, whatever its shape: S slices of
 * M x N with S <= splitCount(wg) = ceil(128 / wg) and M x N <= wg tiles of 64 x 64 values (every
 * tile shape covers 4096), wg < 64 workgroups. About 3 MiB; the engine plans one such buffer.
 */
export const SPLIT_K_FLOATS = ((): number => {
  const tileValues = Math.max(...[SQUARE, THIN_N, THIN_M, THIN_M32].map((t) => t.WX * 8 * t.WY * 8));
  let most = 0;
  for (let wg = 1; wg < SPLIT_BELOW; wg++) most = Math.max(most, Math.ceil(SPLIT_TARGET / wg) * wg * tileValues);
  return most;
})();

/** Options of the products: C += instead of =, and the split-K partials buffer. */
export interface MatmulOptions {
  accumulate?: boolean;
  /**
   * Scratch for split-K partial sums (SPLIT_K_FLOATS f32 values). Without it a product with few
   * output tiles and a long sum runs in one pass: the same result, on fewer workgroups.
   */
  splitK?: Binding;
}

/**
 * C[M, N] = (C +) alpha * sum_k A(m, k) B(k, n), C row-major [M, N]. Records one dispatch (two when
 * the sum is split over workgroups). Only B may be bf16. Sizes are checked by the public wrappers.
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
  opts: MatmulOptions & { alpha?: number } = {},
): void {
  if (M === 0 || N === 0) return;
  if (entry === 'linear_forward' && M <= GEMV_MAX_T && K > 0 && A.s0 === K && A.s1 === 1 && B.s0 === 1 && B.s1 === K) {
    // Few tokens (decoding): one pass over W for all of them. Many outputs (the head's
    // vocabulary chunks) take an invocation each; few (the decoder's layers) split K over lanes.
    const columns = N >= COLUMNS_MIN_N;
    const pipe = columns
      ? ctx.pipeline(code, 'linear_forward_columns', { BF16: B.bf16 ? 1 : 0 })
      : ctx.pipeline(code, 'linear_forward_gemv', { BF16: B.bf16 ? 1 : 0, GV_T: M });
    const u = params(M, N, K, A, B, opts.alpha ?? 1, !!opts.accumulate);
    ctx.dispatch(
      pipe,
      ctx.uniform(u),
      [c, A.binding, B.binding],
      grid1d(Math.ceil(N / (columns ? 64 : 32)), ctx.limits.maxComputeWorkgroupsPerDimension),
    );
    return;
  }
  const tile = tileFor(M, N);
  const gx = Math.ceil(N / (tile.WX * 8));
  const gy = Math.ceil(M / (tile.WY * 8));
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (gx > maxDim || gy > maxDim)
    throw new GpuLimitError(`matrix product ${M} x ${N} needs ${gx} x ${gy} workgroups, over this GPU's ${maxDim} per dimension`);
  const pipe = ctx.pipeline(code, 'linear_tiled', { BF16: B.bf16 ? 1 : 0, WX: tile.WX, WY: tile.WY, BK: tile.BK });
  const alpha = opts.alpha ?? 1;
  const accumulate = !!opts.accumulate;
  const splits = opts.splitK ? splitCount(gx * gy, K) : 1;
  if (splits <= 1) {
    ctx.dispatch(pipe, ctx.uniform(params(M, N, K, A, B, alpha, accumulate)), [c, A.binding, B.binding], [gx, gy]);
    return;
  }
  const kPer = Math.ceil(K / splits / tile.BK) * tile.BK;
  const S = Math.ceil(K / kPer);
  const part = opts.splitK!;
  if (part.size < S * M * N * 4)
    throw new KernelArgumentError(entry, 'splitK', `holds ${part.size} bytes, ${S} partial slices of [${M}, ${N}] need ${S * M * N * 4}`);
  ctx.dispatch(pipe, ctx.uniform(params(M, N, K, A, B, 1, false, kPer, true)), [part, A.binding, B.binding], [gx, gy, S]);
  ctx.dispatch(
    ctx.pipeline(code, 'linear_reduce'),
    ctx.uniform(params(M, N, S, null, null, alpha, accumulate)),
    [c, part],
    grid1d(Math.ceil((M * N) / 256), maxDim),
  );
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
  opts: MatmulOptions = {},
): void {
  const k = 'linearForward';
  for (const [name, n] of [
    ['T', T],
    ['IN', IN],
    ['OUT', OUT],
  ] as const)
    expectInteger(k, name, n);
  const bf16 = weight.dtype === 'bf16';
  expectHolds(k, 'out', out, T * OUT, 'f32', [T, OUT]);
  expectHolds(k, 'inp', inp, T * IN, 'f32', [T, IN]);
  expectHolds(k, 'weight', weight.buffer, OUT * IN, weight.dtype, [OUT, IN]);
  if (T === 0 || OUT === 0) return;
  // T <= GEMV_MAX_T (decoding) takes the matrix-vector kernel inside matmul.
  matmul(ctx, 'linear_forward', out, { binding: inp, s0: IN, s1: 1 }, { binding: weight.buffer, s0: 1, s1: IN, bf16 }, T, OUT, IN, opts);
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
  opts: MatmulOptions = {},
): void {
  const k = 'linearBackwardInput';
  for (const [name, n] of [
    ['T', T],
    ['IN', IN],
    ['OUT', OUT],
  ] as const)
    expectInteger(k, name, n);
  const bf16 = weight.dtype === 'bf16';
  expectHolds(k, 'dinp', dinp, T * IN, 'f32', [T, IN]);
  expectHolds(k, 'dout', dout, T * OUT, 'f32', [T, OUT]);
  expectHolds(k, 'weight', weight.buffer, OUT * IN, weight.dtype, [OUT, IN]);
  matmul(
    ctx,
    'linear_backward_input',
    dinp,
    { binding: dout, s0: OUT, s1: 1 },
    { binding: weight.buffer, s0: IN, s1: 1, bf16 },
    T,
    IN,
    OUT,
    opts,
  );
}

/** dweight[OUT, IN] += dout^T inp (f32; parameter gradients always accumulate). */
export function linearBackwardWeight(
  ctx: GpuContext,
  dweight: Binding,
  dout: Binding,
  inp: Binding,
  T: number,
  IN: number,
  OUT: number,
  opts: Pick<MatmulOptions, 'splitK'> = {},
): void {
  const k = 'linearBackwardWeight';
  for (const [name, n] of [
    ['T', T],
    ['IN', IN],
    ['OUT', OUT],
  ] as const)
    expectInteger(k, name, n);
  expectHolds(k, 'dweight', dweight, OUT * IN, 'f32', [OUT, IN]);
  expectHolds(k, 'dout', dout, T * OUT, 'f32', [T, OUT]);
  expectHolds(k, 'inp', inp, T * IN, 'f32', [T, IN]);
  matmul(ctx, 'linear_backward_weight', dweight, { binding: dout, s0: 1, s1: OUT }, { binding: inp, s0: IN, s1: 1 }, OUT, IN, T, {
    accumulate: true,
    splitK: opts.splitK,
  });
}
