// Linear layers, weights [OUT, IN] as checkpoints store them:
//   forward:          out[T, OUT]  (+)= inp[T, IN] W^T
//   backward_input:   dinp[T, IN]  (+)= dout[T, OUT] W
//   backward_weight:  dW[OUT, IN]  +=  dout^T inp
// All three are one tiled product C[M, N] = (C +) alpha * sum_k A(m, k) B(k, n) over strided operands
// A(m, k) = a[aOff + m aSm + k aSk], B(k, n) = b[bOff + k bSk + n bSn] (LoRA reuses it with other
// strides). B is read as u32 so that it can be f32 bits or bf16 pairs (BF16; bf16_unpack from bf16.wgsl,
// which the host prepends).
// Split-K (few outputs, long sums): workgroup z sums k in [z kPer, (z + 1) kPer) into the partial
// slice c[z, M, N] (partial = 1), and linear_reduce adds the slices into C.
struct Params {
  M: u32, N: u32, K: u32, accumulate: u32,
  aOff: u32, aSm: u32, aSk: u32, bOff: u32,
  bSk: u32, bSn: u32, alpha: f32, kPer: u32,
  partial: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<u32>;

override BF16: bool = false;
// Tile shape: WX x WY threads, each owning an 8 x 8 block of C, K in slices of BK.
// 8 x 8 / 16 for square products; 2 x 32 / 8 and 32 x 2 / 8 for thin ones (LoRA rank, few tokens).
override WX: u32 = 8u;
override WY: u32 = 8u;
override BK: u32 = 16u;

// Tiles in workgroup memory as vec4 along m (A) and n (B): [k][m / 4], [k][n / 4].
// (64 + 64) x 16 x 4 B = 8 KiB for the square tile, (256 + 16) x 8 x 4 B for the thin ones.
var<workgroup> As: array<vec4<f32>, BK * WY * 2u>;
var<workgroup> Bs: array<vec4<f32>, BK * WX * 2u>;

fn loadB(i: u32) -> f32 {
  if (BF16) {
    return bf16_unpack(b[i >> 1u], i);
  }
  return bitcast<f32>(b[i]);
}

// cBase: the partial slice's offset under split-K, else 0.
fn store(cBase: u32, m: u32, n: u32, v: f32) {
  if (m < p.M && n < p.N) {
    let o = cBase + m * p.N + n;
    if (p.partial != 0u) { c[o] = v; return; }
    var r = p.alpha * v;
    if (p.accumulate != 0u) { r += c[o]; }
    c[o] = r;
  }
}

fn storeRow(cBase: u32, m: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (m >= p.M) { return; }
  store(cBase, m, n, lo.x); store(cBase, m, n + 1u, lo.y); store(cBase, m, n + 2u, lo.z); store(cBase, m, n + 3u, lo.w);
  store(cBase, m, n + 4u, hi.x); store(cBase, m, n + 5u, hi.y); store(cBase, m, n + 6u, hi.z); store(cBase, m, n + 7u, hi.w);
}

// Fetches are branch-free (clamped index + select): SwiftShader's compile time grows fast with branches.
fn matmul(li: u32, wid: vec3u) {
  // Tile sizes are powers of two: index with shifts and masks (integer division is slow on CPU adapters).
  let BM = WY * 8u;
  let BN = WX * 8u;
  let bmShift = countTrailingZeros(BM);
  let bnShift = countTrailingZeros(BN);
  let bkShift = countTrailingZeros(BK);
  let tx = li & (WX - 1u);
  let ty = li >> countTrailingZeros(WX);
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  // Walk the contiguous dimension with consecutive invocations (coalesced global reads).
  let aKFast = p.aSk == 1u;
  let bKFast = p.bSk == 1u;
  var c00 = vec4<f32>(); var c01 = vec4<f32>(); var c10 = vec4<f32>(); var c11 = vec4<f32>();
  var c20 = vec4<f32>(); var c21 = vec4<f32>(); var c30 = vec4<f32>(); var c31 = vec4<f32>();
  var c40 = vec4<f32>(); var c41 = vec4<f32>(); var c50 = vec4<f32>(); var c51 = vec4<f32>();
  var c60 = vec4<f32>(); var c61 = vec4<f32>(); var c70 = vec4<f32>(); var c71 = vec4<f32>();
  let kBegin = wid.z * p.kPer;
  let kEnd = min(p.K, kBegin + p.kPer);
  for (var k0 = kBegin; k0 < kEnd; k0 += BK) {
    for (var e = li; e < BM * BK; e += WX * WY) {
      let mm = select(e & (BM - 1u), e >> bkShift, aKFast);
      let kk = select(e >> bmShift, e & (BK - 1u), aKFast);
      let gm = m0 + mm;
      let gk = k0 + kk;
      let ok = gm < p.M && gk < kEnd;
      let v = a[select(0u, p.aOff + gm * p.aSm + gk * p.aSk, ok)];
      As[(kk << (bmShift - 2u)) + (mm >> 2u)][mm & 3u] = select(0.0, v, ok);
    }
    for (var e = li; e < BN * BK; e += WX * WY) {
      let nn = select(e & (BN - 1u), e >> bkShift, bKFast);
      let kk = select(e >> bnShift, e & (BK - 1u), bKFast);
      let gn = n0 + nn;
      let gk = k0 + kk;
      let ok = gn < p.N && gk < kEnd;
      let v = loadB(select(0u, p.bOff + gk * p.bSk + gn * p.bSn, ok));
      Bs[(kk << (bnShift - 2u)) + (nn >> 2u)][nn & 3u] = select(0.0, v, ok);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ai = (kk << (bmShift - 2u)) + ty * 2u;
      let bi = (kk << (bnShift - 2u)) + tx * 2u;
      let a0 = As[ai];
      let a1 = As[ai + 1u];
      let b0 = Bs[bi];
      let b1 = Bs[bi + 1u];
      c00 = fma(vec4<f32>(a0.x), b0, c00); c01 = fma(vec4<f32>(a0.x), b1, c01);
      c10 = fma(vec4<f32>(a0.y), b0, c10); c11 = fma(vec4<f32>(a0.y), b1, c11);
      c20 = fma(vec4<f32>(a0.z), b0, c20); c21 = fma(vec4<f32>(a0.z), b1, c21);
      c30 = fma(vec4<f32>(a0.w), b0, c30); c31 = fma(vec4<f32>(a0.w), b1, c31);
      c40 = fma(vec4<f32>(a1.x), b0, c40); c41 = fma(vec4<f32>(a1.x), b1, c41);
      c50 = fma(vec4<f32>(a1.y), b0, c50); c51 = fma(vec4<f32>(a1.y), b1, c51);
      c60 = fma(vec4<f32>(a1.z), b0, c60); c61 = fma(vec4<f32>(a1.z), b1, c61);
      c70 = fma(vec4<f32>(a1.w), b0, c70); c71 = fma(vec4<f32>(a1.w), b1, c71);
    }
    workgroupBarrier();
  }
  let m = m0 + ty * 8u;
  let n = n0 + tx * 8u;
  let cBase = wid.z * p.M * p.N;
  storeRow(cBase, m, n, c00, c01);
  storeRow(cBase, m + 1u, n, c10, c11);
  storeRow(cBase, m + 2u, n, c20, c21);
  storeRow(cBase, m + 3u, n, c30, c31);
  storeRow(cBase, m + 4u, n, c40, c41);
  storeRow(cBase, m + 5u, n, c50, c51);
  storeRow(cBase, m + 6u, n, c60, c61);
  storeRow(cBase, m + 7u, n, c70, c71);
}

// One entry point for all three layouts, which differ only in the strides:
//   forward          A = inp [T, IN] (aSk = 1), B(k, n) = W[n, k] (bSk = 1);
//   backward_input   A = dout [T, OUT], B(k, n) = W[k, n] (bSn = 1);
//   backward_weight  A(m, k) = dout[k, m] (aSm = 1), B(k, n) = inp[k, n] (bSn = 1).
// Every entry point is a pipeline to compile per tile shape, and a CPU adapter takes one to two
// seconds for each of these unrolled tiles: one entry compiles half as many as one per layout.
@compute @workgroup_size(WX * WY)
fn linear_tiled(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u) {
  matmul(li, wid);
}

// Split-K: C[i] = (C[i] +) alpha * sum_z part[z, i]; the partials come in through binding 2 (a),
// K holds the number of slices. 1-D over M N (grid1d).
@compute @workgroup_size(256)
fn linear_reduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.y * nwg.x * 256u + gid.x;
  let mn = p.M * p.N;
  if (i >= mn) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.K; z++) { s += a[z * mn + i]; }
  var r = p.alpha * s;
  if (p.accumulate != 0u) { r += c[i]; }
  c[i] = r;
}

// Few tokens (T <= 4, KV-cache decoding): a tiled product would waste most of its rows, so each
// workgroup takes 32 output features (rows of W from element bOff; a from element aOff); 16 lanes split K, each lane 8 features x all tokens (vec4
// over tokens), then the lanes' partial sums are added through workgroup memory.
override GV_T: u32 = 1u;
var<workgroup> gvSum: array<vec4<f32>, 512>; // [feature 32][lane 16], 8 KiB

fn gvLoadX(t: u32, k: u32) -> f32 {
  // Tokens past T read row 0 and are dropped at the store.
  return a[p.aOff + select(0u, t, t < GV_T) * p.K + k];
}

@compute @workgroup_size(64)
fn linear_forward_gemv(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3u,
                       @builtin(num_workgroups) nwg: vec3u) {
  let lane = li % 16u;
  let slot = li / 16u;
  let n0 = (wid.y * nwg.x + wid.x) * 32u;
  let r0 = n0 + slot * 8u; // this invocation's 8 features
  let last = p.N - 1u;
  let wb = p.bOff; // a window of rows of W (the head's vocabulary chunks)
  let w0 = wb + min(r0, last) * p.K; let w1 = wb + min(r0 + 1u, last) * p.K;
  let w2 = wb + min(r0 + 2u, last) * p.K; let w3 = wb + min(r0 + 3u, last) * p.K;
  let w4 = wb + min(r0 + 4u, last) * p.K; let w5 = wb + min(r0 + 5u, last) * p.K;
  let w6 = wb + min(r0 + 6u, last) * p.K; let w7 = wb + min(r0 + 7u, last) * p.K;
  var s0 = vec4<f32>(); var s1 = vec4<f32>(); var s2 = vec4<f32>(); var s3 = vec4<f32>();
  var s4 = vec4<f32>(); var s5 = vec4<f32>(); var s6 = vec4<f32>(); var s7 = vec4<f32>();
  for (var k = lane; k < p.K; k += 16u) {
    var x = vec4<f32>(gvLoadX(0u, k), 0.0, 0.0, 0.0);
    if (GV_T > 1u) { x.y = gvLoadX(1u, k); }
    if (GV_T > 2u) { x.z = gvLoadX(2u, k); }
    if (GV_T > 3u) { x.w = gvLoadX(3u, k); }
    s0 = fma(vec4<f32>(loadB(w0 + k)), x, s0);
    s1 = fma(vec4<f32>(loadB(w1 + k)), x, s1);
    s2 = fma(vec4<f32>(loadB(w2 + k)), x, s2);
    s3 = fma(vec4<f32>(loadB(w3 + k)), x, s3);
    s4 = fma(vec4<f32>(loadB(w4 + k)), x, s4);
    s5 = fma(vec4<f32>(loadB(w5 + k)), x, s5);
    s6 = fma(vec4<f32>(loadB(w6 + k)), x, s6);
    s7 = fma(vec4<f32>(loadB(w7 + k)), x, s7);
  }
  let base = slot * 128u + lane; // feature (slot * 8 + j) at [(slot * 8 + j) * 16 + lane]
  gvSum[base] = s0; gvSum[base + 16u] = s1; gvSum[base + 32u] = s2; gvSum[base + 48u] = s3;
  gvSum[base + 64u] = s4; gvSum[base + 80u] = s5; gvSum[base + 96u] = s6; gvSum[base + 112u] = s7;
  workgroupBarrier();
  // 32 features x 4 token slots = 128 sums, two per invocation.
  for (var o = li; o < 128u; o += 64u) {
    let f = o / 4u;
    let t = o % 4u;
    var s = 0.0;
    for (var l = 0u; l < 16u; l++) { s += gvSum[f * 16u + l][t]; }
    if (t < GV_T) { store(0u, t, n0 + f, s); }
  }
}

// Few tokens against many outputs (T <= 4 rows against a vocabulary chunk of the head while
// decoding): one invocation per output feature, all rows at once (vec4 over rows), k in order as
// in the tiled product, so the two give the same sums. No workgroup memory and no barrier: on a
// CPU adapter this is 4-5x the tile's speed (which computes 16 rows for 4), and the outputs alone
// fill a GPU. Rows past M read row M - 1 and are dropped at the store.
fn colLoadX(m: u32, k: u32) -> f32 {
  return a[p.aOff + min(m, p.M - 1u) * p.K + k];
}

@compute @workgroup_size(64)
fn linear_forward_columns(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32,
                          @builtin(num_workgroups) nwg: vec3u) {
  let n = (wid.y * nwg.x + wid.x) * 64u + li;
  if (n >= p.N) { return; }
  let w = p.bOff + n * p.K;
  var s = vec4<f32>();
  var k0 = 0u;
  if (BF16 && (w & 1u) == 0u) {
    // bf16 pairs from one word (rows start on a word when K and bOff are even).
    for (; k0 + 1u < p.K; k0 += 2u) {
      let word = b[(w + k0) >> 1u];
      s = fma(vec4<f32>(bitcast<f32>(word << 16u)), vec4<f32>(colLoadX(0u, k0), colLoadX(1u, k0), colLoadX(2u, k0), colLoadX(3u, k0)), s);
      let k1 = k0 + 1u;
      s = fma(vec4<f32>(bitcast<f32>(word & 0xffff0000u)), vec4<f32>(colLoadX(0u, k1), colLoadX(1u, k1), colLoadX(2u, k1), colLoadX(3u, k1)), s);
    }
  }
  for (var k = k0; k < p.K; k++) {
    s = fma(vec4<f32>(loadB(w + k)), vec4<f32>(colLoadX(0u, k), colLoadX(1u, k), colLoadX(2u, k), colLoadX(3u, k)), s);
  }
  store(0u, 0u, n, s.x); store(0u, 1u, n, s.y); store(0u, 2u, n, s.z); store(0u, 3u, n, s.w);
}
