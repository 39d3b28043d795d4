import { defineConfig } from 'vite';

// WGSL files are imported as text (`import code from '../../shaders/x.wgsl?raw'`).
export default defineConfig({
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: { target: 'es2022' },
  server: { fs: { allow: ['.'] } },
  // Unknown paths are 404s, not index.html: the model loader probes for optional files.
  appType: 'mpa',
});
