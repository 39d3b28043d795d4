import { describe, expect, it } from 'vitest';
import { embeddingForward, replaceRows } from '../../src/engine/kernels/embedding';
import { Rng } from '../../src/util/rng';
import { bf16Weight, f32Weight, randn, testGpu } from '../helpers/gpu';
import * as ref from '../reference/embedding';

// Copies: the GPU must reproduce the (f32 or bf16-widened) reference bit for bit (error 0).
const N = 37;
const C = 72;
const V = 1000;

function toBf16(x: Float64Array): { values: Float64Array; packed: Uint16Array } {
  const u = new Uint32Array(new Float32Array(x).buffer);
  const packed = new Uint16Array(x.length);
  const values = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    packed[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
    values[i] = new Float32Array(new Uint32Array([packed[i] << 16]).buffer)[0];
  }
  return { values, packed };
}

describe('embedding kernels', () => {
  it('embeddingForward gathers table rows for f32 and bf16 tables; bad ids give zero rows', async () => {
    const ctx = await testGpu();
    const rng = new Rng(21);
    const table = Float64Array.from(new Float32Array(randn(V * C, rng)));
    const tokens = Int32Array.from({ length: N }, () => rng.int(V));
    tokens[3] = V - 1;
    tokens[4] = 0;
    tokens[5] = V; // out of range
    tokens[6] = -1; // out of range
    const tokBuf = ctx.createBufferFrom('tokens', tokens);
    const bf = toBf16(table);
    for (const [label, values, weight] of [
      ['f32', table, f32Weight(ctx.createBufferFrom('table', new Float32Array(table)))],
      ['bf16', bf.values, bf16Weight(ctx.createBufferFrom('table', bf.packed))],
    ] as const) {
      const want = new Float64Array(N * C);
      ref.embeddingForward(want, tokens, values, N, C);
      const out = ctx.createBufferFrom('out', new Float32Array(N * C).fill(9));
      embeddingForward(ctx, out, tokBuf, weight, N, C);
      const got = await ctx.readF32(out);
      expect(Array.from(got), label).toEqual(Array.from(new Float32Array(want)));
      expect(
        got.slice(5 * C, 7 * C).every((x) => x === 0),
        `${label} zero rows`,
      ).toBe(true);
      expect(got[3 * C + 1], label).toBe(Math.fround(values[(V - 1) * C + 1]));
    }
  });

  it('replaceRows writes image features over the given rows only', async () => {
    const ctx = await testGpu();
    const rng = new Rng(22);
    const M = 5;
    const base = Float64Array.from(new Float32Array(randn(N * C, rng)));
    const rows = Float64Array.from(new Float32Array(randn(M * C, rng)));
    const positions = Int32Array.of(2, 3, 4, 30, 36);
    const want = Float64Array.from(base);
    ref.replaceRows(want, rows, positions, M, C);
    const out = ctx.createBufferFrom('out', new Float32Array(base));
    replaceRows(ctx, out, ctx.createBufferFrom('rows', new Float32Array(rows)), ctx.createBufferFrom('positions', positions), M, C);
    const got = await ctx.readF32(out);
    expect(Array.from(got)).toEqual(Array.from(new Float32Array(want)));
    expect(got[30 * C + 7]).toBe(Math.fround(rows[3 * C + 7]));
    expect(got[29 * C + 7]).toBe(Math.fround(base[29 * C + 7]));
  });
});
