// Sums split-K partials: C[i] = [C[i] +] alpha * sum_z part[z, i].
struct Params { count: u32, splits: u32, accumulate: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> part: array<f32>;

@compute @workgroup_size(256)
fn gemm_reduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.count) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.splits; z++) { s += part[z * p.count + i]; }
  var v = p.alpha * s;
  if (p.accumulate != 0u) { v += c[i]; }
  c[i] = v;
}
