// The strided GEMM behind linear and LoRA, against plain float64 loops on odd shapes.
import { describe, expect, it } from 'vitest';
import { gemm } from '../../src/engine/kernels/gemm';
import { f32ToBf16 } from '../../src/model/safetensors';
import { Rng } from '../../src/util/rng';
import { maxRelError, testGpu } from '../helpers/gpu';

function ref(A: Float32Array, a: { off: number; s0: number; s1: number }, B: Float32Array, b: { off: number; s0: number; s1: number }, M: number, N: number, K: number, alpha = 1, C0?: Float32Array): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[a.off + m * a.s0 + k * a.s1] * B[b.off + k * b.s0 + n * b.s1];
      out[m * N + n] = alpha * s + (C0 ? C0[m * N + n] : 0);
    }
  return out;
}

describe('gemm (tolerance: max error 1e-5 relative to max(|ref|, sqrt(K)), the typical size of an entry)', () => {
  const rng = new Rng(11);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

  for (const [M, N, K] of [
    [37, 50, 72],
    [1, 333, 200],
    [130, 17, 5],
    [65, 65, 65],
    [15, 64, 5000], // split-K
    [64, 300, 500], // tiled
    [100, 33, 70],
    [33, 1000, 64],
    [3, 5, 1237],
  ]) {
    it(`C = A B and C += alpha A^T B^T at ${M}x${N}x${K}`, async () => {
      const ctx = await testGpu();
      const A = rand(M * K);
      const B = rand(K * N);
      const bA = ctx.createBufferFrom('A', A);
      const bB = ctx.createBufferFrom('B', B);
      const bC = ctx.createBuffer('C', M * N * 4);
      const a = { off: 0, s0: K, s1: 1 };
      const b = { off: 0, s0: N, s1: 1 };
      gemm(ctx, bC, { binding: bA, ...a }, { binding: bB, ...b }, M, N, K);
      const c1 = await ctx.readF32(bC);
      expect(maxRelError(c1, ref(A, a, B, b, M, N, K), Math.sqrt(K)).err).toBeLessThan(1e-5);
      // Transposed views of the same data (A^T is [K, M] read with swapped strides).
      const at = { off: 0, s0: 1, s1: M };
      const bt = { off: 0, s0: 1, s1: K };
      const Aᵀ = rand(K * M);
      const Bᵀ = rand(N * K);
      ctx.upload(bA, Aᵀ);
      ctx.upload(bB, Bᵀ);
      gemm(ctx, bC, { binding: bA, ...at }, { binding: bB, ...bt }, M, N, K, { alpha: 0.5, accumulate: true });
      const c2 = await ctx.readF32(bC);
      expect(maxRelError(c2, ref(Aᵀ, at, Bᵀ, bt, M, N, K, 0.5, c1), Math.sqrt(K)).err).toBeLessThan(1e-5);
      for (const x of [bA, bB, bC]) ctx.destroyBuffer(x);
    });
  }

  it('reads bf16 weights packed two per u32, odd element counts included', async () => {
    const ctx = await testGpu();
    const M = 7, N = 13, K = 9; // N * K odd
    const A = rand(M * K);
    const bits = f32ToBf16(rand(N * K));
    const Bf = new Float32Array(new Uint32Array(Array.from(bits, (h) => h << 16)).buffer);
    const bA = ctx.createBufferFrom('A', A);
    const bB = ctx.createBufferFrom('B bf16', bits);
    const bC = ctx.createBuffer('C', M * N * 4);
    const b = { off: 0, s0: 1, s1: K }; // weight [N, K] as checkpoints store it
    gemm(ctx, bC, { binding: bA, off: 0, s0: K, s1: 1 }, { binding: bB, ...b, bf16: true }, M, N, K);
    const c = await ctx.readF32(bC);
    expect(maxRelError(c, ref(A, { off: 0, s0: K, s1: 1 }, Bf, b, M, N, K), Math.sqrt(K)).err).toBeLessThan(1e-5);
  });
});
