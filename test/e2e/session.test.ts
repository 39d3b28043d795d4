// A session survives a reload, and every run is kept (headless Chromium, WebGPU on SwiftShader,
// the built-in model): train with a checkpoint every step, reload in the middle, get the model,
// the records and the charts back without dropping anything again, resume with one click and
// check with the Worker's own counters that no reference pass or image encoding was redone.
// Then a second run beside the first: both listed, both adapters downloadable and different,
// their curves overlaid; delete one; start over. Screenshots go to test-output/screenshots/.
import { mkdirSync, readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';
import { dropFiles, PAGE_PATH, parseSafetensors, sampleData, screenshot, tid } from './ui-helpers';

const DOWNLOADS = 'test-output/downloads';
// Three steps over the sample's 8 records: one held out (the default 10%), each step a record of its own.
const STEPS = 3;
const HELDOUT = 1;

async function waitGpu(page: Page): Promise<void> {
  const gpu = page.locator(tid('gpu-status'));
  await expect.poll(() => gpu.getAttribute('data-state'), { timeout: 60_000 }).not.toBe('checking');
  expect(await gpu.getAttribute('data-state')).toBe('ok');
}

async function waitModel(page: Page, why: () => Promise<string>): Promise<void> {
  const picker = page.locator(tid('model-picker'));
  await expect.poll(() => picker.getAttribute('data-state'), { timeout: 180_000 }).toMatch(/ready|error/);
  expect(await picker.getAttribute('data-state'), await why()).toBe('ready');
}

async function waitTrained(page: Page, why: () => Promise<string>): Promise<void> {
  const dashboard = page.locator(tid('dashboard'));
  await expect.poll(() => dashboard.getAttribute('data-state'), { timeout: 10_000 }).toMatch(/training|done|error/);
  await expect.poll(() => dashboard.getAttribute('data-state'), { timeout: 480_000, interval: 1000 }).toMatch(/done|error|cancelled/);
  expect(await dashboard.getAttribute('data-state'), await why()).toBe('done');
}

/** The Worker's counters as the page shows them (refreshed after every state change). */
async function counters(page: Page): Promise<Record<string, number>> {
  const el = page.locator(tid('work-counters'));
  const out: Record<string, number> = {};
  for (const k of ['reference-passes', 'references-reused', 'feature-encodings', 'features-reused'])
    out[k] = Number(await el.getAttribute(`data-${k}`));
  return out;
}

const row = (page: Page, n: number) => page.locator(`${tid('run-row')}[data-number="${n}"]`);

describe.skipIf(!hasChromium)('a session that survives a reload, and runs kept side by side', () => {
  let s: BrowserSession;
  const { files, qa } = sampleData();
  const images = new Set(qa.map((q) => q.image)).size;
  let savedStep = 0;

  beforeAll(async () => {
    mkdirSync(DOWNLOADS, { recursive: true });
    s = await openBrowser({ downloadsPath: DOWNLOADS });
  });
  afterAll(async () => {
    await s?.close();
  });

  const why = async () => `${await s.page.locator(tid('toasts')).textContent()}\n${s.console.join('\n')}`;

  it('reload in the middle of a run: everything comes back and one click resumes without recomputing', { timeout: 900_000 }, async () => {
    const { page } = s;
    await page.goto(`${s.origin}${PAGE_PATH}`);
    await waitGpu(page);
    expect(await page.locator(tid('runs-empty')).isVisible()).toBe(true);
    await page.click(tid('model-load'));
    await waitModel(page, why);
    await dropFiles(page, tid('drop-zone'), files);
    await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 60_000 }).toBe(qa.length);

    await page.fill(tid('setting-loraRank'), '4');
    await page.fill(tid('setting-loraAlpha'), '8');
    await page.fill(tid('setting-steps'), String(STEPS));
    await page.click('details.advanced > summary');
    await page.fill(tid('setting-checkpointEvery'), '1');
    await page.locator(tid('setting-checkpointEvery')).dispatchEvent('change');
    await page.click(tid('train-start'));

    // A checkpoint stored, then pause (the step in flight finishes and is checkpointed too).
    await expect
      .poll(async () => Number(await row(page, 1).getAttribute('data-saved-step')), { timeout: 480_000, interval: 500 })
      .toBeGreaterThanOrEqual(1);
    await page.click(tid('train-pause'));
    // The stage line says so once the step in flight has ended (no step runs after it).
    await expect.poll(() => page.locator(tid('train-status')).textContent(), { timeout: 300_000 }).toMatch(/^Paused after step \d+ of \d+/);
    // Before the reload this Worker encoded every image once and computed the reference sums of
    // the held-out record before training, and those of each record a step used in that step (a
    // record used once gets them from its own step's pass; see docs/method.md); and maybe one
    // more: the estimate's timing probe scores the first training record, which no step may use.
    const stepsBefore = Number(await row(page, 1).getAttribute('data-step'));
    expect(stepsBefore).toBeGreaterThanOrEqual(1);
    let passesBefore = 0;
    await expect
      .poll(async () => (passesBefore = (await counters(page))['reference-passes']), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(HELDOUT + stepsBefore);
    expect(passesBefore).toBeLessThanOrEqual(HELDOUT + stepsBefore + 1);
    expect(await counters(page)).toMatchObject({ 'feature-encodings': images, 'references-reused': 0, 'features-reused': 0 });
    const lossBefore = await page.locator(tid('chart-loss')).getAttribute('data-points');
    await screenshot(page, 'session-01-paused-before-reload');

    // Reload (the page asks before leaving a run; accept).
    page.once('dialog', (d) => void d.accept());
    await page.reload();
    await waitGpu(page);
    const session = page.locator(tid('session'));
    await expect.poll(() => session.getAttribute('data-restored'), { timeout: 30_000 }).toBe('true');
    // Records back without a drop, the model back without a click.
    await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 30_000 }).toBe(qa.length);
    expect(await page.locator(tid('problem')).count()).toBe(0);
    await waitModel(page, why);
    const runRow = row(page, 1);
    await expect.poll(() => runRow.getAttribute('data-status'), { timeout: 10_000 }).toBe('interrupted');
    savedStep = Number(await runRow.getAttribute('data-saved-step'));
    expect(savedStep).toBeGreaterThanOrEqual(1);
    expect(savedStep).toBeLessThan(STEPS);
    expect(Number(lossBefore)).toBeGreaterThanOrEqual(savedStep);
    // The charts' history is back: one point per saved step.
    for (const chart of ['chart-loss', 'chart-margins', 'chart-accuracy'])
      expect(await page.locator(tid(chart)).getAttribute('data-points'), chart).toBe(String(savedStep));
    expect(await page.locator(tid('session-note')).first().textContent()).toBe(
      `Restored from this browser: ${qa.length} records with ${images} images, 1 training run; the model loads by itself.`,
    );
    const offer = page.locator(tid('resume-train'));
    await expect.poll(() => offer.isEnabled(), { timeout: 30_000 }).toBe(true);
    expect(await page.locator(tid('resume-offer')).textContent()).toContain(`stopped at step ${savedStep} of ${STEPS}`);
    await expect.poll(async () => counters(page), { timeout: 10_000 }).toMatchObject({ 'reference-passes': 0, 'feature-encodings': 0 });
    await screenshot(page, 'session-02-restored-after-reload');

    // One click resumes at the saved step; nothing saved is computed again: the steps left use
    // records no step used yet, each computing its sums as it runs.
    await offer.click();
    await waitTrained(page, why);
    await expect.poll(() => runRow.getAttribute('data-status'), { timeout: 10_000 }).toBe('done');
    expect(await runRow.getAttribute('data-step')).toBe(String(STEPS));
    expect(await runRow.getAttribute('data-resumed-from')).toBe(String(savedStep));
    expect(await page.locator(tid('train-progress-text')).textContent()).toContain(`Step ${STEPS} of ${STEPS}`);
    for (const chart of ['chart-loss', 'chart-margins', 'chart-accuracy'])
      expect(await page.locator(tid(chart)).getAttribute('data-points'), chart).toBe(String(STEPS));
    await expect
      .poll(async () => counters(page), { timeout: 10_000 })
      .toMatchObject({ 'feature-encodings': 0, 'references-reused': passesBefore, 'features-reused': images });
    // Every sum computed before the reload came back; new ones only for records no step had used
    // (all of the steps left, less the probe's record if one of them uses it).
    const passesAfter = (await counters(page))['reference-passes'];
    expect(passesAfter).toBeLessThanOrEqual(STEPS - stepsBefore);
    expect(passesAfter).toBeGreaterThanOrEqual(STEPS - stepsBefore - (passesBefore - HELDOUT - stepsBefore));
    await screenshot(page, 'session-03-resumed-and-finished');
  });

  it('two runs: both listed, both adapters downloadable and different, curves overlaid', { timeout: 900_000 }, async () => {
    const { page } = s;
    expect(await row(page, 1).getAttribute('data-status'), 'the first test must run first').toBe('done');
    // A second run with another learning rate and fewer steps.
    await page.fill(tid('setting-learningRate'), '0.001');
    await page.fill(tid('setting-steps'), '1');
    await page.locator(tid('setting-steps')).dispatchEvent('change');
    await page.click(tid('train-start'));
    await waitTrained(page, why);
    await expect.poll(() => page.locator(tid('run-row')).count(), { timeout: 10_000 }).toBe(2);
    await expect.poll(() => row(page, 2).getAttribute('data-status'), { timeout: 10_000 }).toBe('done');
    expect(await row(page, 2).getAttribute('data-step')).toBe('1');
    expect(await row(page, 2).getAttribute('data-active')).toBe('true');
    // The first run is still there, untouched.
    expect(await row(page, 1).getAttribute('data-step')).toBe(String(STEPS));
    expect(await row(page, 1).getAttribute('data-status')).toBe('done');

    const download = async (n: number) => {
      const [dl] = await Promise.all([
        page.waitForEvent('download', { timeout: 60_000 }),
        row(page, n).locator(tid('run-download')).click(),
      ]);
      return { name: dl.suggestedFilename(), files: unzipSync(new Uint8Array(readFileSync(await dl.path()))) };
    };
    const a = await download(1);
    const b = await download(2);
    expect(a.name).toBe('povid-run-1-adapter.zip');
    expect(b.name).toBe('povid-run-2-adapter.zip');
    for (const z of [a, b]) expect(Object.keys(z.files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const wa = a.files['adapter_model.safetensors'];
    const wb = b.files['adapter_model.safetensors'];
    expect([...parseSafetensors(wa).tensors.keys()].sort()).toEqual([...parseSafetensors(wb).tensors.keys()].sort());
    expect(wa.length).toBe(wb.length);
    expect(Buffer.from(wa).equals(Buffer.from(wb)), 'the two runs stored the same adapter').toBe(false);

    // Overlay both runs' curves.
    await row(page, 1).locator(tid('run-overlay')).check();
    await row(page, 2).locator(tid('run-overlay')).check();
    const overlay = page.locator(tid('runs-overlay'));
    await expect.poll(() => overlay.getAttribute('data-runs'), { timeout: 10_000 }).toBe('1,2');
    expect(await page.locator(tid('overlay-loss')).getAttribute('data-series')).toBe('2');
    expect(await page.locator(tid('overlay-loss')).getAttribute('data-points')).toBe(String(STEPS)); // steps 1..3 of run 1, 1 of run 2
    expect(await page.locator(tid('overlay-margins')).getAttribute('data-series')).toBe('4');
    await expect.poll(() => page.locator(`${tid('overlay-loss')} canvas`).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.locator(tid('runs')).scrollIntoViewIfNeeded();
    await screenshot(page, 'session-04-two-runs-overlaid');

    // Load run 1's adapter for Compare; delete run 2 (confirmed in the page).
    await row(page, 1).locator(tid('run-use')).click();
    await expect.poll(() => row(page, 1).getAttribute('data-active'), { timeout: 30_000 }).toBe('true');
    await row(page, 2).locator(tid('run-delete')).click();
    await page.click(tid('confirm-ok'));
    await expect.poll(() => page.locator(tid('run-row')).count(), { timeout: 10_000 }).toBe(1);

    // Start over: asks first, then the next page load is empty.
    await page.click(tid('start-over'));
    await expect.poll(() => page.locator(tid('confirm-dialog')).isVisible(), { timeout: 5_000 }).toBe(true);
    await screenshot(page, 'session-05-start-over-confirm');
    await Promise.all([page.waitForEvent('load', { timeout: 60_000 }), page.click(tid('confirm-ok'))]);
    await waitGpu(page);
    await expect.poll(() => page.locator(tid('session')).getAttribute('data-restored'), { timeout: 30_000 }).toBe('false');
    expect(await page.locator(tid('record-row')).count()).toBe(0);
    expect(await page.locator(tid('run-row')).count()).toBe(0);
    expect(await page.locator(tid('model-picker')).getAttribute('data-state')).toBe('idle');
    expect(await page.locator(tid('setting-steps')).inputValue()).toBe('0'); // settings back to the defaults
    await screenshot(page, 'session-06-after-start-over');

    expect(externalRequests(s.requests, s.origin)).toEqual([]);
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('a session saved by other versions of the app', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('loads what is compatible, says what was dropped, never a blank page', { timeout: 300_000 }, async () => {
    const { page } = s;
    // Seed this origin's storage from a page of the same origin before the app starts.
    await page.goto(`${s.origin}/samples/index.json`);
    await page.evaluate(async () => {
      const open = (name: string, upgrade: (db: IDBDatabase) => void) =>
        new Promise<IDBDatabase>((resolve, reject) => {
          const r = indexedDB.open(name, 1);
          r.onupgradeneeded = () => upgrade(r.result);
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
      const put = (db: IDBDatabase, store: string, entries: [string, unknown][]) =>
        new Promise<void>((resolve, reject) => {
          const tx = db.transaction(store, 'readwrite');
          for (const [k, v] of entries) tx.objectStore(store).put(v, k);
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
        });
      const metrics = (step: number) => ({
        step,
        totalSteps: 5,
        epoch: 0,
        loss: 0.69 - step / 100,
        rewardChosen: 0,
        rewardText: 0,
        rewardNoise: 0,
        marginText: step / 50,
        marginNoise: step / 80,
        accuracy: 0.5,
        gradNorm: 1,
        learningRate: 1e-5,
        tokensPerSecond: 1,
        etaSeconds: 1,
        exampleId: 'x',
        ms: { reference: 0, noisy: 0, forward: 0, backward: 0, optimizer: 0 },
      });
      // The first version of the app: one checkpoint in "povid-checkpoints", no records.
      const old = await open('povid-checkpoints', (db) => db.createObjectStore('slots'));
      await put(old, 'slots', [
        [
          'slot0',
          {
            runId: 'run',
            step: 2,
            microStep: 2,
            totalSteps: 5,
            config: { loraRank: 4, loraAlpha: 8, steps: 5 },
            datasetKey: '1-0',
            params: new Float32Array(8),
            adamM: new Float32Array(8),
            adamV: new Float32Array(8),
            rngState: new Uint32Array(4),
            history: [metrics(1), metrics(2)],
            savedAt: '2025-01-02T03:04:05Z',
          },
        ],
        ['latest', 0],
      ]);
      old.close();
      // A session written by a newer version: an unknown schema, a damaged record, one whose image is gone.
      const stores = ['meta', 'records', 'images', 'features', 'references', 'runs', 'checkpoints', 'adapters'];
      const db = await open('povid-session', (d) => stores.forEach((n) => d.createObjectStore(n)));
      const image = await (await fetch('/samples/sunny-hill.png')).blob();
      await put(db, 'meta', [['session', { schema: 3, problems: [], model: { kind: 'files', name: 'my-smolvlm' }, fromTheFuture: true }]]);
      await put(db, 'images', [['sunny-hill.png', image]]);
      await put(db, 'records', [
        [
          'kept',
          {
            seq: 0,
            record: {
              id: 'kept',
              image: 'sunny-hill.png',
              question: 'Describe the image.',
              chosen: 'A yellow sun above a green hill.',
              rejectedText: 'A yellow moon above a green hill.',
              rejectedSource: 'injected',
              edits: [],
              source: { file: 'qa.jsonl', index: 0 },
              mood: 'new field',
            },
          },
        ],
        ['damaged', { seq: 1, record: { id: 'damaged', image: 'sunny-hill.png', chosen: 'no question here' } }],
        ['orphan', { seq: 2, record: { id: 'orphan', image: 'gone.png', question: 'Q?', chosen: 'A.' } }],
      ]);
      db.close();
    });

    await page.goto(`${s.origin}${PAGE_PATH}`);
    await waitGpu(page);
    const session = page.locator(tid('session'));
    await expect.poll(() => session.getAttribute('data-restored'), { timeout: 30_000 }).toBe('true');
    const notes = (await page.locator(tid('session-note')).allTextContents()).join('\n');
    expect(notes).toMatch(/Restored from this browser: 1 record with 1 image, 1 training run\./);
    expect(notes).toMatch(/local folder "my-smolvlm": the browser cannot open a folder by itself, so choose it again/);
    expect(notes).toMatch(/written by a newer version of this app \(schema 3; this one reads 2\)/);
    expect(notes).toMatch(/1 saved record could not be read and was dropped: "damaged" \(no question\)/);
    expect(notes).toMatch(/came back without its image .*"orphan" \(gone\.png\)/);
    expect(notes).toMatch(/earlier version of this app \(step 2 of 5\) is now run 1.*drop the same data again/);
    // The compatible record is in the table, the old checkpoint in the runs list, and it says why it cannot resume yet.
    await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 30_000 }).toBe(1);
    const run = row(page, 1);
    expect(await run.getAttribute('data-saved-step')).toBe('2');
    expect(await run.getAttribute('data-resumable')).toBe('false');
    expect(await run.locator(tid('run-status')).textContent()).toMatch(/cannot resume: load the model/);
    expect(await page.locator(tid('chart-loss')).getAttribute('data-points')).toBe('2');
    expect(await page.locator('h1').textContent()).toBe('POVID in the browser');
    await screenshot(page, 'session-07-other-versions');
    // The old database was folded in once: a second load does not import it again.
    await page.reload();
    await expect.poll(() => page.locator(tid('session')).getAttribute('data-restored'), { timeout: 30_000 }).toBe('true');
    await expect.poll(() => page.locator(tid('run-row')).count(), { timeout: 10_000 }).toBe(1);
    expect((await page.locator(tid('session-note')).allTextContents()).join('\n')).not.toMatch(
      /earlier version|newer version|could not be read/,
    );
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});

describe.skipIf(!hasChromium)('a storage quota too small for the images', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('says what was kept and what was not, and training still runs', { timeout: 600_000 }, async () => {
    const { page } = s;
    const { files, qa } = sampleData();
    await page.goto(`${s.origin}${PAGE_PATH}`);
    await waitGpu(page);
    await expect.poll(() => page.locator(tid('session')).getAttribute('data-restored'), { timeout: 30_000 }).toBe('false');
    // Leave room for a few kilobytes more than the empty database holds (DevTools' quota override).
    const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
    const cdp = await s.context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: s.origin, quotaSize: usage + 8_000 });
    await dropFiles(page, tid('drop-zone'), files);
    await expect.poll(() => page.locator(tid('record-row')).count(), { timeout: 60_000 }).toBe(qa.length);
    const session = page.locator(tid('session'));
    await expect.poll(() => session.getAttribute('data-complete'), { timeout: 60_000 }).toBe('false');
    const savedImages = Number(await session.getAttribute('data-saved-images'));
    expect(savedImages).toBeLessThan(qa.length);
    const notes = (await page.locator(tid('session-note')).allTextContents()).join('\n');
    expect(notes).toMatch(new RegExp(`${qa.length - savedImages} images? of ${qa.length} could not be stored \\(`));
    expect(notes).toMatch(/will not come back after a reload; everything works until then, training included/);

    // Training is still possible, with the storage full.
    await page.click(tid('model-load'));
    await waitModel(page, async () => `${await page.locator(tid('toasts')).textContent()}\n${s.console.join('\n')}`);
    await page.fill(tid('setting-loraRank'), '4');
    await page.fill(tid('setting-loraAlpha'), '8');
    await page.fill(tid('setting-steps'), '1');
    await page.click(tid('train-start'));
    await waitTrained(page, async () => `${await page.locator(tid('toasts')).textContent()}\n${s.console.join('\n')}`);
    expect(await page.locator(tid('chart-loss')).getAttribute('data-points')).toBe('1');
    await page.locator(tid('session')).scrollIntoViewIfNeeded();
    await screenshot(page, 'session-08-quota-full');
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
