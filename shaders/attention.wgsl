// attention_forward: out_i = sum_j softmax_j(scale q_i.k_j) v_j over the keys query i sees
//   (j <= q_offset + i, key j real, query i real), online softmax over K/V tiles in workgroup
//   memory; lse_i = log sum_j exp(scale q_i.k_j) saved for the backward (natural log).
// attention_forward_decode: the same for a few queries (KV-cache decoding), keys split across a workgroup.
// attention_backward_*: flash-attention backward, P recomputed from lse:
//   D_i = dout_i.out_i, P_ij = exp(scale q_i.k_j - lse_i), dP_ij = dout_i.v_j, dS_ij = P_ij (dP_ij - D_i),
//   dq_i = scale sum_j dS_ij k_j, dk_j = scale sum_i dS_ij q_i, dv_j = sum_i P_ij dout_i.
//
// Layouts: q, out, dout [B*Tq, NH*HD]; k, v [B*kv_stride, NKV*HD] (row b*kv_stride + j);
// mask [B*kv_stride] (1 = real); lse [B, NH, Tq]. Query head h reads KV head h / (NH / NKV).
// Softmax runs in base 2: scores are scaled by scale * log2(e) and exponentiated with exp2.
// The backward kernels handle the training case: Tq = Tk = kv_stride = T, q_offset = 0.

const HD: u32 = 64u; // head_dim: the host wrapper rewrites this line (a multiple of 4, at most 256)
const HD4: u32 = HD / 4u;
const BQ: u32 = 64u; // rows per workgroup, one per invocation: queries (forward, dq) or keys (dkv)
const BK: u32 = clamp(1024u / HD, 4u, 16u); // rows per tile: two [BK, HD] f32 tiles fit in 8 KiB
const LOG2E: f32 = 1.4426950408889634;
const LN2: f32 = 0.6931471805599453;
// "No score": below any real scaled score, and the lse of a row that sees no key.
const NEG_BIG: f32 = -3.0e38;

struct Params {
  B: u32,
  Tq: u32,
  Tk: u32,
  NH: u32,
  NKV: u32,
  q_offset: u32,
  kv_stride: u32,
  scale_log2: f32, // log2(e) / sqrt(HD)
  scale: f32, // 1 / sqrt(HD)
  _p0: u32,
  _p1: u32,
  _p2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;

// attentionForward(out, lse, q, k, v, keyMask); q, k, v are shared with the dq kernel.
@group(0) @binding(1) var<storage, read_write> fw_out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> fw_lse: array<f32>;
@group(0) @binding(3) var<storage, read> q_in: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> k_in: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> v_in: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> fw_mask: array<u32>;

// Backward step 1 (stats, dout, out, lse): stats[b, h, i] = (lse * log2(e), D).
@group(0) @binding(1) var<storage, read_write> st_stats: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> st_dout: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> st_out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> st_lse: array<f32>;

// Backward step 2 (dq, dout, q, k, v, stats, keyMask).
@group(0) @binding(1) var<storage, read_write> dq_dq: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> dq_dout: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> dq_stats: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read> dq_mask: array<u32>;

// Backward step 3 (dk, dv, dout, q, k, v, stats, keyMask).
@group(0) @binding(1) var<storage, read_write> kv_dk: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> kv_dv: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> kv_dout: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> kv_q: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> kv_k: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> kv_v: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> kv_stats: array<vec2<f32>>;
@group(0) @binding(8) var<storage, read> kv_mask: array<u32>;

// K/V tile (forward, dq) or Q/dout tile (dkv), with per-row flags.
var<workgroup> tile_a: array<vec4<f32>, BK * HD4>;
var<workgroup> tile_b: array<vec4<f32>, BK * HD4>;
var<workgroup> tile_ok: array<u32, BK>;
var<workgroup> tile_st: array<vec2<f32>, BK>;

// Keys [t0, t0 + BK) of KV head kvh into tile_a (k) / tile_b (v); rows at or past kend are zero.
fn load_kv_tile(kbase: u32, kvh: u32, t0: u32, kend: u32, lid: u32) {
  for (var e = lid; e < BK * HD4; e += BQ) {
    let r = e / HD4;
    let j = t0 + r;
    var kk = vec4<f32>(0.0);
    var vv = vec4<f32>(0.0);
    if (j < kend) {
      let a = ((kbase + j) * p.NKV + kvh) * HD4 + (e - r * HD4);
      kk = k_in[a];
      vv = v_in[a];
    }
    tile_a[e] = kk;
    tile_b[e] = vv;
  }
}

@compute @workgroup_size(BQ)
fn attention_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wid.z;
  let h = wid.y;
  let kvh = h / (p.NH / p.NKV);
  let i0 = wid.x * BQ;
  let i = i0 + lid;
  let kbase = b * p.kv_stride;
  var live = false;
  if (i < p.Tq) { live = fw_mask[kbase + p.q_offset + i] != 0u; }
  let qa = ((b * p.Tq + i) * p.NH + h) * HD4;
  var q: array<vec4<f32>, HD4>;
  var o: array<vec4<f32>, HD4>;
  if (live) {
    for (var d = 0u; d < HD4; d++) { q[d] = q_in[qa + d] * p.scale_log2; }
  }
  var m = NEG_BIG; // running max of the base-2 scores
  var l = 0.0; // running sum of exp2(score - m)
  let last = p.q_offset + i; // the last key this query may see
  // Keys past the workgroup's last query are invisible to all of it (uniform bound for the barriers).
  let kend = min(p.Tk, p.q_offset + min(i0 + BQ, p.Tq));
  for (var t0 = 0u; t0 < kend; t0 += BK) {
    workgroupBarrier();
    load_kv_tile(kbase, kvh, t0, kend, lid);
    if (lid < BK) {
      let j = t0 + lid;
      var ok = 0u;
      if (j < kend) { ok = fw_mask[kbase + j]; }
      tile_ok[lid] = ok;
    }
    workgroupBarrier();
    if (live) {
      var s: array<f32, BK>;
      var tmax = NEG_BIG;
      for (var r = 0u; r < BK; r++) {
        var x = NEG_BIG;
        if (tile_ok[r] != 0u && t0 + r <= last) {
          var acc = vec4<f32>(0.0);
          for (var d = 0u; d < HD4; d++) { acc = fma(q[d], tile_a[r * HD4 + d], acc); }
          x = acc.x + acc.y + acc.z + acc.w;
          tmax = max(tmax, x);
        }
        s[r] = x;
      }
      if (tmax > NEG_BIG) {
        let mn = max(m, tmax);
        let c = exp2(m - mn);
        l = l * c;
        for (var d = 0u; d < HD4; d++) { o[d] = o[d] * c; }
        for (var r = 0u; r < BK; r++) {
          if (s[r] > NEG_BIG) {
            let pr = exp2(s[r] - mn);
            l = l + pr;
            for (var d = 0u; d < HD4; d++) { o[d] = fma(vec4<f32>(pr), tile_b[r * HD4 + d], o[d]); }
          }
        }
        m = mn;
      }
    }
  }
  if (i < p.Tq) {
    let seen = live && l > 0.0;
    let inv = select(0.0, 1.0 / l, seen);
    for (var d = 0u; d < HD4; d++) { fw_out[qa + d] = o[d] * inv; }
    fw_lse[(b * p.NH + h) * p.Tq + i] = select(NEG_BIG, (m + log2(l)) * LN2, seen);
  }
}

// Few queries (KV-cache decoding): one workgroup per query row, its 64 invocations split the keys.
// Per chunk of DC keys: scores into workgroup memory, then every invocation reads the chunk's max
// and sum (broadcast reads, identical results), and accumulates p * v for one vec4 of head dims
// over its share of the keys; the shares are summed at the end.
const DC: u32 = 256u; // keys per chunk
const DQ: u32 = 64u; // invocations per workgroup
const DG: u32 = DQ / HD4; // key shares (invocation = share * HD4 + dim quad)
var<workgroup> dec_q: array<vec4<f32>, HD4>;
var<workgroup> dec_s: array<f32, DC>;
var<workgroup> dec_o: array<vec4<f32>, DQ>;

@compute @workgroup_size(DQ)
fn attention_forward_decode(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x;
  let h = wid.y;
  let b = wid.z;
  let kvh = h / (p.NH / p.NKV);
  let kbase = b * p.kv_stride;
  let live = fw_mask[kbase + p.q_offset + i] != 0u;
  let qa = ((b * p.Tq + i) * p.NH + h) * HD4;
  if (lid < HD4) { dec_q[lid] = q_in[qa + lid] * p.scale_log2; }
  let share = lid / HD4;
  let quad = lid - share * HD4;
  var o = vec4<f32>(0.0);
  var m = NEG_BIG;
  var l = 0.0;
  let kend = min(p.Tk, p.q_offset + i + 1u); // keys this query may see: [0, kend)
  for (var c0 = 0u; c0 < kend; c0 += DC) {
    let n = min(DC, kend - c0);
    workgroupBarrier(); // dec_q written / previous chunk consumed
    for (var r = lid; r < DC; r += DQ) {
      var x = NEG_BIG;
      let j = c0 + r;
      if (r < n && fw_mask[kbase + j] != 0u) {
        let a = ((kbase + j) * p.NKV + kvh) * HD4;
        var acc = vec4<f32>(0.0);
        for (var d = 0u; d < HD4; d++) { acc = fma(dec_q[d], k_in[a + d], acc); }
        x = acc.x + acc.y + acc.z + acc.w;
      }
      dec_s[r] = x;
    }
    workgroupBarrier();
    var cmax = NEG_BIG;
    for (var r = 0u; r < n; r++) { cmax = max(cmax, dec_s[r]); }
    let mn = max(m, cmax);
    workgroupBarrier(); // everyone has read the scores
    for (var r = lid; r < n; r += DQ) {
      let x = dec_s[r];
      dec_s[r] = select(0.0, exp2(x - mn), x > NEG_BIG);
    }
    workgroupBarrier();
    if (cmax > NEG_BIG) {
      let c = exp2(m - mn);
      var sum = 0.0;
      for (var r = 0u; r < n; r++) { sum += dec_s[r]; }
      l = l * c + sum;
      o = o * c;
      if (share < DG) {
        for (var r = share; r < n; r += DG) {
          let pr = dec_s[r];
          if (pr > 0.0) { o = fma(vec4<f32>(pr), v_in[((kbase + c0 + r) * p.NKV + kvh) * HD4 + quad], o); }
        }
      }
      m = mn;
    }
  }
  dec_o[lid] = o;
  workgroupBarrier();
  if (lid < HD4) {
    var total = vec4<f32>(0.0);
    for (var g = 0u; g < DG; g++) { total += dec_o[g * HD4 + lid]; }
    let seen = live && l > 0.0;
    fw_out[qa + lid] = total * select(0.0, 1.0 / l, seen);
    if (lid == 0u) { fw_lse[(b * p.NH + h) * p.Tq + i] = select(NEG_BIG, (m + log2(l)) * LN2, seen); }
  }
}

@compute @workgroup_size(64)
fn attention_backward_stats(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                            @builtin(local_invocation_index) lid: u32) {
  let g = (wid.x + wid.y * nwg.x) * 64u + lid; // (b * NH + h) * T + i
  let T = p.Tq;
  if (g >= p.B * p.NH * T) { return; }
  let i = g % T;
  let bh = g / T;
  let h = bh % p.NH;
  let b = bh / p.NH;
  let a = ((b * T + i) * p.NH + h) * HD4;
  var acc = vec4<f32>(0.0);
  for (var d = 0u; d < HD4; d++) { acc = fma(st_dout[a + d], st_out[a + d], acc); }
  let lse = st_lse[g];
  // Rows that saw no key are skipped by the next steps; keep their value finite.
  st_stats[g] = vec2<f32>(select(lse * LOG2E, NEG_BIG, lse < -1.0e37), acc.x + acc.y + acc.z + acc.w);
}

@compute @workgroup_size(BQ)
fn attention_backward_dq(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = p.Tq;
  let b = wid.z;
  let h = wid.y;
  let kvh = h / (p.NH / p.NKV);
  let i0 = wid.x * BQ;
  let i = i0 + lid;
  let kbase = b * T;
  var live = false;
  if (i < T) { live = dq_mask[kbase + i] != 0u; }
  let qa = ((b * T + i) * p.NH + h) * HD4;
  var q: array<vec4<f32>, HD4>;
  var g: array<vec4<f32>, HD4>; // dout row
  var dq: array<vec4<f32>, HD4>;
  var st = vec2<f32>(0.0);
  if (live) {
    for (var d = 0u; d < HD4; d++) {
      q[d] = q_in[qa + d] * p.scale_log2;
      g[d] = dq_dout[qa + d];
    }
    st = dq_stats[(b * p.NH + h) * T + i];
  }
  let kend = min(T, i0 + BQ);
  for (var t0 = 0u; t0 < kend; t0 += BK) {
    workgroupBarrier();
    load_kv_tile(kbase, kvh, t0, kend, lid);
    if (lid < BK) {
      let j = t0 + lid;
      var ok = 0u;
      if (j < kend) { ok = dq_mask[kbase + j]; }
      tile_ok[lid] = ok;
    }
    workgroupBarrier();
    if (live) {
      for (var r = 0u; r < BK; r++) {
        if (tile_ok[r] != 0u && t0 + r <= i) {
          var sa = vec4<f32>(0.0);
          var da = vec4<f32>(0.0);
          for (var d = 0u; d < HD4; d++) {
            sa = fma(q[d], tile_a[r * HD4 + d], sa);
            da = fma(g[d], tile_b[r * HD4 + d], da);
          }
          let pr = exp2(sa.x + sa.y + sa.z + sa.w - st.x);
          let ds = pr * (da.x + da.y + da.z + da.w - st.y);
          for (var d = 0u; d < HD4; d++) { dq[d] = fma(vec4<f32>(ds), tile_a[r * HD4 + d], dq[d]); }
        }
      }
    }
  }
  if (i < T) {
    let f = select(0.0, p.scale, live);
    for (var d = 0u; d < HD4; d++) { dq_dq[qa + d] = dq[d] * f; }
  }
}

@compute @workgroup_size(BQ)
fn attention_backward_dkv(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let T = p.Tq;
  let b = wid.z;
  let kvh = wid.y;
  let G = p.NH / p.NKV;
  let j0 = wid.x * BQ;
  let j = j0 + lid;
  var live = false;
  if (j < T) { live = kv_mask[b * T + j] != 0u; }
  let ka = ((b * T + j) * p.NKV + kvh) * HD4;
  var kr: array<vec4<f32>, HD4>;
  var vr: array<vec4<f32>, HD4>;
  var dk: array<vec4<f32>, HD4>;
  var dv: array<vec4<f32>, HD4>;
  if (live) {
    for (var d = 0u; d < HD4; d++) {
      kr[d] = kv_k[ka + d] * p.scale_log2;
      vr[d] = kv_v[ka + d];
    }
  }
  // Every query head of the group, queries from j0 on (earlier ones see none of these keys).
  for (var hg = 0u; hg < G; hg++) {
    let h = kvh * G + hg;
    for (var t0 = j0; t0 < T; t0 += BK) {
      workgroupBarrier();
      for (var e = lid; e < BK * HD4; e += BQ) {
        let r = e / HD4;
        let i = t0 + r;
        var qq = vec4<f32>(0.0);
        var gg = vec4<f32>(0.0);
        if (i < T) {
          let a = ((b * T + i) * p.NH + h) * HD4 + (e - r * HD4);
          qq = kv_q[a];
          gg = kv_dout[a];
        }
        tile_a[e] = qq;
        tile_b[e] = gg;
      }
      if (lid < BK) {
        let i = t0 + lid;
        var ok = 0u;
        var st = vec2<f32>(0.0);
        if (i < T) {
          ok = kv_mask[b * T + i];
          st = kv_stats[(b * p.NH + h) * T + i];
        }
        tile_ok[lid] = ok;
        tile_st[lid] = st;
      }
      workgroupBarrier();
      if (live) {
        for (var r = 0u; r < BK; r++) {
          if (tile_ok[r] != 0u && t0 + r >= j) {
            var sa = vec4<f32>(0.0);
            var da = vec4<f32>(0.0);
            for (var d = 0u; d < HD4; d++) {
              sa = fma(tile_a[r * HD4 + d], kr[d], sa);
              da = fma(tile_b[r * HD4 + d], vr[d], da);
            }
            let st = tile_st[r];
            let pr = exp2(sa.x + sa.y + sa.z + sa.w - st.x);
            let ds = pr * (da.x + da.y + da.z + da.w - st.y);
            for (var d = 0u; d < HD4; d++) {
              dv[d] = fma(vec4<f32>(pr), tile_b[r * HD4 + d], dv[d]);
              dk[d] = fma(vec4<f32>(ds), tile_a[r * HD4 + d], dk[d]);
            }
          }
        }
      }
    }
  }
  if (j < T) {
    let f = select(0.0, 1.0, live);
    for (var d = 0u; d < HD4; d++) {
      kv_dk[ka + d] = dk[d] * (f * p.scale);
      kv_dv[ka + d] = dv[d] * f;
    }
  }
}
