// Elementwise adds of the residual stream (and of gradients that meet at a branch).
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import code from '../../../shaders/residual.wgsl?raw';
import { KernelArgumentError } from '../errors';

type Window = { buffer: GPUBuffer; offset: number; size: number };
const win = (b: Binding): Window => ('buffer' in b ? b : { buffer: b, offset: 0, size: b.size });

function same(a: Binding, b: Binding): boolean {
  const x = win(a);
  const y = win(b);
  if (x.buffer !== y.buffer) return false;
  if (x.offset === y.offset && x.size === y.size) return true;
  // WebGPU cannot bind one buffer as writable and read-only in one dispatch, whatever the ranges.
  throw new KernelArgumentError(
    'residualForward',
    'out',
    'and an input are different windows of one buffer, which WebGPU cannot bind together; pass the very same binding (in place) or use separate buffers',
  );
}

/** out = a + b over n f32 elements; out may be a (or b), then this is addInPlace. */
export function residualForward(ctx: GpuContext, out: Binding, a: Binding, b: Binding, n: number): void {
  if (same(out, a)) return addInPlace(ctx, out, b, n);
  if (same(out, b)) return addInPlace(ctx, out, a, n);
  ctx.dispatch(ctx.pipeline(code, 'residual_forward'), ctx.uniform(new Uint32Array([n])), [out, a, b], grid1d(Math.ceil(n / 256)));
}

/** acc += x over n f32 elements. */
export function addInPlace(ctx: GpuContext, acc: Binding, x: Binding, n: number): void {
  ctx.dispatch(ctx.pipeline(code, 'residual_forward_inplace'), ctx.uniform(new Uint32Array([n])), [acc, x], grid1d(Math.ceil(n / 256)));
}
