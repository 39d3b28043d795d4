// Shapes of the benchmark's options and results, shared by Node, the bench Worker and the CLI.
import type * as Ort from 'onnxruntime-web';

export const SECTIONS = ['matmul', 'step', 'decode', 'vision'] as const;
export type SectionName = (typeof SECTIONS)[number];

/** One measured number: value in `unit`, averaged over `iterations` timed runs (warm-up excluded). */
export interface Figure {
  value: number;
  unit: string;
  iterations: number;
  /** Wall-clock milliseconds per iteration (sync before and after, divided by the count). */
  msPerIteration?: number;
  /** Present when the value is derived rather than timed directly: how it was derived. */
  estimate?: string;
}

/** A section or figure that could not be measured here, and why. */
export interface Skipped {
  skipped: string;
}

/** A section or figure that threw; the message says where. */
export interface Failed {
  error: string;
}

export type Outcome<T> = T | Skipped | Failed;

export function isMeasured<T extends object>(x: Outcome<T> | undefined): x is T {
  return !!x && !('skipped' in x) && !('error' in x);
}

export interface BenchOptions {
  /** 'default': the shapes the brief names (SmolVLM-256M decoder); 'tiny': seconds-long smoke run. */
  profile: 'default' | 'tiny';
  /** Fewer iterations (shorter target time, a single run allowed). */
  quick: boolean;
  only: SectionName[];
  /** Seconds of timed work aimed at per measurement (more iterations for fast figures). */
  targetSeconds: number;
  /** Fewest timed iterations per measurement. */
  minRuns: number;
  /** Most timed iterations per measurement. */
  maxRuns: number;
  /** Timed POVID steps (each one is minutes on a CPU adapter at the default shape). */
  stepRuns: number;
  /**
   * Decoder layers of the timed step: 0 = automatic (all of them when the estimate fits the time
   * budget, else steps of 1 and 2 layers of the same widths and a fit in the layer count).
   */
  stepLayers: number;
  /** Also replay one step's dispatches one at a time and report the time per kernel entry point. */
  kernelProfile: boolean;
  /** Seconds this environment may spend (0: no limit); measurements that would not fit are skipped, saying so. */
  budgetSeconds: number;
  seed: number;
}

export const DEFAULT_OPTIONS: BenchOptions = {
  profile: 'default',
  quick: false,
  only: [...SECTIONS],
  targetSeconds: 3,
  minRuns: 2,
  maxRuns: 200,
  stepRuns: 1,
  stepLayers: 0,
  kernelProfile: false,
  budgetSeconds: 0,
  seed: 1234,
};

export class BenchOptionsError extends Error {
  override name = 'BenchOptionsError';
}

/**
 * Options from `--quick`, `--tiny`, `--only=a,b`, `--target-seconds=S`, `--min-runs=N`,
 * `--max-runs=N`, `--step-runs=N`, `--step-layers=N`, `--kernel-profile`, `--env-budget-seconds=S`, `--seed=N`
 * (argv, or the same keys in a URL query), over the defaults.
 */
export function parseBenchOptions(args: readonly string[]): BenchOptions {
  const o: BenchOptions = { ...DEFAULT_OPTIONS, only: [...SECTIONS] };
  const int = (k: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new BenchOptionsError(`bench option --${k}=${v}: expected an integer >= ${min}`);
    return n;
  };
  for (const a of args) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const [, key, value = ''] = m;
    switch (key) {
      case 'quick':
        o.quick = true;
        o.targetSeconds = Math.min(o.targetSeconds, 0.5);
        o.minRuns = 1;
        break;
      case 'tiny':
        o.profile = 'tiny';
        break;
      case 'kernel-profile':
        o.kernelProfile = true;
        break;
      case 'only': {
        const names = value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        const bad = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
        if (bad.length || names.length === 0)
          throw new BenchOptionsError(`bench option --only=${value}: sections are ${SECTIONS.join(', ')}`);
        o.only = names as SectionName[];
        break;
      }
      case 'target-seconds': {
        const s = Number(value);
        if (!(s > 0)) throw new BenchOptionsError(`bench option --target-seconds=${value}: expected a positive number`);
        o.targetSeconds = s;
        break;
      }
      case 'min-runs':
        o.minRuns = int(key, value, 1);
        break;
      case 'max-runs':
        o.maxRuns = int(key, value, 1);
        break;
      case 'step-runs':
        o.stepRuns = int(key, value, 1);
        break;
      case 'step-layers':
        o.stepLayers = int(key, value, 1);
        break;
      case 'env-budget-seconds':
        o.budgetSeconds = int(key, value, 0);
        break;
      case 'seed':
        o.seed = int(key, value, 0);
        break;
      default:
        break; // runner flags (--node-only, --browser-only) are read by the CLI
    }
  }
  if (o.maxRuns < o.minRuns) o.maxRuns = o.minRuns;
  return o;
}

/**
 * The CLI's flags: BENCH_ARGS="--quick ...", BENCH_QUICK=1, BENCH_TINY=1, BENCH_NODE_ONLY=1,
 * BENCH_BROWSER_ONLY=1, BENCH_ONLY=matmul,step from the environment, then argv (which wins).
 */
export function cliArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] {
  const args = (env.BENCH_ARGS ?? '').split(/\s+/).filter(Boolean);
  const flag = (name: string, v: string | undefined) => {
    if (v && v !== '0' && v !== 'false') args.push(`--${name}`);
  };
  flag('quick', env.BENCH_QUICK);
  flag('tiny', env.BENCH_TINY);
  flag('node-only', env.BENCH_NODE_ONLY);
  flag('browser-only', env.BENCH_BROWSER_ONLY);
  if (env.BENCH_ONLY) args.push(`--only=${env.BENCH_ONLY}`);
  return [...args, ...argv];
}

/** The options as argv-style flags (to hand them to the browser page in its URL). */
export function benchOptionsToArgs(o: BenchOptions): string[] {
  const args: string[] = [];
  if (o.profile === 'tiny') args.push('--tiny');
  if (o.quick) args.push('--quick');
  args.push(`--only=${o.only.join(',')}`, `--target-seconds=${o.targetSeconds}`, `--min-runs=${o.minRuns}`, `--max-runs=${o.maxRuns}`);
  args.push(`--step-runs=${o.stepRuns}`, `--env-budget-seconds=${o.budgetSeconds}`, `--seed=${o.seed}`);
  if (o.stepLayers) args.push(`--step-layers=${o.stepLayers}`);
  if (o.kernelProfile) args.push('--kernel-profile');
  return args;
}

export type OrtModule = typeof Ort;

/** What differs between Node and the browser Worker; everything else is the same code. */
export interface BenchHost {
  env: 'node' | 'chromium';
  /** onnxruntime-web with its WebGPU execution provider usable here, or why not. */
  ortWebGpu(): Promise<OrtModule | Skipped>;
  /** Time ORT's WebGPU MatMul after every other section (its session slows what runs after it). */
  deferOrt: boolean;
  /** Execution providers the app's VisionEncoder (src/model/vision.ts) can use here. */
  visionProviders: readonly ('webgpu' | 'wasm')[];
  /** Where onnxruntime-web's .wasm files are served (browser), for VisionEncoder. */
  wasmPaths?: string;
  /** A file of public/ (e.g. 'models/tiny/onnx/vision_encoder.onnx'), or null when absent. */
  readPublic(path: string): Promise<Uint8Array | null>;
  /** One line of progress (stderr in Node; forwarded to the CLI's stderr from the browser). */
  progress(line: string): void;
  /** Runtime versions and the like for the report. */
  runtime(): Record<string, unknown>;
}
