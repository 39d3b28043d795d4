// The LoRA adapter: every A [r, IN] and B [OUT, r] of every adapted layer lives in ONE flat f32
// buffer (and one for gradients, and Adam's m and v), at 256-byte aligned offsets, so the
// optimizer, the gradient norm and the finiteness check are one dispatch each and each matrix
// binds directly as a window. Init as PEFT: A Kaiming-uniform U(-1/sqrt(IN), 1/sqrt(IN)), B zeros.
import type { Binding, GpuContext } from '../gpu';
import { Rng } from '../util/rng';
import type { DecoderConfig } from './config';
import { EngineInputError } from './errors';
import type { LoraTarget } from './checkpoint';
import { loraLayout, type LoraConfig, type LoraLayout, type LoraTensor } from './layout';

/** The windows of one adapted linear layer. */
export interface LoraBindings {
  A: Binding;
  B: Binding;
  dA: Binding;
  dB: Binding;
}

/** Adapter and optimizer state as plain arrays (checkpoints). */
export interface LoraState {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** Adam steps taken (bias correction). */
  step: number;
}

export class LoraAdapter {
  readonly layout: LoraLayout;
  readonly params: GPUBuffer;
  readonly grads: GPUBuffer;
  readonly m: GPUBuffer;
  readonly v: GPUBuffer;
  /** Adam steps taken so far. */
  step = 0;
  private byName: Map<string, LoraTensor>;

  private constructor(
    private ctx: GpuContext,
    layout: LoraLayout,
  ) {
    this.layout = layout;
    const bytes = layout.totalFloats * 4;
    const made: GPUBuffer[] = [];
    try {
      for (const what of ['params', 'grads', 'adam m', 'adam v'])
        made.push(ctx.createBuffer(`LoRA ${what} (${layout.paramCount} values)`, bytes));
    } catch (e) {
      for (const b of made) ctx.destroyBuffer(b);
      throw e;
    }
    [this.params, this.grads, this.m, this.v] = made;
    this.byName = new Map(layout.tensors.map((t) => [t.name, t]));
  }

  /** The layout an adapter on this context gets (offsets aligned for binding windows). */
  static layoutFor(ctx: GpuContext, cfg: DecoderConfig, lc: LoraConfig, prefix: string): LoraLayout {
    return loraLayout(cfg, lc, prefix, Math.max(256, ctx.limits.minStorageBufferOffsetAlignment));
  }

  static create(ctx: GpuContext, cfg: DecoderConfig, lc: LoraConfig, prefix: string): LoraAdapter {
    const adapter = new LoraAdapter(ctx, LoraAdapter.layoutFor(ctx, cfg, lc, prefix));
    adapter.init(lc.seed);
    return adapter;
  }

  /** GPU bytes of the four flat buffers (parameters, gradients, Adam m and v). */
  get bytes(): number {
    return [this.params, this.grads, this.m, this.v].reduce((n, b) => n + b.size, 0);
  }

  get scale(): number {
    return this.layout.scale;
  }

  get r(): number {
    return this.layout.r;
  }

  /** Fresh adapter: A Kaiming-uniform from `seed`, B zero, optimizer state cleared. */
  init(seed: number): void {
    const rng = new Rng(seed);
    const host = new Float32Array(this.layout.totalFloats);
    for (const t of this.layout.tensors) {
      if (t.kind !== 'A') continue;
      const bound = 1 / Math.sqrt(t.shape[1]);
      for (let i = 0; i < t.count; i++) host[t.offset + i] = rng.uniform(-bound, bound);
    }
    this.ctx.flush(); // recorded work must not see the new values
    this.ctx.upload(this.params, host);
    this.ctx.clear(this.grads);
    this.ctx.clear(this.m);
    this.ctx.clear(this.v);
    this.step = 0;
  }

  private win(buffer: GPUBuffer, t: LoraTensor): Binding {
    return { buffer, offset: t.offset * 4, size: t.count * 4 };
  }

  /** The windows of layer `l`'s `target`, or null when that target is not adapted. */
  bindings(l: number, target: LoraTarget): LoraBindings | null {
    const e = this.layout.byLayer[l]?.[target];
    if (!e) return null;
    return { A: this.win(this.params, e.A), B: this.win(this.params, e.B), dA: this.win(this.grads, e.A), dB: this.win(this.grads, e.B) };
  }

  /** Records a clear of the gradient buffer (start of a step). */
  zeroGrads(): void {
    this.ctx.clear(this.grads);
  }

  private async readNamed(buffer: GPUBuffer): Promise<Map<string, Float32Array>> {
    const all = await this.ctx.readF32(buffer, this.layout.totalFloats);
    const out = new Map<string, Float32Array>();
    for (const t of this.layout.tensors) out.set(t.name, all.slice(t.offset, t.offset + t.count));
    return out;
  }

  /** Every A and B by PEFT name (lora_A: [r, IN], lora_B: [OUT, r], row-major). */
  get(): Promise<Map<string, Float32Array>> {
    return this.readNamed(this.params);
  }

  /** The accumulated gradients by the same names. */
  getGrads(): Promise<Map<string, Float32Array>> {
    return this.readNamed(this.grads);
  }

  /** Shape of a named tensor, for callers that export the adapter. */
  shapeOf(name: string): [number, number] | undefined {
    return this.byName.get(name)?.shape;
  }

  /**
   * Overwrites the named tensors (others keep their values). Unknown names and wrong sizes are an
   * EngineInputError: an adapter made for another model or rank.
   */
  async set(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    for (const [name, data] of values) {
      const t = this.byName.get(name);
      if (!t)
        throw new EngineInputError(
          `LoRA tensor ${name} does not exist in this adapter (r = ${this.r}, targets ${this.layout.targets.join(', ')}). Load an adapter made for this model and rank.`,
        );
      if (data.length !== t.count)
        throw new EngineInputError(
          `LoRA tensor ${name}: ${data.length} values, expected [${t.shape.join(', ')}] = ${t.count}. The adapter's rank or model does not match.`,
        );
    }
    const host = await this.ctx.readF32(this.params, this.layout.totalFloats); // read() flushes recorded work first
    for (const [name, data] of values) host.set(data, this.byName.get(name)!.offset);
    this.ctx.upload(this.params, host);
  }

  /** Parameters, Adam moments and step count, for a checkpoint. */
  async exportState(): Promise<LoraState> {
    const n = this.layout.totalFloats;
    return {
      params: await this.ctx.readF32(this.params, n),
      m: await this.ctx.readF32(this.m, n),
      v: await this.ctx.readF32(this.v, n),
      step: this.step,
    };
  }

  importState(s: LoraState): void {
    const n = this.layout.totalFloats;
    for (const [k, a] of [
      ['params', s.params],
      ['m', s.m],
      ['v', s.v],
    ] as const)
      if (a.length !== n)
        throw new EngineInputError(
          `LoRA checkpoint: ${k} has ${a.length} values, this adapter has ${n}. The checkpoint was made with another model, rank or target list.`,
        );
    this.ctx.flush();
    this.ctx.upload(this.params, s.params);
    this.ctx.upload(this.m, s.m);
    this.ctx.upload(this.v, s.v);
    this.ctx.clear(this.grads);
    this.step = s.step;
  }

  destroy(): void {
    for (const b of [this.params, this.grads, this.m, this.v]) this.ctx.destroyBuffer(b);
  }
}
