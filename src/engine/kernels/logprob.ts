// Answer-token log-probs without a [M, V] logits tensor: the vocabulary is walked in chunks of
// Vc columns (logits chunk [M, Vc] from linearForward over a window of lm_head rows), each merged
// into per-row running max / sum-exp / argmax / target logit (online softmax). The backward
// recomputes each chunk and accumulates dh += g W_chunk.
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import code from '../../../shaders/logprob.wgsl?raw';
import { linearBackwardInput, linearForward } from './linear';
import type { Weight } from './types';

export class LogprobShapeError extends Error {
  override name = 'LogprobShapeError';
}

/** Working memory of logprobForward / logprobBackward (from logprobScratch). */
export interface LogprobScratch {
  /** Largest M it serves. */
  M: number;
  /** Vocabulary size it was made for. */
  V: number;
  /** Columns per chunk (even; the last chunk is ragged when Vc does not divide V). */
  Vc: number;
  /** [M, Vc] f32: one chunk of logits, then of d logprob / d logits. */
  logits: GPUBuffer;
  /** [M, 2] f32: running max and sum of exp(z - max). */
  state: GPUBuffer;
  /** [Vc, C] copy of a window of lm_head rows, made on first use (size depends on C and dtype). */
  weight: GPUBuffer | null;
}

export interface LogprobScratchOptions {
  /** Columns per chunk; rounded up to even (a bf16 window then starts on a whole u32). */
  chunk?: number;
  /** Cap on the logits chunk, M * Vc * 4 bytes (default 32 MiB). */
  maxChunkBytes?: number;
}

/** Scratch for up to M rows over a vocabulary of V. */
export function logprobScratch(ctx: GpuContext, M: number, V: number, opts: LogprobScratchOptions = {}): LogprobScratch {
  if (!(M >= 1 && V >= 1)) throw new LogprobShapeError(`logprobScratch: M = ${M} rows and V = ${V} words must both be >= 1`);
  const cap = Math.floor((opts.maxChunkBytes ?? 32 * 2 ** 20) / (4 * M));
  let Vc = Math.max(2, Math.min(opts.chunk ?? cap, V));
  Vc += Vc & 1;
  return {
    M,
    V,
    Vc,
    logits: ctx.createBuffer('logprob logits chunk', M * Vc * 4),
    state: ctx.createBuffer('logprob running state', M * 2 * 4),
    weight: null,
  };
}

export function destroyLogprobScratch(ctx: GpuContext, s: LogprobScratch): void {
  ctx.destroyBuffer(s.logits);
  ctx.destroyBuffer(s.state);
  if (s.weight) ctx.destroyBuffer(s.weight);
  s.weight = null;
}

function check(what: string, s: LogprobScratch, lmHead: Weight, M: number, C: number, V: number): void {
  if (M > s.M) throw new LogprobShapeError(`${what}: ${M} answer rows but the scratch holds ${s.M}; make it with logprobScratch(ctx, ${M}, ${V})`);
  if (V !== s.V) throw new LogprobShapeError(`${what}: vocabulary ${V} but the scratch was made for ${s.V}`);
  const bytes = V * C * (lmHead.dtype === 'bf16' ? 2 : 4);
  if (lmHead.buffer.size < bytes)
    throw new LogprobShapeError(`${what}: lm_head buffer has ${lmHead.buffer.size} bytes, [${V}, ${C}] ${lmHead.dtype} needs ${bytes}`);
}

/**
 * lm_head rows [v0, v0 + W) as a Weight. linearForward takes a whole buffer, and a binding
 * window would need v0*C*bytes to be a multiple of 256 (not true for C = 72 or odd C), so the
 * rows are copied (4-byte aligned: Vc is even) into scratch.
 */
function windowWeight(ctx: GpuContext, s: LogprobScratch, lmHead: Weight, v0: number, W: number, C: number): Weight {
  const bpe = lmHead.dtype === 'bf16' ? 2 : 4;
  if (v0 === 0 && W === s.V) return lmHead;
  if (!s.weight || s.weight.size < s.Vc * C * bpe) {
    if (s.weight) {
      ctx.flush(); // recorded copies into the old buffer must be submitted before it goes
      ctx.destroyBuffer(s.weight);
    }
    s.weight = ctx.createBuffer('logprob lm_head window', s.Vc * C * bpe);
  }
  // Round up to whole u32s: for bf16 with W*C odd the copy takes 2 bytes of the next row (or padding).
  const size = Math.min(Math.ceil((W * C * bpe) / 4) * 4, lmHead.buffer.size - v0 * C * bpe);
  ctx.copy(lmHead.buffer, s.weight, size, v0 * C * bpe, 0);
  return { buffer: s.weight, dtype: lmHead.dtype };
}

/**
 * logprob[m] = logits[m, targets[m]] - logsumexp_v logits[m, v], argmax[m] = argmax_v logits[m, v]
 * (lowest index on ties), lse[m] = logsumexp (saved for the backward), logits = h lmHead^T.
 * h [M, C] f32; lmHead [V, C] f32 or bf16; targets i32 [M] in [0, V) (an index outside gives NaN).
 * `targets` may be another pass's argmax (POVID's noise-triggered answer).
 */
export function logprobForward(
  ctx: GpuContext,
  logprob: Binding,
  argmax: Binding,
  lse: Binding,
  h: Binding,
  lmHead: Weight,
  targets: Binding,
  M: number,
  C: number,
  V: number,
  scratch: LogprobScratch,
): void {
  if (M === 0) return;
  check('logprobForward', scratch, lmHead, M, C, V);
  const pipe = ctx.pipeline(code, 'logprob_forward');
  for (let v0 = 0; v0 < V; v0 += scratch.Vc) {
    const W = Math.min(scratch.Vc, V - v0);
    linearForward(ctx, scratch.logits, h, windowWeight(ctx, scratch, lmHead, v0, W, C), M, C, W);
    const flags = (v0 === 0 ? 1 : 0) | (v0 + W === V ? 2 : 0);
    ctx.dispatch(pipe, ctx.uniform(new Uint32Array([M, W, v0, flags])), [logprob, argmax, lse, scratch.state, scratch.logits, targets], grid1d(M));
  }
}

/**
 * dh[m] = dlogprob[m] * (W[targets[m]] - sum_v softmax(logits[m])_v W[v]) (overwritten), from
 * the lse saved by logprobForward for the same h and targets.
 */
export function logprobBackward(
  ctx: GpuContext,
  dh: Binding,
  dlogprob: Binding,
  h: Binding,
  lmHead: Weight,
  targets: Binding,
  lse: Binding,
  M: number,
  C: number,
  V: number,
  scratch: LogprobScratch,
): void {
  if (M === 0) return;
  check('logprobBackward', scratch, lmHead, M, C, V);
  const pipe = ctx.pipeline(code, 'logprob_backward');
  for (let v0 = 0; v0 < V; v0 += scratch.Vc) {
    const W = Math.min(scratch.Vc, V - v0);
    const w = windowWeight(ctx, scratch, lmHead, v0, W, C);
    linearForward(ctx, scratch.logits, h, w, M, C, W);
    ctx.dispatch(pipe, ctx.uniform(new Uint32Array([M, W, v0, 0])), [scratch.logits, targets, lse, dlogprob], grid1d(Math.ceil((M * W) / 256)));
    linearBackwardInput(ctx, dh, scratch.logits, w, M, C, W, { accumulate: v0 > 0 });
  }
}

/**
 * sums[s] = sum of logprob[m] over rows with seqOfRow[m] == s, for every s in [0, S) (rows with
 * a sequence outside that range count nowhere). Fixed summation order: deterministic.
 */
export function sequenceLogprobSum(ctx: GpuContext, sums: Binding, logprob: Binding, seqOfRow: Binding, M: number, S: number): void {
  if (S === 0) return;
  ctx.dispatch(ctx.pipeline(code, 'logprob_sequence_sum'), ctx.uniform(new Uint32Array([M, S])), [sums, logprob, seqOfRow], grid1d(S));
}
