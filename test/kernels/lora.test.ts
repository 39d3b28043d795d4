// LoRA forward/backward (lora.ts on linear.wgsl's tiles) vs the float64 reference, with A, B and
// their gradients as 256-byte-aligned windows of flat parameter / gradient buffers as the engine
// packs adapters. Ranks cover the thin 16-wide tiles (r 5, 16) and the 64 x 64 ones (r 24);
// 1100 tokens take the split-K path for dA and dB.
// Tolerance: max |gpu - ref| / max(|ref|, floor) <= 1e-4, floor = 5% of the typical size of the
// entry (e.g. 0.05 * 0.2 sqrt(IN) for xa = X A^T with unit X and A ~ 0.2): errors of the chained
// f32 products (xa feeds out, dxa feeds dA and dX) are relative to the terms, not to the sum.
import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../src/engine/errors';
import { loraBackward, loraForward } from '../../src/engine/kernels/lora';
import type { GpuContext } from '../../src/gpu';
import { Rng } from '../../src/util/rng';
import { maxRelError, testGpu } from '../helpers/gpu';
import { splitKBuffer } from '../helpers/scratch';
import * as ref from '../reference/lora';

const TOL = 1e-4;
const FLOOR = 0.05;
const rng = new Rng(77);
const rand = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
const f64 = (a: Float32Array) => Float64Array.from(a);
const align = (bytes: number) => Math.ceil(bytes / 256) * 256;

function expectClose(got: Float32Array, want: Float64Array, floor: number, what: string): void {
  const { err, at } = maxRelError(got, want, floor);
  expect(err, `${what}: worst at ${at}: gpu ${got[at]} vs ref ${want[at]}`).toBeLessThanOrEqual(TOL);
}

/** A and B packed into one buffer (A first, B at the next 256-byte boundary), plus windows. */
function packAdapter(ctx: GpuContext, label: string, A: Float32Array, B: Float32Array) {
  const bOff = align(A.length * 4);
  const flat = new Float32Array((bOff + align(B.length * 4)) / 4);
  flat.set(A, 0);
  flat.set(B, bOff / 4);
  const buffer = ctx.createBufferFrom(label, flat);
  return {
    buffer,
    bOff,
    A: { buffer, offset: 0, size: A.length * 4 },
    B: { buffer, offset: bOff, size: B.length * 4 },
  };
}

describe('LoRA: GPU vs float64 reference', () => {
  for (const [T, IN, OUT, R, scale] of [
    [37, 72, 50, 5, 2],
    [130, 200, 333, 16, 0.5],
    [20, 48, 40, 24, 1.25],
    [1100, 40, 24, 4, 1], // dA and dB sum over 1100 tokens: K split over workgroups
  ] as const) {
    it(`T ${T}, ${IN} -> ${OUT}, r ${R}, scale ${scale}`, async () => {
      const ctx = await testGpu();
      const x = rand(T * IN),
        A = rand(R * IN, 0.2),
        B = rand(OUT * R, 0.2),
        dout = rand(T * OUT);
      const params = packAdapter(ctx, 'lora params', A, B);
      // gradients start non-zero: they must accumulate
      const dA0 = rand(R * IN, 0.1),
        dB0 = rand(OUT * R, 0.1);
      const grads = packAdapter(ctx, 'lora grads', dA0, dB0);
      const [x64, A64, B64] = [x, A, B].map(f64);

      const y0 = rand(T * OUT);
      const bx = ctx.createBufferFrom('x', x);
      const by = ctx.createBufferFrom('y', y0);
      const bxa = ctx.createBufferFrom('xa', rand(T * R, 100)); // overwritten
      loraForward(ctx, by, bxa, bx, params.A, params.B, T, IN, OUT, R, scale, splitKBuffer(ctx));
      const ry = f64(y0);
      const rxa = new Float64Array(T * R);
      ref.loraForward(ry, rxa, x64, A64, B64, T, IN, OUT, R, scale);
      // xa entries ~ 0.2 sqrt(IN); the update adds scale * 0.2 sqrt(R) xa-sized terms to y0 ~ 1
      expectClose(await ctx.readF32(bxa), rxa, FLOOR * 0.2 * Math.sqrt(IN), 'xa');
      expectClose(await ctx.readF32(by), ry, FLOOR, 'out');

      const dx0 = rand(T * IN);
      const bdx = ctx.createBufferFrom('dx', dx0);
      const bdxa = ctx.createBufferFrom('dxa', rand(T * R, 100)); // scratch, overwritten
      loraBackward(
        ctx,
        bdx,
        grads.A,
        grads.B,
        bdxa,
        ctx.createBufferFrom('dout', dout),
        bx,
        bxa,
        params.A,
        params.B,
        T,
        IN,
        OUT,
        R,
        scale,
        splitKBuffer(ctx),
      );
      const rdx = f64(dx0);
      const rdA = f64(dA0);
      const rdB = f64(dB0);
      const rdxa = new Float64Array(T * R);
      ref.loraBackward(rdx, rdA, rdB, rdxa, f64(dout), x64, rxa, A64, B64, T, IN, OUT, R, scale);
      const g = await ctx.readF32(grads.buffer);
      expectClose(await ctx.readF32(bdxa), rdxa, FLOOR * scale * 0.2 * Math.sqrt(OUT), 'dxa');
      expectClose(g.slice(0, R * IN), rdA, FLOOR * scale * 0.2 * Math.sqrt(OUT * T), 'dA');
      expectClose(g.slice(grads.bOff / 4, grads.bOff / 4 + OUT * R), rdB, FLOOR * scale * 0.2 * Math.sqrt(IN * T), 'dB');
      expectClose(await ctx.readF32(bdx), rdx, FLOOR, 'dinp (accumulated onto the base dX)');
    });
  }

  it('B = 0 (PEFT init) leaves the output unchanged and still gives dB', async () => {
    const ctx = await testGpu();
    const T = 9,
      IN = 16,
      OUT = 12,
      R = 4,
      scale = 2;
    const x = rand(T * IN),
      A = rand(R * IN),
      dout = rand(T * OUT),
      y0 = rand(T * OUT);
    const params = packAdapter(ctx, 'lora params', A, new Float32Array(OUT * R));
    const by = ctx.createBufferFrom('y', y0);
    const bx = ctx.createBufferFrom('x', x);
    const bxa = ctx.createBuffer('xa', T * R * 4);
    loraForward(ctx, by, bxa, bx, params.A, params.B, T, IN, OUT, R, scale, splitKBuffer(ctx));
    expect(Array.from(await ctx.readF32(by))).toEqual(Array.from(y0));
    const grads = packAdapter(ctx, 'lora grads', new Float32Array(R * IN), new Float32Array(OUT * R));
    const dx0 = rand(T * IN);
    const bdx = ctx.createBufferFrom('dx', dx0);
    loraBackward(
      ctx,
      bdx,
      grads.A,
      grads.B,
      ctx.createBuffer('dxa', T * R * 4),
      ctx.createBufferFrom('dout', dout),
      bx,
      bxa,
      params.A,
      params.B,
      T,
      IN,
      OUT,
      R,
      scale,
      splitKBuffer(ctx),
    );
    const g = await ctx.readF32(grads.buffer);
    // with B = 0: dxa = 0, so dA = 0 and dX unchanged; dB = s dout^T xa is not zero
    expect(g.slice(0, R * IN).every((v) => v === 0)).toBe(true);
    expect(Array.from(await ctx.readF32(bdx))).toEqual(Array.from(dx0));
    const rdB = new Float64Array(OUT * R);
    const rxa = new Float64Array(T * R);
    ref.loraForward(new Float64Array(T * OUT), rxa, f64(x), f64(A), new Float64Array(OUT * R), T, IN, OUT, R, scale);
    ref.loraBackward(
      new Float64Array(T * IN),
      new Float64Array(R * IN),
      rdB,
      new Float64Array(T * R),
      f64(dout),
      f64(x),
      rxa,
      f64(A),
      new Float64Array(OUT * R),
      T,
      IN,
      OUT,
      R,
      scale,
    );
    expect(rdB.some((v) => v !== 0)).toBe(true);
    expectClose(g.slice(grads.bOff / 4, grads.bOff / 4 + OUT * R), rdB, FLOOR * scale * Math.sqrt(IN * T), 'dB');
  });

  it('refuses windows smaller than the rank asks for', async () => {
    const ctx = await testGpu();
    const T = 4,
      IN = 8,
      OUT = 6,
      R = 4;
    const buf = (n: number) => ctx.createBuffer('b', n * 4);
    const small = { buffer: buf(R * IN), offset: 0, size: (R - 1) * IN * 4 };
    expect(() => loraForward(ctx, buf(T * OUT), buf(T * R), buf(T * IN), small, buf(OUT * R), T, IN, OUT, R, 1, splitKBuffer(ctx))).toThrow(
      KernelArgumentError,
    );
    expect(() => loraForward(ctx, buf(T * OUT), buf(T * R), buf(T * IN), small, buf(OUT * R), T, IN, OUT, R, 1, splitKBuffer(ctx))).toThrow(
      /loraA \[4, 8\]/,
    );
    expect(() =>
      loraBackward(
        ctx,
        buf(T * IN),
        buf(R * IN),
        buf(OUT * R),
        buf(T * R - 1),
        buf(T * OUT),
        buf(T * IN),
        buf(T * R),
        buf(R * IN),
        buf(OUT * R),
        T,
        IN,
        OUT,
        R,
        1,
        splitKBuffer(ctx),
      ),
    ).toThrow(/dxa/);
    expect(() =>
      loraForward(ctx, buf(T * OUT), buf(T * R), buf(T * IN), buf(R * IN), buf(OUT * R), T, IN, OUT, R, NaN, splitKBuffer(ctx)),
    ).toThrow(/scale/);
    await ctx.sync();
  });
});
