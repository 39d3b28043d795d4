// Token embedding lookup and the splice of image features over the <image> rows.
// No backward: the embedding table and the vision features are frozen.
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import type { Weight } from './types';
import bf16Source from '../../../shaders/bf16.wgsl?raw';
import source from '../../../shaders/embedding.wgsl?raw';

const code = `${bf16Source}\n${source}`; // bf16_unpack for bf16 weights

const params = (N: number, C: number, V: number): Uint32Array => new Uint32Array([N, C, V, 0]);

/**
 * out[n, :] = table[tokens[n], :]; out [N, C] f32, tokens i32 [N], table [V, C] f32 or bf16.
 * V comes from the table's size; ids outside [0, V) give zero rows instead of reading past it.
 */
export function embeddingForward(ctx: GpuContext, out: Binding, tokens: Binding, table: Weight, N: number, C: number): void {
  const V = Math.floor(table.buffer.size / ((table.dtype === 'bf16' ? 2 : 4) * C));
  const pipe = ctx.pipeline(code, 'embedding_forward', { W_BF16: table.dtype === 'bf16' ? 1 : 0 });
  ctx.dispatch(pipe, ctx.uniform(params(N, C, V)), [out, tokens, table.buffer], grid1d(N));
}

/**
 * out[positions[m], :] = rows[m, :] for m < M: rows f32 [M, C] (image features), positions i32 [M]
 * (flat row indices into out, i.e. b * T + t). Positions outside out are skipped.
 */
export function replaceRows(ctx: GpuContext, out: Binding, rows: Binding, positions: Binding, M: number, C: number): void {
  const outRows = Math.floor(out.size / (4 * C));
  ctx.dispatch(ctx.pipeline(code, 'embedding_replace_rows'), ctx.uniform(params(M, C, outRows)), [out, rows, positions], grid1d(M));
}
