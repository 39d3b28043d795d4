// Decoder forward pass: the kernels composed into Llama layers (modeling_llama.py), recording
// dispatches only. Activations land in the plan's buffers (layout.ts) for the backward pass.
//   h   = x + o(attn(rope(q(ln1 x)), rope(k(ln1 x)), v(ln1 x)))
//   out = h + down(silu(gate(ln2 h)) * up(ln2 h))
// An adapted linear adds (alpha/r) (x A^T) B^T; with the adapter off (lora = null) this is the
// frozen base model, i.e. the POVID reference policy.
import type { Binding, GpuContext } from '../gpu';
import type { DecoderConfig } from './config';
import { attentionForward } from './kernels/attention';
import { embeddingForward, replaceRows } from './kernels/embedding';
import { gatherRows } from './kernels/gather';
import { linearForward } from './kernels/linear';
import { logprobForward, sequenceLogprobSum, type LogprobScratch } from './kernels/logprob';
import { loraForward } from './kernels/lora';
import { residualForward } from './kernels/residual';
import { rmsnormForward } from './kernels/rmsnorm';
import { ropeForward } from './kernels/rope';
import { swigluForward } from './kernels/swiglu';
import { targetShape, type LoraTarget } from './checkpoint';
import type { Activations } from './layout';
import type { LoraAdapter } from './lora';
import type { DecoderParams } from './params';

/** Buffers of one layer's forward; `xa` holds x A^T per adapted target. */
export interface LayerBuffers {
  ln1: GPUBuffer;
  rstd1: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  att: GPUBuffer;
  lse: GPUBuffer;
  h: GPUBuffer;
  ln2: GPUBuffer;
  rstd2: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  sw: GPUBuffer;
  xa: Partial<Record<LoraTarget, GPUBuffer>>;
}

/** out[T, OUT] = inp W^T (+ scale (inp A^T) B^T when the target is adapted and LoRA is on). */
export function adaptedLinearForward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  lora: LoraAdapter | null,
  l: number,
  target: LoraTarget,
  out: Binding,
  xa: Binding | undefined,
  inp: Binding,
  T: number,
): void {
  const { IN, OUT } = targetShape(cfg, target);
  linearForward(ctx, out, inp, params.layers[l].linear[target], T, IN, OUT);
  const ab = lora?.bindings(l, target);
  if (lora && ab && xa) loraForward(ctx, out, xa, inp, ab.A, ab.B, T, IN, OUT, lora.r, lora.scale);
}

/** One decoder layer over N = B*T rows: x -> out, keeping what the backward needs in `a`. */
export function layerForward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  lora: LoraAdapter | null,
  l: number,
  a: LayerBuffers,
  x: GPUBuffer,
  out: GPUBuffer,
  proj: GPUBuffer,
  positions: GPUBuffer,
  keyMask: GPUBuffer,
  B: number,
  T: number,
): void {
  const N = B * T;
  const C = cfg.hiddenSize;
  const FF = cfg.intermediateSize;
  const { numHeads: NH, numKvHeads: NKV, headDim: HD, ropeTheta: theta, rmsNormEps: eps } = cfg;
  const w = params.layers[l];
  const lin = (t: LoraTarget, o: GPUBuffer, inp: GPUBuffer) => adaptedLinearForward(ctx, cfg, params, lora, l, t, o, a.xa[t], inp, N);
  rmsnormForward(ctx, a.ln1, a.rstd1, x, w.inputNorm, N, C, eps);
  lin('q', a.q, a.ln1);
  lin('k', a.k, a.ln1);
  lin('v', a.v, a.ln1);
  ropeForward(ctx, a.q, a.q, positions, N, NH, HD, theta);
  ropeForward(ctx, a.k, a.k, positions, N, NKV, HD, theta);
  attentionForward(ctx, a.att, a.lse, a.q, a.k, a.v, keyMask, B, T, T, NH, NKV, HD, 0);
  lin('o', proj, a.att);
  residualForward(ctx, a.h, x, proj, N * C);
  rmsnormForward(ctx, a.ln2, a.rstd2, a.h, w.postNorm, N, C, eps);
  lin('gate', a.gate, a.ln2);
  lin('up', a.up, a.ln2);
  swigluForward(ctx, a.sw, a.gate, a.up, N * FF);
  lin('down', proj, a.sw);
  residualForward(ctx, out, a.h, proj, N * C);
}

/**
 * Embeddings (the first `imageCount` image rows replacing their placeholders) through every
 * layer; the last residual ends in acts.res[L]. Inputs are the plan's input buffers.
 */
export function decoderForward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  acts: Activations,
  lora: LoraAdapter | null,
  B: number,
  T: number,
  imageRows: GPUBuffer,
  imageCount: number,
): void {
  const N = B * T;
  const C = cfg.hiddenSize;
  const { inputs, res } = acts;
  embeddingForward(ctx, res[0], inputs.tokens, params.embed, N, C);
  if (imageCount > 0) replaceRows(ctx, res[0], imageRows, inputs.imagePos, imageCount, C);
  for (let l = 0; l < cfg.numLayers; l++)
    layerForward(ctx, cfg, params, lora, l, acts.layers[l], res[l], res[l + 1], acts.scratch.proj, inputs.positions, inputs.keyMask, B, T);
}

/** The final norm at the first M answer rows only (never the full sequence): hG -> hN. */
export function headForward(ctx: GpuContext, cfg: DecoderConfig, params: DecoderParams, acts: Activations, M: number): void {
  const C = cfg.hiddenSize;
  const { head } = acts;
  gatherRows(ctx, head.hG, acts.res[cfg.numLayers], acts.inputs.rows, M, C);
  rmsnormForward(ctx, head.hN, head.rstdF, head.hG, params.norm, M, C, cfg.rmsNormEps);
}

/** Per-row log p(targets) and argmax over hN's first M rows. */
export function headLogprob(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  acts: Activations,
  scratch: LogprobScratch,
  logprob: GPUBuffer,
  argmax: GPUBuffer,
  lse: GPUBuffer,
  targets: GPUBuffer,
  M: number,
): void {
  logprobForward(ctx, logprob, argmax, lse, acts.head.hN, params.lmHead, targets, M, cfg.hiddenSize, cfg.vocabSize, scratch);
}

/** sums[s] = sum of logprob[m] over rows with slot[m] = s (all S slots written). */
export function sumBySlot(ctx: GpuContext, sums: GPUBuffer, logprob: GPUBuffer, slot: GPUBuffer, M: number, S: number): void {
  sequenceLogprobSum(ctx, sums, logprob, slot, M, S);
}

/** Full-vocabulary logits at each sequence's last row: [B, V] (generation, checks). */
export function lastLogitsForward(ctx: GpuContext, cfg: DecoderConfig, params: DecoderParams, acts: Activations, B: number): void {
  const C = cfg.hiddenSize;
  const { head } = acts;
  gatherRows(ctx, head.hLast, acts.res[cfg.numLayers], acts.inputs.lastRows, B, C);
  rmsnormForward(ctx, head.hLastN, head.rstdLast, head.hLast, params.norm, B, C, cfg.rmsNormEps);
  linearForward(ctx, head.logits, head.hLastN, params.lmHead, B, C, cfg.vocabSize);
}
