// The built-in hallucination benchmark on the engine: the scenes' pictures through the vision
// encoder, greedy answers from the decoder (adapter off or on), and the metrics of metrics.ts;
// plus the POVID preference records made from training scenes. It runs wherever the engine runs
// (the app's Worker, Node in tests and `npm run eval`); nothing here touches the page.
import type { Engine } from '../engine';
import { toPixelValues } from '../model/image';
import { injectHallucination } from '../povid/inject';
import { toSequence, type TrainExample } from '../povid/prepare';
import type { ImageGrid } from '../model/chat';
import type { ChatTokenizer } from '../model/tokenizer';
import {
  attributeAccuracy,
  chair,
  plantedRate,
  pope,
  type AttributeResult,
  type ChairResult,
  type PopeResult,
  type Ratio,
} from './metrics';
import {
  colourQuestion,
  countQuestion,
  captionOf,
  coloursOf,
  DESCRIBE_QUESTION,
  describeQuestion,
  existsQuestion,
  invitedPairs,
  KINDS,
  renderScene,
  SCENE_SIZE,
  sceneEntries,
  type Kind,
  type Scene,
  type SceneQuestion,
} from './scenes';
import { Rng } from '../util/rng';

export interface BenchmarkDeps {
  engine: Engine;
  tokenizer: ChatTokenizer;
  /** Image features [imageSeqLen, hidden] of pixel values [3, S, S] in [-1, 1]. */
  encodeImage: (pixels: Float32Array) => Promise<Float32Array>;
  imageSeqLen: number;
  /** The vision encoder's input size (512 for SmolVLM and the built-in model). */
  imageSize?: number;
}

/** Pixel values of a scene as the vision encoder takes them: [3, S, S] in [-1, 1]. */
export function scenePixels(scene: Scene, size = SCENE_SIZE): Float32Array {
  return toPixelValues(renderScene(scene), SCENE_SIZE, SCENE_SIZE, size);
}

/** The questions a held-out scene is evaluated on. */
export interface EvalQuestions {
  describe: SceneQuestion;
  /** POPE probes: one present kind; the invited partner, or else a random absent kind. */
  probes: SceneQuestion[];
  attributes: SceneQuestion[];
}

/** Deterministic per scene: the same questions before and after training. */
export function evalQuestions(scene: Scene): EvalQuestions {
  const rng = new Rng(scene.seed ^ 0x5eed);
  const entries = sceneEntries(scene);
  const present = entries.map((e) => e.kind);
  const invited = invitedPairs(scene).map((p) => p.partner);
  const absent = KINDS.filter((k) => !present.includes(k));
  const absentKind: Kind = invited.length > 0 ? rng.pick(invited) : rng.pick(absent);
  const attrKind = rng.pick(present);
  return {
    describe: describeQuestion(scene),
    probes: [existsQuestion(scene, rng.pick(present)), existsQuestion(scene, absentKind)],
    attributes: [colourQuestion(scene, attrKind), countQuestion(scene, rng.pick(present))],
  };
}

export interface SceneResult {
  seed: number;
  truth: Kind[];
  caption: string;
  generated: string;
  hallucinated: string[];
  probes: { question: string; truth: boolean; answer: string }[];
  attributes: { question: string; truth: string | number; answer: string }[];
}

export interface BenchmarkReport {
  scenes: number;
  chairI: Ratio;
  chairS: Ratio;
  recall: Ratio;
  /** Planted partner named in descriptions of scenes that show its anchor but not it. */
  planted: Ratio;
  pope: PopeResult;
  attributes: AttributeResult;
  results: SceneResult[];
  seconds: number;
}

export interface EvaluateOptions {
  /** Apply the LoRA adapter (default false: the base model). */
  lora?: boolean;
  /** Only the descriptions (CHAIR, recall, planted rate); no probes or attribute questions. */
  describeOnly?: boolean;
  maxNewTokens?: number;
  /**
   * A report on the same scenes (e.g. before training) whose answers serve as the drafts of
   * greedy decoding (see greedyAnswers): the same text comes out, and where the model still says
   * what it said, without decoding. Default: the exact answers.
   */
  drafts?: BenchmarkReport;
  onProgress?: (done: number, total: number) => void;
}

/** Greedy answer to one question about an image, decoded token by token (KV cache). */
export async function answer(
  deps: BenchmarkDeps,
  features: Float32Array,
  question: string,
  opts: { lora: boolean; maxNewTokens: number },
): Promise<string> {
  const { tokenizer, engine } = deps;
  const tokens = tokenizer.encode(tokenizer.renderPrompt(question, { imageSeqLen: deps.imageSeqLen, withImage: true }));
  const res = await engine.generate(
    { tokens, image: { features, positions: imagePositions(tokens, tokenizer.imageTokenId) } },
    { maxNewTokens: opts.maxNewTokens, lora: opts.lora, stopTokens: [tokenizer.eosId] },
  );
  return textOf(deps, res.tokens);
}

function imagePositions(tokens: readonly number[], imageTokenId: number): number[] {
  const out: number[] = [];
  tokens.forEach((t, i) => t === imageTokenId && out.push(i));
  return out;
}

function textOf(deps: BenchmarkDeps, ids: readonly number[]): string {
  return deps.tokenizer
    .decode(
      ids.filter((t) => t !== deps.tokenizer.eosId),
      true,
    )
    .trim();
}

export interface GreedyRequest {
  features: Float32Array;
  question: string;
  /** A guess of the answer (e.g. the true one): it costs nothing where the model agrees with it. */
  draft: string;
  /** The tile grid of a tiled image (features of every view); a single view without it. */
  grid?: ImageGrid;
}

/**
 * Greedy answers, checked against drafts: one teacher-forced pass over prompt + draft gives the
 * model's argmax after every draft prefix, which is what greedy decoding picks as long as it has
 * followed the draft; from the first token where the model leaves the draft, KV-cache decoding
 * continues, for all the rows of a batch that left their drafts at once. The same text as decoding from scratch (both take the argmax of the same logits;
 * only a near-tie could fall differently between the batched and the one-row kernels), at the
 * cost of one batched forward where the model says what the draft says.
 */
export async function greedyAnswers(
  deps: BenchmarkDeps,
  reqs: readonly GreedyRequest[],
  opts: { lora: boolean; maxNewTokens: number },
): Promise<string[]> {
  const { tokenizer, engine } = deps;
  const per = Math.max(1, engine.limits.maxBatch);
  const out: string[] = [];
  for (let i = 0; i < reqs.length; i += per) {
    const part = reqs.slice(i, i + per);
    const exs = part.map((r) => tokenizer.buildExample(r.question, r.draft, deps.imageSeqLen, r.grid));
    const fw = await engine.forward(
      exs.map((ex, k) => ({
        tokens: ex.inputIds,
        targets: ex.targets.map((t, j) => (ex.answerMask[j] ? t : -1)),
        image: { features: part[k].features, positions: ex.imagePositions },
      })),
      { lora: opts.lora },
    );
    // The model's answer up to where it first leaves the draft; the rows that left it before the
    // end go on together in one batched KV-cache decoding.
    const ids: number[][] = [];
    const open: number[] = [];
    for (const [k, ex] of exs.entries()) {
      const draft = Array.from(ex.inputIds.subarray(ex.promptLength)); // answer tokens + <end_of_utterance>
      const best = fw.argmax[k];
      const mine: number[] = [];
      let diverged = false;
      for (let j = 0; j < draft.length && mine.length < opts.maxNewTokens; j++) {
        mine.push(best[j]);
        if (best[j] !== draft[j]) {
          diverged = true;
          break;
        }
      }
      ids.push(mine);
      if (diverged && mine[mine.length - 1] !== tokenizer.eosId && mine.length < opts.maxNewTokens) open.push(k);
    }
    if (open.length > 0) {
      // Every row decodes as long as the longest needs; each keeps at most its own budget.
      const budget = Math.max(...open.map((k) => opts.maxNewTokens - ids[k].length));
      const res = await engine.generateBatch(
        open.map((k) => ({
          tokens: [...Array.from(exs[k].inputIds.subarray(0, exs[k].promptLength)), ...ids[k]],
          image: { features: part[k].features, positions: exs[k].imagePositions },
        })),
        { maxNewTokens: budget, lora: opts.lora, stopTokens: [tokenizer.eosId] },
      );
      open.forEach((k, r) => ids[k].push(...res[r].tokens.slice(0, opts.maxNewTokens - ids[k].length)));
    }
    for (const mine of ids) out.push(textOf(deps, mine));
  }
  return out;
}

/** Generates the answers for `scenes` and scores them. */
export async function evaluateScenes(deps: BenchmarkDeps, scenes: readonly Scene[], opts: EvaluateOptions = {}): Promise<BenchmarkReport> {
  const t0 = performance.now();
  const lora = opts.lora ?? false;
  const maxNewTokens = opts.maxNewTokens ?? 40;
  const results: SceneResult[] = [];
  if (opts.drafts && opts.drafts.results.length !== scenes.length)
    throw new RangeError(`evaluateScenes: drafts cover ${opts.drafts.results.length} scenes, ${scenes.length} were given`);
  const asked = scenes.map((scene) => {
    const q = evalQuestions(scene);
    return { q, list: [q.describe, ...(opts.describeOnly ? [] : [...q.probes, ...q.attributes])] };
  });
  const draftsOf = (i: number): string[] => {
    const d = opts.drafts?.results[i];
    const list = asked[i].list;
    if (!d) return list.map((x) => x.answer);
    return [d.generated, ...d.probes.map((p) => p.answer), ...d.attributes.map((a) => a.answer)].slice(0, list.length);
  };
  // As many scenes per greedyAnswers call as fill the engine's batch with their questions.
  const perScene = asked[0]?.list.length ?? 1;
  const per = Math.max(1, Math.floor(deps.engine.limits.maxBatch / perScene));
  for (let i0 = 0; i0 < scenes.length; i0 += per) {
    const chunk = scenes.slice(i0, i0 + per);
    const reqs: GreedyRequest[] = [];
    for (const [k, scene] of chunk.entries()) {
      const features = await deps.encodeImage(scenePixels(scene, deps.imageSize));
      const drafts = draftsOf(i0 + k);
      asked[i0 + k].list.forEach((x, j) => reqs.push({ features, question: x.question, draft: drafts[j] ?? x.answer }));
    }
    const answers = await greedyAnswers(deps, reqs, { lora, maxNewTokens });
    let at = 0;
    for (const [k, scene] of chunk.entries()) {
      const { q, list } = asked[i0 + k];
      const mine = answers.slice(at, at + list.length);
      at += list.length;
      results.push({
        seed: scene.seed,
        truth: sceneEntries(scene).map((e) => e.kind),
        caption: q.describe.answer,
        generated: mine[0],
        hallucinated: [],
        probes: opts.describeOnly ? [] : q.probes.map((p, j) => ({ question: p.question, truth: p.truth as boolean, answer: mine[1 + j] })),
        attributes: opts.describeOnly
          ? []
          : q.attributes.map((a, j) => ({
              question: a.question,
              truth: a.truth as string | number,
              answer: mine[1 + q.probes.length + j],
            })),
      });
      opts.onProgress?.(i0 + k + 1, scenes.length);
    }
  }
  const c: ChairResult = chair(results.map((r) => ({ text: r.generated, truth: r.truth })));
  c.records.forEach((rec, i) => (results[i].hallucinated = rec.hallucinated));
  return {
    scenes: scenes.length,
    chairI: c.chairI,
    chairS: c.chairS,
    recall: c.recall,
    planted: plantedRate(results.map((r) => ({ text: r.generated, truth: r.truth }))),
    pope: pope(results.flatMap((r) => r.probes.map((p) => ({ object: p.question, present: p.truth, answer: p.answer })))),
    attributes: attributeAccuracy(
      results.flatMap((r) =>
        r.attributes.map((a) =>
          typeof a.truth === 'number'
            ? { type: 'count' as const, truth: a.truth, answer: a.answer }
            : { type: 'colour' as const, truth: a.truth, answer: a.answer },
        ),
      ),
    ),
    results,
    seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The POVID preference records of a training scene: its exact description, object probes of
 * absent kinds (the invited partner first) and one probe of a present kind. The present probe
 * keeps the preference data balanced: with absent probes alone, DPO learns to answer "No." to
 * every probe (its rejected answer is always "Yes."), and POPE recall collapses.
 */
export function trainingQuestions(scene: Scene, rng: Rng, probes = 1): SceneQuestion[] {
  const present = sceneEntries(scene).map((e) => e.kind);
  const invited = invitedPairs(scene).map((p) => p.partner);
  const absent = KINDS.filter((k) => !present.includes(k));
  const out: SceneQuestion[] = [describeQuestion(scene)];
  for (let i = 0; i < probes; i++) out.push(existsQuestion(scene, invited.length > 0 && i === 0 ? invited[0] : rng.pick(absent)));
  out.push(existsQuestion(scene, rng.pick(present)));
  return out;
}

export interface BenchmarkExamples {
  examples: TrainExample[];
  /** The text-injected dispreferred answers, and how many name a planted partner that is absent. */
  rejected: { id: string; question: string; chosen: string; rejected: string }[];
  plantedInRejected: number;
}

/**
 * POVID training examples from training scenes: the exact answers as y_w, the local injector's
 * rewrite as y_t (seeded per record), the clean picture for the noise stage.
 */
export async function benchmarkExamples(
  deps: BenchmarkDeps,
  scenes: readonly Scene[],
  opts: { seed: number; probes?: number },
): Promise<BenchmarkExamples> {
  const rng = new Rng(opts.seed);
  const examples: TrainExample[] = [];
  const rejected: BenchmarkExamples['rejected'] = [];
  let plantedInRejected = 0;
  for (const scene of scenes) {
    const pixels = scenePixels(scene, deps.imageSize);
    const features = await deps.encodeImage(pixels);
    const invited = invitedPairs(scene).map((p) => p.partner as string);
    for (const [k, q] of trainingQuestions(scene, rng, opts.probes).entries()) {
      const id = `scene-${scene.seed}-${k}`;
      const yt = injectHallucination(q.answer, { seed: (opts.seed * 7919 + scene.seed * 31 + k) >>> 0, question: q.question }).text;
      if (q.type === 'describe' && invited.some((p) => findPlanted(yt, p))) plantedInRejected++;
      if (q.type === 'exists' && q.truth === false && invited.includes(q.kind!) && /^yes/i.test(yt)) plantedInRejected++;
      const chosen = toSequence(deps.tokenizer.buildExample(q.question, q.answer, deps.imageSeqLen), features);
      const rej = toSequence(deps.tokenizer.buildExample(q.question, yt, deps.imageSeqLen), features);
      examples.push({ id, chosen, rejected: rej, pixels });
      rejected.push({ id, question: q.question, chosen: q.answer, rejected: yt });
    }
  }
  return { examples, rejected, plantedInRejected };
}

function findPlanted(text: string, partner: string): boolean {
  return new RegExp(`\\b${partner}s?\\b`, 'i').test(text);
}

export interface PlantedChoice {
  seed: number;
  partner: Kind;
  /** log p(caption naming the absent partner) - log p(exact caption). */
  captionMargin: number;
  /** log p("Yes.") - log p("No.") to "Is there a <partner> in the image?". */
  probeMargin: number;
}

/**
 * Forced choice on scenes that invite a planted pair: does the model give the caption that
 * names the absent partner (as the biased pretraining captions do) more probability than the
 * exact one, and "Yes." more than "No." when asked about the partner? Teacher-forced scoring:
 * one batched forward per scene, no decoding.
 */
export async function plantedChoices(deps: BenchmarkDeps, scenes: readonly Scene[], opts: { lora: boolean }): Promise<PlantedChoice[]> {
  const out: PlantedChoice[] = [];
  for (const scene of scenes) {
    const pair = invitedPairs(scene)[0];
    if (!pair) continue;
    const features = await deps.encodeImage(scenePixels(scene, deps.imageSize));
    const entries = sceneEntries(scene);
    const rng = new Rng(scene.seed ^ 0xc0ffee);
    const withPartner = [...entries, { kind: pair.partner, colour: rng.pick(coloursOf(pair.partner)), count: 1 }].sort(
      (a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind),
    );
    const probe = existsQuestion(scene, pair.partner).question;
    const texts: [string, string][] = [
      [DESCRIBE_QUESTION, captionOf(withPartner)],
      [DESCRIBE_QUESTION, captionOf(entries)],
      [probe, 'Yes.'],
      [probe, 'No.'],
    ];
    const seqs = texts.map(([q, a]) => toSequence(deps.tokenizer.buildExample(q, a, deps.imageSeqLen), features));
    const sums: number[] = [];
    const per = Math.max(1, deps.engine.limits.maxBatch);
    for (let i = 0; i < seqs.length; i += per)
      sums.push(...(await deps.engine.forward(seqs.slice(i, i + per), { lora: opts.lora })).logprobSums);
    out.push({ seed: scene.seed, partner: pair.partner, captionMargin: sums[0] - sums[1], probeMargin: sums[2] - sums[3] });
  }
  return out;
}
