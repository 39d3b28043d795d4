// LoRA on a linear layer (PEFT shapes): A [R, IN], B [OUT, R], scale s = alpha / r.
//   forward:  xa = X A^T;  Y += s xa B^T
//   backward: dB += s dY^T xa;  dxa = s dY B;  dA += dxa^T X;  dX += dxa A
import type { Binding, GpuContext } from '../../gpu';
import { gemm } from './gemm';

export function loraForward(ctx: GpuContext, out: Binding, xa: Binding, inp: Binding, loraA: Binding, loraB: Binding, T: number, IN: number, OUT: number, R: number, scale: number): void {
  gemm(ctx, xa, { binding: inp, off: 0, s0: IN, s1: 1 }, { binding: loraA, off: 0, s0: 1, s1: IN }, T, R, IN);
  gemm(ctx, out, { binding: xa, off: 0, s0: R, s1: 1 }, { binding: loraB, off: 0, s0: 1, s1: R }, T, OUT, R, { alpha: scale, accumulate: true });
}

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
  gemm(ctx, dB, { binding: dout, off: 0, s0: 1, s1: OUT }, { binding: xa, off: 0, s0: R, s1: 1 }, OUT, R, T, { alpha: scale, accumulate: true });
  gemm(ctx, dxa, { binding: dout, off: 0, s0: OUT, s1: 1 }, { binding: loraB, off: 0, s0: R, s1: 1 }, T, R, OUT, { alpha: scale });
  gemm(ctx, dA, { binding: dxa, off: 0, s0: 1, s1: R }, { binding: inp, off: 0, s0: IN, s1: 1 }, R, IN, T, { accumulate: true });
  gemm(ctx, dinp, { binding: dxa, off: 0, s0: R, s1: 1 }, { binding: loraA, off: 0, s0: IN, s1: 1 }, T, IN, R, { accumulate: true });
}
