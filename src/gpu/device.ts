// One way to get an adapter and a device in a page, a Worker and Node (npm `webgpu`).
import { WebGpuUnavailableError } from './errors';

export interface GpuFeatures {
  /** `shader-f16`: f16 arithmetic in WGSL (absent on SwiftShader). */
  f16: boolean;
  /** `subgroups`: subgroup reductions in WGSL. */
  subgroups: boolean;
  timestampQuery: boolean;
}

export interface GpuRequestOptions {
  powerPreference?: GPUPowerPreference;
  /** Turn optional features off (tests of the fallback paths). */
  disableF16?: boolean;
  disableSubgroups?: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  features: GpuFeatures;
  adapterInfo: { vendor: string; architecture: string; description: string };
}

// Dawn's Node GPU instance must outlive every adapter and device made from it: if it is
// garbage-collected the process aborts. Keep it for the life of the process.
let nodeGpu: GPU | null = null;

/** navigator.gpu in a page or Worker; Dawn's Node bindings elsewhere. */
async function getGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) {
    throw new WebGpuUnavailableError(
      'This browser has no WebGPU. Use a recent Chrome or Edge (version 113 or later) on a machine with a supported GPU, or enable WebGPU in the browser flags.',
    );
  }
  // A variable specifier keeps the Node-only package out of browser bundles.
  const pkg = 'webgpu';
  const mod = (await import(/* @vite-ignore */ pkg)) as { create: (o: string[]) => GPU; globals: object };
  Object.assign(globalThis, mod.globals);
  nodeGpu ??= mod.create([]);
  return nodeGpu;
}

export async function acquireDevice(opts: GpuRequestOptions = {}): Promise<AcquiredDevice> {
  const gpu = await getGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      "WebGPU found no GPU adapter. In a browser, check chrome://gpu; in Node on a machine without a GPU, install Debian's chromium package and set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.",
    );
  }
  const f16 = !opts.disableF16 && adapter.features.has('shader-f16');
  const subgroups = !opts.disableSubgroups && adapter.features.has('subgroups');
  const timestampQuery = adapter.features.has('timestamp-query');
  const requiredFeatures: GPUFeatureName[] = [];
  if (f16) requiredFeatures.push('shader-f16');
  if (subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (timestampQuery) requiredFeatures.push('timestamp-query');
  // Ask for the adapter's larger buffer limits: the default 128 MiB binding is too small for
  // some activations, and the adapter usually offers far more.
  const a = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxBufferSize: a.maxBufferSize,
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
  };
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  return {
    device,
    adapter,
    features: { f16, subgroups, timestampQuery },
    adapterInfo: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      description: info?.description ?? '',
    },
  };
}
