// A one-node MatMul ONNX model run on onnxruntime-web's WebGPU execution provider with its input
// and output kept on the GPU, as the peer our linear kernel is compared with.
import { OnnxDataType, OnnxGraphBuilder } from '../scripts/onnx-writer';
import type { OrtModule } from './types';

/** Y [T, OUT] = X [T, IN] · W [IN, OUT], W an initializer. */
export function matmulOnnx(T: number, IN: number, OUT: number, wInOut: Float32Array): Uint8Array {
  const g = new OnnxGraphBuilder(`matmul_${T}x${IN}x${OUT}`);
  const x = g.input('X', OnnxDataType.FLOAT, [T, IN]);
  const w = g.floatTensor('W', [IN, OUT], wInOut);
  g.node('MatMul', [x, w], {}, 'Y');
  g.output('Y', OnnxDataType.FLOAT, [T, OUT]);
  return g.build('povid-webgpu bench');
}

const STORAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC

/** Copies `bytes` of a buffer back through a staging buffer on its own device. */
export async function readDeviceBuffer(device: GPUDevice, buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size: bytes, usage: 0x0001 | 0x0008 }); // MAP_READ | COPY_DST
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(0x0001);
  const out = staging.getMappedRange().slice(0);
  staging.destroy();
  return out;
}

export interface OrtMatmul {
  device: GPUDevice;
  /** n runs, submitted back to back, then a wait for ORT's queue to drain. */
  run(n: number): Promise<void>;
  /** The output Y [T, OUT] of the last run. */
  read(): Promise<Float32Array>;
  /** Where ORT kept input and output. */
  io: { input: string; output: string };
  release(): Promise<void>;
}

export async function createOrtMatmul(
  ort: OrtModule,
  T: number,
  IN: number,
  OUT: number,
  x: Float32Array,
  wInOut: Float32Array,
): Promise<OrtMatmul> {
  const model = matmulOnnx(T, IN, OUT, wInOut);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['webgpu'],
    graphOptimizationLevel: 'all',
    preferredOutputLocation: 'gpu-buffer',
  });
  try {
    // ORT creates its own device; inputs bound as GPU tensors must live on it.
    const device = (await ort.env.webgpu.device) as GPUDevice;
    if (!device) throw new Error('onnxruntime-web reports no WebGPU device after creating a webgpu session');
    const xb = device.createBuffer({ label: 'ort X', size: x.byteLength, usage: STORAGE });
    device.queue.writeBuffer(xb, 0, x.buffer, x.byteOffset, x.byteLength);
    const yb = device.createBuffer({ label: 'ort Y', size: T * OUT * 4, usage: STORAGE });
    const xt = ort.Tensor.fromGpuBuffer(xb, { dataType: 'float32', dims: [T, IN] });
    const yt = ort.Tensor.fromGpuBuffer(yb, { dataType: 'float32', dims: [T, OUT] });
    let outLocation = 'unknown';
    return {
      device,
      io: {
        input: xt.location,
        get output() {
          return outLocation;
        },
      },
      async run(n: number) {
        for (let i = 0; i < n; i++) {
          const out = await session.run({ X: xt }, { Y: yt });
          outLocation = out.Y.location;
        }
        await device.queue.onSubmittedWorkDone();
      },
      async read() {
        return new Float32Array(await readDeviceBuffer(device, yb, T * OUT * 4));
      },
      async release() {
        await session.release();
        xb.destroy();
        yb.destroy();
      },
    };
  } catch (e) {
    await session.release();
    throw e;
  }
}
