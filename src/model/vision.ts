// The frozen vision side: onnx/vision_encoder*.onnx (SigLIP tower + pixel-shuffle connector, as
// exported for transformers.js) run with onnxruntime-web. One image in, [imageSeqLen, hidden] out.
// In the browser the default onnxruntime-web bundle provides both the 'webgpu' and 'wasm'
// execution providers; in Node it resolves to the wasm build (used by the tests).
import * as ort from 'onnxruntime-web';

export class VisionEncoderError extends Error {
  override name = 'VisionEncoderError';
}

export interface VisionEncoderOptions {
  executionProvider: 'webgpu' | 'wasm';
  /** Folder (URL) holding onnxruntime-web's .wasm files when the bundler does not serve them. */
  wasmPaths?: string;
  /** wasm threads; onnxruntime-web uses 1 anyway unless the page is cross-origin isolated. */
  numThreads?: number;
}

/** A numeric dimension from session metadata, or undefined for a symbolic one. */
function staticDim(meta: readonly ort.InferenceSession.ValueMetadata[], name: string, axis: number): number | undefined {
  const m = meta.find((x) => x.name === name);
  if (!m || !m.isTensor) return undefined;
  const d = m.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

export class VisionEncoder {
  /** Features per image (64 for SmolVLM). */
  readonly imageSeqLen: number;
  /** Width of each feature row: the text decoder's hidden size. */
  readonly hidden: number;
  /** Side of the square input image (512). */
  readonly imageSize: number;
  private readonly mask: ort.Tensor;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(private readonly session: ort.InferenceSession) {
    for (const name of ['pixel_values', 'pixel_attention_mask']) {
      if (!session.inputNames.includes(name)) {
        throw new VisionEncoderError(`the vision encoder has no input "${name}" (inputs: ${session.inputNames.join(', ')}); use an Idefics3/SmolVLM onnx/vision_encoder*.onnx export`);
      }
    }
    if (!session.outputNames.includes('image_features')) {
      throw new VisionEncoderError(`the vision encoder has no output "image_features" (outputs: ${session.outputNames.join(', ')}); use an Idefics3/SmolVLM onnx/vision_encoder*.onnx export`);
    }
    const hidden = staticDim(session.outputMetadata, 'image_features', 2);
    if (hidden === undefined) throw new VisionEncoderError('the vision encoder does not declare the width of "image_features"; the export is not a SmolVLM vision encoder');
    this.hidden = hidden;
    this.imageSeqLen = staticDim(session.outputMetadata, 'image_features', 1) ?? 64;
    this.imageSize = staticDim(session.inputMetadata, 'pixel_values', 4) ?? 512;
    // An unpadded image: every pixel is real.
    this.mask = new ort.Tensor('bool', new Uint8Array(this.imageSize * this.imageSize).fill(1), [1, 1, this.imageSize, this.imageSize]);
  }

  /** Note: `wasmPaths` and `numThreads` set onnxruntime-web's global environment. */
  static async create(onnx: Uint8Array, opts: VisionEncoderOptions): Promise<VisionEncoder> {
    if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths;
    if (opts.numThreads !== undefined) ort.env.wasm.numThreads = opts.numThreads;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(onnx, { executionProviders: [opts.executionProvider], graphOptimizationLevel: 'all' });
    } catch (e) {
      const fix = opts.executionProvider === 'webgpu' ? 'try the wasm backend, or a browser with WebGPU' : 'check that the file is an ONNX model and was downloaded completely';
      throw new VisionEncoderError(`the vision encoder could not be loaded on ${opts.executionProvider} (${(e as Error).message}); ${fix}`);
    }
    try {
      return new VisionEncoder(session);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /** pixels: [3, imageSize, imageSize] in [-1, 1] (image.ts toPixelValues). Returns [imageSeqLen, hidden]. */
  encode(pixels: Float32Array): Promise<Float32Array> {
    if (this.disposed) return Promise.reject(new VisionEncoderError('the vision encoder was disposed'));
    const S = this.imageSize;
    if (pixels.length !== 3 * S * S) {
      return Promise.reject(new VisionEncoderError(`pixel values have ${pixels.length} elements; the vision encoder needs 3 x ${S} x ${S} = ${3 * S * S}`));
    }
    // onnxruntime-web runs one inference per session at a time: queue the calls.
    const run = this.queue.then(() => this.run(pixels));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(pixels: Float32Array): Promise<Float32Array> {
    const S = this.imageSize;
    const input = new ort.Tensor('float32', pixels, [1, 1, 3, S, S]);
    const out = await this.session.run({ pixel_values: input, pixel_attention_mask: this.mask });
    const features = out['image_features'];
    try {
      const dims = features.dims;
      if (dims.length !== 3 || dims[0] !== 1 || dims[1] !== this.imageSeqLen || dims[2] !== this.hidden) {
        throw new VisionEncoderError(`the vision encoder returned image_features of shape [${dims.join(', ')}], expected [1, ${this.imageSeqLen}, ${this.hidden}]`);
      }
      if (features.type !== 'float32') throw new VisionEncoderError(`the vision encoder returned ${features.type} image_features; expected float32`);
      return Float32Array.from(features.data as Float32Array);
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

/**
 * Image features per key (the caller's, e.g. a record's image), least recently used dropped
 * first. The clean image's features never change during training, so each is computed once;
 * noisy copies are new every time and should not be cached.
 */
export class FeatureCache {
  private readonly map = new Map<string, Float32Array>();
  private readonly pending = new Map<string, Promise<Float32Array>>();

  constructor(readonly maxEntries = 512) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`FeatureCache: maxEntries must be a positive integer, got ${maxEntries}`);
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
