// KV-cache generation: prefill the prompt (image rows included) with the training forward, whose
// per-layer k/v activations (B = 1, post-RoPE) ARE the key/value cache; then one token at a time
// through the same decoderForward with the cache: each layer appends the new row's k/v to the
// cache and attends with Tq = 1 over the cache (qOffset = rows already cached). The lm_head runs
// over the full vocabulary for that one row; the logits are read back and the next token is
// chosen on the CPU (greedy or top-p sampling). Greedy decoding without keepLogits skips the
// logits: the fused log-softmax kernel leaves each row's argmax on the GPU and one int comes back
// instead of a vocabulary of floats (on SwiftShader the readback was most of a token's time).
// Every buffer is the plan's (layout.ts `decode`).
import { Rng } from '../util/rng';
import { packBatch, uploadBatch, type SequenceInput } from './batch';
import type { EngineCore } from './core';
import { EngineInputError, NonFiniteError } from './errors';
import { decoderForward, lastHiddenForward, lastLogitsForward, trainingPass, type KvCache, type PassBuffers } from './forward';
import { logprobForward } from './kernels/logprob';
import { readMany } from './step';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Apply the adapter (default true when the engine has one). */
  lora?: boolean;
  /** Tokens that end the answer (e.g. <end_of_utterance>); the stop token is included in the output. */
  stopTokens?: readonly number[];
  /** 0 or absent: greedy. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (default 1). */
  topP?: number;
  /** Seed of the sampler (default 0); or pass an Rng to continue a stream. */
  seed?: number;
  rng?: Rng;
  /** Called for every new token (of sequence `sequence` in a batch); return false to stop that sequence. */
  onToken?: (token: number, index: number, sequence: number) => boolean | void;
  /** Return the logits each token was chosen from (tests, inspection). */
  keepLogits?: boolean;
}

export interface GenerateResult {
  tokens: number[];
  /** stop token, maxNewTokens, the callback, or the engine's maxSeq / the model's positions. */
  stopReason: 'stop' | 'length' | 'callback' | 'capacity';
  logits?: Float32Array[];
}

/** The plan's decode workspace as a pass of one row per sequence; every layer shares its activations. */
function decodePass(core: EngineCore): PassBuffers {
  const d = core.acts.decode;
  const L = core.cfg.numLayers;
  return {
    tokens: d.tokens,
    positions: d.positions,
    keyMask: d.keyMask,
    res: Array.from({ length: L + 1 }, (_, l) => d.res[l % 2]),
    layers: Array.from({ length: L }, () => d.layer),
    proj: d.proj,
    splitK: core.acts.scratch.splitK,
  };
}

/** Greedy (temperature 0) or temperature + top-p sampling from one row of logits. */
export function sampleToken(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (!(temperature > 0)) return best;
  const max = logits[best];
  const p = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += p[i] = Math.exp((logits[i] - max) / temperature);
  let ids: number[];
  if (topP < 1) {
    ids = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
    let cum = 0;
    let keep = 0;
    while (keep < ids.length && cum < topP * total) cum += p[ids[keep++]];
    ids = ids.slice(0, Math.max(1, keep));
    total = cum;
  } else ids = Array.from({ length: logits.length }, (_, i) => i);
  let u = rng.next() * total;
  for (const i of ids) {
    u -= p[i];
    if (u < 0) return i;
  }
  return ids[ids.length - 1];
}

export async function generate(core: EngineCore, prompt: SequenceInput, opts: GenerateOptions): Promise<GenerateResult> {
  return (await generateBatch(core, [prompt], opts))[0];
}

/**
 * Generation for up to maxBatch prompts at once: one batched prefill, then one decode pass per
 * new token that carries a row for every sequence (SwiftShader and small models are bound by
 * dispatches, not rows, so B sequences cost little more than one). The prompts are padded to the
 * longest, T rows; sequence b's cache is rows [b * maxSeq, b * maxSeq + T) of the layers' k and v
 * (moved there from the prefill's [b * T, ...)), its padding rows masked out of attention, and
 * new token i of every sequence lands at cache row T + i at its own next position. A sequence
 * that stopped keeps decoding (its tokens are dropped) until all have stopped. Sampling draws
 * from one stream, sequence by sequence within a step.
 */
export async function generateBatch(core: EngineCore, prompts: readonly SequenceInput[], opts: GenerateOptions): Promise<GenerateResult[]> {
  const { ctx, cfg, params, acts } = core;
  const useLora = opts.lora ?? core.lora !== null;
  if (useLora && !core.lora) throw new EngineInputError('generate: lora: true on an engine created without an adapter');
  const lora = useLora ? core.lora : null;
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0)
    throw new EngineInputError(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature >= 0) || !(topP > 0 && topP <= 1))
    throw new EngineInputError(`generate: temperature must be >= 0 and top-p in (0, 1], got ${temperature} and ${topP}`);
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const stops = new Set(opts.stopTokens ?? []);
  const V = cfg.vocabSize;
  const B = prompts.length;
  const S = core.limits.maxSeq;

  // Prefill: the batched forward leaves the prompts' k/v in the layer activations.
  const pack = packBatch(prompts, cfg, core.limits, (b) => (B === 1 ? 'prompt' : `prompt ${b}`));
  const T = pack.T;
  uploadBatch(ctx, acts.inputs, pack); // flushes: nothing recorded still reads the decode buffers
  const d = acts.decode;
  // The cache's key mask, sequence by sequence: the prompt's real rows, its padding masked out,
  // and every row from T on (filled one token at a time).
  const mask = new Uint32Array(B * S);
  for (let b = 0; b < B; b++) {
    mask.set(pack.keyMask.subarray(b * T, (b + 1) * T), b * S);
    mask.fill(1, b * S + T, (b + 1) * S);
  }
  ctx.upload(d.keyMask, mask);
  decoderForward(ctx, cfg, params, trainingPass(acts), lora, B, T, {
    rows: acts.inputs.imageRows,
    pos: acts.inputs.imagePos,
    count: pack.imageStart[B],
  });
  // Greedy without kept logits: only the argmax (and the log-normaliser, to catch NaN/Inf) is read.
  const argmaxOnly = !(temperature > 0) && !opts.keepLogits;
  const results: GenerateResult[] = prompts.map(() => ({ tokens: [], stopReason: 'length', logits: opts.keepLogits ? [] : undefined }));
  const next = async (last: GPUBuffer, lastRows: GPUBuffer): Promise<{ tokens: number[]; logits?: Float32Array[] }> => {
    const at = results[0].tokens.length;
    if (!argmaxOnly) {
      lastLogitsForward(ctx, cfg, params, acts, last, lastRows, B);
      const all = await ctx.readF32(acts.head.logits, B * V);
      const logits = prompts.map((_, b) => all.slice(b * V, (b + 1) * V));
      logits.forEach((l, b) => {
        if (results[b].stopReason === 'length' && l.some((v) => !Number.isFinite(v)))
          throw new NonFiniteError(`logits of generated token ${at}${B > 1 ? ` of sequence ${b}` : ''}`, 'NaN or Inf in the forward pass');
      });
      return { tokens: logits.map((l) => sampleToken(l, temperature, topP, rng)), logits };
    }
    const { head } = acts;
    lastHiddenForward(ctx, cfg, params, acts, last, lastRows, B);
    // Targets: the decode token buffer, any valid ids; the rows' log-probs of them are not read.
    logprobForward(ctx, head.logprob, head.argmax, head.lse, head.hLastN, params.lmHead, d.tokens, B, cfg.hiddenSize, V, core.lpScratch);
    const [am, lse] = await readMany(ctx, acts.scratch.readback, [
      { buf: head.argmax, count: B },
      { buf: head.lse, count: B },
    ]);
    const lses = new Float32Array(lse);
    lses.forEach((x, b) => {
      if (results[b].stopReason === 'length' && !Number.isFinite(x))
        throw new NonFiniteError(`logits of generated token ${at}${B > 1 ? ` of sequence ${b}` : ''}`, 'NaN or Inf in the forward pass');
    });
    return { tokens: Array.from(new Int32Array(am)) };
  };
  // The first decode token's targets are read by the logprob kernel: make them valid ids.
  ctx.upload(d.tokens, new Int32Array(B));
  let chosen = await next(acts.res[cfg.numLayers], acts.inputs.lastRows);

  // Sequence b's prefill k and v move from rows b * T to b * S (through q, free after the
  // prefill: a buffer cannot be copied onto itself); with one sequence they are already there.
  const KV = cfg.numKvHeads * cfg.headDim * 4;
  if (B > 1)
    for (const layer of acts.layers)
      for (const buf of [layer.k, layer.v]) {
        ctx.copy(buf, layer.q, B * T * KV);
        for (let b = 1; b < B; b++) ctx.copy(layer.q, buf, T * KV, b * T * KV, b * S * KV);
      }
  const pass = decodePass(core);
  const cache: KvCache = { layers: acts.layers, keyMask: d.keyMask, start: 0, stride: S };
  const lastPos = prompts.map((_, b) => pack.positions[b * T + prompts[b].tokens.length - 1]);
  let live = B;
  for (let i = 0; i < opts.maxNewTokens; i++) {
    if (i > 0) {
      // Feed token i-1 of every sequence at cache row T + i - 1.
      const row = T + i - 1;
      if (row >= S || lastPos.some((p, b) => results[b].stopReason === 'length' && p + i >= cfg.maxPositions)) {
        for (const r of results) if (r.stopReason === 'length') r.stopReason = 'capacity';
        break;
      }
      ctx.upload(
        d.tokens,
        Int32Array.from(results, (r) => r.tokens.at(-1) ?? 0),
      ); // safe: the last read flushed all recorded work
      ctx.upload(
        d.positions,
        Int32Array.from(lastPos, (p) => Math.min(p + i, cfg.maxPositions - 1)),
      );
      decoderForward(ctx, cfg, params, pass, lora, B, 1, null, { ...cache, start: row });
      chosen = await next(pass.res[cfg.numLayers], d.lastRows);
    }
    for (let b = 0; b < B; b++) {
      const r = results[b];
      if (r.stopReason !== 'length') continue;
      const tok = chosen.tokens[b];
      if (opts.keepLogits) r.logits!.push(chosen.logits![b]);
      r.tokens.push(tok);
      if (opts.onToken?.(tok, i, b) === false) r.stopReason = 'callback';
      else if (stops.has(tok)) r.stopReason = 'stop';
      if (r.stopReason !== 'length') live--;
    }
    if (live === 0) break;
  }
  return results;
}
