// Float64 reference of shaders/attention.wgsl (same argument order as src/engine/kernels/attention.ts).
//
// Causal grouped-query attention with a padding mask. Layouts (row-major):
//   q, out  [B*Tq, NH*HD]   row b*Tq + i, head h in columns h*HD .. h*HD+HD-1
//   k, v    [B*S, NKV*HD]   row b*S + j, S = opts.kvStride ?? Tk (rows per batch element)
//   keyMask [B*S]           1 = real token, 0 = padding
//   lse     [B, NH, Tq]     natural-log log-sum-exp of the scaled scores of the row
// Query i of batch b sits at absolute position qOffset + i and sees key j iff j <= qOffset + i,
// keyMask[b*S + j] = 1 and the query itself is real (keyMask[b*S + qOffset + i] = 1).
// Query head h reads KV head floor(h / (NH / NKV)); scale = 1 / sqrt(HD).
// A padding query (no visible key) gets out = 0 and lse = LSE_EMPTY.

/** lse stored for a row that sees no key (the f32 stand-in for log 0). */
export const LSE_EMPTY = -3.0e38;

export interface AttentionOptions {
  /** Rows per batch element in k, v and keyMask (a KV cache allocated longer than Tk). Default Tk. */
  kvStride?: number;
}

export function attentionForward(
  out: Float64Array,
  lse: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  keyMask: Uint32Array,
  B: number,
  Tq: number,
  Tk: number,
  NH: number,
  NKV: number,
  HD: number,
  qOffset: number,
  opts: AttentionOptions = {},
): void {
  const S = opts.kvStride ?? Tk;
  const G = NH / NKV;
  const scale = 1 / Math.sqrt(HD);
  const s = new Float64Array(Tk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / G);
      for (let i = 0; i < Tq; i++) {
        const qo = (b * Tq + i) * NH * HD + h * HD;
        const live = keyMask[b * S + qOffset + i] !== 0;
        const last = Math.min(Tk - 1, qOffset + i);
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          s[j] = -Infinity;
          if (!live || keyMask[b * S + j] === 0) continue;
          const ko = (b * S + j) * NKV * HD + kvh * HD;
          let dot = 0;
          for (let d = 0; d < HD; d++) dot += q[qo + d] * k[ko + d];
          s[j] = dot * scale;
          max = Math.max(max, s[j]);
        }
        for (let d = 0; d < HD; d++) out[qo + d] = 0;
        if (max === -Infinity) {
          lse[(b * NH + h) * Tq + i] = LSE_EMPTY;
          continue;
        }
        let sum = 0;
        for (let j = 0; j <= last; j++) sum += Math.exp(s[j] - max);
        for (let j = 0; j <= last; j++) {
          const p = Math.exp(s[j] - max) / sum;
          if (p === 0) continue;
          const vo = (b * S + j) * NKV * HD + kvh * HD;
          for (let d = 0; d < HD; d++) out[qo + d] += p * v[vo + d];
        }
        lse[(b * NH + h) * Tq + i] = max + Math.log(sum);
      }
    }
  }
}

/**
 * Training case (Tq = Tk = T, qOffset = 0, k/v row stride T). Overwrites dq, dk, dv; dk and dv sum
 * over the NH / NKV query heads sharing a KV head. P is recomputed from lse:
 *   P_ij = exp(scale q_i.k_j - lse_i), dv_j = sum_i P_ij dout_i, dP_ij = dout_i.v_j,
 *   dS_ij = P_ij (dP_ij - D_i) with D_i = dout_i.out_i, dq_i = scale sum_j dS_ij k_j, dk_j = scale sum_i dS_ij q_i.
 */
export function attentionBackward(
  dq: Float64Array,
  dk: Float64Array,
  dv: Float64Array,
  dout: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  out: Float64Array,
  lse: Float64Array,
  keyMask: Uint32Array,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HD: number,
): void {
  const G = NH / NKV;
  const scale = 1 / Math.sqrt(HD);
  dq.fill(0, 0, B * T * NH * HD);
  dk.fill(0, 0, B * T * NKV * HD);
  dv.fill(0, 0, B * T * NKV * HD);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / G);
      for (let i = 0; i < T; i++) {
        if (keyMask[b * T + i] === 0) continue; // padding query: out is constant 0
        const qo = (b * T + i) * NH * HD + h * HD;
        const L = lse[(b * NH + h) * T + i];
        let D = 0;
        for (let d = 0; d < HD; d++) D += dout[qo + d] * out[qo + d];
        for (let j = 0; j <= i; j++) {
          if (keyMask[b * T + j] === 0) continue;
          const ko = (b * T + j) * NKV * HD + kvh * HD;
          let dot = 0;
          let dp = 0;
          for (let d = 0; d < HD; d++) {
            dot += q[qo + d] * k[ko + d];
            dp += dout[qo + d] * v[ko + d];
          }
          const p = Math.exp(dot * scale - L);
          const ds = p * (dp - D);
          for (let d = 0; d < HD; d++) {
            dv[ko + d] += p * dout[qo + d];
            dq[qo + d] += ds * scale * k[ko + d];
            dk[ko + d] += ds * scale * q[qo + d];
          }
        }
      }
    }
  }
}
