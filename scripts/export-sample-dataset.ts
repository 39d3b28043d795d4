// Exports the demo's sample data (public/samples, `npm run fixture`) the way the page's
// "Dataset" download does: imported, hallucinations injected, zipped with README.md and
// train_dpo.py. For running the exported script by hand:
//   vite-node scripts/export-sample-dataset.ts /tmp/povid-dataset.zip
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportDataset } from '../src/export/dataset';
import { importDataset } from '../src/povid/dataset';

const samples = resolve(process.argv[3] ?? 'public/samples');
const out = resolve(process.argv[2] ?? 'povid-dataset.zip');
const { files } = JSON.parse(readFileSync(join(samples, 'index.json'), 'utf8')) as { files: string[] };
const imported = await importDataset(files.map((name) => ({ name, blob: new Blob([readFileSync(join(samples, name))]) })));
if (imported.problems.length > 0) throw new Error(`the samples did not import cleanly: ${JSON.stringify(imported.problems)}`);
writeFileSync(out, await exportDataset(imported.records, imported.images, { seed: 0 }));
console.log(`${imported.records.length} records exported to ${out}`);
