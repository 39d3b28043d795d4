// The built-in (pretrained) tiny model in Node, loaded the way the app's Worker loads a model:
// model bundle, tokenizer, ONNX vision encoder (WASM), engine with a LoRA adapter. Shared by
// `npm run eval` and the benchmark's CI test.
import { buildTinyModel, type TinyBuildOptions } from '../scripts/tiny-model';
import { Engine, type LoraTarget } from '../src/engine';
import type { BenchmarkDeps } from '../src/eval/benchmark';
import type { GpuContext } from '../src/gpu';
import { decoderNames } from '../src/engine/checkpoint';
import { loadModelBundle, type ModelBundle } from '../src/model/bundle';
import { ChatTokenizer } from '../src/model/tokenizer';
import { VisionEncoder } from '../src/model/vision';

export interface BenchmarkSession extends BenchmarkDeps {
  bundle: ModelBundle;
  vision: VisionEncoder;
  destroy(): void;
}

export interface SessionOptions {
  lora: { r: number; alpha: number; seed: number; targets?: LoraTarget[] };
  /** Sequences per forward pass (evaluation batches drafts; a POVID step needs 2). */
  maxBatch?: number;
  maxSeq?: number;
  model?: TinyBuildOptions;
}

export async function loadBuiltinModel(opts: TinyBuildOptions = {}): Promise<ModelBundle> {
  const files = new Map<string, Blob>();
  for (const [path, bytes] of buildTinyModel(opts)) files.set(path, new Blob([bytes as Uint8Array<ArrayBuffer>]));
  return loadModelBundle({ kind: 'files', files });
}

export async function loadBenchmarkSession(ctx: GpuContext, opts: SessionOptions, bundle?: ModelBundle): Promise<BenchmarkSession> {
  const b = bundle ?? (await loadBuiltinModel(opts.model));
  const tokenizer = ChatTokenizer.fromJson(b.tokenizerJson, b.tokenizerConfigJson, b.chatTemplate);
  const vision = await VisionEncoder.create(b.visionOnnx!, { executionProvider: 'wasm', numThreads: 1 });
  const engine = await Engine.create(ctx, b.config.decoder, b.decoderTensors, {
    maxBatch: opts.maxBatch ?? 4,
    maxSeq: opts.maxSeq ?? 160,
    lora: opts.lora,
    imageTokenId: tokenizer.imageTokenId,
    names: decoderNames(b.decoderPrefix),
  });
  return {
    bundle: b,
    engine,
    tokenizer,
    vision,
    imageSeqLen: vision.imageSeqLen,
    imageSize: vision.imageSize,
    encodeImage: (p) => vision.encode(p),
    destroy() {
      engine.destroy();
      void vision.dispose();
    },
  };
}
