import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../src/engine/errors';
import { addInPlace, residualForward } from '../../src/engine/kernels/residual';
import { Rng } from '../../src/util/rng';
import { randn, testGpu } from '../helpers/gpu';
import * as ref from '../reference/residual';

// One f32 add per element: the GPU result is exactly the f32 rounding of the float64 sum (error 0).
const n = 37 * 72 + 5;
const f32 = (x: Float64Array): Float64Array => Float64Array.from(new Float32Array(x));
const rounded = (x: Float64Array): number[] => Array.from(new Float32Array(x));

describe('residual kernels', () => {
  it('residualForward into a separate buffer and aliased with either input', async () => {
    const ctx = await testGpu();
    const rng = new Rng(31);
    const a = f32(randn(n, rng));
    const b = f32(randn(n, rng));
    const want = new Float64Array(n);
    ref.residualForward(want, a, b, n);
    const aBuf = ctx.createBufferFrom('a', new Float32Array(a));
    const bBuf = ctx.createBufferFrom('b', new Float32Array(b));
    const out = ctx.createBuffer('out', n * 4);
    residualForward(ctx, out, aBuf, bBuf, n);
    expect(Array.from(await ctx.readF32(out))).toEqual(rounded(want));
    residualForward(ctx, aBuf, aBuf, bBuf, n); // out = a
    expect(Array.from(await ctx.readF32(aBuf))).toEqual(rounded(want));
    const a2 = ctx.createBufferFrom('a2', new Float32Array(a));
    residualForward(ctx, bBuf, a2, bBuf, n); // out = b
    expect(Array.from(await ctx.readF32(bBuf))).toEqual(rounded(want));
  });

  it('addInPlace accumulates, also through buffer windows; overlapping windows are refused', async () => {
    const ctx = await testGpu();
    const rng = new Rng(32);
    const acc = f32(randn(n, rng));
    const x = f32(randn(n, rng));
    const want = Float64Array.from(acc);
    ref.addInPlace(want, x, n);
    const accBuf = ctx.createBufferFrom('acc', new Float32Array(acc));
    addInPlace(ctx, accBuf, ctx.createBufferFrom('x', new Float32Array(x)), n);
    expect(Array.from(await ctx.readF32(accBuf))).toEqual(rounded(want));

    // acc lives 256 bytes into a bigger buffer; the bytes before it stay untouched.
    const big = ctx.createBufferFrom('big', new Float32Array(64 + n).fill(1));
    const xBig = ctx.createBufferFrom('x', new Float32Array([...new Float32Array(64), ...new Float32Array(x)]));
    addInPlace(ctx, { buffer: big, offset: 256, size: n * 4 }, { buffer: xBig, offset: 256, size: n * 4 }, n);
    const got = await ctx.readF32(big);
    expect(got[63]).toBe(1);
    expect(Array.from(got.slice(64))).toEqual(rounded(x.map((v) => v + 1)));

    expect(() => residualForward(ctx, { buffer: big, offset: 0, size: 256 }, { buffer: big, offset: 256, size: 256 }, xBig, 64)).toThrow(
      KernelArgumentError,
    );
  });
});
