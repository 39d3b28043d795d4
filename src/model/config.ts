// Reads a Hugging Face config.json into the shapes this project uses.
// Idefics3 (SmolVLM): the decoder lives in `text_config`, the SigLIP tower in `vision_config`,
// and the pixel-shuffle connector's factor is the top-level `scale_factor`
// (transformers/models/idefics3/configuration_idefics3.py). A plain Llama config has the decoder
// fields at the top level and no vision side.

import { ConfigError, makeDecoderConfig, type DecoderConfig } from '../engine/config';

export interface VisionConfig {
  imageSize: number; // vision_config.image_size (512)
  patchSize: number; // vision_config.patch_size (16)
  hiddenSize: number; // vision_config.hidden_size (768)
  scaleFactor: number; // pixel-shuffle factor (4)
  imageSeqLen: number; // image tokens per image: (imageSize / patchSize)^2 / scaleFactor^2 (64)
}

export interface ModelConfig {
  architecture: string;
  decoder: DecoderConfig;
  vision?: VisionConfig;
  imageTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
}

/** A config.json we cannot use; a ConfigError, so callers can catch both kinds alike. */
export class ModelConfigError extends ConfigError {
  override name = 'ModelConfigError';
}

const VLM_ARCHITECTURES = ['Idefics3ForConditionalGeneration', 'SmolVLMForConditionalGeneration'];
const DECODER_ARCHITECTURES = ['LlamaForCausalLM'];
export const SUPPORTED_ARCHITECTURES: readonly string[] = [...VLM_ARCHITECTURES, ...DECODER_ARCHITECTURES];
const MODEL_TYPE_ARCHITECTURE: Record<string, string> = {
  idefics3: 'Idefics3ForConditionalGeneration',
  smolvlm: 'SmolVLMForConditionalGeneration',
  llama: 'LlamaForCausalLM',
};

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Field readers: a missing field yields the default, a field of the wrong type is an error. */
class FieldReader {
  constructor(
    private readonly obj: Json,
    private readonly where: string, // e.g. 'config.json: text_config'
  ) {}

  private error(key: string, want: string, got: unknown): never {
    throw new ModelConfigError(`${this.where}.${key} must be ${want}, got ${JSON.stringify(got)}`);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    return this.obj[key];
  }

  requiredInt(key: string): number {
    if (!this.has(key)) throw new ModelConfigError(`${this.where} has no "${key}"; it is needed to know the model's shape`);
    return this.int(key, 0);
  }

  int(key: string, fallback: number): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.error(key, 'an integer', v);
    return v;
  }

  optionalInt(key: string): number | undefined {
    return this.has(key) ? this.int(key, 0) : undefined;
  }

  number(key: string, fallback: number): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.error(key, 'a number', v);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.error(key, 'true or false', v);
    return v;
  }

  /** eos_token_id may be one id or a list; the first one is used. */
  tokenId(key: string): number | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first !== 'number' || !Number.isSafeInteger(first) || first < 0) this.error(key, 'a token id or a list of token ids', v);
    return first;
  }
}

/** Rope types transformers implements; the engine implements only the plain one ('default'). */
const ROPE_TYPE_WHAT: Record<string, string> = {
  linear: 'linear position interpolation',
  dynamic: 'dynamic NTK scaling',
  yarn: 'YaRN scaling',
  longrope: 'LongRoPE scaling',
  llama3: "Llama 3's frequency scaling",
  proportional: 'proportional (partial) rotary embeddings',
};

/**
 * The rotary settings as transformers 5 reads them (RotaryEmbeddingConfigMixin): `rope_scaling`
 * (older files) or `rope_parameters` (what transformers 5 writes: {rope_theta, rope_type}),
 * values inside the dict first, then the top-level `rope_theta` / `partial_rotary_factor`, then
 * LlamaConfig's default theta 10000. Anything but plain rotary embeddings is refused by name.
 */
function readRope(r: FieldReader, where: string): { theta: number } {
  const scaling = r.raw('rope_scaling');
  const parameters = r.raw('rope_parameters');
  for (const [key, v] of [
    ['rope_scaling', scaling],
    ['rope_parameters', parameters],
  ] as const) {
    if (v !== undefined && v !== null && !isObject(v))
      throw new ModelConfigError(`${where}.${key} must be an object or null, got ${JSON.stringify(v)}`);
  }
  // transformers: `rope_scaling or rope_parameters` (an empty dict counts as absent).
  const pick = (v: unknown) => (isObject(v) && Object.keys(v).length > 0 ? v : undefined);
  const key = pick(scaling) ? 'rope_scaling' : 'rope_parameters';
  const dict = pick(scaling) ?? pick(parameters) ?? {};
  const rope = new FieldReader(dict, `${where}.${key}`);
  const nested = Object.keys(dict).filter((k) => isObject(dict[k]));
  if (nested.length > 0)
    throw new ModelConfigError(
      `${where}.${key} holds separate settings per layer type (${nested.join(', ')}); the engine implements one rotary setting for every layer`,
    );
  const rawType = rope.has('rope_type') ? rope.raw('rope_type') : rope.has('type') ? rope.raw('type') : 'default';
  if (typeof rawType !== 'string') throw new ModelConfigError(`${where}.${key}.rope_type must be a string, got ${JSON.stringify(rawType)}`);
  if (rawType !== 'default') {
    const what = ROPE_TYPE_WHAT[rawType] ? ` (${ROPE_TYPE_WHAT[rawType]})` : '';
    throw new ModelConfigError(
      `${where}: ${key} ${JSON.stringify(dict)} is not supported: rope_type "${rawType}"${what} is not implemented by the engine, ` +
        'which computes plain rotary embeddings (rope_type "default", Llama rotate-half). Choose a model without rope scaling',
    );
  }
  const partial = rope.has('partial_rotary_factor') ? rope.number('partial_rotary_factor', 1) : r.number('partial_rotary_factor', 1);
  if (partial !== 1)
    throw new ModelConfigError(
      `${where}: partial_rotary_factor ${partial} rotates only part of each head; the engine rotates whole heads (partial_rotary_factor 1)`,
    );
  return { theta: rope.has('rope_theta') ? rope.number('rope_theta', 10000) : r.number('rope_theta', 10000) };
}

/** Fields that would change the decoder's math away from what the engine computes. */
function rejectUnsupportedFeatures(r: FieldReader, where: string): void {
  const act = r.raw('hidden_act');
  if (act !== undefined && act !== 'silu')
    throw new ModelConfigError(`${where}: hidden_act "${String(act)}" is not supported; the engine implements the SiLU-gated MLP only`);
  for (const key of ['attention_bias', 'mlp_bias']) {
    if (r.bool(key, false)) throw new ModelConfigError(`${where}: ${key} is true, but the engine has no bias terms in the decoder`);
  }
  if (r.bool('use_sliding_window', false) || (r.has('sliding_window') && r.raw('use_sliding_window') !== false))
    throw new ModelConfigError(
      `${where}: sliding_window ${JSON.stringify(r.raw('sliding_window'))} limits attention to a window; the engine attends over the whole sequence`,
    );
  for (const key of ['attn_logit_softcapping', 'final_logit_softcapping']) {
    if (r.has(key))
      throw new ModelConfigError(`${where}: ${key} ${JSON.stringify(r.raw(key))} caps logits; the engine has no soft-capping`);
  }
  const layerTypes = r.raw('layer_types');
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== 'full_attention'))
    throw new ModelConfigError(
      `${where}: layer_types ${JSON.stringify([...new Set(layerTypes)])} mixes attention kinds; the engine implements full attention in every layer`,
    );
  const noRope = r.raw('no_rope_layers');
  if (Array.isArray(noRope) && noRope.some((v) => v === 0 || v === false))
    throw new ModelConfigError(
      `${where}: no_rope_layers switches rotary embeddings off in some layers; the engine applies them in every layer`,
    );
}

/**
 * Llama decoder fields. The sizes are required (a wrong default would only surface as a shape
 * error much later); the rest take LlamaConfig's defaults, as transformers does.
 */
function parseLlamaDecoder(r: FieldReader, where: string, tieWordEmbeddings: boolean, vocabFallback?: number): DecoderConfig {
  rejectUnsupportedFeatures(r, where);
  const rope = readRope(r, where);
  const hiddenSize = r.requiredInt('hidden_size');
  const numHeads = r.requiredInt('num_attention_heads');
  const vocabSize = r.has('vocab_size') || vocabFallback === undefined ? r.requiredInt('vocab_size') : vocabFallback;
  try {
    return makeDecoderConfig({
      hiddenSize,
      numLayers: r.requiredInt('num_hidden_layers'),
      numHeads,
      numKvHeads: r.int('num_key_value_heads', numHeads),
      headDim: r.optionalInt('head_dim'),
      intermediateSize: r.requiredInt('intermediate_size'),
      vocabSize,
      ropeTheta: rope.theta,
      rmsNormEps: r.number('rms_norm_eps', 1e-6),
      maxPositions: r.int('max_position_embeddings', 2048),
      tieWordEmbeddings,
    });
  } catch (e) {
    if (e instanceof ConfigError && !(e instanceof ModelConfigError)) throw new ModelConfigError(`${where}: ${e.message}`);
    throw e;
  }
}

function parseVision(top: FieldReader, fileName: string): VisionConfig {
  const raw = top.raw('vision_config');
  if (!isObject(raw)) throw new ModelConfigError(`${fileName} has no "vision_config" object; an Idefics3 model needs one`);
  const v = new FieldReader(raw, `${fileName}: vision_config`);
  const imageSize = v.requiredInt('image_size');
  const patchSize = v.requiredInt('patch_size');
  const hiddenSize = v.requiredInt('hidden_size');
  const scaleFactor = top.int('scale_factor', 2); // Idefics3Config's default
  if (imageSize <= 0 || patchSize <= 0 || hiddenSize <= 0 || scaleFactor <= 0) {
    throw new ModelConfigError(
      `${fileName}: vision sizes must be positive (image_size ${imageSize}, patch_size ${patchSize}, hidden_size ${hiddenSize}, scale_factor ${scaleFactor})`,
    );
  }
  const side = imageSize / patchSize;
  if (!Number.isInteger(side))
    throw new ModelConfigError(`${fileName}: vision_config.image_size ${imageSize} is not a multiple of patch_size ${patchSize}`);
  if (side % scaleFactor !== 0)
    throw new ModelConfigError(`${fileName}: the ${side} x ${side} patch grid cannot be pixel-shuffled by scale_factor ${scaleFactor}`);
  return { imageSize, patchSize, hiddenSize, scaleFactor, imageSeqLen: (side / scaleFactor) ** 2 };
}

function architectureOf(top: FieldReader, fileName: string): string {
  const list = top.raw('architectures');
  if (Array.isArray(list) && typeof list[0] === 'string') return list[0];
  const modelType = top.raw('model_type');
  if (typeof modelType === 'string' && MODEL_TYPE_ARCHITECTURE[modelType]) return MODEL_TYPE_ARCHITECTURE[modelType];
  throw new ModelConfigError(
    `${fileName} names no architecture ("architectures" or "model_type"); supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`,
  );
}

function inVocab(decoder: DecoderConfig, ...ids: (number | undefined)[]): number | undefined {
  return ids.find((id) => id !== undefined && id < decoder.vocabSize);
}

export function parseModelConfig(json: unknown, fileName = 'config.json'): ModelConfig {
  if (!isObject(json)) throw new ModelConfigError(`${fileName} is not a JSON object`);
  const top = new FieldReader(json, fileName);
  const architecture = architectureOf(top, fileName);

  if (VLM_ARCHITECTURES.includes(architecture)) {
    const rawText = top.raw('text_config');
    if (!isObject(rawText)) throw new ModelConfigError(`${fileName} has no "text_config" object; an ${architecture} model needs one`);
    const where = `${fileName}: text_config`;
    const text = new FieldReader(rawText, where);
    // Idefics3 ties through the top-level flag (default false); fall back to the text config's.
    const tie = top.has('tie_word_embeddings') ? top.bool('tie_word_embeddings', false) : text.bool('tie_word_embeddings', false);
    const vocabFallback = top.has('vocab_size') ? top.int('vocab_size', 0) : undefined;
    const decoder = parseLlamaDecoder(text, where, tie, vocabFallback);
    const imageTokenId = top.tokenId('image_token_id');
    if (imageTokenId !== undefined && imageTokenId >= decoder.vocabSize) {
      throw new ModelConfigError(`${fileName}: image_token_id ${imageTokenId} is outside the ${decoder.vocabSize}-token vocabulary`);
    }
    return {
      architecture,
      decoder,
      vision: parseVision(top, fileName),
      imageTokenId,
      // Idefics3Config's top-level pad_token_id defaults to 128002, outside SmolVLM's vocabulary:
      // take the first id that exists in the vocabulary, text_config first.
      eosTokenId: inVocab(decoder, text.tokenId('eos_token_id'), top.tokenId('eos_token_id')),
      padTokenId: inVocab(decoder, text.tokenId('pad_token_id'), top.tokenId('pad_token_id')),
    };
  }

  if (DECODER_ARCHITECTURES.includes(architecture)) {
    const decoder = parseLlamaDecoder(top, fileName, top.bool('tie_word_embeddings', false));
    return {
      architecture,
      decoder,
      eosTokenId: inVocab(decoder, top.tokenId('eos_token_id')),
      padTokenId: inVocab(decoder, top.tokenId('pad_token_id')),
    };
  }

  throw new ModelConfigError(
    `${fileName}: architecture "${architecture}" is not supported; supported: ${SUPPORTED_ARCHITECTURES.join(', ')} ` +
      '(a Llama-style decoder, optionally with an Idefics3/SmolVLM vision tower)',
  );
}

/** What generation_config.json says about ending an answer. */
export interface GenerationConfig {
  /** `eos_token_id`: one id or a list; generation stops at any of them. Empty when absent. */
  eosTokenIds: number[];
}

export function parseGenerationConfig(json: unknown, fileName = 'generation_config.json'): GenerationConfig {
  if (!isObject(json)) throw new ModelConfigError(`${fileName} is not a JSON object`);
  const v = json.eos_token_id;
  if (v === undefined || v === null) return { eosTokenIds: [] };
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
      throw new ModelConfigError(`${fileName}: eos_token_id must be a token id or a list of token ids, got ${JSON.stringify(v)}`);
  }
  return { eosTokenIds: [...new Set(list as number[])] };
}

/**
 * The tokens that end a generated answer, as transformers' generate() stops: every eos id of
 * generation_config.json (or config.json's when the folder has none), plus the tokenizer's eos
 * token (SmolVLM's <end_of_utterance>). Ids outside the vocabulary can never be sampled: dropped.
 */
export function stopTokenIds(
  config: Pick<ModelConfig, 'decoder' | 'eosTokenId'>,
  generation: GenerationConfig | undefined,
  tokenizerEos?: number,
): number[] {
  const fromModel =
    generation && generation.eosTokenIds.length > 0 ? generation.eosTokenIds : config.eosTokenId !== undefined ? [config.eosTokenId] : [];
  const ids = [...fromModel, ...(tokenizerEos !== undefined ? [tokenizerEos] : [])];
  return [...new Set(ids)].filter((id) => id < config.decoder.vocabSize);
}
