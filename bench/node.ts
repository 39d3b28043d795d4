// The benchmark's Node host: WebGPU from the npm `webgpu` package (Dawn; SwiftShader on a machine
// without a GPU), onnxruntime-web's WebGPU build with navigator.gpu provided from that package,
// and public/ read from disk. Node only: never imported by browser code.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { resolve } from 'node:path';
import { errorText } from './timing';
import type { BenchHost, OrtModule, Skipped } from './types';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Points Dawn at SwiftShader when no Vulkan driver is configured (as vitest.config.ts does). */
export function useSwiftShaderIfNoDriver(): void {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

async function packageVersion(root: string, name: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(resolve(root, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

let gpuInstance: GPU | null = null;

/**
 * One GPU object from Dawn's Node bindings for the whole process, exposed as navigator.gpu so
 * that GpuContext (src/gpu/device.ts looks there first) and onnxruntime-web share it.
 */
async function installNavigatorGpu(): Promise<GPU> {
  if (gpuInstance) return gpuInstance;
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu) return (gpuInstance = g.navigator.gpu);
  const pkg = 'webgpu';
  const webgpu = (await import(/* @vite-ignore */ pkg)) as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  else Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  shareableWriteBuffer(webgpu.globals.GPUQueue as { prototype: GPUQueue } | undefined);
  return (gpuInstance = gpu);
}

/**
 * onnxruntime-web's wasm heap is a SharedArrayBuffer; Dawn's Node bindings reject views of one in
 * GPUQueue.writeBuffer ("Invalid argument") where browsers accept them: copy such data first.
 */
function shareableWriteBuffer(GPUQueueClass: { prototype: GPUQueue } | undefined): void {
  if (!GPUQueueClass || typeof SharedArrayBuffer === 'undefined') return;
  type WriteBuffer = (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource, dataOffset?: number, size?: number) => void;
  const proto = GPUQueueClass.prototype as unknown as { writeBuffer: WriteBuffer; __benchShared?: boolean };
  if (proto.__benchShared) return;
  const original = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer, offset, data, dataOffset = 0, size) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const el = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const start = data.byteOffset + dataOffset * el;
      const len = size !== undefined ? size * el : data.byteLength - dataOffset * el;
      return original.call(this, buffer, offset, new Uint8Array(data.buffer, start, len).slice());
    }
    return original.call(this, buffer, offset, data, dataOffset, size);
  };
  proto.__benchShared = true;
}

let ortPromise: Promise<OrtModule | Skipped> | null = null;

/**
 * onnxruntime-web's WebGPU build in Node. The package's Node entry is wasm-only, so this loads the
 * `onnxruntime-web/webgpu` bundle, which finds the GPU through navigator.gpu (see above).
 */
export function loadOrtWebGpuInNode(): Promise<OrtModule | Skipped> {
  ortPromise ??= (async (): Promise<OrtModule | Skipped> => {
    try {
      await installNavigatorGpu();
      const ort = (await import('onnxruntime-web/webgpu')) as unknown as OrtModule;
      ort.env.logLevel = 'error';
      return ort;
    } catch (e) {
      return { skipped: `onnxruntime-web's WebGPU build could not start in Node: ${errorText(e)}` };
    }
  })();
  return ortPromise;
}

export interface NodeHostOptions {
  /** Project root (public/ and node_modules/ under it). */
  root?: string;
  progress?: (line: string) => void;
}

export async function nodeHost(o: NodeHostOptions = {}): Promise<BenchHost> {
  useSwiftShaderIfNoDriver();
  await installNavigatorGpu();
  const root = o.root ?? process.cwd();
  const versions: Record<string, string | undefined> = {};
  await Promise.all(['onnxruntime-web', 'webgpu'].map(async (p) => (versions[p] = await packageVersion(root, p))));
  const host: BenchHost = {
    env: 'node',
    ortWebGpu: loadOrtWebGpuInNode,
    // Once a WebGPU session exists, onnxruntime-web keeps one CPU core busy in Node (seen: ~1 s of
    // CPU per idle second, even after release), halving what a 2-core CPU adapter has left.
    deferOrt: true,
    // VisionEncoder imports `onnxruntime-web`, whose Node entry is the wasm build.
    visionProviders: ['wasm'],
    async readPublic(path) {
      try {
        return new Uint8Array(await readFile(resolve(root, 'public', path)));
      } catch {
        return null;
      }
    },
    progress: o.progress ?? ((line) => process.stderr.write(`[bench] ${line}\n`)),
    runtime: () => ({
      node: process.versions.node,
      v8: process.versions.v8,
      platform: `${process.platform} ${process.arch}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      webgpuPackage: versions.webgpu,
      onnxruntimeWeb: versions['onnxruntime-web'],
      vulkanIcd: process.env.VK_ICD_FILENAMES,
    }),
  };
  return host;
}
