// A loaded model inside the Worker: tokenizer and chat template, the frozen vision encoder
// (onnxruntime-web) and the decoder in our WGSL engine, with per-image feature caching.
import { Engine } from '../engine';
import { decoderNames, type LoraTarget } from '../engine/checkpoint';
import type { GpuContext } from '../gpu';
import { stopTokenIds, type ModelConfig } from '../model/config';
import { CacheStorageByteCache } from '../model/cache';
import { decodeImage, toPixelValues } from '../model/image';
import { loadModelBundle } from '../model/bundle';
import type { ModelSource } from '../model/source';
import { ChatTokenizer } from '../model/tokenizer';
import { FeatureCache, VisionEncoder } from '../model/vision';
import { BUILTIN_BASE_MODEL, localBaseModel } from '../export/peft';
import type { RawTensor } from '../util/dtype';
import type { LoadProgress, ModelChoice, ModelSummary } from './api';

export const BUILTIN_MODEL_PATH = 'models/tiny/';

export interface SessionOptions {
  /** Longest training sequence (prompt with image tokens + answer). */
  maxSeq: number;
  lora: { r: number; alpha: number; targets: LoraTarget[]; seed: number };
  /** Base URL the page is served from (for the built-in model). */
  baseUrl: string;
}

/**
 * Where the model's files come from, its display name, the adapter's base_model_name_or_path
 * (the hub id, or a name that says the built-in model / a local folder) and the hub id to name in
 * the dataset export's training commands (none for the built-in model or a folder).
 */
export function modelSource(choice: ModelChoice, baseUrl: string): { source: ModelSource; name: string; baseModel: string; hubId?: string } {
  switch (choice.kind) {
    case 'builtin':
      return { source: { kind: 'url', url: new URL(BUILTIN_MODEL_PATH, baseUrl).href }, name: 'built-in tiny model', baseModel: BUILTIN_BASE_MODEL };
    case 'hub':
      return { source: { kind: 'hub', id: choice.id, baseUrl: choice.baseUrl, revision: choice.revision }, name: choice.id, baseModel: choice.id, hubId: choice.id };
    case 'url':
      return { source: { kind: 'url', url: choice.url.endsWith('/') ? choice.url : `${choice.url}/` }, name: choice.url, baseModel: choice.url };
    case 'files': {
      const folder = droppedFolderName(choice.files.map((f) => f.path));
      return { source: { kind: 'files', files: new Map(choice.files.map((f) => [f.path, f.blob])) }, name: `local folder ${folder ?? ''}`.trim(), baseModel: localBaseModel(folder ?? '') };
    }
  }
}

/** The dropped folder's own name ("SmolVLM-256M-Instruct/config.json" -> "SmolVLM-256M-Instruct"), if the paths carry it. */
export function droppedFolderName(paths: readonly string[]): string | undefined {
  const firsts = new Set(paths.map((p) => p.replace(/\\/g, '/').replace(/^(\.?\/)+/, '')).map((p) => (p.includes('/') ? p.split('/')[0] : '')));
  const [only] = firsts;
  return firsts.size === 1 && only ? only : undefined;
}

export class ModelSession {
  readonly features = new FeatureCache(256);
  /** Vision-encoder passes over clean images so far (the rest came from the cache). */
  featureEncodings = 0;
  /** Features stored earlier (the saved session), asked before encoding. */
  featureStore?: (key: string, blob: Blob) => Promise<Float32Array | undefined>;
  private pixelCache = new Map<string, Float32Array>();

  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly tokenizer: ChatTokenizer,
    readonly vision: VisionEncoder,
    public engine: Engine,
    readonly summary: ModelSummary,
    /** The adapter's base_model_name_or_path (see modelSource). */
    readonly baseModel: string,
    /** The hub id, for hub models only. */
    readonly hubId: string | undefined,
    readonly decoderPrefix: string,
    private weights: Map<string, RawTensor>,
    readonly opts: SessionOptions,
    /** Tokens that end a generated answer: generation_config.json's eos ids and the tokenizer's eos. */
    readonly stopTokens: readonly number[],
  ) {}

  static async load(ctx: GpuContext, choice: ModelChoice, opts: SessionOptions, onProgress?: (p: LoadProgress) => void): Promise<ModelSession> {
    const { source, name, baseModel, hubId } = modelSource(choice, opts.baseUrl);
    const cache = choice.kind === 'hub' || choice.kind === 'url' ? await browserCache() : undefined;
    onProgress?.({ phase: 'config', loaded: 0, total: 1 });
    const bundle = await loadModelBundle(source, {
      cache,
      onProgress: (p) => onProgress?.({ phase: 'weights', file: p.path, loaded: p.loaded, total: p.total }),
    });
    const config: ModelConfig = bundle.config;
    if (!config.vision || !bundle.visionOnnx) throw new Error(`${name} has no vision encoder; a vision-language model (Idefics3 / SmolVLM) is needed`);
    onProgress?.({ phase: 'tokenizer', loaded: 1, total: 1 });
    const tokenizer = ChatTokenizer.fromJson(bundle.tokenizerJson, bundle.tokenizerConfigJson, bundle.chatTemplate);
    onProgress?.({ phase: 'vision', file: bundle.visionOnnxPath, loaded: 0, total: 1 });
    const vision = await createVision(bundle.visionOnnx);
    if (vision.encoder.hidden !== config.decoder.hiddenSize)
      throw new Error(`${bundle.visionOnnxPath} gives features of width ${vision.encoder.hidden}, but the decoder's hidden size is ${config.decoder.hiddenSize}; the files belong to different models`);
    onProgress?.({ phase: 'upload', loaded: 0, total: 1 });
    const maxSeq = Math.min(opts.maxSeq, config.decoder.maxPositions);
    const engine = await createEngine(ctx, config, bundle.decoderTensors, bundle.decoderPrefix, tokenizer.imageTokenId, maxSeq, opts.lora);
    const d = config.decoder;
    let parameters = 0;
    for (const t of bundle.decoderTensors.values()) parameters += t.shape.reduce((a, b) => a * b, 1);
    const summary: ModelSummary = {
      name,
      architecture: config.architecture,
      layers: d.numLayers,
      hidden: d.hiddenSize,
      vocab: d.vocabSize,
      imageSeqLen: config.vision.imageSeqLen,
      parameters,
      visionBackend: vision.backend,
      gpuBytes: engine.memory().current,
      baseModel,
    };
    onProgress?.({ phase: 'ready', loaded: 1, total: 1 });
    const stopTokens = stopTokenIds(config, bundle.generationConfig, tokenizer.eosId);
    return new ModelSession(ctx, config, tokenizer, vision.encoder, engine, summary, baseModel, hubId, bundle.decoderPrefix, bundle.decoderTensors, { ...opts, maxSeq }, stopTokens);
  }

  get imageSeqLen(): number {
    return this.config.vision!.imageSeqLen;
  }

  /** A new engine with another LoRA shape (rank/targets changed in the settings), same weights. */
  async rebuildEngine(ctx: GpuContext, lora: SessionOptions['lora']): Promise<void> {
    this.engine.destroy();
    this.engine = await createEngine(ctx, this.config, this.weights, this.decoderPrefix, this.tokenizer.imageTokenId, this.opts.maxSeq, lora);
    this.opts.lora = lora;
  }

  /** [3, S, S] in [-1, 1], cached per image key. */
  async pixels(key: string, blob: Blob): Promise<Float32Array> {
    let p = this.pixelCache.get(key);
    if (!p) {
      const img = await decodeImage(blob, key);
      p = toPixelValues(img.data, img.width, img.height, this.vision.imageSize);
      this.pixelCache.set(key, p);
    }
    return p;
  }

  /** The clean image's features: cached, else stored earlier, else one encoder pass (over `pixels` when given). */
  async imageFeatures(key: string, blob: Blob, pixels?: Float32Array): Promise<Float32Array> {
    return this.features.getOrCompute(key, async () => {
      const stored = await this.featureStore?.(key, blob);
      if (stored) return stored;
      this.featureEncodings++;
      return this.vision.encode(pixels ?? (await this.pixels(key, blob)));
    });
  }

  promptTokens(question: string): number[] {
    return this.tokenizer.encode(this.tokenizer.renderPrompt(question, { imageSeqLen: this.imageSeqLen, withImage: true }));
  }

  destroy(): void {
    this.engine.destroy();
    this.vision.dispose();
  }
}

/** The decoder engine for training: chosen and rejected of one example per batch. */
function createEngine(
  ctx: GpuContext,
  config: ModelConfig,
  weights: Map<string, RawTensor>,
  prefix: string,
  imageTokenId: number,
  maxSeq: number,
  lora: SessionOptions['lora'],
): Promise<Engine> {
  return Engine.create(ctx, config.decoder, weights, {
    maxBatch: 2,
    maxSeq,
    lora,
    imageTokenId,
    names: decoderNames(prefix),
  });
}

async function browserCache() {
  return CacheStorageByteCache.isAvailable() ? new CacheStorageByteCache() : undefined;
}

/** WebGPU execution provider first; WASM when the browser's ORT cannot use WebGPU. */
async function createVision(onnx: Uint8Array): Promise<{ encoder: VisionEncoder; backend: 'webgpu' | 'wasm' }> {
  try {
    return { encoder: await VisionEncoder.create(onnx, { executionProvider: 'webgpu' }), backend: 'webgpu' };
  } catch {
    return { encoder: await VisionEncoder.create(onnx, { executionProvider: 'wasm' }), backend: 'wasm' };
  }
}
