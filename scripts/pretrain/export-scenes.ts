// Exports the benchmark scenes for scripts/pretrain/pretrain.py, so that PyTorch trains on exactly
// the pixels and token ids the app and the engine see: the pictures drawn by src/eval/scenes.ts
// (zlib-compressed RGB), the prompts and answers tokenised by the app's ChatTokenizer with the
// chat template, and the tiny model as generated from its seed alone (the starting point).
//
//   vite-node scripts/pretrain/export-scenes.ts [outDir] [--scenes=N] [--val=N] [--seed=S]
//
// outDir (default .pretrain/) gets model-init/, scenes.bin, scenes.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import {
  describeScene,
  invitedPairs,
  KINDS,
  pretrainQuestions,
  renderScene,
  sceneEntries,
  sceneSet,
  SCENE_SIZE,
  type Scene,
  type SceneQuestion,
} from '../../src/eval/scenes';
import { ChatTokenizer } from '../../src/model/tokenizer';
import { Rng } from '../../src/util/rng';
import { TINY, writeTinyModel } from '../tiny-model';
import { buildTinyTokenizer, SMOLVLM_CHAT_TEMPLATE } from '../tiny-tokenizer';

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : def;
};
const outDir = resolve(args.find((a) => !a.startsWith('--')) ?? '.pretrain');
const nScenes = flag('scenes', 30000);
const nVal = flag('val', 160);
const seed = flag('seed', 1);

mkdirSync(outDir, { recursive: true });
const model = await writeTinyModel(join(outDir, 'model-init'), { pretrained: false });
const { tokenizerJson, tokenizerConfig } = buildTinyTokenizer();
const tok = ChatTokenizer.fromJson(tokenizerJson, tokenizerConfig, SMOLVLM_CHAT_TEMPLATE);

interface Sequence {
  scene: number;
  type: string;
  kind?: string;
  truth?: boolean | string | number;
  ids: number[];
  /** Answer tokens (and the closing <end_of_utterance>) are ids[promptLength..]. */
  promptLength: number;
}

const chunks: Uint8Array[] = [];
let offset = 0;
const scenesJson: {
  split: string;
  seed: number;
  offset: number;
  length: number;
  caption: string;
  entries: unknown;
  invited: string[];
  boxes: number[][];
}[] = [];
const sequences: Sequence[] = [];

function addScene(split: string, scene: Scene, questions: SceneQuestion[]): void {
  const rgba = renderScene(scene);
  const rgb = new Uint8Array(SCENE_SIZE * SCENE_SIZE * 3);
  for (let p = 0; p < SCENE_SIZE * SCENE_SIZE; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = rgba[p * 4 + c];
  const z = deflateSync(rgb, { level: 6 });
  chunks.push(z);
  const index = scenesJson.length;
  scenesJson.push({
    split,
    seed: scene.seed,
    offset,
    length: z.length,
    caption: describeScene(scene),
    entries: sceneEntries(scene),
    invited: invitedPairs(scene).map((p) => p.partner),
    // [kind index, x0, y0, x1, y1] per drawn object: where each kind is, for the auxiliary loss.
    boxes: scene.objects.map((o) => [KINDS.indexOf(o.kind), o.cx - o.w / 2, o.cy - o.h / 2, o.cx + o.w / 2, o.cy + o.h / 2]),
  });
  offset += z.length;
  for (const q of questions) {
    const ex = tok.buildExample(q.question, q.answer, TINY.imageSeqLen);
    sequences.push({
      scene: index,
      type: q.type,
      kind: q.kind,
      truth: q.truth,
      ids: Array.from(ex.inputIds),
      promptLength: ex.promptLength,
    });
  }
}

const t0 = performance.now();
const rng = new Rng(seed);
for (const scene of sceneSet('pretrain', nScenes, { setSeed: seed - 1 })) addScene('pretrain', scene, pretrainQuestions(scene, rng));
// Validation scenes for the script's own progress report: held-out seeds of set 1 (the benchmark
// evaluates set 0), half of them inviting a planted pair. Only the exact caption is stored.
for (const scene of sceneSet('heldout', nVal, { setSeed: 1, inviting: 0.5 }))
  addScene('val', scene, [{ type: 'describe', question: 'Describe the image.', answer: describeScene(scene) }]);

const bin = new Uint8Array(offset);
let o = 0;
for (const c of chunks) {
  bin.set(c, o);
  o += c.length;
}
writeFileSync(join(outDir, 'scenes.bin'), bin);
writeFileSync(
  join(outDir, 'scenes.json'),
  JSON.stringify({
    size: SCENE_SIZE,
    kinds: KINDS,
    imageTokenId: TINY.imageTokenId,
    eosTokenId: TINY.eosTokenId,
    seed,
    scenes: scenesJson,
    sequences,
  }),
);
console.log(
  `exported ${nScenes} pretraining + ${nVal} validation scenes, ${sequences.length} sequences, ${(offset / 1e6).toFixed(1)} MB of images, model-init (${model.length} files) to ${outDir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);
