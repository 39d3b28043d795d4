// Float64 reference of shaders/rmsnorm.wgsl (same argument order as src/engine/kernels/rmsnorm.ts).

/** rstd[n] = 1 / sqrt(mean(inp[n]^2) + eps); out[n, c] = inp[n, c] * rstd[n] * weight[c]. */
export function rmsnormForward(
  out: Float64Array,
  rstd: Float64Array,
  inp: Float64Array,
  weight: Float64Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += inp[n * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) out[n * C + c] = inp[n * C + c] * r * weight[c];
  }
}

/**
 * dinp = rstd * weight * dout - inp * rstd^3 / C * sum_c(dout * weight * inp), per row.
 * Overwrites dinp, or adds to it with `accumulate`. The weight is frozen: no dweight.
 */
export function rmsnormBackward(
  dinp: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  weight: Float64Array,
  rstd: Float64Array,
  N: number,
  C: number,
  opts: { accumulate?: boolean } = {},
): void {
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dout[n * C + c] * weight[c] * inp[n * C + c];
    const coef = (r * r * r * dot) / C;
    for (let c = 0; c < C; c++) {
      const g = r * weight[c] * dout[n * C + c] - coef * inp[n * C + c];
      dinp[n * C + c] = opts.accumulate ? dinp[n * C + c] + g : g;
    }
  }
}
