// Strided GEMM, the one product behind every linear and LoRA op:
//   C[m, n] = beta * C[m, n] + alpha * sum_k A(m, k) * B(k, n)
// A(m, k) = a[aOff + m * aSm + k * aSk] (f32); B(k, n) = b[bOff + k * bSk + n * bSn], f32 or bf16
// packed two per u32 (BF16 defined by the host: even element in the low half). C is [M, N] row-major.
struct Params {
  M: u32, N: u32, K: u32, accumulate: u32,
  aOff: u32, aSm: u32, aSk: u32, bOff: u32,
  bSk: u32, bSn: u32, alpha: f32, _pad: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
#ifdef BF16
@group(0) @binding(3) var<storage, read> b: array<u32>;
fn loadB(i: u32) -> f32 {
  let w = b[i >> 1u];
  return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));
}
#else
@group(0) @binding(3) var<storage, read> b: array<f32>;
fn loadB(i: u32) -> f32 { return b[i]; }
#endif

// One output per invocation: simple and robust (SwiftShader has crashed on some tiled variants).
@compute @workgroup_size(16, 16)
fn gemm(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m = gid.y;
  if (m >= p.M || n >= p.N) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc = fma(a[p.aOff + m * p.aSm + k * p.aSk], loadB(p.bOff + k * p.bSk + n * p.bSn), acc);
  }
  let idx = m * p.N + n;
  var v = p.alpha * acc;
  if (p.accumulate != 0u) { v += c[idx]; }
  c[idx] = v;
}

// Split-K: when M x N is small and K long (the lm_head backward: dh = g W over 49,280 vocabulary
// rows), workgroup z computes the partial sum over its slice of K into part[z, M, N]; gemm_reduce
// then adds the slices. Same bindings as gemm, with binding 1 (c) holding the partials.

@compute @workgroup_size(16, 16)
fn gemm_split(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let n = gid.x;
  let m = gid.y;
  let z = gid.z;
  if (m >= p.M || n >= p.N) { return; }
  let per = (p.K + nw.z - 1u) / nw.z;
  let k0 = z * per;
  let k1 = min(p.K, k0 + per);
  var acc = 0.0;
  for (var k = k0; k < k1; k++) {
    acc = fma(a[p.aOff + m * p.aSm + k * p.aSk], loadB(p.bOff + k * p.bSk + n * p.bSn), acc);
  }
  c[(z * p.M + m) * p.N + n] = acc;
}
