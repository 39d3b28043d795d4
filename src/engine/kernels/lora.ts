// LoRA on a linear layer (PEFT shapes): A [R, IN], B [OUT, R], scale s = alpha / r.
//   forward:  xa = X A^T (saved for the backward);  Y += s xa B^T
//   backward: dB += s dY^T xa;  dxa = s dY B;  dA += dxa^T X;  dX += dxa A
// Every product is linear.wgsl's tiled kernel with LoRA's strides; the [T, R] and [R, IN] ones
// take its thin tiles (16 wide along the rank) instead of 64 x 64.
import type { Binding, GpuContext } from '../../gpu';
import { LinearShapeError, matmul } from './linear';

function check(what: string, name: string, b: Binding, floats: number): void {
  if (b.size < floats * 4) throw new LinearShapeError(`${what}: ${name} has ${b.size} bytes bound, needs ${floats * 4} (${floats} f32 values)`);
}

function checkSizes(what: string, T: number, IN: number, OUT: number, R: number, scale: number): void {
  for (const [n, v] of [['T', T], ['IN', IN], ['OUT', OUT], ['R', R]] as const)
    if (!Number.isInteger(v) || v < 0) throw new LinearShapeError(`${what}: ${n} must be a non-negative integer, got ${v}`);
  if (!Number.isFinite(scale)) throw new LinearShapeError(`${what}: scale (alpha / r) must be finite, got ${scale}`);
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
): void {
  const what = 'loraForward';
  checkSizes(what, T, IN, OUT, R, scale);
  check(what, `out [${T}, ${OUT}]`, out, T * OUT);
  check(what, `xa [${T}, ${R}]`, xa, T * R);
  check(what, `inp [${T}, ${IN}]`, inp, T * IN);
  check(what, `loraA [${R}, ${IN}]`, loraA, R * IN);
  check(what, `loraB [${OUT}, ${R}]`, loraB, OUT * R);
  matmul(ctx, 'linear_forward', xa, { binding: inp, s0: IN, s1: 1 }, { binding: loraA, s0: 1, s1: IN }, T, R, IN);
  matmul(ctx, 'linear_forward', out, { binding: xa, s0: R, s1: 1 }, { binding: loraB, s0: 1, s1: R }, T, OUT, R, { alpha: scale, accumulate: true });
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
): void {
  const what = 'loraBackward';
  checkSizes(what, T, IN, OUT, R, scale);
  check(what, `dinp [${T}, ${IN}]`, dinp, T * IN);
  check(what, `dA [${R}, ${IN}]`, dA, R * IN);
  check(what, `dB [${OUT}, ${R}]`, dB, OUT * R);
  check(what, `dxa [${T}, ${R}]`, dxa, T * R);
  check(what, `dout [${T}, ${OUT}]`, dout, T * OUT);
  check(what, `inp [${T}, ${IN}]`, inp, T * IN);
  check(what, `xa [${T}, ${R}]`, xa, T * R);
  check(what, `loraA [${R}, ${IN}]`, loraA, R * IN);
  check(what, `loraB [${OUT}, ${R}]`, loraB, OUT * R);
  matmul(ctx, 'linear_backward_weight', dB, { binding: dout, s0: 1, s1: OUT }, { binding: xa, s0: R, s1: 1 }, OUT, R, T, { alpha: scale, accumulate: true });
  matmul(ctx, 'linear_backward_input', dxa, { binding: dout, s0: OUT, s1: 1 }, { binding: loraB, s0: R, s1: 1 }, T, R, OUT, { alpha: scale });
  matmul(ctx, 'linear_backward_weight', dA, { binding: dxa, s0: 1, s1: R }, { binding: inp, s0: IN, s1: 1 }, R, IN, T, { accumulate: true });
  matmul(ctx, 'linear_backward_input', dinp, { binding: dxa, s0: R, s1: 1 }, { binding: loraA, s0: IN, s1: 1 }, T, IN, R, { accumulate: true });
}
