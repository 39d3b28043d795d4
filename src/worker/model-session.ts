// A loaded model inside the Worker: tokenizer and chat template, the frozen vision encoder
// (onnxruntime-web) and the decoder in our WGSL engine, with per-image feature caching.
import { Engine } from '../engine';
import { decoderNames, type LoraTarget } from '../engine/checkpoint';
import type { GpuContext } from '../gpu';
import { softwareRenderer } from '../gpu/software';
import { stopTokenIds, type ModelConfig } from '../model/config';
import { CacheStorageByteCache } from '../model/cache';
import type { ImageGrid } from '../model/chat';
import {
  decodeImage,
  frameCount,
  normaliseViews,
  parseImageProcessorConfig,
  planTiles,
  processorViews,
  rgbaToRgb,
  type ImageProcessorConfig,
  type ProcessedImage,
} from '../model/image';
import { loadModelBundle } from '../model/bundle';
import type { ModelSource } from '../model/source';
import { ChatTokenizer } from '../model/tokenizer';
import { FeatureCache, openBundleVisionEncoder, VisionEncoder } from '../model/vision';
import { visionVariantOrder } from '../model/vision-variants';
import { BUILTIN_BASE_MODEL, localBaseModel } from '../export/peft';
import type { RawTensor } from '../util/dtype';
import type { ImageDetail, LoadProgress, ModelChoice, ModelSummary } from './api';
import { LoadTally, loadPhaseOf } from './load-progress';

export const BUILTIN_MODEL_PATH = 'models/tiny/';

export interface SessionOptions {
  /** Longest training sequence (prompt with image tokens + answer) with one view per image. */
  maxSeq: number;
  /** Room for the question and answer next to a tiled image's tokens. */
  textBudget?: number;
  lora: { r: number; alpha: number; targets: LoraTarget[]; seed: number };
  /** Base URL the page is served from (for the built-in model). */
  baseUrl: string;
}

/**
 * Where the model's files come from, its display name, the adapter's base_model_name_or_path
 * (the hub id, or a name that says the built-in model / a local folder) and the hub id to name in
 * the dataset export's training commands (none for the built-in model or a folder).
 */
export function modelSource(
  choice: ModelChoice,
  baseUrl: string,
): { source: ModelSource; name: string; baseModel: string; hubId?: string } {
  switch (choice.kind) {
    case 'builtin':
      return {
        source: { kind: 'url', url: new URL(BUILTIN_MODEL_PATH, baseUrl).href },
        name: 'built-in tiny model',
        baseModel: BUILTIN_BASE_MODEL,
      };
    case 'hub':
      return {
        source: { kind: 'hub', id: choice.id, baseUrl: choice.baseUrl, revision: choice.revision },
        name: choice.id,
        baseModel: choice.id,
        hubId: choice.id,
      };
    case 'url':
      return {
        source: { kind: 'url', url: choice.url.endsWith('/') ? choice.url : `${choice.url}/` },
        name: choice.url,
        baseModel: choice.url,
      };
    case 'files': {
      const folder = droppedFolderName(choice.files.map((f) => f.path));
      return {
        source: { kind: 'files', files: new Map(choice.files.map((f) => [f.path, f.blob])) },
        name: `local folder ${folder ?? ''}`.trim(),
        baseModel: localBaseModel(folder ?? ''),
      };
    }
  }
}

/** The dropped folder's own name ("SmolVLM-256M-Instruct/config.json" -> "SmolVLM-256M-Instruct"), if the paths carry it. */
export function droppedFolderName(paths: readonly string[]): string | undefined {
  const firsts = new Set(
    paths.map((p) => p.replace(/\\/g, '/').replace(/^(\.?\/)+/, '')).map((p) => (p.includes('/') ? p.split('/')[0] : '')),
  );
  const [only] = firsts;
  return firsts.size === 1 && only ? only : undefined;
}

type ProcessorViews = ReturnType<typeof processorViews>;
const viewBytes = (v: ProcessorViews) => v.views.reduce((n, x) => n + x.data.length, 0);
/** Cached processor views: about 40 tiled images or 600 single views. */
const VIEW_CACHE_BYTES = 512 * 1024 * 1024;

export class ModelSession {
  readonly features = new FeatureCache(256);
  /** Vision-encoder passes over clean images so far (the rest came from the cache). */
  featureEncodings = 0;
  /** Features stored earlier (the saved session) for an image at the current detail, asked before encoding. */
  featureStore?: (key: string, blob: Blob) => Promise<Float32Array | undefined>;
  /** The processor's uint8 views per (detail, image), least recently used dropped past VIEW_CACHE_BYTES. */
  private viewCache = new Map<string, ProcessorViews>();
  private viewCacheBytes = 0;
  /** One 512 view per image, or the processor's tiles plus the global view. */
  detail: ImageDetail = 'single';

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
    readonly processor: ImageProcessorConfig,
  ) {}

  static async load(
    ctx: GpuContext,
    choice: ModelChoice,
    opts: SessionOptions,
    onProgress?: (p: LoadProgress) => void,
  ): Promise<ModelSession> {
    const { source, name, baseModel, hubId } = modelSource(choice, opts.baseUrl);
    const cache = choice.kind === 'hub' || choice.kind === 'url' ? await browserCache() : undefined;
    onProgress?.({ phase: 'config', loaded: 0, total: 0 });
    // The vision export the device runs best first (fp16 where WebGPU has shader-f16), the rest as fallbacks.
    // On a software adapter onnxruntime-web's WebGPU provider is two orders of magnitude slower than
    // its wasm one (SwiftShader, the built-in model's encoder: 4.3 s against 32 ms an image), so
    // the encoder runs on wasm there.
    const visionOnWebgpu = typeof navigator !== 'undefined' && 'gpu' in navigator && softwareRenderer(ctx.adapterInfo) === null;
    const tally = new LoadTally();
    const bundle = await loadModelBundle(source, {
      cache,
      visionEncoder: visionVariantOrder({ webgpu: visionOnWebgpu, shaderF16: ctx.features.f16 }),
      onProgress: (p) =>
        onProgress?.({
          phase: loadPhaseOf(p.path),
          file: p.path,
          loaded: p.loaded,
          total: p.total,
          ...tally.add(p.path, p.loaded, p.total),
        }),
    });
    const config: ModelConfig = bundle.config;
    if (!config.vision || !bundle.visionOnnx)
      throw new Error(`${name} has no vision encoder; a vision-language model (Idefics3 / SmolVLM) is needed`);
    onProgress?.({ phase: 'tokenizer', loaded: 0, total: 0 });
    const tokenizer = ChatTokenizer.fromJson(bundle.tokenizerJson, bundle.tokenizerConfigJson, bundle.chatTemplate);
    const processor = parseImageProcessorConfig(bundle.preprocessorConfigJson ?? {}, config.vision.imageSize);
    onProgress?.({ phase: 'vision', file: bundle.visionOnnxPath, loaded: 0, total: 0, bytes: bundle.visionOnnx.length });
    const vision = await openBundleVisionEncoder(bundle, {
      backends: visionOnWebgpu ? ['webgpu', 'wasm'] : ['wasm'],
      source: name,
      onStatus: (message) => onProgress?.({ phase: 'vision', loaded: 0, total: 0, message }),
    });
    let weightBytes = 0;
    for (const t of bundle.decoderTensors.values()) weightBytes += t.data.length;
    onProgress?.({ phase: 'upload', loaded: 0, total: 0, bytes: weightBytes });
    const maxSeq = Math.min(opts.maxSeq, config.decoder.maxPositions);
    const L = config.vision.imageSeqLen;
    const maxGrid = largestGrid(processor);
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
      visionFile: vision.path,
      visionVariant: vision.variant,
      imageTokens: {
        single: tokenizer.imagePromptTokens(L),
        tilesMax: tokenizer.imagePromptTokens(L, maxGrid),
        tilesMaxViews: frameCount(maxGrid),
      },
      gpuBytes: engine.memory().current,
      baseModel,
    };
    onProgress?.({ phase: 'ready', loaded: 0, total: 0 });
    const stopTokens = stopTokenIds(config, bundle.generationConfig, tokenizer.eosId);
    return new ModelSession(
      ctx,
      config,
      tokenizer,
      vision.encoder,
      engine,
      summary,
      baseModel,
      hubId,
      bundle.decoderPrefix,
      bundle.decoderTensors,
      { ...opts, maxSeq },
      stopTokens,
      processor,
    );
  }

  /** The engine's sequence limit for a detail: tiles need room for the largest grid's tokens. */
  maxSeqFor(detail: ImageDetail): number {
    const limit = this.config.decoder.maxPositions;
    if (detail === 'single') return Math.min(this.opts.maxSeq, limit);
    const image = this.summary.imageTokens.tilesMax - this.summary.imageTokens.single;
    return Math.min(this.opts.maxSeq + image + (this.opts.textBudget ?? 0), limit);
  }

  /**
   * Switches the image detail for training and generation alike. The engine is rebuilt when
   * the sequence limit changes (the adapter restarts, as for a new LoRA shape).
   */
  async setDetail(ctx: GpuContext, detail: ImageDetail): Promise<void> {
    if (detail === this.detail) return;
    const maxSeq = this.maxSeqFor(detail);
    if (maxSeq !== this.engine.limits.maxSeq) {
      this.engine.destroy();
      this.engine = await createEngine(
        ctx,
        this.config,
        this.weights,
        this.decoderPrefix,
        this.tokenizer.imageTokenId,
        maxSeq,
        this.opts.lora,
      );
    }
    this.detail = detail;
  }

  get imageSeqLen(): number {
    return this.config.vision!.imageSeqLen;
  }

  /** A new engine with another LoRA shape (rank/targets changed in the settings), same weights. */
  async rebuildEngine(ctx: GpuContext, lora: SessionOptions['lora']): Promise<void> {
    this.engine.destroy();
    this.engine = await createEngine(
      ctx,
      this.config,
      this.weights,
      this.decoderPrefix,
      this.tokenizer.imageTokenId,
      this.maxSeqFor(this.detail),
      lora,
    );
    this.opts.lora = lora;
  }

  /**
   * The processor's uint8 views of an image at the current detail and its grid, cached: a tiled
   * image is up to 17 views, 13 MB as bytes but 53 MB as float32, so only bytes are kept.
   */
  async views(key: string, blob: Blob): Promise<ProcessorViews> {
    const k = `${this.detail}:${key}`;
    let v = this.viewCache.get(k);
    if (v) {
      this.viewCache.delete(k);
      this.viewCache.set(k, v); // most recently used last
      return v;
    }
    const img = await decodeImage(blob, key);
    v = processorViews(rgbaToRgb(img.data, img.width, img.height), this.processor, this.detail);
    this.viewCache.set(k, v);
    this.viewCacheBytes += viewBytes(v);
    for (const [old, ov] of this.viewCache) {
      if (this.viewCacheBytes <= VIEW_CACHE_BYTES || old === k) break;
      this.viewCache.delete(old);
      this.viewCacheBytes -= viewBytes(ov);
    }
    return v;
  }

  /** pixel_values of the views ([views, 3, S, S] in [-1, 1]), made afresh from the cached bytes. */
  normalise(v: ProcessorViews): Float32Array {
    return normaliseViews(v.views, this.processor);
  }

  /** The processor's output for an image at the current detail. */
  async image(key: string, blob: Blob): Promise<ProcessedImage> {
    const v = await this.views(key, blob);
    return { pixels: this.normalise(v), frames: v.views.length, grid: v.grid, size: this.processor.maxImageSize };
  }

  /** The views' pixels at the current detail. */
  async pixels(key: string, blob: Blob): Promise<Float32Array> {
    return (await this.image(key, blob)).pixels;
  }

  /**
   * Features of every view at the current detail, in prompt order: [views * imageSeqLen, hidden].
   * Cached, else stored earlier (the saved session), else one encoder pass (over `pixels`, the
   * image's views, when given).
   */
  async imageFeatures(key: string, blob: Blob, pixels?: Float32Array): Promise<Float32Array> {
    return this.features.getOrCompute(`${this.detail}:${key}`, async () => {
      const stored = await this.featureStore?.(key, blob);
      if (stored) return stored;
      this.featureEncodings++;
      return this.vision.encode(pixels ?? (await this.pixels(key, blob)));
    });
  }

  promptTokens(question: string, grid?: ImageGrid): number[] {
    return this.tokenizer.encode(this.tokenizer.renderPrompt(question, { imageSeqLen: this.imageSeqLen, withImage: true, grid }));
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

/** The processor's largest tile grid: a square image at the first resize's longest edge. */
function largestGrid(cfg: ImageProcessorConfig): ImageGrid {
  return planTiles(cfg.longestEdge, cfg.longestEdge, cfg, 'tiles');
}
