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
  /** Called for every new token; return false to stop. */
  onToken?: (token: number, index: number) => boolean | void;
  /** Return the logits each token was chosen from (tests, inspection). */
  keepLogits?: boolean;
}

export interface GenerateResult {
  tokens: number[];
  /** stop token, maxNewTokens, the callback, or the engine's maxSeq / the model's positions. */
  stopReason: 'stop' | 'length' | 'callback' | 'capacity';
  logits?: Float32Array[];
}

/** The plan's decode workspace as a one-row pass; every layer shares its one-row activations. */
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

  // Prefill: the batch-1 forward leaves the prompt's k/v in the layer activations (the cache).
  const pack = packBatch([{ tokens: prompt.tokens, positions: prompt.positions, image: prompt.image }], cfg, core.limits, () => 'prompt');
  const P = pack.T;
  uploadBatch(ctx, acts.inputs, pack);
  decoderForward(ctx, cfg, params, trainingPass(acts), lora, 1, P, {
    rows: acts.inputs.imageRows,
    pos: acts.inputs.imagePos,
    count: pack.imageStart[1],
  });
  // Greedy without kept logits: only the argmax (and the log-normaliser, to catch NaN/Inf) is read.
  const argmaxOnly = !(temperature > 0) && !opts.keepLogits;
  const next = async (last: GPUBuffer, lastRows: GPUBuffer): Promise<{ token: number; logits?: Float32Array }> => {
    if (!argmaxOnly) {
      lastLogitsForward(ctx, cfg, params, acts, last, lastRows, 1);
      const logits = await ctx.readF32(acts.head.logits, V);
      if (logits.some((v) => !Number.isFinite(v))) throw new NonFiniteError(`logits of generated token ${tokens.length}`, 'NaN or Inf in the forward pass');
      return { token: sampleToken(logits, temperature, topP, rng), logits };
    }
    const { head } = acts;
    lastHiddenForward(ctx, cfg, params, acts, last, lastRows, 1);
    // Targets: the decode token buffer, any valid id; the row's log-prob of it is not read.
    logprobForward(ctx, head.logprob, head.argmax, head.lse, head.hLastN, params.lmHead, acts.decode.tokens, 1, cfg.hiddenSize, V, core.lpScratch);
    const [am, lse] = await readMany(ctx, acts.scratch.readback, [
      { buf: head.argmax, count: 1 },
      { buf: head.lse, count: 1 },
    ]);
    if (!Number.isFinite(new Float32Array(lse)[0])) throw new NonFiniteError(`logits of generated token ${tokens.length}`, 'NaN or Inf in the forward pass');
    return { token: new Int32Array(am)[0] };
  };
  const tokens: number[] = [];
  let chosen = await next(acts.res[cfg.numLayers], acts.inputs.lastRows);

  const d = acts.decode;
  const pass = decodePass(core);
  // The prefill's k and v (B = 1) are the cache; d.keyMask is all ones, d.lastRows = [0] (set at creation).
  const cache: KvCache = { layers: acts.layers, keyMask: d.keyMask, start: 0, stride: core.limits.maxSeq };

  const kept: Float32Array[] = [];
  const lastPos = pack.positions[P - 1];
  let stopReason: GenerateResult['stopReason'] = 'length';
  for (let i = 0; i < opts.maxNewTokens; i++) {
    if (i > 0) {
      // Feed token i-1 at cache row P + i - 1.
      const row = P + i - 1;
      const pos = lastPos + i;
      if (row >= core.limits.maxSeq || pos >= cfg.maxPositions) {
        stopReason = 'capacity';
        break;
      }
      ctx.upload(d.tokens, Int32Array.of(tokens[i - 1])); // safe: the last read flushed all recorded work
      ctx.upload(d.positions, Int32Array.of(pos));
      decoderForward(ctx, cfg, params, pass, lora, 1, 1, null, { ...cache, start: row });
      chosen = await next(pass.res[cfg.numLayers], d.lastRows);
    }
    if (opts.keepLogits) kept.push(chosen.logits!);
    const tok = chosen.token;
    tokens.push(tok);
    if (opts.onToken?.(tok, i) === false) {
      stopReason = 'callback';
      break;
    }
    if (stops.has(tok)) {
      stopReason = 'stop';
      break;
    }
  }
  return { tokens, stopReason, logits: opts.keepLogits ? kept : undefined };
}
