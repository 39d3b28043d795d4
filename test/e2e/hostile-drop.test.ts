// A hostile drop onto the demo page: a QA file with a broken line, a wholly malformed QA file, a
// text file named .jpg, a record whose image is missing, and markup in a question. The problems
// are listed with the file they come from, the valid records stay, and no markup is executed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';
import { dropFiles, PAGE_PATH, rowSelector, sampleData, screenshot, tid } from './ui-helpers';

const MARKUP = '<img src="x" onerror="window.__povidPwned = 1">';
const GOOD_QUESTION = `${MARKUP}What colour is the square?`;

const hostileQa = [
  JSON.stringify({ image: 'good.png', question: GOOD_QUESTION, answer: 'The square in the middle is blue.' }),
  JSON.stringify({ image: 'fake.jpg', question: 'What is in the photo?', answer: 'A dog on a beach.' }),
  JSON.stringify({ image: 'nowhere.png', question: 'What is in the picture?', answer: 'A red bicycle.' }),
  '{"image": "good.png", "question": "unterminated',
].join('\n');

describe.skipIf(!hasChromium)('demo page: hostile drop', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('lists every problem, keeps the valid records and renders user text as text', { timeout: 300_000 }, async () => {
    const { page } = s;
    await page.goto(`${s.origin}${PAGE_PATH}`);
    await page.waitForSelector(`${tid('gpu-status')}:not([data-state="checking"])`, { timeout: 60_000 });

    // Valid data first, through the "Load sample data" button (the page fetches public/samples/).
    const { qa } = sampleData();
    await page.click(tid('load-samples'));
    const rows = page.locator(tid('record-row'));
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBe(qa.length);
    const validIds = await rows.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id));

    // Then the hostile drop.
    await dropFiles(page, tid('drop-zone'), [
      { name: 'hostile.jsonl', text: hostileQa, type: 'application/jsonl' },
      { name: 'good.png', url: '/samples/shapes.png' },
      { name: 'fake.jpg', text: 'this is plain text, not a JPEG', type: 'image/jpeg' },
      { name: 'broken.json', text: '[{"image": "good.png", "question": ', type: 'application/json' },
    ]);
    const problems = page.locator(tid('problem'));
    await expect.poll(() => problems.count(), { timeout: 60_000 }).toBeGreaterThanOrEqual(4);
    const texts = await problems.allTextContents();
    const all = texts.join('\n');
    // Each problem names where it comes from.
    expect(
      texts.some((t) => t.includes('broken.json')),
      all,
    ).toBe(true);
    expect(
      texts.some((t) => t.includes('hostile.jsonl') && t.includes('fake.jpg')),
      all,
    ).toBe(true);
    expect(
      texts.some((t) => t.includes('hostile.jsonl') && t.includes('nowhere.png')),
      all,
    ).toBe(true);
    expect(
      texts.some((t) => t.includes('hostile.jsonl') && /line 4/.test(t)),
      all,
    ).toBe(true);
    expect(await page.locator(tid('problems')).isVisible()).toBe(true);
    expect(await page.locator(tid('toast-error')).count()).toBeGreaterThan(0);

    // The valid records stay, and the one good hostile record joins them.
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(qa.length + 1);
    const ids = await rows.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.id));
    for (const id of validIds) expect(ids).toContain(id);
    expect(await page.locator(tid('dataset-summary')).textContent()).toContain(`${qa.length + 1} records`);

    // The markup in the question is shown as text and never parsed.
    const matching = rows.filter({ hasText: 'What colour is the square?' });
    expect(await matching.count()).toBe(1);
    // Pin the row by id: while it is being edited its text lives in textareas.
    const good = page.locator(rowSelector((await matching.getAttribute('data-id')) ?? ''));
    const question = good.locator(tid('rec-question'));
    expect(await question.textContent()).toBe(GOOD_QUESTION);
    expect(await question.locator('img').count()).toBe(0);
    await good.scrollIntoViewIfNeeded(); // thumbnails load when their row comes into view
    await expect
      .poll(() => good.locator(tid('thumb')).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { timeout: 30_000 })
      .toBeGreaterThan(0);
    expect(await page.evaluate(() => (window as unknown as { __povidPwned?: number }).__povidPwned)).toBeUndefined();
    await screenshot(page, 'hostile-01-problems');

    // Inline edit: a rejected answer written by the user replaces the injected one.
    await good.locator(tid('rec-edit')).click();
    await good.locator(tid('edit-rejected')).fill('The square in the middle is purple.');
    await good.locator(tid('rec-save')).click();
    await expect
      .poll(() => good.locator(tid('rec-rejected')).textContent(), { timeout: 30_000 })
      .toBe('The square in the middle is purple.');
    expect(await good.locator(tid('edit-mark')).count()).toBe(0);
    expect(await good.locator(tid('rec-question')).textContent()).toBe(GOOD_QUESTION);

    // Removing a record works, and the rest stay.
    await good.locator(tid('rec-remove')).click();
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(qa.length);

    expect(externalRequests(s.requests, s.origin)).toEqual([]);
    expect(s.console.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  });
});
