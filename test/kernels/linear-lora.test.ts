// Linear and LoRA host wrappers (GPU) vs their float64 references, on odd shapes.
// Tolerance: max |gpu - ref| / max(|ref|, sqrt(K)) <= 1e-5, K the length of the sum (f32
// accumulation of K unit-sized terms; sqrt(K) is the typical size of an entry).
import { describe, expect, it } from 'vitest';
import { linearBackwardInput, linearBackwardWeight, linearForward } from '../../src/engine/kernels/linear';
import { loraBackward, loraForward } from '../../src/engine/kernels/lora';
import { f32ToBf16 } from '../../src/util/dtype';
import { Rng } from '../../src/util/rng';
import { maxRelError, testGpu } from '../helpers/gpu';
import { splitKBuffer } from '../helpers/scratch';
import * as ref from '../reference/linear';
import * as refLora from '../reference/lora';

const rng = new Rng(5);
const rand = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
const TOL = 1e-5;

describe('linear (Y = X W^T, W [OUT, IN])', () => {
  for (const [T, IN, OUT, dtype] of [
    [37, 72, 50, 'f32'],
    [1, 72, 301, 'bf16'],
    [130, 200, 33, 'bf16'],
  ] as const) {
    it(`forward, dX and dW at T ${T}, ${IN} -> ${OUT}, ${dtype} weights`, async () => {
      const ctx = await testGpu();
      const x = rand(T * IN);
      let w = rand(OUT * IN);
      let wBuf: GPUBuffer;
      if (dtype === 'bf16') {
        const bits = f32ToBf16(w);
        w = new Float32Array(new Uint32Array(Array.from(bits, (h) => h << 16)).buffer);
        wBuf = ctx.createBufferFrom('w', bits);
      } else wBuf = ctx.createBufferFrom('w', w);
      const weight = { buffer: wBuf, dtype };
      const bx = ctx.createBufferFrom('x', x);
      const by = ctx.createBuffer('y', T * OUT * 4);
      linearForward(ctx, by, bx, weight, T, IN, OUT);
      const y = await ctx.readF32(by);
      const ry = new Float64Array(T * OUT);
      ref.linearForward(ry, Float64Array.from(x), Float64Array.from(w), T, IN, OUT);
      expect(maxRelError(y, ry, Math.sqrt(IN)).err).toBeLessThan(TOL);

      const dout = rand(T * OUT);
      const bd = ctx.createBufferFrom('dout', dout);
      const bdx = ctx.createBufferFrom('dx', new Float32Array(T * IN).fill(0.5));
      linearBackwardInput(ctx, bdx, bd, weight, T, IN, OUT, { accumulate: true });
      const rdx = new Float64Array(T * IN).fill(0.5);
      ref.linearBackwardInput(rdx, Float64Array.from(dout), Float64Array.from(w), T, IN, OUT, { accumulate: true });
      expect(maxRelError(await ctx.readF32(bdx), rdx, Math.sqrt(OUT)).err).toBeLessThan(TOL);

      const bdw = ctx.createBufferFrom('dw', new Float32Array(OUT * IN).fill(0.25));
      linearBackwardWeight(ctx, bdw, bd, bx, T, IN, OUT);
      const rdw = new Float64Array(OUT * IN).fill(0.25);
      ref.linearBackwardWeight(rdw, Float64Array.from(dout), Float64Array.from(x), T, IN, OUT);
      expect(maxRelError(await ctx.readF32(bdw), rdw, Math.sqrt(T)).err).toBeLessThan(TOL);
    });
  }
});

describe('LoRA (Y += s (X A^T) B^T), A and B as windows of one flat buffer', () => {
  it('forward and backward at T 37, 72 -> 50, r 5', async () => {
    const ctx = await testGpu();
    const T = 37,
      IN = 72,
      OUT = 50,
      R = 5,
      s = 2;
    const x = rand(T * IN),
      A = rand(R * IN, 0.1),
      B = rand(OUT * R, 0.1),
      dout = rand(T * OUT),
      y0 = rand(T * OUT);
    // A at offset 0, B at the next 256-byte boundary, as the engine packs them.
    const bOff = Math.ceil((R * IN * 4) / 256) * 256;
    const flat = new Float32Array((bOff + OUT * R * 4) / 4);
    flat.set(A, 0);
    flat.set(B, bOff / 4);
    const params = ctx.createBufferFrom('lora', flat);
    const grads = ctx.createBuffer('lora grads', flat.byteLength);
    const winA = { buffer: params, offset: 0, size: R * IN * 4 };
    const winB = { buffer: params, offset: bOff, size: OUT * R * 4 };
    const dA = { buffer: grads, offset: 0, size: R * IN * 4 };
    const dB = { buffer: grads, offset: bOff, size: OUT * R * 4 };
    const bx = ctx.createBufferFrom('x', x);
    const by = ctx.createBufferFrom('y', y0);
    const bxa = ctx.createBuffer('xa', T * R * 4);
    loraForward(ctx, by, bxa, bx, winA, winB, T, IN, OUT, R, s, splitKBuffer(ctx));
    const ry = Float64Array.from(y0);
    const rxa = new Float64Array(T * R);
    const [x64, A64, B64] = [x, A, B].map((v) => Float64Array.from(v));
    refLora.loraForward(ry, rxa, x64, A64, B64, T, IN, OUT, R, s);
    expect(maxRelError(await ctx.readF32(by), ry, 1).err).toBeLessThan(TOL);
    expect(maxRelError(await ctx.readF32(bxa), rxa, 1).err).toBeLessThan(TOL);

    const bd = ctx.createBufferFrom('dout', dout);
    const bdx = ctx.createBufferFrom('dx', new Float32Array(T * IN).fill(1));
    const bdxa = ctx.createBuffer('dxa', T * R * 4);
    loraBackward(ctx, bdx, dA, dB, bdxa, bd, bx, bxa, winA, winB, T, IN, OUT, R, s, splitKBuffer(ctx));
    const rdx = new Float64Array(T * IN).fill(1);
    const rdA = new Float64Array(R * IN);
    const rdB = new Float64Array(OUT * R);
    refLora.loraBackward(rdx, rdA, rdB, new Float64Array(T * R), Float64Array.from(dout), x64, rxa, A64, B64, T, IN, OUT, R, s);
    const g = await ctx.readF32(grads);
    expect(maxRelError(g.slice(0, R * IN), rdA, Math.sqrt(T)).err).toBeLessThan(TOL);
    expect(maxRelError(g.slice(bOff / 4, bOff / 4 + OUT * R), rdB, Math.sqrt(T)).err).toBeLessThan(TOL);
    expect(maxRelError(await ctx.readF32(bdx), rdx, 1).err).toBeLessThan(TOL);
  });

  it('B = 0 leaves the output unchanged', async () => {
    const ctx = await testGpu();
    const T = 9,
      IN = 16,
      OUT = 12,
      R = 4;
    const y0 = rand(T * OUT);
    const by = ctx.createBufferFrom('y', y0);
    loraForward(
      ctx,
      by,
      ctx.createBuffer('xa', T * R * 4),
      ctx.createBufferFrom('x', rand(T * IN)),
      ctx.createBufferFrom('A', rand(R * IN)),
      ctx.createBuffer('B', OUT * R * 4),
      T,
      IN,
      OUT,
      R,
      2,
      splitKBuffer(ctx),
    );
    expect(Array.from(await ctx.readF32(by))).toEqual(Array.from(y0));
  });
});
