// Honest progress on the demo page (headless Chromium, WebGPU on SwiftShader, built-in model):
// model loading with real byte totals, the estimate before Start, Stop during a generation ends it
// within one token, Pause says "pausing" until the Worker has paused and no step completes after
// "paused" is shown, the status bar keeps step and ETA in view while the page is scrolled to the
// data table, no ETA after cancel, and Compare beside the preferred answer with highlighted words
// and log-probs under both models. Screenshots go to test-output/screenshots/progress-*.png.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';
import { dropFiles, PAGE_PATH, SCREENSHOTS, sampleData, screenshot, tid } from './ui-helpers';

const STEPS = 4;

/** What the window shows now (the status bar only proves itself in a viewport shot). */
async function viewportShot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

interface RunEvent {
  t: number;
  phase: string;
  step: number;
  points: number;
  status: string;
}

/** Records every change of the dashboard's phase, step, chart points and status line, in order. */
async function recordRun(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __run: RunEvent[] };
    w.__run = [];
    const dash = document.querySelector<HTMLElement>('[data-testid="dashboard"]')!;
    const status = document.querySelector<HTMLElement>('[data-testid="train-status"]')!;
    const chart = document.querySelector<HTMLElement>('[data-testid="chart-loss"]')!;
    let last = '';
    const note = () => {
      const e = {
        t: performance.now(),
        phase: dash.dataset.phase ?? '',
        step: Number(dash.dataset.step ?? 0),
        points: Number(chart.dataset.points ?? 0),
        status: status.textContent ?? '',
      };
      const key = `${e.phase}|${e.step}|${e.points}|${e.status.replace(/\d+:\d\d/g, '')}`;
      if (key !== last) w.__run.push(e);
      last = key;
    };
    new MutationObserver(note).observe(dash, { subtree: true, attributes: true, childList: true, characterData: true });
    note();
  });
}

const runEvents = (page: Page) => page.evaluate(() => (window as unknown as { __run: RunEvent[] }).__run);

describe.skipIf(!hasChromium)('demo page: honest progress, status bar, stop and pause, compare', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it(
    'streams and stops generations, pauses between steps, keeps the status bar in view, compares with the preferred answer',
    { timeout: 1_500_000 },
    async () => {
      expect(existsSync('public/models/tiny/config.json'), 'run "npm run fixture" first').toBe(true);
      const { page } = s;
      const logs = () => s.console.join('\n');
      await page.goto(`${s.origin}${PAGE_PATH}`);
      await expect.poll(() => page.getAttribute(tid('gpu-status'), 'data-state'), { timeout: 60_000 }).toBe('ok');

      // 1. Model loading reports real byte totals (never "0 B of 1 B").
      await page.evaluate(() => {
        const w = window as unknown as { __load: string[] };
        w.__load = [];
        const el = document.querySelector('[data-testid="model-progress-text"]')!;
        new MutationObserver(() => w.__load.push(el.textContent ?? '')).observe(el, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      });
      await page.click(tid('model-load'));
      await expect.poll(() => page.getAttribute(tid('model-picker'), 'data-state'), { timeout: 240_000 }).toMatch(/ready|error/);
      expect(await page.getAttribute(tid('model-picker'), 'data-state'), logs()).toBe('ready');
      const loadTexts = await page.evaluate(() => (window as unknown as { __load: string[] }).__load);
      expect(
        loadTexts.some((t) => / B of 1 B\b/.test(t)),
        loadTexts.join('\n'),
      ).toBe(false);
      const totals = loadTexts.flatMap((t) => {
        const m = /^Loading the model files: .* of ([\d.]+) (KB|MB|GB) \((\d+)%\)/.exec(t);
        return m ? [{ size: Number(m[1]) * { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'KB'], pct: Number(m[3]) }] : [];
      });
      expect(totals.length, loadTexts.join('\n')).toBeGreaterThan(0);
      expect(Math.max(...totals.map((x) => x.size))).toBeGreaterThan(100 * 1024); // the tiny model's files are several hundred KB
      expect(
        totals.some((x) => x.pct === 100),
        loadTexts.join('\n'),
      ).toBe(true);
      expect(
        loadTexts.some((t) => /^Uploading the decoder weights to the GPU \([\d.]+ (KB|MB)\)/.test(t)),
        loadTexts.join('\n'),
      ).toBe(true);

      // 2. Data and a short run's settings; the estimate appears before Start.
      const { files, qa } = sampleData();
      await dropFiles(page, tid('drop-zone'), files);
      await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 60_000 }).toBe(qa.length);
      await page.fill(tid('setting-loraRank'), '4');
      await page.fill(tid('setting-loraAlpha'), '8');
      await page.fill(tid('setting-steps'), String(STEPS));
      await page.locator(tid('setting-steps')).dispatchEvent('change');
      const estimate = page.locator(tid('train-estimate'));
      await expect.poll(() => estimate.getAttribute('data-state'), { timeout: 300_000, interval: 500 }).toMatch(/ready|error/);
      expect(await estimate.getAttribute('data-state'), (await estimate.textContent()) ?? '').toBe('ready');
      const perStep = Number(await estimate.getAttribute('data-seconds-per-step'));
      expect(perStep).toBeGreaterThan(0);
      await expect
        .poll(() => estimate.textContent(), { timeout: 30_000 })
        .toMatch(new RegExp(`^Estimated time: \\d+:\\d\\d in all \\(${STEPS} steps × about `));
      await page.locator(tid('section-train')).scrollIntoViewIfNeeded();
      await viewportShot(page, 'progress-01-estimate');

      // 3. Stop during a generation: it ends within one token of the click, the second answer never starts.
      await page.fill(tid('compare-max-tokens'), '64');
      await page.click(tid('compare-run'));
      const base = page.locator(tid('answer-base'));
      await expect
        .poll(async () => Number(await base.getAttribute('data-tokens')), { timeout: 300_000, interval: 200 })
        .toBeGreaterThanOrEqual(2);
      await page.click(tid('compare-stop'));
      await expect.poll(() => page.getAttribute(tid('compare'), 'data-state'), { timeout: 120_000 }).toMatch(/stopped|done|error/);
      expect(await page.getAttribute(tid('compare'), 'data-state'), logs()).toBe('stopped');
      const atStop = Number(await base.getAttribute('data-tokens-at-stop'));
      const final = Number(await base.getAttribute('data-tokens'));
      expect(atStop).toBeGreaterThanOrEqual(2);
      expect(final - atStop).toBeLessThanOrEqual(1);
      expect(final).toBeLessThan(64);
      expect(await base.getAttribute('data-state')).toBe('stopped');
      expect(await page.getAttribute(tid('answer-lora'), 'data-state')).toBe('skipped');
      await page.locator(tid('compare')).scrollIntoViewIfNeeded();
      await viewportShot(page, 'progress-02-generation-stopped');
      console.log(`Stop during a generation: ${atStop} tokens shown at the click, ${final} in the end`);

      // The row's "Ask the model" (answer on the noisy image) streams and stops the same way.
      const row = page.locator(tid('record-row')).first();
      await row.locator(tid('noisy-answer-button')).click();
      const noisy = row.locator(tid('noisy-answer'));
      await expect
        .poll(async () => Number(await noisy.getAttribute('data-tokens')), { timeout: 300_000, interval: 200 })
        .toBeGreaterThanOrEqual(1);
      await row.locator(tid('noisy-answer-stop')).click();
      await expect.poll(() => noisy.getAttribute('data-state'), { timeout: 120_000 }).toMatch(/stopped|done|error/);
      expect(await noisy.getAttribute('data-state')).toBe('stopped');
      expect(Number(await noisy.getAttribute('data-tokens')) - Number(await noisy.getAttribute('data-tokens-at-stop'))).toBeLessThanOrEqual(
        1,
      );

      // 4. Train; after step 1 the chart shows a point; Pause (from the status bar) says "pausing", then "paused".
      const dash = page.locator(tid('dashboard'));
      await recordRun(page);
      await page.click(tid('train-start'));
      await expect
        .poll(async () => Number(await dash.getAttribute('data-step')), { timeout: 600_000, interval: 200 })
        .toBeGreaterThanOrEqual(1);
      // One step: the loss chart draws it as a point (a line needs two).
      expect(Number(await page.getAttribute(tid('chart-loss'), 'data-points'))).toBe(1);
      await expect
        .poll(
          () =>
            page.evaluate(() => {
              const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="chart-loss"] canvas');
              if (!canvas) return 0;
              const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
              let blue = 0; // the train series' colour, #2563eb
              for (let i = 0; i < d.length; i += 4)
                if (Math.abs(d[i] - 37) < 40 && Math.abs(d[i + 1] - 99) < 40 && Math.abs(d[i + 2] - 235) < 40 && d[i + 3] > 128) blue++;
              return blue;
            }),
          { timeout: 10_000 },
        )
        .toBeGreaterThan(10);
      await page.locator(tid('chart-loss')).screenshot({ path: join(SCREENSHOTS, 'progress-03a-one-step-chart.png') });
      await page.click(tid('status-pause'));
      const pausingText = await page.textContent(tid('train-status'));
      const barPausing = await page.textContent(tid('status-state'));
      await viewportShot(page, 'progress-03-pausing');
      await expect.poll(() => dash.getAttribute('data-phase'), { timeout: 600_000, interval: 200 }).toMatch(/paused|done|error/);
      expect(await dash.getAttribute('data-phase'), logs()).toBe('paused');
      const pausedStep = Number(await dash.getAttribute('data-step'));
      const pausedPoints = Number(await page.getAttribute(tid('chart-loss'), 'data-points'));
      expect(pausedPoints).toBe(pausedStep);
      await page.locator(tid('section-train')).scrollIntoViewIfNeeded();
      await viewportShot(page, 'progress-04-paused');
      // Wait longer than a step takes: nothing may complete while "paused" is shown.
      await page.waitForTimeout(Math.min(60_000, Math.max(5_000, 1500 * perStep)));
      expect(Number(await dash.getAttribute('data-step'))).toBe(pausedStep);
      expect(Number(await page.getAttribute(tid('chart-loss'), 'data-points'))).toBe(pausedStep);
      expect(await dash.getAttribute('data-phase')).toBe('paused');
      const events = await runEvents(page);
      const iPausing = events.findIndex((e) => e.phase === 'pausing');
      const iPaused = events.findIndex((e) => e.phase === 'paused');
      expect(iPausing, JSON.stringify(events)).toBeGreaterThanOrEqual(0);
      expect(iPaused).toBeGreaterThan(iPausing);
      expect(events[iPausing].status).toMatch(/^Pausing after this step/);
      expect(events[iPaused].status).toMatch(/^Paused after step \d+ of 4/);
      expect(
        events.slice(iPaused).every((e) => e.step === pausedStep && e.points === pausedStep),
        JSON.stringify(events.slice(iPaused)),
      ).toBe(true);
      // No reference-pass line once steps run.
      const iFirstStep = events.findIndex((e) => e.phase === 'training');
      expect(
        events.slice(iFirstStep).some((e) => /reference/i.test(e.status)),
        JSON.stringify(events),
      ).toBe(false);
      console.log(`Pause: "${pausingText}" / bar "${barPausing}", then paused at step ${pausedStep}`);

      // 5. Resume; while the next step runs, scroll to the data table: the bar shows step and ETA.
      await page.click(tid('status-resume'));
      await expect.poll(() => dash.getAttribute('data-phase'), { timeout: 30_000 }).toBe('training');
      await page.locator(tid('dataset-table')).scrollIntoViewIfNeeded();
      await page.evaluate(() => document.querySelector('[data-testid="dataset-table"]')!.scrollIntoView({ block: 'start' }));
      expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(400);
      const bar = page.locator(tid('status-bar'));
      const box = await bar.boundingBox();
      expect(box).not.toBeNull();
      expect(box!.y).toBeGreaterThanOrEqual(-1);
      expect(box!.y).toBeLessThan(10);
      expect(await bar.isVisible()).toBe(true);
      await expect.poll(() => page.textContent(tid('status-step')), { timeout: 10_000 }).toMatch(new RegExp(`^Step \\d of ${STEPS}$`));
      await expect.poll(() => page.textContent(tid('status-eta')), { timeout: 600_000, interval: 250 }).toMatch(/^ETA \d+:\d\d$/);
      // The table is what the window shows under the bar.
      const table = await page.locator(tid('dataset-table')).boundingBox();
      expect(table!.y).toBeLessThan(900);
      expect(table!.y + table!.height).toBeGreaterThan(0);
      await viewportShot(page, 'progress-05-status-bar-over-table');

      // 6. Cancel: the run ends at a step with no ETA anywhere.
      await page.click(tid('train-cancel'));
      await expect.poll(() => dash.getAttribute('data-state'), { timeout: 600_000, interval: 250 }).toMatch(/cancelled|done|error/);
      expect(await dash.getAttribute('data-state'), logs()).toMatch(/cancelled|done/); // the last step may end the run first
      const endText = (await page.textContent(tid('train-progress-text'))) ?? '';
      expect(endText).toMatch(/^Step \d of 4 \(\d+%\) · (cancelled|done)$/);
      expect(await page.textContent(tid('status-eta'))).toBe('ETA –');
      expect(await page.textContent(tid('train-status'))).toBe('');
      await page.waitForTimeout(1500); // the 1 s ticker must not bring an ETA back
      expect(await page.textContent(tid('train-progress-text'))).toBe(endText);
      expect(await page.textContent(tid('status-eta'))).toBe('ETA –');
      await page.locator(tid('section-train')).scrollIntoViewIfNeeded();
      await viewportShot(page, 'progress-06-cancelled');

      // 7. Compare beside the record's preferred answer, with highlighted words and log-probs under both models.
      await page.fill(tid('compare-max-tokens'), '3');
      const recordId = await page.locator(tid('compare-record')).inputValue();
      expect(recordId).not.toBe('');
      await page.click(tid('compare-run'));
      await expect.poll(() => page.getAttribute(tid('compare'), 'data-state'), { timeout: 300_000 }).toMatch(/done|error|stopped/);
      expect(await page.getAttribute(tid('compare'), 'data-state'), logs()).toBe('done');
      const asked = await page.locator(tid('compare-question')).inputValue();
      const record = qa.find((q) => q.question === asked)!;
      expect(await page.isVisible(tid('answer-preferred'))).toBe(true);
      expect(await page.textContent(tid('answer-preferred'))).toBe(record.answer);
      expect(await page.isVisible(tid('diff-legend'))).toBe(true);
      // Highlighted words come from the answers, in spans (never parsed as HTML).
      const marked = await page
        .locator(`${tid('answer-base')} ${tid('diff-changed')}, ${tid('answer-lora')} ${tid('diff-changed')}`)
        .allTextContents();
      expect(Number(await page.getAttribute(tid('diff-legend'), 'data-changed'))).toBe(marked.length);
      for (const w of marked)
        expect(`${await page.textContent(tid('answer-base'))} ${await page.textContent(tid('answer-lora'))}`).toContain(w);
      const scoreRows = page.locator(tid('score-row'));
      expect(await scoreRows.count()).toBeGreaterThanOrEqual(2);
      const num = (t: string | null) => Number(t);
      const prefBase = num(await scoreRows.first().locator(tid('score-base')).textContent());
      const prefLora = num(await scoreRows.first().locator(tid('score-lora')).textContent());
      expect(Number.isFinite(prefBase) && prefBase < 0).toBe(true);
      expect(Number.isFinite(prefLora) && prefLora < 0).toBe(true);
      expect(prefLora).not.toBe(prefBase); // the trained adapter moved the preferred answer's log-prob
      await page.locator(tid('compare')).scrollIntoViewIfNeeded();
      await viewportShot(page, 'progress-07-compare');
      await screenshot(page, 'progress-08-full-page');
      console.log(`Compare: preferred answer log p ${prefBase} (adapter off), ${prefLora} (on); ${marked.length} highlighted runs`);

      expect(externalRequests(s.requests, s.origin)).toEqual([]);
      expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
    },
  );
});
