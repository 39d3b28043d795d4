// Section `vision`: milliseconds per image of the built-in tiny model's vision encoder
// (public/models/tiny/onnx/vision_encoder.onnx, `npm run fixture`) through the app's own
// VisionEncoder, on onnxruntime-web's WebGPU and wasm execution providers.
import { VisionEncoder } from '../src/model/vision';
import { Rng } from '../src/util/rng';
import { Budget, errorText, measure, round } from './timing';
import type { BenchHost, BenchOptions, Figure, Outcome, Skipped } from './types';

export const VISION_MODEL = 'models/tiny/onnx/vision_encoder.onnx';

export interface VisionResult {
  model: string;
  modelBytes: number;
  imageSize?: number;
  imageSeqLen?: number;
  hidden?: number;
  providers: Partial<Record<'webgpu' | 'wasm', Outcome<{ perImage: Figure; createMs: number }>>>;
  /** ms per image on wasm / ms per image on webgpu (> 1: WebGPU faster). */
  speedupWebgpuOverWasm?: number;
  /** Largest |webgpu - wasm| over the features of one image. */
  maxAbsDiffWebgpuVsWasm?: number;
}

export async function benchVision(host: BenchHost, opts: BenchOptions, budget: Budget = new Budget(0)): Promise<VisionResult | Skipped> {
  const bytes = await host.readPublic(VISION_MODEL);
  if (!bytes) return { skipped: `public/${VISION_MODEL} is missing: run \`npm run fixture\` first` };
  const res: VisionResult = { model: `public/${VISION_MODEL}`, modelBytes: bytes.byteLength, providers: {} };
  const outputs: Partial<Record<'webgpu' | 'wasm', Float32Array>> = {};
  for (const ep of ['webgpu', 'wasm'] as const) {
    if (!host.visionProviders.includes(ep)) {
      res.providers[ep] = { skipped: `the ${ep} execution provider of onnxruntime-web is not available to VisionEncoder in ${host.env}` };
      continue;
    }
    let enc: VisionEncoder | null = null;
    try {
      const t0 = performance.now();
      enc = await VisionEncoder.create(bytes, { executionProvider: ep, wasmPaths: host.wasmPaths });
      const createMs = performance.now() - t0;
      res.imageSize = enc.imageSize;
      res.imageSeqLen = enc.imageSeqLen;
      res.hidden = enc.hidden;
      const S = enc.imageSize;
      const pixels = new Float32Array(3 * S * S);
      const rng = new Rng(opts.seed);
      for (let i = 0; i < pixels.length; i++) pixels[i] = rng.uniform(-1, 1);
      const e = enc;
      // Half of what is left for WebGPU (first), all of the rest for wasm.
      const share = budget.share(ep === 'webgpu' && host.visionProviders.includes('wasm') ? 0.5 : 1);
      const t = await measure(
        async (n) => {
          for (let i = 0; i < n; i++) outputs[ep] = await e.encode(pixels);
        },
        { ...opts, budgetMs: share.unlimited ? undefined : share.remaining() * 1000 },
      );
      res.providers[ep] = {
        perImage: { value: round(t.msPerIteration), unit: 'ms/image', iterations: t.iterations, msPerIteration: round(t.msPerIteration) },
        createMs: round(createMs),
      };
      host.progress(`vision ${ep}: ${t.msPerIteration.toFixed(1)} ms/image x${t.iterations}`);
    } catch (e) {
      res.providers[ep] = { error: errorText(e) };
      host.progress(`vision ${ep}: ${errorText(e)}`);
    } finally {
      await enc?.dispose().catch(() => undefined);
    }
  }
  const g = res.providers.webgpu;
  const w = res.providers.wasm;
  if (g && w && 'perImage' in g && 'perImage' in w) res.speedupWebgpuOverWasm = round(w.perImage.value / g.perImage.value);
  if (outputs.webgpu && outputs.wasm) {
    let d = 0;
    for (let i = 0; i < outputs.wasm.length; i++) d = Math.max(d, Math.abs(outputs.webgpu[i] - outputs.wasm[i]));
    res.maxAbsDiffWebgpuVsWasm = d;
  }
  return res;
}
