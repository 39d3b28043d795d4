// The one place that owns memory layout (llm.c style): the flat LoRA buffer with its aligned
// offsets (shapes and names from checkpoint.ts), and every other buffer the engine keeps for a
// (B, T) plan: activations, gradients, kernel scratch (split-K partials, log-prob chunk,
// attention-backward statistics, gradient-norm partials), the readback buffer and the decode
// workspace. Everything is sized here, checked against the device limits, then allocated once.
import { fmtBytes, GpuLimitError, type GpuContext } from '../gpu';
import { LORA_TARGETS, loraName, targetShape, type LoraTarget } from './checkpoint';
import { ConfigError, type DecoderConfig } from './config';
import { gradNormPartials } from './kernels/adamw';
import { attentionStatsFloats } from './kernels/attention';
import { SPLIT_K_FLOATS } from './kernels/linear';
import { logprobChunk } from './kernels/logprob';

// ---- LoRA: one flat buffer ----------------------------------------------------------------

export interface LoraConfig {
  r: number;
  alpha: number;
  targets: readonly LoraTarget[];
  /** Seed of the Kaiming-uniform init of A. */
  seed: number;
}

export const DEFAULT_LORA: LoraConfig = { r: 16, alpha: 32, targets: LORA_TARGETS, seed: 0 };

export interface LoraTensor {
  /** `<prefix>layers.<i>.<module>.lora_A.weight` (PEFT names without `base_model.model.`). */
  name: string;
  layer: number;
  target: LoraTarget;
  kind: 'A' | 'B';
  shape: [number, number]; // A: [r, IN], B: [OUT, r]
  /** Offset in f32 elements; offset * 4 is a multiple of the binding alignment. */
  offset: number;
  count: number;
}

export interface LoraLayout {
  r: number;
  alpha: number;
  scale: number; // alpha / r
  targets: readonly LoraTarget[];
  tensors: LoraTensor[];
  /** tensors[layer][target] = { A, B } for adapted targets. */
  byLayer: Partial<Record<LoraTarget, { A: LoraTensor; B: LoraTensor }>>[];
  /** Length of the flat buffer in f32 elements (padding included, always zero). */
  totalFloats: number;
  /** Trainable parameters (padding excluded). */
  paramCount: number;
}

export function normalizeLoraConfig(c: Partial<LoraConfig> | undefined): LoraConfig {
  const cfg = { ...DEFAULT_LORA, ...c };
  if (!Number.isInteger(cfg.r) || cfg.r <= 0) throw new ConfigError(`LoRA rank r must be a positive integer, got ${cfg.r}`);
  if (!(cfg.alpha > 0)) throw new ConfigError(`LoRA alpha must be positive, got ${cfg.alpha}`);
  if (cfg.targets.length === 0) throw new ConfigError('LoRA needs at least one target module (q, k, v, o, gate, up, down)');
  for (const t of cfg.targets)
    if (!LORA_TARGETS.includes(t)) throw new ConfigError(`LoRA target "${t}" is not one of ${LORA_TARGETS.join(', ')}`);
  // Keep the canonical order so that the layout does not depend on how the caller listed them.
  const targets = LORA_TARGETS.filter((t) => cfg.targets.includes(t));
  return { ...cfg, targets };
}

export function loraLayout(cfg: DecoderConfig, lc: LoraConfig, prefix: string, alignBytes = 256): LoraLayout {
  const align = alignBytes / 4;
  const tensors: LoraTensor[] = [];
  const byLayer: LoraLayout['byLayer'] = [];
  let offset = 0;
  let paramCount = 0;
  const add = (layer: number, target: LoraTarget, kind: 'A' | 'B', shape: [number, number]): LoraTensor => {
    const t: LoraTensor = {
      name: loraName(prefix, layer, target, kind),
      layer,
      target,
      kind,
      shape,
      offset,
      count: shape[0] * shape[1],
    };
    tensors.push(t);
    paramCount += t.count;
    offset += Math.ceil(t.count / align) * align;
    return t;
  };
  for (let l = 0; l < cfg.numLayers; l++) {
    const entry: LoraLayout['byLayer'][number] = {};
    for (const target of lc.targets) {
      const { IN, OUT } = targetShape(cfg, target);
      const A = add(l, target, 'A', [lc.r, IN]);
      const B = add(l, target, 'B', [OUT, lc.r]);
      entry[target] = { A, B };
    }
    byLayer.push(entry);
  }
  return { r: lc.r, alpha: lc.alpha, scale: lc.alpha / lc.r, targets: lc.targets, tensors, byLayer, totalFloats: offset, paramCount };
}

// ---- the plan: activations, scratch and the decode workspace ------------------------------

export type ElemType = 'f32' | 'i32' | 'u32';

export interface TensorSpec {
  readonly spec: true;
  shape: number[];
  dtype: ElemType;
}

const t = (shape: number[], dtype: ElemType = 'f32'): TensorSpec => ({ spec: true, shape, dtype });

export interface PlanSizes {
  maxBatch: number; // sequences per forward pass
  maxSeq: number; // tokens per sequence (padded length T)
  maxImageRows: number; // image feature rows per forward pass
  training: boolean; // allocate backward scratch
}

/** What the plan needs to know of the adapter. */
export interface LoraPlan {
  r: number;
  targets: readonly LoraTarget[];
  /** Length of the flat LoRA buffer in f32 values (LoraLayout.totalFloats). */
  totalFloats: number;
}

/** The activations of one decoder layer's forward over N rows (kept for the backward). */
function layerSpecs(cfg: DecoderConfig, N: number, lora: LoraPlan | null) {
  const C = cfg.hiddenSize;
  const KV = cfg.numKvHeads * cfg.headDim;
  const FF = cfg.intermediateSize;
  const xa: Partial<Record<LoraTarget, TensorSpec>> = {};
  if (lora) for (const target of lora.targets) xa[target] = t([N, lora.r]);
  return {
    ln1: t([N, C]), // input_layernorm output
    rstd1: t([N]),
    q: t([N, C]), // after RoPE
    k: t([N, KV]), // after RoPE; also the key cache when decoding (B = 1)
    v: t([N, KV]), // also the value cache when decoding
    att: t([N, C]), // attention output before o_proj
    lse: t([cfg.numHeads * N]), // softmax log-sum-exp per (row, head) for the backward
    h: t([N, C]), // residual after the attention block
    ln2: t([N, C]), // post_attention_layernorm output
    rstd2: t([N]),
    gate: t([N, FF]),
    up: t([N, FF]),
    sw: t([N, FF]), // silu(gate) * up, input of down_proj
    xa, // x A^T per adapted target, [N, r]
  };
}

/**
 * f32 values the one readback of a pass copies out: forward() reads B sums, M log-probs, M argmax
 * and B x V last logits; a POVID step reads the loss, 3E policy and 3E reference sums (E <= B/2),
 * the gradient norm, the finiteness flag and two y_n rows per chosen answer row.
 */
function readbackFloats(B: number, M: number, V: number): number {
  return Math.max(B + 2 * M + B * V, 3 + 6 * Math.floor(B / 2) + 2 * M);
}

/**
 * Every GPU buffer the engine allocates beyond its weights and the LoRA buffers, by name: inputs,
 * activations, gradients, kernel scratch and the one-row decode workspace.
 */
export function planSpecs(cfg: DecoderConfig, sizes: PlanSizes, lora: LoraPlan | null) {
  const C = cfg.hiddenSize;
  const KV = cfg.numKvHeads * cfg.headDim;
  const FF = cfg.intermediateSize;
  const V = cfg.vocabSize;
  const N = sizes.maxBatch * sizes.maxSeq; // token rows
  const M = N; // answer rows (at most every row)
  const S = 3 * sizes.maxBatch; // log-prob slots (POVID: 3 per example)
  const I = Math.max(1, sizes.maxImageRows);
  const B = sizes.maxBatch;
  const inputs = {
    tokens: t([N], 'i32'),
    positions: t([N], 'i32'),
    keyMask: t([N], 'u32'),
    imageRows: t([I, C]),
    imagePos: t([I], 'i32'),
    noisyImageRows: t([I, C]),
    rows: t([M], 'i32'), // answer rows in [0, N)
    targets: t([M], 'i32'), // next token at each answer row
    slotOfRow: t([M], 'i32'), // log-prob slot (sequence, or 3e + kind in a POVID step) of each answer row
    slotOfYn: t([M], 'i32'), // slot 3e + 2 of each y_n row (the chosen answers' rows)
    lastRows: t([B], 'i32'), // last real row of each sequence
    cachedRef: t([S]), // reference sums supplied by the caller
  };
  const head = {
    hG: t([M, C]), // last residual at the answer rows
    hN: t([M, C]), // after the final norm
    rstdF: t([M]),
    logprob: t([M]),
    argmax: t([M], 'i32'),
    lse: t([M]),
    logprobN: t([M]), // log p(y_n) per row
    argmaxN: t([M], 'i32'),
    lseN: t([M]),
    yn: t([M], 'i32'), // noise-triggered answer tokens (the policy's argmax on the noisy image)
    ynRef: t([M], 'i32'), // the reference model's own argmax on the noisy image
    policy: t([S]),
    ynSums: t([S]), // the y_n part of a sum vector before it is added in
    reference: t([S]),
    loss: t([1]),
    dPolicy: t([S]),
    stats: t([S * 8]),
    normSq: t([1]),
    finite: t([1], 'u32'),
    hLast: t([B, C]),
    hLastN: t([B, C]),
    rstdLast: t([B]),
    logits: t([B, V]),
  };
  const layers = Array.from({ length: cfg.numLayers }, () => layerSpecs(cfg, N, lora));
  const res = Array.from({ length: cfg.numLayers + 1 }, () => t([N, C])); // residual stream into layer l
  const Vc = logprobChunk(M, V);
  const scratch = {
    proj: t([N, C]), // o_proj / down_proj output before the residual add
    splitK: t([SPLIT_K_FLOATS]), // split-K partial sums of every matrix product (linear.ts)
    logprobLogits: t([M, Vc]), // one vocabulary chunk of logits (logprob.ts)
    logprobState: t([M, 2]), // running max and sum of exp per row
    readback: t([readbackFloats(B, M, V)]), // what a pass copies out, read back in one transfer
  };
  // KV-cache decoding: one new token per sequence (up to B at once) through every layer (the
  // layers share these: no backward); the cache itself is the prefill's k and v in `layers`.
  const decode = {
    tokens: t([B], 'i32'),
    positions: t([B], 'i32'),
    lastRows: t([B], 'i32'), // row b: sequence b's logits
    keyMask: t([B * sizes.maxSeq], 'u32'), // which cached rows are real (prompt padding is not)
    res: [t([B, C]), t([B, C])], // residual stream, ping-pong between layers
    layer: layerSpecs(cfg, B, lora),
    proj: t([B, C]),
  };
  const [normA, normB] = gradNormPartials(lora ? lora.totalFloats : 1);
  const grads = sizes.training
    ? {
        dres: t([N, C]),
        dln: t([N, C]),
        datt: t([N, C]),
        dq: t([N, C]),
        dk: t([N, KV]),
        dv: t([N, KV]),
        dsw: t([N, FF]),
        dgate: t([N, FF]),
        dup: t([N, FF]),
        dxa: t([N, lora ? lora.r : 1]),
        dhN: t([M, C]),
        dG: t([M, C]),
        dlogprob: t([M]),
        dlogprobN: t([M]),
        attentionStats: t([attentionStatsFloats(B, cfg.numHeads, sizes.maxSeq)]), // attention backward scratch
        normA: t([normA]), // gradient-norm partial sums (adamw.ts)
        normB: t([normB]),
      }
    : null;
  return { inputs, head, layers, res, scratch, decode, grads };
}

export type PlanSpecs = ReturnType<typeof planSpecs>;

/** A spec tree with every TensorSpec replaced by its GPU buffer. */
export type Allocated<T> = T extends TensorSpec
  ? GPUBuffer
  : T extends null
    ? null
    : T extends readonly (infer U)[]
      ? Allocated<U>[]
      : { [K in keyof T]: Allocated<T[K]> };

/** The plan's buffers (what forward, backward, step and generation work on). */
export type Activations = Allocated<PlanSpecs>;

/** Bytes of a tensor as GpuContext.createBuffer allocates it (4 per value, at least 4). */
export const specBytes = (s: TensorSpec): number => Math.max(4, 4 * s.shape.reduce((a, b) => a * b, 1));

/** Every tensor of a spec tree with a dotted name. */
export function listSpecs(tree: unknown, prefix = ''): { name: string; spec: TensorSpec }[] {
  const out: { name: string; spec: TensorSpec }[] = [];
  const walk = (node: unknown, name: string) => {
    if (node === null || node === undefined) return;
    if ((node as TensorSpec).spec === true) {
      out.push({ name, spec: node as TensorSpec });
      return;
    }
    if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${name}[${i}]`));
    else for (const [k, v] of Object.entries(node as object)) walk(v, name ? `${name}.${k}` : k);
  };
  walk(tree, prefix);
  return out;
}

/** Refuses a plan with any tensor over the device's binding limit, naming the tensor, before allocating. */
export function checkPlan(ctx: GpuContext, tree: unknown, what: string): number {
  let total = 0;
  const limit = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  for (const { name, spec } of listSpecs(tree)) {
    const bytes = specBytes(spec);
    total += bytes;
    if (bytes > limit)
      throw new GpuLimitError(
        `${what}: buffer ${name} [${spec.shape.join(', ')}] needs ${fmtBytes(bytes)}, over this GPU's ${fmtBytes(limit)} buffer binding limit. ` +
          'Use a smaller batch (maxBatch) or shorter sequences (maxSeq).',
      );
  }
  return total;
}

/** Allocates every tensor of a spec tree (zero-initialised), labelled with its name. */
export function allocate<T>(ctx: GpuContext, tree: T, prefix: string, made: GPUBuffer[]): Allocated<T> {
  const walk = (node: unknown, name: string): unknown => {
    if (node === null || node === undefined) return node;
    if ((node as TensorSpec).spec === true) {
      const b = ctx.createBuffer(name, specBytes(node as TensorSpec));
      made.push(b);
      return b;
    }
    if (Array.isArray(node)) return node.map((n, i) => walk(n, `${name}[${i}]`));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node as object)) out[k] = walk(v, `${name}.${k}`);
    return out;
  };
  return walk(tree, prefix) as Allocated<T>;
}
