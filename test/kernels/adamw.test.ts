import { describe, expect, it } from 'vitest';
import { adamwStep, checkFinite, gradNormSquared, type AdamwHyper } from '../../src/engine/kernels/adamw';
import { KernelArgumentError } from '../../src/engine/errors';
import { Rng } from '../../src/util/rng';
import { maxRelError, randn, testGpu } from '../helpers/gpu';
import { gradNormScratchFor } from '../helpers/scratch';
import * as ref from '../reference/adamw';

describe('gradNormSquared', () => {
  // Sizes: one workgroup, two passes, and three passes (> 2048^2) of the 2048-wide reduction.
  for (const n of [37, 5003, 2048 * 2048 + 4099]) {
    it(`n = ${n}: rel err <= 1e-5 vs float64, bit-identical on a rerun`, async () => {
      const ctx = await testGpu();
      const g = new Float32Array(n);
      new Rng(n).fillNormal(g);
      const grads = ctx.createBufferFrom('grads', g);
      const scratch = gradNormScratchFor(ctx, n);
      const out = ctx.createBuffer('normSq', 4);
      gradNormSquared(ctx, out, grads, n, scratch);
      const a = (await ctx.readF32(out))[0];
      ctx.clear(out);
      gradNormSquared(ctx, out, grads, n, scratch);
      const b = (await ctx.readF32(out))[0];
      const want = new Float64Array(1);
      ref.gradNormSquared(want, Float64Array.from(g), n);
      expect(Math.abs(a - want[0]) / want[0]).toBeLessThanOrEqual(1e-5);
      expect(b).toBe(a);
      for (const x of [grads, scratch.a, scratch.b, out]) ctx.destroyBuffer(x);
    });
  }

  it('refuses scratch made for fewer values', async () => {
    const ctx = await testGpu();
    const b = ctx.createBuffer('b', 64);
    expect(() => gradNormSquared(ctx, b, b, 5000, gradNormScratchFor(ctx, 100))).toThrow(KernelArgumentError);
  });
});

const rms = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((s, a) => s + a * a, 0) / x.length);

describe('adamwStep vs float64 AdamW with global-norm clipping', () => {
  const n = 5003;
  const base: Omit<AdamwHyper, 'step' | 'maxGradNorm'> = {
    lr: 1e-2,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0.01,
    gradScale: 0.5,
  };
  // Gradient norms here are ~ 0.5 * sqrt(n) * 0.1 ~ 3.5 after gradScale.
  const cases: { name: string; maxGradNorm: number; clipped: boolean }[] = [
    { name: 'clipping active (max norm 0.5)', maxGradNorm: 0.5, clipped: true },
    { name: 'clipping off (max norm 0)', maxGradNorm: 0, clipped: false },
    { name: 'clipping inactive (max norm 1e3)', maxGradNorm: 1e3, clipped: false },
  ];
  for (const c of cases) {
    it(`${c.name}: 4 steps, params/m/v max rel err <= 1e-5`, async () => {
      const ctx = await testGpu();
      const rng = new Rng(9);
      const p0 = new Float32Array(randn(n, rng, 0.5));
      const params = ctx.createBufferFrom('params', p0);
      const m = ctx.createBuffer('m', n * 4);
      const v = ctx.createBuffer('v', n * 4);
      const grads = ctx.createBuffer('grads', n * 4);
      const normSq = ctx.createBuffer('normSq', 4);
      const scratch = gradNormScratchFor(ctx, n);
      const rp = Float64Array.from(p0);
      const rm = new Float64Array(n);
      const rv = new Float64Array(n);
      const noClip = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
      for (let step = 1; step <= 4; step++) {
        // Gradients of varied size per step so the clip factor changes between steps.
        const g = new Float32Array(randn(n, rng, 0.1 * step));
        ctx.upload(grads, g);
        gradNormSquared(ctx, normSq, grads, n, scratch);
        const hp = { ...base, step, maxGradNorm: c.maxGradNorm };
        adamwStep(ctx, params, grads, m, v, normSq, n, hp);
        const g64 = Float64Array.from(g);
        const ns = new Float64Array(1);
        ref.gradNormSquared(ns, g64, n);
        ref.adamwStep(rp, g64, rm, rv, ns, n, hp);
        ref.adamwStep(noClip.p, g64, noClip.m, noClip.v, ns, n, { ...hp, maxGradNorm: 0 });
        expect(Math.sqrt(ns[0]) * base.gradScale! > c.maxGradNorm).toBe(c.clipped || c.maxGradNorm === 0);
        const [gp, gm, gv] = [await ctx.readF32(params), await ctx.readF32(m), await ctx.readF32(v)];
        // Floor 0.1 (params have std 0.5): an f32 parameter near 0.5 carries ~3e-8 absolute rounding
        // into every later value, so relative error is only meaningful against the parameter scale.
        expect(maxRelError(gp, rp, 0.1).err).toBeLessThanOrEqual(1e-5);
        // The accumulated update (~lr per step) itself: max rel err <= 1e-4 with floor lr (the
        // f32 parameter's own rounding, ~6e-8 per step, is what is left).
        const du = gp.map((x, i) => x - p0[i]);
        const ru = rp.map((x, i) => x - p0[i]);
        expect(maxRelError(du, ru, base.lr).err).toBeLessThanOrEqual(1e-4);
        // m mixes gradients of either sign (cancellation near 0), so its floor is its RMS;
        // v only adds positive terms: floor 1e-6 x RMS.
        expect(maxRelError(gm, rm, rms(rm)).err).toBeLessThanOrEqual(1e-5);
        expect(maxRelError(gv, rv, 1e-6 * rms(rv)).err).toBeLessThanOrEqual(1e-5);
        // Clipping changes the moments by far more than the tolerance (so it is really applied).
        const diff = maxRelError(gm, noClip.m, rms(noClip.m)).err;
        if (c.clipped) expect(diff).toBeGreaterThan(0.5);
        else expect(diff).toBeLessThanOrEqual(1e-5);
      }
      // Parameters moved by about lr per step.
      expect(maxRelError(rp, Float64Array.from(p0), 1).err).toBeGreaterThan(1e-2);
      for (const x of [params, m, v, grads, normSq, scratch.a, scratch.b]) ctx.destroyBuffer(x);
    });
  }

  it('rejects bad hyper-parameters with a typed error', async () => {
    const ctx = await testGpu();
    const b = ctx.createBuffer('b', 64);
    const hp: AdamwHyper = { ...base, step: 1, maxGradNorm: 1 };
    expect(() => adamwStep(ctx, b, b, b, b, b, 4, { ...hp, step: 0 })).toThrow(KernelArgumentError);
    expect(() => adamwStep(ctx, b, b, b, b, b, 4, { ...hp, lr: NaN })).toThrow(/lr = NaN/);
    expect(() => adamwStep(ctx, b, b, b, b, b, 4, { ...hp, beta2: 1 })).toThrow(KernelArgumentError);
  });
});

describe('checkFinite', () => {
  const n = 1237;
  const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
  const cases: { name: string; at: number; bits: number; bad: boolean }[] = [
    { name: 'quiet NaN', at: 1236, bits: bitsOf(NaN), bad: true },
    { name: 'NaN with sign and payload', at: 0, bits: 0xff800001, bad: true },
    { name: '+Inf', at: 600, bits: bitsOf(Infinity), bad: true },
    { name: '-Inf', at: 3, bits: bitsOf(-Infinity), bad: true },
    { name: 'largest finite', at: 7, bits: 0x7f7fffff, bad: false },
    { name: 'denormal and -0', at: 8, bits: 0x00000001, bad: false },
  ];
  for (const c of cases) {
    it(`${c.bad ? 'flags' : 'passes'} ${c.name}`, async () => {
      const ctx = await testGpu();
      const data = new Float32Array(randn(n, new Rng(3)));
      data[9] = -0;
      new Uint32Array(data.buffer)[c.at] = c.bits;
      const flag = ctx.createBuffer('flag', 4);
      checkFinite(ctx, flag, ctx.createBufferFrom('x', data), n);
      const want = new Uint32Array(1);
      ref.checkFinite(want, Float64Array.from(data), n);
      const got = (await ctx.readU32(flag))[0];
      expect(got).toBe(c.bad ? 1 : 0);
      expect(got).toBe(want[0]);
    });
  }

  it('is sticky across checks until cleared, and respects n', async () => {
    const ctx = await testGpu();
    const bad = new Float32Array(100).fill(1);
    bad[99] = NaN;
    const x = ctx.createBufferFrom('x', bad);
    const flag = ctx.createBuffer('flag', 4);
    checkFinite(ctx, flag, x, 99); // the NaN lies past n
    expect((await ctx.readU32(flag))[0]).toBe(0);
    checkFinite(ctx, flag, x, 100);
    checkFinite(ctx, flag, ctx.createBufferFrom('ok', new Float32Array(10)), 10);
    expect((await ctx.readU32(flag))[0]).toBe(1);
    checkFinite(ctx, flag, ctx.createBufferFrom('ok', new Float32Array(10)), 10, { clear: true });
    expect((await ctx.readU32(flag))[0]).toBe(0);
  });
});
