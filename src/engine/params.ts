// The frozen decoder weights on the GPU, under the checkpoint's names (checkpoint.ts).
// bf16 checkpoints stay bf16 (two values per u32); f16/f32 ones are converted to the chosen dtype.
// RMSNorm weights are always kept in f32 (tiny, and bf16 -> f32 is exact).
import type { GpuContext } from '../gpu';
import { DTYPE_SIZE, f32ToBf16, tensorToBf16, tensorToF32, type RawTensor } from '../util/dtype';
import { Rng } from '../util/rng';
import { expectedWeights, LORA_TARGETS, SMOLVLM_NAMES, weightName, type LoraTarget, type WeightNames, type WeightSpec } from './checkpoint';
import type { DecoderConfig } from './config';
import { WeightError } from './errors';
import type { Weight } from './kernels/types';

export type WeightDtype = 'bf16' | 'f32';

export interface LayerWeights {
  inputNorm: Weight; // input_layernorm [C]
  postNorm: Weight; // post_attention_layernorm [C]
  linear: Record<LoraTarget, Weight>; // [OUT, IN] each
}

export interface DecoderParams {
  dtype: WeightDtype;
  embed: Weight; // [V, C]
  layers: LayerWeights[];
  norm: Weight; // [C]
  lmHead: Weight; // [V, C] (the embedding buffer when tied)
  bytes: number;
  buffers: GPUBuffer[];
}

/** Host-side weights: a safetensors tensor, or plain f32 values in the checkpoint's layout. */
export type WeightSource = ReadonlyMap<string, RawTensor | Float32Array>;

/**
 * Seeded random weights for a config (tests, benchmarks): embeddings N(0, 1), linear layers
 * N(0, 1/IN), norms 1 + N(0, 0.1^2), lm_head N(0, 4/C) so the next-token distributions are neither
 * flat nor one-hot.
 */
export function randomDecoderWeights(cfg: DecoderConfig, seed: number, names: WeightNames = SMOLVLM_NAMES): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const w of expectedWeights(cfg, names)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n);
    rng.fillNormal(x);
    const std =
      w.role === 'embed' ? 1 : w.role === 'norm' ? 0.1 : w.role === 'lmHead' ? 2 / Math.sqrt(cfg.hiddenSize) : 1 / Math.sqrt(w.shape[1]);
    for (let i = 0; i < n; i++) x[i] = (w.role === 'norm' ? 1 : 0) + std * x[i];
    out.set(w.name, x);
  }
  return out;
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/** One tensor as f32 values or bf16 halves, after checking its shape against the config. */
function convert(spec: WeightSpec, src: RawTensor | Float32Array, dtype: WeightDtype): Float32Array | Uint16Array {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (src instanceof Float32Array) {
    if (src.length !== count)
      throw new WeightError(
        `weight ${spec.name}: ${src.length} values, expected ${shapeStr(spec.shape)} = ${count}. The checkpoint does not match the model config.`,
      );
    return dtype === 'bf16' ? f32ToBf16(src) : src;
  }
  if (src.shape.length !== spec.shape.length || src.shape.some((d, i) => d !== spec.shape[i]))
    throw new WeightError(
      `weight ${spec.name}: shape ${shapeStr(src.shape)}, expected ${shapeStr(spec.shape)} from config.json. The checkpoint and config.json belong to different models.`,
    );
  const itemSize = DTYPE_SIZE[src.dtype];
  if (src.data.length !== count * itemSize)
    throw new WeightError(
      `weight ${spec.name}: ${src.data.length} bytes for ${count} ${src.dtype} values. The file is damaged: download it again.`,
    );
  return dtype === 'bf16' ? tensorToBf16(src) : tensorToF32(src);
}

/** Uploads the decoder's weights; missing or mis-shaped tensors are a WeightError naming them. */
export function uploadDecoderParams(
  ctx: GpuContext,
  cfg: DecoderConfig,
  source: WeightSource,
  dtype: WeightDtype,
  names: WeightNames = SMOLVLM_NAMES,
): DecoderParams {
  const specs = expectedWeights(cfg, names);
  for (const s of specs)
    if (!source.has(s.name))
      throw new WeightError(
        `weight ${s.name} ${shapeStr(s.shape)} is missing from the checkpoint. Check the weight name prefix ("${names.prefix}") or load the matching model.`,
      );
  const buffers: GPUBuffer[] = [];
  let bytes = 0;
  const load = (s: WeightSpec): Weight => {
    const d: WeightDtype = s.role === 'norm' ? 'f32' : dtype;
    const data = convert(s, source.get(s.name)!, d);
    const buffer = ctx.createBuffer(s.name, data.byteLength);
    ctx.upload(buffer, data);
    buffers.push(buffer);
    bytes += buffer.size;
    return { buffer, dtype: d };
  };
  try {
    const bySpec = new Map(specs.map((s) => [s.name, s]));
    const get = (name: string) => load(bySpec.get(name)!);
    const embed = get(weightName.embed(names));
    const layers: LayerWeights[] = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      const linear = {} as Record<LoraTarget, Weight>;
      for (const target of LORA_TARGETS) linear[target] = get(weightName.linear(names, l, target));
      layers.push({
        inputNorm: get(weightName.inputNorm(names, l)),
        postNorm: get(weightName.postNorm(names, l)),
        linear,
      });
    }
    const norm = get(weightName.norm(names));
    const lmHead = cfg.tieWordEmbeddings ? embed : get(weightName.lmHead(names));
    return { dtype, embed, layers, norm, lmHead, bytes, buffers };
  } catch (e) {
    for (const b of buffers) ctx.destroyBuffer(b);
    throw e;
  }
}

export function destroyDecoderParams(ctx: GpuContext, p: DecoderParams): void {
  for (const b of p.buffers) ctx.destroyBuffer(b);
  p.buffers.length = 0;
}
