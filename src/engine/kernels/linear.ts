// Linear layers with weights stored [OUT, IN] as checkpoints store them: Y = X W^T.
import type { Binding, GpuContext } from '../../gpu';
import { gemm } from './gemm';
import type { Weight } from './types';

export const linearFlops = (T: number, IN: number, OUT: number): number => 2 * T * IN * OUT;

/** out[T, OUT] (+)= inp[T, IN] W^T. */
export function linearForward(ctx: GpuContext, out: Binding, inp: Binding, weight: Weight, T: number, IN: number, OUT: number, opts: { accumulate?: boolean } = {}): void {
  gemm(ctx, out, { binding: inp, off: 0, s0: IN, s1: 1 }, { binding: weight.buffer, off: 0, s0: 1, s1: IN, bf16: weight.dtype === 'bf16' }, T, OUT, IN, opts);
}

/** dinp[T, IN] (+)= dout[T, OUT] W. */
export function linearBackwardInput(ctx: GpuContext, dinp: Binding, dout: Binding, weight: Weight, T: number, IN: number, OUT: number, opts: { accumulate?: boolean } = {}): void {
  gemm(ctx, dinp, { binding: dout, off: 0, s0: OUT, s1: 1 }, { binding: weight.buffer, off: 0, s0: IN, s1: 1, bf16: weight.dtype === 'bf16' }, T, IN, OUT, opts);
}

/** dW[OUT, IN] += dout^T inp. */
export function linearBackwardWeight(ctx: GpuContext, dweight: Binding, dout: Binding, inp: Binding, T: number, IN: number, OUT: number): void {
  gemm(ctx, dweight, { binding: dout, off: 0, s0: 1, s1: OUT }, { binding: inp, off: 0, s0: IN, s1: 1 }, OUT, IN, T, { accumulate: true });
}
