// The benchmark itself, identical in Node and in the browser Worker: the requested sections on one
// GpuContext, failures recorded in place of figures, progress reported as it goes.
import { GpuContext } from '../src/gpu';
import type { EngineSections } from './engine';
import type { MatmulResult } from './matmul';
import { Budget, errorText, round } from './timing';
import type { Rates } from './matmul';
import type { BenchHost, BenchOptions, Failed, Outcome, Skipped } from './types';
import type { VisionResult } from './vision';

// Sections are imported when run, so that one whose code (or the engine's) does not load is
// reported as an error in its place while the others still run.

export interface EnvResult {
  env: 'node' | 'chromium';
  runtime: Record<string, unknown>;
  adapter?: {
    vendor: string;
    architecture: string;
    description: string;
    features: Record<string, boolean>;
    limits: Record<string, number>;
  };
  sections: {
    matmul?: Outcome<MatmulResult>;
    step?: EngineSections['step'];
    decode?: EngineSections['decode'];
    vision?: VisionResult | Skipped | Failed;
  };
  seconds: number;
}

const LIMIT_KEYS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
] as const;

export async function runBench(host: BenchHost, opts: BenchOptions): Promise<EnvResult> {
  const t0 = performance.now();
  const out: EnvResult = { env: host.env, runtime: host.runtime(), sections: {}, seconds: 0 };
  const want = (s: string) => (opts.only as string[]).includes(s);
  const secs = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
  // The time budget is shared out by weight among the sections still to run.
  const budget = new Budget(opts.budgetSeconds);
  const deferOrt = host.deferOrt && want('matmul');
  const weights: Record<string, number> = { matmul: deferOrt ? 3 : 4.5, engine: 4.5, vision: 1, ort: 1.5 };
  const pending = new Set(
    [want('matmul') && 'matmul', (want('step') || want('decode')) && 'engine', want('vision') && 'vision', deferOrt && 'ort'].filter(
      (x): x is string => !!x,
    ),
  );
  const sectionBudget = (name: string): Budget => {
    const total = [...pending].reduce((a, k) => a + weights[k], 0);
    const b = budget.share(weights[name] / total);
    pending.delete(name);
    if (!b.unlimited) host.progress(`${name}: ${b.remaining().toFixed(0)} s of the time budget`);
    return b;
  };
  const rates: Rates = {};

  // One device for the whole run: in Node, tearing down a Dawn device while another one works
  // has crashed SwiftShader (futex abort, segfault), so the sections share this context.
  let ctx: GpuContext | null = null;
  let noDevice = '';
  try {
    ctx = await GpuContext.create();
    const limits: Record<string, number> = {};
    for (const k of LIMIT_KEYS) limits[k] = ctx.limits[k];
    out.adapter = { ...ctx.adapterInfo, features: { ...ctx.features }, limits };
  } catch (e) {
    noDevice = errorText(e);
    host.progress(`no WebGPU device (${noDevice})`);
  }
  const gpu = (): GpuContext => {
    if (!ctx) throw new Error(`no WebGPU device: ${noDevice}`);
    if (ctx.isLost) throw new Error('the WebGPU device was lost in an earlier section');
    ctx.resetPeak();
    return ctx;
  };

  try {
    if (want('matmul')) {
      const ts = performance.now();
      host.progress(`matmul ...`);
      try {
        const { benchMatmul } = await import('./matmul');
        out.sections.matmul = await benchMatmul(host, gpu(), opts, sectionBudget('matmul'), rates, deferOrt);
      } catch (e) {
        out.sections.matmul = { error: errorText(e) };
      }
      host.progress(`matmul done in ${secs(ts)} s: ${JSON.stringify(out.sections.matmul)}`);
    }
    if (want('step') || want('decode')) {
      const ts = performance.now();
      host.progress(`${want('step') ? 'step' : ''}${want('step') && want('decode') ? ' + ' : ''}${want('decode') ? 'decode' : ''} ...`);
      try {
        const { benchEngine } = await import('./engine');
        const r = await benchEngine(host, gpu(), opts, { step: want('step'), decode: want('decode') }, sectionBudget('engine'), rates);
        if (want('step')) out.sections.step = r.step;
        if (want('decode')) out.sections.decode = r.decode;
      } catch (e) {
        const err = { error: errorText(e) };
        if (want('step')) out.sections.step = err;
        if (want('decode')) out.sections.decode = err;
      }
      host.progress(`engine sections done in ${secs(ts)} s: ${JSON.stringify({ step: out.sections.step, decode: out.sections.decode })}`);
    }
    if (want('vision')) {
      const ts = performance.now();
      host.progress(`vision ...`);
      try {
        const { benchVision } = await import('./vision');
        out.sections.vision = await benchVision(host, opts, sectionBudget('vision'));
      } catch (e) {
        out.sections.vision = { error: errorText(e) };
      }
      host.progress(`vision done in ${secs(ts)} s: ${JSON.stringify(out.sections.vision)}`);
    }
    const mm = out.sections.matmul;
    if (deferOrt && mm && 'shapes' in mm) {
      const ts = performance.now();
      host.progress(`matmul (ORT, timed last) ...`);
      try {
        const { benchMatmulOrt } = await import('./matmul');
        await benchMatmulOrt(host, mm, opts, sectionBudget('ort'), rates);
      } catch (e) {
        for (const s of mm.shapes) s.ort = { error: errorText(e) };
      }
      host.progress(`matmul (ORT) done in ${secs(ts)} s: ${JSON.stringify(mm.geomeanRatio)}`);
    }
  } finally {
    ctx?.destroy();
  }
  out.seconds = round((performance.now() - t0) / 1000, 1);
  return out;
}
