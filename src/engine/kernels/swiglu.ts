// The SiLU-gated MLP's activation: down(silu(gate(x)) * up(x)).
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import code from '../../../shaders/swiglu.wgsl?raw';

/** out = silu(gate) * up over n f32 elements (out must not alias gate or up). */
export function swigluForward(ctx: GpuContext, out: Binding, gate: Binding, up: Binding, n: number): void {
  ctx.dispatch(ctx.pipeline(code, 'swiglu_forward'), ctx.uniform(new Uint32Array([n])), [out, gate, up], grid1d(Math.ceil(n / 256)));
}

/**
 * dgate = dout * up * s * (1 + gate * (1 - s)), dup = dout * silu(gate), s = sigmoid(gate);
 * both overwritten (the gradients of the gate_proj / up_proj outputs). No aliasing between them and inputs.
 */
export function swigluBackward(ctx: GpuContext, dgate: Binding, dup: Binding, dout: Binding, gate: Binding, up: Binding, n: number): void {
  ctx.dispatch(
    ctx.pipeline(code, 'swiglu_backward'),
    ctx.uniform(new Uint32Array([n])),
    [dgate, dup, dout, gate, up],
    grid1d(Math.ceil(n / 256)),
  );
}
