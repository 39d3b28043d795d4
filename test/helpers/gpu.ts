// One GPU context per test file (SwiftShader in Node), destroyed after the file's tests.
import { afterAll } from 'vitest';
import type { Weight } from '../../src/engine/kernels/types';
import { GpuContext } from '../../src/gpu';

let ctx: Promise<GpuContext> | null = null;

export function testGpu(): Promise<GpuContext> {
  if (!ctx) {
    ctx = GpuContext.create();
    afterAll(async () => {
      (await ctx!).destroy();
      ctx = null;
    });
  }
  return ctx;
}

/** Max |a - b| / max(|b|, floor) over all elements, and where it happened. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): { err: number; at: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let err = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (!(e <= err)) {
      err = e;
      at = i;
    }
  }
  return { err, at };
}

export function randn(n: number, rng: { normal(): number }, scale = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

export const f32Weight = (buffer: GPUBuffer): Weight => ({ buffer, dtype: 'f32' });
export const bf16Weight = (buffer: GPUBuffer): Weight => ({ buffer, dtype: 'bf16' });
