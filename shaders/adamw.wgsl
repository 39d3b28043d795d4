// adamw_step: g = grads*scale*clip, clip = min(1, maxNorm / (|grads*scale| + 1e-6));
//   m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p = p(1 - lr wd) - (lr/bc1) m / (sqrt(v)/sqrt(bc2) + eps)
// adamw_norm_sq: partial sums of squares (first pass) or of values (later passes), 2048 per workgroup.
// adamw_check_finite: flag = 1 if any x is NaN or +-Inf (exponent bits all ones).

const WG = 256u;
const PER_THREAD = 8u;

fn linear_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// ---- reduction -------------------------------------------------------------------------------

struct ReduceParams { n: u32, square: u32 }

@group(0) @binding(0) var<uniform> rp: ReduceParams;
@group(0) @binding(1) var<storage, read_write> red_out: array<f32>;
@group(0) @binding(2) var<storage, read> red_in: array<f32>;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn adamw_norm_sq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                 @builtin(local_invocation_index) lid: u32) {
  let block = linear_index(wid, nwg);
  let base = block * WG * PER_THREAD;
  var acc = 0.0;
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = base + k * WG + lid; // coalesced: neighbouring threads read neighbouring values
    if (i < rp.n) {
      let x = red_in[i];
      acc += select(x, x * x, rp.square != 0u);
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u && base < rp.n) { red_out[block] = partial[0]; }
}

// ---- optimizer step --------------------------------------------------------------------------

// 1 - beta and 1 - lr*wd come from float64 on the host: 1 - f32(0.999) is off by 1.3e-5 relative.
struct StepParams {
  n: u32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  eps: f32,
  decay: f32,      // 1 - lr * weightDecay
  stepSize: f32,   // lr / (1 - beta1^step)
  bc2Sqrt: f32,    // sqrt(1 - beta2^step)
  maxNorm: f32,    // 0: no clipping
  gradScale: f32,
}

@group(0) @binding(0) var<uniform> sp: StepParams;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;
@group(0) @binding(5) var<storage, read> normSq: array<f32>;

@compute @workgroup_size(256)
fn adamw_step(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg) * WG + lid;
  if (i >= sp.n) { return; }
  var clip = 1.0;
  if (sp.maxNorm > 0.0) {
    let norm = sqrt(normSq[0]) * sp.gradScale;
    clip = min(1.0, sp.maxNorm / (norm + 1e-6));
  }
  let g = grads[i] * (sp.gradScale * clip);
  let m = sp.beta1 * m1[i] + sp.oneMinusBeta1 * g;
  let v = sp.beta2 * m2[i] + sp.oneMinusBeta2 * g * g;
  m1[i] = m;
  m2[i] = v;
  let p = params[i] * sp.decay;
  params[i] = p - sp.stepSize * m / (sqrt(v) / sp.bc2Sqrt + sp.eps);
}

// ---- non-finite check ------------------------------------------------------------------------

struct CheckParams { n: u32 }

@group(0) @binding(0) var<uniform> cp: CheckParams;
@group(0) @binding(1) var<storage, read_write> flag: array<u32>;
// Read as bits: a float test such as x != x may be folded away by the compiler.
@group(0) @binding(2) var<storage, read> bits: array<u32>;

@compute @workgroup_size(256)
fn adamw_check_finite(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                      @builtin(local_invocation_index) lid: u32) {
  let i = linear_index(wid, nwg) * WG + lid;
  if (i >= cp.n) { return; }
  if ((bits[i] & 0x7f800000u) == 0x7f800000u) { flag[0] = 1u; }
}
