// Section `matmul`: GFLOP/s of our linearForward (f32 and bf16 weights) against onnxruntime-web's
// WebGPU MatMul on the same products, timed the same way, outputs checked against a CPU dot product.
import type { GpuContext } from '../src/gpu';
import { SPLIT_K_FLOATS } from '../src/engine/kernels/linear';
import { bf16ToF32, f32ToBf16 } from '../src/util/dtype';
import { Rng } from '../src/util/rng';
import { createOrtMatmul } from './ort';
import { Budget, errorText, measure, round } from './timing';
import {
  isMeasured,
  type BenchHost,
  type BenchOptions,
  type Failed,
  type Figure,
  type OrtModule,
  type Outcome,
  type Skipped,
} from './types';

export interface MatmulShape {
  IN: number;
  OUT: number;
}

/** The decoder's linear layers (q/o, k/v, gate/up, down) and the lm_head, at T = 256 tokens. */
export const DEFAULT_MATMUL = {
  T: 256,
  shapes: [
    { IN: 576, OUT: 576 },
    { IN: 576, OUT: 192 },
    { IN: 576, OUT: 1536 },
    { IN: 1536, OUT: 576 },
    { IN: 576, OUT: 49280 },
  ] as MatmulShape[],
};

export const TINY_MATMUL = {
  T: 37,
  shapes: [
    { IN: 72, OUT: 40 },
    { IN: 40, OUT: 1000 },
  ] as MatmulShape[],
};

export interface OutputCheck {
  /** Entries compared with a float64 dot product of the same inputs. */
  entries: number;
  /** max |gpu - cpu| / max(|cpu|, 1). */
  maxError: number;
  ok: boolean;
}

export interface MatmulVariant {
  speed: Figure; // GFLOP/s
  check: OutputCheck;
  /** ORT only: where it kept the input and output tensors. */
  io?: { input: string; output: string };
  /** The untimed warm-up: a full product, or (ours, long products) a 1-row one. */
  warmup: 'full' | 'one row';
}

export interface MatmulShapeResult {
  T: number;
  IN: number;
  OUT: number;
  gflop: number;
  ours: { f32: Outcome<MatmulVariant>; bf16: Outcome<MatmulVariant> };
  ort: Outcome<MatmulVariant>;
  /** GFLOP/s ours / GFLOP/s ORT, both from this run (> 1: ours faster). */
  ratioOursOverOrt: { f32?: number; bf16?: number };
}

export interface MatmulResult {
  T: number;
  method: string;
  shapes: MatmulShapeResult[];
  /** ORT was timed after the other sections (Node: its session keeps a CPU core busy afterwards). */
  ortTimedLast?: boolean;
  /** Geometric mean of the per-shape ratios, over the shapes where both were measured. */
  geomeanRatio: { f32?: { value: number; shapes: number }; bf16?: { value: number; shapes: number } };
}

const CHECK_TOL = 1e-3;
/** Our warm-up is a full product unless one is expected to take longer than this (seconds). */
const LONG_WARMUP_S = 5;

/** A few (row, col) pairs: the corners plus pseudo-random ones. */
function checkPoints(T: number, OUT: number, count = 16): [number, number][] {
  const rng = new Rng(99);
  const pts: [number, number][] = [
    [0, 0],
    [T - 1, OUT - 1],
    [0, OUT - 1],
    [T - 1, 0],
  ];
  while (pts.length < count) pts.push([rng.int(T), rng.int(OUT)]);
  return pts;
}

/** Compares out[t, o] with sum_i x[t, i] w[o, i] (w [OUT, IN] as the kernel takes it). */
export function checkOutput(out: Float32Array, x: Float32Array, w: Float32Array, T: number, IN: number, OUT: number): OutputCheck {
  let maxError = 0;
  const pts = checkPoints(T, OUT);
  for (const [t, o] of pts) {
    let ref = 0;
    for (let i = 0; i < IN; i++) ref += x[t * IN + i] * w[o * IN + i];
    const e = Math.abs(out[t * OUT + o] - ref) / Math.max(Math.abs(ref), 1);
    if (!(e <= maxError)) maxError = e; // NaN sticks
  }
  return { entries: pts.length, maxError, ok: maxError <= CHECK_TOL };
}

function gflops(T: number, IN: number, OUT: number, ms: number): number {
  return (2 * T * IN * OUT) / (ms * 1e6);
}

type LinearForward = typeof import('../src/engine/kernels/linear').linearForward;

async function loadLinear(): Promise<LinearForward | Skipped> {
  try {
    const mod = await import('../src/engine/kernels/linear');
    if (typeof mod.linearForward !== 'function') return { skipped: 'src/engine/kernels/linear.ts has no linearForward export' };
    return mod.linearForward;
  } catch (e) {
    return { skipped: `src/engine/kernels/linear.ts could not be loaded (${errorText(e)})` };
  }
}

async function oursVariant(
  ctx: GpuContext,
  linearForward: LinearForward,
  dtype: 'f32' | 'bf16',
  x: Float32Array,
  w: Float32Array,
  T: number,
  IN: number,
  OUT: number,
  opts: BenchOptions,
  budgetMs: number | undefined,
  warmup: 'full' | 'one row',
): Promise<MatmulVariant> {
  const wData = dtype === 'bf16' ? f32ToBf16(w) : w;
  const wEff = dtype === 'bf16' ? bf16ToF32(wData as Uint16Array) : w;
  const bufs: GPUBuffer[] = [];
  try {
    const wb = ctx.createBufferFrom(`bench W ${dtype} [${OUT}, ${IN}]`, wData);
    bufs.push(wb);
    const xb = ctx.createBufferFrom(`bench X [${T}, ${IN}]`, x);
    bufs.push(xb);
    const yb = ctx.createBuffer(`bench Y [${T}, ${OUT}]`, T * OUT * 4);
    bufs.push(yb);
    // The engine plans one split-K scratch and passes it to every product; so does the bench.
    const splitK = ctx.createBuffer('bench split-K partials', SPLIT_K_FLOATS * 4);
    bufs.push(splitK);
    const weight = { buffer: wb, dtype };
    // Warm-up: one full product; or, when that would take long (a minute on a CPU adapter), a
    // 1-row product through the same pipeline and bindings. SwiftShader then still spends ~1 s
    // more on the first full product, which stays in the timing (against us, by a few %).
    linearForward(ctx, yb, xb, weight, warmup === 'full' ? T : 1, IN, OUT, { splitK });
    await ctx.sync();
    const t = await measure(
      async (n) => {
        for (let i = 0; i < n; i++) {
          linearForward(ctx, yb, xb, weight, T, IN, OUT, { splitK });
          ctx.flush(); // one submit per product, as ORT does per run
        }
        await ctx.sync();
      },
      { ...opts, noWarmup: true, budgetMs },
    );
    const check = checkOutput(await ctx.readF32(yb, T * OUT), x, wEff, T, IN, OUT);
    return {
      speed: {
        value: round(gflops(T, IN, OUT, t.msPerIteration)),
        unit: 'GFLOP/s',
        iterations: t.iterations,
        msPerIteration: round(t.msPerIteration),
      },
      check,
      warmup,
    };
  } finally {
    ctx.flush();
    for (const b of bufs) ctx.destroyBuffer(b);
  }
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** GFLOP/s seen so far per implementation, to tell whether the next product fits the budget. */
export interface Rates {
  f32?: number;
  bf16?: number;
  ort?: number;
}

/**
 * GFLOP/s of our bf16 linear layers on this device: from the matmul section when it ran, else
 * timed here on one [256, 576] x [576, 1536] product (after a 1-row warm-up). The step and
 * decode sections plan their time from it.
 */
export async function linearRate(ctx: GpuContext, rates: Rates): Promise<number> {
  if (rates.bf16) return rates.bf16;
  const linearForward = await loadLinear();
  if (typeof linearForward !== 'function') throw new Error(linearForward.skipped);
  const [T, IN, OUT] = [256, 576, 1536];
  const x = ctx.createBuffer('calibration X', T * IN * 4);
  const w = ctx.createBuffer('calibration W', IN * OUT * 2);
  const y = ctx.createBuffer('calibration Y', T * OUT * 4);
  const splitK = ctx.createBuffer('calibration split-K partials', SPLIT_K_FLOATS * 4);
  try {
    const weight = { buffer: w, dtype: 'bf16' as const };
    linearForward(ctx, y, x, weight, 1, IN, OUT, { splitK });
    await ctx.sync();
    const t0 = performance.now();
    linearForward(ctx, y, x, weight, T, IN, OUT, { splitK });
    await ctx.sync();
    rates.bf16 = (2 * T * IN * OUT) / ((performance.now() - t0) * 1e6);
    return rates.bf16;
  } finally {
    for (const b of [x, w, y, splitK]) ctx.destroyBuffer(b);
  }
}

/** X [T, IN] ~ N(0, 1) and W [OUT, IN] ~ N(0, 1/IN) of shape number `i`, the same on every call. */
function shapeData(seed: number, i: number, T: number, IN: number, OUT: number): { x: Float32Array; w: Float32Array } {
  const rng = new Rng(seed * 1000 + i);
  const x = new Float32Array(T * IN);
  rng.fillNormal(x);
  const w = new Float32Array(OUT * IN);
  rng.fillNormal(w);
  const s = 1 / Math.sqrt(IN);
  for (let k = 0; k < w.length; k++) w[k] *= s;
  return { x, w };
}

/** Skips a variant whose minimum runs (GFLOP / best rate so far) would overrun the budget. */
function overBudget(budget: Budget, gflop: number, rate: number | undefined, runs: number): Skipped | null {
  if (budget.unlimited || !rate) return null;
  const need = (runs * gflop) / rate;
  return budget.fits(need)
    ? null
    : {
        skipped: `needs about ${need.toFixed(0)} s (${runs} x ${gflop.toFixed(2)} GFLOP at ${rate.toFixed(3)} GFLOP/s seen on smaller products), over the ${budget.remaining().toFixed(0)} s left of this section's time budget; raise --budget-minutes`,
      };
}

const budgetMs = (budget: Budget) => (budget.unlimited ? undefined : budget.remaining() * 1000);

/**
 * Our kernel on every shape, and ORT's right after ours on each shape unless `deferOrt`: then
 * benchMatmulOrt() adds ORT later (in Node, an ORT WebGPU session keeps a CPU core busy for the
 * rest of the process, which would slow everything timed after it).
 */
export async function benchMatmul(
  host: BenchHost,
  ctx: GpuContext,
  opts: BenchOptions,
  budget: Budget = new Budget(0),
  rates: Rates = {},
  deferOrt = false,
): Promise<MatmulResult> {
  const spec = opts.profile === 'tiny' ? TINY_MATMUL : DEFAULT_MATMUL;
  const { T } = spec;
  const linear = await loadLinear();
  const shapes: MatmulShapeResult[] = [];
  const ortState = { ort: deferOrt ? null : await loadOrt(host) };
  for (const [i, { IN, OUT }] of spec.shapes.entries()) {
    const label = `matmul ${T}x${IN}->${OUT}`;
    const gflop = (2 * T * IN * OUT) / 1e9;
    const { x, w } = shapeData(opts.seed, i, T, IN, OUT);
    const r: MatmulShapeResult = {
      T,
      IN,
      OUT,
      gflop: round(gflop, 4),
      ours: { f32: { skipped: 'not run' }, bf16: { skipped: 'not run' } },
      ort: { skipped: deferOrt ? 'not run yet' : 'not run' },
      ratioOursOverOrt: {},
    };
    const runOurs = async (dtype: 'f32' | 'bf16') => {
      if (!(typeof linear === 'function')) {
        r.ours[dtype] = linear;
        return;
      }
      const rate0 = rates[dtype];
      const warmup = rate0 === undefined || gflop / rate0 < LONG_WARMUP_S ? 'full' : 'one row';
      const skip = overBudget(budget, gflop, rate0, warmup === 'full' ? 2 : 1);
      if (skip) r.ours[dtype] = skip;
      else {
        try {
          const v = await oursVariant(ctx, linear, dtype, x, w, T, IN, OUT, opts, budgetMs(budget), warmup);
          r.ours[dtype] = v;
          rates[dtype] = Math.max(rates[dtype] ?? 0, gflop / (v.speed.msPerIteration! / 1000));
        } catch (e) {
          r.ours[dtype] = { error: errorText(e) };
        }
      }
      host.progress(`${label} ours ${dtype}: ${describe(r.ours[dtype])}`);
    };
    // The f32 pair first: when time runs short, the main comparison is the one kept.
    await runOurs('f32');
    if (ortState.ort) await runOrt(host, ortState, r, x, w, opts, budget, rates);
    await runOurs('bf16');
    setRatios(host, r);
    shapes.push(r);
  }
  return { T, method: METHOD, shapes, geomeanRatio: geomeans(shapes) };
}

/** Adds ORT's figures (and the ratios) to a result made with `deferOrt`. */
export async function benchMatmulOrt(
  host: BenchHost,
  result: MatmulResult,
  opts: BenchOptions,
  budget: Budget = new Budget(0),
  rates: Rates = {},
): Promise<MatmulResult> {
  const ortState = { ort: await loadOrt(host) };
  for (const [i, r] of result.shapes.entries()) {
    const { x, w } = shapeData(opts.seed, i, r.T, r.IN, r.OUT);
    await runOrt(host, ortState, r, x, w, opts, budget, rates);
    setRatios(host, r);
  }
  result.geomeanRatio = geomeans(result.shapes);
  result.method += '; ORT timed after every other section of this environment (see ortTimedLast)';
  result.ortTimedLast = true;
  return result;
}

async function loadOrt(host: BenchHost): Promise<OrtModule | Skipped | Failed> {
  return host.ortWebGpu().catch((e): Failed => ({ error: `onnxruntime-web could not be loaded: ${errorText(e)}` }));
}

async function runOrt(
  host: BenchHost,
  state: { ort: OrtModule | Skipped | Failed | null },
  r: MatmulShapeResult,
  x: Float32Array,
  w: Float32Array,
  opts: BenchOptions,
  budget: Budget,
  rates: Rates,
): Promise<void> {
  const ort = state.ort;
  const { T, IN, OUT } = r;
  const gflop = (2 * T * IN * OUT) / 1e9;
  if (!ort) return;
  if ('skipped' in ort || 'error' in ort) r.ort = ort;
  else {
    const skip = overBudget(budget, gflop, rates.ort, 2); // its warm-up is a full run
    if (skip) r.ort = skip;
    else {
      let session: Awaited<ReturnType<typeof createOrtMatmul>> | null = null;
      try {
        session = await createOrtMatmul(ort, T, IN, OUT, x, transpose(w, OUT, IN));
        const s = session;
        const t = await measure((n) => s.run(n), { ...opts, budgetMs: budgetMs(budget) });
        const check = checkOutput(await session.read(), x, w, T, IN, OUT);
        const value = gflops(T, IN, OUT, t.msPerIteration);
        r.ort = {
          speed: { value: round(value), unit: 'GFLOP/s', iterations: t.iterations, msPerIteration: round(t.msPerIteration) },
          check,
          io: { ...session.io },
          warmup: 'full',
        };
        rates.ort = Math.max(rates.ort ?? 0, value);
      } catch (e) {
        r.ort = { error: `onnxruntime-web webgpu MatMul: ${errorText(e)}` };
        // A failure to even create a session will repeat for every shape.
        if (!session) state.ort = r.ort as Failed;
      } finally {
        await session?.release().catch(() => undefined);
      }
    }
  }
  host.progress(`matmul ${T}x${IN}->${OUT} ORT webgpu: ${describe(r.ort)}`);
}

function setRatios(host: BenchHost, r: MatmulShapeResult): void {
  for (const dtype of ['f32', 'bf16'] as const) {
    const a = r.ours[dtype];
    if (isMeasured(a) && isMeasured(r.ort) && a.check.ok && r.ort.check.ok)
      r.ratioOursOverOrt[dtype] = round(a.speed.value / r.ort.speed.value);
  }
  if (r.ratioOursOverOrt.f32 !== undefined || r.ratioOursOverOrt.bf16 !== undefined)
    host.progress(`matmul ${r.T}x${r.IN}->${r.OUT} ours/ORT: f32 ${r.ratioOursOverOrt.f32}, bf16 ${r.ratioOursOverOrt.bf16}`);
}

function geomeans(shapes: MatmulShapeResult[]): MatmulResult['geomeanRatio'] {
  const geo = (k: 'f32' | 'bf16') => {
    const v = shapes.map((s) => s.ratioOursOverOrt[k]).filter((x): x is number => x !== undefined);
    return v.length > 0 ? { value: round(Math.exp(v.reduce((a, b) => a + Math.log(b), 0) / v.length)), shapes: v.length } : undefined;
  };
  return { f32: geo('f32'), bf16: geo('bf16') };
}

const METHOD =
  "wall clock over N back-to-back products (one submit each), GPU idle before and after; X and Y stay on the GPU for both; an untimed warm-up first (see each figure's warmup)";

function describe(v: Outcome<MatmulVariant>): string {
  if ('skipped' in v) return `skipped (${v.skipped})`;
  if ('error' in v) return `error (${v.error})`;
  return `${v.speed.value} GFLOP/s x${v.speed.iterations} (${v.speed.msPerIteration} ms), check ${v.check.ok ? 'ok' : 'FAILED'} (${v.check.maxError.toExponential(1)})`;
}
