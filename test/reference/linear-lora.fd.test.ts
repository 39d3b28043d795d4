// The float64 references of linear and LoRA backward against central finite differences.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng';
import { linearBackwardInput, linearBackwardWeight, linearForward } from './linear';
import { loraBackward, loraForward } from './lora';

const rng = new Rng(21);
const rand = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);

/** d/dx of L = <dout, f(x)> at a few entries of x, by central differences (eps 1e-6). */
function fd(x: Float64Array, f: () => Float64Array, dout: Float64Array, idx: number[]): number[] {
  const eps = 1e-6;
  return idx.map((i) => {
    const x0 = x[i];
    x[i] = x0 + eps;
    const up = dot(dout, f());
    x[i] = x0 - eps;
    const down = dot(dout, f());
    x[i] = x0;
    return (up - down) / (2 * eps);
  });
}

const close = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));

describe('reference backward vs finite differences (relative error <= 1e-6)', () => {
  it('linear: dX and dW', () => {
    const T = 5,
      IN = 7,
      OUT = 3;
    const x = rand(T * IN),
      w = rand(OUT * IN),
      dout = rand(T * OUT);
    const f = () => {
      const y = new Float64Array(T * OUT);
      linearForward(y, x, w, T, IN, OUT);
      return y;
    };
    const dx = new Float64Array(T * IN);
    const dw = new Float64Array(OUT * IN);
    linearBackwardInput(dx, dout, w, T, IN, OUT);
    linearBackwardWeight(dw, dout, x, T, IN, OUT);
    const ix = [0, 3, 17, 34];
    fd(x, f, dout, ix).forEach((g, k) => expect(close(dx[ix[k]], g)).toBeLessThan(1e-6));
    const iw = [0, 5, 11, 20];
    fd(w, f, dout, iw).forEach((g, k) => expect(close(dw[iw[k]], g)).toBeLessThan(1e-6));
  });

  it('LoRA: dA, dB and the dX contribution', () => {
    const T = 4,
      IN = 6,
      OUT = 5,
      R = 3,
      s = 1.7;
    const x = rand(T * IN),
      A = rand(R * IN),
      B = rand(OUT * R),
      dout = rand(T * OUT);
    const f = () => {
      const y = new Float64Array(T * OUT);
      loraForward(y, new Float64Array(T * R), x, A, B, T, IN, OUT, R, s);
      return y;
    };
    const xa = new Float64Array(T * R);
    loraForward(new Float64Array(T * OUT), xa, x, A, B, T, IN, OUT, R, s);
    const dx = new Float64Array(T * IN),
      dA = new Float64Array(R * IN),
      dB = new Float64Array(OUT * R);
    loraBackward(dx, dA, dB, new Float64Array(T * R), dout, x, xa, A, B, T, IN, OUT, R, s);
    const check = (v: Float64Array, grad: Float64Array, idx: number[]) =>
      fd(v, f, dout, idx).forEach((g, k) => expect(close(grad[idx[k]], g)).toBeLessThan(1e-6));
    check(x, dx, [0, 7, 23]);
    check(A, dA, [0, 8, 17]);
    check(B, dB, [0, 6, 14]);
  });
});
