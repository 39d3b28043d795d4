// `npm run -s eval [-- --train-scenes=N] [--heldout=N] [--lr=X] [--beta=X] [--sft-weight=X] [--steps=N] [--only=povid,dpo-text,dpo-noise | --only=none]
//                  [--pretrained=FILE] [--out=FILE]`
//
// The built-in hallucination benchmark in Node (WebGPU from npm `webgpu`; SwiftShader without a
// GPU): POVID from the pretrained built-in model on generated training scenes, with the benchmark's
// settings (src/eval/settings.ts: the app's defaults but for the learning rate, warm-up and steps)
// unless told otherwise, evaluated on held-out scenes never trained on:
// CHAIR_i, CHAIR_s, object recall, the planted-partner rate, POPE (F1, yes-ratio), attribute
// accuracy (colour, count), before and after, and the minutes of training. Plus the paper's
// ablation: DPO against the text-injected answers only, against the noise-triggered answers only
// (POVID's loss with wText = 0, wNoise = 1), and POVID. Prints ONE JSON document on stdout;
// progress goes to stderr.
import { readFile, writeFile } from 'node:fs/promises';
import { useSwiftShaderIfNoDriver } from '../bench/node';
import { benchmarkExamples, evaluateScenes, plantedChoices, type BenchmarkReport, type PlantedChoice } from '../src/eval/benchmark';
import { invitedPairs, PLANTED_PAIRS, sceneSet } from '../src/eval/scenes';
import { BENCHMARK_SETTINGS, benchmarkConfig } from '../src/eval/settings';
import { GpuContext } from '../src/gpu';
import { targetsOfProjections } from '../src/engine/checkpoint';
import { DEFAULT_TRAIN_CONFIG, type StepMetrics, type TrainConfig } from '../src/povid/config';
import type { TrainExample } from '../src/povid/prepare';
import { PovidTrainer } from '../src/povid/trainer';
import { loadBenchmarkSession, loadBuiltinModel, type BenchmarkSession } from './session';

const log = (line: string) => process.stderr.write(`[eval] ${line}\n`);
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const num = (name: string, def: number) => (opt(name) !== undefined ? Number(opt(name)) : def);

const TRAIN_SCENES = num('train-scenes', BENCHMARK_SETTINGS.trainScenes);
const HELDOUT_SCENES = num('heldout', BENCHMARK_SETTINGS.heldoutScenes);
// --only=none: the pretrained model alone (before), e.g. to judge a new --pretrained file.
const RUNS = (opt('only') ?? 'povid,dpo-text,dpo-noise').split(',').filter((r) => r !== 'none') as RunName[];
/** Weights from `pretrain.py` to evaluate instead of the committed ones. */
const PRETRAINED = opt('pretrained');
type RunName = 'povid' | 'dpo-text' | 'dpo-noise';

/** The app's defaults with the benchmark's run (src/eval/settings.ts); --lr, --steps, --beta, --sft-weight override (and are reported). */
const BASE: TrainConfig = {
  ...benchmarkConfig(DEFAULT_TRAIN_CONFIG, num('steps', BENCHMARK_SETTINGS.steps)),
  learningRate: num('lr', BENCHMARK_SETTINGS.learningRate),
  beta: num('beta', DEFAULT_TRAIN_CONFIG.beta),
  sftWeight: num('sft-weight', BENCHMARK_SETTINGS.sftWeight),
};

const RUN_CONFIG: Record<RunName, Partial<TrainConfig>> = {
  povid: { lossMode: 'povid' },
  'dpo-text': { lossMode: 'dpo-text' },
  'dpo-noise': { lossMode: 'povid', wText: 0, wNoise: 1 },
};

function summary(r: BenchmarkReport, choices: PlantedChoice[]) {
  return {
    chairI: r.chairI.value,
    chairS: r.chairS.value,
    recall: r.recall.value,
    plantedRate: r.planted.value,
    plantedInvited: r.planted.den,
    popeF1: r.pope.f1,
    popeAccuracy: r.pope.accuracy.value,
    popeYesRatio: r.pope.yesRatio.value,
    colourAccuracy: r.attributes.colour.value,
    countAccuracy: r.attributes.count.value,
    attributeAccuracy: r.attributes.overall.value,
    forcedChoice: {
      captionPrefersPartner: choices.filter((c) => c.captionMargin > 0).length / Math.max(1, choices.length),
      probeSaysYes: choices.filter((c) => c.probeMargin > 0).length / Math.max(1, choices.length),
      scenes: choices.length,
    },
    counts: {
      mentions: r.chairI.den,
      hallucinatedMentions: r.chairI.num,
      descriptions: r.chairS.den,
      probes: r.pope.counts,
      unanswered: r.pope.unanswered,
    },
    evalSeconds: r.seconds,
  };
}

const rel = (after: number | null, before: number | null) =>
  after !== null && before !== null && before > 0 ? (after - before) / before : null;

async function main() {
  useSwiftShaderIfNoDriver();
  const t0 = performance.now();
  const ctx = await GpuContext.create();
  const bundle = await loadBuiltinModel(PRETRAINED ? { pretrained: new Uint8Array(await readFile(PRETRAINED)) } : {});
  const lora = { r: BASE.loraRank, alpha: BASE.loraAlpha, seed: BASE.seed, targets: targetsOfProjections(BASE.loraTargets) };
  const open = () => loadBenchmarkSession(ctx, { lora, maxBatch: 4 }, bundle);
  let s: BenchmarkSession = await open();

  const train = sceneSet('train', TRAIN_SCENES, { inviting: 0.5 });
  const heldout = sceneSet('heldout', HELDOUT_SCENES, { inviting: 0.5 });
  log(`${train.length} training scenes, ${heldout.length} held-out scenes; building the preference records`);
  const data = await benchmarkExamples(s, train, { seed: BASE.seed });
  log(`${data.examples.length} records; ${data.plantedInRejected} text-injected answers name an absent planted partner`);

  const progress = (what: string) => (done: number, total: number) => {
    if (done % 8 === 0 || done === total) log(`${what}: ${done}/${total} scenes`);
  };
  const before = await evaluateScenes(s, heldout, { lora: false, onProgress: progress('before') });
  const beforeChoices = await plantedChoices(s, heldout, { lora: false });
  const beforeSummary = summary(before, beforeChoices);
  log(`before: ${JSON.stringify(beforeSummary)}`);

  const runs: Record<string, unknown> = {};
  for (const name of RUNS) {
    if (!(name in RUN_CONFIG)) throw new Error(`unknown run "${name}"; choose from ${Object.keys(RUN_CONFIG).join(', ')}`);
    s.destroy();
    s = await open(); // a fresh adapter (same seed) for every run
    const config: TrainConfig = { ...BASE, ...RUN_CONFIG[name] };
    const examples: TrainExample[] = data.examples.map((e) => ({ ...e, reference: undefined }));
    const trainer = new PovidTrainer({ engine: s.engine, encodeImage: s.encodeImage }, examples, [], config, `benchmark-${name}`);
    log(
      `${name}: training ${trainer.totalSteps} steps (lr ${config.learningRate}, loss ${config.lossMode}, wText ${config.wText}, wNoise ${config.wNoise}, SFT weight ${config.sftWeight})`,
    );
    const tt = performance.now();
    let last = { loss: 0, accuracy: 0 };
    // Means over every 20 steps: whether each DPO term is being learned, not one example's value;
    // and where a step's time goes (milliseconds per phase).
    type Ms = StepMetrics['ms'];
    const curve: { steps: string; loss: number; accuracy: number; marginText: number; marginNoise: number; ms: Ms }[] = [];
    const noMs = (): Ms => ({ reference: 0, noisy: 0, forward: 0, backward: 0, optimizer: 0 });
    let acc = { n: 0, loss: 0, accuracy: 0, marginText: 0, marginNoise: 0, ms: noMs() };
    await trainer.run({
      onStep: (m) => {
        last = { loss: m.loss, accuracy: m.accuracy };
        acc = {
          n: acc.n + 1,
          loss: acc.loss + m.loss,
          accuracy: acc.accuracy + m.accuracy,
          marginText: acc.marginText + m.marginText,
          marginNoise: acc.marginNoise + m.marginNoise,
          ms: acc.ms,
        };
        for (const k of Object.keys(acc.ms) as (keyof Ms)[]) acc.ms[k] += m.ms[k];
        if (m.step % 20 === 0 || m.step === m.totalSteps) {
          const { n } = acc;
          curve.push({
            steps: `${m.step - n + 1}-${m.step}`,
            loss: acc.loss / n,
            accuracy: acc.accuracy / n,
            marginText: acc.marginText / n,
            marginNoise: acc.marginNoise / n,
            ms: Object.fromEntries(Object.entries(acc.ms).map(([k, v]) => [k, Math.round(v / n)])) as Ms,
          });
          acc = { n: 0, loss: 0, accuracy: 0, marginText: 0, marginNoise: 0, ms: noMs() };
        }
        if (m.step % 20 === 0 || m.step === m.totalSteps)
          log(`${name}: step ${m.step}/${m.totalSteps} loss ${m.loss.toFixed(4)} accuracy ${m.accuracy.toFixed(2)}`);
      },
    });
    const minutes = (performance.now() - tt) / 60000;
    const after = await evaluateScenes(s, heldout, { lora: true, drafts: before, onProgress: progress(`${name} after`) });
    const afterSummary = summary(after, await plantedChoices(s, heldout, { lora: true }));
    runs[name] = {
      config: {
        lossMode: config.lossMode,
        wText: config.wText,
        wNoise: config.wNoise,
        sftWeight: config.sftWeight,
        learningRate: config.learningRate,
        steps: trainer.totalSteps,
      },
      trainingMinutes: minutes,
      finalStep: last,
      trainingCurve: curve,
      after: afterSummary,
      change: {
        chairIRelative: rel(afterSummary.chairI, beforeSummary.chairI),
        chairSRelative: rel(afterSummary.chairS, beforeSummary.chairS),
        popeF1: afterSummary.popeF1 !== null && beforeSummary.popeF1 !== null ? afterSummary.popeF1 - beforeSummary.popeF1 : null,
        attributePoints:
          afterSummary.attributeAccuracy !== null && beforeSummary.attributeAccuracy !== null
            ? 100 * (afterSummary.attributeAccuracy - beforeSummary.attributeAccuracy)
            : null,
      },
      samples: after.results.slice(0, 6).map((r) => ({ caption: r.caption, generated: r.generated, hallucinated: r.hallucinated })),
    };
    log(`${name}: ${JSON.stringify(runs[name])}`);
  }
  s.destroy();

  const povid = runs['povid'] as
    { change: { chairIRelative: number | null; popeF1: number | null; attributePoints: number | null } } | undefined;
  const report = {
    benchmark: {
      model: `built-in tiny model (pretrained on the benchmark scenes${PRETRAINED ? `; weights from ${PRETRAINED}` : ''})`,
      plantedPairs: PLANTED_PAIRS,
      trainScenes: train.length,
      heldoutScenes: heldout.length,
      heldoutInviting: heldout.filter((sc) => invitedPairs(sc).length > 0).length,
      records: data.examples.length,
      plantedInRejected: data.plantedInRejected,
      settings: {
        ...BASE,
        note: 'the app defaults (src/povid/config.ts) with the benchmark run of src/eval/settings.ts, unless given on the command line',
      },
      decoding: 'greedy, checked against the exact answer as a draft (src/eval/benchmark.ts greedyAnswers)',
    },
    before: {
      base: beforeSummary,
      samples: before.results.slice(0, 6).map((r) => ({ caption: r.caption, generated: r.generated, hallucinated: r.hallucinated })),
    },
    runs,
    targets: {
      // The pretrained model sees and hallucinates: recall >= 0.8, the absent partner named in >= 30% of invitations.
      recallAtLeast80Percent: beforeSummary.recall !== null ? beforeSummary.recall >= 0.8 : null,
      plantedAtLeast30Percent: beforeSummary.plantedRate !== null ? beforeSummary.plantedRate >= 0.3 : null,
      povid: povid
        ? {
            chairIDown40PercentRelative: povid.change.chairIRelative !== null ? povid.change.chairIRelative <= -0.4 : null,
            popeF1Up: povid.change.popeF1 !== null ? povid.change.popeF1 > 0 : null,
            attributeWithin2Points: povid.change.attributePoints !== null ? Math.abs(povid.change.attributePoints) <= 2 : null,
          }
        : null,
    },
    seconds: (performance.now() - t0) / 1000,
  };
  const json = JSON.stringify(report, null, 2);
  process.stdout.write(json + '\n');
  const out = opt('out');
  if (out) await writeFile(out, json + '\n');
  ctx.destroy();
}

try {
  await main();
  process.exit(0);
} catch (e) {
  process.stderr.write(`[eval] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
