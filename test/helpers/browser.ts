// Headless Chromium (Debian's package) driven by playwright-core against a Vite dev server on
// localhost. WebGPU runs on SwiftShader. Every request the page makes is logged so tests can
// assert that nothing leaves localhost.
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-dev-shm-usage',
];

export interface BrowserSession {
  server: ViteDevServer;
  origin: string;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Every URL requested by any page or worker of the context. */
  requests: string[];
  console: string[];
  close(): Promise<void>;
}

export async function startDevServer(): Promise<{ server: ViteDevServer; origin: string }> {
  const server = await createServer({
    configFile: 'vite.config.ts',
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
  });
  await server.listen();
  const addr = server.httpServer!.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${addr.port}` };
}

export async function openBrowser(opts: { downloadsPath?: string } = {}): Promise<BrowserSession> {
  const { server, origin } = await startDevServer();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    downloadsPath: opts.downloadsPath,
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  const consoleLines: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  return {
    server,
    origin,
    browser,
    context,
    page,
    requests,
    console: consoleLines,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** URLs in the log that are not on the dev server's own origin (data:/blob: are local). */
export function externalRequests(requests: string[], origin: string): string[] {
  return requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
}
