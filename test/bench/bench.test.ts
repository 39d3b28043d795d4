// Smoke test of the benchmark on tiny shapes: `npm run bench` (Node child process + headless
// Chromium Worker, the same measurement code) returns well-formed JSON whose correctness checks
// pass. No timing assertions: only that figures are finite and positive.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TINY_SHAPE } from '../../bench/engine';
import { checkOutput, TINY_MATMUL } from '../../bench/matmul';
import type { EnvResult } from '../../bench/run';
import { BenchOptionsError, benchOptionsToArgs, cliArgs, parseBenchOptions, type BenchOptions, type Figure } from '../../bench/types';
import { hasChromium } from '../helpers/browser';

const FAST = ['--tiny', '--quick', '--target-seconds=0.05', '--max-runs=3'];

function expectFigure(f: Figure | undefined, unit: string): void {
  expect(f, `figure in ${unit}`).toBeDefined();
  expect(f!.unit).toBe(unit);
  expect(Number.isFinite(f!.value) && f!.value > 0, `${unit} value ${f!.value}`).toBe(true);
  expect(Number.isInteger(f!.iterations) && f!.iterations >= 1).toBe(true);
}

/** The shape every environment's result must have on the tiny profile, all sections run. */
function expectWellFormed(r: EnvResult, env: 'node' | 'chromium'): void {
  expect(r.env).toBe(env);
  expect(r.adapter?.vendor ?? '', 'adapter').not.toBeUndefined();
  const s = r.sections;

  const mm = s.matmul as Extract<EnvResult['sections']['matmul'], { shapes: unknown }>;
  expect(mm, JSON.stringify(s.matmul)).toHaveProperty('shapes');
  expect(mm.shapes.map((x) => [x.IN, x.OUT])).toEqual(TINY_MATMUL.shapes.map((x) => [x.IN, x.OUT]));
  for (const shape of mm.shapes) {
    for (const dtype of ['f32', 'bf16'] as const) {
      const v = shape.ours[dtype];
      expect(v, `ours ${dtype} ${JSON.stringify(v)}`).toHaveProperty('speed');
      if ('speed' in v) {
        expectFigure(v.speed, 'GFLOP/s');
        expect(v.check.ok, `ours ${dtype} check ${v.check.maxError}`).toBe(true);
      }
    }
    // ORT may be unavailable on some platforms, but then it must say why.
    const o = shape.ort;
    if ('speed' in o) {
      expectFigure(o.speed, 'GFLOP/s');
      expect(o.check.ok, `ORT check ${o.check.maxError}`).toBe(true);
      expect(shape.ratioOursOverOrt.f32).toBeGreaterThan(0);
      expect(shape.ratioOursOverOrt.bf16).toBeGreaterThan(0);
    } else expect(JSON.stringify(o)).toMatch(/skipped|error/);
  }

  const st = s.step as Extract<EnvResult['sections']['step'], { step: unknown }>;
  expect(st, JSON.stringify(s.step)).toHaveProperty('step');
  expectFigure(st.step, 'ms');
  for (const k of ['forward', 'loss', 'backward', 'optimizer'] as const) expectFigure(st.phases[k], 'ms');
  expect(st.passes, JSON.stringify(st.passes)).toHaveProperty('reference');
  if ('reference' in st.passes) {
    expectFigure(st.passes.reference, 'ms');
    expectFigure(st.passes.noisy, 'ms');
  }
  // The tiny decoder fits any budget: its full depth is timed, nothing estimated.
  expect(st.step.estimate).toBeUndefined();
  expect(st.runs.map((r) => r.layers)).toEqual([st.shape.layers]);
  expectFigure(st.tokensPerSecond, 'tokens/s');
  expectFigure(st.stepsPerSecond, 'POVID steps/s');
  expect(st.peakGpuBytes).toBeGreaterThan(0);
  expect(st.peakGpuBytes).toBeGreaterThanOrEqual(st.memory.weights + st.memory.activations);
  expect(Number.isFinite(st.runs[0].loss)).toBe(true);

  const de = s.decode as Extract<EnvResult['sections']['decode'], { decodeTokensPerSecond: unknown }>;
  expect(de, JSON.stringify(s.decode)).toHaveProperty('decodeTokensPerSecond');
  expectFigure(de.decodeTokensPerSecond, 'tokens/s');
  expectFigure(de.prefill, 'ms');
  expect(de.tokensGenerated).toBe(TINY_SHAPE.newTokens);
  // The tiny profile fits the budget: the engine's batch of sequences is timed too.
  expect(de.batched, JSON.stringify(de)).toBeDefined();
  expect(de.batched!.sequences).toBe(2);
  expectFigure(de.batched!.tokensPerSecond, 'tokens/s');
  expect(de.batched!.speedupOverOne).toBeGreaterThan(0);

  const vi = s.vision as Extract<EnvResult['sections']['vision'], { providers: unknown }>;
  expect(vi, JSON.stringify(s.vision)).toHaveProperty('providers');
  const wasm = vi.providers.wasm;
  expect(wasm && 'perImage' in wasm, JSON.stringify(wasm)).toBe(true);
  if (wasm && 'perImage' in wasm) expectFigure(wasm.perImage, 'ms/image');
  if (env === 'chromium') {
    const gpu = vi.providers.webgpu;
    expect(gpu && 'perImage' in gpu, JSON.stringify(gpu)).toBe(true);
    expect(vi.maxAbsDiffWebgpuVsWasm).toBeLessThan(1e-3);
  }

  // Plain JSON: survives a round trip unchanged.
  expect(JSON.parse(JSON.stringify(r))).toEqual(r);
}

function expectProfile(r: EnvResult): void {
  const prof = (
    r.sections.step as { kernelProfile?: { replayed: number; dispatches: number; kernels: { kernel: string; dispatches: number }[] } }
  ).kernelProfile;
  expect(prof, JSON.stringify(prof)).toHaveProperty('kernels');
  expect(prof!.replayed).toBeGreaterThan(10);
  expect(prof!.replayed).toBeLessThanOrEqual(prof!.dispatches);
  expect(prof!.kernels.reduce((a, k) => a + k.dispatches, 0)).toBe(prof!.replayed);
  expect(prof!.kernels.every((k) => !k.kernel.startsWith('unknown'))).toBe(true);
}

describe('bench options', () => {
  it('reads flags and rejects unknown sections', () => {
    const o = parseBenchOptions(['--quick', '--only=matmul,decode', '--tiny', '--step-runs=3']);
    expect(o).toMatchObject({
      quick: true,
      profile: 'tiny',
      only: ['matmul', 'decode'],
      minRuns: 1,
      stepRuns: 3,
      kernelProfile: false,
    } satisfies Partial<BenchOptions>);
    // The page gets the options as flags: they must come back the same.
    expect(parseBenchOptions(benchOptionsToArgs({ ...o, kernelProfile: true, budgetSeconds: 99 }))).toEqual({
      ...o,
      kernelProfile: true,
      budgetSeconds: 99,
    });
    expect(o.targetSeconds).toBeLessThan(parseBenchOptions([]).targetSeconds);
    expect(() => parseBenchOptions(['--only=matmul,nope'])).toThrow(BenchOptionsError);
    expect(() => parseBenchOptions(['--min-runs=0'])).toThrow(/min-runs/);
  });

  it('takes options from the environment, argv winning', () => {
    expect(cliArgs(['--only=step'], { BENCH_QUICK: '1', BENCH_ONLY: 'matmul', BENCH_NODE_ONLY: 'true' })).toEqual([
      '--quick',
      '--node-only',
      '--only=matmul',
      '--only=step',
    ]);
    expect(parseBenchOptions(cliArgs(['--only=step'], { BENCH_ONLY: 'matmul' })).only).toEqual(['step']);
    expect(cliArgs([], { BENCH_QUICK: '0' })).toEqual([]);
  });
});

describe('matmul output check', () => {
  it('passes a correct product and catches a wrong entry', () => {
    const T = 5;
    const IN = 7;
    const OUT = 6;
    const x = Float32Array.from({ length: T * IN }, (_, i) => Math.sin(i));
    const w = Float32Array.from({ length: OUT * IN }, (_, i) => Math.cos(i));
    const y = new Float32Array(T * OUT);
    for (let t = 0; t < T; t++) for (let o = 0; o < OUT; o++) for (let i = 0; i < IN; i++) y[t * OUT + o] += x[t * IN + i] * w[o * IN + i];
    expect(checkOutput(y, x, w, T, IN, OUT).ok).toBe(true);
    y[(T - 1) * OUT + OUT - 1] += 0.01; // a corner is always among the checked entries
    const bad = checkOutput(y, x, w, T, IN, OUT);
    expect(bad.ok).toBe(false);
    expect(bad.maxError).toBeGreaterThan(1e-3);
  });
});

describe('bench on tiny shapes', () => {
  // `npm run bench` end to end: the Node half in its child process, the Chromium half in the
  // page's Worker; every section, and the kernel profile of a step.
  it('prints one JSON document with Node and Chromium results (npm run bench -- --tiny)', async () => {
    const args = ['vite-node', 'bench/main.ts', ...FAST, '--kernel-profile', ...(hasChromium ? [] : ['--node-only'])];
    const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code, stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(stdout);
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['machine', 'options', 'node', 'chromium']));
    expect(report.machine.adapters.node.vendor).toBeTypeOf('string');
    expectWellFormed(report.node, 'node');
    expectProfile(report.node);
    // Node times ORT last (its session keeps a core busy); the ratios are still filled in.
    expect(report.node.sections.matmul.ortTimedLast).toBe(true);
    expect(stderr).toContain('[bench] node:');
    if (hasChromium) {
      expect(report.machine.chromium).toMatch(/^\d+\./);
      expectWellFormed(report.chromium, 'chromium');
      expectProfile(report.chromium);
      expect(report.chromium.runtime.context).toBe('dedicated Worker');
      expect(stderr).toContain('[bench] chromium:');
    }
  }, 600_000);
});
