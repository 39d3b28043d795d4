// Float64 reference of the linear layer, weights [OUT, IN]: Y = X W^T.

/** out[T, OUT] (+)= inp[T, IN] W^T */
export function linearForward(
  out: Float64Array,
  inp: Float64Array,
  weight: Float64Array,
  T: number,
  IN: number,
  OUT: number,
  opts: { accumulate?: boolean } = {},
): void {
  for (let t = 0; t < T; t++)
    for (let o = 0; o < OUT; o++) {
      let s = 0;
      for (let i = 0; i < IN; i++) s += inp[t * IN + i] * weight[o * IN + i];
      out[t * OUT + o] = (opts.accumulate ? out[t * OUT + o] : 0) + s;
    }
}

/** dinp[T, IN] (+)= dout[T, OUT] W */
export function linearBackwardInput(
  dinp: Float64Array,
  dout: Float64Array,
  weight: Float64Array,
  T: number,
  IN: number,
  OUT: number,
  opts: { accumulate?: boolean } = {},
): void {
  for (let t = 0; t < T; t++)
    for (let i = 0; i < IN; i++) {
      let s = 0;
      for (let o = 0; o < OUT; o++) s += dout[t * OUT + o] * weight[o * IN + i];
      dinp[t * IN + i] = (opts.accumulate ? dinp[t * IN + i] : 0) + s;
    }
}

/** dW[OUT, IN] += dout^T inp */
export function linearBackwardWeight(
  dweight: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  T: number,
  IN: number,
  OUT: number,
): void {
  for (let o = 0; o < OUT; o++)
    for (let i = 0; i < IN; i++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += dout[t * OUT + o] * inp[t * IN + i];
      dweight[o * IN + i] += s;
    }
}
