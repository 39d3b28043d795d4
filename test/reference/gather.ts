// Float64 reference of shaders/gather.wgsl (same argument order as src/engine/kernels/gather.ts).

/** out[m, :] = inp[rows[m], :]; rows out of [0, N) give zeros. */
export function gatherRows(out: Float64Array, inp: Float64Array, rows: Int32Array, M: number, C: number): void {
  const N = Math.floor(inp.length / C);
  for (let m = 0; m < M; m++) {
    const r = rows[m];
    for (let c = 0; c < C; c++) out[m * C + c] = r >= 0 && r < N ? inp[r * C + c] : 0;
  }
}

/** dinp[rows[m], :] += dout[m, :]; rows out of [0, N) are skipped. */
export function scatterAddRows(dinp: Float64Array, dout: Float64Array, rows: Int32Array, M: number, C: number): void {
  const N = Math.floor(dinp.length / C);
  for (let m = 0; m < M; m++) {
    const r = rows[m];
    if (r < 0 || r >= N) continue;
    for (let c = 0; c < C; c++) dinp[r * C + c] += dout[m * C + c];
  }
}
