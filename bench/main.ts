// `npm run -s bench [-- --quick] [--only=matmul,step,decode,vision] [--node-only | --browser-only]
//                     [--budget-minutes=15] [--out=bench.json] [--kernel-profile] [--tiny]
//                     [--step-layers=N] [--step-runs=N] [--target-seconds=S] [--min-runs=N] [--max-runs=N]`
// Runs the benchmark in Node (npm `webgpu`, in a child process) and in headless Chromium (a dedicated
// Worker started by a page of the Vite dev server, like the app), then prints ONE JSON document
// on stdout: { machine, options, seconds, node, chromium }. Progress goes to stderr; `-s` keeps
// npm's own banner off stdout, and --out writes the same JSON to a file.
// The run aims to finish within --budget-minutes (default 15; 0: no limit): measurements that
// would not fit are skipped or scaled down, and the JSON says which and why. Options may also come
// from the environment: BENCH_ARGS="--quick ...", or BENCH_QUICK=1, BENCH_ONLY=matmul,step,
// BENCH_NODE_ONLY=1, BENCH_BROWSER_ONLY=1, BENCH_TINY=1.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { useSwiftShaderIfNoDriver } from './node';
import type { EnvResult } from './run';
import { errorText } from './timing';
import { benchOptionsToArgs, cliArgs, parseBenchOptions, type BenchOptions, type Failed, type Skipped } from './types';
import { CHROMIUM, CHROMIUM_ARGS, hasChromium } from '../test/helpers/browser';

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** The Node half in a child process (bench/node-run.ts), so nothing it leaves running slows the rest. */
async function runInNode(opts: BenchOptions): Promise<EnvResult | Failed> {
  const child = spawn(process.execPath, ['node_modules/.bin/vite-node', 'bench/node-run.ts', ...benchOptionsToArgs(opts)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('close', (code, signal) => res({ code, signal })),
  );
  if (code !== 0) return { error: `the Node benchmark process ended with ${signal ?? `exit code ${code}`}` };
  try {
    return JSON.parse(stdout.slice(stdout.indexOf('{'))) as EnvResult;
  } catch (e) {
    return { error: `the Node benchmark process printed no result: ${errorText(e)}` };
  }
}

async function runInChromium(opts: BenchOptions): Promise<{ result: EnvResult | Skipped | Failed; version?: string }> {
  if (!hasChromium) return { result: { skipped: `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)` } };
  const server = await createServer({
    configFile: 'vite.config.ts',
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
    // Pre-bundle what the bench Worker imports, so the dev server does not re-optimise (and
    // invalidate the Worker's modules) halfway through loading it.
    optimizeDeps: { entries: ['bench/bench.html', 'bench/bench-worker.ts'], include: ['protobufjs'] },
  });
  await server.listen();
  const origin = `http://127.0.0.1:${(server.httpServer!.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const version = browser.version();
    const page = await (await browser.newContext()).newPage();
    page.on('console', (m) => {
      const text = m.text();
      if (text.startsWith('[bench] ')) process.stderr.write(`[bench] chromium: ${text.slice(8)}\n`);
      else if (m.type() === 'error' || m.type() === 'warning') process.stderr.write(`[bench] chromium console ${m.type()}: ${text}\n`);
    });
    page.on('pageerror', (e) => log(`chromium page error: ${e.message}`));
    page.on('crash', () => log('chromium: the page crashed'));
    const query = benchOptionsToArgs(opts)
      .map((a) => `arg=${encodeURIComponent(a)}`)
      .join('&');
    await page.goto(`${origin}/bench/bench.html?${query}`);
    const msg = (await page.evaluate(() => (window as unknown as { __bench: Promise<unknown> }).__bench)) as
      { type: 'result'; result: EnvResult } | { type: 'error'; error: string };
    return { result: msg.type === 'result' ? msg.result : { error: msg.error }, version };
  } finally {
    await browser.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  const args = cliArgs(process.argv.slice(2), process.env);
  const opts = parseBenchOptions(args);
  const nodeOnly = args.includes('--node-only');
  const browserOnly = args.includes('--browser-only');
  if (nodeOnly && browserOnly) throw new Error('bench: --node-only and --browser-only exclude each other');
  useSwiftShaderIfNoDriver();
  const t0 = performance.now();
  const budgetArg = args.filter((a) => a.startsWith('--budget-minutes=')).pop();
  const budgetMinutes = budgetArg ? Number(budgetArg.slice('--budget-minutes='.length)) : 15;
  if (!(budgetMinutes >= 0)) throw new Error(`bench: --budget-minutes=${budgetArg}: expected a number of minutes >= 0`);
  // Seconds left for the environments still to run, less what starting each of them takes.
  const envBudget = (envsLeft: number): number => {
    if (budgetMinutes === 0) return 0;
    const left = budgetMinutes * 60 - (performance.now() - t0) / 1000 - 20 * envsLeft;
    return Math.max(1, Math.floor(left / envsLeft));
  };
  const loadAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  log(`options ${JSON.stringify(opts)}`);
  let node: EnvResult | Skipped | Failed = { skipped: '--browser-only' };
  if (!browserOnly) {
    try {
      node = await runInNode({ ...opts, budgetSeconds: opts.budgetSeconds || envBudget(nodeOnly ? 1 : 2) });
    } catch (e) {
      node = { error: errorText(e) };
    }
  }
  let chromiumRes: EnvResult | Skipped | Failed = { skipped: '--node-only' };
  let chromiumVersion: string | undefined;
  if (!nodeOnly) {
    try {
      const r = await runInChromium({ ...opts, budgetSeconds: opts.budgetSeconds || envBudget(1) });
      chromiumRes = r.result;
      chromiumVersion = r.version;
    } catch (e) {
      chromiumRes = { error: errorText(e) };
    }
  }
  const adapterOf = (r: EnvResult | Skipped | Failed) => ('env' in r ? r.adapter : undefined);
  const report = {
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      node: process.versions.node,
      chromium: chromiumVersion,
      adapters: { node: adapterOf(node), chromium: adapterOf(chromiumRes) },
      // Other processes share these CPUs (and so the CPU adapter): 1/5/15-minute load averages.
      loadAverage: { start: loadAtStart, end: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    },
    options: { ...opts, budgetMinutes, budgetSeconds: undefined },
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    node,
    chromium: chromiumRes,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  process.stdout.write(json);
  const outArg = args.filter((a) => a.startsWith('--out=')).pop();
  if (outArg) {
    await writeFile(outArg.slice('--out='.length), json);
    log(`written to ${outArg.slice('--out='.length)}`);
  }
}

// Top-level await: vite-node closes its module server once this module has evaluated, and the
// sections are imported lazily.
await main().then(
  () => process.exit(0),
  (e) => {
    log(`failed: ${errorText(e)}`);
    process.exit(1);
  },
);
