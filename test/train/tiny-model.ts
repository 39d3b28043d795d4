// The built-in tiny model (public/models/tiny, made by `npm run fixture`) loaded in Node the way the
// Worker loads it: model bundle, tokenizer, ONNX vision encoder (WASM), engine.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Engine } from '../../src/engine';
import { decoderNames } from '../../src/engine/checkpoint';
import type { GpuContext } from '../../src/gpu';
import { loadModelBundle, type ModelBundle } from '../../src/model/bundle';
import { ChatTokenizer } from '../../src/model/tokenizer';
import { VisionEncoder } from '../../src/model/vision';
import { writeTinyModel } from '../../scripts/tiny-model';

export const TINY_DIR = 'public/models/tiny';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : [join(dir, n)]));
}

export async function loadTinyBundle(): Promise<ModelBundle> {
  if (!existsSync(join(TINY_DIR, 'config.json'))) await writeTinyModel(TINY_DIR);
  const files = new Map<string, Blob>(walk(TINY_DIR).map((p) => [relative(TINY_DIR, p), new Blob([readFileSync(p)])]));
  return loadModelBundle({ kind: 'files', files });
}

export interface TinySession {
  bundle: ModelBundle;
  tokenizer: ChatTokenizer;
  vision: VisionEncoder;
  engine: Engine;
}

export async function loadTinySession(
  ctx: GpuContext,
  lora: { r: number; alpha: number; seed: number },
  maxSeq = 192,
): Promise<TinySession> {
  const bundle = await loadTinyBundle();
  const tokenizer = ChatTokenizer.fromJson(bundle.tokenizerJson, bundle.tokenizerConfigJson, bundle.chatTemplate);
  const vision = await VisionEncoder.create(bundle.visionOnnx!, { executionProvider: 'wasm', numThreads: 1 });
  const engine = await Engine.create(ctx, bundle.config.decoder, bundle.decoderTensors, {
    maxBatch: 2,
    maxSeq,
    lora,
    imageTokenId: tokenizer.imageTokenId,
    names: decoderNames(bundle.decoderPrefix),
  });
  return { bundle, tokenizer, vision, engine };
}

/** A small synthetic image: a coloured disc on a background, as pixel values [3, S, S] in [-1, 1]. */
export function discImage(
  S: number,
  fg: [number, number, number],
  bg: [number, number, number],
  cx: number,
  cy: number,
  r: number,
): Float32Array {
  const out = new Float32Array(3 * S * S);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const inside = (x - cx * S) ** 2 + (y - cy * S) ** 2 < (r * S) ** 2;
      const c = inside ? fg : bg;
      for (let ch = 0; ch < 3; ch++) out[ch * S * S + y * S + x] = (c[ch] / 255) * 2 - 1;
    }
  return out;
}
