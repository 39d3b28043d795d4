// POVID / DPO loss on per-sequence log-prob sums: one tiny dispatch, no CPU round trip.
// The kernel sees only the sums; which tokens the noise term scores (noiseReference) is decided
// by the step (step.ts) that computes them.
import type { Binding, GpuContext } from '../../gpu';
import code from '../../../shaders/dpo.wgsl?raw';
import { KernelArgumentError } from '../errors';

export type PovidMode = 'povid' | 'dpo-text' | 'weighted';

/**
 * Which noise-triggered answer the reference side of the noise term scores.
 * own-argmax: the reference model's own argmax under the noisy image (y_w teacher-forced), read
 *   from its clean-image log-softmax: the released code, which repeats the noisy procedure with
 *   the adapter off. policy-argmax: the policy's y_n, scored under the reference.
 * With a zero adapter (B = 0) the two argmaxes are the same tokens and so are the losses.
 */
export type NoiseReference = 'own-argmax' | 'policy-argmax';
export const NOISE_REFERENCES: readonly NoiseReference[] = ['own-argmax', 'policy-argmax'];

export interface PovidLossParams {
  /** DPO temperature (0.1 in the release). */
  beta: number;
  /** povid: the two DPO terms averaged (the released code); dpo-text: text-injected rejection
   * only (stage 1); weighted: the paper's single sigmoid over a weighted margin. */
  mode: PovidMode;
  /** povid weights of the text and noise terms (0.5 each in the release). */
  wText: number;
  wNoise: number;
  /** weighted mode: -log sigmoid(alpha*Dw - (beta1*Dt + beta2*Dn)); defaults beta, wText*beta, wNoise*beta. */
  alpha?: number;
  beta1?: number;
  beta2?: number;
  /** The reference side of the noise term (default 'own-argmax', the release's definition). */
  noiseReference?: NoiseReference;
  /**
   * Weight of an SFT term, the mean negative log-likelihood of the chosen answers' tokens over
   * the batch (TRL's loss_type 'sft' with this loss weight; rpo_alpha in older TRL). Default 0,
   * the release. It keeps the preferred answers likely while DPO pushes the pair apart.
   */
  sftWeight?: number;
}

/** Numbers per example in `stats`. */
export const POVID_STATS = 8;
/** Offsets in each example's `stats` row. Rewards are beta * (policy - reference) in every mode. */
export const PovidStat = {
  chosenReward: 0,
  textReward: 1,
  noiseReward: 2,
  /** chosenReward - textReward */
  textMargin: 3,
  /** chosenReward - noiseReward */
  noiseMargin: 4,
  /** 1 when the chosen answer's implicit reward beats the text-injected one, else 0 */
  textAccuracy: 5,
  noiseAccuracy: 6,
  /** this example's loss (the batch loss is the mean over examples; it holds E times its share of the SFT term) */
  loss: 7,
} as const;

const MODES: Record<PovidMode, number> = { povid: 0, 'dpo-text': 1, weighted: 2 };

/** d SFT term / d (one chosen answer's log-prob sum), negated: weight / tokens of the batch. */
export function sftScale(sftWeight: number, chosenTokens: number): number {
  if (sftWeight === 0) return 0;
  if (!(Number.isInteger(chosenTokens) && chosenTokens >= 1))
    throw new KernelArgumentError(
      'povidLoss',
      'chosenTokens',
      `= ${chosenTokens}; the SFT term needs the chosen answers' token count (>= 1)`,
    );
  return sftWeight / chosenTokens;
}

/** Fills in the defaults (weighted mode, noise reference) and checks every setting. */
export function resolvePovidParams(params: PovidLossParams): Required<PovidLossParams> {
  const r = {
    ...params,
    noiseReference: params.noiseReference ?? 'own-argmax',
    sftWeight: params.sftWeight ?? 0,
    alpha: params.alpha ?? params.beta,
    beta1: params.beta1 ?? params.wText * params.beta,
    beta2: params.beta2 ?? params.wNoise * params.beta,
  };
  if (!(r.mode in MODES))
    throw new KernelArgumentError('povidLoss', 'mode', `'${r.mode}': unknown mode; use 'povid', 'dpo-text' or 'weighted'`);
  for (const k of ['beta', 'wText', 'wNoise', 'alpha', 'beta1', 'beta2', 'sftWeight'] as const) {
    if (!Number.isFinite(r[k]))
      throw new KernelArgumentError('povidLoss', k, `= ${r[k]} is not a finite number; set it in the training settings`);
  }
  if (!NOISE_REFERENCES.includes(r.noiseReference))
    throw new KernelArgumentError(
      'povidLoss',
      'noiseReference',
      `'${r.noiseReference}': unknown; use 'own-argmax' (the release) or 'policy-argmax'`,
    );
  if (r.beta <= 0) throw new KernelArgumentError('povidLoss', 'beta', `= ${r.beta} must be > 0 (the release uses 0.1)`);
  if (r.sftWeight < 0) throw new KernelArgumentError('povidLoss', 'sftWeight', `= ${r.sftWeight} must be >= 0 (0 turns the SFT term off)`);
  return r;
}

/**
 * loss[0] = mean over E examples; dPolicy[3e + k] = d loss / d policy[3e + k] for
 * k = 0 chosen, 1 text-rejected, 2 noise-rejected; stats [E, POVID_STATS] (see PovidStat).
 * policy / reference: per-sequence log-prob sums [E, 3] in the same order.
 * chosenTokens: answer tokens of the E chosen sequences together, the SFT term's denominator
 * (needed only when params.sftWeight > 0).
 */
export function povidLossForward(
  ctx: GpuContext,
  loss: Binding,
  dPolicy: Binding,
  stats: Binding,
  policy: Binding,
  reference: Binding,
  E: number,
  params: PovidLossParams,
  chosenTokens = 0,
): void {
  if (!(E >= 1)) throw new KernelArgumentError('povidLossForward', 'E', `= ${E} examples; a batch needs at least one`);
  const r = resolvePovidParams(params);
  const buf = new ArrayBuffer(48); // 9 words, padded to the uniform's 16-byte size
  new Uint32Array(buf, 0, 2).set([E, MODES[r.mode]]);
  new Float32Array(buf, 8, 7).set([r.beta, r.wText, r.wNoise, r.alpha, r.beta1, r.beta2, sftScale(r.sftWeight, chosenTokens)]);
  ctx.dispatch(ctx.pipeline(code, 'dpo_forward'), ctx.uniform(buf), [loss, dPolicy, stats, policy, reference], [1]);
}
