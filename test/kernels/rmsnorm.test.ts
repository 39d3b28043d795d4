import { describe, expect, it } from 'vitest';
import { rmsnormBackward, rmsnormForward } from '../../src/engine/kernels/rmsnorm';
import { Rng } from '../../src/util/rng';
import { bf16Weight, f32Weight, maxRelError, randn, testGpu } from '../helpers/gpu';
import * as ref from '../reference/rmsnorm';

// f32 kernels vs the float64 reference: max relative error <= 1e-4 with an absolute floor of 1e-3.
const TOL = 1e-4;
const f32 = (x: Float64Array): Float64Array => Float64Array.from(new Float32Array(x));

/** Rounds to bf16 (nearest even) and packs like the checkpoint: returns the values and the bytes. */
function toBf16(x: Float64Array): { values: Float64Array; packed: Uint16Array } {
  const f = new Float32Array(x);
  const u = new Uint32Array(f.buffer);
  const packed = new Uint16Array(x.length);
  const values = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const r = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
    packed[i] = r;
    values[i] = new Float32Array(new Uint32Array([r << 16]).buffer)[0];
  }
  return { values, packed };
}

describe('rmsnorm reference', () => {
  it('backward matches central finite differences (float64, rel err < 1e-7)', () => {
    const rng = new Rng(1);
    const N = 3;
    const C = 7;
    const eps = 1e-5;
    const inp = randn(N * C, rng);
    const w = randn(C, rng);
    const g = randn(N * C, rng); // loss = sum(out * g)
    const loss = (x: Float64Array): number => {
      const out = new Float64Array(N * C);
      ref.rmsnormForward(out, new Float64Array(N), x, w, N, C, eps);
      return out.reduce((s, o, i) => s + o * g[i], 0);
    };
    const out = new Float64Array(N * C);
    const rstd = new Float64Array(N);
    ref.rmsnormForward(out, rstd, inp, w, N, C, eps);
    const dinp = new Float64Array(N * C);
    ref.rmsnormBackward(dinp, g, inp, w, rstd, N, C);
    const h = 1e-6;
    const fd = new Float64Array(N * C);
    for (let i = 0; i < N * C; i++) {
      const x = Float64Array.from(inp);
      x[i] += h;
      const up = loss(x);
      x[i] -= 2 * h;
      fd[i] = (up - loss(x)) / (2 * h);
    }
    expect(maxRelError(dinp, fd, 1e-6).err).toBeLessThan(1e-7);
    // accumulate adds onto what was there
    const acc = new Float64Array(N * C).fill(0.5);
    ref.rmsnormBackward(acc, g, inp, w, rstd, N, C, { accumulate: true });
    expect(
      maxRelError(
        acc,
        dinp.map((d) => d + 0.5),
      ).err,
    ).toBeLessThan(1e-12);
  });
});

describe('rmsnorm kernels', () => {
  // C picks the threads per row: 128 (72, 301), 64 (61), 32 (29).
  for (const [N, C] of [
    [37, 72],
    [5, 301],
    [19, 61],
    [3, 29],
  ]) {
    it(`forward and backward match the reference, f32 and bf16 weights (N = ${N}, C = ${C})`, async () => {
      const ctx = await testGpu();
      const rng = new Rng(N * 1000 + C);
      const eps = 1e-5;
      const inp = f32(randn(N * C, rng, 2));
      const w32 = f32(randn(C, rng, 0.5).map((x) => x + 1));
      const wbf = toBf16(w32);
      const dout = f32(randn(N * C, rng));
      const inpBuf = ctx.createBufferFrom('inp', new Float32Array(inp));
      const doutBuf = ctx.createBufferFrom('dout', new Float32Array(dout));
      for (const [label, wv, weight] of [
        ['f32', w32, f32Weight(ctx.createBufferFrom('w', new Float32Array(w32)))],
        ['bf16', wbf.values, bf16Weight(ctx.createBufferFrom('w', wbf.packed))],
      ] as const) {
        const want = new Float64Array(N * C);
        const wantRstd = new Float64Array(N);
        ref.rmsnormForward(want, wantRstd, inp, wv, N, C, eps);
        const out = ctx.createBuffer('out', N * C * 4);
        const rstd = ctx.createBuffer('rstd', N * 4);
        rmsnormForward(ctx, out, rstd, inpBuf, weight, N, C, eps);
        const gotOut = await ctx.readF32(out);
        const gotRstd = await ctx.readF32(rstd);
        expect(maxRelError(gotOut, want).err, `${label} out`).toBeLessThan(TOL);
        expect(maxRelError(gotRstd, wantRstd).err, `${label} rstd`).toBeLessThan(TOL);

        const wantD = new Float64Array(N * C);
        ref.rmsnormBackward(wantD, dout, inp, wv, Float64Array.from(gotRstd), N, C);
        const dinp = ctx.createBufferFrom('dinp', new Float32Array(N * C).fill(7)); // overwritten
        rmsnormBackward(ctx, dinp, doutBuf, inpBuf, weight, rstd, N, C);
        expect(maxRelError(await ctx.readF32(dinp), wantD).err, `${label} dinp`).toBeLessThan(TOL);

        const base = f32(randn(N * C, rng));
        const acc = ctx.createBufferFrom('acc', new Float32Array(base));
        rmsnormBackward(ctx, acc, doutBuf, inpBuf, weight, rstd, N, C, { accumulate: true });
        expect(
          maxRelError(
            await ctx.readF32(acc),
            wantD.map((d, i) => d + base[i]),
          ).err,
          `${label} accumulate`,
        ).toBeLessThan(TOL);
      }
    });
  }
});
