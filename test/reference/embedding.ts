// Float64 reference of shaders/embedding.wgsl (same argument order as src/engine/kernels/embedding.ts).

/** out[n, :] = table[tokens[n], :]; ids outside [0, V) give zeros. table is [V, C]. */
export function embeddingForward(out: Float64Array, tokens: Int32Array, table: Float64Array, N: number, C: number): void {
  const V = Math.floor(table.length / C);
  for (let n = 0; n < N; n++) {
    const t = tokens[n];
    for (let c = 0; c < C; c++) out[n * C + c] = t >= 0 && t < V ? table[t * C + c] : 0;
  }
}

/** out[positions[m], :] = rows[m, :] (image features over their placeholder rows); positions outside out are skipped. */
export function replaceRows(out: Float64Array, rows: Float64Array, positions: Int32Array, M: number, C: number): void {
  const N = Math.floor(out.length / C);
  for (let m = 0; m < M; m++) {
    const r = positions[m];
    if (r < 0 || r >= N) continue;
    for (let c = 0; c < C; c++) out[r * C + c] = rows[m * C + c];
  }
}
