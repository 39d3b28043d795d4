// Drives the app's own Worker through comlink, without the page's UI: load the built-in model
// from public/, import the sample data, noise an image on the Worker's OffscreenCanvas, encode
// a sample image with onnxruntime-web and generate an answer with the WGSL engine.
import * as Comlink from 'comlink';
import type { PovidWorkerApi } from '../../src/worker/api';

async function pixelsOf(blob: Blob): Promise<{ w: number; h: number; data: Uint8ClampedArray }> {
  const bmp = await createImageBitmap(blob);
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext('2d')!;
  g.drawImage(bmp, 0, 0);
  return { w: bmp.width, h: bmp.height, data: g.getImageData(0, 0, bmp.width, bmp.height).data };
}

async function run() {
  const worker = new Worker(new URL('../../src/worker/worker.ts', import.meta.url), { type: 'module' });
  const api = Comlink.wrap<PovidWorkerApi>(worker);
  const log: Record<string, unknown> = {};
  log.gpu = await api.gpuStatus();
  const phases: string[] = [];
  log.model = await api.loadModel(
    { kind: 'builtin' },
    Comlink.proxy((p: { phase: string }) => phases.push(p.phase)),
  );
  log.phases = [...new Set(phases)];
  const index = (await (await fetch('/samples/index.json')).json()) as { files: string[] };
  const files = await Promise.all(index.files.map(async (name) => ({ path: name, blob: await (await fetch(`/samples/${name}`)).blob() })));
  const view = await api.addFiles(files);
  log.records = view.records.length;
  log.problems = view.problems;
  const first = view.records[0];
  log.first = { id: first.id, rejected: first.rejected, edits: first.edits.length };

  // The Canvas noise stage in the Worker: same size, visibly different, more so for larger t.
  const clean = await pixelsOf(await api.image(first.id));
  const dist = async (t: number) => {
    const noisy = await pixelsOf(await api.noisyImage(first.id, t, 1));
    let d = 0;
    for (let i = 0; i < noisy.data.length; i += 4) for (let c = 0; c < 3; c++) d += Math.abs(noisy.data[i + c] - clean.data[i + c]);
    return { w: noisy.w, h: noisy.h, meanAbs: d / ((noisy.data.length / 4) * 3 * 255) };
  };
  log.noise = { clean: { w: clean.w, h: clean.h }, t100: await dist(100), t500: await dist(500), t999: await dist(999) };

  const streamed: string[] = [];
  const t0 = performance.now();
  log.answer = await api.generate(
    { recordId: first.id, question: first.question, lora: false, maxNewTokens: 4 },
    Comlink.proxy((s: string) => streamed.push(s)),
  );
  log.generateMs = performance.now() - t0;
  log.streamed = streamed.length;

  // Full tiles: the engine is rebuilt for the longer sequence, the 256 x 256 sample becomes
  // 4 x 4 tiles plus the global view (17 x 64 image rows), and generation still runs.
  log.tiles = await api.setImageDetail('tiles');
  const t1 = performance.now();
  log.tiledAnswer = await api.generate({ recordId: first.id, question: first.question, lora: false, maxNewTokens: 2 });
  log.tiledMs = performance.now() - t1;
  return log;
}

(window as unknown as { __result: Promise<unknown> }).__result = run().catch((e) => ({ error: String(e?.stack ?? e) }));
