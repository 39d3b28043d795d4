// The built-in model in the app's Worker in headless Chromium: load from public/, import the
// sample data, the Canvas noise stage, vision encoding with onnxruntime-web, KV-cache generation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';

describe.skipIf(!hasChromium)('the Worker with the built-in model (headless Chromium)', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('loads the model, noises an image in the Worker and generates an answer, one view and tiled', async () => {
    await s.page.goto(`${s.origin}/test/browser/worker-api.html`);
    const r = (await s.page.evaluate(() => (window as unknown as { __result: Promise<unknown> }).__result)) as Record<string, any>;
    console.log(JSON.stringify(r, null, 1));
    expect(r.error, `${r.error}\n${s.console.join('\n')}`).toBeUndefined();
    expect(r.gpu.ok).toBe(true);
    expect(r.model).toMatchObject({ architecture: 'Idefics3ForConditionalGeneration', imageSeqLen: 64 });
    expect(r.phases).toContain('ready');
    expect(r.records).toBeGreaterThanOrEqual(6);
    expect(r.problems).toEqual([]);
    expect(r.first.edits).toBeGreaterThan(0);
    expect(r.noise.t100).toMatchObject({ w: r.noise.clean.w, h: r.noise.clean.h });
    expect(r.noise.t100.meanAbs).toBeGreaterThan(0.005);
    expect(r.noise.t500.meanAbs).toBeGreaterThan(r.noise.t100.meanAbs);
    expect(r.noise.t999.meanAbs).toBeGreaterThan(r.noise.t500.meanAbs);
    expect(typeof r.answer).toBe('string');
    expect(r.streamed).toBeGreaterThan(0);
    // The vision export that runs is named; image token counts come from the model's processor.
    expect(r.model.visionFile).toMatch(/^onnx\/vision_encoder(_fp16)?\.onnx$/);
    // WebGPU runs on SwiftShader here: the encoder goes to wasm, where it is ~100x faster.
    expect(`${r.gpu.adapter.vendor} ${r.gpu.adapter.architecture} ${r.gpu.adapter.description}`).toMatch(/swiftshader/i);
    expect(r.model.visionBackend).toBe('wasm');
    expect(r.model.imageTokens).toMatchObject({ single: 67, tilesMaxViews: 17 });
    expect(r.tiles.detail).toBe('tiles');
    expect(r.tiles.maxSeq).toBeGreaterThan(r.model.imageTokens.tilesMax);
    expect(typeof r.tiledAnswer).toBe('string');
    expect(externalRequests(s.requests, s.origin)).toEqual([]);
  }, 600_000);
});
