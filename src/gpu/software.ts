// Known CPU implementations of WebGPU (Vulkan/D3D on the processor), told apart by their adapter
// info. On them onnxruntime-web's WebGPU provider is far slower than its wasm one (docs/model.md,
// "The ONNX vision encoder"), and the page says what to expect.
import type { AcquiredDevice } from './device';

const SOFTWARE = [
  { re: /swiftshader/i, name: 'SwiftShader' },
  { re: /llvmpipe/i, name: 'llvmpipe' },
  { re: /lavapipe/i, name: 'lavapipe' },
  { re: /microsoft basic render|\bwarp\b/i, name: 'WARP' },
];

/** The software rasteriser WebGPU runs on, from the adapter's vendor/architecture/description, or null for a GPU. */
export function softwareRenderer(adapter: AcquiredDevice['adapterInfo'] | undefined): string | null {
  if (!adapter) return null;
  const text = `${adapter.vendor} ${adapter.architecture} ${adapter.description}`;
  return SOFTWARE.find((s) => s.re.test(text))?.name ?? null;
}
