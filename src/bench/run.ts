// The benchmark itself, identical in Node and in the browser Worker: each requested section on a
// fresh GpuContext, failures recorded in place of figures, progress reported as it goes.
import { GpuContext } from '../gpu';
import type { EngineSections } from './engine';
import type { MatmulResult } from './matmul';
import { errorText, round } from './timing';
import type { BenchHost, BenchOptions, Failed, Outcome, Skipped } from './types';
import type { VisionResult } from './vision';

// Sections are imported when run, so that one whose code (or the engine's) does not load is
// reported as an error in its place while the others still run.

export interface EnvResult {
  env: 'node' | 'chromium';
  runtime: Record<string, unknown>;
  adapter?: { vendor: string; architecture: string; description: string; features: Record<string, boolean>; limits: Record<string, number> };
  sections: {
    matmul?: Outcome<MatmulResult>;
    step?: EngineSections['step'];
    decode?: EngineSections['decode'];
    vision?: VisionResult | Skipped | Failed;
  };
  seconds: number;
}

async function withContext<T>(fn: (ctx: GpuContext) => Promise<T>): Promise<T> {
  const ctx = await GpuContext.create();
  try {
    return await fn(ctx);
  } finally {
    ctx.destroy();
  }
}

const LIMIT_KEYS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage'] as const;

export async function runBench(host: BenchHost, opts: BenchOptions): Promise<EnvResult> {
  const t0 = performance.now();
  const out: EnvResult = { env: host.env, runtime: host.runtime(), sections: {}, seconds: 0 };
  const want = (s: string) => (opts.only as string[]).includes(s);
  const section = async <K extends keyof EnvResult['sections']>(name: K, fn: () => Promise<NonNullable<EnvResult['sections'][K]>>) => {
    const ts = performance.now();
    host.progress(`${host.env}: ${name} ...`);
    try {
      out.sections[name] = await fn();
    } catch (e) {
      out.sections[name] = { error: errorText(e) } as EnvResult['sections'][K];
    }
    host.progress(`${host.env}: ${name} done in ${((performance.now() - ts) / 1000).toFixed(1)} s: ${JSON.stringify(out.sections[name])}`);
  };
  try {
    await withContext(async (ctx) => {
      const limits: Record<string, number> = {};
      for (const k of LIMIT_KEYS) limits[k] = ctx.limits[k];
      out.adapter = { ...ctx.adapterInfo, features: { ...ctx.features }, limits };
    });
  } catch (e) {
    host.progress(`${host.env}: no WebGPU device (${errorText(e)})`);
  }
  if (want('matmul')) await section('matmul', async () => {
      const { benchMatmul } = await import('./matmul');
      return withContext((ctx) => benchMatmul(host, ctx, opts));
    });
  if (want('step') || want('decode')) {
    const ts = performance.now();
    host.progress(`${host.env}: ${[want('step') && 'step', want('decode') && 'decode'].filter(Boolean).join(' + ')} ...`);
    try {
      const { benchEngine } = await import('./engine');
      const r = await withContext((ctx) => benchEngine(host, ctx, opts, { step: want('step'), decode: want('decode') }));
      if (want('step')) out.sections.step = r.step;
      if (want('decode')) out.sections.decode = r.decode;
    } catch (e) {
      const err = { error: errorText(e) };
      if (want('step')) out.sections.step = err;
      if (want('decode')) out.sections.decode = err;
    }
    host.progress(`${host.env}: engine sections done in ${((performance.now() - ts) / 1000).toFixed(1)} s: ${JSON.stringify({ step: out.sections.step, decode: out.sections.decode })}`);
  }
  if (want('vision')) await section('vision', async () => (await import('./vision')).benchVision(host, opts));
  out.seconds = round((performance.now() - t0) / 1000, 1);
  return out;
}
