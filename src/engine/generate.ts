// KV-cache generation: prefill the prompt (image rows included) with the training forward, whose
// per-layer k/v activations (B = 1, post-RoPE) ARE the key/value cache; then one token at a time:
// each layer computes q/k/v for the new row, appends k/v to the cache and attends with Tq = 1,
// Tk = cache length (qOffset = Tk - 1). The lm_head runs over the full vocabulary for that one row;
// the logits are read back and the next token is chosen on the CPU (greedy or top-p sampling).
import type { GpuContext } from '../gpu';
import { Rng } from '../util/rng';
import { packBatch, uploadBatch, type SequenceInput } from './batch';
import type { DecoderConfig } from './config';
import type { EngineCore } from './core';
import { EngineInputError, NonFiniteError } from './errors';
import { adaptedLinearForward, decoderForward, lastLogitsForward } from './forward';
import { attentionForward } from './kernels/attention';
import { embeddingForward } from './kernels/embedding';
import { linearForward } from './kernels/linear';
import { residualForward } from './kernels/residual';
import { rmsnormForward } from './kernels/rmsnorm';
import { ropeForward } from './kernels/rope';
import { swigluForward } from './kernels/swiglu';
import type { LoraTarget } from './checkpoint';
import type { LoraAdapter } from './lora';

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

/** Small buffers of the one-row decode step (allocated on first use, kept for the engine's life). */
export class DecodeWorkspace {
  readonly token: GPUBuffer;
  readonly pos: GPUBuffer;
  readonly ones: GPUBuffer; // key mask of the cache: every cached row is real
  readonly x: GPUBuffer;
  readonly x2: GPUBuffer;
  readonly ln: GPUBuffer;
  readonly rstd: GPUBuffer;
  readonly q: GPUBuffer;
  readonly k: GPUBuffer;
  readonly v: GPUBuffer;
  readonly att: GPUBuffer;
  readonly lse: GPUBuffer;
  readonly h: GPUBuffer;
  readonly proj: GPUBuffer;
  readonly gate: GPUBuffer;
  readonly up: GPUBuffer;
  readonly sw: GPUBuffer;
  readonly xa: GPUBuffer;
  readonly logits: GPUBuffer;
  private all: GPUBuffer[] = [];

  constructor(
    private ctx: GpuContext,
    cfg: DecoderConfig,
    maxSeq: number,
    r: number,
  ) {
    const C = cfg.hiddenSize;
    const KV = cfg.numKvHeads * cfg.headDim;
    const FF = cfg.intermediateSize;
    const mk = (name: string, floats: number) => {
      const b = ctx.createBuffer(`decode.${name}`, floats * 4);
      this.all.push(b);
      return b;
    };
    this.token = mk('token', 1);
    this.pos = mk('pos', 1);
    this.ones = mk('ones', maxSeq);
    ctx.upload(this.ones, new Uint32Array(maxSeq).fill(1));
    this.x = mk('x', C);
    this.x2 = mk('x2', C);
    this.ln = mk('ln', C);
    this.rstd = mk('rstd', 1);
    this.q = mk('q', C);
    this.k = mk('k', KV);
    this.v = mk('v', KV);
    this.att = mk('att', C);
    this.lse = mk('lse', cfg.numHeads);
    this.h = mk('h', C);
    this.proj = mk('proj', C);
    this.gate = mk('gate', FF);
    this.up = mk('up', FF);
    this.sw = mk('sw', FF);
    this.xa = mk('xa', r);
    this.logits = mk('logits', cfg.vocabSize);
  }

  destroy(): void {
    for (const b of this.all) this.ctx.destroyBuffer(b);
    this.all = [];
  }
}

/**
 * Records one decode step: the token in ws.token at cache row `row` (rotary position in ws.pos)
 * through every layer, appending its k/v to the cache; logits land in ws.logits.
 */
function decodeStep(core: EngineCore, ws: DecodeWorkspace, lora: LoraAdapter | null, row: number): void {
  const { ctx, cfg, params, acts } = core;
  const C = cfg.hiddenSize;
  const FF = cfg.intermediateSize;
  const { numHeads: NH, numKvHeads: NKV, headDim: HD, ropeTheta: theta, rmsNormEps: eps } = cfg;
  const KV = NKV * HD;
  embeddingForward(ctx, ws.x, ws.token, params.embed, 1, C);
  let x = ws.x;
  let y = ws.x2;
  for (let l = 0; l < cfg.numLayers; l++) {
    const w = params.layers[l];
    const cache = acts.layers[l];
    const lin = (t: LoraTarget, out: GPUBuffer, inp: GPUBuffer) => adaptedLinearForward(ctx, cfg, params, lora, l, t, out, ws.xa, inp, 1);
    rmsnormForward(ctx, ws.ln, ws.rstd, x, w.inputNorm, 1, C, eps);
    lin('q', ws.q, ws.ln);
    lin('k', ws.k, ws.ln);
    lin('v', ws.v, ws.ln);
    ropeForward(ctx, ws.q, ws.q, ws.pos, 1, NH, HD, theta);
    ropeForward(ctx, ws.k, ws.k, ws.pos, 1, NKV, HD, theta);
    ctx.copy(ws.k, cache.k, KV * 4, 0, row * KV * 4);
    ctx.copy(ws.v, cache.v, KV * 4, 0, row * KV * 4);
    attentionForward(ctx, ws.att, ws.lse, ws.q, cache.k, cache.v, ws.ones, 1, 1, row + 1, NH, NKV, HD, row);
    lin('o', ws.proj, ws.att);
    residualForward(ctx, ws.h, x, ws.proj, C);
    rmsnormForward(ctx, ws.ln, ws.rstd, ws.h, w.postNorm, 1, C, eps);
    lin('gate', ws.gate, ws.ln);
    lin('up', ws.up, ws.ln);
    swigluForward(ctx, ws.sw, ws.gate, ws.up, FF);
    lin('down', ws.proj, ws.sw);
    residualForward(ctx, y, ws.h, ws.proj, C);
    [x, y] = [y, x];
  }
  rmsnormForward(ctx, ws.ln, ws.rstd, x, params.norm, 1, C, eps);
  linearForward(ctx, ws.logits, ws.ln, params.lmHead, 1, C, cfg.vocabSize);
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

export async function generate(core: EngineCore, ws: DecodeWorkspace, prompt: SequenceInput, opts: GenerateOptions): Promise<GenerateResult> {
  const { ctx, cfg, params, acts } = core;
  const useLora = opts.lora ?? core.lora !== null;
  if (useLora && !core.lora) throw new EngineInputError('generate: lora: true on an engine created without an adapter');
  const lora = useLora ? core.lora : null;
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw new EngineInputError(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature >= 0) || !(topP > 0 && topP <= 1)) throw new EngineInputError(`generate: temperature must be >= 0 and top-p in (0, 1], got ${temperature} and ${topP}`);
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const stops = new Set(opts.stopTokens ?? []);
  const V = cfg.vocabSize;

  // Prefill: the batch-1 forward leaves the prompt's k/v in the layer activations (the cache).
  const pack = packBatch([{ tokens: prompt.tokens, positions: prompt.positions, image: prompt.image }], cfg, core.limits, () => 'prompt');
  const P = pack.T;
  uploadBatch(ctx, acts.inputs, pack);
  decoderForward(ctx, cfg, params, acts, lora, 1, P, acts.inputs.imageRows, pack.imageStart[1]);
  lastLogitsForward(ctx, cfg, params, acts, 1);
  let logits = await ctx.readF32(acts.head.logits, V);

  const tokens: number[] = [];
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
      ctx.upload(ws.token, Int32Array.of(tokens[i - 1])); // safe: the last read flushed all recorded work
      ctx.upload(ws.pos, Int32Array.of(pos));
      decodeStep(core, ws, lora, row);
      logits = await ctx.readF32(ws.logits, V);
    }
    if (logits.some((v) => !Number.isFinite(v))) throw new NonFiniteError(`logits of generated token ${i}`, 'NaN or Inf in the forward pass');
    if (opts.keepLogits) kept.push(logits);
    const tok = sampleToken(logits, temperature, topP, rng);
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
