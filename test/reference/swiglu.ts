// Float64 reference of shaders/swiglu.wgsl (same argument order as src/engine/kernels/swiglu.ts).

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** out = silu(gate) * up, silu(g) = g * sigmoid(g). */
export function swigluForward(out: Float64Array, gate: Float64Array, up: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

/** dgate = dout * up * s * (1 + g * (1 - s)), dup = dout * silu(g), s = sigmoid(g). Both overwritten. */
export function swigluBackward(
  dgate: Float64Array,
  dup: Float64Array,
  dout: Float64Array,
  gate: Float64Array,
  up: Float64Array,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const s = sigmoid(g);
    dgate[i] = dout[i] * up[i] * s * (1 + g * (1 - s));
    dup[i] = dout[i] * g * s;
  }
}
