// The LoRA adapter in PEFT's on-disk format (docs/method.md, "The adapter files (PEFT)"), so that
// `PeftModel.from_pretrained(base, folder)` loads it as is:
//   adapter_config.json          sorted keys, indent 2
//   adapter_model.safetensors    base_model.model.<module>.lora_A.weight [r, in] / lora_B.weight [out, r], F32
// Tensor keys, module paths and targets come from src/engine/checkpoint.ts.
import { zipSync } from 'fflate';
import {
  LORA_TARGETS,
  parsePeftKey,
  peftKey,
  SMOLVLM_HUB_ID,
  SMOLVLM_NAMES,
  targetBlock,
  targetProjection,
  type LoraTarget,
} from '../engine/checkpoint';
import type { LoraLayout } from '../engine/layout';
import { readSafetensors, writeSafetensors } from '../model/safetensors';
import type { RawTensor } from '../util/dtype';

/**
 * `base_model_name_or_path` of an adapter trained on the built-in tiny model. Not a hub id: the
 * adapter only fits that model's folder (public/models/tiny), never SmolVLM itself.
 */
export const BUILTIN_BASE_MODEL = 'povid-webgpu/builtin-tiny';
const LOCAL_PREFIX = 'local:';

/** `base_model_name_or_path` of an adapter trained on a dropped folder: says it is a local folder, and which. */
export function localBaseModel(folderName: string): string {
  const name = folderName.trim().replace(/[\\/]+/g, '_');
  return `${LOCAL_PREFIX}${name || 'unnamed-folder'}`;
}

/** One line for the page: where an adapter with this base model can be loaded. */
export function adapterLoadHint(baseModel: string): string {
  if (baseModel === BUILTIN_BASE_MODEL)
    return `Trained on the built-in tiny model (base_model_name_or_path "${baseModel}"): it loads only onto that model's folder (public/models/tiny, made by npm run fixture), not onto SmolVLM from the hub.`;
  if (baseModel.startsWith(LOCAL_PREFIX))
    return `Trained on the local folder "${baseModel.slice(LOCAL_PREFIX.length)}": load it onto that same folder, e.g. PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained("path/to/${baseModel.slice(LOCAL_PREFIX.length)}"), "adapter/").`;
  return `Trained on ${baseModel}: load it onto that model, e.g. PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained("${baseModel}"), "adapter/").`;
}

export interface LoraMatrices {
  layer: number;
  target: LoraTarget;
  /** [r, in] row-major */
  A: Float32Array;
  /** [out, r] row-major */
  B: Float32Array;
  inFeatures: number;
  outFeatures: number;
}

export interface AdapterSpec {
  r: number;
  alpha: number;
  targets: LoraTarget[];
  baseModel: string;
  /** Module prefix of the decoder layers in the base checkpoint: 'model.text_model.' (Idefics3) or 'model.' (Llama). */
  decoderPrefix: string;
}

export class AdapterFormatError extends Error {
  override name = 'AdapterFormatError';
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A regex that matches exactly the chosen projections of the decoder's layers. A plain list of
 * suffixes would also match the vision tower's q/k/v projections, so the regex names the text model.
 */
export function targetModulesRegex(prefix: string, targets: readonly LoraTarget[]): string {
  const names = (block: 'self_attn' | 'mlp') =>
    targets.filter((t) => targetBlock(t) === block).map((t) => targetProjection(t).replace(/_proj$/, ''));
  const attn = names('self_attn');
  const mlp = names('mlp');
  const parts: string[] = [];
  if (attn.length) parts.push(`self_attn\\.(${attn.join('|')})_proj`);
  if (mlp.length) parts.push(`mlp\\.(${mlp.join('|')})_proj`);
  // Idefics3's decoder is `model.text_model`: anchor on `text_model.` so the vision tower never matches.
  const anchor = prefix.endsWith('text_model.') ? 'text_model\\.' : escapeRegex(prefix);
  return `.*${anchor}layers\\.\\d+\\.(${parts.join('|')})`;
}

function sortedJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v as object).sort()) out[k] = sort((v as Record<string, unknown>)[k]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}

export function adapterConfig(spec: AdapterSpec): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: spec.baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: spec.alpha,
    lora_dropout: 0,
    modules_to_save: null,
    peft_type: 'LORA',
    r: spec.r,
    rank_pattern: {},
    revision: null,
    target_modules: targetModulesRegex(spec.decoderPrefix, spec.targets),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
}

export interface AdapterFiles {
  'adapter_config.json': Uint8Array;
  'adapter_model.safetensors': Uint8Array;
}

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

export function writePeftAdapter(spec: AdapterSpec, matrices: LoraMatrices[]): AdapterFiles {
  const tensors: RawTensor[] = [];
  for (const m of matrices) {
    if (m.A.length !== spec.r * m.inFeatures || m.B.length !== m.outFeatures * spec.r)
      throw new AdapterFormatError(
        `layer ${m.layer} ${targetProjection(m.target)}: LoRA matrices do not match r = ${spec.r}, in = ${m.inFeatures}, out = ${m.outFeatures}`,
      );
    tensors.push({
      name: peftKey(spec.decoderPrefix, m.layer, m.target, 'A'),
      dtype: 'F32',
      shape: [spec.r, m.inFeatures],
      data: f32Bytes(m.A),
    });
    tensors.push({
      name: peftKey(spec.decoderPrefix, m.layer, m.target, 'B'),
      dtype: 'F32',
      shape: [m.outFeatures, spec.r],
      data: f32Bytes(m.B),
    });
  }
  tensors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    'adapter_config.json': new TextEncoder().encode(sortedJson(adapterConfig(spec)) + '\n'),
    'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
  };
}

export function zipAdapter(files: AdapterFiles): Uint8Array {
  return zipSync(
    { 'adapter_config.json': files['adapter_config.json'], 'adapter_model.safetensors': files['adapter_model.safetensors'] },
    { level: 6 },
  );
}

/**
 * Reads an adapter back (to continue training or to compare). Keys that do not belong to the
 * decoder's layers are an error naming the key, since applying part of an adapter silently
 * would give a different model than the one trained.
 */
export function readPeftAdapter(
  configBytes: Uint8Array,
  weightsBytes: Uint8Array,
  fileName = 'adapter_model.safetensors',
): { spec: AdapterSpec; matrices: LoraMatrices[] } {
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(new TextDecoder().decode(configBytes)) as Record<string, unknown>;
  } catch (e) {
    throw new AdapterFormatError(`adapter_config.json is not valid JSON (${(e as Error).message}); export the adapter again`);
  }
  if (cfg.peft_type !== 'LORA')
    throw new AdapterFormatError(`adapter_config.json: peft_type is ${String(cfg.peft_type)}, only LORA adapters can be loaded`);
  const r = cfg.r;
  const alpha = cfg.lora_alpha;
  if (typeof r !== 'number' || !(r > 0) || typeof alpha !== 'number')
    throw new AdapterFormatError('adapter_config.json: r and lora_alpha must be numbers');
  if (cfg.use_dora === true || cfg.use_rslora === true)
    throw new AdapterFormatError('adapter_config.json: DoRA and rsLoRA adapters are not supported');
  const { header, tensor } = readSafetensors(weightsBytes, fileName);
  const found = new Map<string, { A?: RawTensor; B?: RawTensor; layer: number; target: LoraTarget; prefix: string }>();
  for (const name of header.tensors.keys()) {
    const k = parsePeftKey(name);
    if (!k)
      throw new AdapterFormatError(
        `${fileName}: unexpected tensor "${name}"; only LoRA matrices of the decoder's projections are supported`,
      );
    const key = `${k.layer}.${k.target}`;
    const entry = found.get(key) ?? { layer: k.layer, target: k.target, prefix: k.prefix };
    entry[k.kind] = tensor(name);
    found.set(key, entry);
  }
  const matrices: LoraMatrices[] = [];
  let prefix = SMOLVLM_NAMES.prefix;
  const targets = new Set<LoraTarget>();
  for (const e of found.values()) {
    if (!e.A || !e.B)
      throw new AdapterFormatError(`${fileName}: layer ${e.layer} ${targetProjection(e.target)} has only one of lora_A / lora_B`);
    const [ra, inF] = e.A.shape;
    const [outF, rb] = e.B.shape;
    if (ra !== r || rb !== r || e.A.shape.length !== 2 || e.B.shape.length !== 2)
      throw new AdapterFormatError(
        `${fileName}: layer ${e.layer} ${targetProjection(e.target)} has shapes ${JSON.stringify(e.A.shape)} / ${JSON.stringify(e.B.shape)}, expected r = ${r}`,
      );
    const toF32 = (t: RawTensor) => {
      if (t.dtype !== 'F32') throw new AdapterFormatError(`${fileName}: ${t.name} is ${t.dtype}; adapters are read as F32`);
      return new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
    };
    matrices.push({ layer: e.layer, target: e.target, A: toF32(e.A), B: toF32(e.B), inFeatures: inF, outFeatures: outF });
    prefix = e.prefix;
    targets.add(e.target);
  }
  matrices.sort((a, b) => a.layer - b.layer || LORA_TARGETS.indexOf(a.target) - LORA_TARGETS.indexOf(b.target));
  return {
    spec: {
      r,
      alpha,
      targets: LORA_TARGETS.filter((t) => targets.has(t)),
      baseModel: typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : SMOLVLM_HUB_ID,
      decoderPrefix: prefix,
    },
    matrices,
  };
}

/** The engine's adapter (layout + values by name, see src/engine/lora.ts) as PEFT files. */
export function peftFromEngine(
  layout: Pick<LoraLayout, 'r' | 'alpha' | 'targets' | 'byLayer'>,
  values: ReadonlyMap<string, Float32Array>,
  baseModel: string,
  decoderPrefix: string,
): AdapterFiles {
  const matrices: LoraMatrices[] = [];
  layout.byLayer.forEach((entry, layer) => {
    for (const t of LORA_TARGETS) {
      const pair = entry[t];
      if (!pair) continue;
      const A = values.get(pair.A.name);
      const B = values.get(pair.B.name);
      if (!A || !B) throw new AdapterFormatError(`the adapter has no values for layer ${layer} ${targetProjection(t)}`);
      matrices.push({ layer, target: t, A, B, inFeatures: pair.A.shape[1], outFeatures: pair.B.shape[0] });
    }
  });
  const targets = LORA_TARGETS.filter((t) => layout.targets.includes(t));
  return writePeftAdapter({ r: layout.r, alpha: layout.alpha, targets, baseModel, decoderPrefix }, matrices);
}
