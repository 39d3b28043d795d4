// LoRA on a linear layer (PEFT shapes): A [R, IN], B [OUT, R], scale s = alpha / r.
//   forward:  xa = X A^T (saved for the backward);  Y += s xa B^T
//   backward: dB += s dY^T xa;  dxa = s dY B;  dA += dxa^T X;  dX += dxa A
// Every product is linear.wgsl's tiled kernel with LoRA's strides; the [T, R] and [R, IN] ones
// take its thin tiles (16 wide along the rank) instead of 64 x 64. The sums over tokens (dA, dB)
// are split over workgroups into `splitK` (SPLIT_K_FLOATS f32 values, see linear.ts).
import type { Binding, GpuContext } from '../../gpu';
import { expectHolds, expectInteger, KernelArgumentError } from '../errors';
import { matmul } from './linear';

function checkSizes(what: string, T: number, IN: number, OUT: number, R: number, scale: number): void {
  for (const [n, v] of [
    ['T', T],
    ['IN', IN],
    ['OUT', OUT],
    ['R', R],
  ] as const)
    expectInteger(what, n, v);
  if (!Number.isFinite(scale)) throw new KernelArgumentError(what, 'scale (alpha / r)', `must be finite, got ${scale}`);
}

/** xa[T, R] = inp A^T; out[T, OUT] += scale xa B^T. */
export function loraForward(
  ctx: GpuContext,
  out: Binding,
  xa: Binding,
  inp: Binding,
  loraA: Binding,
  loraB: Binding,
  T: number,
  IN: number,
  OUT: number,
  R: number,
  scale: number,
  splitK: Binding,
): void {
  const what = 'loraForward';
  checkSizes(what, T, IN, OUT, R, scale);
  expectHolds(what, 'out', out, T * OUT, 'f32', [T, OUT]);
  expectHolds(what, 'xa', xa, T * R, 'f32', [T, R]);
  expectHolds(what, 'inp', inp, T * IN, 'f32', [T, IN]);
  expectHolds(what, 'loraA', loraA, R * IN, 'f32', [R, IN]);
  expectHolds(what, 'loraB', loraB, OUT * R, 'f32', [OUT, R]);
  matmul(ctx, 'linear_forward', xa, { binding: inp, s0: IN, s1: 1 }, { binding: loraA, s0: 1, s1: IN }, T, R, IN, { splitK });
  matmul(ctx, 'linear_forward', out, { binding: xa, s0: R, s1: 1 }, { binding: loraB, s0: 1, s1: R }, T, OUT, R, {
    alpha: scale,
    accumulate: true,
    splitK,
  });
}

/**
 * dB[OUT, R] += scale dout^T xa; dxa[T, R] = scale dout B (scratch); dA[R, IN] += dxa^T inp;
 * dinp[T, IN] += dxa A (always accumulates: it adds to the base linear's dX).
 */
export function loraBackward(
  ctx: GpuContext,
  dinp: Binding,
  dA: Binding,
  dB: Binding,
  dxa: Binding,
  dout: Binding,
  inp: Binding,
  xa: Binding,
  loraA: Binding,
  loraB: Binding,
  T: number,
  IN: number,
  OUT: number,
  R: number,
  scale: number,
  splitK: Binding,
): void {
  const what = 'loraBackward';
  checkSizes(what, T, IN, OUT, R, scale);
  expectHolds(what, 'dinp', dinp, T * IN, 'f32', [T, IN]);
  expectHolds(what, 'dA', dA, R * IN, 'f32', [R, IN]);
  expectHolds(what, 'dB', dB, OUT * R, 'f32', [OUT, R]);
  expectHolds(what, 'dxa', dxa, T * R, 'f32', [T, R]);
  expectHolds(what, 'dout', dout, T * OUT, 'f32', [T, OUT]);
  expectHolds(what, 'inp', inp, T * IN, 'f32', [T, IN]);
  expectHolds(what, 'xa', xa, T * R, 'f32', [T, R]);
  expectHolds(what, 'loraA', loraA, R * IN, 'f32', [R, IN]);
  expectHolds(what, 'loraB', loraB, OUT * R, 'f32', [OUT, R]);
  matmul(ctx, 'linear_backward_weight', dB, { binding: dout, s0: 1, s1: OUT }, { binding: xa, s0: R, s1: 1 }, OUT, R, T, {
    alpha: scale,
    accumulate: true,
    splitK,
  });
  matmul(ctx, 'linear_backward_input', dxa, { binding: dout, s0: OUT, s1: 1 }, { binding: loraB, s0: R, s1: 1 }, T, R, OUT, {
    alpha: scale,
    splitK,
  });
  matmul(ctx, 'linear_backward_weight', dA, { binding: dxa, s0: 1, s1: R }, { binding: inp, s0: IN, s1: 1 }, R, IN, T, {
    accumulate: true,
    splitK,
  });
  matmul(ctx, 'linear_backward_input', dinp, { binding: dxa, s0: R, s1: 1 }, { binding: loraA, s0: IN, s1: 1 }, T, IN, R, {
    accumulate: true,
    splitK,
  });
}
