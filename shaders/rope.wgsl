// rope_forward:  (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), x1 = x[i], x2 = x[i + HD/2],
//                angle = position * theta^(-2i/HD)   (Llama rotate-half)
// rope_backward: the same rotation by -angle (the transpose). *_inplace: out is inp.
// One invocation per (row, head, pair i); rows are [NH * HD] wide.
//
// Precision: angles reach ~8000 rad at position 8192, where an f32 angle alone is off by 2e-4 rad.
// The host passes each frequency in turns per position split as hi + lo, with hi holding only
// 8 significant bits, so position * hi is exact in f32 (for positions < 65536); the fraction of
// a turn is then reduced to [-0.5, 0.5] before sin/cos, keeping the angle error near 1e-6 rad.

struct Params {
  N: u32,
  NH: u32,
  half: u32, // HD / 2
  _pad: u32,
  // Pair i: (hi, lo) at freq[i / 2].xy (even i) or .zw (odd i); up to HD = 256.
  freq: array<vec4<f32>, 64>,
}
@group(0) @binding(0) var<uniform> p: Params;

// ropeForward(out, inp, positions) / ropeBackward(dinp, dout, positions)
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<i32>;

// In place: (x, positions)
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> positions_ip: array<i32>;

const TWO_PI: f32 = 6.283185307179586;

// (cos, sin) of position * inv_freq[i].
fn cos_sin(pos: i32, i: u32) -> vec2<f32> {
  let f4 = p.freq[i >> 1u];
  let f = select(f4.xy, f4.zw, (i & 1u) == 1u);
  let t = f32(pos);
  let a = t * f.x; // exact
  var turns = a - floor(a);
  turns = fma(t, f.y, turns);
  turns = turns - round(turns);
  let angle = turns * TWO_PI;
  return vec2<f32>(cos(angle), sin(angle));
}

struct Pair { row: u32, i1: u32, i2: u32, pair: u32, ok: bool }

fn locate(wid: vec3u, nwg: vec3u, lid: u32) -> Pair {
  let g = (wid.x + wid.y * nwg.x) * 64u + lid;
  var r: Pair;
  r.ok = g < p.N * p.NH * p.half;
  r.pair = g % p.half;
  let rh = g / p.half; // row * NH + head
  r.row = rh / p.NH;
  r.i1 = rh * 2u * p.half + r.pair;
  r.i2 = r.i1 + p.half;
  return r;
}

// sign = 1: forward, -1: backward.
fn rotated(x1: f32, x2: f32, cs: vec2<f32>, sign: f32) -> vec2<f32> {
  let s = sign * cs.y;
  return vec2<f32>(x1 * cs.x - x2 * s, x2 * cs.x + x1 * s);
}

@compute @workgroup_size(64)
fn rope_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = locate(wid, nwg, lid);
  if (!e.ok) { return; }
  let y = rotated(src[e.i1], src[e.i2], cos_sin(positions[e.row], e.pair), 1.0);
  dst[e.i1] = y.x;
  dst[e.i2] = y.y;
}

@compute @workgroup_size(64)
fn rope_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = locate(wid, nwg, lid);
  if (!e.ok) { return; }
  let y = rotated(src[e.i1], src[e.i2], cos_sin(positions[e.row], e.pair), -1.0);
  dst[e.i1] = y.x;
  dst[e.i2] = y.y;
}

@compute @workgroup_size(64)
fn rope_forward_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = locate(wid, nwg, lid);
  if (!e.ok) { return; }
  let y = rotated(x[e.i1], x[e.i2], cos_sin(positions_ip[e.row], e.pair), 1.0);
  x[e.i1] = y.x;
  x[e.i2] = y.y;
}

@compute @workgroup_size(64)
fn rope_backward_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = locate(wid, nwg, lid);
  if (!e.ok) { return; }
  let y = rotated(x[e.i1], x[e.i2], cos_sin(positions_ip[e.row], e.pair), -1.0);
  x[e.i1] = y.x;
  x[e.i2] = y.y;
}
