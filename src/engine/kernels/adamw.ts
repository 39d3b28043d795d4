// AdamW on the flat LoRA parameter buffer with global gradient-norm clipping, all on the GPU:
// gradNormSquared -> adamwStep reads the norm from a buffer, so no CPU round trip per step.
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import code from '../../../shaders/adamw.wgsl?raw';
import { KernelArgumentError } from '../errors';

/** Values reduced by one workgroup of adamw_norm_sq (256 threads x 8). */
const BLOCK = 2048;

export interface AdamwHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count (bias correction). */
  step: number;
  /** Clip the global gradient norm to this; 0 = no clipping. */
  maxGradNorm: number;
  /** Multiplies the gradients before clipping (e.g. 1 / accumulation steps); default 1. */
  gradScale?: number;
}

/** Ping-pong buffers for the partial sums of gradNormSquared over up to n values. */
export interface GradNormScratch {
  n: number;
  /** gradNormPartials(n)[0] f32 values. */
  a: GPUBuffer;
  /** gradNormPartials(n)[1] f32 values. */
  b: GPUBuffer;
}

/** Sizes (f32 values) of the two partial-sum buffers of gradNormSquared over n values. */
export function gradNormPartials(n: number): [number, number] {
  const n1 = Math.ceil(n / BLOCK);
  return [Math.max(1, n1), Math.max(1, Math.ceil(n1 / BLOCK))];
}

/**
 * out[0] = sum_i grads[i]^2, by a fixed tree of workgroup sums (deterministic: same bits
 * every run). `scratch` holds gradNormPartials(>= n) values.
 */
export function gradNormSquared(ctx: GpuContext, out: Binding, grads: Binding, n: number, scratch: GradNormScratch): void {
  if (scratch.n < n)
    throw new KernelArgumentError(
      'gradNormSquared',
      'scratch',
      `was made for ${scratch.n} values, not ${n}; size it with gradNormPartials(${n})`,
    );
  if (n === 0) {
    ctx.clear('buffer' in out ? out.buffer : out, 'buffer' in out ? out.offset : 0, 4);
    return;
  }
  const pipe = ctx.pipeline(code, 'adamw_norm_sq');
  let src: Binding = grads;
  let count = n;
  let square = 1;
  let flip = false;
  for (;;) {
    const parts = Math.ceil(count / BLOCK);
    const dst: Binding = parts === 1 ? out : flip ? scratch.b : scratch.a;
    ctx.dispatch(pipe, ctx.uniform(new Uint32Array([count, square])), [dst, src], grid1d(parts));
    if (parts === 1) return;
    src = dst;
    count = parts;
    square = 0;
    flip = !flip;
  }
}

/**
 * One AdamW step over n parameters (PyTorch's formula and order: decoupled decay
 * p *= 1 - lr*wd, then the bias-corrected Adam update). Gradients are scaled by gradScale and
 * then by min(1, maxGradNorm / (norm + 1e-6)), norm = gradScale * sqrt(normSq[0]), inside
 * the shader. grads are read only; params, m, v are updated in place.
 */
export function adamwStep(
  ctx: GpuContext,
  params: Binding,
  grads: Binding,
  m: Binding,
  v: Binding,
  normSq: Binding,
  n: number,
  hp: AdamwHyper,
): void {
  const scale = hp.gradScale ?? 1;
  for (const [k, x] of Object.entries({ ...hp, gradScale: scale }))
    if (!Number.isFinite(x)) throw new KernelArgumentError('adamwStep', k, `= ${x} is not a finite number; check the optimizer settings`);
  if (!Number.isInteger(hp.step) || hp.step < 1) throw new KernelArgumentError('adamwStep', 'step', `= ${hp.step}; steps count from 1`);
  if (!(hp.beta1 >= 0 && hp.beta1 < 1 && hp.beta2 >= 0 && hp.beta2 < 1))
    throw new KernelArgumentError('adamwStep', 'beta1, beta2', `= ${hp.beta1}, ${hp.beta2} must lie in [0, 1)`);
  if (hp.eps <= 0 || hp.maxGradNorm < 0 || scale <= 0 || hp.lr < 0 || hp.weightDecay < 0)
    throw new KernelArgumentError(
      'adamwStep',
      'hyperparameters',
      `need eps > 0, maxGradNorm >= 0, gradScale > 0, lr >= 0, weightDecay >= 0 (got ${hp.eps}, ${hp.maxGradNorm}, ${scale}, ${hp.lr}, ${hp.weightDecay})`,
    );
  const buf = new ArrayBuffer(48);
  new Uint32Array(buf, 0, 1)[0] = n;
  // Differences from 1 in float64 here: in f32, 1 - beta2 (0.999) is off by 1.3e-5 relative.
  const bc1 = 1 - Math.pow(hp.beta1, hp.step);
  const bc2 = 1 - Math.pow(hp.beta2, hp.step);
  new Float32Array(buf, 4, 10).set([
    hp.beta1,
    1 - hp.beta1,
    hp.beta2,
    1 - hp.beta2,
    hp.eps,
    1 - hp.lr * hp.weightDecay,
    hp.lr / bc1,
    Math.sqrt(bc2),
    hp.maxGradNorm,
    scale,
  ]);
  ctx.dispatch(ctx.pipeline(code, 'adamw_step'), ctx.uniform(buf, true), [params, grads, m, v, normSq], grid1d(Math.ceil(n / 256)));
}

/**
 * flag[0] = 1 if any of x[0..n) is NaN or +-Inf; otherwise flag is left as it was, so several
 * checks can share one flag (clear it first, or pass { clear: true }).
 */
export function checkFinite(ctx: GpuContext, flag: GPUBuffer, x: Binding, n: number, opts?: { clear?: boolean }): void {
  if (opts?.clear) ctx.clear(flag, 0, 4);
  ctx.dispatch(ctx.pipeline(code, 'adamw_check_finite'), ctx.uniform(new Uint32Array([n])), [flag, x], grid1d(Math.ceil(n / 256)));
}
