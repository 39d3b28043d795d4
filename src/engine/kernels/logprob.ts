// Answer-token log-probs without a [M, V] logits tensor: the vocabulary is walked in chunks of
// Vc columns (logits chunk [M, Vc] = h W[v0:v0+Vc]^T), each merged into per-row running
// max / sum-exp / argmax / target logit (online softmax). The backward recomputes each chunk
// and accumulates dh += g W[v0:v0+Vc].
// The products are linearForward / linearBackwardInput's own GEMM, given the lm_head window as
// an element offset (v0 * C): a binding window would need v0*C*bytes to be a multiple of 256,
// which fails for C = 72 or odd C, and a copy of the rows would cost memory and bandwidth.
import { grid1d, type Binding, type GpuContext } from '../../gpu';
import bf16Source from '../../../shaders/bf16.wgsl?raw';
import source from '../../../shaders/logprob.wgsl?raw';
import { expectHolds, expectInteger, KernelArgumentError } from '../errors';
import { matmul } from './linear';
import type { Weight } from './types';

const code = `${bf16Source}\n${source}`; // bf16_unpack for logprob_target's bf16 lm_head

/** Working memory of logprobForward / logprobBackward (buffers of the engine's plan). */
export interface LogprobScratch {
  /** Largest M it serves. */
  M: number;
  /** Vocabulary size it was made for. */
  V: number;
  /** Columns per chunk (the last chunk is ragged when Vc does not divide V). */
  Vc: number;
  /** [M, Vc] f32: one chunk of logits, then of d logprob / d logits. */
  logits: Binding;
  /** [M, 2] f32: running max and sum of exp(z - max). */
  state: Binding;
  /** Split-K partials of the backward's products (SPLIT_K_FLOATS f32 values, linear.ts). */
  splitK: Binding;
}

/** Default cap on the logits chunk, M * Vc * 4 bytes. */
const LOGPROB_CHUNK_BYTES = 32 * 2 ** 20;

/**
 * Columns per chunk for up to M rows over a vocabulary of V: `chunk` when given, else the most
 * that fit `maxChunkBytes` (default LOGPROB_CHUNK_BYTES), at most V.
 */
export function logprobChunk(M: number, V: number, opts: { chunk?: number; maxChunkBytes?: number } = {}): number {
  expectInteger('logprobChunk', 'M', M, 1);
  expectInteger('logprobChunk', 'V', V, 1);
  const cap = Math.floor((opts.maxChunkBytes ?? LOGPROB_CHUNK_BYTES) / (4 * M));
  return Math.max(1, Math.min(Math.floor(opts.chunk ?? cap), V));
}

function check(what: string, s: LogprobScratch, lmHead: Weight, M: number, C: number, V: number): void {
  if (M > s.M) throw new KernelArgumentError(what, 'scratch', `holds ${s.M} rows, ${M} answer rows were given`);
  if (V !== s.V) throw new KernelArgumentError(what, 'scratch', `was made for a vocabulary of ${s.V}, not ${V}`);
  expectHolds(what, 'scratch.logits', s.logits, s.M * s.Vc, 'f32', [s.M, s.Vc]);
  expectHolds(what, 'scratch.state', s.state, s.M * 2, 'f32', [s.M, 2]);
  expectHolds(what, 'lmHead', lmHead.buffer, V * C, lmHead.dtype, [V, C]);
}

/** logits[M, W] = h[M, C] lmHead[v0 : v0 + W, :]^T (linearForward on a row window). */
function chunkLogits(
  ctx: GpuContext,
  logits: Binding,
  h: Binding,
  lmHead: Weight,
  v0: number,
  W: number,
  M: number,
  C: number,
  splitK: Binding,
): void {
  matmul(
    ctx,
    'linear_forward',
    logits,
    { binding: h, off: 0, s0: C, s1: 1 },
    { binding: lmHead.buffer, off: v0 * C, s0: 1, s1: C, bf16: lmHead.dtype === 'bf16' },
    M,
    W,
    C,
    { splitK },
  );
}

/** dh[M, C] (+)= g[M, W] lmHead[v0 : v0 + W, :] (linearBackwardInput on a row window). */
function chunkBackward(
  ctx: GpuContext,
  dh: Binding,
  g: Binding,
  lmHead: Weight,
  v0: number,
  W: number,
  M: number,
  C: number,
  accumulate: boolean,
  splitK: Binding,
): void {
  matmul(
    ctx,
    'linear_backward_input',
    dh,
    { binding: g, off: 0, s0: W, s1: 1 },
    { binding: lmHead.buffer, off: v0 * C, s0: C, s1: 1, bf16: lmHead.dtype === 'bf16' },
    M,
    C,
    W,
    { accumulate, splitK },
  );
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
    chunkLogits(ctx, scratch.logits, h, lmHead, v0, W, M, C, scratch.splitK);
    const flags = (v0 === 0 ? 1 : 0) | (v0 + W === V ? 2 : 0);
    ctx.dispatch(
      pipe,
      ctx.uniform(new Uint32Array([M, W, v0, flags])),
      [logprob, argmax, lse, scratch.state, scratch.logits, targets],
      grid1d(M),
    );
  }
}

/**
 * logprob[m] = logits[m, targets[m]] - lse[m] for rows whose log-normaliser a logprobForward over
 * the same h already gave: another target on the same rows (POVID's y_n on the chosen answer)
 * without a second sweep over the vocabulary. One dot product per row, summed as the sweep's
 * product sums, so the result equals logprobForward's to the bit. A target outside [0, V) gives NaN.
 */
export function logprobOfTargets(
  ctx: GpuContext,
  logprob: Binding,
  h: Binding,
  lmHead: Weight,
  targets: Binding,
  lse: Binding,
  M: number,
  C: number,
  V: number,
): void {
  const k = 'logprobOfTargets';
  for (const [name, n] of [
    ['M', M],
    ['C', C],
    ['V', V],
  ] as const)
    expectInteger(k, name, n);
  if (M === 0) return;
  expectHolds(k, 'logprob', logprob, M, 'f32', [M]);
  expectHolds(k, 'h', h, M * C, 'f32', [M, C]);
  expectHolds(k, 'lmHead', lmHead.buffer, V * C, lmHead.dtype, [V, C]);
  expectHolds(k, 'targets', targets, M, 'i32', [M]);
  expectHolds(k, 'lse', lse, M, 'f32', [M]);
  ctx.dispatch(
    ctx.pipeline(code, 'logprob_target'),
    ctx.uniform(new Uint32Array([M, C, V, lmHead.dtype === 'bf16' ? 1 : 0])),
    [logprob, h, lmHead.buffer, targets, lse],
    grid1d(Math.ceil(M / 64), ctx.limits.maxComputeWorkgroupsPerDimension),
  );
}

/** A second target with its own d logprob on the first M rows of a logprobBackward. */
export interface SecondTarget {
  dlogprob: Binding;
  targets: Binding;
  M: number;
}

/**
 * dh[m] = dlogprob[m] * (W[targets[m]] - sum_v softmax(logits[m])_v W[v]) (overwritten), from
 * the lse saved by logprobForward for the same h and targets. With `second`, rows m < second.M
 * add second.dlogprob[m] * (W[second.targets[m]] - sum_v softmax_v W[v]): the gradient of both
 * log-probs of those rows from one sweep (they share the logits and the lse).
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
  second?: SecondTarget,
): void {
  if (M === 0) return;
  check('logprobBackward', scratch, lmHead, M, C, V);
  const M2 = second?.M ?? 0;
  if (second) {
    expectInteger('logprobBackward', 'second.M', M2);
    if (M2 > M) throw new KernelArgumentError('logprobBackward', 'second.M', `is ${M2}, more than the ${M} rows`);
    expectHolds('logprobBackward', 'second.dlogprob', second.dlogprob, M2, 'f32', [M2]);
    expectHolds('logprobBackward', 'second.targets', second.targets, M2, 'i32', [M2]);
  }
  const pipe = ctx.pipeline(code, 'logprob_backward');
  for (let v0 = 0; v0 < V; v0 += scratch.Vc) {
    const W = Math.min(scratch.Vc, V - v0);
    chunkLogits(ctx, scratch.logits, h, lmHead, v0, W, M, C, scratch.splitK);
    ctx.dispatch(
      pipe,
      ctx.uniform(new Uint32Array([M, W, v0, M2])),
      [scratch.logits, targets, lse, dlogprob, M2 > 0 ? second!.targets : targets, M2 > 0 ? second!.dlogprob : dlogprob],
      grid1d(Math.ceil((M * W) / 256)),
    );
    chunkBackward(ctx, dh, scratch.logits, lmHead, v0, W, M, C, v0 > 0, scratch.splitK);
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
