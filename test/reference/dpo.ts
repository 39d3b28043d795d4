// Float64 reference of shaders/dpo.wgsl (same argument order as src/engine/kernels/dpo.ts).
export type PovidMode = 'povid' | 'dpo-text' | 'weighted';
export interface PovidLossParams {
  beta: number;
  mode: PovidMode;
  wText: number;
  wNoise: number;
  alpha?: number;
  beta1?: number;
  beta2?: number;
  /** Which y_n the reference side of the noise term scores (povid.ts; the loss itself only sees sums). */
  noiseReference?: 'own-argmax' | 'policy-argmax';
  /** Weight of the SFT term: sftWeight * mean NLL of the chosen answers' tokens over the batch. */
  sftWeight?: number;
}

const K = 8;
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/**
 * loss[0] mean over E (+ the SFT term); dPolicy [E*3]; stats [E*8]; policy/reference [E*3]
 * (chosen, text, noise); chosenTokens: answer tokens of the chosen sequences together.
 */
export function povidLossForward(
  loss: Float64Array,
  dPolicy: Float64Array,
  stats: Float64Array,
  policy: Float64Array,
  reference: Float64Array,
  E: number,
  params: PovidLossParams,
  chosenTokens = 0,
): void {
  const { beta, mode } = params;
  const sftWeight = params.sftWeight ?? 0;
  if (sftWeight !== 0 && !(chosenTokens >= 1)) throw new Error('the SFT term needs chosenTokens >= 1');
  const sft = sftWeight === 0 ? 0 : sftWeight / chosenTokens;
  const alpha = params.alpha ?? beta;
  const beta1 = params.beta1 ?? params.wText * beta;
  const beta2 = params.beta2 ?? params.wNoise * beta;
  let total = 0;
  for (let e = 0; e < E; e++) {
    const dw = policy[3 * e] - reference[3 * e];
    const dt = policy[3 * e + 1] - reference[3 * e + 1];
    const dn = policy[3 * e + 2] - reference[3 * e + 2];
    let le: number;
    let g: [number, number, number];
    if (mode === 'weighted') {
      const z = alpha * dw - (beta1 * dt + beta2 * dn);
      const s = sigmoid(-z);
      le = softplus(-z);
      g = [-s * alpha, s * beta1, s * beta2];
    } else {
      const wt = mode === 'dpo-text' ? 1 : params.wText;
      const wn = mode === 'dpo-text' ? 0 : params.wNoise;
      const zt = beta * (dw - dt);
      const zn = beta * (dw - dn);
      const st = sigmoid(-zt);
      const sn = wn !== 0 ? sigmoid(-zn) : 0;
      le = wt * softplus(-zt) + (wn !== 0 ? wn * softplus(-zn) : 0);
      g = [-beta * (wt * st + wn * sn), beta * wt * st, beta * wn * sn];
    }
    le -= sft * E * policy[3 * e]; // the batch's token-mean NLL, E times this example's share
    for (let k = 0; k < 3; k++) dPolicy[3 * e + k] = g[k] / E;
    dPolicy[3 * e] -= sft;
    stats.set([beta * dw, beta * dt, beta * dn, beta * (dw - dt), beta * (dw - dn), dw > dt ? 1 : 0, dw > dn ? 1 : 0, le], K * e);
    total += le;
  }
  loss[0] = total / E;
}
