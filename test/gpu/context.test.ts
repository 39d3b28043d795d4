import { describe, expect, it } from 'vitest';
import { GpuLimitError, grid1d } from '../../src/gpu';
import { testGpu } from '../helpers/gpu';

const addOne = /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < p.n) { x[g.x] = x[g.x] + 1.0; }
}`;

describe('GpuContext', () => {
  it('uploads, dispatches with a cached uniform and reads back', async () => {
    const ctx = await testGpu();
    const n = 1000;
    const data = Float32Array.from({ length: n }, (_, i) => i * 0.5);
    const buf = ctx.createBufferFrom('x', data);
    const pipe = ctx.pipeline(addOne, 'main');
    const u = ctx.uniform(new Uint32Array([n]));
    expect(ctx.uniform(new Uint32Array([n]))).toBe(u);
    ctx.dispatch(pipe, u, [buf], [Math.ceil(n / 64)]);
    ctx.dispatch(pipe, u, [buf], [Math.ceil(n / 64)]);
    const out = await ctx.readF32(buf);
    for (let i = 0; i < n; i++) expect(out[i]).toBe(i * 0.5 + 2);
    ctx.destroyBuffer(buf);
  });

  it('tracks memory and refuses buffers over the limits with a typed error', async () => {
    const ctx = await testGpu();
    const before = ctx.memory.current;
    const createdBefore = ctx.memory.created;
    const b = ctx.createBuffer('probe', 4096);
    expect(ctx.memory.current).toBe(before + 4096);
    ctx.destroyBuffer(b);
    expect(ctx.memory.current).toBe(before);
    // `created` keeps counting what was allocated, freed or not (sizes rounded up to 4 bytes).
    ctx.destroyBuffer(ctx.createBuffer('odd', 5));
    expect(ctx.memory.created).toBe(createdBefore + 4096 + 8);
    expect(() => ctx.createBuffer('too big', ctx.limits.maxBufferSize + 4)).toThrow(GpuLimitError);
    expect(() => ctx.createBuffer('too big', ctx.limits.maxBufferSize + 4)).toThrow(/too big/);
  });

  it('splits large 1-D grids', () => {
    expect(grid1d(10)).toEqual([10, 1]);
    const [x, y] = grid1d(200000);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(200000);
  });
});
