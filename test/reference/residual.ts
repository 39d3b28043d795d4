// Float64 reference of shaders/residual.wgsl (same argument order as src/engine/kernels/residual.ts).

/** out = a + b elementwise (out may be a). */
export function residualForward(out: Float64Array, a: Float64Array, b: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/** acc += x elementwise. */
export function addInPlace(acc: Float64Array, x: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) acc[i] += x[i];
}
