// Everything the app needs from a model folder, loaded through ModelFiles: config, tokenizer and
// chat template, the decoder's tensors (by byte range, never the vision tensors) and the ONNX
// vision encoder; missing files are reported together, with what the folder needs.

import { DROP_HINT } from './blob-files';
import { parseGenerationConfig, parseModelConfig, type GenerationConfig, type ModelConfig } from './config';
import { errorText, ModelFileMissingError, ModelSourceError, type ModelFiles, type OpenModelFilesOptions } from './files';
import type { RawTensor } from '../util/dtype';
import { openModelFiles, type ModelSource } from './source';
import { findDecoderPrefix, loadDecoderTensors, type LoadDecoderTensorsOptions } from './weights';

/** Vision-encoder exports, named as transformers.js names its dtypes. */
export const VISION_ENCODER_FILES = {
  fp32: 'onnx/vision_encoder.onnx',
  fp16: 'onnx/vision_encoder_fp16.onnx',
  q8: 'onnx/vision_encoder_quantized.onnx',
  int8: 'onnx/vision_encoder_int8.onnx',
  uint8: 'onnx/vision_encoder_uint8.onnx',
  q4: 'onnx/vision_encoder_q4.onnx',
  q4f16: 'onnx/vision_encoder_q4f16.onnx',
  bnb4: 'onnx/vision_encoder_bnb4.onnx',
} as const;
export type VisionEncoderVariant = keyof typeof VISION_ENCODER_FILES;

export interface LoadModelBundleOptions extends OpenModelFilesOptions {
  /** Which vision-encoder export to load; default fp16 when present, else fp32. 'none' skips it. */
  visionEncoder?: VisionEncoderVariant | 'none';
  decoder?: Omit<LoadDecoderTensorsOptions, 'onProgress' | 'fileName'>;
}

export interface ModelBundle {
  config: ModelConfig;
  /** generation_config.json, when the folder has one (its eos ids end generated answers). */
  generationConfig?: GenerationConfig;
  tokenizerJson: unknown;
  tokenizerConfigJson: unknown; // undefined when the folder has no tokenizer_config.json
  chatTemplate?: string;
  /** Decoder tensors keyed by their names in model.safetensors; see decoderPrefix. */
  decoderTensors: Map<string, RawTensor>;
  decoderPrefix: string; // 'model.text_model.' (Idefics3) or 'model.' (Llama)
  visionOnnx?: Uint8Array;
  visionOnnxPath?: string;
}

const CONFIG = 'config.json';
const TOKENIZER = 'tokenizer.json';
const WEIGHTS = 'model.safetensors';
const GENERATION = 'generation_config.json';

async function readJson(files: ModelFiles, path: string): Promise<unknown> {
  const text = await files.text(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelSourceError(`${path} from ${files.description} is not valid JSON (${errorText(e)}); it is damaged or not the file it should be`);
  }
}

/** The file's content, or undefined when it does not exist. */
async function optional<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof ModelFileMissingError) return undefined;
    throw e;
  }
}

function missingFilesError(files: ModelFiles, source: ModelSource, missing: string[]): ModelFileMissingError {
  const list = missing.join(', ');
  const message =
    source.kind === 'files'
      ? `the dropped folder is missing ${list}. ${DROP_HINT}`
      : `${files.description} is missing ${list}. Check the model id or URL; the app needs config.json, tokenizer.json, ` +
        'model.safetensors and an ONNX export of the vision encoder (onnx/vision_encoder*.onnx), as in HuggingFaceTB/SmolVLM-256M-Instruct';
  return new ModelFileMissingError(missing, message);
}

/** The vision-encoder file to load, or undefined when none of the wanted ones exists. */
async function chooseVisionEncoder(files: ModelFiles, wanted: VisionEncoderVariant | undefined): Promise<string | undefined> {
  const candidates = wanted ? [VISION_ENCODER_FILES[wanted]] : [VISION_ENCODER_FILES.fp16, VISION_ENCODER_FILES.fp32];
  for (const path of candidates) if (await files.has(path)) return path;
  return undefined;
}

/** chat_template.jinja, chat_template.json, or the template inside tokenizer_config.json. */
async function findChatTemplate(files: ModelFiles, tokenizerConfig: unknown): Promise<string | undefined> {
  const jinja = await optional(() => files.text('chat_template.jinja'));
  if (jinja !== undefined) return jinja;
  const json = await optional(() => readJson(files, 'chat_template.json'));
  const fromJson = templateOf(json);
  if (fromJson !== undefined) return fromJson;
  return templateOf(tokenizerConfig);
}

function templateOf(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const t = (json as { chat_template?: unknown }).chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    // The list form: [{ name: 'default', template: '...' }, ...]
    const named = t.find((x) => x?.name === 'default') ?? t[0];
    if (typeof named?.template === 'string') return named.template;
  }
  return undefined;
}

/** Everything the app needs from a model folder; vision tensors of model.safetensors are never fetched. */
export async function loadModelBundle(source: ModelSource, opts: LoadModelBundleOptions = {}): Promise<ModelBundle> {
  const files = openModelFiles(source, opts);

  const basics = [CONFIG, TOKENIZER, WEIGHTS];
  const present = await Promise.all(basics.map((p) => files.has(p)));
  const missing = basics.filter((_, i) => !present[i]);
  if (missing.includes(WEIGHTS) && (await files.has('model.safetensors.index.json'))) {
    missing[missing.indexOf(WEIGHTS)] = 'model.safetensors (the weights are split into shards; only a single model.safetensors is supported)';
  }
  if (missing.includes(CONFIG)) throw missingFilesError(files, source, missing);

  const config = parseModelConfig(await readJson(files, CONFIG), CONFIG);
  const wantVision = config.vision !== undefined && opts.visionEncoder !== 'none';
  const requested = opts.visionEncoder === 'none' ? undefined : opts.visionEncoder;
  const visionOnnxPath = wantVision ? await chooseVisionEncoder(files, requested) : undefined;
  if (wantVision && !visionOnnxPath) {
    missing.push(requested ? VISION_ENCODER_FILES[requested] : `${VISION_ENCODER_FILES.fp16} or ${VISION_ENCODER_FILES.fp32}`);
  }
  if (missing.length > 0) throw missingFilesError(files, source, missing);

  const [tokenizerJson, tokenizerConfigJson, generationJson, decoderTensors, visionOnnx] = await Promise.all([
    readJson(files, TOKENIZER),
    optional(() => readJson(files, 'tokenizer_config.json')),
    optional(() => readJson(files, GENERATION)),
    loadDecoderTensors(files, config.decoder, { ...opts.decoder, fileName: WEIGHTS, onProgress: opts.onProgress }),
    visionOnnxPath ? files.bytes(visionOnnxPath) : Promise.resolve(undefined),
  ]);
  const chatTemplate = await findChatTemplate(files, tokenizerConfigJson);
  return {
    config,
    generationConfig: generationJson === undefined ? undefined : parseGenerationConfig(generationJson, GENERATION),
    tokenizerJson,
    tokenizerConfigJson,
    chatTemplate,
    decoderTensors,
    decoderPrefix: findDecoderPrefix(decoderTensors.keys()),
    visionOnnx,
    visionOnnxPath,
  };
}
