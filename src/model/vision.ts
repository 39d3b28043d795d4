// The frozen vision side: onnx/vision_encoder*.onnx (SigLIP tower + pixel-shuffle connector, as
// exported for transformers.js) run with onnxruntime-web. Views in, [views * imageSeqLen, hidden] out.
// The element types of pixel_values and image_features are read from the session (fp16 exports
// take and give float16) and converted; several exports are tried in turn (openVisionEncoder).
// docs/model.md, "The ONNX vision encoder".
// In the browser the default onnxruntime-web bundle provides both the 'webgpu' and 'wasm'
// execution providers; in Node it resolves to the wasm build (used by the tests).
import * as ort from 'onnxruntime-web';
import { f16ToF32, f32ToF16 } from '../util/dtype';
import type { ModelBundle } from './bundle';
import { VISION_ENCODER_FILES, type VisionEncoderVariant } from './vision-variants';

export class VisionEncoderError extends Error {
  override name = 'VisionEncoderError';
}

export type VisionBackend = 'webgpu' | 'wasm';

export interface VisionEncoderOptions {
  executionProvider: VisionBackend;
  /** Folder (URL) holding onnxruntime-web's .wasm files when the bundler does not serve them. */
  wasmPaths?: string;
  /** wasm threads; onnxruntime-web uses 1 anyway unless the page is cross-origin isolated. */
  numThreads?: number;
  /** What the model's config says; used for symbolic dimensions and checked against fixed ones. */
  expect?: { hidden?: number; imageSeqLen?: number; imageSize?: number };
}

type FloatType = 'float32' | 'float16';
type MaskType = 'bool' | 'uint8' | 'int32' | 'int64' | 'float32';

function tensorMeta(
  meta: readonly ort.InferenceSession.ValueMetadata[],
  name: string,
): ort.InferenceSession.TensorValueMetadata | undefined {
  const m = meta.find((x) => x.name === name);
  return m && m.isTensor ? m : undefined;
}

/** A numeric dimension from session metadata, or undefined for a symbolic one. */
function staticDim(m: ort.InferenceSession.TensorValueMetadata | undefined, axis: number): number | undefined {
  const d = m?.shape[axis < 0 ? m.shape.length + axis : axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** A declared size, checked against the config's; the config's where the export leaves it symbolic. */
function resolveDim(declared: number | undefined, expected: number | undefined, what: string, fallback?: number): number {
  if (declared !== undefined && expected !== undefined && declared !== expected) {
    throw new VisionEncoderError(
      `the vision encoder's ${what} is ${declared} but the model's config says ${expected}; the files belong to different models`,
    );
  }
  const v = declared ?? expected ?? fallback;
  if (v === undefined)
    throw new VisionEncoderError(
      `the vision encoder does not declare its ${what} and no config gives it; the export is not a SmolVLM vision encoder`,
    );
  return v;
}

export class VisionEncoder {
  /** Features per view (64 for SmolVLM). */
  readonly imageSeqLen: number;
  /** Width of each feature row: the text decoder's hidden size. */
  readonly hidden: number;
  /** Side of the square input view (512). */
  readonly imageSize: number;
  /** Element types as the export declares them. */
  readonly inputType: FloatType;
  readonly outputType: FloatType;
  private readonly mask: ort.Tensor;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    expected: VisionEncoderOptions['expect'] = {},
  ) {
    for (const name of ['pixel_values', 'pixel_attention_mask']) {
      if (!session.inputNames.includes(name)) {
        throw new VisionEncoderError(
          `the vision encoder has no input "${name}" (inputs: ${session.inputNames.join(', ')}); use an Idefics3/SmolVLM onnx/vision_encoder*.onnx export`,
        );
      }
    }
    if (!session.outputNames.includes('image_features')) {
      throw new VisionEncoderError(
        `the vision encoder has no output "image_features" (outputs: ${session.outputNames.join(', ')}); use an Idefics3/SmolVLM onnx/vision_encoder*.onnx export`,
      );
    }
    const pv = tensorMeta(session.inputMetadata, 'pixel_values');
    const pm = tensorMeta(session.inputMetadata, 'pixel_attention_mask');
    const out = tensorMeta(session.outputMetadata, 'image_features');
    const floatType = (m: typeof pv, what: string): FloatType => {
      const t = m?.type ?? 'float32'; // no metadata (older runtimes): the float32 export
      if (t !== 'float32' && t !== 'float16')
        throw new VisionEncoderError(`the vision encoder's ${what} is ${t}; only float32 and float16 exports are supported`);
      return t;
    };
    this.inputType = floatType(pv, 'pixel_values');
    this.outputType = floatType(out, 'image_features');
    const maskType = (pm?.type ?? 'bool') as MaskType;
    if (!['bool', 'uint8', 'int32', 'int64', 'float32'].includes(maskType))
      throw new VisionEncoderError(`the vision encoder's pixel_attention_mask is ${maskType}; expected bool`);

    // image_features is [views, imageSeqLen, hidden] or [views * imageSeqLen, hidden].
    const rank = out?.shape.length ?? 3;
    if (rank !== 2 && rank !== 3 && out?.shape.length)
      throw new VisionEncoderError(`the vision encoder's image_features has rank ${rank}; expected [n, 64, C] or [n * 64, C]`);
    this.hidden = resolveDim(staticDim(out, -1), expected.hidden, 'feature width (last axis of image_features)');
    this.imageSeqLen = resolveDim(rank === 3 ? staticDim(out, 1) : undefined, expected.imageSeqLen, 'features per image', 64);
    this.imageSize = resolveDim(staticDim(pv, 4), expected.imageSize, 'image size', 512);
    // An unpadded view: every pixel is real.
    const S = this.imageSize;
    const ones =
      maskType === 'int64'
        ? new BigInt64Array(S * S).fill(1n)
        : maskType === 'int32'
          ? new Int32Array(S * S).fill(1)
          : maskType === 'float32'
            ? new Float32Array(S * S).fill(1)
            : new Uint8Array(S * S).fill(1);
    this.mask = new ort.Tensor(maskType, ones, [1, 1, S, S]);
  }

  /** Note: `wasmPaths` and `numThreads` set onnxruntime-web's global environment. */
  static async create(onnx: Uint8Array, opts: VisionEncoderOptions): Promise<VisionEncoder> {
    if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths;
    if (opts.numThreads !== undefined) ort.env.wasm.numThreads = opts.numThreads;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(onnx, { executionProviders: [opts.executionProvider], graphOptimizationLevel: 'all' });
    } catch (e) {
      const fix =
        opts.executionProvider === 'webgpu'
          ? 'try the wasm backend, or a browser with WebGPU'
          : 'check that the file is an ONNX model and was downloaded completely';
      throw new VisionEncoderError(`the vision encoder could not be loaded on ${opts.executionProvider} (${(e as Error).message}); ${fix}`);
    }
    try {
      return new VisionEncoder(session, opts.expect);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /**
   * pixels: [views, 3, imageSize, imageSize] in [-1, 1] (image.ts preprocessImage; one view is
   * [3, S, S]). Returns [views * imageSeqLen, hidden], the views' features in order.
   */
  encode(pixels: Float32Array): Promise<Float32Array> {
    if (this.disposed) return Promise.reject(new VisionEncoderError('the vision encoder was disposed'));
    const S = this.imageSize;
    const view = 3 * S * S;
    if (pixels.length === 0 || pixels.length % view !== 0) {
      return Promise.reject(
        new VisionEncoderError(
          `pixel values have ${pixels.length} elements; the vision encoder needs a whole number of views of 3 x ${S} x ${S} = ${view}`,
        ),
      );
    }
    // onnxruntime-web runs one inference per session at a time: queue the calls.
    const run = this.queue.then(() => this.runViews(pixels));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** One view per run: a 17-view tiled image at once would need 17x the attention memory. */
  private async runViews(pixels: Float32Array): Promise<Float32Array> {
    const view = 3 * this.imageSize * this.imageSize;
    const views = pixels.length / view;
    const rows = this.imageSeqLen * this.hidden;
    const out = new Float32Array(views * rows);
    for (let v = 0; v < views; v++) out.set(await this.run(pixels.subarray(v * view, (v + 1) * view)), v * rows);
    return out;
  }

  private async run(pixels: Float32Array): Promise<Float32Array> {
    const S = this.imageSize;
    const input =
      this.inputType === 'float16'
        ? new ort.Tensor('float16', f32ToF16(pixels), [1, 1, 3, S, S])
        : new ort.Tensor('float32', pixels, [1, 1, 3, S, S]);
    const out = await this.session.run({ pixel_values: input, pixel_attention_mask: this.mask });
    const features = out['image_features'];
    try {
      const dims = features.dims;
      const L = this.imageSeqLen;
      const C = this.hidden;
      const ok =
        (dims.length === 3 && dims[0] === 1 && dims[1] === L && dims[2] === C) || (dims.length === 2 && dims[0] === L && dims[1] === C);
      if (!ok)
        throw new VisionEncoderError(
          `the vision encoder returned image_features of shape [${dims.join(', ')}], expected [1, ${L}, ${C}] or [${L}, ${C}]`,
        );
      if (features.type === 'float32') return Float32Array.from(features.data as Float32Array);
      if (features.type === 'float16') {
        const data = features.data;
        // Uint16Array bits; a Float16Array where the runtime has one.
        return data instanceof Uint16Array ? f16ToF32(data) : Float32Array.from(data as ArrayLike<number>);
      }
      throw new VisionEncoderError(`the vision encoder returned ${features.type} image_features; expected float32 or float16`);
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.session.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Choosing an export

/** One failed try: which file on which backend, and why. */
export interface VisionLoadFailure {
  variant: VisionEncoderVariant;
  path: string;
  backend?: VisionBackend; // absent when the file could not be read at all
  reason: string;
}

export interface OpenVisionEncoderOptions {
  /** The first variant, already downloaded (the model bundle's visionOnnx). */
  first?: { variant: VisionEncoderVariant; bytes: Uint8Array };
  /** Variants to try after it, in order. */
  fallbacks: readonly VisionEncoderVariant[];
  /** A fallback's bytes; undefined when the folder does not have it. */
  read: (variant: VisionEncoderVariant) => Promise<Uint8Array | undefined>;
  /** Backends to try for each file, in order. */
  backends: readonly VisionBackend[];
  expect?: VisionEncoderOptions['expect'];
  /** Says what is being tried and what failed, for the progress line. */
  onStatus?: (message: string) => void;
  /** Where the files come from, for messages. */
  source?: string;
}

export interface OpenedVisionEncoder {
  encoder: VisionEncoder;
  variant: VisionEncoderVariant;
  path: string;
  backend: VisionBackend;
  /** Tries that failed before this one. */
  failures: VisionLoadFailure[];
}

/** Every export failed; `failures` lists each file and backend tried. */
export class VisionEncoderUnavailableError extends VisionEncoderError {
  override name = 'VisionEncoderUnavailableError';
  constructor(
    readonly failures: VisionLoadFailure[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * Opens the first export that loads: each variant in turn (the first one's bytes given, the
 * rest read when reached), each on every backend in order. Reports each failure through
 * onStatus and returns which file runs where.
 */
export async function openVisionEncoder(opts: OpenVisionEncoderOptions): Promise<OpenedVisionEncoder> {
  const failures: VisionLoadFailure[] = [];
  const order = [...(opts.first ? [opts.first.variant] : []), ...opts.fallbacks];
  const absent: string[] = [];
  for (const variant of order) {
    const path = VISION_ENCODER_FILES[variant];
    let bytes: Uint8Array | undefined;
    try {
      bytes = opts.first && variant === opts.first.variant ? opts.first.bytes : await opts.read(variant);
    } catch (e) {
      failures.push({ variant, path, reason: (e as Error).message });
      opts.onStatus?.(`could not read ${path} (${(e as Error).message}); trying the next export`);
      continue;
    }
    if (!bytes) {
      absent.push(path);
      continue;
    }
    for (const backend of opts.backends) {
      opts.onStatus?.(`loading ${path} (${variant}) on ${backend}`);
      try {
        const encoder = await VisionEncoder.create(bytes, { executionProvider: backend, expect: opts.expect });
        opts.onStatus?.(`vision encoder: ${path} (${variant}) on ${backend}`);
        return { encoder, variant, path, backend, failures };
      } catch (e) {
        const reason = (e as Error).message;
        failures.push({ variant, path, backend, reason });
        opts.onStatus?.(`${path} did not load on ${backend}: ${reason}`);
      }
    }
  }
  const where = opts.source ?? 'the model folder';
  const tried = failures.map((f) => `${f.path}${f.backend ? ` on ${f.backend}` : ''}: ${f.reason}`).join('; ');
  const skipped = absent.length > 0 ? ` (${where} has none of ${absent.join(', ')})` : '';
  throw new VisionEncoderUnavailableError(
    failures,
    `no vision encoder export of ${where} could be loaded${skipped}. Tried ${tried || 'nothing'}. ` +
      `Download the folder again (a file may be damaged or incomplete), or put the plain float32 export ${VISION_ENCODER_FILES.fp32} ` +
      "from the model's hub repository in the folder: it runs on every backend",
  );
}

/**
 * The model bundle's vision encoder: its first present export (already downloaded), then the
 * bundle's fallbacks in order, sizes checked against config.json.
 */
export function openBundleVisionEncoder(
  bundle: Pick<ModelBundle, 'config' | 'visionOnnx' | 'visionVariant' | 'visionFallbacks' | 'readVisionEncoder'>,
  opts: { backends: readonly VisionBackend[]; onStatus?: (message: string) => void; source?: string },
): Promise<OpenedVisionEncoder> {
  const v = bundle.config.vision;
  return openVisionEncoder({
    first: bundle.visionOnnx && bundle.visionVariant ? { variant: bundle.visionVariant, bytes: bundle.visionOnnx } : undefined,
    fallbacks: bundle.visionFallbacks,
    read: (variant) => bundle.readVisionEncoder(variant),
    backends: opts.backends,
    expect: { hidden: bundle.config.decoder.hiddenSize, imageSeqLen: v?.imageSeqLen, imageSize: v?.imageSize },
    onStatus: opts.onStatus,
    source: opts.source,
  });
}

/**
 * Image features per key (the caller's, e.g. a record's image), least recently used dropped
 * first. The clean image's features never change during training, so each is computed once;
 * noisy copies are new every time and should not be cached.
 */
export class FeatureCache {
  private readonly map = new Map<string, Float32Array>();
  private readonly pending = new Map<string, Promise<Float32Array>>();

  constructor(readonly maxEntries = 512) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError(`FeatureCache: maxEntries must be a positive integer, got ${maxEntries}`);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): Float32Array | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v); // most recently used last
    }
    return v;
  }

  set(key: string, features: Float32Array): void {
    this.map.delete(key);
    this.map.set(key, features);
    while (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value as string);
  }

  /** The cached features, or `compute()`'s; concurrent calls for one key share one computation. */
  async getOrCompute(key: string, compute: () => Promise<Float32Array>): Promise<Float32Array> {
    const hit = this.get(key);
    if (hit) return hit;
    const inflight = this.pending.get(key);
    if (inflight) return inflight;
    const p = compute().then(
      (f) => {
        this.pending.delete(key);
        this.set(key, f);
        return f;
      },
      (e: unknown) => {
        this.pending.delete(key);
        throw e;
      },
    );
    this.pending.set(key, p);
    return p;
  }

  clear(): void {
    this.map.clear();
  }
}
