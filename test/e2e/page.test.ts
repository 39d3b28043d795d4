// The demo page end to end in headless Chromium (WebGPU on SwiftShader): built-in model, sample
// data through a synthetic drag-and-drop, the noise slider, three training steps with live
// charts, the compare view, and the adapter download checked tensor by tensor. Nothing may
// leave localhost. Screenshots of each stage go to test-output/screenshots/.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';
import { DTYPE_BYTES, dropFiles, noiseDistance, PAGE_PATH, parseSafetensors, rowSelector, sampleData, screenshot, tid } from './ui-helpers';

const TINY_CONFIG = 'public/models/tiny/config.json';
const DOWNLOADS = 'test-output/downloads';
const RANK = 4;
const ALPHA = 8;
const STEPS = 3;
const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** [in_features, out_features] of each LoRA target in the tiny model's decoder. */
function targetDims(): { layers: number; dims: Record<string, [number, number]> } {
  const cfg = JSON.parse(readFileSync(TINY_CONFIG, 'utf8')) as { text_config: Record<string, number> };
  const t = cfg.text_config;
  const hidden = t.hidden_size;
  const headDim = t.head_dim ?? hidden / t.num_attention_heads;
  const q = t.num_attention_heads * headDim;
  const kv = t.num_key_value_heads * headDim;
  const ff = t.intermediate_size;
  return {
    layers: t.num_hidden_layers,
    dims: {
      q_proj: [hidden, q],
      k_proj: [hidden, kv],
      v_proj: [hidden, kv],
      o_proj: [q, hidden],
      gate_proj: [hidden, ff],
      up_proj: [hidden, ff],
      down_proj: [ff, hidden],
    },
  };
}

describe.skipIf(!hasChromium)('demo page: model, data, noise, training, compare, download', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    mkdirSync(DOWNLOADS, { recursive: true });
    s = await openBrowser({ downloadsPath: DOWNLOADS });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('explains what to do when the browser has no WebGPU', async () => {
    const page = await s.context.newPage();
    try {
      await page.addInitScript(() => {
        delete (Navigator.prototype as { gpu?: unknown }).gpu;
      });
      await page.goto(`${s.origin}${PAGE_PATH}`);
      const gpu = page.locator(tid('gpu-status'));
      await expect.poll(() => gpu.getAttribute('data-state'), { timeout: 60_000 }).toBe('missing');
      expect(await page.locator(tid('gpu-message')).textContent()).toMatch(/WebGPU/);
      expect(await gpu.textContent()).toMatch(/What to do/);
      expect(await page.locator(tid('train-start')).isDisabled()).toBe(true);
      expect(await page.locator(tid('train-start')).getAttribute('title')).toMatch(/WebGPU/);
      await screenshot(page, 'page-00-no-webgpu');
    } finally {
      await page.close();
    }
  });

  it('runs the whole flow on the built-in model without leaving localhost', { timeout: 600_000 }, async () => {
    expect(existsSync(TINY_CONFIG), 'run "npm run fixture" first: the built-in model is missing').toBe(true);
    const { page } = s;
    const logs = () => s.console.join('\n');
    await page.goto(`${s.origin}${PAGE_PATH}`);

    // 1. WebGPU check.
    const gpu = page.locator(tid('gpu-status'));
    await expect.poll(() => gpu.getAttribute('data-state'), { timeout: 60_000 }).not.toBe('checking');
    expect(await gpu.getAttribute('data-state'), `${await gpu.textContent()}\n${logs()}`).toBe('ok');
    await screenshot(page, 'page-01-start');

    // 2. Built-in model (the default choice).
    expect(await page.locator(tid('model-builtin')).isChecked()).toBe(true);
    await page.click(tid('model-load'));
    const picker = page.locator(tid('model-picker'));
    await expect.poll(() => picker.getAttribute('data-state'), { timeout: 180_000 }).toMatch(/ready|error/);
    expect(
      await picker.getAttribute('data-state'),
      `model did not load: ${await page.locator(tid('toasts')).textContent()}\n${logs()}`,
    ).toBe('ready');
    const summary = page.locator(tid('model-summary'));
    expect(await summary.isVisible()).toBe(true);
    const { layers, dims } = targetDims();
    expect(await summary.textContent()).toContain(`${layers} layers`);
    await screenshot(page, 'page-02-model');

    // 3. Sample data through a synthetic drag-and-drop.
    const { files, qa } = sampleData();
    await dropFiles(page, tid('drop-zone'), files);
    const rows = page.locator(tid('record-row'));
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(qa.length);
    expect(await page.locator(tid('problem')).count(), (await page.locator(tid('problems')).textContent()) ?? '').toBe(0);
    const questions = await page.locator(tid('rec-question')).allTextContents();
    expect(questions.sort()).toEqual(qa.map((q) => q.question).sort());
    const chosen = (await page.locator(tid('rec-chosen')).allTextContents()).join('\n');
    for (const q of qa) expect(chosen).toContain(q.answer);
    // Every row shows a dispreferred answer that differs from the preferred one.
    for (let i = 0; i < qa.length; i++) {
      const row = rows.nth(i);
      const rejected = (await row.locator(tid('rec-rejected')).textContent())?.trim() ?? '';
      const preferred = (await row.locator(tid('rec-chosen')).textContent()) ?? '';
      expect(rejected.length).toBeGreaterThan(0);
      expect(preferred).not.toContain(rejected);
    }
    expect(await page.locator(tid('edit-mark')).count()).toBeGreaterThan(0);

    // 4. Noise slider on the first row: t = 0 is almost the clean image, more t is further away.
    const first = rows.first();
    const firstSel = rowSelector((await first.getAttribute('data-id')) ?? '');
    const noisy = first.locator(tid('noisy-image'));
    await first.scrollIntoViewIfNeeded(); // images load when their row comes into view
    await expect
      .poll(() => first.locator(tid('thumb')).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { timeout: 30_000 })
      .toBeGreaterThan(0);
    await expect.poll(() => noisy.getAttribute('data-t'), { timeout: 30_000 }).toBe('500');
    const srcAt500 = await noisy.getAttribute('src');
    const d500 = await noiseDistance(page, firstSel);
    await screenshot(page, 'page-03-dataset');
    const slider = first.locator(tid('noise-slider'));
    await slider.fill('0');
    await expect.poll(() => noisy.getAttribute('data-t'), { timeout: 30_000 }).toBe('0');
    const d0 = await noiseDistance(page, firstSel);
    await slider.fill('900');
    await expect.poll(() => noisy.getAttribute('data-t'), { timeout: 30_000 }).toBe('900');
    expect(await noisy.getAttribute('src')).not.toBe(srcAt500);
    const d900 = await noiseDistance(page, firstSel);
    expect(d0).toBeLessThan(0.03);
    expect(d500).toBeGreaterThan(d0 + 0.05);
    expect(d900).toBeGreaterThan(d500);
    await screenshot(page, 'page-04-noise-900');

    // 5. Settings: a small adapter and three steps.
    await page.fill(tid('setting-loraRank'), String(RANK));
    await page.fill(tid('setting-loraAlpha'), String(ALPHA));
    await page.fill(tid('setting-steps'), String(STEPS));
    for (const t of TARGETS) expect(await page.locator(tid(`setting-target-${t}`)).isChecked()).toBe(true);
    expect(await page.locator(tid('settings-errors')).isHidden()).toBe(true);

    // 6. Train and watch the charts fill.
    const dashboard = page.locator(tid('dashboard'));
    await page.click(tid('train-start'));
    await expect.poll(() => dashboard.getAttribute('data-state'), { timeout: 10_000 }).not.toBe('idle');
    await expect.poll(() => dashboard.getAttribute('data-state'), { timeout: 480_000, interval: 1000 }).toMatch(/done|error|cancelled/);
    expect(await dashboard.getAttribute('data-state'), `${await page.locator(tid('toasts')).textContent()}\n${logs()}`).toBe('done');
    for (const chart of ['chart-loss', 'chart-margins', 'chart-accuracy'])
      expect(await page.locator(tid(chart)).getAttribute('data-points')).toBe(String(STEPS));
    const lastLoss = Number(await page.locator(tid('chart-loss')).getAttribute('data-last'));
    expect(Number.isFinite(lastLoss) && lastLoss > 0).toBe(true);
    expect(await page.locator(tid('train-progress-text')).textContent()).toContain(`Step ${STEPS} of ${STEPS}`);
    expect(await page.locator(`${tid('chart-loss')} canvas`).count()).toBeGreaterThan(0);
    await screenshot(page, 'page-05-trained');

    // 7. Compare: base and adapter answers, both streamed to completion.
    // Few tokens: generation on SwiftShader takes seconds per token.
    await page.fill(tid('compare-max-tokens'), '3');
    await page.click(tid('compare-run'));
    await expect.poll(() => page.locator(tid('compare')).getAttribute('data-state'), { timeout: 120_000 }).toMatch(/done|error/);
    expect(
      await page.locator(tid('compare')).getAttribute('data-state'),
      `${await page.locator(tid('toasts')).textContent()}\n${logs()}`,
    ).toBe('done');
    expect(await page.locator(tid('answer-base')).getAttribute('data-state')).toBe('done');
    expect(await page.locator(tid('answer-lora')).getAttribute('data-state')).toBe('done');
    await screenshot(page, 'page-06-compare');

    // 8. Download the adapter as a zip and as two files; the page says where it can be loaded.
    expect(await page.textContent(tid('adapter-base-model'))).toMatch(
      /^Trained on the built-in tiny model .*povid-webgpu\/builtin-tiny.*public\/models\/tiny/,
    );
    const download = async (id: string) => {
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click(tid(id))]);
      const path = await dl.path();
      return { name: dl.suggestedFilename(), bytes: new Uint8Array(readFileSync(path)) };
    };
    const zip = await download('download-adapter-zip');
    expect(zip.name).toBe('adapter.zip');
    const entries = unzipSync(zip.bytes);
    expect(Object.keys(entries).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

    const config = JSON.parse(new TextDecoder().decode(entries['adapter_config.json'])) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: RANK, lora_alpha: ALPHA, bias: 'none' });

    const { tensors, dataStart } = parseSafetensors(entries['adapter_model.safetensors']);
    const expected = new Map<string, number[]>();
    for (let l = 0; l < layers; l++) {
      for (const t of TARGETS) {
        const block = t.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(t) ? 'mlp' : 'self_attn';
        const prefix = `base_model.model.model.text_model.layers.${l}.${block}.${t}`;
        const [inF, outF] = dims[t];
        expected.set(`${prefix}.lora_A.weight`, [RANK, inF]);
        expected.set(`${prefix}.lora_B.weight`, [outF, RANK]);
      }
    }
    expect([...tensors.keys()].sort()).toEqual([...expected.keys()].sort());
    let trainedB = 0;
    for (const [name, shape] of expected) {
      const e = tensors.get(name)!;
      expect(e.shape, name).toEqual(shape);
      const width = DTYPE_BYTES[e.dtype];
      expect(width, `${name} dtype ${e.dtype}`).toBeDefined();
      expect(e.data_offsets[1] - e.data_offsets[0], name).toBe(shape[0] * shape[1] * width);
      if (name.endsWith('lora_B.weight') && e.dtype === 'F32') {
        const raw = entries['adapter_model.safetensors'].slice(dataStart + e.data_offsets[0], dataStart + e.data_offsets[1]);
        if (new Float32Array(raw.buffer).some((v) => v !== 0)) trainedB++;
      }
    }
    // B starts at zero; three optimizer steps must have moved some of it.
    if ([...tensors.values()].some((e) => e.dtype === 'F32')) expect(trainedB).toBeGreaterThan(0);

    const cfgFile = await download('download-adapter-config');
    expect(cfgFile.name).toBe('adapter_config.json');
    expect(JSON.parse(new TextDecoder().decode(cfgFile.bytes))).toEqual(config);
    const weights = await download('download-adapter-weights');
    expect(weights.name).toBe('adapter_model.safetensors');
    expect(Buffer.from(weights.bytes).equals(Buffer.from(entries['adapter_model.safetensors']))).toBe(true);

    const dataset = await download('download-dataset');
    expect(dataset.name).toBe('povid-dataset.zip');
    expect(Object.keys(unzipSync(dataset.bytes)).length).toBeGreaterThan(0);
    await screenshot(page, 'page-07-downloads');

    // 9. Nothing left the machine, and the page logged no uncaught errors.
    expect(externalRequests(s.requests, s.origin)).toEqual([]);
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
