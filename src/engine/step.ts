// One POVID training step (docs/method.md), on the GPU with a single readback:
//   (a) noisy pass: LoRA on, the chosen answer y_w teacher-forced on the NOISY image features;
//       the argmax at every answer position is the noise-triggered answer y_n (no gradient);
//   (a') with noiseReference 'own-argmax' (the release's definition, the default): the same pass
//       with the adapter off gives the reference's own noise-triggered answer y_n_ref;
//   (c) reference: LoRA off on the clean image: log p(y_w), log p(y_t) (cacheable per example)
//       and the noise term, read from the y_w pass: log p_ref(y_n_ref) ('own-argmax') or
//       log p_ref(y_n) ('policy-argmax'). The noise is drawn afresh for every use of an example,
//       so the noise term is never cached;
//   (b) policy: LoRA on, clean image, chosen and text-rejected sequences in one batch;
//       log p(y_n) reuses the chosen rows' log-normaliser (one dot product per row);
//   (d) loss -> d(policy sums) -> per-row d(logprob) -> lm_head/final norm -> layers;
//   (e) gradient norm, NaN/Inf check, AdamW (one dispatch over the flat LoRA buffer).
// Log-prob slots follow povidLossForward: policy[3e + 0] chosen, [3e + 1] text-rejected, [3e + 2] noise.
import type { GpuContext } from '../gpu';
import { decoderBackward } from './backward';
import { packBatch, uploadBatch, type SequenceInput } from './batch';
import type { EngineCore } from './core';
import { EngineInputError, ImageRowsError, NonFiniteError } from './errors';
import { decoderForward, headForward, trainingPass } from './forward';
import { adamwStep, checkFinite, gradNormSquared } from './kernels/adamw';
import { povidLossForward, resolvePovidParams } from './kernels/dpo';
import { gatherRows } from './kernels/gather';
import { logprobBackward, logprobForward, logprobOfTargets, sequenceLogprobSum } from './kernels/logprob';
import { addInPlace } from './kernels/residual';

export type PovidLossParams = Parameters<typeof povidLossForward>[7];

export interface PovidExample {
  /** y_w: the preferred answer after the clean image's prompt (targets mark the answer). */
  chosen: SequenceInput;
  /** y_t: the text-injected hallucination, same prompt and clean image. */
  rejected: SequenceInput;
  /** Features of the noisy image, [M, C], replacing the same positions as chosen.image (not needed in 'dpo-text' mode). */
  noisyImage?: Float32Array;
  /** Cached LoRA-off sums of this example (fixed per example); computed when absent. */
  reference?: { chosen: number; rejected: number };
}

export interface OptimizerOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (0 or absent: no clipping). */
  maxGradNorm?: number;
}

export interface PovidStepOptions {
  loss: PovidLossParams;
  optimizer: OptimizerOptions;
  /** Clear the LoRA gradients first (default true; false accumulates micro-batches). */
  zeroGrads?: boolean;
  /** Apply AdamW after the backward (default true; false for all but the last micro-batch). */
  update?: boolean;
  /** Multiplies the accumulated gradients in the update (1 / micro-batches). Default 1. */
  gradScale?: number;
  /** Sync between phases and report wall-clock milliseconds per phase. */
  timing?: boolean;
}

export interface PovidExampleResult {
  policy: { chosen: number; text: number; noise: number };
  reference: { chosen: number; text: number; noise: number };
  /** beta * (policy - reference) per answer. */
  rewards: { chosen: number; text: number; noise: number };
  /** rewards.chosen - rewards.text / rewards.noise. */
  margins: { text: number; noise: number };
  /** The noise-triggered answer tokens y_n (the policy's argmax; one per chosen answer position). */
  yn: Int32Array;
  /** The tokens the reference side of the noise term scores: the reference model's own argmax on
   * the noisy image ('own-argmax'), or y_n again ('policy-argmax', 'dpo-text'). */
  ynReference: Int32Array;
}

export interface StepTimings {
  forward: number;
  loss: number;
  backward: number;
  optimizer: number;
  total: number;
}

export interface PovidStepResult {
  loss: number;
  examples: PovidExampleResult[];
  /** Global L2 norm of this step's (scaled) gradients, before clipping. */
  gradNorm: number;
  updated: boolean;
  /** Adam steps taken so far. */
  step: number;
  timings?: StepTimings;
}

/**
 * Copies several small buffers (4-byte values) into `readback` (the plan's) and reads it back once:
 * one GPU round trip.
 */
export async function readMany(ctx: GpuContext, readback: GPUBuffer, parts: { buf: GPUBuffer; count: number }[]): Promise<ArrayBuffer[]> {
  const total = parts.reduce((a, p) => a + p.count, 0);
  if (total === 0) {
    await ctx.sync();
    return parts.map(() => new ArrayBuffer(0));
  }
  if (total * 4 > readback.size)
    throw new EngineInputError(`readback of ${total} values exceeds the plan's readback buffer (${readback.size / 4} values)`);
  let off = 0;
  for (const p of parts) {
    if (p.count > 0) ctx.copy(p.buf, readback, p.count * 4, 0, off * 4);
    off += p.count;
  }
  const all = await ctx.read(readback, total * 4);
  off = 0;
  return parts.map((p) => {
    const s = all.slice(off * 4, (off + p.count) * 4);
    off += p.count;
    return s;
  });
}

class PhaseTimer {
  private t0 = performance.now();
  private last = this.t0;
  readonly ms: Record<string, number> = {};
  constructor(
    private ctx: GpuContext,
    private on: boolean,
  ) {}
  async mark(name: string): Promise<void> {
    if (!this.on) return;
    await this.ctx.sync();
    const now = performance.now();
    this.ms[name] = now - this.last;
    this.last = now;
  }
  total(): number {
    return performance.now() - this.t0;
  }
}

export async function povidStep(core: EngineCore, examples: readonly PovidExample[], opts: PovidStepOptions): Promise<PovidStepResult> {
  const { ctx, cfg, params, acts, lora, lpScratch, normScratch } = core;
  if (!lora || !acts.grads || !normScratch)
    throw new EngineInputError('povidStep: this engine was created without a LoRA adapter or without training buffers');
  const E = examples.length;
  if (E === 0) throw new EngineInputError('povidStep: empty batch of examples');
  if (2 * E > core.limits.maxBatch)
    throw new EngineInputError(
      `povidStep: ${E} examples need ${2 * E} sequences per pass, over the engine's maxBatch ${core.limits.maxBatch}. Use smaller batches or a larger maxBatch.`,
    );
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const timer = new PhaseTimer(ctx, !!opts.timing);

  // ---- inputs: [chosen_0 .. chosen_{E-1}, rejected_0 .. rejected_{E-1}] -------------------
  const seqs = [...examples.map((x) => x.chosen), ...examples.map((x) => x.rejected)];
  const pack = packBatch(seqs, cfg, core.limits, (b) => (b < E ? `example ${b} (chosen answer)` : `example ${b - E} (rejected answer)`));
  const { B, T, rowStart, imageStart } = pack;
  for (let b = 0; b < B; b++)
    if (rowStart[b + 1] === rowStart[b])
      throw new EngineInputError(
        `example ${b % E} (${b < E ? 'chosen' : 'rejected'} answer) has no answer tokens: mark the answer with targets (token at t + 1, -1 elsewhere)`,
      );
  const Mc = rowStart[E]; // chosen rows come first: the y_n rows are rows [0, Mc)
  const M = pack.rows.length;
  const Ic = imageStart[E];
  const I = imageStart[B];
  const noisy = new Float32Array(Ic * C);
  const loss = resolvePovidParams(opts.loss); // refuse bad settings before anything is recorded
  const needNoise = loss.mode !== 'dpo-text';
  const ownArgmax = needNoise && loss.noiseReference === 'own-argmax';
  examples.forEach((x, e) => {
    const rows = imageStart[e + 1] - imageStart[e];
    if (!x.noisyImage) {
      if (needNoise)
        throw new ImageRowsError(
          `example ${e}: no noisy image features; POVID's noise term needs the noisy image encoded too (or use mode 'dpo-text')`,
        );
      return;
    }
    if (x.noisyImage.length !== rows * C)
      throw new ImageRowsError(
        `example ${e}: the noisy image has ${x.noisyImage.length / C} feature rows, the clean image ${rows}. Encode both images with the same vision encoder settings.`,
      );
    noisy.set(x.noisyImage, imageStart[e] * C);
  });
  const slotOfRow = new Int32Array(M);
  const slotOfYn = new Int32Array(Mc);
  for (let m = 0; m < M; m++) {
    const b = pack.seqOfRow[m];
    slotOfRow[m] = b < E ? 3 * b : 3 * (b - E) + 1;
    if (m < Mc) slotOfYn[m] = 3 * b + 2;
  }
  const useCache = examples.every((x) => x.reference);
  const cached = new Float32Array(3 * E);
  if (useCache)
    examples.forEach((x, e) => {
      cached[3 * e] = x.reference!.chosen;
      cached[3 * e + 1] = x.reference!.rejected;
      if (!needNoise) cached[3 * e + 2] = x.reference!.chosen; // y_n = y_w when the noise term is off
    });
  const { inputs, head } = acts;
  const g = acts.grads;
  uploadBatch(ctx, inputs, pack, slotOfRow); // flushes first
  ctx.upload(inputs.slotOfYn, slotOfYn);
  if (Ic > 0) ctx.upload(inputs.noisyImageRows, noisy);
  ctx.upload(inputs.cachedRef, cached);
  if (opts.zeroGrads !== false) lora.zeroGrads();

  // One pass's buffers, the images it can use, and the head's log-probs over the first m answer rows.
  const pass = trainingPass(acts);
  const clean = { rows: inputs.imageRows, pos: inputs.imagePos, count: 0 };
  const noisyRows = { rows: inputs.noisyImageRows, pos: inputs.imagePos, count: Ic };
  const logprobs = (m: number, logprob: GPUBuffer, argmax: GPUBuffer, lse: GPUBuffer, targets: GPUBuffer) =>
    logprobForward(ctx, logprob, argmax, lse, head.hN, params.lmHead, targets, m, C, V, lpScratch);

  // ---- (a) noisy pass: y_n = argmax at the chosen answer positions -------------------------
  if (needNoise) {
    decoderForward(ctx, cfg, params, pass, lora, E, T, noisyRows);
    headForward(ctx, cfg, params, acts, Mc);
    logprobs(Mc, head.logprob, head.yn, head.lse, inputs.targets);
  } else {
    // Stage 1 (text rejections only) gives the noise term zero weight: skip the pass, and let
    // y_n = y_w so the (unused) noise slots stay well defined.
    ctx.copy(inputs.targets, head.yn, Mc * 4);
  }
  // ---- (a') the reference's own noise-triggered answer: the same pass, adapter off ----------
  if (ownArgmax) {
    decoderForward(ctx, cfg, params, pass, null, E, T, noisyRows);
    headForward(ctx, cfg, params, acts, Mc);
    logprobs(Mc, head.logprob, head.ynRef, head.lse, inputs.targets);
  }
  const refYn = ownArgmax ? head.ynRef : head.yn; // what the reference's noise term scores

  // ---- (c) reference: adapter off ------------------------------------------------------------
  if (useCache && !needNoise) {
    ctx.copy(inputs.cachedRef, head.reference, 3 * E * 4);
  } else if (useCache) {
    // Only the noise term is new; it needs the chosen sequences alone.
    decoderForward(ctx, cfg, params, pass, null, E, T, { ...clean, count: Ic });
    headForward(ctx, cfg, params, acts, Mc);
    logprobs(Mc, head.logprobN, head.argmaxN, head.lseN, refYn);
    sequenceLogprobSum(ctx, head.ynSums, head.logprobN, inputs.slotOfYn, Mc, 3 * E);
    ctx.copy(inputs.cachedRef, head.reference, 3 * E * 4);
    addInPlace(ctx, head.reference, head.ynSums, 3 * E);
  } else {
    decoderForward(ctx, cfg, params, pass, null, B, T, { ...clean, count: I });
    headForward(ctx, cfg, params, acts, M);
    logprobs(M, head.logprob, head.argmax, head.lse, inputs.targets);
    logprobOfTargets(ctx, head.logprobN, head.hN, params.lmHead, refYn, head.lse, Mc, C, V);
    sequenceLogprobSum(ctx, head.reference, head.logprob, inputs.slotOfRow, M, 3 * E);
    sequenceLogprobSum(ctx, head.ynSums, head.logprobN, inputs.slotOfYn, Mc, 3 * E);
    addInPlace(ctx, head.reference, head.ynSums, 3 * E);
  }

  // ---- (b) policy: adapter on, clean image, activations kept for the backward ----------------
  decoderForward(ctx, cfg, params, pass, lora, B, T, { ...clean, count: I });
  headForward(ctx, cfg, params, acts, M);
  logprobs(M, head.logprob, head.argmax, head.lse, inputs.targets);
  logprobOfTargets(ctx, head.logprobN, head.hN, params.lmHead, head.yn, head.lse, Mc, C, V);
  sequenceLogprobSum(ctx, head.policy, head.logprob, inputs.slotOfRow, M, 3 * E);
  sequenceLogprobSum(ctx, head.ynSums, head.logprobN, inputs.slotOfYn, Mc, 3 * E);
  addInPlace(ctx, head.policy, head.ynSums, 3 * E);
  await timer.mark('forward');

  // ---- (d) loss and backward ---------------------------------------------------------------
  povidLossForward(ctx, head.loss, head.dPolicy, head.stats, head.policy, head.reference, E, loss, Mc); // Mc: chosen answer tokens
  await timer.mark('loss');
  // d loss / d logprob_row = d loss / d (sum of its sequence): a gather of dPolicy by slot.
  gatherRows(ctx, g.dlogprob, head.dPolicy, inputs.slotOfRow, M, 1);
  gatherRows(ctx, g.dlogprobN, head.dPolicy, inputs.slotOfYn, Mc, 1);
  // Both log-probs of the chosen rows (y_w and y_n) share their logits: one sweep for the two.
  logprobBackward(ctx, g.dhN, g.dlogprob, head.hN, params.lmHead, inputs.targets, head.lse, M, C, V, lpScratch, {
    dlogprob: g.dlogprobN,
    targets: head.yn,
    M: Mc,
  });
  decoderBackward(ctx, cfg, params, acts, lora, B, T, M);
  await timer.mark('backward');

  // ---- (e) norm, finiteness, readback, AdamW --------------------------------------------------
  const n = lora.layout.totalFloats;
  gradNormSquared(ctx, head.normSq, lora.grads, n, normScratch);
  checkFinite(ctx, head.finite, lora.grads, n, { clear: true });
  const [lossB, polB, refB, normB, finB, ynB, ynRefB] = await readMany(ctx, acts.scratch.readback, [
    { buf: head.loss, count: 1 },
    { buf: head.policy, count: 3 * E },
    { buf: head.reference, count: 3 * E },
    { buf: head.normSq, count: 1 },
    { buf: head.finite, count: 1 },
    { buf: head.yn, count: Mc },
    { buf: head.ynRef, count: ownArgmax ? Mc : 0 },
  ]);
  const lossValue = new Float32Array(lossB)[0];
  const policy = new Float32Array(polB);
  const reference = new Float32Array(refB);
  const kinds = ['chosen', 'text-rejected', 'noise-rejected'];
  for (let i = 0; i < 3 * E; i++) {
    if (!Number.isFinite(policy[i]))
      throw new NonFiniteError(`policy log-probability of example ${Math.floor(i / 3)} (${kinds[i % 3]})`, `value ${policy[i]}`);
    if (!Number.isFinite(reference[i]))
      throw new NonFiniteError(`reference log-probability of example ${Math.floor(i / 3)} (${kinds[i % 3]})`, `value ${reference[i]}`);
  }
  if (!Number.isFinite(lossValue)) throw new NonFiniteError('loss', `value ${lossValue}`);
  if (!finiteFlagOk(new Uint32Array(finB)[0])) {
    const grads = await lora.getGrads();
    let where = 'unknown tensor';
    for (const [name, x] of grads)
      if (x.some((v) => !Number.isFinite(v))) {
        where = name;
        break;
      }
    throw new NonFiniteError(`LoRA gradient ${where}`, 'NaN or Inf in the backward pass');
  }
  const gradScale = opts.gradScale ?? 1;
  const gradNorm = Math.sqrt(new Float32Array(normB)[0]) * gradScale;
  const update = opts.update !== false;
  if (update) {
    const o = opts.optimizer;
    adamwStep(ctx, lora.params, lora.grads, lora.m, lora.v, head.normSq, n, {
      lr: o.lr,
      beta1: o.beta1 ?? 0.9,
      beta2: o.beta2 ?? 0.999,
      eps: o.eps ?? 1e-8,
      weightDecay: o.weightDecay ?? 0,
      step: lora.step + 1,
      maxGradNorm: o.maxGradNorm ?? 0,
      gradScale,
    });
    lora.step++;
    if (opts.timing) await ctx.sync();
    else ctx.flush();
  }
  await timer.mark('optimizer');

  const beta = loss.beta;
  const yn = new Int32Array(ynB);
  const ynRef = ownArgmax ? new Int32Array(ynRefB) : yn;
  const results: PovidExampleResult[] = examples.map((_, e) => {
    const p = { chosen: policy[3 * e], text: policy[3 * e + 1], noise: policy[3 * e + 2] };
    const r = { chosen: reference[3 * e], text: reference[3 * e + 1], noise: reference[3 * e + 2] };
    const rewards = { chosen: beta * (p.chosen - r.chosen), text: beta * (p.text - r.text), noise: beta * (p.noise - r.noise) };
    return {
      policy: p,
      reference: r,
      rewards,
      margins: { text: rewards.chosen - rewards.text, noise: rewards.chosen - rewards.noise },
      yn: yn.slice(rowStart[e], rowStart[e + 1]),
      ynReference: ynRef.slice(rowStart[e], rowStart[e + 1]),
    };
  });
  const t = timer.ms;
  return {
    loss: lossValue,
    examples: results,
    gradNorm,
    updated: update,
    step: lora.step,
    timings: opts.timing
      ? { forward: t.forward, loss: t.loss, backward: t.backward, optimizer: t.optimizer, total: timer.total() }
      : undefined,
  };
}

/** checkFinite sets its flag to 1 on any NaN or Inf. */
function finiteFlagOk(flag: number): boolean {
  return flag === 0;
}
