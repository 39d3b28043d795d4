// `npm run fixture`: writes the built-in tiny model to public/models/tiny/ (or the folder given
// as the first argument). Deterministic: the same bytes on every run.
import { resolve } from 'node:path';
import { writeTinyModel } from './tiny-model';

const outDir = resolve(process.argv[2] ?? 'public/models/tiny');
const start = performance.now();
const written = await writeTinyModel(outDir);
for (const f of written) console.log(`${f.path.padEnd(28)} ${String(f.bytes).padStart(10)} bytes  sha256 ${f.sha256.slice(0, 16)}`);
console.log(`tiny model written to ${outDir} in ${((performance.now() - start) / 1000).toFixed(2)} s`);
