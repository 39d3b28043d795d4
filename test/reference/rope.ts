// Float64 reference of shaders/rope.wgsl (same argument order as src/engine/kernels/rope.ts).
// Llama rotate-half: element i pairs with i + HD/2 and both use inv_freq[i] = theta^(-2i/HD).

/** inv_freq[i] = theta^(-2i / HD) for i in [0, HD/2). */
export function ropeInvFreq(HD: number, theta: number): Float64Array {
  const f = new Float64Array(HD / 2);
  for (let i = 0; i < HD / 2; i++) f[i] = Math.pow(theta, (-2 * i) / HD);
  return f;
}

function rotate(
  out: Float64Array,
  inp: Float64Array,
  positions: Int32Array,
  N: number,
  NH: number,
  HD: number,
  theta: number,
  sign: number,
): void {
  const half = HD / 2;
  const invFreq = ropeInvFreq(HD, theta);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < NH; h++) {
      const base = (n * NH + h) * HD;
      for (let i = 0; i < half; i++) {
        const angle = sign * positions[n] * invFreq[i];
        const cos = Math.cos(angle);
        const sin = Math.sin(angle);
        const x1 = inp[base + i];
        const x2 = inp[base + i + half];
        out[base + i] = x1 * cos - x2 * sin;
        out[base + i + half] = x2 * cos + x1 * sin;
      }
    }
  }
}

/** out = inp * cos + rotate_half(inp) * sin, angle = positions[n] * inv_freq; inp [N, NH*HD]. out may be inp. */
export function ropeForward(
  out: Float64Array,
  inp: Float64Array,
  positions: Int32Array,
  N: number,
  NH: number,
  HD: number,
  theta: number,
): void {
  rotate(out, inp, positions, N, NH, HD, theta, 1);
}

/** The transpose of the forward rotation: rotation by -angle. dinp may be dout. */
export function ropeBackward(
  dinp: Float64Array,
  dout: Float64Array,
  positions: Int32Array,
  N: number,
  NH: number,
  HD: number,
  theta: number,
): void {
  rotate(dinp, dout, positions, N, NH, HD, theta, -1);
}
