// gather_forward:  out[m, c] = inp[rows[m], c]              (answer rows out of [N, C])
// gather_backward: dinp[rows[m], c] += dout[m, c]            (rows distinct: one writer per element)

struct Params { M: u32, C: u32, N: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> rows: array<i32>;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn gather_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.M * p.C) { return; }
  let m = i / p.C;
  let c = i - m * p.C;
  let r = rows[m];
  // An out-of-range row yields zeros rather than reading another buffer's memory.
  var x = 0.0;
  if (r >= 0 && u32(r) < p.N) { x = src[u32(r) * p.C + c]; }
  dst[i] = x;
}

@compute @workgroup_size(256)
fn gather_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.M * p.C) { return; }
  let m = i / p.C;
  let c = i - m * p.C;
  let r = rows[m];
  if (r < 0 || u32(r) >= p.N) { return; }
  let j = u32(r) * p.C + c;
  dst[j] = dst[j] + src[i];
}
