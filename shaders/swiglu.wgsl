// swiglu_forward:  out = silu(g) * u, silu(g) = g * s, s = sigmoid(g)
// swiglu_backward: dg = dout * u * s * (1 + g * (1 - s)), du = dout * silu(g)   (both overwritten)
// One invocation per element (index = (wid.x + wid.y * nwg.x) * 256 + lid).

struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;

// swigluForward(out, gate, up)
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;

// swigluBackward(dgate, dup, dout, gate, up)
@group(0) @binding(1) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(2) var<storage, read_write> dup: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> gate_b: array<f32>;
@group(0) @binding(5) var<storage, read> up_b: array<f32>;

// exp of a non-positive number only: no overflow for any finite g.
fn sigmoid(g: f32) -> f32 {
  let e = exp(-abs(g));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), g >= 0.0);
}

@compute @workgroup_size(256)
fn swiglu_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let g = gate[i];
  out[i] = g * sigmoid(g) * up[i];
}

@compute @workgroup_size(256)
fn swiglu_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  let g = gate_b[i];
  let s = sigmoid(g);
  let d = dout[i];
  dgate[i] = d * up_b[i] * s * (1.0 + g * (1.0 - s));
  dup[i] = d * g * s;
}
