// A drop of 20,000 records (over 1,000 image files) onto the demo page. The page must keep
// answering: no main-thread task may take 200 ms or more while the records are parsed, checked
// and shown, or while the table is scrolled, and every click is handled; the table keeps only
// the rows near its viewport in the page and loads thumbnails for those rows only.
//
// Two measures of a stall. The main thread's CPU time per task, from a Chromium trace, is what
// the page itself costs and is asserted always. Wall-clock figures (the Long Tasks API, a 10 ms
// timer heartbeat, how long a click waits) also count the time the operating system gave the
// thread to other processes: they are asserted when the machine has a core per runnable process
// (load average below the core count) and logged otherwise.
import { cpus, loadavg } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';
import { PAGE_PATH, sampleData, screenshot, tid } from './ui-helpers';

const RECORDS = 20_000;
const IMAGES = 1_000;
const LIMIT_MS = 200;

interface Responsiveness {
  longTasks: number[];
  maxGap: number;
  clicks: number[];
}

/** The longest task (CPU time, ms) of the renderers' main threads in a trace of the 'toplevel' category. */
function longestMainThreadTask(trace: Buffer): { cpuMs: number; wallMs: number; tasks: number } {
  const events = (
    JSON.parse(trace.toString('utf8')) as {
      traceEvents: { ph: string; name: string; pid: number; tid: number; dur?: number; tdur?: number; args?: { name?: string } }[];
    }
  ).traceEvents;
  const main = new Set(
    events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`),
  );
  let cpu = 0;
  let wall = 0;
  let tasks = 0;
  for (const e of events) {
    if (e.ph !== 'X' || e.name !== 'ThreadControllerImpl::RunTask' || !main.has(`${e.pid}:${e.tid}`)) continue;
    tasks++;
    cpu = Math.max(cpu, (e.tdur ?? e.dur ?? 0) / 1000);
    wall = Math.max(wall, (e.dur ?? 0) / 1000);
  }
  return { cpuMs: Math.round(cpu), wallMs: Math.round(wall), tasks };
}

describe.skipIf(!hasChromium)('demo page: 20,000 records', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('stays responsive while importing and scrolling, and renders only the visible rows', { timeout: 600_000 }, async () => {
    const { page } = s;
    await page.goto(`${s.origin}${PAGE_PATH}`);
    await page.waitForSelector(`${tid('gpu-status')}:not([data-state="checking"])`, { timeout: 60_000 });
    const { qa } = sampleData();
    const images = qa.map((q) => q.image);

    // Build the files in the page before measuring (test setup, not the app's work).
    await page.evaluate(
      async ({ images, qa, RECORDS, IMAGES }) => {
        const blobs = await Promise.all(images.map(async (name) => (await fetch(`/samples/${name}`)).blob()));
        const files: File[] = [];
        for (let k = 0; k < IMAGES; k++) files.push(new File([blobs[k % blobs.length]], `img-${k}.png`, { type: 'image/png' }));
        const lines: string[] = [];
        for (let i = 0; i < RECORDS; i++) {
          const q = qa[i % qa.length];
          lines.push(JSON.stringify({ id: `r${i}`, image: `img-${i % IMAGES}.png`, question: `${q.question} (${i})`, answer: q.answer }));
        }
        files.push(new File([lines.join('\n')], 'big.jsonl', { type: 'application/jsonl' }));
        (window as unknown as { __bigDrop: File[] }).__bigDrop = files;
      },
      { images, qa, RECORDS, IMAGES },
    );

    // Probes: the Long Tasks API, a 10 ms timer heartbeat, and a button whose click handler
    // measures how long the event waited (event timestamp to handler).
    await page.evaluate(() => {
      const w = window as unknown as { __probe: { longTasks: number[]; maxGap: number; clicks: number[]; stop: boolean } };
      const probe = { longTasks: [] as number[], maxGap: 0, clicks: [] as number[], stop: false };
      w.__probe = probe;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) probe.longTasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: false });
      let last = performance.now();
      const beat = () => {
        const now = performance.now();
        probe.maxGap = Math.max(probe.maxGap, now - last);
        last = now;
        if (!probe.stop) setTimeout(beat, 10);
      };
      setTimeout(beat, 10);
      const b = document.createElement('button');
      b.textContent = 'probe';
      b.dataset.testid = 'click-probe';
      b.style.cssText = 'position:fixed;left:0;bottom:0;z-index:9999;width:60px;height:30px';
      b.addEventListener('click', (e) => probe.clicks.push(performance.now() - e.timeStamp));
      document.body.append(b);
    });
    const box = (await page.locator(tid('click-probe')).boundingBox())!;
    const readProbe = () =>
      page.evaluate(() => {
        const p = (window as unknown as { __probe: Responsiveness }).__probe;
        const out = { longTasks: [...p.longTasks], maxGap: p.maxGap, clicks: [...p.clicks] };
        p.longTasks.length = 0;
        p.maxGap = 0;
        p.clicks.length = 0;
        return out;
      });
    await readProbe(); // start clean

    const summary = page.locator(tid('dataset-summary'));
    await s.browser.startTracing(page, { categories: ['toplevel'] });
    const t0 = Date.now();
    await page.evaluate(() => {
      const dt = new DataTransfer();
      for (const f of (window as unknown as { __bigDrop: File[] }).__bigDrop) dt.items.add(f);
      const zone = document.querySelector('[data-testid="drop-zone"]')!;
      for (const type of ['dragenter', 'dragover', 'drop'])
        zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    });
    // Click every 250 ms until the records are in, on a clock of its own: a click sent while the
    // page is busy waits, and its round trip shows it.
    const roundTrips: number[] = [];
    let importing = true;
    const clicker = (async () => {
      while (importing) {
        const c = Date.now();
        await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
        roundTrips.push(Date.now() - c);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    try {
      await expect.poll(async () => (await summary.textContent()) ?? '', { timeout: 480_000, interval: 500 }).toMatch(/^20,000 records/);
      await page.waitForTimeout(1000); // the render that follows the summary, and thumbnails
    } finally {
      importing = false;
      await clicker;
    }
    const importMs = Date.now() - t0;
    const during = await readProbe();
    const importTrace = longestMainThreadTask(await s.browser.stopTracing());

    // Only the rows near the viewport are in the page, and only they have thumbnails.
    const rows = page.locator(tid('record-row'));
    const rowCount = await rows.count();
    expect(rowCount).toBeGreaterThan(0);
    expect(rowCount).toBeLessThan(80);
    expect(await page.locator(tid('dataset-scroll')).getAttribute('data-virtual')).toBe('true');
    const firstIds = await rows.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id));
    expect(firstIds[0]).toBe('r0');

    // Scroll the table's box to the middle, then to the end, clicking as it goes.
    const scroller = page.locator(tid('dataset-scroll'));
    await scroller.scrollIntoViewIfNeeded();
    await s.browser.startTracing(page, { categories: ['toplevel'] });
    for (let k = 1; k <= 10; k++) {
      await scroller.evaluate((el, f) => (el.scrollTop = (el.scrollHeight - el.clientHeight) * f), k / 20);
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await page.waitForTimeout(100);
    }
    const midIds = await rows.evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.id!.slice(1))));
    expect(midIds.length).toBeLessThan(80);
    // Half way down the box: rows from around the middle of the dataset (heights are estimated until measured).
    expect(Math.min(...midIds)).toBeGreaterThan(RECORDS * 0.3);
    expect(Math.max(...midIds)).toBeLessThan(RECORDS * 0.7);
    // The visible rows get their thumbnails; the rows far away were never made.
    const visibleRow = page
      .locator(tid('record-row'))
      .filter({ has: page.locator(`${tid('thumb')}[src]`) })
      .first();
    await expect.poll(() => visibleRow.count(), { timeout: 60_000 }).toBe(1);
    await expect
      .poll(() => visibleRow.locator(tid('thumb')).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), {
        timeout: 60_000,
      })
      .toBeGreaterThan(0);
    const thumbs = await page.locator(`${tid('thumb')}[src]`).count();
    expect(thumbs).toBeLessThan(200); // rows in the page plus the small cache of rows scrolled past
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.waitForTimeout(300);
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight)); // once more, now that the last rows are measured
    await expect
      .poll(async () => rows.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id)), { timeout: 10_000 })
      .toContain(`r${RECORDS - 1}`);
    const scrolling = await readProbe();
    const scrollTrace = longestMainThreadTask(await s.browser.stopTracing());
    await screenshot(page, 'large-drop-01-scrolled');

    const stats = await page.evaluate(() => ({
      nodes: document.getElementsByTagName('*').length,
      heap: (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0,
    }));
    const load = loadavg()[0];
    const quiet = load < cpus().length;
    const report = {
      importMs,
      loadAverage: Number(load.toFixed(1)),
      cores: cpus().length,
      importTrace,
      scrollTrace,
      during: {
        maxLongTask: Math.max(0, ...during.longTasks),
        longTasks: during.longTasks.length,
        maxGap: Math.round(during.maxGap),
        maxClick: Math.max(0, ...during.clicks),
        clicks: during.clicks.length,
      },
      scrolling: {
        maxLongTask: Math.max(0, ...scrolling.longTasks),
        maxGap: Math.round(scrolling.maxGap),
        maxClick: Math.max(0, ...scrolling.clicks),
        clicks: scrolling.clicks.length,
      },
      clickRoundTripMs: Math.max(0, ...roundTrips),
      clickRoundTrips: roundTrips.length,
      rows: rowCount,
      thumbs,
      nodes: stats.nodes,
      heapMB: Math.round(stats.heap / 2 ** 20),
    };
    console.log(`large drop: ${JSON.stringify(report)}`);

    // Every click was handled; no main-thread task used 200 ms of CPU.
    expect(during.clicks.length).toBe(roundTrips.length);
    expect(during.clicks.length).toBeGreaterThan(0);
    expect(scrolling.clicks.length).toBe(10);
    expect(importTrace.tasks).toBeGreaterThan(100);
    expect(scrollTrace.tasks).toBeGreaterThan(10);
    expect(importTrace.cpuMs, 'import: longest main-thread task, CPU time').toBeLessThan(LIMIT_MS);
    expect(scrollTrace.cpuMs, 'scrolling: longest main-thread task, CPU time').toBeLessThan(LIMIT_MS);
    // On a machine that is not oversubscribed, wall-clock too: no long task, timer gap or click wait of 200 ms.
    if (quiet) {
      expect(Math.max(...roundTrips), 'import: longest round trip of a click').toBeLessThan(LIMIT_MS);
      for (const [phase, p] of [
        ['import', during],
        ['scrolling', scrolling],
      ] as const) {
        expect(Math.max(0, ...p.longTasks), `${phase}: longest main-thread task`).toBeLessThan(LIMIT_MS);
        expect(p.maxGap, `${phase}: longest gap of a 10 ms timer`).toBeLessThan(LIMIT_MS);
        expect(Math.max(0, ...p.clicks), `${phase}: longest wait of a click`).toBeLessThan(LIMIT_MS);
      }
    } else console.log(`large drop: load average ${load.toFixed(1)} on ${cpus().length} cores: wall-clock figures logged, not asserted`);
    // The page holds a few thousand elements, not one row per record.
    expect(stats.nodes).toBeLessThan(10_000);
    if (stats.heap > 0) expect(stats.heap).toBeLessThan(400 * 2 ** 20);

    expect(externalRequests(s.requests, s.origin)).toEqual([]);
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
