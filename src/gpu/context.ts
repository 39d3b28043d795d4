// Buffers, uploads, readback, a pipeline cache and batched dispatch over one GPUDevice.
// Kernels bind a uniform block at @binding(0) when they take parameters, then their storage
// buffers at @binding(1..n) in the order the host wrapper passes them.
import { acquireDevice, type AcquiredDevice, type GpuFeatures, type GpuRequestOptions } from './device';
import { DeviceLostError, GpuLimitError, GpuValidationError } from './errors';

/** A storage buffer, or a window of one (offset must respect minStorageBufferOffsetAlignment). */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

export interface MemoryStats {
  /** Bytes in live buffers the engine created through this context. */
  current: number;
  /** Highest `current` since the last resetPeak(). */
  peak: number;
  /** Bytes of every buffer created so far, destroyed ones included (a difference of two readings
   * is what was allocated in between, even if it was freed again). */
  created: number;
}

const STORAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC (GPUBufferUsage may not be global yet)

export class GpuContext {
  readonly device: GPUDevice;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  readonly adapterInfo: AcquiredDevice['adapterInfo'];
  readonly memory: MemoryStats = { current: 0, peak: 0, created: 0 };

  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, GPUComputePipeline>();
  private uniforms = new Map<string, GPUBuffer>();
  private transient: GPUBuffer[] = [];
  /** Uniform buffers freed after their submit (profileTrace cannot replay their dispatches). */
  readonly transientUniforms = new WeakSet<GPUBuffer>();
  private sizes = new WeakMap<GPUBuffer, number>();
  private ids = new WeakMap<GPUBuffer, number>();
  private nextId = 1;
  private bindGroups = new Map<string, GPUBindGroup>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private lostInfo: GPUDeviceLostInfo | null = null;
  private errors: string[] = [];
  /** Dispatches recorded since creation (for benchmarks and sanity checks). */
  dispatchCount = 0;
  /** When set, every dispatch is also recorded here (profiling: see profileTrace). */
  trace: { pipeline: GPUComputePipeline; uniform: GPUBuffer | null; storage: Binding[]; workgroups: [number, number, number] }[] | null =
    null;

  constructor(acquired: AcquiredDevice) {
    this.device = acquired.device;
    this.features = acquired.features;
    this.limits = acquired.device.limits;
    this.adapterInfo = acquired.adapterInfo;
    this.device.lost.then((info) => {
      this.lostInfo = info;
    });
    this.device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(e.message);
    });
  }

  static async create(opts?: GpuRequestOptions): Promise<GpuContext> {
    return new GpuContext(await acquireDevice(opts));
  }

  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  private checkAlive(): void {
    if (this.lostInfo) throw new DeviceLostError(this.lostInfo.reason ?? 'unknown', this.lostInfo.message || 'no message');
  }

  // ---- buffers -------------------------------------------------------------------------

  /** A storage buffer of `byteSize` bytes (rounded up to 4), zero-initialised. */
  createBuffer(label: string, byteSize: number, usage: number = STORAGE): GPUBuffer {
    this.checkAlive();
    const size = Math.max(4, Math.ceil(byteSize / 4) * 4);
    if (size > this.limits.maxBufferSize)
      throw new GpuLimitError(
        `${label}: ${fmtBytes(size)} exceeds this GPU's largest buffer (${fmtBytes(this.limits.maxBufferSize)}). Use a smaller model, shorter sequences or a smaller batch.`,
      );
    if (usage & 0x80 && size > this.limits.maxStorageBufferBindingSize)
      throw new GpuLimitError(
        `${label}: ${fmtBytes(size)} exceeds this GPU's storage binding limit (${fmtBytes(this.limits.maxStorageBufferBindingSize)}). Use a smaller model, shorter sequences or a smaller batch.`,
      );
    const buffer = this.device.createBuffer({ label, size, usage });
    this.sizes.set(buffer, size);
    this.ids.set(buffer, this.nextId++);
    this.memory.current += size;
    this.memory.created += size;
    this.memory.peak = Math.max(this.memory.peak, this.memory.current);
    return buffer;
  }

  /** A storage buffer holding `data`. */
  createBufferFrom(label: string, data: ArrayBufferView): GPUBuffer {
    const buffer = this.createBuffer(label, data.byteLength);
    this.upload(buffer, data);
    return buffer;
  }

  destroyBuffer(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size !== undefined) {
      this.memory.current -= size;
      this.sizes.delete(buffer);
    }
    buffer.destroy();
  }

  resetPeak(): void {
    this.memory.peak = this.memory.current;
  }

  upload(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.checkAlive();
    // writeBuffer needs a multiple of 4 bytes.
    const len = data.byteLength;
    if (len % 4 === 0) {
      this.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, len);
    } else {
      const padded = new Uint8Array(Math.ceil(len / 4) * 4);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, len));
      this.device.queue.writeBuffer(buffer, byteOffset, padded);
    }
  }

  /** Copies `byteSize` bytes (default: the whole buffer) back to the CPU. Flushes pending work. */
  async read(buffer: GPUBuffer, byteSize?: number, byteOffset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil((byteSize ?? (this.sizes.get(buffer) ?? buffer.size) - byteOffset) / 4) * 4;
    const staging = this.device.createBuffer({ label: 'readback', size, usage: 0x0001 | 0x0008 }); // MAP_READ | COPY_DST
    this.endPass();
    const enc = this.encoder ?? this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.encoder = null;
    this.device.queue.submit([enc.finish()]);
    this.releaseTransient();
    try {
      await staging.mapAsync(0x0001); // GPUMapMode.READ
    } catch (e) {
      this.checkAlive();
      throw e;
    }
    const out = staging.getMappedRange().slice(0);
    staging.destroy();
    this.throwErrors();
    return byteSize !== undefined && byteSize !== size ? out.slice(0, byteSize) : out;
  }

  async readF32(buffer: GPUBuffer, count?: number, offset = 0): Promise<Float32Array> {
    return new Float32Array(await this.read(buffer, count !== undefined ? count * 4 : undefined, offset * 4));
  }

  async readU32(buffer: GPUBuffer, count?: number, offset = 0): Promise<Uint32Array> {
    return new Uint32Array(await this.read(buffer, count !== undefined ? count * 4 : undefined, offset * 4));
  }

  async readI32(buffer: GPUBuffer, count?: number, offset = 0): Promise<Int32Array> {
    return new Int32Array(await this.read(buffer, count !== undefined ? count * 4 : undefined, offset * 4));
  }

  /** Records a copy between buffers in order with the dispatches. */
  copy(src: GPUBuffer, dst: GPUBuffer, byteSize: number, srcOffset = 0, dstOffset = 0): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, byteSize);
  }

  /** Records a clear (zero fill) in order with the dispatches. */
  clear(buffer: GPUBuffer, byteOffset = 0, byteSize?: number): void {
    this.endPass();
    this.commandEncoder().clearBuffer(buffer, byteOffset, byteSize);
  }

  // ---- pipelines and dispatch ----------------------------------------------------------

  /** A compute pipeline for `entryPoint` of `code`, compiled once per (code, entry, constants). */
  pipeline(code: string, entryPoint: string, constants?: Record<string, number>): GPUComputePipeline {
    const key = `${entryPoint}\u0000${constants ? JSON.stringify(constants) : ''}\u0000${code}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    let module = this.modules.get(code);
    if (!module) {
      module = this.device.createShaderModule({ code });
      this.modules.set(code, module);
    }
    p = this.device.createComputePipeline({
      label: entryPoint,
      layout: 'auto',
      compute: { module, entryPoint, constants },
    });
    this.pipelines.set(key, p);
    return p;
  }

  /** Compiles a pipeline and reports WGSL errors as a GpuValidationError (for tests and start-up). */
  async checkPipeline(code: string, entryPoint: string, constants?: Record<string, number>): Promise<void> {
    this.device.pushErrorScope('validation');
    this.pipeline(code, entryPoint, constants);
    const err = await this.device.popErrorScope();
    if (err) throw new GpuValidationError(`${entryPoint}: ${err.message}`);
  }

  /**
   * A uniform buffer with these bytes. Shapes repeat from step to step, so buffers are cached by
   * content; `transient` ones (per-step values such as the learning rate) are freed after the
   * next submit instead.
   */
  uniform(data: ArrayBuffer | ArrayBufferView, transient = false): GPUBuffer {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
    if (transient) {
      const b = this.device.createBuffer({ label: 'uniform (transient)', size, usage: 0x40 | 0x08 });
      this.device.queue.writeBuffer(b, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.transient.push(b);
      this.transientUniforms.add(b);
      return b;
    }
    let key = '';
    for (let i = 0; i < bytes.length; i++) key += String.fromCharCode(bytes[i]);
    let b = this.uniforms.get(key);
    if (!b) {
      b = this.device.createBuffer({ label: 'uniform', size, usage: 0x40 | 0x08 }); // UNIFORM | COPY_DST
      this.device.queue.writeBuffer(b, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.uniforms.set(key, b);
    }
    return b;
  }

  /**
   * Records one dispatch. `uniform` (if any) binds at 0, `storage` at 1..n.
   * Work is submitted by flush() or read().
   */
  dispatch(pipeline: GPUComputePipeline, uniform: GPUBuffer | null, storage: Binding[], workgroups: [number, number?, number?]): void {
    this.checkAlive();
    const [x, y = 1, z = 1] = workgroups;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim)
      throw new GpuLimitError(`dispatch of ${x} x ${y} x ${z} workgroups exceeds this GPU's ${maxDim} per dimension`);
    if (x === 0 || y === 0 || z === 0) return;
    const bindGroup = this.bindGroup(pipeline, uniform, storage);
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, bindGroup);
    this.pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
    this.trace?.push({ pipeline, uniform, storage, workgroups: [x, y, z] });
  }

  private pipelineIds = new WeakMap<GPUComputePipeline, number>();

  private bindGroup(pipeline: GPUComputePipeline, uniform: GPUBuffer | null, storage: Binding[]): GPUBindGroup {
    let pid = this.pipelineIds.get(pipeline);
    if (pid === undefined) {
      pid = this.nextId++;
      this.pipelineIds.set(pipeline, pid);
    }
    const entries: GPUBindGroupEntry[] = [];
    let key = `${pid}`;
    let cacheable = true;
    if (uniform) {
      entries.push({ binding: 0, resource: { buffer: uniform } });
      const uid = this.ids.get(uniform);
      if (uid === undefined) cacheable = false;
      key += `|u${uid}`;
    }
    storage.forEach((b, i) => {
      // GPUBuffer has no `buffer` property, so this tells a window from a whole buffer.
      const win = 'buffer' in b ? b : null;
      const buffer = win ? win.buffer : (b as GPUBuffer);
      entries.push({ binding: i + 1, resource: win ? { buffer, offset: win.offset, size: win.size } : { buffer } });
      const id = this.ids.get(buffer);
      if (id === undefined) cacheable = false;
      key += `|${id}${win ? `@${win.offset}+${win.size}` : ''}`;
    });
    if (cacheable) {
      const hit = this.bindGroups.get(key);
      if (hit) return hit;
    }
    const group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    if (cacheable) this.bindGroups.set(key, group);
    return group;
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private releaseTransient(): void {
    // Buffers referenced by submitted work stay valid until that work completes.
    for (const b of this.transient) b.destroy();
    this.transient = [];
  }

  /** Submits recorded work. */
  flush(): void {
    this.checkAlive();
    this.endPass();
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
    }
    this.releaseTransient();
  }

  /** Submits and waits until the GPU is idle; throws recorded validation errors. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.checkAlive();
    this.throwErrors();
  }

  private throwErrors(): void {
    if (this.errors.length) {
      const msg = this.errors.join('\n');
      this.errors = [];
      throw new GpuValidationError(msg);
    }
  }

  /** Forgets buffers the caller destroyed so bind-group cache entries don't pin them. */
  dropBindGroupCache(): void {
    this.bindGroups.clear();
  }

  destroy(): void {
    this.flush();
    for (const b of this.uniforms.values()) b.destroy();
    this.uniforms.clear();
    this.bindGroups.clear();
    this.device.destroy();
  }
}

/**
 * Replays recorded dispatches one at a time, waiting for each, and sums wall-clock time per
 * pipeline (entry point). Buffers are modified again by the replay: use it only to profile.
 */
export async function profileTrace(
  ctx: GpuContext,
  trace: NonNullable<GpuContext['trace']>,
  repeats = 1,
): Promise<{ entry: string; ms: number; count: number }[]> {
  const by = new Map<string, { ms: number; count: number }>();
  for (const d of trace) {
    if (d.uniform && ctx.transientUniforms.has(d.uniform)) continue;
    await ctx.sync();
    const t0 = performance.now();
    for (let r = 0; r < repeats; r++) ctx.dispatch(d.pipeline, d.uniform, d.storage, d.workgroups);
    await ctx.sync();
    const e = by.get(d.pipeline.label) ?? { ms: 0, count: 0 };
    e.ms += (performance.now() - t0) / repeats;
    e.count++;
    by.set(d.pipeline.label, e);
  }
  return [...by.entries()].map(([entry, v]) => ({ entry, ...v })).sort((a, b) => b.ms - a.ms);
}

/** Splits a 1-D count of workgroups into x/y so neither passes the per-dimension limit. */
export function grid1d(workgroups: number, maxPerDim = 65535): [number, number] {
  if (workgroups <= maxPerDim) return [Math.max(1, workgroups), 1];
  const y = Math.ceil(workgroups / maxPerDim);
  return [Math.ceil(workgroups / y), y];
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
