// Float64 reference of the whole decoder with LoRA (src/engine/forward.ts, backward.ts), composed
// from the per-op references in this folder. It runs ONE sequence at a time with no padding, so
// the engine's batching, padding and row bookkeeping are checked against something independent.
// Layer (Llama, transformers/models/llama/modeling_llama.py):
//   h   = x + o(attn(rope(q(ln1 x)), rope(k(ln1 x)), v(ln1 x)))
//   out = h + down(silu(gate(ln2 h)) * up(ln2 h))
// where each adapted linear is W x + (alpha/r) B A x.
import type { DecoderConfig } from '../../src/engine/config';
import { LORA_TARGETS, SMOLVLM_NAMES, TARGET_MODULE, targetShape, type LoraTarget, type WeightNames } from '../../src/engine/checkpoint';
import { loraLayout, type LoraConfig, type LoraLayout } from '../../src/engine/layout';
import { attentionBackward, attentionForward } from './attention';
import { embeddingForward, replaceRows } from './embedding';
import { gatherRows, scatterAddRows } from './gather';
import { linearBackwardInput, linearForward } from './linear';
import { logprobBackward, logprobForward } from './logprob';
import { loraBackward, loraForward } from './lora';
import { residualForward } from './residual';
import { rmsnormBackward, rmsnormForward } from './rmsnorm';
import { ropeBackward, ropeForward } from './rope';
import { swigluBackward, swigluForward } from './swiglu';

export interface RefLayerWeights {
  inputNorm: Float64Array;
  postNorm: Float64Array;
  linear: Record<LoraTarget, Float64Array>;
}

export interface RefWeights {
  embed: Float64Array;
  layers: RefLayerWeights[];
  norm: Float64Array;
  lmHead: Float64Array;
}

/** LoRA matrices by the engine's names (layout.ts), float64. */
export interface RefLora {
  layout: LoraLayout;
  values: Map<string, Float64Array>;
}

export interface RefModel {
  cfg: DecoderConfig;
  w: RefWeights;
  lora: RefLora | null;
}

const f64 = (x: ArrayLike<number>) => Float64Array.from(x);

/** Reference weights from the same host map the engine uploads (f32 values, HF names). */
export function refWeights(cfg: DecoderConfig, map: ReadonlyMap<string, Float32Array>, names: WeightNames = SMOLVLM_NAMES): RefWeights {
  const p = names.prefix;
  const get = (n: string) => {
    const x = map.get(n);
    if (!x) throw new Error(`reference: weight ${n} missing`);
    return f64(x);
  };
  const layers: RefLayerWeights[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const linear = {} as Record<LoraTarget, Float64Array>;
    for (const t of LORA_TARGETS) linear[t] = get(`${p}layers.${l}.${TARGET_MODULE[t]}.weight`);
    layers.push({
      inputNorm: get(`${p}layers.${l}.input_layernorm.weight`),
      postNorm: get(`${p}layers.${l}.post_attention_layernorm.weight`),
      linear,
    });
  }
  const embed = get(`${p}embed_tokens.weight`);
  return { embed, layers, norm: get(`${p}norm.weight`), lmHead: cfg.tieWordEmbeddings ? embed : get(names.lmHead) };
}

/** A LoRA state from named f32 values (e.g. engine.lora.get()); missing names are zero. */
export function refLora(
  cfg: DecoderConfig,
  lc: LoraConfig,
  values: ReadonlyMap<string, Float32Array>,
  prefix = SMOLVLM_NAMES.prefix,
): RefLora {
  const layout = loraLayout(cfg, lc, prefix);
  const out = new Map<string, Float64Array>();
  for (const t of layout.tensors) {
    const v = values.get(t.name);
    out.set(t.name, v ? f64(v) : new Float64Array(t.count));
  }
  return { layout, values: out };
}

/** One unpadded sequence. */
export interface RefSequence {
  tokens: Int32Array; // [T]
  positions: Int32Array; // [T]
  targets: Int32Array; // [T], -1 = unscored
  imagePos: Int32Array; // [I] indices into the sequence
  imageRows: Float64Array; // [I, C]
}

export interface RefLayerCache {
  x: Float64Array; // layer input [T, C]
  ln1: Float64Array;
  rstd1: Float64Array;
  q: Float64Array; // after RoPE
  k: Float64Array;
  v: Float64Array;
  att: Float64Array;
  lse: Float64Array;
  h: Float64Array;
  ln2: Float64Array;
  rstd2: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  sw: Float64Array;
  xa: Partial<Record<LoraTarget, Float64Array>>;
}

export interface RefForward {
  T: number;
  layers: RefLayerCache[];
  xL: Float64Array; // last residual [T, C]
  keyMask: Uint32Array;
}

/** Linear layer plus its adapter when LoRA is on: out = inp W^T + scale (inp A^T) B^T. */
function adaptedLinear(
  m: RefModel,
  on: boolean,
  l: number,
  t: LoraTarget,
  out: Float64Array,
  inp: Float64Array,
  T: number,
  xaStore: RefLayerCache['xa'],
) {
  const { IN, OUT } = targetShape(m.cfg, t);
  linearForward(out, inp, m.w.layers[l].linear[t], T, IN, OUT);
  const e = m.lora?.layout.byLayer[l][t];
  if (on && m.lora && e) {
    const xa = new Float64Array(T * m.lora.layout.r);
    loraForward(out, xa, inp, m.lora.values.get(e.A.name)!, m.lora.values.get(e.B.name)!, T, IN, OUT, m.lora.layout.r, m.lora.layout.scale);
    xaStore[t] = xa;
  }
}

/** Embeddings (image rows replaced) through every layer; LoRA applied when `loraOn`. */
export function decoderForward(m: RefModel, s: RefSequence, loraOn: boolean): RefForward {
  const { cfg, w } = m;
  const T = s.tokens.length;
  const C = cfg.hiddenSize;
  const NH = cfg.numHeads;
  const NKV = cfg.numKvHeads;
  const HD = cfg.headDim;
  const KV = NKV * HD;
  const FF = cfg.intermediateSize;
  const keyMask = new Uint32Array(T).fill(1);
  let x = new Float64Array(T * C);
  embeddingForward(x, s.tokens, w.embed, T, C);
  replaceRows(x, s.imageRows, s.imagePos, s.imagePos.length, C);
  const layers: RefLayerCache[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const L = w.layers[l];
    const c: RefLayerCache = {
      x,
      ln1: new Float64Array(T * C),
      rstd1: new Float64Array(T),
      q: new Float64Array(T * C),
      k: new Float64Array(T * KV),
      v: new Float64Array(T * KV),
      att: new Float64Array(T * C),
      lse: new Float64Array(NH * T),
      h: new Float64Array(T * C),
      ln2: new Float64Array(T * C),
      rstd2: new Float64Array(T),
      gate: new Float64Array(T * FF),
      up: new Float64Array(T * FF),
      sw: new Float64Array(T * FF),
      xa: {},
    };
    rmsnormForward(c.ln1, c.rstd1, x, L.inputNorm, T, C, cfg.rmsNormEps);
    adaptedLinear(m, loraOn, l, 'q', c.q, c.ln1, T, c.xa);
    adaptedLinear(m, loraOn, l, 'k', c.k, c.ln1, T, c.xa);
    adaptedLinear(m, loraOn, l, 'v', c.v, c.ln1, T, c.xa);
    ropeForward(c.q, c.q, s.positions, T, NH, HD, cfg.ropeTheta);
    ropeForward(c.k, c.k, s.positions, T, NKV, HD, cfg.ropeTheta);
    attentionForward(c.att, c.lse, c.q, c.k, c.v, keyMask, 1, T, T, NH, NKV, HD, 0);
    const proj = new Float64Array(T * C);
    adaptedLinear(m, loraOn, l, 'o', proj, c.att, T, c.xa);
    residualForward(c.h, x, proj, T * C);
    rmsnormForward(c.ln2, c.rstd2, c.h, L.postNorm, T, C, cfg.rmsNormEps);
    adaptedLinear(m, loraOn, l, 'gate', c.gate, c.ln2, T, c.xa);
    adaptedLinear(m, loraOn, l, 'up', c.up, c.ln2, T, c.xa);
    swigluForward(c.sw, c.gate, c.up, T * FF);
    const down = new Float64Array(T * C);
    adaptedLinear(m, loraOn, l, 'down', down, c.sw, T, c.xa);
    const out = new Float64Array(T * C);
    residualForward(out, c.h, down, T * C);
    layers.push(c);
    x = out;
  }
  return { T, layers, xL: x, keyMask };
}

/** The final norm and lm_head at the scored rows only. */
export interface RefHead {
  rows: Int32Array; // indices into the sequence
  hG: Float64Array; // [M, C] last residual rows
  hN: Float64Array; // after the final norm
  rstd: Float64Array;
}

export function headForward(m: RefModel, f: RefForward, rows: Int32Array): RefHead {
  const C = m.cfg.hiddenSize;
  const M = rows.length;
  const hG = new Float64Array(M * C);
  gatherRows(hG, f.xL, rows, M, C);
  const hN = new Float64Array(M * C);
  const rstd = new Float64Array(M);
  rmsnormForward(hN, rstd, hG, m.w.norm, M, C, m.cfg.rmsNormEps);
  return { rows, hG, hN, rstd };
}

/** log p(targets[m] | row m) and the argmax token per row. */
export function headLogprob(
  m: RefModel,
  hd: RefHead,
  targets: Int32Array,
): { logprob: Float64Array; argmax: Int32Array; lse: Float64Array } {
  const M = hd.rows.length;
  const logprob = new Float64Array(M);
  const argmax = new Int32Array(M);
  const lse = new Float64Array(M);
  logprobForward(logprob, argmax, lse, hd.hN, m.w.lmHead, targets, M, m.cfg.hiddenSize, m.cfg.vocabSize);
  return { logprob, argmax, lse };
}

/** Full-vocabulary logits of one row (generation checks). */
export function rowLogits(m: RefModel, f: RefForward, row: number): Float64Array {
  const hd = headForward(m, f, Int32Array.of(row));
  const logits = new Float64Array(m.cfg.vocabSize);
  linearForward(logits, hd.hN, m.w.lmHead, 1, m.cfg.hiddenSize, m.cfg.vocabSize);
  return logits;
}

/**
 * d(sum_m dlogprob[m] * logprob_m) with respect to the last residual [T, C], for one set of
 * targets; add several target sets by calling again with the same dxL (it accumulates).
 */
export function headBackward(
  m: RefModel,
  hd: RefHead,
  targets: Int32Array,
  lse: Float64Array,
  dlogprob: Float64Array,
  dxL: Float64Array,
): void {
  const C = m.cfg.hiddenSize;
  const M = hd.rows.length;
  const dhN = new Float64Array(M * C);
  logprobBackward(dhN, dlogprob, hd.hN, m.w.lmHead, targets, lse, M, C, m.cfg.vocabSize);
  const dG = new Float64Array(M * C);
  rmsnormBackward(dG, dhN, hd.hG, m.w.norm, hd.rstd, M, C);
  scatterAddRows(dxL, dG, hd.rows, M, C);
}

/** Gradient of an adapted linear: dinp (+)= dout W (+ LoRA part); LoRA grads accumulate in `grads`. */
function adaptedLinearBackward(
  m: RefModel,
  l: number,
  t: LoraTarget,
  dinp: Float64Array,
  dout: Float64Array,
  inp: Float64Array,
  c: RefLayerCache,
  T: number,
  accumulate: boolean,
  grads: Map<string, Float64Array>,
) {
  const { IN, OUT } = targetShape(m.cfg, t);
  linearBackwardInput(dinp, dout, m.w.layers[l].linear[t], T, IN, OUT, { accumulate });
  const e = m.lora?.layout.byLayer[l][t];
  if (m.lora && e) {
    const r = m.lora.layout.r;
    const dxa = new Float64Array(T * r);
    loraBackward(
      dinp,
      grads.get(e.A.name)!,
      grads.get(e.B.name)!,
      dxa,
      dout,
      inp,
      c.xa[t]!,
      m.lora.values.get(e.A.name)!,
      m.lora.values.get(e.B.name)!,
      T,
      IN,
      OUT,
      r,
      m.lora.layout.scale,
    );
  }
}

/** Zeroed LoRA gradients by name. */
export function zeroLoraGrads(lora: RefLora): Map<string, Float64Array> {
  return new Map(lora.layout.tensors.map((t) => [t.name, new Float64Array(t.count)]));
}

/** Backward through every layer of a LoRA-on forward, from d(last residual); accumulates LoRA grads. */
export function decoderBackward(m: RefModel, s: RefSequence, f: RefForward, dxL: Float64Array, grads: Map<string, Float64Array>): void {
  const { cfg } = m;
  const T = f.T;
  const C = cfg.hiddenSize;
  const NH = cfg.numHeads;
  const NKV = cfg.numKvHeads;
  const HD = cfg.headDim;
  const KV = NKV * HD;
  const FF = cfg.intermediateSize;
  const dres = Float64Array.from(dxL);
  for (let l = cfg.numLayers - 1; l >= 0; l--) {
    const c = f.layers[l];
    const L = m.w.layers[l];
    // MLP block: out = h + down(sw)
    const dsw = new Float64Array(T * FF);
    adaptedLinearBackward(m, l, 'down', dsw, dres, c.sw, c, T, false, grads);
    const dgate = new Float64Array(T * FF);
    const dup = new Float64Array(T * FF);
    swigluBackward(dgate, dup, dsw, c.gate, c.up, T * FF);
    const dln2 = new Float64Array(T * C);
    adaptedLinearBackward(m, l, 'gate', dln2, dgate, c.ln2, c, T, false, grads);
    adaptedLinearBackward(m, l, 'up', dln2, dup, c.ln2, c, T, true, grads);
    rmsnormBackward(dres, dln2, c.h, L.postNorm, c.rstd2, T, C, { accumulate: true });
    // attention block: h = x + o(att)
    const datt = new Float64Array(T * C);
    adaptedLinearBackward(m, l, 'o', datt, dres, c.att, c, T, false, grads);
    const dq = new Float64Array(T * C);
    const dk = new Float64Array(T * KV);
    const dv = new Float64Array(T * KV);
    attentionBackward(dq, dk, dv, datt, c.q, c.k, c.v, c.att, c.lse, f.keyMask, 1, T, NH, NKV, HD);
    ropeBackward(dq, dq, s.positions, T, NH, HD, cfg.ropeTheta);
    ropeBackward(dk, dk, s.positions, T, NKV, HD, cfg.ropeTheta);
    const dln1 = new Float64Array(T * C);
    adaptedLinearBackward(m, l, 'q', dln1, dq, c.ln1, c, T, false, grads);
    adaptedLinearBackward(m, l, 'k', dln1, dk, c.ln1, c, T, true, grads);
    adaptedLinearBackward(m, l, 'v', dln1, dv, c.ln1, c, T, true, grads);
    rmsnormBackward(dres, dln1, c.x, L.inputNorm, c.rstd1, T, C, { accumulate: true });
  }
}

/** The reference form of an engine SequenceInput (image positions must be explicit). */
export function refSequence(s: {
  tokens: ArrayLike<number>;
  targets?: ArrayLike<number>;
  positions?: ArrayLike<number>;
  image?: { features: Float32Array; positions?: ArrayLike<number> };
}): RefSequence {
  const T = s.tokens.length;
  return {
    tokens: Int32Array.from(s.tokens),
    positions: s.positions ? Int32Array.from(s.positions) : Int32Array.from({ length: T }, (_, i) => i),
    targets: s.targets ? Int32Array.from(s.targets) : new Int32Array(T).fill(-1),
    imagePos: Int32Array.from(s.image?.positions ?? []),
    imageRows: f64(s.image?.features ?? []),
  };
}

/** Indices of the scored positions and their targets. */
export function scoredRows(s: RefSequence): { rows: Int32Array; targets: Int32Array } {
  const rows: number[] = [];
  const targets: number[] = [];
  s.targets.forEach((t, i) => {
    if (t !== -1) {
      rows.push(i);
      targets.push(t);
    }
  });
  return { rows: Int32Array.from(rows), targets: Int32Array.from(targets) };
}

/** Sum of log p(answer) of a sequence, plus the per-row values and argmax. */
export function sequenceLogprob(m: RefModel, s: RefSequence, loraOn: boolean): { sum: number; logprob: Float64Array; argmax: Int32Array } {
  const f = decoderForward(m, s, loraOn);
  const { rows, targets } = scoredRows(s);
  const r = headLogprob(m, headForward(m, f, rows), targets);
  return { sum: r.logprob.reduce((a, b) => a + b, 0), logprob: r.logprob, argmax: r.argmax };
}
