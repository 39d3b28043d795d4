import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../src/engine/errors';
import { logprobBackward, logprobChunk, logprobForward, logprobOfTargets, sequenceLogprobSum } from '../../src/engine/kernels/logprob';
import type { Weight } from '../../src/engine/kernels/types';
import type { GpuContext } from '../../src/gpu';
import { bf16ToF32, f32ToBf16 } from '../../src/util/dtype';
import { Rng } from '../../src/util/rng';
import { bf16Weight, f32Weight, maxRelError, randn, testGpu } from '../helpers/gpu';
import { destroyLogprobScratch, logprobScratchFor } from '../helpers/scratch';
import * as ref from '../reference/logprob';

const M = 37;
const C = 72;
// Odd C with an odd chunk: lm_head windows then start at odd elements, i.e. mid-u32 for bf16.
const ODD_C = 71;

interface Head {
  /** The weight's values as the GPU sees them (bf16-rounded for bf16), in float64. */
  values: Float64Array;
  weight: Weight;
}

function makeHead(ctx: GpuContext, V: number, dtype: 'f32' | 'bf16', rng: Rng, C_ = C): Head {
  const w32 = new Float32Array(randn(V * C_, rng, 0.5));
  if (dtype === 'f32') return { values: Float64Array.from(w32), weight: f32Weight(ctx.createBufferFrom('lm_head', w32)) };
  const packed = f32ToBf16(w32);
  return { values: Float64Array.from(bf16ToF32(packed)), weight: bf16Weight(ctx.createBufferFrom('lm_head bf16', packed)) };
}

/** Targets spread over the vocabulary, including the first and last word and the ragged last chunk. */
function makeTargets(V: number, rng: Rng, rows = M): Int32Array {
  const t = Int32Array.from({ length: rows }, () => rng.int(V));
  t[0] = 0;
  t[1] = V - 1;
  t[2] = V - 2;
  return t;
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]));
  return Number.isNaN(e) ? Infinity : e;
};
const rms = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((s, a) => s + a * a, 0) / x.length);

describe('logprob kernels vs float64 full-softmax reference', () => {
  // chunk 300: V = 1000 -> 300+300+300+100; V = 1237 -> 4 x 300 + 37. No chunk: one pass over V.
  const cases: { V: number; C: number; dtype: 'f32' | 'bf16'; chunk?: number; M?: number }[] = [];
  for (const V of [1000, 1237])
    for (const dtype of ['f32', 'bf16'] as const) for (const chunk of [300, undefined]) cases.push({ V, C, dtype, chunk });
  cases.push({ V: 1237, C: ODD_C, dtype: 'bf16', chunk: 301 }, { V: 1237, C: ODD_C, dtype: 'f32', chunk: 301 });
  // Decoding's few rows (the matrix-vector kernel on windows of lm_head that start mid-u32).
  cases.push(
    { V: 1237, C: ODD_C, dtype: 'bf16', chunk: 301, M: 3 },
    { V: 1000, C, dtype: 'f32', chunk: 300, M: 4 },
    { V: 1237, C, dtype: 'bf16', M: 1 },
  );
  // ... and chunks of at least COLUMNS_MIN_N words (the one-invocation-per-word kernel).
  cases.push({ V: 5003, C: ODD_C, dtype: 'bf16', chunk: 2301, M: 3 }, { V: 5003, C, dtype: 'f32', M: 4 });
  for (const { V, C, dtype, chunk, M = 37 } of cases) {
    it(`V = ${V}, C = ${C}, ${dtype} lm_head, chunk ${chunk ?? 'whole vocabulary'}, ${M} rows: logprob/lse abs err <= 1e-4, argmax equal, dh rel err <= 1e-4`, async () => {
      const ctx = await testGpu();
      const rng = new Rng(V + C + M + (dtype === 'bf16' ? 1 : 0));
      const head = makeHead(ctx, V, dtype, rng, C);
      const h32 = new Float32Array(randn(M * C, rng));
      const h = Float64Array.from(h32);
      const targets = makeTargets(V, rng, M);
      const scratch = logprobScratchFor(ctx, M, V, { chunk });
      if (chunk) expect(scratch.Vc).toBe(chunk);

      const bufs = {
        logprob: ctx.createBuffer('logprob', M * 4),
        argmax: ctx.createBuffer('argmax', M * 4),
        lse: ctx.createBuffer('lse', M * 4),
        h: ctx.createBufferFrom('h', h32),
        targets: ctx.createBufferFrom('targets', targets),
      };
      logprobForward(ctx, bufs.logprob, bufs.argmax, bufs.lse, bufs.h, head.weight, bufs.targets, M, C, V, scratch);
      const want = { logprob: new Float64Array(M), argmax: new Int32Array(M), lse: new Float64Array(M) };
      ref.logprobForward(want.logprob, want.argmax, want.lse, h, head.values, targets, M, C, V);
      const got = { logprob: await ctx.readF32(bufs.logprob), argmax: await ctx.readI32(bufs.argmax), lse: await ctx.readF32(bufs.lse) };
      expect(maxAbs(got.logprob, want.logprob)).toBeLessThanOrEqual(1e-4);
      expect(maxAbs(got.lse, want.lse)).toBeLessThanOrEqual(1e-4);
      expect(Array.from(got.argmax)).toEqual(Array.from(want.argmax));

      // Backward: dh is overwritten (garbage first), dlogprob of either sign.
      const dlogprob32 = new Float32Array(randn(M, rng));
      const dh = ctx.createBufferFrom('dh', new Float32Array(M * C).fill(123));
      logprobBackward(ctx, dh, ctx.createBufferFrom('dlogprob', dlogprob32), bufs.h, head.weight, bufs.targets, bufs.lse, M, C, V, scratch);
      const wantDh = new Float64Array(M * C);
      ref.logprobBackward(wantDh, Float64Array.from(dlogprob32), h, head.values, targets, want.lse, M, C, V);
      // Floor 0.1 x RMS(dh): each entry is an f32 sum over V products, whose rounding
      // (~1e-6 absolute here) is not relative to entries that cancel to near 0.
      const gotDh = await ctx.readF32(dh);
      expect(maxRelError(gotDh, wantDh, 0.1 * rms(wantDh)).err).toBeLessThanOrEqual(1e-4);
      destroyLogprobScratch(ctx, scratch);
    });
  }

  it('breaks argmax ties toward the lowest index, across and within chunks', async () => {
    const ctx = await testGpu();
    const V = 1000;
    const rng = new Rng(4);
    const w = new Float32Array(randn(V * C, rng, 0.1));
    // Rows 350 (chunk 1), 5 (chunk 0) and 7 (chunk 0) equal and far above the rest for every h >= 0;
    // rows 640/650 tie below them.
    for (const [v, val] of [
      [350, 1],
      [5, 1],
      [7, 1],
      [640, 0.5],
      [650, 0.5],
    ] as const)
      for (let c = 0; c < C; c++) w[v * C + c] = val;
    const h = Float32Array.from(randn(M * C, rng), Math.abs);
    const scratch = logprobScratchFor(ctx, M, V, { chunk: 300 });
    const argmax = ctx.createBuffer('argmax', M * 4);
    const targets = Int32Array.from({ length: M }, (_, m) => m);
    const lp = ctx.createBuffer('logprob', M * 4);
    logprobForward(
      ctx,
      lp,
      argmax,
      ctx.createBuffer('lse', M * 4),
      ctx.createBufferFrom('h', h),
      f32Weight(ctx.createBufferFrom('w', w)),
      ctx.createBufferFrom('t', targets),
      M,
      C,
      V,
      scratch,
    );
    expect(Array.from(await ctx.readI32(argmax))).toEqual(new Array(M).fill(5));
    // Drop rows 5 and 7: the winner is 350 (second chunk).
    for (const v of [5, 7]) for (let c = 0; c < C; c++) w[v * C + c] = 0;
    logprobForward(
      ctx,
      lp,
      argmax,
      ctx.createBuffer('lse', M * 4),
      ctx.createBufferFrom('h', h),
      f32Weight(ctx.createBufferFrom('w', w)),
      ctx.createBufferFrom('t', targets),
      M,
      C,
      V,
      scratch,
    );
    expect(Array.from(await ctx.readI32(argmax))).toEqual(new Array(M).fill(350));
  });

  it("scores another pass's argmax (POVID's noise-triggered answer) without a CPU round trip", async () => {
    const ctx = await testGpu();
    const V = 1237;
    const rng = new Rng(8);
    const head = makeHead(ctx, V, 'f32', rng);
    const noisy = new Float32Array(randn(M * C, rng));
    const clean = new Float32Array(randn(M * C, rng));
    const scratch = logprobScratchFor(ctx, M, V, { chunk: 300 });
    const [lpN, amN, lseN, lp, am, lse] = ['lpN', 'amN', 'lseN', 'lp', 'am', 'lse'].map((n) => ctx.createBuffer(n, M * 4));
    logprobForward(
      ctx,
      lpN,
      amN,
      lseN,
      ctx.createBufferFrom('noisy', noisy),
      head.weight,
      ctx.createBufferFrom('t', new Int32Array(M)),
      M,
      C,
      V,
      scratch,
    );
    // targets = the noisy pass's argmax buffer, as recorded.
    logprobForward(ctx, lp, am, lse, ctx.createBufferFrom('clean', clean), head.weight, amN, M, C, V, scratch);
    const yn = new Int32Array(M);
    ref.logprobForward(new Float64Array(M), yn, new Float64Array(M), Float64Array.from(noisy), head.values, new Int32Array(M), M, C, V);
    const want = new Float64Array(M);
    ref.logprobForward(want, new Int32Array(M), new Float64Array(M), Float64Array.from(clean), head.values, yn, M, C, V);
    expect(Array.from(await ctx.readI32(amN))).toEqual(Array.from(yn));
    expect(maxAbs(await ctx.readF32(lp), want)).toBeLessThanOrEqual(1e-4);
  });

  for (const dtype of ['f32', 'bf16'] as const)
    it(`another target on swept rows (${dtype}, odd C): equals a second sweep to the bit, the reference within 1e-4; NaN outside the vocabulary`, async () => {
      const ctx = await testGpu();
      const V = 1237;
      const rows = 29;
      const rng = new Rng(dtype === 'bf16' ? 31 : 30);
      const head = makeHead(ctx, V, dtype, rng, ODD_C);
      const h32 = new Float32Array(randn(rows * ODD_C, rng));
      const t1 = makeTargets(V, rng, rows);
      const t2 = makeTargets(V, rng, rows);
      t2[5] = V;
      t2[6] = -1;
      const scratch = logprobScratchFor(ctx, rows, V, { chunk: 301 });
      const [lp1, am1, lse1, lp2, am2, lse2, lpT] = ['lp1', 'am1', 'lse1', 'lp2', 'am2', 'lse2', 'lpT'].map((n) =>
        ctx.createBuffer(n, rows * 4),
      );
      const h = ctx.createBufferFrom('h', h32);
      const bt2 = ctx.createBufferFrom('t2', t2);
      logprobForward(ctx, lp1, am1, lse1, h, head.weight, ctx.createBufferFrom('t1', t1), rows, ODD_C, V, scratch);
      logprobForward(ctx, lp2, am2, lse2, h, head.weight, bt2, rows, ODD_C, V, scratch);
      logprobOfTargets(ctx, lpT, h, head.weight, bt2, lse1, rows, ODD_C, V);
      const got = await ctx.readF32(lpT);
      const sweep = await ctx.readF32(lp2);
      const want = new Float64Array(rows);
      const lse = new Float64Array(rows);
      ref.logprobForward(new Float64Array(rows), new Int32Array(rows), lse, Float64Array.from(h32), head.values, t1, rows, ODD_C, V);
      ref.logprobOfTargets(want, Float64Array.from(h32), head.values, t2, lse, rows, ODD_C, V);
      for (let m = 0; m < rows; m++) {
        if (m === 5 || m === 6) {
          expect(Number.isNaN(got[m]) && Number.isNaN(want[m])).toBe(true);
          continue;
        }
        expect(got[m]).toBe(sweep[m]);
        expect(Math.abs(got[m] - want[m])).toBeLessThanOrEqual(1e-4);
      }
      expect(() => logprobOfTargets(ctx, lpT, h, head.weight, bt2, lse1, rows + 1, ODD_C, V)).toThrow(KernelArgumentError);
    });

  it('two targets on the first rows: one backward sweep equals the sum of the two gradients (rel err <= 1e-4)', async () => {
    const ctx = await testGpu();
    const V = 1237;
    const rows = 23;
    const M2 = 9;
    const rng = new Rng(40);
    const head = makeHead(ctx, V, 'bf16', rng, ODD_C);
    const h32 = new Float32Array(randn(rows * ODD_C, rng));
    const h = Float64Array.from(h32);
    const t1 = makeTargets(V, rng, rows);
    const t2 = makeTargets(V, rng, M2);
    const d1 = new Float32Array(randn(rows, rng));
    const d2 = new Float32Array(randn(M2, rng));
    const scratch = logprobScratchFor(ctx, rows, V, { chunk: 301 });
    const bufs = {
      lp: ctx.createBuffer('lp', rows * 4),
      am: ctx.createBuffer('am', rows * 4),
      lse: ctx.createBuffer('lse', rows * 4),
      h: ctx.createBufferFrom('h', h32),
      t1: ctx.createBufferFrom('t1', t1),
    };
    logprobForward(ctx, bufs.lp, bufs.am, bufs.lse, bufs.h, head.weight, bufs.t1, rows, ODD_C, V, scratch);
    const dh = ctx.createBufferFrom('dh', new Float32Array(rows * ODD_C).fill(5));
    const second = { dlogprob: ctx.createBufferFrom('d2', d2), targets: ctx.createBufferFrom('t2', t2), M: M2 };
    logprobBackward(ctx, dh, ctx.createBufferFrom('d1', d1), bufs.h, head.weight, bufs.t1, bufs.lse, rows, ODD_C, V, scratch, second);
    const lse = new Float64Array(rows);
    ref.logprobForward(new Float64Array(rows), new Int32Array(rows), lse, h, head.values, t1, rows, ODD_C, V);
    // The reference: two separate backward passes, added.
    const a = new Float64Array(rows * ODD_C);
    const b = new Float64Array(M2 * ODD_C);
    ref.logprobBackward(a, Float64Array.from(d1), h, head.values, t1, lse, rows, ODD_C, V);
    ref.logprobBackward(b, Float64Array.from(d2), h.subarray(0, M2 * ODD_C), head.values, t2, lse, M2, ODD_C, V);
    for (let i = 0; i < b.length; i++) a[i] += b[i];
    // ... which is what the reference's own two-target form gives.
    const c = new Float64Array(rows * ODD_C);
    ref.logprobBackward(c, Float64Array.from(d1), h, head.values, t1, lse, rows, ODD_C, V, {
      dlogprob: Float64Array.from(d2),
      targets: t2,
      M: M2,
    });
    expect(maxAbs(c, a)).toBeLessThanOrEqual(1e-12);
    const got = await ctx.readF32(dh);
    expect(maxRelError(got, a, 0.1 * rms(a)).err).toBeLessThanOrEqual(1e-4);
    expect(() =>
      logprobBackward(ctx, dh, bufs.lp, bufs.h, head.weight, bufs.t1, bufs.lse, rows, ODD_C, V, scratch, { ...second, M: rows + 1 }),
    ).toThrow(KernelArgumentError);
  });

  it('gives NaN for a target outside the vocabulary, and refuses a too-small scratch', async () => {
    const ctx = await testGpu();
    const V = 1000;
    const rng = new Rng(2);
    const head = makeHead(ctx, V, 'f32', rng);
    const targets = makeTargets(V, rng);
    targets[3] = V;
    targets[4] = -1;
    const scratch = logprobScratchFor(ctx, M, V, { chunk: 300 });
    const lp = ctx.createBuffer('lp', M * 4);
    const h = ctx.createBufferFrom('h', new Float32Array(randn(M * C, rng)));
    logprobForward(
      ctx,
      lp,
      ctx.createBuffer('am', M * 4),
      ctx.createBuffer('lse', M * 4),
      h,
      head.weight,
      ctx.createBufferFrom('t', targets),
      M,
      C,
      V,
      scratch,
    );
    const got = await ctx.readF32(lp);
    expect(Number.isNaN(got[3])).toBe(true);
    expect(Number.isNaN(got[4])).toBe(true);
    expect(Number.isFinite(got[5])).toBe(true);
    const small = logprobScratchFor(ctx, 10, V);
    expect(() => logprobForward(ctx, lp, lp, lp, h, head.weight, lp, M, C, V, small)).toThrow(KernelArgumentError);
    expect(() => logprobForward(ctx, lp, lp, lp, h, head.weight, lp, M, C, 1237, scratch)).toThrow(/vocabulary/);
  });

  it('chooses Vc under the byte cap', async () => {
    const Vc = logprobChunk(2048, 49152);
    expect(Vc * 2048 * 4).toBeLessThanOrEqual(32 * 2 ** 20);
    expect(Vc).toBe(4096);
    expect(logprobChunk(3, 1001)).toBe(1001); // whole vocabulary
    expect(logprobChunk(M, 1000, { chunk: 301 })).toBe(301);
  });
});

describe('sequenceLogprobSum', () => {
  it('sums rows per sequence, skips rows outside [0, S) (rel err <= 1e-6)', async () => {
    const ctx = await testGpu();
    const rng = new Rng(21);
    const S = 5;
    const lp = new Float32Array(randn(M, rng, 3));
    // Unsorted assignment, one sequence with no rows (3), padding rows (-1) and an out-of-range id.
    const seq = Int32Array.from({ length: M }, () => [0, 1, 2, 4, -1][rng.int(5)]);
    seq[10] = 9;
    const sums = ctx.createBufferFrom('sums', new Float32Array(S).fill(7));
    sequenceLogprobSum(ctx, sums, ctx.createBufferFrom('lp', lp), ctx.createBufferFrom('seq', seq), M, S);
    const want = new Float64Array(S);
    ref.sequenceLogprobSum(want, Float64Array.from(lp), seq, M, S);
    const got = await ctx.readF32(sums);
    expect(got[3]).toBe(0);
    expect(maxRelError(got, want, 1e-3).err).toBeLessThanOrEqual(1e-6);
  });
});

describe('logprob reference backward vs central finite differences', () => {
  it('d(sum_m dlogprob[m] logprob[m]) / dh matches (rel err <= 1e-7)', () => {
    const m = 3;
    const c = 5;
    const V = 11;
    const rng = new Rng(31);
    const h = randn(m * c, rng);
    const w = randn(V * c, rng);
    const targets = Int32Array.from([2, 10, 0]);
    const dlogprob = randn(m, rng);
    const f = (hh: Float64Array): number => {
      const lp = new Float64Array(m);
      ref.logprobForward(lp, new Int32Array(m), new Float64Array(m), hh, w, targets, m, c, V);
      return lp.reduce((s, x, i) => s + x * dlogprob[i], 0);
    };
    const lse = new Float64Array(m);
    ref.logprobForward(new Float64Array(m), new Int32Array(m), lse, h, w, targets, m, c, V);
    const dh = new Float64Array(m * c);
    ref.logprobBackward(dh, dlogprob, h, w, targets, lse, m, c, V);
    const eps = 1e-5;
    const fd = h.map((_, i) => {
      const p = Float64Array.from(h);
      p[i] += eps;
      const up = f(p);
      p[i] -= 2 * eps;
      return (up - f(p)) / (2 * eps);
    });
    expect(maxRelError(dh, fd, 1e-6).err).toBeLessThanOrEqual(1e-7);
    expect(rms(dh)).toBeGreaterThan(1e-2);
  });
});
