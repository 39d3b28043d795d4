// The hallucination report in headless Chromium (WebGPU on SwiftShader): "Try the built-in
// benchmark" loads the built-in model, generates scenes, trains and evaluates the same held-out
// scenes before and after, all in the Worker, with n/N progress; the report shows both sides'
// numbers (never NaN), a chart and the answers. Then the bad inputs: no held-out record, and
// held-out records that name no known object. Sizes are the smallest that still exercise every
// phase (SwiftShader decodes slowly); the defaults are for a real GPU. Last, the sample records'
// held-out part, adapter off and on, as estimates. Screenshots go to
// test-output/screenshots/.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';
import { findLexiconMentions } from '../../src/eval/metrics';
import { BENCHMARK_SETTINGS } from '../../src/eval/settings';
import { splitHeldout } from '../../src/povid/schedule';
import { dropFiles, PAGE_PATH, sampleData, SCREENSHOTS, tid } from './ui-helpers';

const HELDOUT = 2;
const TRAIN = 1;
const STEPS = 2;
/** Of the sample records, this share is held out: some name known objects (scored), some do not. */
const RECORDS_HELDOUT = 0.25;
const SEED = 42; // the settings' default

/** The hallucination section alone; a sticky bar at the top of the window would cover part of it. */
async function shot(page: Page, name: string): Promise<void> {
  await page
    .locator(tid('section-hallucination'))
    .screenshot({ path: join(SCREENSHOTS, `${name}.png`), style: '.status-bar { visibility: hidden !important; }' });
}

describe.skipIf(!hasChromium)('hallucination report in the page', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('runs the built-in benchmark from one click and shows before and after', { timeout: 600_000 }, async () => {
    expect(existsSync('public/models/tiny/config.json'), 'run "npm run fixture" first: the built-in model is missing').toBe(true);
    const { page } = s;
    const logs = () => s.console.join('\n');
    await page.goto(`${s.origin}${PAGE_PATH}`);
    await expect.poll(() => page.locator(tid('gpu-status')).getAttribute('data-state'), { timeout: 60_000 }).toBe('ok');

    const panel = page.locator(tid('hallucination'));
    // Without a model only the benchmark (which loads one) can run.
    expect(await page.locator(tid('eval-records')).isDisabled()).toBe(true);
    expect(await page.locator(tid('eval-benchmark')).isEnabled()).toBe(true);

    await page.fill(tid('eval-heldoutScenes'), String(HELDOUT));
    await page.fill(tid('eval-trainScenes'), String(TRAIN));
    await page.fill(tid('eval-steps'), String(STEPS));
    // Every progress line the page shows, to check the n/N stream after the run.
    await page.evaluate(() => {
      const el = document.querySelector('[data-testid="eval-progress-text"]')!;
      const seen: string[] = [];
      (window as unknown as { __progress: string[] }).__progress = seen;
      new MutationObserver(() => seen.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
    });
    const t0 = performance.now();
    await page.click(tid('eval-benchmark'));
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 10_000 }).toBe('running');
    // Training and comparing wait while the Worker's GPU is evaluating.
    expect(await page.locator(tid('train-start')).isDisabled()).toBe(true);
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 540_000, interval: 1000 }).toMatch(/done|empty|error|cancelled/);
    const seconds = (performance.now() - t0) / 1000;
    expect(await panel.getAttribute('data-state'), `${await page.locator(tid('toasts')).textContent()}\n${logs()}`).toBe('done');

    const progress = await page.evaluate(() => (window as unknown as { __progress: string[] }).__progress);
    console.log(`benchmark in the page: ${seconds.toFixed(0)} s; progress lines: ${[...new Set(progress)].join(' | ')}`);
    expect(progress).toContain(`Adapter off: ${HELDOUT}/${HELDOUT} scenes`);
    expect(progress).toContain(`Training: ${STEPS}/${STEPS} steps`);
    expect(progress).toContain(`Adapter on: ${HELDOUT}/${HELDOUT} scenes`);

    // Both sides have numbers: CHAIR_s and POPE accuracy are over all scenes and probes, so they
    // always have a denominator; every shown value is a percentage or a dash, never NaN.
    const report = page.locator(tid('eval-report'));
    expect(await report.getAttribute('data-source')).toBe('benchmark');
    for (const key of ['chairS', 'popeAccuracy', 'attributes']) {
      for (const side of ['before', 'after']) {
        const cell = page.locator(tid(`eval-${key}-${side}`));
        const v = Number(await cell.getAttribute('data-value'));
        expect(Number.isFinite(v) && v >= 0 && v <= 1, `${key} ${side}: ${await cell.textContent()}`).toBe(true);
        expect(await cell.textContent()).toMatch(/^\d+\.\d% \(\d+\/\d+\)$/);
      }
    }
    expect(await page.locator(tid('eval-chairS-before')).textContent()).toMatch(new RegExp(`\\(\\d+/${HELDOUT}\\)$`));
    expect(await page.locator(tid('eval-popeAccuracy-after')).textContent()).toMatch(new RegExp(`\\(\\d+/${2 * HELDOUT}\\)$`));
    expect(await panel.textContent()).not.toMatch(/NaN|undefined|Infinity/);
    expect(await page.locator(tid('eval-training')).textContent()).toContain(`${STEPS} POVID steps`);
    // The benchmark's settings (src/eval/settings.ts) reached the Worker: its SFT term is on.
    expect(await page.locator(tid('eval-training')).textContent()).toContain(`SFT weight ${BENCHMARK_SETTINGS.sftWeight}`);
    expect(await page.locator(`${tid('eval-chart')} canvas`).count()).toBeGreaterThan(0);
    const samples = page.locator(tid('eval-sample'));
    expect(await samples.count()).toBe(HELDOUT);
    for (let i = 0; i < HELDOUT; i++) {
      expect(await samples.nth(i).locator(tid('eval-answer-reference')).textContent()).toMatch(/^An? .*\.$/);
      await expect
        .poll(
          () =>
            samples
              .nth(i)
              .locator('img')
              .evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth),
          { timeout: 10_000 },
        )
        .toBe(128);
    }
    // Every marked word is one the answer shows, and names an object missing from the scene.
    for (const m of await page.locator(tid('hallucinated')).all())
      expect(await m.getAttribute('title')).toMatch(/^not in the picture: \w+/);
    // The benchmark's model is now the loaded one: the compare view can use it.
    expect(await page.locator(tid('compare-run')).isEnabled()).toBe(true);
    await panel.scrollIntoViewIfNeeded();
    await shot(page, 'hallucination-01-benchmark');

    // A setting that does not parse is refused with a message; the report stays.
    await page.fill(tid('eval-sftWeight'), '');
    await page.click(tid('eval-benchmark'));
    await expect.poll(() => page.locator(tid('toasts')).textContent(), { timeout: 5_000 }).toMatch(/the SFT weight must be 0 or more/);
    expect(await panel.getAttribute('data-state')).toBe('done');
    await page.locator(`${tid('toast-error')} .toast-close`).click(); // errors stay until dismissed
    await page.fill(tid('eval-sftWeight'), String(BENCHMARK_SETTINGS.sftWeight));

    // Bad input 1: no dataset, so no held-out record: a message, no numbers.
    await page.click(tid('eval-records'));
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 30_000 }).toMatch(/empty|done|error/);
    expect(await panel.getAttribute('data-state'), `${await page.locator(tid('toasts')).textContent()}`).toBe('empty');
    expect(await page.locator(tid('eval-message')).textContent()).toMatch(
      /^Nothing to evaluate: there are no held-out records to evaluate/,
    );
    expect(await page.locator(tid('eval-table')).count()).toBe(0);

    // Bad input 2: the held-out record's preferred answer names no known object.
    await dropFiles(page, tid('drop-zone'), [
      { name: 'plain-a.png', url: '/samples/shapes.png' },
      { name: 'plain-b.png', url: '/samples/balloons.png' },
      {
        name: 'plain.jsonl',
        text: '{"image":"plain-a.png","question":"How does it look?","answer":"Bright and simple."}\n{"image":"plain-b.png","question":"How does it feel?","answer":"Happy and calm."}\n',
      },
    ]);
    await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 30_000 }).toBe(2);
    await page.fill(tid('setting-heldoutFraction'), '0.5');
    await page.click(tid('eval-records'));
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 30_000 }).toMatch(/empty|done|error/);
    expect(await panel.getAttribute('data-state'), `${await page.locator(tid('toasts')).textContent()}`).toBe('empty');
    expect(await page.locator(tid('eval-message')).textContent()).toMatch(
      /none of the 1 held-out records names a known object .*\(1 excluded\)/,
    );
    expect(await panel.textContent()).not.toMatch(/NaN/);
    await shot(page, 'hallucination-02-no-known-object');

    // The user's records: the held-out ones that name a known object are answered with the adapter
    // off and on (few tokens: SwiftShader decodes slowly); the others are counted out.
    page.once('dialog', (d) => void d.accept());
    await page.click(tid('dataset-clear'));
    await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 30_000 }).toBe(0);
    const { files, qa } = sampleData();
    await dropFiles(page, tid('drop-zone'), files);
    await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 60_000 }).toBe(qa.length);
    const held = splitHeldout(qa, RECORDS_HELDOUT, SEED).heldout;
    const scored = held.filter((q) => findLexiconMentions(q.answer).length > 0);
    expect(scored.length, 'the sample data should hold out scorable and unscorable records').toBeGreaterThan(0);
    expect(held.length - scored.length).toBeGreaterThan(0);
    await page.fill(tid('setting-heldoutFraction'), String(RECORDS_HELDOUT));
    await page.fill(tid('eval-maxNewTokens'), '8');
    await page.click(tid('eval-records'));
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 10_000 }).toBe('running');
    await expect.poll(() => panel.getAttribute('data-state'), { timeout: 300_000, interval: 1000 }).toMatch(/done|empty|error|cancelled/);
    expect(await panel.getAttribute('data-state'), `${await page.locator(tid('toasts')).textContent()}\n${logs()}`).toBe('done');
    expect(await report.getAttribute('data-source')).toBe('records');
    expect(await page.locator(tid('eval-scope')).textContent()).toBe(
      `${scored.length} of ${held.length} held-out record${held.length === 1 ? '' : 's'} scored.`,
    );
    expect(await page.locator(tid('eval-message')).textContent()).toContain(
      `${held.length - scored.length} of ${held.length} held-out records name no known object`,
    );
    for (const side of ['before', 'after']) {
      expect(await page.locator(tid(`eval-chairS-${side}`)).textContent()).toMatch(new RegExp(`^\\d+\\.\\d% \\(\\d+/${scored.length}\\)$`));
      expect(await page.locator(tid(`eval-popeAccuracy-${side}`)).textContent()).toMatch(
        new RegExp(`^\\d+\\.\\d% \\(\\d+/${2 * scored.length}\\)$`),
      );
    }
    // POPE F1 has a row even where it has no value (no "yes" to a present object): a dash, not NaN.
    expect(await page.locator(tid('eval-popeF1-before')).textContent()).toMatch(/^(\d+\.\d%|–)$/);
    // No planted pairs or attribute questions on the user's records: those rows are left out.
    expect(await page.locator(tid('eval-planted-before')).count()).toBe(0);
    expect(await page.locator(tid('eval-attributes-before')).count()).toBe(0);
    expect(await page.locator(tid('eval-sample')).count()).toBe(scored.length);
    expect((await page.locator(tid('eval-answer-reference')).allTextContents()).sort()).toEqual(scored.map((q) => q.answer).sort());
    expect(await panel.textContent()).not.toMatch(/NaN|undefined|Infinity/);
    await shot(page, 'hallucination-03-records');

    expect(externalRequests(s.requests, s.origin)).toEqual([]);
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
