import { describe, expect, it } from 'vitest';
import { ropeBackward, ropeForward } from '../../src/engine/kernels/rope';
import { Rng } from '../../src/util/rng';
import { maxRelError, randn, testGpu } from '../helpers/gpu';
import * as ref from '../reference/rope';

// f32 kernel vs the float64 reference: max relative error <= 1e-4 with an absolute floor of 2e-2,
// i.e. absolute error <= 2e-6 on unit-normal inputs (|x| up to ~4; outputs near zero come from the
// cancellation x1 cos - x2 sin, where f32 rounding alone is ~5e-7), also at positions near 8192.
// A plain f32 angle (position * inv_freq rounded to f32) fails this there (checked below).
const TOL = 1e-4;
const FLOOR = 2e-2;

/** ropeForward with the angle rounded to f32 first, as a naive kernel would compute it. */
function ropeNaiveF32(out: Float64Array, inp: Float64Array, positions: Int32Array, N: number, NH: number, HD: number, theta: number): void {
  const half = HD / 2;
  for (let n = 0; n < N; n++)
    for (let h = 0; h < NH; h++)
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(positions[n] * Math.fround(Math.pow(theta, (-2 * i) / HD)));
        const b = (n * NH + h) * HD;
        out[b + i] = inp[b + i] * Math.cos(angle) - inp[b + i + half] * Math.sin(angle);
        out[b + i + half] = inp[b + i + half] * Math.cos(angle) + inp[b + i] * Math.sin(angle);
      }
}
const f32 = (x: Float64Array): Float64Array => Float64Array.from(new Float32Array(x));

describe('rope reference', () => {
  it('is HF rotate_half: q * cat(cos, cos) + cat(-q2, q1) * cat(sin, sin)', () => {
    const rng = new Rng(3);
    const HD = 8;
    const theta = 10000;
    const q = randn(HD, rng);
    const pos = 5;
    const out = new Float64Array(HD);
    ref.ropeForward(out, q, Int32Array.of(pos), 1, 1, HD, theta);
    for (let d = 0; d < HD; d++) {
      const i = d % (HD / 2);
      const angle = pos / Math.pow(theta, (2 * i) / HD);
      const rot = d < HD / 2 ? -q[d + HD / 2] : q[d - HD / 2];
      expect(out[d]).toBeCloseTo(q[d] * Math.cos(angle) + rot * Math.sin(angle), 12);
    }
  });

  it('backward is the transpose of the forward (finite differences, float64)', () => {
    const rng = new Rng(4);
    const N = 3;
    const NH = 2;
    const HD = 6;
    const theta = 100000;
    const positions = Int32Array.of(0, 7, 4000);
    const inp = randn(N * NH * HD, rng);
    const g = randn(N * NH * HD, rng);
    const loss = (x: Float64Array): number => {
      const out = new Float64Array(x.length);
      ref.ropeForward(out, x, positions, N, NH, HD, theta);
      return out.reduce((s, o, i) => s + o * g[i], 0);
    };
    const dinp = new Float64Array(inp.length);
    ref.ropeBackward(dinp, g, positions, N, NH, HD, theta);
    const h = 1e-6;
    for (let i = 0; i < inp.length; i++) {
      const x = Float64Array.from(inp);
      x[i] += h;
      const up = loss(x);
      x[i] -= 2 * h;
      expect(Math.abs((up - loss(x)) / (2 * h) - dinp[i])).toBeLessThan(1e-8);
    }
    // and it undoes the forward
    const out = new Float64Array(inp.length);
    ref.ropeForward(out, inp, positions, N, NH, HD, theta);
    const back = new Float64Array(inp.length);
    ref.ropeBackward(back, out, positions, N, NH, HD, theta);
    expect(maxRelError(back, inp).err).toBeLessThan(1e-12);
  });
});

describe('rope kernels', () => {
  const cases = [
    { name: 'small positions, NH 3, HD 24', N: 37, NH: 3, HD: 24, pos: (rng: Rng) => rng.int(37) },
    { name: 'positions 7900..8191, NH 3, HD 24', N: 37, NH: 3, HD: 24, pos: (rng: Rng) => 7900 + rng.int(292) },
    { name: 'positions 7900..8191, SmolVLM heads (NH 9, HD 64)', N: 11, NH: 9, HD: 64, pos: (rng: Rng) => 7900 + rng.int(292) },
  ];
  for (const c of cases) {
    it(`forward and backward match the reference (${c.name})`, async () => {
      const ctx = await testGpu();
      const rng = new Rng(c.N * c.HD);
      const theta = 100000;
      const n = c.N * c.NH * c.HD;
      const positions = Int32Array.from({ length: c.N }, () => c.pos(rng));
      const inp = f32(randn(n, rng));
      const posBuf = ctx.createBufferFrom('positions', positions);
      const inpBuf = ctx.createBufferFrom('inp', new Float32Array(inp));

      const want = new Float64Array(n);
      ref.ropeForward(want, inp, positions, c.N, c.NH, c.HD, theta);
      const out = ctx.createBuffer('out', n * 4);
      ropeForward(ctx, out, inpBuf, posBuf, c.N, c.NH, c.HD, theta);
      expect(maxRelError(await ctx.readF32(out), want, FLOOR).err, 'forward').toBeLessThan(TOL);
      if (positions[0] > 4096) {
        const naive = new Float64Array(n);
        ropeNaiveF32(naive, inp, positions, c.N, c.NH, c.HD, theta);
        expect(maxRelError(naive, want, FLOOR).err, 'naive f32 angle').toBeGreaterThan(5 * TOL);
      }

      const wantB = new Float64Array(n);
      ref.ropeBackward(wantB, inp, positions, c.N, c.NH, c.HD, theta);
      const dinp = ctx.createBuffer('dinp', n * 4);
      ropeBackward(ctx, dinp, inpBuf, posBuf, c.N, c.NH, c.HD, theta);
      expect(maxRelError(await ctx.readF32(dinp), wantB, FLOOR).err, 'backward').toBeLessThan(TOL);

      // In place (out === inp): forward, then backward restores the input.
      const x = ctx.createBufferFrom('x', new Float32Array(inp));
      ropeForward(ctx, x, x, posBuf, c.N, c.NH, c.HD, theta);
      expect(maxRelError(await ctx.readF32(x), want, FLOOR).err, 'forward in place').toBeLessThan(TOL);
      ropeBackward(ctx, x, x, posBuf, c.N, c.NH, c.HD, theta);
      expect(maxRelError(await ctx.readF32(x), inp, FLOOR).err, 'backward in place').toBeLessThan(TOL);
    });
  }
});
