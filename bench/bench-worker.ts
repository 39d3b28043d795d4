// The benchmark in a dedicated Worker, the app's own code path: WebGPU from navigator.gpu,
// onnxruntime-web's default browser bundle (webgpu + wasm EPs), public/ over HTTP from the dev server.
import * as ort from 'onnxruntime-web';
import { runBench } from './run';
import { errorText } from './timing';
import { parseBenchOptions, type BenchHost, type OrtModule } from './types';

/** Where the Vite dev server serves onnxruntime-web's .wasm files from the package. */
const WASM_PATHS = '/node_modules/onnxruntime-web/dist/';

const post = (msg: unknown) => (self as unknown as Worker).postMessage(msg);

const host: BenchHost = {
  env: 'chromium',
  async ortWebGpu() {
    if (!('gpu' in navigator)) return { skipped: 'this browser exposes no navigator.gpu in a Worker' };
    ort.env.wasm.wasmPaths = WASM_PATHS;
    ort.env.logLevel = 'error';
    return ort as unknown as OrtModule;
  },
  deferOrt: false,
  visionProviders: ['webgpu', 'wasm'],
  wasmPaths: WASM_PATHS,
  async readPublic(path) {
    const r = await fetch(`/${path}`);
    if (!r.ok) return null;
    // The dev server answers unknown paths with index.html; a model is never HTML.
    if ((r.headers.get('content-type') ?? '').includes('text/html')) return null;
    return new Uint8Array(await r.arrayBuffer());
  },
  progress: (line) => post({ type: 'progress', line }),
  runtime: () => ({
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: self.crossOriginIsolated,
    onnxruntimeWeb: ort.env.versions?.web,
    context: 'dedicated Worker',
  }),
};

self.onmessage = async (e: MessageEvent<{ args: string[] }>) => {
  try {
    const result = await runBench(host, parseBenchOptions(e.data.args));
    post({ type: 'result', result });
  } catch (err) {
    post({ type: 'error', error: errorText(err) });
  }
};
