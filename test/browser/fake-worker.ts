// UI FIXTURE, never shipped: a stand-in for src/worker/worker.ts that implements PovidWorkerApi
// with canned behaviour (no model, no training math), so the page can be developed and looked at
// without the GPU engine. Open /test/browser/fake-app.html on the dev server to use it.
import * as Comlink from 'comlink';
import { zipSync } from 'fflate';
import {
  DEFAULT_TRAIN_CONFIG,
  type DatasetView,
  type DropFile,
  type EvalMetrics,
  type GenerateRequest,
  type LoadProgress,
  type ModelChoice,
  type ModelSummary,
  type PovidWorkerApi,
  type Problem,
  type RecordView,
  type StepMetrics,
  type TrainConfig,
} from '../../src/worker/api';
import type { HallucinationMetrics, HallucinationReport } from '../../src/worker/hallucination-api';
import { planRecords, recordsReport } from '../../src/worker/hallucination-report';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rec extends RecordView {
  blob: Blob;
}

const records = new Map<string, Rec>();
const problems: Problem[] = [];
let modelLoaded = false;
let lastConfig: TrainConfig = DEFAULT_TRAIN_CONFIG;
let paused = false;
let cancelled = false;
let trainedSteps = 0;
let stopGeneration = false;

function view(): DatasetView {
  return { records: [...records.values()].map(({ blob: _b, ...r }) => r), problems: [...problems] };
}

async function isImage(blob: Blob): Promise<boolean> {
  try {
    (await createImageBitmap(blob)).close();
    return true;
  } catch {
    return false;
  }
}

function inject(text: string): { rejected: string; edits: RecordView['edits'] } {
  const swaps: [RegExp, string, string][] = [
    [/\bthree\b/, 'five', 'count'],
    [/\bred\b/, 'green', 'attribute'],
    [/\bblue\b/, 'orange', 'attribute'],
    [/\byellow\b/, 'purple', 'attribute'],
    [/\bsun\b/, 'moon', 'relation'],
    [/\btable\b/, 'table next to a knife', 'entity'],
  ];
  let rejected = text;
  const edits: RecordView['edits'] = [];
  for (const [re, to, kind] of swaps) {
    const m = re.exec(rejected);
    if (!m) continue;
    rejected = rejected.slice(0, m.index) + to + rejected.slice(m.index + m[0].length);
    const delta = to.length - m[0].length;
    for (const e of edits) if (e.start > m.index) ((e.start += delta), (e.end += delta));
    edits.push({ kind, start: m.index, end: m.index + to.length, from: m[0], to });
    if (edits.length >= 2) break;
  }
  return { rejected, edits };
}

async function noised(blob: Blob, t: number, seed: number): Promise<Blob> {
  const bmp = await createImageBitmap(blob);
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext('2d')!;
  g.drawImage(bmp, 0, 0);
  const img = g.getImageData(0, 0, c.width, c.height);
  let abar = 1;
  for (let s = 0; s <= t; s++) abar *= 1 - ((1 / (1 + Math.exp(-(-6 + (12 * s) / 999)))) * (5e-3 - 1e-5) + 1e-5);
  const a = Math.sqrt(abar);
  const b = Math.sqrt(1 - abar);
  let x = (seed * 2654435761) >>> 0 || 1;
  const rand = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 4294967296);
  for (let i = 0; i < img.data.length; i++) {
    if (i % 4 === 3) continue;
    const n = Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
    img.data[i] = Math.max(0, Math.min(255, (a * (img.data[i] / 255) + b * n) * 255));
  }
  g.putImageData(img, 0, 0);
  return c.convertToBlob({ type: 'image/png' });
}

function safetensors(tensors: { name: string; shape: number[] }[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  new Float32Array(out.buffer, 8 + json.length, off / 4).fill(0.01);
  return out;
}

/** Streams the words of a canned answer, one per "token"; stopGeneration ends it after the current one. */
async function streamWords(text: string, onToken?: (soFar: string) => void): Promise<string> {
  stopGeneration = false;
  let out = '';
  for (const w of text.split(' ')) {
    out += (out ? ' ' : '') + w;
    onToken?.(out);
    if (stopGeneration) break;
    await sleep(30);
  }
  return out;
}

const api: PovidWorkerApi = {
  async gpuStatus() {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return { ok: false, message: 'navigator.gpu.requestAdapter() returned null in the Worker.' };
    return {
      ok: true,
      adapter: { vendor: adapter.info.vendor, architecture: adapter.info.architecture, description: adapter.info.description },
      features: { f16: adapter.features.has('shader-f16'), subgroups: adapter.features.has('subgroups') },
    };
  },
  async loadModel(choice: ModelChoice, onProgress?: (p: LoadProgress) => void): Promise<ModelSummary> {
    if (choice.kind !== 'builtin') throw new Error(`The fake worker only knows the built-in model, not ${choice.kind}.`);
    for (let i = 0; i <= 4; i++) {
      onProgress?.({ phase: 'weights', file: 'model.safetensors', loaded: i * 250_000, total: 1_000_000 });
      await sleep(50);
    }
    onProgress?.({ phase: 'ready', loaded: 0, total: 0 });
    modelLoaded = true;
    return {
      name: 'tiny (fake)',
      architecture: 'Idefics3ForConditionalGeneration',
      layers: 2,
      hidden: 64,
      vocab: 49280,
      imageSeqLen: 64,
      parameters: 6_500_000,
      visionBackend: 'wasm',
      visionFile: 'onnx/vision_encoder.onnx',
      visionVariant: 'fp32',
      imageTokens: { single: 67, tilesMax: 1158, tilesMaxViews: 17 },
      gpuBytes: 26_000_000,
      baseModel: 'povid-webgpu/builtin-tiny',
    };
  },
  async setImageDetail(detail) {
    return { detail, maxSeq: detail === 'tiles' ? 1603 : 384 };
  },
  async addFiles(files: DropFile[]) {
    const images = new Map(
      files.filter((f) => /\.(png|jpe?g|webp|gif|bmp)$/i.test(f.path)).map((f) => [f.path.split('/').pop()!.toLowerCase(), f.blob]),
    );
    for (const f of files.filter((x) => /\.json$/i.test(x.path))) {
      try {
        JSON.parse(await f.blob.text());
      } catch (e) {
        problems.push({ file: f.path, reason: (e as Error).message });
      }
    }
    for (const f of files.filter((x) => /\.jsonl$/i.test(x.path))) {
      const lines = (await f.blob.text()).split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (!lines[i].trim()) continue;
        let o: { image?: string; question?: string; answer?: string };
        try {
          o = JSON.parse(lines[i]);
        } catch (e) {
          problems.push({ file: f.path, record: `line ${i + 1}`, reason: `line ${i + 1}: ${(e as Error).message}` });
          continue;
        }
        const blob = images.get(String(o.image).toLowerCase());
        if (!blob) {
          problems.push({ file: f.path, record: String(o.image), reason: `missing image: no file named "${o.image}" in the drop` });
          continue;
        }
        if (!(await isImage(blob))) {
          problems.push({ file: f.path, record: String(o.image), reason: `${o.image} is not a readable image` });
          continue;
        }
        const id = String(o.image).replace(/\.\w+$/, '');
        const inj = inject(String(o.answer));
        records.set(id, {
          id,
          image: String(o.image),
          question: String(o.question),
          chosen: String(o.answer),
          rejected: inj.rejected,
          rejectedSource: 'injected',
          edits: inj.edits,
          split: records.size % 8 === 7 ? 'heldout' : 'train',
          blob,
        });
      }
    }
    return view();
  },
  async updateRecord(id, patch) {
    const r = records.get(id);
    if (!r) throw new Error(`no record ${id}`);
    Object.assign(r, patch);
    if (patch.rejected !== undefined) ((r.rejectedSource = 'user'), (r.edits = []));
    const { blob: _b, ...v } = r;
    return v;
  },
  async recordsSlice(start: number, end: number) {
    return view().records.slice(start, end);
  },
  async datasetView(_split?: { seed: number; heldoutFraction: number }) {
    return view();
  },
  async removeRecord(id) {
    records.delete(id);
    return view();
  },
  async clearDataset() {
    records.clear();
    problems.length = 0;
  },
  async image(id) {
    const r = records.get(id);
    if (!r) throw new Error(`no record ${id}`);
    return r.blob;
  },
  async noisyImage(id, t, seed = 0) {
    return noised(await api.image(id), t, seed);
  },
  async noisyAnswer(id, t, _max, onToken) {
    return streamWords(`(fake) on the noisy ${records.get(id)?.image} at t=${t}: a cat on a sofa.`, onToken);
  },
  async train(config, onStep, onEval, _onStatus, onProgress) {
    if (!modelLoaded) throw new Error('Load a model first.');
    lastConfig = config;
    cancelled = false;
    paused = false;
    const total = config.steps || config.epochs * records.size;
    const ids = [...records.keys()];
    onProgress?.({ phase: 'reference', done: 0, total: ids.length, elapsedSeconds: 0, etaSeconds: null });
    await sleep(100);
    onProgress?.({ phase: 'reference', done: ids.length, total: ids.length, elapsedSeconds: 0.1, etaSeconds: 0 });
    for (let s = 1; s <= total; s++) {
      if (paused && !cancelled)
        onProgress?.({ phase: 'paused', done: s - 1, total, elapsedSeconds: 0, etaSeconds: (total - s + 1) * 0.15 });
      while (paused && !cancelled) await sleep(50);
      if (cancelled) return { steps: s - 1, stopped: 'cancelled' };
      onProgress?.({ phase: 'training', done: s - 1, total, elapsedSeconds: (s - 1) * 0.15, etaSeconds: (total - s + 1) * 0.15 });
      await sleep(150);
      const m: StepMetrics = {
        step: s,
        totalSteps: total,
        epoch: 1,
        loss: 0.693 * Math.exp(-s / 10),
        rewardChosen: 0.01 * s,
        rewardText: -0.01 * s,
        rewardNoise: -0.005 * s,
        marginText: 0.02 * s,
        marginNoise: 0.01 * s,
        accuracy: s % 3 ? 1 : 0,
        gradNorm: 0.5,
        learningRate: config.learningRate,
        tokensPerSecond: 123.4,
        etaSeconds: (total - s) * 0.15,
        exampleId: ids[s % ids.length],
        ms: { reference: 1, noisy: 2, forward: 3, backward: 4, optimizer: 1 },
      };
      onStep(m);
      trainedSteps = s;
      if (config.evalEvery && s % config.evalEvery === 0)
        onEval?.({
          step: s,
          loss: m.loss * 1.1,
          accuracy: 0.5,
          marginText: m.marginText / 2,
          marginNoise: m.marginNoise / 2,
        } satisfies EvalMetrics);
    }
    return { steps: total, stopped: 'done' };
  },
  async pause() {
    paused = true;
  },
  async resume() {
    paused = false;
  },
  async cancel() {
    cancelled = true;
  },
  async checkpointInfo() {
    return null;
  },
  async estimate(config) {
    const steps = config.steps || config.epochs * records.size;
    const probe = { encodeMs: 20, referenceMs: 30, noisyMs: 25, stepMs: 120 };
    return {
      steps,
      secondsPerStep: 0.15,
      prepareSeconds: records.size * 0.05,
      evalSeconds: 0,
      totalSeconds: steps * 0.15 + records.size * 0.05,
      imagesToEncode: records.size,
      referencesToCompute: records.size,
      evaluations: 0,
      upperBound: false,
      probe,
    };
  },
  async stopGeneration() {
    stopGeneration = true;
  },
  async scoreAnswers(req) {
    return req.answers.map((answer, i) => ({ answer, tokens: answer.split(' ').length + 1, base: -10 - i, lora: -9 - i }));
  },
  async generate(req: GenerateRequest, onToken) {
    return streamWords(
      `(fake, adapter ${req.lora ? 'on' : 'off'}${trainedSteps ? ` after ${trainedSteps} steps` : ''}) ${req.question}`,
      onToken,
    );
  },
  async exportAdapter() {
    const r = lastConfig.loraRank;
    const dims: Record<string, [number, number]> = {
      q_proj: [64, 64],
      k_proj: [64, 32],
      v_proj: [64, 32],
      o_proj: [64, 64],
      gate_proj: [64, 128],
      up_proj: [64, 128],
      down_proj: [128, 64],
    };
    const tensors: { name: string; shape: number[] }[] = [];
    for (let l = 0; l < 2; l++)
      for (const t of lastConfig.loraTargets) {
        const p = `base_model.model.model.text_model.layers.${l}.${t.endsWith('proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(t) ? 'mlp' : 'self_attn'}.${t}`;
        tensors.push({ name: `${p}.lora_A.weight`, shape: [r, dims[t][0]] }, { name: `${p}.lora_B.weight`, shape: [dims[t][1], r] });
      }
    const files = [
      {
        name: 'adapter_config.json',
        bytes: new TextEncoder().encode(
          JSON.stringify({ bias: 'none', lora_alpha: lastConfig.loraAlpha, peft_type: 'LORA', r, task_type: 'CAUSAL_LM' }, null, 2),
        ),
      },
      { name: 'adapter_model.safetensors', bytes: safetensors(tensors) },
    ];
    return { zip: zipSync(Object.fromEntries(files.map((f) => [f.name, f.bytes]))), files };
  },
  async loadAdapter() {},
  async exportDataset() {
    return zipSync({ 'povid.json': new TextEncoder().encode(JSON.stringify(view().records)) });
  },
  // Canned answers, scored by the real report code: adapter off adds a knife, adapter on does not.
  async evaluateHallucination(_opts, onProgress) {
    if (!modelLoaded) throw new Error('Load a model first.');
    const held = [...records.values()].filter((r) => r.split === 'heldout');
    const { plans, estimate } = planRecords(held);
    const answers = (lora: boolean) =>
      plans.map((p) => ({
        answer: lora ? p.chosen : `${p.chosen} There is a knife.`,
        probes: p.probes.map((q) => (q.present || !lora ? 'Yes.' : 'No.')),
      }));
    for (let i = 1; i <= plans.length; i++) {
      onProgress?.({ phase: 'before', done: i, total: plans.length });
      await sleep(50);
    }
    return recordsReport({
      model: 'tiny (fake)',
      total: held.length,
      plans,
      estimate,
      before: plans.length ? answers(false) : null,
      after: plans.length ? answers(true) : null,
      seconds: 0.1,
    });
  },
  async runBuiltinBenchmark(opts, onProgress, onModel) {
    onModel?.(await api.loadModel({ kind: 'builtin' }));
    for (const phase of ['before', 'train', 'after'] as const) {
      const total = phase === 'train' ? opts.steps : opts.heldoutScenes;
      for (let i = 1; i <= total; i++) {
        onProgress?.({ phase, done: i, total });
        await sleep(20);
      }
    }
    const n = opts.heldoutScenes;
    const side = (bad: number): HallucinationMetrics => ({
      chairI: { value: bad / (2 * n), num: bad, den: 2 * n },
      chairS: { value: bad / n, num: bad, den: n },
      recall: { value: 0.9, num: 9, den: 10 },
      popeAccuracy: { value: 1 - bad / (2 * n), num: 2 * n - bad, den: 2 * n },
      popeF1: 0.8,
      yesRatio: { value: 0.5, num: n, den: 2 * n },
      planted: { value: bad / n, num: bad, den: n },
      attributes: { value: 0.75, num: 3, den: 4 },
    });
    const report: HallucinationReport = {
      source: 'benchmark',
      estimate: false,
      model: 'tiny (fake)',
      total: n,
      used: n,
      excluded: { noKnownObject: [] },
      message: null,
      before: side(Math.ceil(n / 2)),
      after: side(Math.floor(n / 4)),
      samples: [
        {
          id: 'scene 1',
          question: 'Describe the image.',
          truth: ['sun'],
          reference: 'A yellow sun.',
          before: { text: 'A yellow sun and a red boat.', hallucinated: [{ name: 'boat', start: 22, end: 26 }] },
          after: { text: 'A yellow sun.', hallucinated: [] },
        },
      ],
      training: {
        steps: opts.steps,
        records: 2 * opts.trainScenes,
        learningRate: opts.config.learningRate,
        lossMode: opts.config.lossMode,
        sftWeight: opts.config.sftWeight,
        seconds: 1,
        lastLoss: 0.6,
      },
      seconds: 2,
    };
    return report;
  },
  async cancelEvaluation() {},
  // The fake keeps nothing between page loads and lists no runs.
  async restoreSession() {
    return { dataset: view(), runs: [], dropped: [], storage: await api.storageStatus(), restored: false };
  },
  async storageStatus() {
    return {
      complete: true,
      saved: { records: 0, images: 0, features: 0, references: 0, runs: 0, adapters: 0 },
      total: { records: records.size, images: records.size, runs: 0 },
      notSaved: [],
    };
  },
  async workCounters() {
    return { referencePasses: 0, referencesReused: 0, featureEncodings: 0, featuresReused: 0 };
  },
  async startOver() {
    records.clear();
    problems.length = 0;
  },
  async listRuns() {
    return [];
  },
  async runMetrics() {
    return { history: [], evals: [] };
  },
  async runAdapter(id) {
    throw new Error(`the fake worker keeps no runs (asked for ${id})`);
  },
  async deleteRun() {
    return [];
  },
  async useRun(id) {
    throw new Error(`the fake worker keeps no runs (asked for ${id})`);
  },
  async resumeRun(id) {
    throw new Error(`the fake worker keeps no runs (asked for ${id})`);
  },
};

Comlink.expose(api);
