// The one table between the engine and a Hugging Face checkpoint: which linear layers LoRA can
// adapt, their module paths and shapes, the decoder's tensor names, the adapter's tensor names
// in the engine and in PEFT's files. The loaders (src/model), the engine's upload and LoRA
// layout, the PEFT exporter and the Worker all ask here.
// Names follow transformers/models/llama/modeling_llama.py (nn.Linear weights are [out, in]);
// Idefics3 (SmolVLM) nests the same decoder under `model.text_model.`.
import { ConfigError, type DecoderConfig } from './config';

/** The model this app is built for, on the Hugging Face hub. */
export const SMOLVLM_HUB_ID = 'HuggingFaceTB/SmolVLM-256M-Instruct';

// ---- LoRA targets ------------------------------------------------------------------------------

/** The seven linear layers of a decoder layer that LoRA can adapt, in canonical order. */
export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** Module path of a target inside a layer, as Hugging Face names it. */
export const TARGET_MODULE: Readonly<Record<LoraTarget, string>> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

/** The block a target sits in: attention or MLP. */
export function targetBlock(t: LoraTarget): 'self_attn' | 'mlp' {
  return TARGET_MODULE[t].split('.')[0] as 'self_attn' | 'mlp';
}

/** The projection's own name ('q_proj'), as PEFT's target_modules and the settings list it. */
export function targetProjection(t: LoraTarget): string {
  return TARGET_MODULE[t].split('.')[1];
}

/** Projection names of all targets, in canonical order. */
export const LORA_PROJECTIONS: readonly string[] = LORA_TARGETS.map(targetProjection);

/** The target a projection name ('q_proj') stands for, or undefined. */
export function targetOfProjection(name: string): LoraTarget | undefined {
  return LORA_TARGETS.find((t) => targetProjection(t) === name);
}

/** Projection names (settings, adapter_config.json) to targets; an unknown name is a ConfigError. */
export function targetsOfProjections(names: readonly string[]): LoraTarget[] {
  return names.map((n) => {
    const t = targetOfProjection(n);
    if (!t) throw new ConfigError(`unknown LoRA target "${n}"; choose from ${LORA_PROJECTIONS.join(', ')}`);
    return t;
  });
}

/** [in, out] features of a target's linear layer (its weight is [out, in]). */
export function targetShape(cfg: DecoderConfig, t: LoraTarget): { IN: number; OUT: number } {
  const C = cfg.hiddenSize;
  const Q = cfg.numHeads * cfg.headDim; // = C (makeDecoderConfig checks it)
  const KV = cfg.numKvHeads * cfg.headDim;
  const FF = cfg.intermediateSize;
  switch (t) {
    case 'q':
      return { IN: C, OUT: Q };
    case 'o':
      return { IN: Q, OUT: C };
    case 'k':
    case 'v':
      return { IN: C, OUT: KV };
    case 'gate':
    case 'up':
      return { IN: C, OUT: FF };
    case 'down':
      return { IN: FF, OUT: C };
  }
}

// ---- the decoder's tensors ---------------------------------------------------------------------

export interface WeightNames {
  /** Prefix of the decoder's modules: 'model.text_model.' for SmolVLM, 'model.' for Llama. */
  prefix: string;
  /** Name of the output projection (not under the prefix in either family). */
  lmHead: string;
}

/** The output projection's name in both families. */
export const LM_HEAD = 'lm_head.weight';

/** Idefics3 (SmolVLM) nests the decoder under model.text_model.; a plain Llama under model. */
export const DECODER_PREFIXES = ['model.text_model.', 'model.'] as const;

export const SMOLVLM_NAMES: WeightNames = { prefix: 'model.text_model.', lmHead: LM_HEAD };

/** The names of a checkpoint whose decoder lives under `prefix`. */
export function decoderNames(prefix: string): WeightNames {
  return { prefix, lmHead: LM_HEAD };
}

/** Full module path of a target in a layer, e.g. model.text_model.layers.0.self_attn.q_proj. */
export function modulePath(prefix: string, layer: number, t: LoraTarget): string {
  return `${prefix}layers.${layer}.${TARGET_MODULE[t]}`;
}

/** Tensor names of the decoder's parts. */
export const weightName = {
  embed: (n: WeightNames) => `${n.prefix}embed_tokens.weight`,
  inputNorm: (n: WeightNames, layer: number) => `${n.prefix}layers.${layer}.input_layernorm.weight`,
  linear: (n: WeightNames, layer: number, t: LoraTarget) => `${modulePath(n.prefix, layer, t)}.weight`,
  postNorm: (n: WeightNames, layer: number) => `${n.prefix}layers.${layer}.post_attention_layernorm.weight`,
  norm: (n: WeightNames) => `${n.prefix}norm.weight`,
  lmHead: (n: WeightNames) => n.lmHead,
};

export interface WeightSpec {
  name: string;
  shape: number[];
  role: 'embed' | 'linear' | 'norm' | 'lmHead';
}

/**
 * Every tensor the decoder needs with the shape the config implies: embed_tokens, then per layer
 * input_layernorm, the seven projections, post_attention_layernorm; the final norm; lm_head last
 * (omitted when tied to embed_tokens).
 */
export function expectedWeights(cfg: DecoderConfig, names: WeightNames = SMOLVLM_NAMES): WeightSpec[] {
  const C = cfg.hiddenSize;
  const out: WeightSpec[] = [{ name: weightName.embed(names), shape: [cfg.vocabSize, C], role: 'embed' }];
  for (let l = 0; l < cfg.numLayers; l++) {
    out.push({ name: weightName.inputNorm(names, l), shape: [C], role: 'norm' });
    for (const t of LORA_TARGETS) {
      const { IN, OUT } = targetShape(cfg, t);
      out.push({ name: weightName.linear(names, l, t), shape: [OUT, IN], role: 'linear' });
    }
    out.push({ name: weightName.postNorm(names, l), shape: [C], role: 'norm' });
  }
  out.push({ name: weightName.norm(names), shape: [C], role: 'norm' });
  if (!cfg.tieWordEmbeddings) out.push({ name: weightName.lmHead(names), shape: [cfg.vocabSize, C], role: 'lmHead' });
  return out;
}

// ---- the adapter's tensors ---------------------------------------------------------------------

/** The engine's name of a LoRA matrix: PEFT's key without `base_model.model.`. */
export function loraName(prefix: string, layer: number, t: LoraTarget, kind: 'A' | 'B'): string {
  return `${modulePath(prefix, layer, t)}.lora_${kind}.weight`;
}

const PEFT_ROOT = 'base_model.model.';

/** A LoRA matrix's key in PEFT's adapter_model.safetensors. */
export function peftKey(prefix: string, layer: number, t: LoraTarget, kind: 'A' | 'B'): string {
  return PEFT_ROOT + loraName(prefix, layer, t, kind);
}

/** The parts of a PEFT key of a decoder projection, or null for any other key. */
export function parsePeftKey(key: string): { prefix: string; layer: number; target: LoraTarget; kind: 'A' | 'B' } | null {
  const m = /^base_model\.model\.(.*)layers\.(\d+)\.(\w+)\.(\w+)\.lora_([AB])\.weight$/.exec(key);
  if (!m) return null;
  const target = LORA_TARGETS.find((t) => TARGET_MODULE[t] === `${m[3]}.${m[4]}`);
  if (!target) return null;
  return { prefix: m[1], layer: Number(m[2]), target, kind: m[5] as 'A' | 'B' };
}
