// Causal grouped-query attention with a padding mask (flash-attention style: K/V tiles in
// workgroup memory, online softmax, backward recomputing the probabilities from the saved lse).
//
// Layouts (row-major, f32 unless noted):
//   q, out, dout, dq  [B*Tq, NH*HD]   row b*Tq + i; head h in columns h*HD .. h*HD + HD - 1
//   k, v, dk, dv      [B*S, NKV*HD]   row b*S + j, S = opts.kvStride ?? Tk rows per batch element
//                                     (a KV cache allocated for S positions, Tk of them filled)
//   keyMask           u32 [B*S]       1 = real token, 0 = padding
//   lse               [B, NH, Tq]     natural-log log-sum-exp of the row's scaled scores
// Query i of batch b is at absolute position qOffset + i (its own key row is b*S + qOffset + i) and
// sees key j iff j <= qOffset + i, keyMask[b*S + j] = 1 and the query is real
// (keyMask[b*S + qOffset + i] = 1). Query head h reads KV head floor(h / (NH / NKV)); scale 1/sqrt(HD).
// A padding query sees nothing: out = 0 and lse = LSE_EMPTY (-3e38), never NaN; its gradients are 0.
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import source from '../../../shaders/attention.wgsl?raw';
import { expectHolds, KernelArgumentError } from '../errors';

/** lse of a row that sees no key (the f32 stand-in for log 0). */
export const LSE_EMPTY = -3.0e38;

export interface AttentionOptions {
  /** Rows per batch element in k, v and keyMask (default Tk). */
  kvStride?: number;
}

const BQ = 64; // rows per workgroup (shaders/attention.wgsl)
// Below this many queries per sequence, one workgroup per query splits the keys (decoding);
// from it on, each invocation of a 64-query tile walks the keys (training, prefill).
const DECODE_MAX_TQ = 16;
const MAX_HD = 256;

// The head size is a compile-time constant of the shader, so per-row arrays stay in registers.
const sources = new Map<number, string>();
function shader(HD: number): string {
  let s = sources.get(HD);
  if (!s) {
    const line = 'const HD: u32 = 64u;';
    if (!source.includes(line)) throw new Error('attention.wgsl: head_dim line not found');
    s = source.replace(line, `const HD: u32 = ${HD}u;`);
    sources.set(HD, s);
  }
  return s;
}

function params(B: number, Tq: number, Tk: number, NH: number, NKV: number, qOffset: number, S: number, HD: number): ArrayBuffer {
  const buf = new ArrayBuffer(48);
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  u.set([B, Tq, Tk, NH, NKV, qOffset, S]);
  f[7] = Math.LOG2E / Math.sqrt(HD);
  f[8] = 1 / Math.sqrt(HD);
  return buf;
}

function checkShape(
  kernel: string,
  B: number,
  Tq: number,
  Tk: number,
  NH: number,
  NKV: number,
  HD: number,
  qOffset: number,
  S: number,
): void {
  const ints = { B, Tq, Tk, NH, NKV, HD, kvStride: S };
  for (const [name, x] of Object.entries(ints))
    if (!Number.isInteger(x) || x <= 0) throw new KernelArgumentError(kernel, name, `must be a positive integer, got ${x}`);
  if (HD % 4 !== 0 || HD > MAX_HD) throw new KernelArgumentError(kernel, 'head_dim', `${HD} must be a multiple of 4 and at most ${MAX_HD}`);
  if (NH % NKV !== 0) throw new KernelArgumentError(kernel, 'NKV', `${NH} query heads are not a multiple of the ${NKV} key/value heads`);
  if (!Number.isInteger(qOffset) || qOffset < 0 || qOffset + Tq > Tk)
    throw new KernelArgumentError(
      kernel,
      'qOffset',
      `${qOffset}: queries at positions ${qOffset}..${qOffset + Tq - 1} need their own keys, but only ${Tk} keys are given (qOffset + Tq <= Tk)`,
    );
  if (Tk > S) throw new KernelArgumentError(kernel, 'kvStride', `${S}: ${Tk} keys do not fit the k/v rows per batch element`);
}

/** f32 values of attentionBackward's `stats` scratch: (lse * log2 e, dout . out) per (row, head). */
export const attentionStatsFloats = (B: number, NH: number, T: number): number => 2 * B * NH * T;

/**
 * out = softmax(scale q k^T + causal/padding mask) v for each query head; also saves lse.
 * Training: Tq = Tk = T, qOffset = 0. KV-cache decoding: Tq new queries (usually 1), Tk = keys in the
 * cache including the new ones, qOffset = Tk - Tq; k, v, keyMask hold S = opts.kvStride ?? Tk rows
 * per batch element.
 */
export function attentionForward(
  ctx: GpuContext,
  out: Binding,
  lse: Binding,
  q: Binding,
  k: Binding,
  v: Binding,
  keyMask: Binding,
  B: number,
  Tq: number,
  Tk: number,
  NH: number,
  NKV: number,
  HD: number,
  qOffset: number,
  opts: AttentionOptions = {},
): void {
  const S = opts.kvStride ?? Tk;
  const K = 'attentionForward';
  checkShape(K, B, Tq, Tk, NH, NKV, HD, qOffset, S);
  const kvRows = (B - 1) * S + Tk;
  expectHolds(K, 'out', out, B * Tq * NH * HD, 'f32', [B * Tq, NH * HD]);
  expectHolds(K, 'lse', lse, B * NH * Tq, 'f32', [B, NH, Tq]);
  expectHolds(K, 'q', q, B * Tq * NH * HD, 'f32', [B * Tq, NH * HD]);
  expectHolds(K, 'k', k, kvRows * NKV * HD, 'f32', [kvRows, NKV * HD]);
  expectHolds(K, 'v', v, kvRows * NKV * HD, 'f32', [kvRows, NKV * HD]);
  expectHolds(K, 'keyMask', keyMask, kvRows, 'u32', [kvRows]);
  const u = ctx.uniform(params(B, Tq, Tk, NH, NKV, qOffset, S, HD));
  const bindings = [out, lse, q, k, v, keyMask];
  if (Tq < DECODE_MAX_TQ) ctx.dispatch(ctx.pipeline(shader(HD), 'attention_forward_decode'), u, bindings, [Tq, NH, B]);
  else ctx.dispatch(ctx.pipeline(shader(HD), 'attention_forward'), u, bindings, [Math.ceil(Tq / BQ), NH, B]);
}

/**
 * The training case's backward (Tq = Tk = T, qOffset = 0, k/v stride T), from the forward's out and
 * lse. Overwrites dq [B*T, NH*HD], dk and dv [B*T, NKV*HD]; dk and dv sum over the query heads that
 * share a KV head. Rows of padding tokens get zero gradients. `stats` is scratch of
 * attentionStatsFloats(B, NH, T) f32 values (overwritten).
 */
export function attentionBackward(
  ctx: GpuContext,
  dq: Binding,
  dk: Binding,
  dv: Binding,
  dout: Binding,
  q: Binding,
  k: Binding,
  v: Binding,
  out: Binding,
  lse: Binding,
  keyMask: Binding,
  B: number,
  T: number,
  NH: number,
  NKV: number,
  HD: number,
  stats: Binding,
): void {
  const K = 'attentionBackward';
  checkShape(K, B, T, T, NH, NKV, HD, 0, T);
  for (const [name, b] of [
    ['dq', dq],
    ['dout', dout],
    ['q', q],
    ['out', out],
  ] as const)
    expectHolds(K, name, b, B * T * NH * HD, 'f32', [B * T, NH * HD]);
  for (const [name, b] of [
    ['dk', dk],
    ['dv', dv],
    ['k', k],
    ['v', v],
  ] as const)
    expectHolds(K, name, b, B * T * NKV * HD, 'f32', [B * T, NKV * HD]);
  expectHolds(K, 'lse', lse, B * NH * T, 'f32', [B, NH, T]);
  expectHolds(K, 'keyMask', keyMask, B * T, 'u32', [B * T]);
  expectHolds(K, 'stats', stats, attentionStatsFloats(B, NH, T), 'f32', [B * NH * T, 2]);
  const code = shader(HD);
  const u = ctx.uniform(params(B, T, T, NH, NKV, 0, T, HD));
  ctx.dispatch(ctx.pipeline(code, 'attention_backward_stats'), u, [stats, dout, out, lse], grid1d(Math.ceil((B * NH * T) / 64)));
  ctx.dispatch(ctx.pipeline(code, 'attention_backward_dq'), u, [dq, dout, q, k, v, stats, keyMask], [Math.ceil(T / BQ), NH, B]);
  ctx.dispatch(ctx.pipeline(code, 'attention_backward_dkv'), u, [dk, dv, dout, q, k, v, stats, keyMask], [Math.ceil(T / BQ), NKV, B]);
}
