import { describe, expect, it } from 'vitest';
import { gatherRows, scatterAddRows } from '../../src/engine/kernels/gather';
import { Rng } from '../../src/util/rng';
import { testGpu, randn } from '../helpers/gpu';
import * as ref from '../reference/gather';

// Answer rows of a [N, C] hidden-state tensor: distinct, unsorted, odd shapes.
const N = 101;
const M = 37;
const C = 72;

function pickRows(rng: Rng): Int32Array {
  const all = rng.shuffle(Array.from({ length: N }, (_, i) => i));
  return Int32Array.from(all.slice(0, M));
}

describe('gather kernels', () => {
  it('gatherRows copies the answer rows exactly (f32 copy: error 0)', async () => {
    const ctx = await testGpu();
    const rng = new Rng(11);
    const inp = randn(N * C, rng);
    const rows = pickRows(rng);
    const want = new Float64Array(M * C);
    ref.gatherRows(want, inp, rows, M, C);
    const out = ctx.createBuffer('out', M * C * 4);
    gatherRows(ctx, out, ctx.createBufferFrom('inp', new Float32Array(inp)), ctx.createBufferFrom('rows', rows), M, C);
    const got = await ctx.readF32(out);
    expect(Array.from(got)).toEqual(Array.from(new Float32Array(want)));
  });

  it('gathers single values (C = 1, rows may repeat) and gives 0 for rows outside [0, N)', async () => {
    const ctx = await testGpu();
    // The engine spreads d loss / d (sequence sum) to its rows this way; -1 marks padding.
    const dPolicy = Float32Array.from([0.5, -1.25, 2, 3.5, -0.125, 7]);
    const slot = Int32Array.from([0, 0, 1, -1, 5, 2, 6, 2, 4]);
    const want = new Float64Array(slot.length);
    ref.gatherRows(want, Float64Array.from(dPolicy), slot, slot.length, 1);
    const out = ctx.createBufferFrom('out', new Float32Array(slot.length).fill(9));
    gatherRows(ctx, out, ctx.createBufferFrom('dPolicy', dPolicy), ctx.createBufferFrom('slot', slot), slot.length, 1);
    const got = Array.from(await ctx.readF32(out));
    expect(got).toEqual(Array.from(want));
    expect(got[3]).toBe(0);
    expect(got[6]).toBe(0);
  });

  it('scatterAddRows accumulates into the chosen rows only', async () => {
    const ctx = await testGpu();
    const rng = new Rng(12);
    const base = randn(N * C, rng);
    const dout = randn(M * C, rng);
    const rows = pickRows(rng);
    const want = Float64Array.from(new Float32Array(base));
    ref.scatterAddRows(want, Float64Array.from(new Float32Array(dout)), rows, M, C);
    const dinp = ctx.createBufferFrom('dinp', new Float32Array(base));
    scatterAddRows(ctx, dinp, ctx.createBufferFrom('dout', new Float32Array(dout)), ctx.createBufferFrom('rows', rows), M, C);
    const got = await ctx.readF32(dinp);
    // One f32 add per element: exactly the f32 rounding of the float64 sum.
    expect(Array.from(got)).toEqual(Array.from(new Float32Array(want)));
    // Rows not listed are untouched.
    const listed = new Set(rows);
    const r = Array.from({ length: N }, (_, i) => i).find((i) => !listed.has(i))!;
    expect(got[r * C + 5]).toBe(new Float32Array(base)[r * C + 5]);
  });
});
