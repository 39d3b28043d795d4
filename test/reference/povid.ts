// Float64 reference of one POVID step (src/engine/step.ts; docs/method.md, "Loss"): per example
//   y_n     = argmax tokens of the policy on the NOISY image with y_w teacher-forced
//   y_n_ref = the same with the adapter off ('own-argmax', the released code's definition), or
//             y_n itself ('policy-argmax')
//   policy  = [log pi(y_w|clean), log pi(y_t|clean), log pi(y_n|clean)]  (y_n read from the y_w pass)
//   ref     = [log pi_ref(y_w|clean), log pi_ref(y_t|clean), log pi_ref(y_n_ref|clean)]
//   loss    = povidLossForward(policy, ref)   (dpo.ts), gradient through the clean passes only.
import { povidLossForward } from './dpo';
import {
  decoderBackward,
  decoderForward,
  headBackward,
  headForward,
  headLogprob,
  scoredRows,
  zeroLoraGrads,
  type RefModel,
  type RefSequence,
} from './decoder';

export type RefLossParams = Parameters<typeof povidLossForward>[6];

export interface RefExample {
  chosen: RefSequence; // y_w on the clean image
  rejected: RefSequence; // y_t on the clean image
  noisyImageRows: Float64Array; // features of the noisy image, same positions as chosen.imagePos
}

export interface RefPovidResult {
  loss: number;
  policy: Float64Array; // [E*3]
  reference: Float64Array; // [E*3]
  dPolicy: Float64Array;
  stats: Float64Array;
  yn: Int32Array[];
  /** The tokens the reference's noise term scored (y_n_ref, or y_n under 'policy-argmax'). */
  ynReference: Int32Array[];
  grads: Map<string, Float64Array>;
}

const sum = (x: Float64Array) => x.reduce((a, b) => a + b, 0);

/** One step's loss and LoRA gradients. `yn` fixes the noise-triggered answers (finite differences). */
export function povidReference(
  m: RefModel,
  examples: RefExample[],
  params: RefLossParams,
  opts: { yn?: Int32Array[]; statsPerExample?: number } = {},
): RefPovidResult {
  if (!m.lora) throw new Error('povidReference needs a LoRA state');
  const E = examples.length;
  const policy = new Float64Array(3 * E);
  const reference = new Float64Array(3 * E);
  const yn: Int32Array[] = [];
  const ynReference: Int32Array[] = [];
  const own = params.mode !== 'dpo-text' && (params.noiseReference ?? 'own-argmax') === 'own-argmax';
  const caches = examples.map((ex, e) => {
    const c = scoredRows(ex.chosen);
    const r = scoredRows(ex.rejected);
    // (a) the noisy pass: LoRA on, chosen answer teacher-forced, argmax per answer position
    let y = opts.yn?.[e];
    if (!y) {
      const noisy: RefSequence = { ...ex.chosen, imageRows: ex.noisyImageRows };
      const fN = decoderForward(m, noisy, true);
      y = headLogprob(m, headForward(m, fN, c.rows), c.targets).argmax;
    }
    yn.push(y);
    // (a') the reference's own noise-triggered answer: the noisy pass with the adapter off
    let yRef = y;
    if (own) {
      const noisy: RefSequence = { ...ex.chosen, imageRows: ex.noisyImageRows };
      yRef = headLogprob(m, headForward(m, decoderForward(m, noisy, false), c.rows), c.targets).argmax;
    }
    ynReference.push(yRef);
    // (c) reference: adapter off
    const fRc = decoderForward(m, ex.chosen, false);
    const hRc = headForward(m, fRc, c.rows);
    reference[3 * e] = sum(headLogprob(m, hRc, c.targets).logprob);
    reference[3 * e + 2] = sum(headLogprob(m, hRc, yRef).logprob);
    const fRr = decoderForward(m, ex.rejected, false);
    reference[3 * e + 1] = sum(headLogprob(m, headForward(m, fRr, r.rows), r.targets).logprob);
    // (b) policy: adapter on, clean image
    const fc = decoderForward(m, ex.chosen, true);
    const hc = headForward(m, fc, c.rows);
    const lc = headLogprob(m, hc, c.targets);
    const ln = headLogprob(m, hc, y);
    const fr = decoderForward(m, ex.rejected, true);
    const hr = headForward(m, fr, r.rows);
    const lr = headLogprob(m, hr, r.targets);
    policy[3 * e] = sum(lc.logprob);
    policy[3 * e + 1] = sum(lr.logprob);
    policy[3 * e + 2] = sum(ln.logprob);
    return { c, r, y, fc, hc, lc, ln, fr, hr, lr };
  });
  const loss = new Float64Array(1);
  const dPolicy = new Float64Array(3 * E);
  const stats = new Float64Array(E * (opts.statsPerExample ?? 16));
  const chosenTokens = caches.reduce((a, k) => a + k.c.rows.length, 0);
  povidLossForward(loss, dPolicy, stats, policy, reference, E, params, chosenTokens);
  // (d) backward: d loss / d log-prob sum is the same for every row of a sequence
  const grads = zeroLoraGrads(m.lora);
  examples.forEach((ex, e) => {
    const k = caches[e];
    const C = m.cfg.hiddenSize;
    const dxc = new Float64Array(k.fc.T * C);
    headBackward(m, k.hc, k.c.targets, k.lc.lse, new Float64Array(k.c.rows.length).fill(dPolicy[3 * e]), dxc);
    headBackward(m, k.hc, k.y, k.ln.lse, new Float64Array(k.c.rows.length).fill(dPolicy[3 * e + 2]), dxc);
    decoderBackward(m, ex.chosen, k.fc, dxc, grads);
    const dxr = new Float64Array(k.fr.T * C);
    headBackward(m, k.hr, k.r.targets, k.lr.lse, new Float64Array(k.r.rows.length).fill(dPolicy[3 * e + 1]), dxr);
    decoderBackward(m, ex.rejected, k.fr, dxr, grads);
  });
  return { loss: loss[0], policy, reference, dPolicy, stats, yn, ynReference, grads };
}
