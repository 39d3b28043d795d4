// Runs a kernel through GpuContext inside a dedicated Worker (the app's own code path).
import { GpuContext } from '../../src/gpu';

const code = /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&x)) { x[g.x] = x[g.x] * 2.0 + 1.0; }
}`;

(async () => {
  try {
    const ctx = await GpuContext.create();
    const buf = ctx.createBufferFrom('x', new Float32Array([1, 2, 3, 4, 5]));
    ctx.dispatch(ctx.pipeline(code, 'main'), null, [buf], [1]);
    const out = Array.from(await ctx.readF32(buf));
    postMessage({ ok: true, out, adapter: ctx.adapterInfo, features: ctx.features });
  } catch (e) {
    postMessage({ ok: false, error: String(e) });
  }
})();
