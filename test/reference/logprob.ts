// Float64 reference of shaders/logprob.wgsl + the lm_head products (same argument order as
// src/engine/kernels/logprob.ts, minus ctx and scratch): full softmax over the vocabulary.

/** z[m, v] = h[m, :] . lmHead[v, :]. */
function logit(h: Float64Array, lmHead: Float64Array, m: number, v: number, C: number): number {
  let s = 0;
  for (let c = 0; c < C; c++) s += h[m * C + c] * lmHead[v * C + c];
  return s;
}

function logits(h: Float64Array, lmHead: Float64Array, m: number, C: number, V: number): Float64Array {
  return Float64Array.from({ length: V }, (_, v) => logit(h, lmHead, m, v, C));
}

function logsumexp(z: Float64Array): number {
  let mx = -Infinity;
  for (const x of z) mx = Math.max(mx, x);
  let s = 0;
  for (const x of z) s += Math.exp(x - mx);
  return mx + Math.log(s);
}

/** logprob[m] = z[m, t_m] - lse[m], argmax[m] = first index of max z[m, :], z = h lmHead^T. */
export function logprobForward(
  logprob: Float64Array,
  argmax: Int32Array,
  lse: Float64Array,
  h: Float64Array,
  lmHead: Float64Array,
  targets: Int32Array,
  M: number,
  C: number,
  V: number,
): void {
  for (let m = 0; m < M; m++) {
    const z = logits(h, lmHead, m, C, V);
    let am = 0;
    for (let v = 1; v < V; v++) if (z[v] > z[am]) am = v;
    argmax[m] = am;
    lse[m] = logsumexp(z);
    const t = targets[m];
    logprob[m] = t >= 0 && t < V ? z[t] - lse[m] : NaN;
  }
}

/** logprob[m] = z[m, t_m] - lse[m] with a given lse (NaN for a target outside [0, V)). */
export function logprobOfTargets(
  logprob: Float64Array,
  h: Float64Array,
  lmHead: Float64Array,
  targets: Int32Array,
  lse: Float64Array,
  M: number,
  C: number,
  V: number,
): void {
  for (let m = 0; m < M; m++) {
    const t = targets[m];
    logprob[m] = t >= 0 && t < V ? logit(h, lmHead, m, t, C) - lse[m] : NaN;
  }
}

/**
 * dh[m, :] = dlogprob[m] * (lmHead[t_m, :] - sum_v softmax(z[m])_v lmHead[v, :]), plus the same
 * for second.targets with second.dlogprob on rows m < second.M.
 */
export function logprobBackward(
  dh: Float64Array,
  dlogprob: Float64Array,
  h: Float64Array,
  lmHead: Float64Array,
  targets: Int32Array,
  lse: Float64Array,
  M: number,
  C: number,
  V: number,
  second?: { dlogprob: Float64Array; targets: Int32Array; M: number },
): void {
  for (let m = 0; m < M; m++) {
    const z = logits(h, lmHead, m, C, V);
    for (let c = 0; c < C; c++) dh[m * C + c] = 0;
    const two = second && m < second.M;
    for (let v = 0; v < V; v++) {
      const p = Math.exp(z[v] - lse[m]);
      let g = dlogprob[m] * ((v === targets[m] ? 1 : 0) - p);
      if (two) g += second.dlogprob[m] * ((v === second.targets[m] ? 1 : 0) - p);
      for (let c = 0; c < C; c++) dh[m * C + c] += g * lmHead[v * C + c];
    }
  }
}

/** sums[s] = sum of logprob[m] over rows with seqOfRow[m] == s; other rows count nowhere. */
export function sequenceLogprobSum(sums: Float64Array, logprob: Float64Array, seqOfRow: Int32Array, M: number, S: number): void {
  sums.fill(0, 0, S);
  for (let m = 0; m < M; m++) {
    const s = seqOfRow[m];
    if (s >= 0 && s < S) sums[s] += logprob[m];
  }
}
