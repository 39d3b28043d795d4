// Row gather / scatter-add: picks the answer rows (positions with a target) out of the
// final-normed hidden states so the lm_head only runs where a log-prob is needed.
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import code from '../../../shaders/gather.wgsl?raw';

// N (rows of the [N, C] side) comes from the binding's size; the shader uses it to skip rows
// out of range instead of touching memory outside the buffer.
function params(M: number, C: number, big: Binding): Uint32Array {
  return new Uint32Array([M, C, Math.floor(big.size / (4 * C)), 0]);
}

/** out[m, :] = inp[rows[m], :]; `inp` is [N, C], `out` [M, C], `rows` i32 [M] in [0, N). */
export function gatherRows(ctx: GpuContext, out: Binding, inp: Binding, rows: Binding, M: number, C: number): void {
  ctx.dispatch(ctx.pipeline(code, 'gather_forward'), ctx.uniform(params(M, C, inp)), [out, inp, rows], grid1d(Math.ceil((M * C) / 256)));
}

/**
 * dinp[rows[m], :] += dout[m, :] (always accumulates: clear dinp first for an overwrite).
 * `rows` must be distinct (answer positions are), since each element has one writer.
 */
export function scatterAddRows(ctx: GpuContext, dinp: Binding, dout: Binding, rows: Binding, M: number, C: number): void {
  ctx.dispatch(
    ctx.pipeline(code, 'gather_backward'),
    ctx.uniform(params(M, C, dinp)),
    [dinp, dout, rows],
    grid1d(Math.ceil((M * C) / 256)),
  );
}
