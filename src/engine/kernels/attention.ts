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

export class AttentionShapeError extends Error {
  override name = 'AttentionShapeError';
}

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

function checkShape(B: number, Tq: number, Tk: number, NH: number, NKV: number, HD: number, qOffset: number, S: number): void {
  const ints = { B, Tq, Tk, NH, NKV, HD, kvStride: S };
  for (const [name, x] of Object.entries(ints))
    if (!Number.isInteger(x) || x <= 0) throw new AttentionShapeError(`attention: ${name} must be a positive integer, got ${x}`);
  if (HD % 4 !== 0 || HD > MAX_HD) throw new AttentionShapeError(`attention: head_dim ${HD} must be a multiple of 4 and at most ${MAX_HD}`);
  if (NH % NKV !== 0) throw new AttentionShapeError(`attention: ${NH} query heads are not a multiple of the ${NKV} key/value heads`);
  if (!Number.isInteger(qOffset) || qOffset < 0 || qOffset + Tq > Tk)
    throw new AttentionShapeError(`attention: queries at positions ${qOffset}..${qOffset + Tq - 1} need their own keys, but only ${Tk} keys are given (qOffset + Tq <= Tk)`);
  if (Tk > S) throw new AttentionShapeError(`attention: ${Tk} keys do not fit the k/v row stride ${S} per batch element`);
}

function checkSize(name: string, b: Binding, floats: number): void {
  if (b.size < floats * 4)
    throw new AttentionShapeError(`attention: ${name} holds ${b.size} bytes, the shape needs ${floats * 4}; check B, T, heads and head_dim`);
}

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
  checkShape(B, Tq, Tk, NH, NKV, HD, qOffset, S);
  checkSize('out', out, B * Tq * NH * HD);
  checkSize('lse', lse, B * NH * Tq);
  checkSize('q', q, B * Tq * NH * HD);
  checkSize('k', k, ((B - 1) * S + Tk) * NKV * HD);
  checkSize('v', v, ((B - 1) * S + Tk) * NKV * HD);
  checkSize('keyMask', keyMask, (B - 1) * S + Tk);
  const u = ctx.uniform(params(B, Tq, Tk, NH, NKV, qOffset, S, HD));
  const bindings = [out, lse, q, k, v, keyMask];
  if (Tq < DECODE_MAX_TQ) ctx.dispatch(ctx.pipeline(shader(HD), 'attention_forward_decode'), u, bindings, [Tq, NH, B]);
  else ctx.dispatch(ctx.pipeline(shader(HD), 'attention_forward'), u, bindings, [Math.ceil(Tq / BQ), NH, B]);
}

// Per-row (lse * log2 e, dout.out) of the backward: a scratch buffer per context, grown on demand.
const scratch = new WeakMap<GpuContext, GPUBuffer>();
function statsBuffer(ctx: GpuContext, bytes: number): GPUBuffer {
  const old = scratch.get(ctx);
  if (old && old.size >= bytes) return old;
  if (old) {
    ctx.flush(); // work recorded so far may still read it
    ctx.destroyBuffer(old);
  }
  const b = ctx.createBuffer('attention backward stats', bytes);
  scratch.set(ctx, b);
  return b;
}

/**
 * The training case's backward (Tq = Tk = T, qOffset = 0, k/v stride T), from the forward's out and
 * lse. Overwrites dq [B*T, NH*HD], dk and dv [B*T, NKV*HD]; dk and dv sum over the query heads that
 * share a KV head. Rows of padding tokens get zero gradients. Uses a context-owned scratch buffer
 * of B*NH*T*8 bytes.
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
): void {
  checkShape(B, T, T, NH, NKV, HD, 0, T);
  for (const [name, b] of [['dq', dq], ['dout', dout], ['q', q], ['out', out]] as const) checkSize(name, b, B * T * NH * HD);
  for (const [name, b] of [['dk', dk], ['dv', dv], ['k', k], ['v', v]] as const) checkSize(name, b, B * T * NKV * HD);
  checkSize('lse', lse, B * NH * T);
  checkSize('keyMask', keyMask, B * T);
  const code = shader(HD);
  const u = ctx.uniform(params(B, T, T, NH, NKV, 0, T, HD));
  const stats = statsBuffer(ctx, B * NH * T * 8);
  ctx.dispatch(ctx.pipeline(code, 'attention_backward_stats'), u, [stats, dout, out, lse], grid1d(Math.ceil((B * NH * T) / 64)));
  ctx.dispatch(ctx.pipeline(code, 'attention_backward_dq'), u, [dq, dout, q, k, v, stats, keyMask], [Math.ceil(T / BQ), NH, B]);
  ctx.dispatch(ctx.pipeline(code, 'attention_backward_dkv'), u, [dk, dv, dout, q, k, v, stats, keyMask], [Math.ceil(T / BQ), NKV, B]);
}
