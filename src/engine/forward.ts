// Decoder forward pass: the kernels composed into Llama layers (modeling_llama.py), recording
// dispatches only. Activations land in the plan's buffers (layout.ts) for the backward pass.
//   h   = x + o(attn(rope(q(ln1 x)), rope(k(ln1 x)), v(ln1 x)))
//   out = h + down(silu(gate(ln2 h)) * up(ln2 h))
// An adapted linear adds (alpha/r) (x A^T) B^T; with the adapter off (lora = null) this is the
// frozen base model, i.e. the POVID reference policy.
// One layer forward serves training, evaluation and KV-cache decoding (nanoVLM's
// forward(x, kv_cache, start_pos)): without a cache the layer attends over its own k and v; with
// one, its T new rows' k and v are appended to the cache at row `start` and the queries (at
// positions start .. start + T - 1) attend over the cache's first start + T rows.
import type { Binding, GpuContext } from '../gpu';
import type { DecoderConfig } from './config';
import { attentionForward } from './kernels/attention';
import { embeddingForward, replaceRows } from './kernels/embedding';
import { gatherRows } from './kernels/gather';
import { linearForward } from './kernels/linear';
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

/** One pass's buffers: its inputs, the residual stream at each layer boundary, each layer's activations. */
export interface PassBuffers {
  tokens: GPUBuffer; // i32 [B*T]
  positions: GPUBuffer; // i32 [B*T], rotary positions
  keyMask: GPUBuffer; // u32 [B*T], 1 = real token (the keys of a pass without a cache)
  res: GPUBuffer[]; // [L + 1] x [B*T, C]; res[l] is layer l's input (res[l] !== res[l + 1])
  layers: LayerBuffers[]; // [L]
  proj: GPUBuffer; // [B*T, C] o_proj / down_proj output before the residual add
  splitK: GPUBuffer; // split-K partials (layout.ts scratch.splitK)
}

/** The key/value cache of one layer: k and v [B*stride, NKV*HD] post-RoPE, rows [0, start) filled. */
export interface LayerCache {
  k: GPUBuffer;
  v: GPUBuffer;
}

/** Where a pass with a cache reads and appends keys and values (B sequences of `stride` rows). */
export interface KvCache {
  layers: LayerCache[]; // [L]
  keyMask: GPUBuffer; // u32 [B*stride], 1 for every filled row
  start: number; // rows already in the cache = position offset of the new queries
  stride: number; // rows per sequence in k, v and keyMask
}

/** The plan's buffers as the training / evaluation pass uses them. */
export function trainingPass(acts: Activations): PassBuffers {
  const { inputs } = acts;
  return {
    tokens: inputs.tokens,
    positions: inputs.positions,
    keyMask: inputs.keyMask,
    res: acts.res,
    layers: acts.layers,
    proj: acts.scratch.proj,
    splitK: acts.scratch.splitK,
  };
}

/** Image feature rows [count, C] and the flat rows i32 [count] of the pass they replace. */
export interface ImageRows {
  rows: GPUBuffer;
  pos: GPUBuffer;
  count: number;
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
  splitK: Binding,
): void {
  const { IN, OUT } = targetShape(cfg, target);
  linearForward(ctx, out, inp, params.layers[l].linear[target], T, IN, OUT, { splitK });
  const ab = lora?.bindings(l, target);
  if (lora && ab && xa) loraForward(ctx, out, xa, inp, ab.A, ab.B, T, IN, OUT, lora.r, lora.scale, splitK);
}

/**
 * One decoder layer over N = B*T rows: x -> out, keeping what the backward needs in `a`.
 * Without `cache` the rows are whole sequences (queries at 0 .. T-1 attend over a.k, a.v under
 * `keyMask`). With it, the new rows' k and v are appended to `cache` at row cache.start of each
 * sequence and the queries attend over the cache (KV-cache decoding, nanoVLM's start_pos).
 */
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
  splitK: GPUBuffer,
  cache?: { layer: LayerCache; keyMask: GPUBuffer; start: number; stride: number },
): void {
  const N = B * T;
  const C = cfg.hiddenSize;
  const FF = cfg.intermediateSize;
  const { numHeads: NH, numKvHeads: NKV, headDim: HD, ropeTheta: theta, rmsNormEps: eps } = cfg;
  const w = params.layers[l];
  const lin = (t: LoraTarget, o: GPUBuffer, inp: GPUBuffer) =>
    adaptedLinearForward(ctx, cfg, params, lora, l, t, o, a.xa[t], inp, N, splitK);
  rmsnormForward(ctx, a.ln1, a.rstd1, x, w.inputNorm, N, C, eps);
  lin('q', a.q, a.ln1);
  lin('k', a.k, a.ln1);
  lin('v', a.v, a.ln1);
  ropeForward(ctx, a.q, a.q, positions, N, NH, HD, theta);
  ropeForward(ctx, a.k, a.k, positions, N, NKV, HD, theta);
  if (cache) {
    const KV = NKV * HD;
    const { start, stride } = cache;
    for (let b = 0; b < B; b++) {
      ctx.copy(a.k, cache.layer.k, T * KV * 4, b * T * KV * 4, (b * stride + start) * KV * 4);
      ctx.copy(a.v, cache.layer.v, T * KV * 4, b * T * KV * 4, (b * stride + start) * KV * 4);
    }
    attentionForward(ctx, a.att, a.lse, a.q, cache.layer.k, cache.layer.v, cache.keyMask, B, T, start + T, NH, NKV, HD, start, {
      kvStride: stride,
    });
  } else attentionForward(ctx, a.att, a.lse, a.q, a.k, a.v, keyMask, B, T, T, NH, NKV, HD, 0);
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
 * Embeddings (image rows replacing their placeholders) through every layer; the last residual
 * ends in pass.res[L]. With `cache`, the B*T rows are new tokens after cache.start cached ones
 * (see layerForward).
 */
export function decoderForward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  pass: PassBuffers,
  lora: LoraAdapter | null,
  B: number,
  T: number,
  image: ImageRows | null,
  cache?: KvCache,
): void {
  const N = B * T;
  const C = cfg.hiddenSize;
  const { res } = pass;
  embeddingForward(ctx, res[0], pass.tokens, params.embed, N, C);
  if (image && image.count > 0) replaceRows(ctx, res[0], image.rows, image.pos, image.count, C);
  for (let l = 0; l < cfg.numLayers; l++) {
    const c = cache && { layer: cache.layers[l], keyMask: cache.keyMask, start: cache.start, stride: cache.stride };
    layerForward(
      ctx,
      cfg,
      params,
      lora,
      l,
      pass.layers[l],
      res[l],
      res[l + 1],
      pass.proj,
      pass.positions,
      pass.keyMask,
      B,
      T,
      pass.splitK,
      c,
    );
  }
}

/** The final norm at the first M answer rows only (never the full sequence): hG -> hN. */
export function headForward(ctx: GpuContext, cfg: DecoderConfig, params: DecoderParams, acts: Activations, M: number): void {
  const C = cfg.hiddenSize;
  const { head } = acts;
  gatherRows(ctx, head.hG, acts.res[cfg.numLayers], acts.inputs.rows, M, C);
  rmsnormForward(ctx, head.hN, head.rstdF, head.hG, params.norm, M, C, cfg.rmsNormEps);
}

/**
 * Full-vocabulary logits [B, V] into head.logits at rows `lastRows` [B] of the last residual
 * `last` (each sequence's last token: generation, checks).
 */
export function lastLogitsForward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  acts: Activations,
  last: GPUBuffer,
  lastRows: GPUBuffer,
  B: number,
): void {
  const C = cfg.hiddenSize;
  const { head } = acts;
  lastHiddenForward(ctx, cfg, params, acts, last, lastRows, B);
  linearForward(ctx, head.logits, head.hLastN, params.lmHead, B, C, cfg.vocabSize, { splitK: acts.scratch.splitK });
}

/** The final norm at rows `lastRows` [B] of the last residual: head.hLastN [B, C]. */
export function lastHiddenForward(
  ctx: GpuContext,
  cfg: DecoderConfig,
  params: DecoderParams,
  acts: Activations,
  last: GPUBuffer,
  lastRows: GPUBuffer,
  B: number,
): void {
  const C = cfg.hiddenSize;
  const { head } = acts;
  gatherRows(ctx, head.hLast, last, lastRows, B, C);
  rmsnormForward(ctx, head.hLastN, head.rstdLast, head.hLast, params.norm, B, C, cfg.rmsNormEps);
}
