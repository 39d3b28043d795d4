// Rotary position embeddings, Llama rotate-half convention (HF `rotate_half`: element i pairs with
// i + HD/2, both at inv_freq[i] = theta^(-2i/HD), angle = position * inv_freq[i]).
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import code from '../../../shaders/rope.wgsl?raw';
import { KernelArgumentError } from '../errors';

const MAX_HD = 256; // the uniform holds 128 frequency pairs

/** x rounded to 8 significant bits (so an integer below 2^16 times it is exact in f32). */
function top8(x: number): number {
  if (x === 0) return 0;
  const step = Math.pow(2, Math.floor(Math.log2(Math.abs(x))) - 7);
  return Math.round(x / step) * step;
}

/**
 * The uniform: N, NH, HD/2, then per pair i the frequency in turns per position (inv_freq / 2pi,
 * computed in float64) split as f1 + f2 + f3, f1 and f2 with 8 significant bits each.
 */
function params(kernel: string, N: number, NH: number, HD: number, theta: number): ArrayBuffer {
  if (!Number.isInteger(HD) || HD <= 0 || HD % 2 !== 0 || HD > MAX_HD)
    throw new KernelArgumentError(kernel, 'head_dim', `${HD} must be an even number of at most ${MAX_HD}`);
  if (!(theta > 0)) throw new KernelArgumentError(kernel, 'theta', `must be positive, got ${theta}`);
  const buf = new ArrayBuffer(16 + 128 * 16);
  const u = new Uint32Array(buf, 0, 4);
  u[0] = N;
  u[1] = NH;
  u[2] = HD / 2;
  const f = new Float32Array(buf, 16);
  for (let i = 0; i < HD / 2; i++) {
    const turns = Math.pow(theta, (-2 * i) / HD) / (2 * Math.PI);
    const f1 = top8(turns);
    const f2 = top8(turns - f1);
    f[4 * i] = f1;
    f[4 * i + 1] = f2;
    f[4 * i + 2] = turns - f1 - f2;
  }
  return buf;
}

function run(
  ctx: GpuContext,
  entry: string,
  out: Binding,
  inp: Binding,
  positions: Binding,
  N: number,
  NH: number,
  HD: number,
  theta: number,
): void {
  const kernel = entry === 'rope_forward' ? 'ropeForward' : 'ropeBackward';
  const u = ctx.uniform(params(kernel, N, NH, HD, theta));
  const groups = grid1d(Math.ceil((N * NH * HD) / 2 / 64));
  if (sameWindow(kernel, out, inp)) ctx.dispatch(ctx.pipeline(code, `${entry}_inplace`), u, [out, positions], groups);
  else ctx.dispatch(ctx.pipeline(code, entry), u, [out, inp, positions], groups);
}

/**
 * Rotates q or k rows: inp, out [N, NH*HD] f32 (out may be inp), positions i32 [N] (absolute
 * positions; angles stay within a few 1e-7 rad of float64 for positions below 65536).
 */
export function ropeForward(
  ctx: GpuContext,
  out: Binding,
  inp: Binding,
  positions: Binding,
  N: number,
  NH: number,
  HD: number,
  theta: number,
): void {
  run(ctx, 'rope_forward', out, inp, positions, N, NH, HD, theta);
}

/** The backward (transpose) of ropeForward: rotation by -angle. dinp may be dout. */
export function ropeBackward(
  ctx: GpuContext,
  dinp: Binding,
  dout: Binding,
  positions: Binding,
  N: number,
  NH: number,
  HD: number,
  theta: number,
): void {
  run(ctx, 'rope_backward', dinp, dout, positions, N, NH, HD, theta);
}

type Window = { buffer: GPUBuffer; offset: number; size: number };
const win = (b: Binding): Window => ('buffer' in b ? b : { buffer: b, offset: 0, size: b.size });

/** The same memory (then the in-place entry point runs); a partial overlap cannot be bound. */
function sameWindow(kernel: string, a: Binding, b: Binding): boolean {
  const x = win(a);
  const y = win(b);
  if (x.buffer !== y.buffer) return false;
  if (x.offset === y.offset && x.size === y.size) return true;
  throw new KernelArgumentError(
    kernel,
    'out, inp',
    'are different windows of one buffer; pass the same binding to rotate in place, or separate buffers',
  );
}
