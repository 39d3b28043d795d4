// linear.wgsl (forward, backward input, backward weight; f32 and bf16 weights) vs the float64
// reference on shapes that are not multiples of any tile, through every tile the host picks:
// the matrix-vector kernel (T <= 4), the thin 16-row and 16-column tiles, the 64 x 64 one, and
// split-K (few output tiles, a sum over >= 1024 terms).
// Tolerance: max |gpu - ref| / max(|ref|, floor) <= 1e-4 with floor = 0.01 sqrt(K), K the length
// of the sum (entries of a sum of K unit-sized products are ~sqrt(K); f32 error ~1e-7 sqrt(K)).
import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../src/engine/errors';
import { bf16ToF32, f32ToBf16 } from '../../src/util/dtype';
import { COLUMNS_MIN_N, GEMV_MAX_T, linearBackwardInput, linearBackwardWeight, linearForward } from '../../src/engine/kernels/linear';
import type { Weight } from '../../src/engine/kernels/types';
import type { GpuContext } from '../../src/gpu';
import { Rng } from '../../src/util/rng';
import { maxRelError, testGpu } from '../helpers/gpu';
import { splitKBuffer } from '../helpers/scratch';
import * as ref from '../reference/linear';

const TOL = 1e-4;
const floorFor = (K: number) => 0.01 * Math.sqrt(Math.max(K, 1));
const rng = new Rng(1234);
const rand = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
const f64 = (a: Float32Array) => Float64Array.from(a);

/** The weight on the GPU and the values the reference must use (bf16-rounded when bf16). */
function makeWeight(ctx: GpuContext, w: Float32Array, dtype: 'f32' | 'bf16'): { weight: Weight; values: Float64Array } {
  if (dtype === 'f32') return { weight: { buffer: ctx.createBufferFrom('W f32', w), dtype }, values: f64(w) };
  const bits = f32ToBf16(w);
  return { weight: { buffer: ctx.createBufferFrom('W bf16', bits), dtype }, values: f64(bf16ToF32(bits)) };
}

function expectClose(got: Float32Array, want: Float64Array, K: number, what: string): void {
  const { err, at } = maxRelError(got, want, floorFor(K));
  expect(err, `${what}: worst at ${at}: gpu ${got[at]} vs ref ${want[at]}`).toBeLessThanOrEqual(TOL);
}

describe('linear: GPU vs float64 reference', () => {
  // [T, IN, OUT, dtype]: which tile each takes is noted; odd IN with bf16 splits packed pairs across rows.
  const cases: [number, number, number, 'f32' | 'bf16', string][] = [
    [37, 72, 50, 'f32', '64 x 64 tiles, partial in every dimension'],
    [130, 200, 333, 'bf16', 'several 64 x 64 tiles'],
    [1, 72, 50, 'f32', 'matrix-vector (decoding)'],
    [1, 200, 333, 'bf16', 'matrix-vector, bf16'],
    [3, 37, 301, 'bf16', 'matrix-vector, 3 tokens, odd IN'],
    [9, 37, 70, 'bf16', 'thin 16-row tile, odd IN'],
    [27, 41, 301, 'bf16', 'thin 32-row tile (a few answer rows against many outputs), odd IN'],
    [40, 33, 7, 'f32', 'thin 16-column tile'],
    [1100, 20, 12, 'f32', 'dW over 1100 tokens: K split over workgroups'],
  ];
  for (const [T, IN, OUT, dtype, what] of cases) {
    it(`T ${T}, ${IN} -> ${OUT}, ${dtype} weights (${what})`, async () => {
      const ctx = await testGpu();
      const splitK = splitKBuffer(ctx);
      const x = rand(T * IN);
      const { weight, values: w } = makeWeight(ctx, rand(OUT * IN, 0.5), dtype);
      const bx = ctx.createBufferFrom('x', x);

      // forward, overwrite: start from garbage to show it is not read
      const by = ctx.createBufferFrom('y', rand(T * OUT, 100));
      linearForward(ctx, by, bx, weight, T, IN, OUT, { splitK });
      const ry = new Float64Array(T * OUT);
      ref.linearForward(ry, f64(x), w, T, IN, OUT);
      expectClose(await ctx.readF32(by), ry, IN, 'forward');

      // forward, accumulate
      const y0 = rand(T * OUT);
      const bya = ctx.createBufferFrom('y acc', y0);
      linearForward(ctx, bya, bx, weight, T, IN, OUT, { accumulate: true, splitK });
      const rya = f64(y0);
      ref.linearForward(rya, f64(x), w, T, IN, OUT, { accumulate: true });
      expectClose(await ctx.readF32(bya), rya, IN, 'forward accumulate');

      // backward input, overwrite then accumulate
      const dout = rand(T * OUT);
      const bd = ctx.createBufferFrom('dout', dout);
      const bdx = ctx.createBufferFrom('dx', rand(T * IN, 100));
      linearBackwardInput(ctx, bdx, bd, weight, T, IN, OUT, { splitK });
      const rdx = new Float64Array(T * IN);
      ref.linearBackwardInput(rdx, f64(dout), w, T, IN, OUT);
      expectClose(await ctx.readF32(bdx), rdx, OUT, 'backward input');
      const dx0 = rand(T * IN);
      const bdxa = ctx.createBufferFrom('dx acc', dx0);
      linearBackwardInput(ctx, bdxa, bd, weight, T, IN, OUT, { accumulate: true, splitK });
      const rdxa = f64(dx0);
      ref.linearBackwardInput(rdxa, f64(dout), w, T, IN, OUT, { accumulate: true });
      expectClose(await ctx.readF32(bdxa), rdxa, OUT, 'backward input accumulate');

      // backward weight always accumulates
      const dw0 = rand(OUT * IN);
      const bdw = ctx.createBufferFrom('dW', dw0);
      const before = ctx.dispatchCount;
      linearBackwardWeight(ctx, bdw, bd, bx, T, IN, OUT, { splitK });
      if (T >= 1024) expect(ctx.dispatchCount - before, 'split-K: partial sums, then their reduction').toBe(2);
      const rdw = f64(dw0);
      ref.linearBackwardWeight(rdw, f64(dout), f64(x), T, IN, OUT);
      expectClose(await ctx.readF32(bdw), rdw, T, 'backward weight');
      if (T >= 1024) {
        // Without a split-K buffer the same sum runs in one pass, with the same result.
        const bdw1 = ctx.createBufferFrom('dW unsplit', dw0);
        const before1 = ctx.dispatchCount;
        linearBackwardWeight(ctx, bdw1, bd, bx, T, IN, OUT);
        expect(ctx.dispatchCount - before1, 'no split-K buffer: one pass').toBe(1);
        expectClose(await ctx.readF32(bdw1), rdw, T, 'backward weight, unsplit');
      }
    });
  }

  it('takes windows into larger buffers and leaves the rest untouched', async () => {
    const ctx = await testGpu();
    const T = 20,
      IN = 24,
      OUT = 18;
    const x = rand(T * IN);
    const { weight, values: w } = makeWeight(ctx, rand(OUT * IN), 'f32');
    // input and output as 256-byte-aligned windows of two buffers (WebGPU forbids one buffer
    // bound read-only and read-write in one dispatch), sentinels around them
    const xOff = 256,
      yOff = 512;
    const xHost = new Float32Array((xOff + T * IN * 4 + 256) / 4).fill(-7);
    xHost.set(x, xOff / 4);
    const xBuf = ctx.createBufferFrom('x flat', xHost);
    const yBuf = ctx.createBufferFrom('y flat', new Float32Array((yOff + T * OUT * 4 + 256) / 4).fill(-7));
    linearForward(
      ctx,
      { buffer: yBuf, offset: yOff, size: T * OUT * 4 },
      { buffer: xBuf, offset: xOff, size: T * IN * 4 },
      weight,
      T,
      IN,
      OUT,
    );
    const got = await ctx.readF32(yBuf);
    const ry = new Float64Array(T * OUT);
    ref.linearForward(ry, f64(x), w, T, IN, OUT);
    expectClose(got.slice(yOff / 4, yOff / 4 + T * OUT), ry, IN, 'windowed forward');
    expect(got[yOff / 4 - 1]).toBe(-7);
    expect(got[yOff / 4 + T * OUT]).toBe(-7);
  });

  it('every token count up to the matrix-vector limit and one past it agree', async () => {
    const ctx = await testGpu();
    const IN = 40,
      OUT = 45;
    const { weight, values: w } = makeWeight(ctx, rand(OUT * IN), 'f32');
    for (let T = 1; T <= GEMV_MAX_T + 1; T++) {
      const x = rand(T * IN);
      const by = ctx.createBuffer('y', T * OUT * 4);
      linearForward(ctx, by, ctx.createBufferFrom('x', x), weight, T, IN, OUT);
      const ry = new Float64Array(T * OUT);
      ref.linearForward(ry, f64(x), w, T, IN, OUT);
      expectClose(await ctx.readF32(by), ry, IN, `forward T ${T}`);
    }
  });

  it('few tokens against many outputs (the one-invocation-per-output kernel): f32 and bf16, odd IN, accumulate', async () => {
    const ctx = await testGpu();
    const IN = 37,
      OUT = COLUMNS_MIN_N + 75; // 33 workgroups of 64 outputs, the last partial
    for (const dtype of ['f32', 'bf16'] as const) {
      const { weight, values: w } = makeWeight(ctx, rand(OUT * IN), dtype);
      for (let T = 1; T <= GEMV_MAX_T + 1; T++) {
        const x = rand(T * IN);
        const y0 = rand(T * OUT);
        const by = ctx.createBufferFrom('y', y0);
        linearForward(ctx, by, ctx.createBufferFrom('x', x), weight, T, IN, OUT, { accumulate: true });
        const ry = new Float64Array(T * OUT);
        ref.linearForward(ry, f64(x), w, T, IN, OUT);
        for (let i = 0; i < ry.length; i++) ry[i] += y0[i];
        expectClose(await ctx.readF32(by), ry, IN, `${dtype} forward T ${T}, accumulate`);
      }
      // Both kernels sum k in order with fma: the tiled product of 5 rows gives the same bits
      // in its first 4 rows (so decoding's argmax equals the teacher-forced pass's).
      const x5 = rand(5 * IN);
      const b4 = ctx.createBuffer('y4', 4 * OUT * 4);
      const b5 = ctx.createBuffer('y5', 5 * OUT * 4);
      linearForward(ctx, b4, ctx.createBufferFrom('x4', x5.subarray(0, 4 * IN)), weight, 4, IN, OUT);
      linearForward(ctx, b5, ctx.createBufferFrom('x5', x5), weight, 5, IN, OUT);
      expect(Array.from(await ctx.readF32(b4))).toEqual(Array.from((await ctx.readF32(b5)).subarray(0, 4 * OUT)));
    }
  });

  it('refuses buffers smaller than the shapes with a KernelArgumentError naming the operand', async () => {
    const ctx = await testGpu();
    const T = 4,
      IN = 8,
      OUT = 6;
    const weight: Weight = { buffer: ctx.createBuffer('W', OUT * IN * 4), dtype: 'f32' };
    const x = ctx.createBuffer('x', T * IN * 4);
    expect(() => linearForward(ctx, ctx.createBuffer('y', T * OUT * 4 - 4), x, weight, T, IN, OUT)).toThrow(KernelArgumentError);
    expect(() => linearForward(ctx, ctx.createBuffer('y', T * OUT * 4), x, weight, T, IN + 1, OUT)).toThrow(/inp \[4, 9\]/);
    // bf16 needs half the bytes: the f32-sized buffer is enough, a half-sized one for f32 is not
    const half = ctx.createBuffer('W half', (OUT * IN * 4) / 2);
    expect(() => linearForward(ctx, ctx.createBuffer('y', T * OUT * 4), x, { buffer: half, dtype: 'bf16' }, T, IN, OUT)).not.toThrow();
    expect(() => linearBackwardInput(ctx, x, ctx.createBuffer('dy', T * OUT * 4), { buffer: half, dtype: 'f32' }, T, IN, OUT)).toThrow(
      /weight \[6, 8\]/,
    );
    expect(() => linearBackwardWeight(ctx, half, ctx.createBuffer('dy', T * OUT * 4), x, T, IN, OUT)).toThrow(/dweight/);
    expect(() => linearForward(ctx, x, x, weight, 1.5, IN, OUT)).toThrow(/T must be a non-negative integer/);
    await ctx.sync();
  });
});
