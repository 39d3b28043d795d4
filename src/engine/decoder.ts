// The engine: a Llama-style decoder (frozen weights) with a LoRA adapter, the activation plan for
// (maxBatch, maxSeq), and the entry points the trainer uses: forward, POVID step, generation.
//
//   const engine = await Engine.create(ctx, cfg, weights, { maxBatch: 4, maxSeq: 128, lora: { r: 16, alpha: 32 } });
//   const out = await engine.forward([seq], { lora: false });      // log-prob sums, argmax, logits
//   const res = await engine.povidStep(examples, { loss, optimizer });
//   const gen = await engine.generate(prompt, { maxNewTokens: 64 });
//   engine.destroy();
import { fmtBytes, type GpuContext } from '../gpu';
import { packBatch, uploadBatch, type PackLimits, type SequenceInput } from './batch';
import { SMOLVLM_NAMES, type WeightNames } from './checkpoint';
import { ConfigError, type DecoderConfig } from './config';
import type { EngineCore } from './core';
import { EngineInputError, SequenceLengthError } from './errors';
import { decoderForward, headForward, lastLogitsForward, trainingPass } from './forward';
import { generate, generateBatch, type GenerateOptions, type GenerateResult } from './generate';
import type { GradNormScratch } from './kernels/adamw';
import { logprobChunk, logprobForward, sequenceLogprobSum, type LogprobScratch } from './kernels/logprob';
import { allocate, checkPlan, listSpecs, normalizeLoraConfig, planSpecs, specBytes, type Activations, type LoraConfig } from './layout';
import { LoraAdapter } from './lora';
import { destroyDecoderParams, uploadDecoderParams, type DecoderParams, type WeightDtype, type WeightSource } from './params';
import { povidStep, readMany, type PovidExample, type PovidStepOptions, type PovidStepResult } from './step';

export interface EngineOptions {
  /** Sequences per forward pass (a POVID step over E examples runs 2E). */
  maxBatch: number;
  /** Longest (padded) sequence, prompt and image tokens included. */
  maxSeq: number;
  /** Image feature rows per pass; default maxBatch * maxSeq. */
  maxImageRows?: number;
  /** LoRA settings (r, alpha, targets, seed); null for an engine without an adapter. */
  lora?: Partial<LoraConfig> | null;
  /** Weight storage on the GPU (default bf16; f32 for exact comparisons). */
  weightDtype?: WeightDtype;
  names?: WeightNames;
  /** Token whose positions image features replace when a sequence gives no explicit positions. */
  imageTokenId?: number;
  /** Allocate the backward pass's buffers (default true). */
  training?: boolean;
}

export interface ForwardOptions {
  /** Apply the adapter (false: the frozen base model, i.e. the reference policy). */
  lora: boolean;
  /** Also return the full-vocabulary logits at each sequence's last token. */
  lastLogits?: boolean;
}

export interface ForwardResult {
  /** Per sequence: sum of log p(target) over its answer positions. */
  logprobSums: number[];
  /** Per sequence: log p(target) at each answer position, in position order. */
  tokenLogprobs: Float32Array[];
  /** Per sequence: the argmax token at each answer position (teacher-forced). */
  argmax: Int32Array[];
  /** Per sequence: logits [V] at the last token, when asked for. */
  lastLogits?: Float32Array[];
}

/**
 * Bytes of every GPU buffer the engine created (storage buffers, as GpuContext counts them; the
 * context's own uniform and readback staging buffers are not the engine's).
 */
export interface EngineMemory {
  weights: number;
  /** The flat LoRA buffers: parameters, gradients, Adam m and v. */
  lora: number;
  /** The plan's inputs, activations and gradients. */
  activations: number;
  /** The plan's kernel scratch, readback buffer and decode workspace. */
  scratch: number;
  /** weights + lora + activations + scratch: all the engine holds, fixed from creation on. */
  total: number;
  /** Bytes the context holds now and at most since creation (all engines on it). */
  current: number;
  peak: number;
}

export class Engine implements EngineCore {
  readonly limits: PackLimits;
  readonly lpScratch: LogprobScratch;
  readonly normScratch: GradNormScratch | null;
  private destroyed = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly cfg: DecoderConfig,
    readonly params: DecoderParams,
    readonly lora: LoraAdapter | null,
    readonly acts: Activations,
    private owned: GPUBuffer[],
    private planBytes: { activations: number; scratch: number },
    readonly opts: EngineOptions,
  ) {
    this.limits = {
      maxBatch: opts.maxBatch,
      maxSeq: opts.maxSeq,
      maxImageRows: opts.maxImageRows ?? opts.maxBatch * opts.maxSeq,
      imageTokenId: opts.imageTokenId,
    };
    const { scratch, grads } = acts;
    const M = opts.maxBatch * opts.maxSeq;
    this.lpScratch = {
      M,
      V: cfg.vocabSize,
      Vc: logprobChunk(M, cfg.vocabSize),
      logits: scratch.logprobLogits,
      state: scratch.logprobState,
      splitK: scratch.splitK,
    };
    this.normScratch = grads && lora ? { n: lora.layout.totalFloats, a: grads.normA, b: grads.normB } : null;
  }

  static async create(ctx: GpuContext, cfg: DecoderConfig, weights: WeightSource, opts: EngineOptions): Promise<Engine> {
    for (const k of ['maxBatch', 'maxSeq'] as const)
      if (!Number.isInteger(opts[k]) || opts[k] <= 0) throw new ConfigError(`engine: ${k} must be a positive integer, got ${opts[k]}`);
    if (opts.maxSeq > cfg.maxPositions)
      throw new SequenceLengthError(
        `engine: maxSeq ${opts.maxSeq} is longer than the model's ${cfg.maxPositions} positions (max_position_embeddings). Use a smaller maxSeq.`,
      );
    const names = opts.names ?? SMOLVLM_NAMES;
    const lc = opts.lora === null ? null : normalizeLoraConfig(opts.lora ?? {});
    const training = opts.training ?? lc !== null;
    const sizes = {
      maxBatch: opts.maxBatch,
      maxSeq: opts.maxSeq,
      maxImageRows: opts.maxImageRows ?? opts.maxBatch * opts.maxSeq,
      training,
    };
    // Shapes first, so an impossible plan fails before anything is uploaded.
    const loraLayout = lc ? LoraAdapter.layoutFor(ctx, cfg, lc, names.prefix) : null;
    const specs = planSpecs(cfg, sizes, loraLayout);
    checkPlan(ctx, specs, `engine plan for ${opts.maxBatch} x ${opts.maxSeq} tokens`);
    const groupBytes = (...trees: unknown[]) =>
      trees.reduce((n: number, tree) => n + listSpecs(tree).reduce((a, x) => a + specBytes(x.spec), 0), 0);
    const planBytes = {
      activations: groupBytes(specs.inputs, specs.head, specs.layers, specs.res, specs.grads),
      scratch: groupBytes(specs.scratch, specs.decode),
    };
    const params = uploadDecoderParams(ctx, cfg, weights, opts.weightDtype ?? 'bf16', names);
    const owned: GPUBuffer[] = [];
    let lora: LoraAdapter | null = null;
    try {
      lora = lc ? LoraAdapter.create(ctx, cfg, lc, names.prefix) : null;
      const acts = allocate(ctx, specs, 'plan', owned);
      ctx.upload(
        acts.decode.lastRows,
        Int32Array.from({ length: opts.maxBatch }, (_, b) => b),
      );
      const engine = new Engine(ctx, cfg, params, lora, acts, owned, planBytes, { ...opts, names });
      await ctx.sync(); // surface upload / allocation errors here rather than in the first step
      return engine;
    } catch (e) {
      for (const b of owned) ctx.destroyBuffer(b);
      lora?.destroy();
      destroyDecoderParams(ctx, params);
      throw e;
    }
  }

  private alive(): void {
    if (this.destroyed) throw new EngineInputError('engine: used after destroy()');
  }

  /**
   * Log-prob sums of each sequence's answer (targets), the argmax per answer position, and
   * optionally the last position's logits. Never materialises full-sequence logits.
   */
  async forward(seqs: readonly SequenceInput[], opts: ForwardOptions): Promise<ForwardResult> {
    this.alive();
    const { ctx, cfg, params, acts } = this;
    if (opts.lora && !this.lora) throw new EngineInputError('forward: lora: true on an engine created without an adapter');
    const pack = packBatch(seqs, cfg, this.limits);
    const { B, T } = pack;
    const M = pack.rows.length;
    const I = pack.imageStart[B];
    uploadBatch(ctx, acts.inputs, pack);
    decoderForward(ctx, cfg, params, trainingPass(acts), opts.lora ? this.lora : null, B, T, {
      rows: acts.inputs.imageRows,
      pos: acts.inputs.imagePos,
      count: I,
    });
    const { head, inputs } = acts;
    if (M > 0) {
      headForward(ctx, cfg, params, acts, M);
      logprobForward(
        ctx,
        head.logprob,
        head.argmax,
        head.lse,
        head.hN,
        params.lmHead,
        inputs.targets,
        M,
        cfg.hiddenSize,
        cfg.vocabSize,
        this.lpScratch,
      );
      sequenceLogprobSum(ctx, head.policy, head.logprob, inputs.slotOfRow, M, B);
    }
    if (opts.lastLogits) lastLogitsForward(ctx, cfg, params, acts, acts.res[cfg.numLayers], inputs.lastRows, B);
    const V = cfg.vocabSize;
    const [sumsB, lpB, amB, logitsB] = await readMany(ctx, acts.scratch.readback, [
      { buf: head.policy, count: M > 0 ? B : 0 },
      { buf: head.logprob, count: M },
      { buf: head.argmax, count: M },
      { buf: head.logits, count: opts.lastLogits ? B * V : 0 },
    ]);
    const sums = M > 0 ? new Float32Array(sumsB) : new Float32Array(B);
    const lp = new Float32Array(lpB);
    const am = new Int32Array(amB);
    const logits = opts.lastLogits ? new Float32Array(logitsB) : null;
    const rs = pack.rowStart;
    return {
      logprobSums: Array.from(sums),
      tokenLogprobs: Array.from({ length: B }, (_, b) => lp.slice(rs[b], rs[b + 1])),
      argmax: Array.from({ length: B }, (_, b) => am.slice(rs[b], rs[b + 1])),
      lastLogits: logits ? Array.from({ length: B }, (_, b) => logits.slice(b * V, (b + 1) * V)) : undefined,
    };
  }

  /** LoRA-off log-prob sums of each example's chosen and rejected answers, to cache per example. */
  async referenceSums(examples: readonly Pick<PovidExample, 'chosen' | 'rejected'>[]): Promise<{ chosen: number; rejected: number }[]> {
    const out: { chosen: number; rejected: number }[] = [];
    const per = Math.max(1, Math.floor(this.limits.maxBatch / 2));
    for (let i = 0; i < examples.length; i += per) {
      const part = examples.slice(i, i + per);
      const r = await this.forward([...part.map((x) => x.chosen), ...part.map((x) => x.rejected)], { lora: false });
      part.forEach((_, e) => out.push({ chosen: r.logprobSums[e], rejected: r.logprobSums[part.length + e] }));
    }
    return out;
  }

  /** One POVID step over a batch of examples (see step.ts). */
  povidStep(examples: readonly PovidExample[], opts: PovidStepOptions): Promise<PovidStepResult> {
    this.alive();
    return povidStep(this, examples, opts);
  }

  /** KV-cache generation after a prompt (with image rows); see generate.ts. */
  generate(prompt: SequenceInput, opts: GenerateOptions): Promise<GenerateResult> {
    this.alive();
    return generate(this, prompt, opts);
  }

  /** KV-cache generation for up to maxBatch prompts at once; see generate.ts. */
  generateBatch(prompts: readonly SequenceInput[], opts: GenerateOptions): Promise<GenerateResult[]> {
    this.alive();
    return generateBatch(this, prompts, opts);
  }

  memory(): EngineMemory {
    const weights = this.params.bytes;
    const lora = this.lora ? this.lora.bytes : 0;
    const { activations, scratch } = this.planBytes;
    return {
      weights,
      lora,
      activations,
      scratch,
      total: weights + lora + activations + scratch,
      current: this.ctx.memory.current,
      peak: this.ctx.memory.peak,
    };
  }

  describe(): string {
    const m = this.memory();
    return `decoder ${this.cfg.numLayers} layers x ${this.cfg.hiddenSize}, weights ${this.params.dtype} ${fmtBytes(m.weights)}, LoRA ${this.lora ? `r ${this.lora.r} (${this.lora.layout.paramCount} params)` : 'none'}, activations ${fmtBytes(m.activations)} and scratch ${fmtBytes(m.scratch)} for ${this.opts.maxBatch} x ${this.opts.maxSeq}`;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ctx.flush();
    for (const b of this.owned) this.ctx.destroyBuffer(b);
    this.owned.length = 0;
    this.lora?.destroy();
    destroyDecoderParams(this.ctx, this.params);
    this.ctx.dropBindGroupCache();
  }
}
