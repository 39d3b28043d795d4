// `npm run golden`, step 1: a non-zero LoRA adapter for the built-in model, written by the app's
// own exporter (writePeftAdapter, which the Worker's download goes through) to
// test/golden/adapter/. Step 2 (scripts/golden/model.py) loads it with PEFT; the golden tests load
// it into the engine. A from PEFT's init range, B random (a trained-looking adapter), fixed seed.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LORA_TARGETS, type LoraTarget } from '../../src/engine/checkpoint';
import { BUILTIN_BASE_MODEL, writePeftAdapter, type LoraMatrices } from '../../src/export/peft';
import { parseModelConfig } from '../../src/model/config';
import { Rng } from '../../src/util/rng';

const GOLDEN_LORA = { r: 4, alpha: 8, seed: 20240611, bStd: 0.1 } as const;

/** [in, out] of each adapted projection of a Llama decoder layer. */
function projectionDims(c: {
  hiddenSize: number;
  headDim: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
}): Record<LoraTarget, [number, number]> {
  const C = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const ff = c.intermediateSize;
  return { q: [C, q], k: [C, kv], v: [C, kv], o: [q, C], gate: [C, ff], up: [C, ff], down: [ff, C] };
}

function goldenAdapterMatrices(decoder: Parameters<typeof projectionDims>[0] & { numLayers: number }): LoraMatrices[] {
  const { r, seed, bStd } = GOLDEN_LORA;
  const rng = new Rng(seed);
  const dims = projectionDims(decoder);
  const out: LoraMatrices[] = [];
  for (let layer = 0; layer < decoder.numLayers; layer++)
    for (const target of LORA_TARGETS) {
      const [inFeatures, outFeatures] = dims[target];
      const bound = 1 / Math.sqrt(inFeatures);
      const A = Float32Array.from({ length: r * inFeatures }, () => rng.uniform(-bound, bound));
      const B = Float32Array.from({ length: outFeatures * r }, () => bStd * rng.normal());
      out.push({ layer, target, A, B, inFeatures, outFeatures });
    }
  return out;
}

const modelDir = resolve(process.argv[2] ?? 'public/models/tiny');
const outDir = resolve(process.argv[3] ?? 'test/golden/adapter');
const { decoder } = parseModelConfig(JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')));
const files = writePeftAdapter(
  {
    r: GOLDEN_LORA.r,
    alpha: GOLDEN_LORA.alpha,
    targets: [...LORA_TARGETS],
    baseModel: BUILTIN_BASE_MODEL,
    decoderPrefix: 'model.text_model.',
  },
  goldenAdapterMatrices(decoder),
);
await mkdir(outDir, { recursive: true });
for (const [name, bytes] of Object.entries(files)) await writeFile(join(outDir, name), bytes);
console.log(
  `golden adapter (r ${GOLDEN_LORA.r}, alpha ${GOLDEN_LORA.alpha}, ${decoder.numLayers} layers x ${LORA_TARGETS.length} projections) written to ${outDir}`,
);
