import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalRequests, hasChromium, openBrowser, type BrowserSession } from '../helpers/browser';

describe.skipIf(!hasChromium)('WebGPU in a dedicated Worker in headless Chromium', () => {
  let s: BrowserSession;
  beforeAll(async () => {
    s = await openBrowser();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('runs a compute kernel through GpuContext', async () => {
    await s.page.goto(`${s.origin}/test/browser/gpu-worker.html`);
    const result = await s.page.evaluate(() => (window as unknown as { __result: Promise<unknown> }).__result);
    expect(result, JSON.stringify(s.console)).toMatchObject({ ok: true, out: [3, 5, 7, 9, 11] });
    expect(externalRequests(s.requests, s.origin)).toEqual([]);
  });
});
