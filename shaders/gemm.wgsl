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

// Few rows (decoding, thin LoRA products): one output per invocation, 256 along n.
@compute @workgroup_size(256, 1)
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

// Many rows: 64 x 64 output tiles through workgroup memory, 16-deep K slices, each of the 256
// invocations accumulating a 4 x 4 block (rows ty*4.., columns tx + 16 j).
const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> As: array<f32, 1024>; // [BK][BM]
var<workgroup> Bs: array<f32, 1024>; // [BK][BN]

@compute @workgroup_size(16, 16)
fn gemm_tiled(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let K = p.K;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var r = 0u; r < 4u; r++) {
      let e = tid + r * 256u;
      // A: consecutive invocations take consecutive k of one row (row-major A reads coalesce).
      let kk = e % BK;
      let mm = e / BK;
      let gm = m0 + mm;
      let gk = k0 + kk;
      var va = 0.0;
      if (gm < p.M && gk < K) { va = a[p.aOff + gm * p.aSm + gk * p.aSk]; }
      As[kk * BM + mm] = va;
      // B: consecutive k of one column n (weights stored [N, K] read along K).
      let nn = e / BK;
      let gn = n0 + nn;
      var vb = 0.0;
      if (gn < p.N && gk < K) { vb = loadB(p.bOff + gk * p.bSk + gn * p.bSn); }
      Bs[kk * BN + nn] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ka = kk * BM + ty * 4u;
      let kb = kk * BN + tx;
      let b = vec4<f32>(Bs[kb], Bs[kb + 16u], Bs[kb + 32u], Bs[kb + 48u]);
      acc0 = fma(vec4<f32>(As[ka]), b, acc0);
      acc1 = fma(vec4<f32>(As[ka + 1u]), b, acc1);
      acc2 = fma(vec4<f32>(As[ka + 2u]), b, acc2);
      acc3 = fma(vec4<f32>(As[ka + 3u]), b, acc3);
    }
    workgroupBarrier();
  }
  let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let gm = m0 + ty * 4u + i;
    if (gm >= p.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let gn = n0 + tx + j * 16u;
      if (gn < p.N) {
        let idx = gm * p.N + gn;
        var v = p.alpha * accs[i][j];
        if (p.accumulate != 0u) { v += c[idx]; }
        c[idx] = v;
      }
    }
  }
}

// Split-K: when M x N is small and K long (the lm_head backward: dh = g W over 49,280 vocabulary
// rows), workgroup z computes the partial sum over its slice of K into part[z, M, N]; gemm_reduce
// then adds the slices. Same bindings as gemm, with binding 1 (c) holding the partials.

@compute @workgroup_size(256, 1)
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
