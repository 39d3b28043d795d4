// RMSNorm over the last dimension with a frozen weight (input_layernorm, post_attention_layernorm, norm).
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import type { Weight } from './types';
import bf16Source from '../../../shaders/bf16.wgsl?raw';
import source from '../../../shaders/rmsnorm.wgsl?raw';

const code = `${bf16Source}\n${source}`; // bf16_unpack for bf16 weights

/** Threads per row (the shader's WG): the smallest of 32, 64, 128 that covers C. */
const threadsFor = (C: number): number => (C <= 32 ? 32 : C <= 64 ? 64 : 128);

function params(N: number, C: number, eps: number): ArrayBuffer {
  const buf = new ArrayBuffer(16);
  const dv = new DataView(buf);
  dv.setUint32(0, N, true);
  dv.setUint32(4, C, true);
  dv.setFloat32(8, eps, true);
  return buf;
}

/**
 * out[n, :] = inp[n, :] * rstd[n] * weight, rstd[n] = 1 / sqrt(mean(inp[n, :]^2) + eps) (saved for
 * the backward). inp, out [N, C] f32; rstd [N] f32; weight [C] f32 or bf16.
 */
export function rmsnormForward(
  ctx: GpuContext,
  out: Binding,
  rstd: Binding,
  inp: Binding,
  weight: Weight,
  N: number,
  C: number,
  eps: number,
): void {
  const pipe = ctx.pipeline(code, 'rmsnorm_forward', { W_BF16: weight.dtype === 'bf16' ? 1 : 0, WG: threadsFor(C) });
  ctx.dispatch(pipe, ctx.uniform(params(N, C, eps)), [out, rstd, inp, weight.buffer], grid1d(N));
}

/**
 * dinp = rstd * weight * dout - inp * rstd^3 / C * sum_c(dout * weight * inp), per row, with the
 * rstd saved by the forward. Overwrites dinp, or adds to it with `accumulate` (the residual stream's
 * gradient). The norm weight is frozen, so there is no dweight.
 */
export function rmsnormBackward(
  ctx: GpuContext,
  dinp: Binding,
  dout: Binding,
  inp: Binding,
  weight: Weight,
  rstd: Binding,
  N: number,
  C: number,
  opts: { accumulate?: boolean } = {},
): void {
  const pipe = ctx.pipeline(code, 'rmsnorm_backward', {
    W_BF16: weight.dtype === 'bf16' ? 1 : 0,
    ACCUMULATE: opts.accumulate ? 1 : 0,
    WG: threadsFor(C),
  });
  ctx.dispatch(pipe, ctx.uniform(params(N, C, 0)), [dinp, dout, inp, weight.buffer, rstd], grid1d(N));
}
