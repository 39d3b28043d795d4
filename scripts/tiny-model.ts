// The built-in tiny model: a SmolVLM-shaped Idefics3 checkpoint with a 64-wide, 4-layer decoder
// and a two-block vision tower on 32-pixel patches, written in exactly the hub repository's file formats and names
// (docs/model.md) so the loader, tokenizer, vision session and engine run on it unchanged.
// Everything is derived from fixed seeds: the same bytes on every run.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '../src/model/safetensors';
import { bf16ToF32, f32ToBf16, tensorToF32, type RawTensor } from '../src/util/dtype';
import { Rng } from '../src/util/rng';
import { OnnxDataType, OnnxGraphBuilder, withFloat16Io } from './onnx-writer';
import { buildTinyTokenizer, SMOLVLM_CHAT_TEMPLATE } from './tiny-tokenizer';

export const TINY_SEED = 20240611;

/** Shapes of the tiny model (the real model's values in comments). */
export const TINY = {
  text: {
    hiddenSize: 64, // 576
    numLayers: 4, // 30
    numHeads: 4, // 9
    numKvHeads: 2, // 3
    intermediateSize: 128, // 1536
    vocabSize: 49280,
    ropeTheta: 100000,
    rmsNormEps: 1e-5,
    maxPositions: 2048, // 8192
  },
  vision: {
    imageSize: 512,
    patchSize: 32, // 16
    hiddenSize: 96, // 768
    numHeads: 4, // 12
    intermediateSize: 384, // 3072
    numLayers: 2, // 12
    layerNormEps: 1e-6,
  },
  scaleFactor: 2, // 4
  imageSeqLen: 64,
  imageTokenId: 49190,
  bosTokenId: 1,
  padTokenId: 2,
  eosTokenId: 49279,
} as const;

/** FNV-1a of a tensor name: each tensor gets its own stream, independent of write order. */
function nameSeed(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return (h ^ TINY_SEED) >>> 0;
}

/** Values exactly representable in bf16, so the safetensors copy and the fp32 ONNX copy agree. */
function bf16Round(a: Float32Array): Float32Array {
  return bf16ToF32(f32ToBf16(a));
}

function normalTensor(name: string, n: number, std: number, mean = 0): Float32Array {
  const a = new Float32Array(n);
  new Rng(nameSeed(name)).fillNormal(a);
  for (let i = 0; i < n; i++) a[i] = mean + std * a[i];
  return bf16Round(a);
}

// ---------------------------------------------------------------- vision tower + connector

/** PyTorch layouts: Linear weight [out, in], Conv weight [out, in, kh, kw]. */
export interface TinyVisionWeights {
  patchWeight: Float32Array; // [D, 3, P, P]
  patchBias: Float32Array; // [D]
  positionEmbedding: Float32Array; // [N, D], N = (imageSize / patchSize)^2
  layers: {
    ln1Weight: Float32Array;
    ln1Bias: Float32Array;
    qWeight: Float32Array; // [D, D]
    qBias: Float32Array;
    kWeight: Float32Array;
    kBias: Float32Array;
    vWeight: Float32Array;
    vBias: Float32Array;
    oWeight: Float32Array;
    oBias: Float32Array;
    ln2Weight: Float32Array;
    ln2Bias: Float32Array;
    fc1Weight: Float32Array; // [F, D]
    fc1Bias: Float32Array;
    fc2Weight: Float32Array; // [D, F]
    fc2Bias: Float32Array;
  }[];
  postLnWeight: Float32Array;
  postLnBias: Float32Array;
  projWeight: Float32Array; // [textHidden, D * scaleFactor^2], no bias
}

const V = 'model.vision_model';

export function tinyVisionWeights(): TinyVisionWeights {
  const { hiddenSize: D, patchSize: P, imageSize, intermediateSize: F, numLayers } = TINY.vision;
  const N = (imageSize / P) ** 2;
  const lin = (name: string, out: number, inp: number) => normalTensor(name, out * inp, 1 / Math.sqrt(inp));
  const bias = (name: string, n: number) => normalTensor(name, n, 0.02);
  const layers = [];
  for (let l = 0; l < numLayers; l++) {
    const p = `${V}.encoder.layers.${l}`;
    layers.push({
      ln1Weight: normalTensor(`${p}.layer_norm1.weight`, D, 0.1, 1),
      ln1Bias: bias(`${p}.layer_norm1.bias`, D),
      qWeight: lin(`${p}.self_attn.q_proj.weight`, D, D),
      qBias: bias(`${p}.self_attn.q_proj.bias`, D),
      kWeight: lin(`${p}.self_attn.k_proj.weight`, D, D),
      kBias: bias(`${p}.self_attn.k_proj.bias`, D),
      vWeight: lin(`${p}.self_attn.v_proj.weight`, D, D),
      vBias: bias(`${p}.self_attn.v_proj.bias`, D),
      oWeight: lin(`${p}.self_attn.out_proj.weight`, D, D),
      oBias: bias(`${p}.self_attn.out_proj.bias`, D),
      ln2Weight: normalTensor(`${p}.layer_norm2.weight`, D, 0.1, 1),
      ln2Bias: bias(`${p}.layer_norm2.bias`, D),
      fc1Weight: lin(`${p}.mlp.fc1.weight`, F, D),
      fc1Bias: bias(`${p}.mlp.fc1.bias`, F),
      fc2Weight: lin(`${p}.mlp.fc2.weight`, D, F),
      fc2Bias: bias(`${p}.mlp.fc2.bias`, D),
    });
  }
  const shuffled = D * TINY.scaleFactor ** 2;
  return {
    patchWeight: normalTensor(`${V}.embeddings.patch_embedding.weight`, D * 3 * P * P, 1 / Math.sqrt(3 * P * P)),
    patchBias: bias(`${V}.embeddings.patch_embedding.bias`, D),
    positionEmbedding: normalTensor(`${V}.embeddings.position_embedding.weight`, N * D, 0.2),
    layers,
    postLnWeight: normalTensor(`${V}.post_layernorm.weight`, D, 0.1, 1),
    postLnBias: bias(`${V}.post_layernorm.bias`, D),
    // Small enough that image features sit near the scale of the token embeddings.
    projWeight: normalTensor('model.connector.modality_projection.proj.weight', TINY.text.hiddenSize * shuffled, 0.5 / Math.sqrt(shuffled)),
  };
}

/** The vision weights under their checkpoint names, with shapes. */
function visionTensors(w: TinyVisionWeights): { name: string; shape: number[]; data: Float32Array }[] {
  const { hiddenSize: D, patchSize: P, imageSize, intermediateSize: F } = TINY.vision;
  const N = (imageSize / P) ** 2;
  const out = [
    { name: `${V}.embeddings.patch_embedding.weight`, shape: [D, 3, P, P], data: w.patchWeight },
    { name: `${V}.embeddings.patch_embedding.bias`, shape: [D], data: w.patchBias },
    { name: `${V}.embeddings.position_embedding.weight`, shape: [N, D], data: w.positionEmbedding },
  ];
  w.layers.forEach((l, i) => {
    const p = `${V}.encoder.layers.${i}`;
    out.push(
      { name: `${p}.layer_norm1.weight`, shape: [D], data: l.ln1Weight },
      { name: `${p}.layer_norm1.bias`, shape: [D], data: l.ln1Bias },
      { name: `${p}.self_attn.q_proj.weight`, shape: [D, D], data: l.qWeight },
      { name: `${p}.self_attn.q_proj.bias`, shape: [D], data: l.qBias },
      { name: `${p}.self_attn.k_proj.weight`, shape: [D, D], data: l.kWeight },
      { name: `${p}.self_attn.k_proj.bias`, shape: [D], data: l.kBias },
      { name: `${p}.self_attn.v_proj.weight`, shape: [D, D], data: l.vWeight },
      { name: `${p}.self_attn.v_proj.bias`, shape: [D], data: l.vBias },
      { name: `${p}.self_attn.out_proj.weight`, shape: [D, D], data: l.oWeight },
      { name: `${p}.self_attn.out_proj.bias`, shape: [D], data: l.oBias },
      { name: `${p}.layer_norm2.weight`, shape: [D], data: l.ln2Weight },
      { name: `${p}.layer_norm2.bias`, shape: [D], data: l.ln2Bias },
      { name: `${p}.mlp.fc1.weight`, shape: [F, D], data: l.fc1Weight },
      { name: `${p}.mlp.fc1.bias`, shape: [F], data: l.fc1Bias },
      { name: `${p}.mlp.fc2.weight`, shape: [D, F], data: l.fc2Weight },
      { name: `${p}.mlp.fc2.bias`, shape: [D], data: l.fc2Bias },
    );
  });
  out.push(
    { name: `${V}.post_layernorm.weight`, shape: [D], data: w.postLnWeight },
    { name: `${V}.post_layernorm.bias`, shape: [D], data: w.postLnBias },
    {
      name: 'model.connector.modality_projection.proj.weight',
      shape: [TINY.text.hiddenSize, D * TINY.scaleFactor ** 2],
      data: w.projWeight,
    },
  );
  return out;
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/**
 * onnx/vision_encoder.onnx: SigLIP-style tower (patch conv, position embedding, pre-LN blocks with
 * multi-head attention and a tanh-GELU MLP, post LayerNorm), then the Idefics3 connector
 * (pixel shuffle by scale_factor, bias-free projection). Same inputs and output as the official
 * export; `pixel_attention_mask` is declared but unused (an unpadded 512 x 512 image is all true).
 */
export function buildVisionOnnx(w: TinyVisionWeights): Uint8Array {
  const { hiddenSize: D, patchSize: P, imageSize: S, numHeads: H, intermediateSize: F, layerNormEps: eps } = TINY.vision;
  const G = S / P; // patches per side
  const N = G * G;
  const HD = D / H;
  const sf = TINY.scaleFactor;
  const C = TINY.text.hiddenSize;
  const g = new OnnxGraphBuilder('vision_encoder');
  const pv = g.input('pixel_values', OnnxDataType.FLOAT, ['batch_size', 'num_images', 3, S, S]);
  g.input('pixel_attention_mask', OnnxDataType.BOOL, ['batch_size', 'num_images', S, S]);

  const shape = (name: string, dims: number[]) => g.int64Tensor(name, dims);
  const scalar = (name: string, v: number) => g.floatTensor(name, [], new Float32Array([v]));
  const linear = (x: string, name: string, weight: Float32Array, b: Float32Array | null, out: number, inp: number) => {
    const wt = g.floatTensor(`${name}.weight_t`, [inp, out], transpose(weight, out, inp));
    const y = g.node('MatMul', [x, wt]);
    return b ? g.node('Add', [y, g.floatTensor(`${name}.bias`, [out], b)]) : y;
  };
  const layerNorm = (x: string, name: string, weight: Float32Array, b: Float32Array) =>
    g.node('LayerNormalization', [x, g.floatTensor(`${name}.weight`, [D], weight), g.floatTensor(`${name}.bias`, [D], b)], {
      axis: -1,
      epsilon: { float: eps },
    });

  // [batch, num_images, 3, S, S] -> [n, 3, S, S], n = batch * num_images
  let x = g.node('Reshape', [pv, shape('images_shape', [-1, 3, S, S])]);
  x = g.node(
    'Conv',
    [x, g.floatTensor('patch_embedding.weight', [D, 3, P, P], w.patchWeight), g.floatTensor('patch_embedding.bias', [D], w.patchBias)],
    {
      kernel_shape: [P, P],
      strides: [P, P],
    },
  );
  x = g.node('Reshape', [x, shape('patches_shape', [0, D, N])]);
  x = g.node('Transpose', [x], { perm: [0, 2, 1] }); // [n, N, D], patches row-major
  x = g.node('Add', [x, g.floatTensor('position_embedding.weight', [N, D], w.positionEmbedding)]);

  const headsShape = shape('heads_shape', [0, N, H, HD]);
  const mergedShape = shape('merged_shape', [0, N, D]);
  const attnScale = scalar('attn_scale', 1 / Math.sqrt(HD));
  const half = scalar('half', 0.5);
  const one = scalar('one', 1);
  const geluCubic = scalar('gelu_cubic', 0.044715);
  const geluScale = scalar('gelu_scale', Math.sqrt(2 / Math.PI));
  w.layers.forEach((l, i) => {
    const p = `layers.${i}`;
    let h = layerNorm(x, `${p}.layer_norm1`, l.ln1Weight, l.ln1Bias);
    const q = g.node('Transpose', [g.node('Reshape', [linear(h, `${p}.q_proj`, l.qWeight, l.qBias, D, D), headsShape])], {
      perm: [0, 2, 1, 3],
    });
    const kT = g.node('Transpose', [g.node('Reshape', [linear(h, `${p}.k_proj`, l.kWeight, l.kBias, D, D), headsShape])], {
      perm: [0, 2, 3, 1],
    });
    const v = g.node('Transpose', [g.node('Reshape', [linear(h, `${p}.v_proj`, l.vWeight, l.vBias, D, D), headsShape])], {
      perm: [0, 2, 1, 3],
    });
    const scores = g.node('Mul', [g.node('MatMul', [q, kT]), attnScale]); // [n, H, N, N]
    const probs = g.node('Softmax', [scores], { axis: -1 });
    let o = g.node('Transpose', [g.node('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }); // [n, N, H, HD]
    o = linear(g.node('Reshape', [o, mergedShape]), `${p}.out_proj`, l.oWeight, l.oBias, D, D);
    x = g.node('Add', [x, o]);
    h = layerNorm(x, `${p}.layer_norm2`, l.ln2Weight, l.ln2Bias);
    const f = linear(h, `${p}.fc1`, l.fc1Weight, l.fc1Bias, F, D);
    // gelu_pytorch_tanh: 0.5 f (1 + tanh(sqrt(2/pi) (f + 0.044715 f^3)))
    const f3 = g.node('Mul', [g.node('Mul', [f, f]), f]);
    const inner = g.node('Mul', [g.node('Add', [f, g.node('Mul', [f3, geluCubic])]), geluScale]);
    const gelu = g.node('Mul', [g.node('Mul', [f, half]), g.node('Add', [g.node('Tanh', [inner]), one])]);
    x = g.node('Add', [x, linear(gelu, `${p}.fc2`, l.fc2Weight, l.fc2Bias, D, F)]);
  });
  x = layerNorm(x, 'post_layernorm', w.postLnWeight, w.postLnBias);

  // Idefics3Connector.pixel_shuffle: [n, G*G, D] -> [n, (G/sf)^2, D*sf^2]
  x = g.node('Reshape', [x, shape('shuffle_shape_1', [0, G, G / sf, D * sf])]);
  x = g.node('Transpose', [x], { perm: [0, 2, 1, 3] });
  x = g.node('Reshape', [x, shape('shuffle_shape_2', [0, G / sf, G / sf, D * sf * sf])]);
  x = g.node('Transpose', [x], { perm: [0, 2, 1, 3] });
  x = g.node('Reshape', [x, shape('shuffle_shape_3', [0, (G / sf) ** 2, D * sf * sf])]);
  linearInto(g, x, w.projWeight, C, D * sf * sf, 'image_features');
  g.output('image_features', OnnxDataType.FLOAT, ['num_images', (G / sf) ** 2, C]);
  return g.build();
}

/**
 * onnx/vision_encoder_fp16.onnx: the same tower with float16 pixel_values and image_features,
 * as the hub's fp16 export declares them (float32 inside, a Cast at each end).
 */
export function buildVisionOnnxFloat16Io(fp32Onnx: Uint8Array): Uint8Array {
  return withFloat16Io(fp32Onnx, ['pixel_values'], ['image_features']);
}

function linearInto(g: OnnxGraphBuilder, x: string, weight: Float32Array, out: number, inp: number, outputName: string): void {
  const wt = g.floatTensor('modality_projection.proj.weight_t', [inp, out], transpose(weight, out, inp));
  g.node('MatMul', [x, wt], {}, outputName);
}

// ---------------------------------------------------------------- text decoder

/** Decoder tensors in checkpoint order (names as in docs/model.md), bf16-exact float32 values. */
export function tinyTextTensors(): { name: string; shape: number[]; data: Float32Array }[] {
  const { hiddenSize: C, numLayers, numHeads, numKvHeads, intermediateSize: FF, vocabSize } = TINY.text;
  const HD = C / numHeads;
  const T = 'model.text_model';
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  const add = (name: string, shape: number[], std: number, mean = 0) =>
    out.push({
      name,
      shape,
      data: normalTensor(
        name,
        shape.reduce((a, b) => a * b, 1),
        std,
        mean,
      ),
    });
  add(`${T}.embed_tokens.weight`, [vocabSize, C], 0.5);
  for (let l = 0; l < numLayers; l++) {
    const p = `${T}.layers.${l}`;
    // Projections at ~1/sqrt(fan_in) keep activations O(1) through the residual stream.
    add(`${p}.self_attn.q_proj.weight`, [numHeads * HD, C], 1 / Math.sqrt(C));
    add(`${p}.self_attn.k_proj.weight`, [numKvHeads * HD, C], 1 / Math.sqrt(C));
    add(`${p}.self_attn.v_proj.weight`, [numKvHeads * HD, C], 1 / Math.sqrt(C));
    add(`${p}.self_attn.o_proj.weight`, [C, numHeads * HD], 0.5 / Math.sqrt(C));
    add(`${p}.mlp.gate_proj.weight`, [FF, C], 1 / Math.sqrt(C));
    add(`${p}.mlp.up_proj.weight`, [FF, C], 1 / Math.sqrt(C));
    add(`${p}.mlp.down_proj.weight`, [C, FF], 0.5 / Math.sqrt(FF));
    add(`${p}.input_layernorm.weight`, [C], 0.1, 1);
    add(`${p}.post_attention_layernorm.weight`, [C], 0.1, 1);
  }
  add(`${T}.norm.weight`, [C], 0.1, 1);
  // Logits with a spread of a few nats: sampling is neither uniform nor stuck on one token.
  add('lm_head.weight', [vocabSize, C], 2 / Math.sqrt(C));
  return out;
}

function bf16Raw(t: { name: string; shape: number[]; data: Float32Array }): RawTensor {
  const u16 = f32ToBf16(t.data);
  return { name: t.name, dtype: 'BF16', shape: t.shape, data: new Uint8Array(u16.buffer, u16.byteOffset, u16.byteLength) };
}

// ---------------------------------------------------------------- configs

function configJson(): object {
  const t = TINY.text;
  const v = TINY.vision;
  return {
    architectures: ['Idefics3ForConditionalGeneration'],
    image_token_id: TINY.imageTokenId,
    model_type: 'idefics3',
    scale_factor: TINY.scaleFactor,
    pad_token_id: TINY.padTokenId,
    text_config: {
      architectures: ['VLlama3ForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: TINY.bosTokenId,
      eos_token_id: TINY.eosTokenId,
      head_dim: t.hiddenSize / t.numHeads,
      hidden_act: 'silu',
      hidden_size: t.hiddenSize,
      initializer_range: 0.02,
      intermediate_size: t.intermediateSize,
      max_position_embeddings: t.maxPositions,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: t.numHeads,
      num_hidden_layers: t.numLayers,
      num_key_value_heads: t.numKvHeads,
      pad_token_id: TINY.padTokenId,
      pretraining_tp: 1,
      rms_norm_eps: t.rmsNormEps,
      rope_scaling: null,
      rope_theta: t.ropeTheta,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      use_cache: true,
      vocab_size: t.vocabSize,
    },
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.46.0',
    use_cache: true,
    vision_config: {
      hidden_act: 'gelu_pytorch_tanh',
      hidden_size: v.hiddenSize,
      image_size: v.imageSize,
      intermediate_size: v.intermediateSize,
      layer_norm_eps: v.layerNormEps,
      max_image_size: { longest_edge: v.imageSize },
      model_type: 'idefics3_vision',
      num_attention_heads: v.numHeads,
      num_channels: 3,
      num_hidden_layers: v.numLayers,
      patch_size: v.patchSize,
      size: { longest_edge: v.imageSize },
      tie_word_embeddings: false,
      use_base_siglip: false,
    },
    vocab_size: t.vocabSize,
  };
}

/**
 * SmolVLM-256M-Instruct's preprocessor_config.json, value for value: Idefics3ImageProcessor with
 * image splitting on (the longest edge resized to 2048, then 512-pixel tiles plus a global
 * view), Lanczos resampling (PIL resample 1), rescale 1/255, mean and std 0.5. The tiny tower
 * sees 512 x 512 images like the real one, so the same values hold.
 */
function preprocessorConfigJson(): object {
  return {
    do_convert_rgb: true,
    do_image_splitting: true,
    do_normalize: true,
    do_pad: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_processor_type: 'Idefics3ImageProcessor',
    image_std: [0.5, 0.5, 0.5],
    max_image_size: { longest_edge: TINY.vision.imageSize },
    processor_class: 'Idefics3Processor',
    resample: 1,
    rescale_factor: 1 / 255,
    size: { longest_edge: 4 * TINY.vision.imageSize },
  };
}

/**
 * The slow-tokenizer files the hub repository carries next to tokenizer.json, as the tokenizers
 * library and transformers write them: vocab.json (the BPE vocabulary in id order, compact),
 * merges.txt ("#version: 0.2" then one merge per line) and added_tokens.json (the added tokens
 * past the base vocabulary, sorted keys, indent 2).
 */
function slowTokenizerFiles(tokenizerJson: Record<string, unknown>): Map<string, string> {
  const model = tokenizerJson.model as { vocab: Record<string, number>; merges: string[] };
  const vocab = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]);
  const added = (tokenizerJson.added_tokens as { id: number; content: string }[]).filter((t) => t.id >= vocab.length);
  const addedSorted: Record<string, number> = {};
  for (const t of [...added].sort((a, b) => (a.content < b.content ? -1 : a.content > b.content ? 1 : 0))) addedSorted[t.content] = t.id;
  return new Map([
    // Written by hand: a JS object would move integer-like keys ("0" .. "9") to the front.
    ['vocab.json', `{${vocab.map(([token, id]) => `${JSON.stringify(token)}:${id}`).join(',')}}`],
    ['merges.txt', ['#version: 0.2', ...model.merges].join('\n') + '\n'],
    ['added_tokens.json', JSON.stringify(addedSorted, null, 2) + '\n'],
  ]);
}

// ---------------------------------------------------------------- the folder

export interface TinyBuildOptions {
  /**
   * The weights learned by `npm run pretrain`: true (default) applies the committed file when it
   * exists, false gives the seed-only model (pretraining's starting point), or the file's bytes.
   */
  pretrained?: boolean | Uint8Array;
}

/** Every file of the model folder, path relative to the folder -> bytes. */
export function buildTinyModel(opts: TinyBuildOptions = {}): Map<string, Uint8Array> {
  const learned = resolvePretrained(opts.pretrained ?? true);
  const files = new Map<string, Uint8Array>();
  const json = (path: string, value: unknown, indent = 2) =>
    files.set(path, new TextEncoder().encode(JSON.stringify(value, null, indent) + '\n'));
  json('config.json', configJson());
  json('generation_config.json', {
    _from_model_config: true,
    bos_token_id: TINY.bosTokenId,
    eos_token_id: TINY.eosTokenId,
    pad_token_id: TINY.padTokenId,
    transformers_version: '4.46.0',
  });
  json('preprocessor_config.json', preprocessorConfigJson());
  json('processor_config.json', { image_seq_len: TINY.imageSeqLen, processor_class: 'Idefics3Processor' });
  const { tokenizerJson, tokenizerConfig } = buildTinyTokenizer();
  json('tokenizer.json', tokenizerJson, 0); // 49k vocabulary entries: compact
  json('tokenizer_config.json', tokenizerConfig);
  json('chat_template.json', { chat_template: SMOLVLM_CHAT_TEMPLATE });
  for (const [path, text] of slowTokenizerFiles(tokenizerJson)) files.set(path, new TextEncoder().encode(text));
  json('special_tokens_map.json', {
    additional_special_tokens: ['<fake_token_around_image>', '<image>', '<end_of_utterance>'],
    bos_token: '<|im_start|>',
    eos_token: '<end_of_utterance>',
    pad_token: '<|im_end|>',
    unk_token: '<|endoftext|>',
  });

  const vision = learned ? applyPretrainedVision(tinyVisionWeights(), learned) : tinyVisionWeights();
  const text = learned ? applyPretrained(tinyTextTensors(), learned) : tinyTextTensors();
  // Sorted by name as the hub's file is: lm_head, connector, text model, vision model.
  const tensors = [...text, ...visionTensors(vision)].sort((a, b) => (a.name < b.name ? -1 : 1)).map(bf16Raw);
  files.set('model.safetensors', writeSafetensors(tensors, { format: 'pt' }));
  files.set('onnx/vision_encoder.onnx', buildVisionOnnx(vision));
  files.set('onnx/vision_encoder_fp16.onnx', buildVisionOnnxFloat16Io(files.get('onnx/vision_encoder.onnx')!));
  return files;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes the folder; returns what was written. Overwrites, so running twice is harmless. */
export async function writeTinyModel(
  outDir: string,
  opts: TinyBuildOptions = {},
): Promise<{ path: string; bytes: number; sha256: string }[]> {
  const files = buildTinyModel(opts);
  const written = [];
  for (const [rel, bytes] of files) {
    const path = join(outDir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
    written.push({ path: rel, bytes: bytes.length, sha256: sha256(bytes) });
  }
  return written;
}

// ---------------------------------------------------------------- pretrained weights

/**
 * What `npm run pretrain` (scripts/pretrain/pretrain.py) learned on the benchmark scenes: every
 * trained tensor under its checkpoint name (bf16), except the two vocabulary matrices, of which
 * only the rows of the tokens that occur in the scene texts were trained; those rows are stored
 * as `<name>:rows` [K, C] with their token ids in `vocab_rows` (F32, exact below 2^24). Every
 * other row, and every tensor not in the file, is the seed's.
 */
export const PRETRAINED_FILE = fileURLToPath(new URL('./pretrain/tiny-pretrained.safetensors', import.meta.url));

export const VOCAB_ROW_TENSORS = ['model.text_model.embed_tokens.weight', 'lm_head.weight'] as const;

export interface PretrainedWeights {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  rowIds: Int32Array;
  metadata: Record<string, string>;
}

export class PretrainedWeightsError extends Error {
  override name = 'PretrainedWeightsError';
}

export function readPretrained(bytes: Uint8Array, fileName = PRETRAINED_FILE): PretrainedWeights {
  const file = readSafetensors(bytes, fileName);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of file.header.tensors)
    if (name !== 'vocab_rows') tensors.set(name, { shape: info.shape, data: tensorToF32(file.tensor(name)) });
  const ids = file.header.tensors.has('vocab_rows') ? tensorToF32(file.tensor('vocab_rows')) : new Float32Array(0);
  const rowIds = Int32Array.from(ids);
  for (const name of VOCAB_ROW_TENSORS) {
    const t = tensors.get(`${name}:rows`);
    if (t && (t.shape.length !== 2 || t.shape[0] !== rowIds.length)) {
      throw new PretrainedWeightsError(
        `${fileName}: ${name}:rows has shape ${JSON.stringify(t.shape)} but vocab_rows lists ${rowIds.length} tokens; run \`npm run pretrain\` again`,
      );
    }
  }
  return { tensors, rowIds, metadata: file.header.metadata };
}

function resolvePretrained(p: boolean | Uint8Array): PretrainedWeights | null {
  if (p === false) return null;
  if (p === true) return existsSync(PRETRAINED_FILE) ? readPretrained(new Uint8Array(readFileSync(PRETRAINED_FILE))) : null;
  return readPretrained(p, 'pretrained weights');
}

/** Replaces the seed's tensors by the learned ones (whole tensors, or vocabulary rows). */
export function applyPretrained<T extends { name: string; shape: number[]; data: Float32Array }>(
  list: T[],
  learned: PretrainedWeights,
): T[] {
  return list.map((t) => {
    const whole = learned.tensors.get(t.name);
    if (whole) {
      if (whole.shape.join() !== t.shape.join()) {
        throw new PretrainedWeightsError(
          `pretrained ${t.name} has shape ${JSON.stringify(whole.shape)}, the tiny model ${JSON.stringify(t.shape)}: the shapes in TINY changed since \`npm run pretrain\`; run it again`,
        );
      }
      return { ...t, data: bf16Round(whole.data) };
    }
    const rows = learned.tensors.get(`${t.name}:rows`);
    if (!rows) return t;
    const C = t.shape[1];
    if (rows.shape[1] !== C)
      throw new PretrainedWeightsError(
        `pretrained ${t.name}:rows is ${rows.shape[1]} wide, the tiny model ${C}; run \`npm run pretrain\` again`,
      );
    const data = t.data.slice();
    learned.rowIds.forEach((id, k) => {
      if (id < 0 || id >= t.shape[0])
        throw new PretrainedWeightsError(`pretrained vocab_rows holds token id ${id}, outside the vocabulary of ${t.shape[0]}`);
      data.set(bf16Round(rows.data.subarray(k * C, (k + 1) * C)), id * C);
    });
    return { ...t, data };
  });
}

/** The vision tower and connector with the learned tensors (they go into the ONNX encoder too). */
export function applyPretrainedVision(w: TinyVisionWeights, learned: PretrainedWeights): TinyVisionWeights {
  const named = applyPretrained(visionTensors(w), learned);
  const get = (name: string) => named.find((t) => t.name === name)!.data;
  const p = (l: number) => `${V}.encoder.layers.${l}`;
  return {
    patchWeight: get(`${V}.embeddings.patch_embedding.weight`),
    patchBias: get(`${V}.embeddings.patch_embedding.bias`),
    positionEmbedding: get(`${V}.embeddings.position_embedding.weight`),
    layers: w.layers.map((_, l) => ({
      ln1Weight: get(`${p(l)}.layer_norm1.weight`),
      ln1Bias: get(`${p(l)}.layer_norm1.bias`),
      qWeight: get(`${p(l)}.self_attn.q_proj.weight`),
      qBias: get(`${p(l)}.self_attn.q_proj.bias`),
      kWeight: get(`${p(l)}.self_attn.k_proj.weight`),
      kBias: get(`${p(l)}.self_attn.k_proj.bias`),
      vWeight: get(`${p(l)}.self_attn.v_proj.weight`),
      vBias: get(`${p(l)}.self_attn.v_proj.bias`),
      oWeight: get(`${p(l)}.self_attn.out_proj.weight`),
      oBias: get(`${p(l)}.self_attn.out_proj.bias`),
      ln2Weight: get(`${p(l)}.layer_norm2.weight`),
      ln2Bias: get(`${p(l)}.layer_norm2.bias`),
      fc1Weight: get(`${p(l)}.mlp.fc1.weight`),
      fc1Bias: get(`${p(l)}.mlp.fc1.bias`),
      fc2Weight: get(`${p(l)}.mlp.fc2.weight`),
      fc2Bias: get(`${p(l)}.mlp.fc2.bias`),
    })),
    postLnWeight: get(`${V}.post_layernorm.weight`),
    postLnBias: get(`${V}.post_layernorm.bias`),
    projWeight: get('model.connector.modality_projection.proj.weight'),
  };
}
