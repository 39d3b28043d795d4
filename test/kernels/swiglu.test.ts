import { describe, expect, it } from 'vitest';
import { swigluBackward, swigluForward } from '../../src/engine/kernels/swiglu';
import { Rng } from '../../src/util/rng';
import { maxRelError, randn, testGpu } from '../helpers/gpu';
import * as ref from '../reference/swiglu';

// f32 kernels vs the float64 reference: max relative error <= 1e-4 with an absolute floor of 1e-3.
const TOL = 1e-4;
const f32 = (x: Float64Array): Float64Array => Float64Array.from(new Float32Array(x));

describe('swiglu reference', () => {
  it('backward matches central finite differences (float64, abs err < 1e-8)', () => {
    const rng = new Rng(41);
    const n = 20;
    const gate = randn(n, rng, 3);
    const up = randn(n, rng);
    const dout = randn(n, rng);
    const dgate = new Float64Array(n);
    const dup = new Float64Array(n);
    ref.swigluBackward(dgate, dup, dout, gate, up, n);
    const loss = (g: Float64Array, u: Float64Array): number => {
      const out = new Float64Array(n);
      ref.swigluForward(out, g, u, n);
      return out.reduce((s, o, i) => s + o * dout[i], 0);
    };
    const h = 1e-6;
    for (let i = 0; i < n; i++) {
      const gp = Float64Array.from(gate);
      const gm = Float64Array.from(gate);
      gp[i] += h;
      gm[i] -= h;
      expect(Math.abs((loss(gp, up) - loss(gm, up)) / (2 * h) - dgate[i])).toBeLessThan(1e-8);
      const upp = Float64Array.from(up);
      const upm = Float64Array.from(up);
      upp[i] += h;
      upm[i] -= h;
      expect(Math.abs((loss(gate, upp) - loss(gate, upm)) / (2 * h) - dup[i])).toBeLessThan(1e-8);
    }
  });
});

describe('swiglu kernels', () => {
  it('forward and backward match the reference (n = 37 * 72, gates up to +-100: no NaN)', async () => {
    const ctx = await testGpu();
    const rng = new Rng(42);
    const n = 37 * 72;
    const gate = f32(randn(n, rng, 3));
    gate[0] = 100;
    gate[1] = -100;
    gate[2] = 0;
    gate[3] = -30;
    const up = f32(randn(n, rng));
    const dout = f32(randn(n, rng));
    const gBuf = ctx.createBufferFrom('gate', new Float32Array(gate));
    const uBuf = ctx.createBufferFrom('up', new Float32Array(up));

    const want = new Float64Array(n);
    ref.swigluForward(want, gate, up, n);
    const out = ctx.createBuffer('out', n * 4);
    swigluForward(ctx, out, gBuf, uBuf, n);
    const got = await ctx.readF32(out);
    expect(got.every(Number.isFinite)).toBe(true);
    expect(maxRelError(got, want).err).toBeLessThan(TOL);

    const wantG = new Float64Array(n);
    const wantU = new Float64Array(n);
    ref.swigluBackward(wantG, wantU, dout, gate, up, n);
    const dg = ctx.createBufferFrom('dgate', new Float32Array(n).fill(5)); // overwritten
    const du = ctx.createBufferFrom('dup', new Float32Array(n).fill(5));
    swigluBackward(ctx, dg, du, ctx.createBufferFrom('dout', new Float32Array(dout)), gBuf, uBuf, n);
    const gotG = await ctx.readF32(dg);
    const gotU = await ctx.readF32(du);
    expect(gotG.every(Number.isFinite) && gotU.every(Number.isFinite)).toBe(true);
    expect(maxRelError(gotG, wantG).err, 'dgate').toBeLessThan(TOL);
    expect(maxRelError(gotU, wantU).err, 'dup').toBeLessThan(TOL);
  });
});
