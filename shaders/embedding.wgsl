// embedding_forward:      out[n, c] = table[tokens[n], c]   (ids outside [0, V) give zeros)
// embedding_replace_rows: out[positions[m], c] = rows[m, c] (image features over their placeholder rows)
// One workgroup per row (row = wid.x + wid.y * nwg.x). No backward: embeddings and image features are frozen.

// The table is bound as u32 words: f32 bits, or bf16 pairs (bf16_unpack from bf16.wgsl, prepended by the host).
override W_BF16: bool = false;

const WG: u32 = 64u;

// embeddingForward: N token rows, V table rows. replaceRows: N = M feature rows, V = rows of out.
struct Params { N: u32, C: u32, V: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;

@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// embeddingForward(out, tokens, table)
@group(0) @binding(2) var<storage, read> tokens: array<i32>;
@group(0) @binding(3) var<storage, read> table: array<u32>;

// replaceRows(out, rows, positions)
@group(0) @binding(2) var<storage, read> rows: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<i32>;

fn table_at(i: u32) -> f32 {
  if (W_BF16) {
    return bf16_unpack(table[i >> 1u], i);
  }
  return bitcast<f32>(table[i]);
}

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
  let n = wid.x + wid.y * nwg.x;
  if (n >= p.N) { return; }
  let t = tokens[n];
  let ok = t >= 0 && u32(t) < p.V;
  let src = u32(max(t, 0)) * p.C;
  for (var c = lid; c < p.C; c += WG) {
    var x = 0.0;
    if (ok) { x = table_at(src + c); }
    out[n * p.C + c] = x;
  }
}

@compute @workgroup_size(WG)
fn embedding_replace_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                          @builtin(local_invocation_index) lid: u32) {
  let m = wid.x + wid.y * nwg.x;
  if (m >= p.N) { return; }
  let r = positions[m];
  if (r < 0 || u32(r) >= p.V) { return; }
  for (var c = lid; c < p.C; c += WG) {
    out[u32(r) * p.C + c] = rows[m * p.C + c];
  }
}
