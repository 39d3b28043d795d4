// Float64 reference of LoRA on a linear layer (PEFT shapes A [R, IN], B [OUT, R], scale = alpha / r).
import { linearBackwardInput, linearBackwardWeight, linearForward } from './linear';

/** xa = inp A^T; out += scale * xa B^T */
export function loraForward(
  out: Float64Array,
  xa: Float64Array,
  inp: Float64Array,
  A: Float64Array,
  B: Float64Array,
  T: number,
  IN: number,
  OUT: number,
  R: number,
  scale: number,
): void {
  linearForward(xa, inp, A, T, IN, R);
  const y = new Float64Array(T * OUT);
  linearForward(y, xa, B, T, R, OUT);
  for (let i = 0; i < y.length; i++) out[i] += scale * y[i];
}

/** dB += scale dout^T xa; dxa = scale dout B; dA += dxa^T inp; dinp += dxa A */
export function loraBackward(
  dinp: Float64Array,
  dA: Float64Array,
  dB: Float64Array,
  dxa: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  xa: Float64Array,
  A: Float64Array,
  B: Float64Array,
  T: number,
  IN: number,
  OUT: number,
  R: number,
  scale: number,
): void {
  const scaled = dout.map((x) => x * scale);
  linearBackwardWeight(dB, scaled, xa, T, R, OUT);
  linearBackwardInput(dxa, scaled, B, T, R, OUT);
  linearBackwardWeight(dA, dxa, inp, T, IN, R);
  linearBackwardInput(dinp, dxa, A, T, IN, R, { accumulate: true });
}
