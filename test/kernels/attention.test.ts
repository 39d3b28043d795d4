import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../src/engine/errors';
import { attentionBackward, attentionForward, LSE_EMPTY } from '../../src/engine/kernels/attention';
import type { GpuContext } from '../../src/gpu';
import { Rng } from '../../src/util/rng';
import { maxRelError, randn, testGpu } from '../helpers/gpu';
import { attentionStatsBuffer } from '../helpers/scratch';
import * as ref from '../reference/attention';

// f32 kernels vs the float64 reference: max relative error <= 1e-4, with an absolute floor of 1% of
// the tensor's largest magnitude (values near zero come from cancelling sums of O(1) terms, where
// f32 rounding alone is ~1e-6 absolute).
const TOL = 1e-4;
const f32 = (x: Float64Array): Float64Array => Float64Array.from(new Float32Array(x));
const relErr = (got: ArrayLike<number>, want: Float64Array): number => {
  let max = 0;
  for (const x of want) if (x !== ref.LSE_EMPTY) max = Math.max(max, Math.abs(x));
  return maxRelError(got, want, 1e-2 * max).err;
};

interface Problem {
  B: number;
  T: number;
  NH: number;
  NKV: number;
  HD: number;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  dout: Float64Array;
  mask: Uint32Array;
}

/** Random f32-representable inputs; pad[b] = [left, right] padded tokens of sequence b. */
function problem(seed: number, B: number, T: number, NH: number, NKV: number, HD: number, pad: [number, number][]): Problem {
  const rng = new Rng(seed);
  const mask = new Uint32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) mask[b * T + t] = t >= pad[b][0] && t < T - pad[b][1] ? 1 : 0;
  return {
    B,
    T,
    NH,
    NKV,
    HD,
    q: f32(randn(B * T * NH * HD, rng, 1.5)),
    k: f32(randn(B * T * NKV * HD, rng, 1.5)),
    v: f32(randn(B * T * NKV * HD, rng)),
    dout: f32(randn(B * T * NH * HD, rng)),
    mask,
  };
}

function refForward(p: Problem): { out: Float64Array; lse: Float64Array } {
  const out = new Float64Array(p.B * p.T * p.NH * p.HD);
  const lse = new Float64Array(p.B * p.NH * p.T);
  ref.attentionForward(out, lse, p.q, p.k, p.v, p.mask, p.B, p.T, p.T, p.NH, p.NKV, p.HD, 0);
  return { out, lse };
}

const up = (ctx: GpuContext, name: string, x: Float64Array | Uint32Array): GPUBuffer =>
  ctx.createBufferFrom(name, x instanceof Uint32Array ? x : new Float32Array(x));

describe('attention reference', () => {
  it('backward matches central finite differences (float64, GQA, left and right padding)', () => {
    const p = problem(51, 2, 6, 4, 2, 4, [
      [2, 0],
      [0, 1],
    ]);
    const { B, T, NH, NKV, HD } = p;
    const { out, lse } = refForward(p);
    const dq = new Float64Array(p.q.length);
    const dk = new Float64Array(p.k.length);
    const dv = new Float64Array(p.v.length);
    ref.attentionBackward(dq, dk, dv, p.dout, p.q, p.k, p.v, out, lse, p.mask, B, T, NH, NKV, HD);
    const loss = (q: Float64Array, k: Float64Array, v: Float64Array): number => {
      const o = new Float64Array(out.length);
      ref.attentionForward(o, new Float64Array(lse.length), q, k, v, p.mask, B, T, T, NH, NKV, HD, 0);
      return o.reduce((s, x, i) => s + x * p.dout[i], 0);
    };
    const h = 1e-5;
    const check = (x: Float64Array, grad: Float64Array, f: (y: Float64Array) => number): void => {
      for (let i = 0; i < x.length; i++) {
        const y = Float64Array.from(x);
        y[i] += h;
        const a = f(y);
        y[i] -= 2 * h;
        expect(Math.abs((a - f(y)) / (2 * h) - grad[i])).toBeLessThan(1e-7);
      }
    };
    check(p.q, dq, (y) => loss(y, p.k, p.v));
    check(p.k, dk, (y) => loss(p.q, y, p.v));
    check(p.v, dv, (y) => loss(p.q, p.k, y));
    // the gradient is not trivially zero
    expect(Math.max(...dk.map(Math.abs))).toBeGreaterThan(1e-2);
  });

  it('grouped heads equal full heads with repeated K/V; padded keys do not matter; padded queries give 0', () => {
    const p = problem(52, 2, 7, 4, 2, 4, [
      [2, 0],
      [0, 3],
    ]);
    const { B, T, NH, NKV, HD } = p;
    const { out, lse } = refForward(p);
    // repeat each KV head for its NH / NKV query heads
    const rep = (x: Float64Array): Float64Array => {
      const y = new Float64Array(B * T * NH * HD);
      for (let r = 0; r < B * T; r++)
        for (let h = 0; h < NH; h++)
          for (let d = 0; d < HD; d++) y[(r * NH + h) * HD + d] = x[(r * NKV + Math.floor(h / (NH / NKV))) * HD + d];
      return y;
    };
    const out2 = new Float64Array(out.length);
    ref.attentionForward(out2, new Float64Array(lse.length), p.q, rep(p.k), rep(p.v), p.mask, B, T, T, NH, NH, HD, 0);
    expect(maxRelError(out2, out).err).toBeLessThan(1e-12);
    // scramble the padded rows of k and v
    const k = Float64Array.from(p.k);
    const v = Float64Array.from(p.v);
    for (let r = 0; r < B * T; r++)
      if (!p.mask[r]) for (let d = 0; d < NKV * HD; d++) ((k[r * NKV * HD + d] = 50), (v[r * NKV * HD + d] = -50));
    const out3 = new Float64Array(out.length);
    ref.attentionForward(out3, new Float64Array(lse.length), p.q, k, v, p.mask, B, T, T, NH, NKV, HD, 0);
    expect(maxRelError(out3, out).err).toBeLessThan(1e-12);
    for (let r = 0; r < B * T; r++) {
      const row = out.subarray(r * NH * HD, (r + 1) * NH * HD);
      if (!p.mask[r]) expect(row.every((x) => x === 0)).toBe(true);
      else expect(row.some((x) => x !== 0)).toBe(true);
    }
  });
});

async function gpuForward(ctx: GpuContext, p: Problem): Promise<{ out: Float32Array; lse: Float32Array }> {
  const { B, T, NH, NKV, HD } = p;
  const out = ctx.createBuffer('out', B * T * NH * HD * 4);
  const lse = ctx.createBuffer('lse', B * NH * T * 4);
  attentionForward(
    ctx,
    out,
    lse,
    up(ctx, 'q', p.q),
    up(ctx, 'k', p.k),
    up(ctx, 'v', p.v),
    up(ctx, 'mask', p.mask),
    B,
    T,
    T,
    NH,
    NKV,
    HD,
    0,
  );
  return { out: await ctx.readF32(out), lse: await ctx.readF32(lse) };
}

describe('attention kernels', () => {
  const cases: { name: string; B: number; T: number; NH: number; NKV: number; HD: number; pad: [number, number][] }[] = [
    {
      name: 'B 2, T 37, NH 3, NKV 1, HD 24, 2nd sequence right-padded by 5',
      B: 2,
      T: 37,
      NH: 3,
      NKV: 1,
      HD: 24,
      pad: [
        [0, 0],
        [0, 5],
      ],
    },
    {
      name: 'B 2, T 37, NH 6, NKV 2, HD 24, left padding 3 / right padding 5',
      B: 2,
      T: 37,
      NH: 6,
      NKV: 2,
      HD: 24,
      pad: [
        [3, 0],
        [0, 5],
      ],
    },
    { name: 'B 1, T 131 (three 64-row blocks), NH 2, NKV 1, HD 8', B: 1, T: 131, NH: 2, NKV: 1, HD: 8, pad: [[4, 9]] },
    {
      name: 'B 2, T 19, NH 3, NKV 1, HD 64 (SmolVLM head size)',
      B: 2,
      T: 19,
      NH: 3,
      NKV: 1,
      HD: 64,
      pad: [
        [0, 0],
        [2, 3],
      ],
    },
  ];
  cases.forEach((c, ci) => {
    it(`forward and backward match the reference (${c.name})`, async () => {
      const ctx = await testGpu();
      const p = problem(60 + ci, c.B, c.T, c.NH, c.NKV, c.HD, c.pad);
      const { B, T, NH, NKV, HD } = p;
      const want = refForward(p);
      const got = await gpuForward(ctx, p);
      expect(relErr(got.out, want.out), 'out').toBeLessThan(TOL);
      expect(relErr(got.lse, want.lse), 'lse').toBeLessThan(TOL);
      // padded queries: exact zeros and the empty lse; nothing is NaN
      expect(got.out.every(Number.isFinite) && got.lse.every(Number.isFinite)).toBe(true);
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++) {
          if (p.mask[b * T + t]) continue;
          expect(got.out.subarray((b * T + t) * NH * HD, (b * T + t + 1) * NH * HD).every((x) => x === 0)).toBe(true);
          for (let h = 0; h < NH; h++) expect(got.lse[(b * NH + h) * T + t]).toBe(Math.fround(LSE_EMPTY));
        }

      // backward from the GPU's own forward results, vs the reference from the same values
      const gq = new Float64Array(p.q.length);
      const gk = new Float64Array(p.k.length);
      const gv = new Float64Array(p.v.length);
      ref.attentionBackward(gq, gk, gv, p.dout, p.q, p.k, p.v, want.out, want.lse, p.mask, B, T, NH, NKV, HD);
      const dq = up(ctx, 'dq', new Float64Array(p.q.length).fill(3)); // overwritten
      const dk = up(ctx, 'dk', new Float64Array(p.k.length).fill(3));
      const dv = up(ctx, 'dv', new Float64Array(p.v.length).fill(3));
      attentionBackward(
        ctx,
        dq,
        dk,
        dv,
        up(ctx, 'dout', p.dout),
        up(ctx, 'q', p.q),
        up(ctx, 'k', p.k),
        up(ctx, 'v', p.v),
        up(ctx, 'out', Float64Array.from(got.out)),
        up(ctx, 'lse', Float64Array.from(got.lse)),
        up(ctx, 'mask', p.mask),
        B,
        T,
        NH,
        NKV,
        HD,
        attentionStatsBuffer(ctx, B, NH, T),
      );
      const [rq, rk, rv] = [await ctx.readF32(dq), await ctx.readF32(dk), await ctx.readF32(dv)];
      expect(relErr(rq, gq), 'dq').toBeLessThan(TOL);
      expect(relErr(rk, gk), 'dk').toBeLessThan(TOL);
      expect(relErr(rv, gv), 'dv').toBeLessThan(TOL);
      for (let r = 0; r < B * T; r++) {
        if (p.mask[r]) continue;
        expect(rq.subarray(r * NH * HD, (r + 1) * NH * HD).every((x) => x === 0)).toBe(true);
        expect(rk.subarray(r * NKV * HD, (r + 1) * NKV * HD).every((x) => x === 0)).toBe(true);
        expect(rv.subarray(r * NKV * HD, (r + 1) * NKV * HD).every((x) => x === 0)).toBe(true);
      }
    });
  });

  it('KV-cache decoding (Tq = 1, 3; chunked prefill Tq = 20; cache rows strided by 40) equals the last rows of the full computation', async () => {
    const ctx = await testGpu();
    const p = problem(70, 2, 37, 6, 2, 24, [
      [3, 0],
      [0, 0],
    ]);
    const { B, T, NH, NKV, HD } = p;
    const full = await gpuForward(ctx, p);
    const S = 40; // cache rows per sequence; rows T..S-1 hold junk that must be ignored
    const kc = new Float64Array(B * S * NKV * HD).fill(77);
    const vc = new Float64Array(B * S * NKV * HD).fill(-77);
    const mc = new Uint32Array(B * S).fill(1);
    for (let b = 0; b < B; b++) {
      kc.set(p.k.subarray(b * T * NKV * HD, (b + 1) * T * NKV * HD), b * S * NKV * HD);
      vc.set(p.v.subarray(b * T * NKV * HD, (b + 1) * T * NKV * HD), b * S * NKV * HD);
      mc.set(p.mask.subarray(b * T, (b + 1) * T), b * S);
    }
    const [kBuf, vBuf, mBuf] = [up(ctx, 'k cache', kc), up(ctx, 'v cache', vc), up(ctx, 'mask', mc)];
    for (const Tq of [1, 3, 20]) {
      const q = new Float64Array(B * Tq * NH * HD);
      for (let b = 0; b < B; b++) q.set(p.q.subarray((b * T + T - Tq) * NH * HD, (b * T + T) * NH * HD), b * Tq * NH * HD);
      const out = ctx.createBuffer('out', q.length * 4);
      const lse = ctx.createBuffer('lse', B * NH * Tq * 4);
      attentionForward(ctx, out, lse, up(ctx, 'q', q), kBuf, vBuf, mBuf, B, Tq, T, NH, NKV, HD, T - Tq, { kvStride: S });
      const got = await ctx.readF32(out);
      const gotLse = await ctx.readF32(lse);
      const wantOut = new Float64Array(q.length);
      const wantLse = new Float64Array(B * NH * Tq);
      ref.attentionForward(wantOut, wantLse, q, kc, vc, mc, B, Tq, T, NH, NKV, HD, T - Tq, { kvStride: S });
      expect(relErr(got, wantOut), `Tq ${Tq} vs reference`).toBeLessThan(TOL);
      expect(relErr(gotLse, wantLse), `Tq ${Tq} lse`).toBeLessThan(TOL);
      const lastRows = new Float32Array(q.length);
      for (let b = 0; b < B; b++) lastRows.set(full.out.subarray((b * T + T - Tq) * NH * HD, (b * T + T) * NH * HD), b * Tq * NH * HD);
      expect(relErr(Float64Array.from(got), Float64Array.from(lastRows)), `Tq ${Tq} vs full`).toBeLessThan(TOL);
    }
  });

  it('decoding over a long cache (Tk 300: two 256-key chunks, max in the second) matches the reference', async () => {
    const ctx = await testGpu();
    const rng = new Rng(71);
    const [B, Tq, Tk, NH, NKV, HD] = [2, 2, 300, 2, 1, 8];
    const q = f32(randn(B * Tq * NH * HD, rng));
    const k = f32(randn(B * Tk * NKV * HD, rng));
    const v = f32(randn(B * Tk * NKV * HD, rng));
    for (let j = 280; j < 290; j++) for (let d = 0; d < HD; d++) k[j * HD + d] = q[d] * 4; // sharp late maximum
    const mask = new Uint32Array(B * Tk).fill(1);
    for (let j = 0; j < 40; j++) mask[Tk + j] = 0; // second sequence left-padded
    mask[100] = 0;
    const out = ctx.createBuffer('out', q.length * 4);
    const lse = ctx.createBuffer('lse', B * NH * Tq * 4);
    attentionForward(
      ctx,
      out,
      lse,
      up(ctx, 'q', q),
      up(ctx, 'k', k),
      up(ctx, 'v', v),
      up(ctx, 'mask', mask),
      B,
      Tq,
      Tk,
      NH,
      NKV,
      HD,
      Tk - Tq,
    );
    const wantOut = new Float64Array(q.length);
    const wantLse = new Float64Array(B * NH * Tq);
    ref.attentionForward(wantOut, wantLse, q, k, v, mask, B, Tq, Tk, NH, NKV, HD, Tk - Tq);
    expect(relErr(await ctx.readF32(out), wantOut), 'out').toBeLessThan(TOL);
    expect(relErr(await ctx.readF32(lse), wantLse), 'lse').toBeLessThan(TOL);
  });

  it('refuses shapes it cannot run, naming the limit', async () => {
    const ctx = await testGpu();
    const b = ctx.createBuffer('b', 1 << 16);
    expect(() => attentionForward(ctx, b, b, b, b, b, b, 1, 4, 4, 3, 2, 8, 0)).toThrow(/not a multiple/);
    expect(() => attentionForward(ctx, b, b, b, b, b, b, 1, 4, 4, 2, 1, 6, 0)).toThrow(KernelArgumentError);
    expect(() => attentionForward(ctx, b, b, b, b, b, b, 1, 2, 4, 2, 1, 8, 3)).toThrow(/qOffset \+ Tq <= Tk/);
    expect(() => attentionForward(ctx, b, b, b, b, b, b, 1, 4096, 4096, 2, 1, 8, 0)).toThrow(/holds 65536 bytes/);
  });
});
