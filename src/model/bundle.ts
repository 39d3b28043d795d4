// Everything the app needs from a model folder, loaded through ModelFiles: config, tokenizer and
// chat template, the decoder's tensors (by byte range, never the vision tensors), the ONNX
// vision encoder (and the exports to fall back to), preprocessor_config.json; missing files are reported together, with what the folder needs.

import { DROP_HINT } from './blob-files';
import { parseGenerationConfig, parseModelConfig, type GenerationConfig, type ModelConfig } from './config';
import {
  errorText,
  ModelFileMissingError,
  ModelSourceError,
  type ModelFiles,
  type OpenModelFilesOptions,
  type ProgressCallback,
} from './files';
import type { RawTensor } from '../util/dtype';
import { openModelFiles, type ModelSource } from './source';
import { VISION_ENCODER_FILES, visionVariantOrder, type VisionEncoderVariant } from './vision-variants';
import { findDecoderPrefix, loadDecoderTensors, type LoadDecoderTensorsOptions } from './weights';

export { VISION_ENCODER_FILES, type VisionEncoderVariant } from './vision-variants';

export interface LoadModelBundleOptions extends OpenModelFilesOptions {
  /**
   * Which vision-encoder export to load: one variant (only that one), a preference order (the
   * first present is downloaded, the rest are fallbacks), or 'none'. Default: visionVariantOrder().
   */
  visionEncoder?: VisionEncoderVariant | readonly VisionEncoderVariant[] | 'none';
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
  visionVariant?: VisionEncoderVariant;
  /** Variants to try, in order, when visionOnnx fails to load (not yet looked for). */
  visionFallbacks: VisionEncoderVariant[];
  /** A fallback's bytes, or undefined when the folder does not have it. */
  readVisionEncoder(variant: VisionEncoderVariant, onProgress?: ProgressCallback): Promise<Uint8Array | undefined>;
  /** preprocessor_config.json, when the folder has one. */
  preprocessorConfigJson?: unknown;
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
    throw new ModelSourceError(
      `${path} from ${files.description} is not valid JSON (${errorText(e)}); it is damaged or not the file it should be`,
    );
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

/** The first wanted vision-encoder variant the folder has, and the ones after it. */
async function chooseVisionEncoder(
  files: ModelFiles,
  order: readonly VisionEncoderVariant[],
): Promise<{ variant: VisionEncoderVariant; rest: VisionEncoderVariant[] } | undefined> {
  for (let i = 0; i < order.length; i++)
    if (await files.has(VISION_ENCODER_FILES[order[i]])) return { variant: order[i], rest: order.slice(i + 1) };
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
    missing[missing.indexOf(WEIGHTS)] =
      'model.safetensors (the weights are split into shards; only a single model.safetensors is supported)';
  }
  if (missing.includes(CONFIG)) throw missingFilesError(files, source, missing);

  const config = parseModelConfig(await readJson(files, CONFIG), CONFIG);
  const wantVision = config.vision !== undefined && opts.visionEncoder !== 'none';
  const requested = opts.visionEncoder === 'none' ? undefined : opts.visionEncoder;
  const order: readonly VisionEncoderVariant[] =
    requested === undefined ? visionVariantOrder() : typeof requested === 'string' ? [requested] : requested;
  const chosen = wantVision ? await chooseVisionEncoder(files, order) : undefined;
  const visionOnnxPath = chosen ? VISION_ENCODER_FILES[chosen.variant] : undefined;
  if (wantVision && !chosen)
    missing.push(
      order
        .slice(0, 2)
        .map((v) => VISION_ENCODER_FILES[v])
        .join(' or '),
    );
  if (missing.length > 0) throw missingFilesError(files, source, missing);

  const [tokenizerJson, tokenizerConfigJson, generationJson, decoderTensors, visionOnnx, preprocessorConfigJson] = await Promise.all([
    readJson(files, TOKENIZER),
    optional(() => readJson(files, 'tokenizer_config.json')),
    optional(() => readJson(files, GENERATION)),
    loadDecoderTensors(files, config.decoder, { ...opts.decoder, fileName: WEIGHTS, onProgress: opts.onProgress }),
    visionOnnxPath ? files.bytes(visionOnnxPath) : Promise.resolve(undefined),
    wantVision ? optional(() => readJson(files, 'preprocessor_config.json')) : Promise.resolve(undefined),
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
    visionVariant: chosen?.variant,
    visionFallbacks: chosen?.rest ?? [],
    readVisionEncoder: async (variant, onProgress) => {
      const path = VISION_ENCODER_FILES[variant];
      return (await files.has(path)) ? files.bytes(path, onProgress) : undefined;
    },
    preprocessorConfigJson,
  };
}
