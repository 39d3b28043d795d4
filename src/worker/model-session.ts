// A loaded model inside the Worker: tokenizer and chat template, the frozen vision encoder
// (onnxruntime-web) and the decoder in our WGSL engine, with per-image feature caching.
import { Engine } from '../engine';
import type { GpuContext } from '../gpu';
import type { ModelConfig } from '../model/config';
import { CacheStorageByteCache } from '../model/cache';
import { decodeImage, toPixelValues } from '../model/image';
import { loadModelBundle, type ModelSource } from '../model/source';
import { ChatTokenizer } from '../model/tokenizer';
import { FeatureCache, VisionEncoder } from '../model/vision';
import type { TrainingExample } from '../model/tokenizer';
import type { LoadProgress, ModelChoice, ModelSummary } from './api';

export const BUILTIN_MODEL_PATH = 'models/tiny/';
export const DEFAULT_HUB_ID = 'HuggingFaceTB/SmolVLM-256M-Instruct';

export interface SessionOptions {
  /** Longest training sequence (prompt with image tokens + answer). */
  maxSeq: number;
  lora: { r: number; alpha: number; targets: string[]; seed: number };
  /** Base URL the page is served from (for the built-in model). */
  baseUrl: string;
}

/** Where the built-in model lives, relative to the page. */
export function modelSource(choice: ModelChoice, baseUrl: string): { source: ModelSource; name: string; hubId: string } {
  switch (choice.kind) {
    case 'builtin':
      return { source: { kind: 'url', url: new URL(BUILTIN_MODEL_PATH, baseUrl).href }, name: 'built-in tiny model', hubId: DEFAULT_HUB_ID };
    case 'hub':
      return { source: { kind: 'hub', id: choice.id, baseUrl: choice.baseUrl, revision: choice.revision }, name: choice.id, hubId: choice.id };
    case 'url':
      return { source: { kind: 'url', url: choice.url.endsWith('/') ? choice.url : `${choice.url}/` }, name: choice.url, hubId: choice.url };
    case 'files':
      return { source: { kind: 'files', files: new Map(choice.files.map((f) => [f.path, f.blob])) }, name: 'local folder', hubId: DEFAULT_HUB_ID };
  }
}

const ENGINE_TARGETS: Record<string, 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down'> = {
  q_proj: 'q', k_proj: 'k', v_proj: 'v', o_proj: 'o', gate_proj: 'gate', up_proj: 'up', down_proj: 'down',
};

export function engineTargets(targets: string[]): ('q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down')[] {
  return targets.map((t) => {
    const e = ENGINE_TARGETS[t];
    if (!e) throw new Error(`unknown LoRA target "${t}"; choose from ${Object.keys(ENGINE_TARGETS).join(', ')}`);
    return e;
  });
}

export class ModelSession {
  readonly features = new FeatureCache(256);
  private pixelCache = new Map<string, Float32Array>();

  private constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly tokenizer: ChatTokenizer,
    readonly vision: VisionEncoder,
    public engine: Engine,
    readonly summary: ModelSummary,
    readonly hubId: string,
    readonly decoderPrefix: string,
    private weights: Map<string, import('../model/safetensors').RawTensor>,
    readonly opts: SessionOptions,
  ) {}

  static async load(ctx: GpuContext, choice: ModelChoice, opts: SessionOptions, onProgress?: (p: LoadProgress) => void): Promise<ModelSession> {
    const { source, name, hubId } = modelSource(choice, opts.baseUrl);
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
    };
    onProgress?.({ phase: 'ready', loaded: 1, total: 1 });
    return new ModelSession(ctx, config, tokenizer, vision.encoder, engine, summary, hubId, bundle.decoderPrefix, bundle.decoderTensors, { ...opts, maxSeq });
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

  async imageFeatures(key: string, blob: Blob): Promise<Float32Array> {
    return this.features.getOrCompute(key, async () => this.vision.encode(await this.pixels(key, blob)));
  }

  example(question: string, answer: string): TrainingExample {
    return this.tokenizer.buildExample(question, answer, this.imageSeqLen);
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
  weights: Map<string, import('../model/safetensors').RawTensor>,
  prefix: string,
  imageTokenId: number,
  maxSeq: number,
  lora: SessionOptions['lora'],
): Promise<Engine> {
  return Engine.create(ctx, config.decoder, weights, {
    maxBatch: 2,
    maxSeq,
    lora: { r: lora.r, alpha: lora.alpha, targets: engineTargets(lora.targets), seed: lora.seed },
    imageTokenId,
    names: { prefix, lmHead: 'lm_head.weight' },
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
