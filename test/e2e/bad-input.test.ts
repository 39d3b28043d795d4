// Bad input through the demo page: a truncated PNG and a PNG whose header claims 60000 x 60000
// pixels are refused at import with file, line and reason; a CSV with a header and no rows and
// a zip entry that climbs out of the archive are named; the problems come in line order and can
// be dismissed; an answer too long for the model's context is flagged when the model is loaded
// after the data. Also: the software-rasteriser note, the noise preview note, the held-out
// notice, "1 file", and a download that says its size.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';
import { PAGE_PATH, SAMPLES_DIR, sampleData, screenshot, tid } from './ui-helpers';

const enc = new TextEncoder();
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

describe.skipIf(!hasChromium)('demo page: bad input', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('names each bad file with its line and reason, and flags long answers once a model is loaded', { timeout: 600_000 }, async () => {
    const { page } = s;
    await page.goto(`${s.origin}${PAGE_PATH}`);
    const gpu = page.locator(tid('gpu-status'));
    await expect.poll(() => gpu.getAttribute('data-state'), { timeout: 60_000 }).not.toBe('checking');

    // WebGPU on SwiftShader here: the page says so and what speed to expect.
    expect(await gpu.getAttribute('data-software')).toBe('true');
    expect(await page.locator(tid('gpu-software')).textContent()).toMatch(/SwiftShader, a software rasteriser .* minutes per step/);

    // Sample data first: eight good records.
    const { qa } = sampleData();
    await page.click(tid('load-samples'));
    const rows = page.locator(tid('record-row'));
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(qa.length);
    expect(await rows.first().locator(tid('noise-preview-note')).textContent()).toMatch(
      /Preview only: training uses the Noise step setting/,
    );

    // The hostile drop.
    const shapes = new Uint8Array(readFileSync(join(SAMPLES_DIR, 'shapes.png')));
    const huge = shapes.slice();
    new DataView(huge.buffer).setUint32(16, 60000);
    new DataView(huge.buffer).setUint32(20, 60000);
    const long = Array.from({ length: 200 }, () => 'a red ball').join(' and ') + '.';
    const jsonl = [
      { id: 'ok', image: 'ok.png', question: 'What shapes are there?', answer: 'A blue square.' },
      { id: 'cut', image: 'cut.png', question: 'What is it?', answer: 'A picture.' },
      { id: 'huge', image: 'huge.png', question: 'What is it?', answer: 'A picture.' },
      { id: 'long', image: 'ok.png', question: 'Describe every ball.', answer: long },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n');
    const zip = zipSync({ '../../x.png': shapes, 'inner/readme.md': enc.encode('hello') });
    const files = [
      { name: 'bad.jsonl', data: b64(enc.encode(jsonl)) },
      { name: 'ok.png', data: b64(shapes) },
      { name: 'cut.png', data: b64(shapes.subarray(0, 120)) },
      { name: 'huge.png', data: b64(huge) },
      { name: 'empty.csv', data: b64(enc.encode('image,question,answer\n')) },
      { name: 'evil.zip', data: b64(zip) },
    ];
    const drop = (list: { name: string; data: string }[]) =>
      page.evaluate((list) => {
        const dt = new DataTransfer();
        for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0))], f.name));
        const zone = document.querySelector('[data-testid="drop-zone"]')!;
        for (const type of ['dragenter', 'dragover', 'drop'])
          zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
      }, list);
    await drop(files);
    const problems = page.locator(tid('problem'));
    await expect.poll(() => problems.count(), { timeout: 60_000 }).toBeGreaterThanOrEqual(4);
    const texts = await problems.allTextContents();
    const all = texts.join('\n');
    const at = (re: RegExp) => texts.findIndex((t) => re.test(t));
    const cut = at(/^bad\.jsonl \(record cut\): line 2: image "cut\.png" is truncated: the file ends after 120 bytes/);
    const big = at(
      /^bad\.jsonl \(record huge\): line 3: image "huge\.png" declares 60000 x 60000 pixels \(3600\.0 megapixels\), over the limit/,
    );
    expect(cut, all).toBeGreaterThanOrEqual(0);
    expect(big, all).toBe(cut + 1); // line order
    expect(at(/^empty\.csv: line 1: the file has a header \(image,question,answer\) but no rows/), all).toBeGreaterThanOrEqual(0);
    expect(
      at(/^evil\.zip\/\.\.\/\.\.\/x\.png: skipped: the entry's path "\.\.\/\.\.\/x\.png" climbs out of the archive/),
      all,
    ).toBeGreaterThanOrEqual(0);
    expect(
      texts.some((t) => /record long/.test(t)),
      all,
    ).toBe(false); // no model yet: its length is not known
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(qa.length + 2);
    expect(await page.locator(tid('drop-status')).textContent()).toBe('Read 6 files.');
    await screenshot(page, 'bad-input-01-problems');

    // Dismissed problems go; new ones come back.
    await page.click(tid('problems-dismiss'));
    expect(await page.locator(tid('problems')).isHidden()).toBe(true);
    await drop([{ name: 'empty2.csv', data: b64(enc.encode('image,question,answer')) }]);
    await expect
      .poll(() => problems.allTextContents(), { timeout: 30_000 })
      .toEqual([expect.stringMatching(/^empty2\.csv: line 1: the file has a header/)]);
    expect(await page.locator(tid('drop-status')).textContent()).toBe('Read 1 file.');

    // The model comes after the data: the long answer is flagged now, and left out of training.
    await page.click(tid('model-load'));
    const picker = page.locator(tid('model-picker'));
    await expect.poll(() => picker.getAttribute('data-state'), { timeout: 180_000 }).toMatch(/ready|error/);
    expect(await picker.getAttribute('data-state')).toBe('ready');
    const longRow = page.locator(`${tid('record-row')}[data-id="long"]`);
    await expect.poll(() => longRow.locator(tid('rec-split')).textContent(), { timeout: 60_000 }).toBe('left out');
    expect(await longRow.locator(tid('rec-flag')).textContent()).toMatch(
      /^with the image and the question, the answer makes \d+ tokens, over the \d+ of .*context; shorten it \(the record is left out of training until then\)$/,
    );
    await expect
      .poll(() => problems.allTextContents(), { timeout: 30_000 })
      .toContainEqual(
        expect.stringMatching(/^bad\.jsonl \(record long\): line 4: with the image and the question, the answer makes \d+ tokens/),
      );
    expect(await page.locator(tid('dataset-summary')).textContent()).toMatch(/1 left out/);
    expect(await page.locator(tid('toast-error')).allTextContents()).toContainEqual(
      expect.stringMatching(/1 record is too long for .* left out of training/),
    );
    await longRow.scrollIntoViewIfNeeded();
    await screenshot(page, 'bad-input-02-flagged');

    // Another seed draws other held-out records: the page says which moved.
    const heldOut = async () =>
      (
        await rows.evaluateAll((els) =>
          els
            .filter((e) => e.querySelector('[data-testid="rec-split"]')?.textContent === 'held out')
            .map((e) => (e as HTMLElement).dataset.id),
        )
      ).sort();
    const before = await heldOut();
    expect(before).toHaveLength(1); // 9 usable records x 0.1
    let seed = 43;
    for (; seed < 60; seed++) {
      await page.fill(tid('setting-seed'), String(seed));
      await page.locator(tid('setting-seed')).dispatchEvent('change');
      await expect.poll(async () => (await heldOut()).length, { timeout: 30_000 }).toBe(1);
      if ((await heldOut())[0] !== before[0]) break;
    }
    const notice = page.locator(tid('split-notice'));
    await expect.poll(() => notice.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await notice.textContent()).toMatch(
      /^The held-out records changed \(now held out: .*; back in training: .*\)\. They are drawn from all usable records with the seed/,
    );

    // A download says what was saved and its size.
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.click(tid('download-dataset'))]);
    const toasts = await page.locator(tid('toast')).allTextContents(); // read before it fades (5 s)
    const size = statSync(await download.path()).size;
    expect(size).toBeGreaterThan(1000);
    expect(toasts).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `povid-dataset\\.zip, [\\d.]+ [KMG]?B \\(${size.toLocaleString('en-US')} bytes\\), handed to the browser's downloads\\.`,
        ),
      ),
    );
    await screenshot(page, 'bad-input-03-download');

    expect(externalRequests(s.requests, s.origin)).toEqual([]);
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
