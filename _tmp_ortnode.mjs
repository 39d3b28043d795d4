import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpu = create([]);
Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
const ort = await import('/work/main/node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs');
console.log(Object.keys(ort).slice(0,20));
const { OnnxGraphBuilder } = await import('/tmp/bx/ow.mjs').catch(()=>({}));
ort.env.logLevel='verbose';
try {
  // tiny model: use fixture vision encoder
  const fs = await import('node:fs');
  const bytes = fs.readFileSync('/work/main/public/models/tiny/onnx/vision_encoder.onnx');
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
  console.log('ok', s.inputNames);
} catch (e) { console.log('ERR', e); }
process.exit(0);
