// Answer-token log-probs from lm_head logits taken Vc vocabulary columns at a time:
//   logprob[m] = z[m, t_m] - logsumexp_v z[m, v];  argmax[m] = argmax_v z[m, v] (lowest index on ties)
//   backward: g[m, v] = dlogprob[m] * ([v == t_m] - exp(z[m, v] - lse[m]))  (then dh = g W, by the host)

// ---- forward: merge one chunk z[:, v0 .. v0+W) into the running (max, sum-exp, argmax, target) ----

struct ChunkParams {
  M: u32,
  W: u32,      // columns in this chunk (the row stride of `logits`)
  v0: u32,     // vocabulary index of column 0
  flags: u32,  // 1: first chunk (start the running state), 2: last chunk (write lse and logprob)
}

@group(0) @binding(0) var<uniform> cp: ChunkParams;
@group(0) @binding(1) var<storage, read_write> f_logprob: array<f32>; // [M] target logit until the last chunk
@group(0) @binding(2) var<storage, read_write> f_argmax: array<i32>;  // [M]
@group(0) @binding(3) var<storage, read_write> f_lse: array<f32>;     // [M]
@group(0) @binding(4) var<storage, read_write> f_state: array<f32>;   // [M, 2] running max, running sum of exp(z - max)
@group(0) @binding(5) var<storage, read> f_logits: array<f32>;        // [M, W]
@group(0) @binding(6) var<storage, read> f_targets: array<i32>;       // [M]

const WG = 256u;
// Below any real logit; exp(LOW - x) underflows to 0 for every finite x of interest.
const LOW = -3.0e38;

var<workgroup> s_max: array<f32, 256>;
var<workgroup> s_sum: array<f32, 256>;
var<workgroup> s_arg: array<u32, 256>;

@compute @workgroup_size(256)
fn logprob_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let m = wid.y * nwg.x + wid.x; // one workgroup per row
  if (m >= cp.M) { return; }     // uniform per workgroup, so barriers below stay uniform
  let row = m * cp.W;
  // Each thread: online softmax over its strided columns, in increasing column order.
  var mx = LOW;
  var sm = 0.0;
  var am = 0xffffffffu;
  for (var j = lid; j < cp.W; j += WG) {
    let x = f_logits[row + j];
    if (x > mx) {
      sm = sm * exp(mx - x) + 1.0;
      mx = x;
      am = j;
    } else {
      sm += exp(x - mx);
    }
  }
  s_max[lid] = mx;
  s_sum[lid] = sm;
  s_arg[lid] = am;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ma = s_max[lid];
      let mb = s_max[lid + s];
      let mn = max(ma, mb);
      s_sum[lid] = s_sum[lid] * exp(ma - mn) + s_sum[lid + s] * exp(mb - mn);
      // Ties go to the lower column, whichever thread saw it.
      if (mb > ma || (mb == ma && s_arg[lid + s] < s_arg[lid])) { s_arg[lid] = s_arg[lid + s]; }
      s_max[lid] = mn;
    }
    workgroupBarrier();
  }
  if (lid != 0u) { return; }
  let cmax = s_max[0];
  let csum = s_sum[0];
  let carg = i32(cp.v0 + s_arg[0]);
  let t = f_targets[m];
  var tgt = f_logprob[m];
  var rmax = cmax;
  var rsum = csum;
  if ((cp.flags & 1u) != 0u) {
    // A target outside [0, V) is never met: NaN then flows into the loss, where checks catch it.
    // (Built from a uniform: a constant NaN is a WGSL compile error.)
    tgt = bitcast<f32>(0x7fc00000u | (cp.flags & 0x80000000u));
    f_argmax[m] = carg;
  } else {
    let pmax = f_state[2u * m];
    let psum = f_state[2u * m + 1u];
    rmax = max(pmax, cmax);
    rsum = psum * exp(pmax - rmax) + csum * exp(cmax - rmax);
    // Chunks come in increasing order, so only a strictly larger max moves the argmax.
    if (cmax > pmax) { f_argmax[m] = carg; }
  }
  if (t >= i32(cp.v0) && t < i32(cp.v0 + cp.W)) { tgt = f_logits[row + u32(t) - cp.v0]; }
  if ((cp.flags & 2u) != 0u) {
    let lse = rmax + log(rsum);
    f_lse[m] = lse;
    f_logprob[m] = tgt - lse;
  } else {
    f_state[2u * m] = rmax;
    f_state[2u * m + 1u] = rsum;
    f_logprob[m] = tgt;
  }
}

// ---- another target on rows already swept: logprob[m] = h[m] . W[t_m] - lse[m] ------------------
// (POVID scores y_n on the chosen answer's rows: the log-normaliser is the sweep's.) The dot sums
// k in order with fma, as the sweep's product does, so the logit is the sweep's to the bit.

struct TargetParams { M: u32, C: u32, V: u32, bf16: u32 }

@group(0) @binding(0) var<uniform> tp: TargetParams;
@group(0) @binding(1) var<storage, read_write> t_logprob: array<f32>; // [M]
@group(0) @binding(2) var<storage, read> t_h: array<f32>;             // [M, C]
@group(0) @binding(3) var<storage, read> t_w: array<u32>;             // [V, C] f32 bits or bf16 pairs
@group(0) @binding(4) var<storage, read> t_targets: array<i32>;       // [M]
@group(0) @binding(5) var<storage, read> t_lse: array<f32>;           // [M]

// bf16_unpack: bf16.wgsl, prepended by the host.
fn t_weight(i: u32) -> f32 {
  if (tp.bf16 != 0u) { return bf16_unpack(t_w[i >> 1u], i); }
  return bitcast<f32>(t_w[i]);
}

@compute @workgroup_size(64)
fn logprob_target(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = gid.y * nwg.x * 64u + gid.x;
  if (m >= tp.M) { return; }
  let t = t_targets[m];
  if (t < 0 || u32(t) >= tp.V) {
    t_logprob[m] = bitcast<f32>(0x7fc00000u | (tp.bf16 & 0x80000000u)); // NaN, as the sweep gives
    return;
  }
  var s = 0.0;
  for (var k = 0u; k < tp.C; k++) { s = fma(t_h[m * tp.C + k], t_weight(u32(t) * tp.C + k), s); }
  t_logprob[m] = s - t_lse[m];
}

// ---- backward: logits chunk -> d logprob / d logits, in place ----------------------------------
// Rows m < M2 may carry a second target with its own d logprob (POVID's y_n on the chosen rows):
// the two log-probs share the logits, so one sweep serves both.

struct GradParams { M: u32, W: u32, v0: u32, M2: u32 }

@group(0) @binding(0) var<uniform> gp: GradParams;
@group(0) @binding(1) var<storage, read_write> b_g: array<f32>;       // [M, W] logits in, gradient out
@group(0) @binding(2) var<storage, read> b_targets: array<i32>;      // [M]
@group(0) @binding(3) var<storage, read> b_lse: array<f32>;          // [M]
@group(0) @binding(4) var<storage, read> b_dlogprob: array<f32>;     // [M]
@group(0) @binding(5) var<storage, read> b_targets2: array<i32>;     // [M2] (any one-word buffer when M2 = 0)
@group(0) @binding(6) var<storage, read> b_dlogprob2: array<f32>;    // [M2]

@compute @workgroup_size(256)
fn logprob_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= gp.M * gp.W) { return; }
  let m = i / gp.W;
  let v = gp.v0 + (i - m * gp.W);
  let p = exp(b_g[i] - b_lse[m]);
  let onehot = select(0.0, 1.0, b_targets[m] == i32(v));
  var g = b_dlogprob[m] * (onehot - p);
  if (m < gp.M2) {
    let m2 = min(m, gp.M2 - 1u);
    g += b_dlogprob2[m2] * (select(0.0, 1.0, b_targets2[m2] == i32(v)) - p);
  }
  b_g[i] = g;
}

// ---- per-sequence sums: sums[s] = sum of logprob[m] over rows with seq[m] == s -------------------

struct SumParams { M: u32, S: u32 }

@group(0) @binding(0) var<uniform> sp: SumParams;
@group(0) @binding(1) var<storage, read_write> q_sums: array<f32>;   // [S]
@group(0) @binding(2) var<storage, read> q_logprob: array<f32>;      // [M]
@group(0) @binding(3) var<storage, read> q_seq: array<i32>;          // [M]; outside [0, S): no sequence

var<workgroup> s_acc: array<f32, 256>;

@compute @workgroup_size(256)
fn logprob_sequence_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_index) lid: u32) {
  let s = wid.y * nwg.x + wid.x; // one workgroup per sequence; fixed order, so deterministic
  if (s >= sp.S) { return; }
  var acc = 0.0;
  for (var m = lid; m < sp.M; m += WG) {
    if (q_seq[m] == i32(s)) { acc += q_logprob[m]; }
  }
  s_acc[lid] = acc;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { s_acc[lid] += s_acc[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { q_sums[s] = s_acc[0]; }
}
