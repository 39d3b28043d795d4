// Float64 reference of shaders/adamw.wgsl (same argument order as src/engine/kernels/adamw.ts).
import type { AdamwHyper } from '../../src/engine/kernels/adamw';

/** out[0] = sum of squares of grads[0..n). */
export function gradNormSquared(out: Float64Array, grads: Float64Array, n: number): void {
  let s = 0;
  for (let i = 0; i < n; i++) s += grads[i] * grads[i];
  out[0] = s;
}

/** torch.optim.AdamW with torch.nn.utils.clip_grad_norm_(max_norm) applied to grads * gradScale. */
export function adamwStep(
  params: Float64Array,
  grads: Float64Array,
  m: Float64Array,
  v: Float64Array,
  normSq: Float64Array,
  n: number,
  hp: AdamwHyper,
): void {
  const scale = hp.gradScale ?? 1;
  const norm = Math.sqrt(normSq[0]) * scale;
  const clip = hp.maxGradNorm > 0 ? Math.min(1, hp.maxGradNorm / (norm + 1e-6)) : 1;
  const bc1 = 1 - hp.beta1 ** hp.step;
  const bc2 = 1 - hp.beta2 ** hp.step;
  for (let i = 0; i < n; i++) {
    const g = grads[i] * scale * clip;
    m[i] = hp.beta1 * m[i] + (1 - hp.beta1) * g;
    v[i] = hp.beta2 * v[i] + (1 - hp.beta2) * g * g;
    params[i] *= 1 - hp.lr * hp.weightDecay;
    params[i] -= ((hp.lr / bc1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + hp.eps);
  }
}

/** flag[0] = 1 if any x[0..n) is NaN or infinite; otherwise unchanged. */
export function checkFinite(flag: Uint32Array, x: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) flag[0] = 1;
}
