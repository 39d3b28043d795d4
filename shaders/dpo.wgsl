// POVID / DPO loss on per-sequence log-prob sums, D(y) = policy(y) - reference(y):
//   povid: L = wText*softplus(-beta(Dw-Dt)) + wNoise*softplus(-beta(Dw-Dn)); dpo-text: softplus(-beta(Dw-Dt));
//   weighted: softplus(-(alpha*Dw - beta1*Dt - beta2*Dn)); mean over E examples, with d loss / d policy.
// Plus an optional SFT term on the chosen answers (TRL's loss_type "sft", formerly rpo_alpha):
//   sftWeight * (-sum_e policy_chosen_e) / (chosen answer tokens in the batch), i.e. sftScale = weight / tokens.

struct Params {
  E: u32,
  mode: u32, // 0 povid, 1 dpo-text, 2 weighted
  beta: f32,
  wText: f32,
  wNoise: f32,
  alpha: f32,
  beta1: f32,
  beta2: f32,
  sftScale: f32, // sftWeight / chosen answer tokens of the batch; 0 = no SFT term
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> loss: array<f32>;     // [1]
@group(0) @binding(2) var<storage, read_write> dPolicy: array<f32>;  // [E*3]
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;    // [E*8]
@group(0) @binding(4) var<storage, read> policy: array<f32>;         // [E*3] chosen, text, noise
@group(0) @binding(5) var<storage, read> reference: array<f32>;      // [E*3]

const WG = 64u;
const K = 8u;
var<workgroup> partial: array<f32, 64>;

// log(1 + u) for u in [0, 1], accurate where u is tiny (WGSL has no log1p).
fn log1p_small(u: f32) -> f32 {
  if (u < 1e-4) { return u * (1.0 - u * (0.5 - u / 3.0)); }
  return log(1.0 + u);
}

// softplus(x) = log(1 + exp(x)) without overflow.
fn softplus(x: f32) -> f32 {
  return max(x, 0.0) + log1p_small(exp(-abs(x)));
}

fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}

@compute @workgroup_size(64)
fn dpo_forward(@builtin(local_invocation_index) lid: u32) {
  let invE = 1.0 / f32(p.E);
  var acc = 0.0;
  // Each thread sums its examples in order, then a fixed tree: the result does not depend on timing.
  for (var e = lid; e < p.E; e += WG) {
    let dw = policy[3u * e] - reference[3u * e];
    let dt = policy[3u * e + 1u] - reference[3u * e + 1u];
    let dn = policy[3u * e + 2u] - reference[3u * e + 2u];
    var le = 0.0;
    var gw = 0.0;
    var gt = 0.0;
    var gn = 0.0;
    if (p.mode == 2u) {
      let z = p.alpha * dw - (p.beta1 * dt + p.beta2 * dn);
      let s = sigmoid(-z); // d softplus(-z) / d(-z)
      le = softplus(-z);
      gw = -s * p.alpha;
      gt = s * p.beta1;
      gn = s * p.beta2;
    } else {
      var wt = p.wText;
      var wn = p.wNoise;
      if (p.mode == 1u) { wt = 1.0; wn = 0.0; }
      let zt = p.beta * (dw - dt);
      let zn = p.beta * (dw - dn);
      let st = sigmoid(-zt);
      // Skipped when unweighted, so an unused noise slot (dpo-text) cannot leak NaN into the loss.
      var sn = 0.0;
      le = wt * softplus(-zt);
      if (wn != 0.0) {
        sn = sigmoid(-zn);
        le += wn * softplus(-zn);
      }
      gw = -p.beta * (wt * st + wn * sn);
      gt = p.beta * wt * st;
      gn = p.beta * wn * sn;
    }
    if (p.sftScale != 0.0) {
      // Added per example before the mean over E, so scaled by E: the term itself is a token mean.
      le -= p.sftScale * f32(p.E) * policy[3u * e];
    }
    dPolicy[3u * e] = gw * invE - p.sftScale;
    dPolicy[3u * e + 1u] = gt * invE;
    dPolicy[3u * e + 2u] = gn * invE;
    let o = K * e;
    stats[o] = p.beta * dw;
    stats[o + 1u] = p.beta * dt;
    stats[o + 2u] = p.beta * dn;
    stats[o + 3u] = p.beta * (dw - dt);
    stats[o + 4u] = p.beta * (dw - dn);
    stats[o + 5u] = select(0.0, 1.0, dw > dt);
    stats[o + 6u] = select(0.0, 1.0, dw > dn);
    stats[o + 7u] = le;
    acc += le;
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { loss[0] = partial[0] * invE; }
}
