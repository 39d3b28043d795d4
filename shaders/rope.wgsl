// rope_forward:  (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), x1 = x[i], x2 = x[i + HD/2],
//                angle = position * theta^(-2i/HD)   (Llama rotate-half)
// rope_backward: the same rotation by -angle (the transpose). *_inplace: out is inp.
// One invocation per (row, head, pair i); rows are [NH * HD] wide.
//
// Precision: angles reach ~8000 rad at position 8192, where an f32 angle alone is off by 2e-4 rad.
// The host passes each frequency in turns per position (inv_freq / 2pi, from float64) split as
// f1 + f2 + f3, f1 and f2 with 8 significant bits each, so position * f1 and position * f2 are
// exact in f32 for positions < 65536; only their fractions of a turn are kept, and the angle
// error stays within a few 1e-7 rad.

struct Params {
  N: u32,
  NH: u32,
  half: u32, // HD / 2
  _pad: u32,
  // Pair i: (f1, f2, f3, 0); up to HD = 256.
  freq: array<vec4<f32>, 128>,
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

// (cos, sin) of position * inv_freq[i]. The built-in sin/cos may be as coarse as 2^-11 absolute
// (SwiftShader's are ~1e-4), so the angle is reduced to [-pi/4, pi/4] plus a quarter-turn count
// and evaluated with Cephes' single-precision polynomials (a few ulp).
fn cos_sin(pos: i32, i: u32) -> vec2<f32> {
  let f = p.freq[i];
  let t = f32(pos);
  let a1 = t * f.x; // exact
  let a2 = t * f.y; // exact
  var turns = (a1 - floor(a1)) + (a2 - floor(a2));
  turns = fma(t, f.z, turns);
  let quarter = round(turns * 4.0);
  let r = (turns - quarter * 0.25) * TWO_PI; // in [-pi/4, pi/4]
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  switch (i32(quarter) & 3) {
    case 1: { return vec2<f32>(-s, c); }
    case 2: { return vec2<f32>(-c, -s); }
    case 3: { return vec2<f32>(s, -c); }
    default: { return vec2<f32>(c, s); }
  }
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
