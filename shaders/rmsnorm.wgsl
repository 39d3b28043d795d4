// rmsnorm_forward:  rstd[n] = 1 / sqrt(mean_c(x[n,c]^2) + eps); out[n,c] = x[n,c] * rstd[n] * w[c]
// rmsnorm_backward: dx = rstd * w * dy - x * rstd^3 / C * sum_c(dy * w * x)   (w frozen: no dw)
// One workgroup per row (row = wid.x + wid.y * nwg.x, grid split by grid1d).

// The weight is bound as u32 words: f32 bits, or bf16 pairs (bf16_unpack from bf16.wgsl, prepended by the host).
override W_BF16: bool = false;
// Backward: dinp += instead of =.
override ACCUMULATE: bool = false;

// Threads per row (a power of two): the host picks the smallest of 32, 64, 128 that covers C, since
// threads beyond C only add zeros to the tree sum (the same result) and cost barrier rounds.
override WG: u32 = 128u;

struct Params { N: u32, C: u32, eps: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;

// Shared by both entry points (same slots in both argument lists).
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<u32>;

// rmsnormForward(out, rstd, inp, weight)
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd_out: array<f32>;

// rmsnormBackward(dinp, dout, inp, weight, rstd)
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> rstd_in: array<f32>;

var<workgroup> red: array<f32, WG>;

fn w(c: u32) -> f32 {
  if (W_BF16) {
    return bf16_unpack(weight[c >> 1u], c);
  }
  return bitcast<f32>(weight[c]);
}

// Tree sum over the workgroup; every invocation gets the total.
fn workgroup_sum(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn rmsnorm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var ss = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let x = inp[base + c];
    ss = fma(x, x, ss);
  }
  let r = inverseSqrt(workgroup_sum(lid, ss) / f32(p.C) + p.eps);
  if (lid == 0u) { rstd_out[row] = r; }
  for (var c = lid; c < p.C; c += WG) {
    out[base + c] = inp[base + c] * r * w(c);
  }
}

@compute @workgroup_size(WG)
fn rmsnorm_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var dot = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    dot = fma(dout[base + c] * w(c), inp[base + c], dot);
  }
  let r = rstd_in[row];
  let coef = r * r * r * workgroup_sum(lid, dot) / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    var g = r * w(c) * dout[base + c] - coef * inp[base + c];
    if (ACCUMULATE) { g = g + dinp[base + c]; }
    dinp[base + c] = g;
  }
}
