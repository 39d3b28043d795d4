import { realpathSync } from 'node:fs';
import { defineConfig } from 'vite';

// WGSL files are imported as text (`import code from '../../shaders/x.wgsl?raw'`).
// node_modules may be a link to a shared install (a git worktree): allow its real path too.
export default defineConfig({
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: { target: 'es2022' },
  server: { fs: { allow: ['.', realpathSync('node_modules')] } },
  // Unknown paths are 404s, not index.html: the model loader probes for optional files.
  appType: 'mpa',
});
