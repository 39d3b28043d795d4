// The golden files written by scripts/golden/model.py (`npm run golden`): the built-in model run by
// transformers, PEFT and torch autograd in float64. Tests read every input and expected number from
// here, so they hold for whatever weights public/models/tiny has, once the files are regenerated.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../../src/model/safetensors';
import { tensorToF32 } from '../../src/util/dtype';
import { TINY_DIR } from '../train/tiny-model';
import { writeTinyModel } from '../../scripts/tiny-model';

export const GOLDEN_DIR = 'test/golden';
export const GOLDEN_ADAPTER_DIR = join(GOLDEN_DIR, 'adapter');

export interface AnswerLogprobs {
  chosen: number[];
  chosen_sum: number;
  rejected: number[];
  rejected_sum: number;
}

export interface PovidGolden {
  loss: number;
  policy: { chosen: number; text: number; noise: number };
  reference: { chosen: number; text: number; noise: number };
}

export interface ModelGolden {
  versions: Record<string, string>;
  model_sha256: Record<string, string>;
  adapter_sha256: Record<string, string>;
  prompt_ids: number[];
  chosen_ids: number[];
  rejected_ids: number[];
  image_token_id: number;
  base: AnswerLogprobs;
  peft: AnswerLogprobs;
  povid: {
    beta: number;
    w_text: number;
    w_noise: number;
    yn_policy: number[];
    yn_reference: number[];
    'own-argmax': PovidGolden;
    'policy-argmax': PovidGolden;
  };
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * model.json and the arrays of model.safetensors. Fails with what to do when the golden files
 * were made from other weights or another adapter than the ones in the repository now.
 */
export async function loadModelGolden(): Promise<{ golden: ModelGolden; array(name: string): Float32Array; names: string[] }> {
  if (!existsSync(join(TINY_DIR, 'config.json'))) await writeTinyModel(TINY_DIR);
  const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, 'model.json'), 'utf8')) as ModelGolden;
  for (const [file, hash] of Object.entries(golden.model_sha256))
    if (sha256(join(TINY_DIR, file)) !== hash)
      throw new Error(
        `${TINY_DIR}/${file} is not the file the golden files were made from: the built-in model changed. Regenerate them with \`npm run golden\``,
      );
  for (const [file, hash] of Object.entries(golden.adapter_sha256))
    if (sha256(join(GOLDEN_ADAPTER_DIR, file)) !== hash)
      throw new Error(`${GOLDEN_ADAPTER_DIR}/${file} changed since the golden files were made. Regenerate them with \`npm run golden\``);
  const file = readSafetensors(new Uint8Array(readFileSync(join(GOLDEN_DIR, 'model.safetensors'))), 'test/golden/model.safetensors');
  return { golden, array: (name) => tensorToF32(file.tensor(name)), names: [...file.header.tensors.keys()] };
}

/** Teacher-forced targets for prompt + answer: position t predicts token t + 1 over the answer, -1 elsewhere. */
export function answerTargets(promptLength: number, tokens: readonly number[]): Int32Array {
  const targets = new Int32Array(tokens.length).fill(-1);
  for (let t = promptLength - 1; t < tokens.length - 1; t++) targets[t] = tokens[t + 1];
  return targets;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
