// Where a model's files come from (a hub repository, a plain URL folder, or a folder the user
// dropped) behind one small interface, and the composition that loads everything the app needs.
// Downloads stream with progress and are checked for completeness; byte ranges let the loader
// fetch only the decoder's tensors out of model.safetensors.

import type { ByteCache } from './cache';
import { parseGenerationConfig, parseModelConfig, type GenerationConfig, type ModelConfig } from './config';
import type { RawTensor } from './safetensors';
import { VISION_ENCODER_FILES, visionVariantOrder, type VisionEncoderVariant } from './vision-variants';
import { findDecoderPrefix, loadDecoderTensors, type LoadDecoderTensorsOptions } from './weights';

export { loadDecoderTensors } from './weights';
export { VISION_ENCODER_FILES, type VisionEncoderVariant } from './vision-variants';

export type ModelSource =
  | { kind: 'hub'; id: string; baseUrl?: string /* default https://huggingface.co */; revision?: string /* default main */ }
  | { kind: 'url'; url: string /* folder base URL */ }
  | { kind: 'files'; files: Map<string, Blob> /* relative path -> file, from a dropped folder */ };

export interface DownloadProgress {
  path: string;
  loaded: number; // bytes received so far
  total: number; // bytes expected; 0 when the server does not say
}
export type ProgressCallback = (p: DownloadProgress) => void;

export interface ModelFiles {
  /** Says where the files come from, for messages ("HuggingFaceTB/SmolVLM-256M-Instruct (revision main)"). */
  readonly description: string;
  has(path: string): Promise<boolean>;
  text(path: string): Promise<string>;
  bytes(path: string, onProgress?: ProgressCallback): Promise<Uint8Array>;
  /** Bytes [start, end) of the file. The result may be a view into a larger buffer. */
  range(path: string, start: number, end: number, onProgress?: ProgressCallback): Promise<Uint8Array>;
  size(path: string): Promise<number>;
}

export interface OpenModelFilesOptions {
  fetch?: typeof fetch;
  cache?: ByteCache;
  /** Progress of whole-file downloads (bytes()); range pieces report through their own callback. */
  onProgress?: ProgressCallback;
}

export class ModelSourceError extends Error {
  override name = 'ModelSourceError';
}

/** One or more files the model needs are not there. */
export class ModelFileMissingError extends ModelSourceError {
  override name = 'ModelFileMissingError';
  constructor(
    readonly paths: string[],
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_HUB_URL = 'https://huggingface.co';

export function openModelFiles(source: ModelSource, opts: OpenModelFilesOptions = {}): ModelFiles {
  switch (source.kind) {
    case 'hub': {
      if (!/^[\w.-]+(\/[\w.-]+)?$/.test(source.id) || source.id.includes('..')) {
        throw new ModelSourceError(`"${source.id}" is not a hub model id; write it as owner/name, e.g. HuggingFaceTB/SmolVLM-256M-Instruct`);
      }
      const revision = source.revision ?? 'main';
      const base = `${trimSlashes(source.baseUrl ?? DEFAULT_HUB_URL)}/${source.id}/resolve/${encodeURIComponent(revision)}/`;
      return new HttpModelFiles(base, `${source.id} (revision ${revision})`, opts);
    }
    case 'url':
      return new HttpModelFiles(`${trimSlashes(source.url)}/`, source.url, opts);
    case 'files':
      return new BlobModelFiles(source.files, opts);
  }
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Paths come from our own code, but never let one climb out of the model folder. */
function checkPath(path: string): void {
  const parts = path.split('/');
  if (!path || path.startsWith('/') || /[\\?#]/.test(path) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModelSourceError(`"${path}" is not a relative file path inside the model folder`);
  }
}

function checkRange(path: string, start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new ModelSourceError(`${path}: invalid byte range [${start}, ${end})`);
  }
}

function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? ` (${e.cause.message})` : '';
  return `${e.message}${cause}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP: hub repositories and plain URL folders

interface ContentRange {
  start: number;
  end: number; // exclusive
  total?: number;
}

function parseContentRange(value: string | null): ContentRange | undefined {
  const m = value?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]) + 1, total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** The decoded body's length as announced, or undefined when it cannot be known. */
function announcedLength(res: Response): number | undefined {
  const encoding = res.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return undefined; // Content-Length then counts compressed bytes
  const value = res.headers.get('content-length');
  if (value === null || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

async function discardBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // nothing to release
  }
}

class HttpModelFiles implements ModelFiles {
  private readonly fetchFn: typeof fetch;
  private readonly sizes = new Map<string, number>();
  /** Files whose server ignored a Range header: the whole body, fetched once and sliced after. */
  private readonly wholeBodies = new Map<string, Promise<Uint8Array>>();

  constructor(
    private readonly baseUrl: string,
    readonly description: string,
    private readonly opts: OpenModelFilesOptions,
  ) {
    const f = opts.fetch ?? globalThis.fetch;
    this.fetchFn = (input, init) => f(input, init); // unbound window.fetch throws "Illegal invocation"
  }

  urlOf(path: string): string {
    checkPath(path);
    return this.baseUrl + path.split('/').map(encodeURIComponent).join('/');
  }

  private async send(path: string, init: RequestInit = {}): Promise<Response> {
    const url = this.urlOf(path);
    try {
      return await this.fetchFn(url, init);
    } catch (e) {
      throw new ModelSourceError(
        `could not fetch ${path} from ${url}: ${errorText(e)}. Check the network connection and that the server allows cross-origin requests (CORS), then retry`,
      );
    }
  }

  /** Sends the request and turns HTTP failures into errors that say what to do. */
  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.send(path, init);
    if (res.ok) return res;
    await discardBody(res);
    throw this.statusError(res, path);
  }

  private statusError(res: Response, path: string): ModelSourceError {
    const url = this.urlOf(path);
    if (res.status === 404) {
      return new ModelFileMissingError([path], `${this.description} has no ${path} (HTTP 404 at ${url}). Check the model id, revision and file name`);
    }
    if (res.status === 401 || res.status === 403) {
      return new ModelSourceError(
        `${url} answered HTTP ${res.status}: the repository does not exist, is private, or is gated. ` +
          'This app sends no access token: use a public model, or download the folder and drop it on the page',
      );
    }
    if (res.status === 416) return new ModelSourceError(`${url} answered HTTP 416: the requested bytes lie past the end of ${path}. The file is shorter than its header says: it is damaged`);
    return new ModelSourceError(`${url} answered HTTP ${res.status} ${res.statusText}. Retry later`);
  }

  private async cacheGet(key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.opts.cache?.get(key);
    } catch {
      return undefined; // a broken cache only costs a download
    }
  }

  private async cachePut(key: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.opts.cache?.put(key, bytes);
    } catch {
      // Quota exceeded or storage unavailable: the download itself succeeded, so carry on.
    }
  }

  /**
   * Reads a body to the end with progress. `expected` is the length the caller needs (a range);
   * otherwise the announced Content-Length is required, when there is one.
   */
  private async readBody(res: Response, path: string, onProgress?: ProgressCallback, expected?: number): Promise<Uint8Array> {
    const url = this.urlOf(path);
    const announced = announcedLength(res);
    if (expected !== undefined && announced !== undefined && announced !== expected) {
      await discardBody(res);
      throw new ModelSourceError(`${url} announced ${announced} bytes where ${expected} were requested from ${path}. Retry; if it persists, the server mishandles range requests`);
    }
    const length = expected ?? announced;
    const total = length ?? 0;
    const cutOff = (loaded: number, why: string) =>
      new ModelSourceError(`the download of ${path} from ${url} stopped after ${loaded} of ${length ?? 'an unknown number of'} bytes${why}. The connection was interrupted: retry`);

    let buffer: Uint8Array | undefined;
    if (length !== undefined) {
      try {
        buffer = new Uint8Array(length);
      } catch {
        await discardBody(res);
        throw new ModelSourceError(`${path} is ${length} bytes, more than this browser can hold in memory`);
      }
    }
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    onProgress?.({ path, loaded, total });
    const tooMuch = (limit: number) =>
      new ModelSourceError(`${url} sent more than the ${limit} bytes announced for ${path}. Retry; if it persists, the server is misconfigured`);
    const reader = res.body?.getReader();
    if (reader) {
      for (;;) {
        let step: ReadableStreamReadResult<Uint8Array>;
        try {
          step = await reader.read();
        } catch (e) {
          throw cutOff(loaded, ` (${errorText(e)})`);
        }
        if (step.done) break;
        const chunk = step.value;
        if (buffer) {
          if (loaded + chunk.length > buffer.length) {
            await reader.cancel().catch(() => undefined);
            throw tooMuch(buffer.length);
          }
          buffer.set(chunk, loaded);
        } else {
          chunks.push(chunk);
        }
        loaded += chunk.length;
        onProgress?.({ path, loaded, total });
      }
    } else {
      // No stream (some fetch polyfills): one read, same checks.
      let whole: Uint8Array;
      try {
        whole = new Uint8Array(await res.arrayBuffer());
      } catch (e) {
        throw cutOff(0, ` (${errorText(e)})`);
      }
      if (buffer) {
        if (whole.length > buffer.length) throw tooMuch(buffer.length);
        buffer.set(whole);
      } else {
        chunks.push(whole);
      }
      loaded = whole.length;
      onProgress?.({ path, loaded, total });
    }
    if (buffer) {
      if (loaded !== buffer.length) throw cutOff(loaded, '');
      return buffer;
    }
    const out = new Uint8Array(loaded);
    let pos = 0;
    for (const c of chunks) {
      out.set(c, pos);
      pos += c.length;
    }
    return out;
  }

  async has(path: string): Promise<boolean> {
    const res = await this.send(path, { method: 'HEAD' });
    await discardBody(res);
    // Single-page-app hosts answer unknown paths with their index.html: none of the model's
    // files is HTML, so an HTML answer means the file is not there.
    if (res.ok) return !/^text\/html/i.test(res.headers.get('content-type') ?? '') || path.endsWith('.html');
    if (res.status === 404) return false;
    if (res.status === 405 || res.status === 501) {
      // HEAD not allowed: ask for a single byte instead.
      const probe = await this.send(path, { headers: { Range: 'bytes=0-0' } });
      await discardBody(probe);
      if (probe.ok || probe.status === 416 /* exists, empty */) return true;
      if (probe.status === 404) return false;
      throw this.statusError(probe, path);
    }
    throw this.statusError(res, path);
  }

  async size(path: string): Promise<number> {
    const known = this.sizes.get(path);
    if (known !== undefined) return known;
    const cached = await this.cacheGet(this.sizeKey(path));
    if (cached) {
      const n = Number(new TextDecoder().decode(cached));
      if (Number.isSafeInteger(n) && n >= 0) {
        this.sizes.set(path, n);
        return n;
      }
    }
    const head = await this.request(path, { method: 'HEAD' });
    await discardBody(head);
    let size = announcedLength(head);
    if (size === undefined) {
      // No usable Content-Length (compressed or omitted): the total in a one-byte Content-Range says it.
      const probe = await this.request(path, { headers: { Range: 'bytes=0-0' } });
      await discardBody(probe);
      size = probe.status === 206 ? parseContentRange(probe.headers.get('content-range'))?.total : announcedLength(probe);
    }
    if (size === undefined) throw new ModelSourceError(`${this.urlOf(path)} does not tell the size of ${path} (no Content-Length or Content-Range). Serve the folder with a server that does`);
    await this.learnSize(path, size);
    return size;
  }

  private sizeKey(path: string): string {
    return `${this.urlOf(path)} size`;
  }

  /** Remembers a file's size, also in the cache, so a cached load needs no request for it. */
  private async learnSize(path: string, size: number): Promise<void> {
    if (this.sizes.get(path) === size) return;
    this.sizes.set(path, size);
    await this.cachePut(this.sizeKey(path), new TextEncoder().encode(String(size)));
  }

  async bytes(path: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
    const progress = this.combine(onProgress);
    const key = this.urlOf(path);
    const cached = await this.cacheGet(key);
    if (cached) {
      progress?.({ path, loaded: cached.length, total: cached.length });
      return cached;
    }
    const kept = this.wholeBodies.get(path);
    if (kept) return kept;
    const data = await this.readBody(await this.request(path), path, progress);
    await this.cachePut(key, data);
    return data;
  }

  private combine(onProgress?: ProgressCallback): ProgressCallback | undefined {
    const global = this.opts.onProgress;
    if (!global) return onProgress;
    if (!onProgress) return global;
    return (p) => {
      global(p);
      onProgress(p);
    };
  }

  async range(path: string, start: number, end: number, onProgress?: ProgressCallback): Promise<Uint8Array> {
    checkRange(path, start, end);
    if (start === end) return new Uint8Array(0);
    const kept = this.wholeBodies.get(path);
    if (kept) return this.sliceWhole(path, await kept, start, end);

    const key = `${this.urlOf(path)} bytes=${start}-${end - 1}`;
    const cached = await this.cacheGet(key);
    if (cached && cached.length === end - start) {
      onProgress?.({ path, loaded: cached.length, total: cached.length });
      return cached;
    }
    // A cached piece of the wrong size is damaged: fetch it again and overwrite it.

    const res = await this.request(path, { headers: { Range: `bytes=${start}-${end - 1}` } });
    let data: Uint8Array;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (cr && (cr.start !== start || cr.end !== end)) {
        await discardBody(res);
        throw new ModelSourceError(`${this.urlOf(path)} sent bytes [${cr.start}, ${cr.end}) of ${path} where [${start}, ${end}) were requested. The file is shorter than expected or the server mishandles ranges`);
      }
      if (cr?.total !== undefined) await this.learnSize(path, cr.total);
      data = await this.readBody(res, path, onProgress, end - start);
    } else {
      // 200: the server ignores Range. Take the whole body once and serve later ranges from it.
      let whole = this.wholeBodies.get(path);
      if (whole) {
        await discardBody(res);
      } else {
        whole = this.readBody(res, path, onProgress);
        this.wholeBodies.set(path, whole);
        whole.catch(() => this.wholeBodies.delete(path)); // a failed download may be retried
      }
      const body = await whole;
      await this.learnSize(path, body.length);
      data = this.sliceWhole(path, body, start, end);
    }
    await this.cachePut(key, data);
    return data;
  }

  private sliceWhole(path: string, whole: Uint8Array, start: number, end: number): Uint8Array {
    if (end > whole.length) {
      throw new ModelSourceError(`${path} is ${whole.length} bytes, but bytes [${start}, ${end}) were requested. The file is shorter than its header says: it is damaged`);
    }
    return whole.subarray(start, end);
  }

  async text(path: string): Promise<string> {
    return decodeText(path, await this.bytes(path));
  }
}

function decodeText(path: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelSourceError(`${path} is not UTF-8 text; it is damaged or not the file it should be`);
  }
}

// ---------------------------------------------------------------------------------------------
// A dropped folder

/**
 * Normalises dropped paths: backslashes, "./", and the folder's own name (webkitRelativePath
 * gives "SmolVLM-256M-Instruct/config.json") are removed, so paths are relative to the model folder.
 */
export function normaliseDroppedPaths(files: Map<string, Blob>): Map<string, Blob> {
  let entries = [...files].map(([p, blob]) => [p.replace(/\\/g, '/').replace(/^(\.?\/)+/, ''), blob] as [string, Blob]);
  for (;;) {
    if (entries.some(([p]) => p === 'config.json')) break;
    const first = entries[0]?.[0].split('/')[0];
    if (!first || !entries.every(([p]) => p.startsWith(`${first}/`))) break;
    entries = entries.map(([p, blob]) => [p.slice(first.length + 1), blob]);
  }
  return new Map(entries);
}

class BlobModelFiles implements ModelFiles {
  readonly description = 'the dropped folder';
  private readonly files: Map<string, Blob>;

  constructor(
    files: Map<string, Blob>,
    private readonly opts: OpenModelFilesOptions,
  ) {
    this.files = normaliseDroppedPaths(files);
  }

  private blob(path: string): Blob {
    checkPath(path);
    const blob = this.files.get(path);
    if (!blob) throw new ModelFileMissingError([path], `the dropped folder has no ${path}. ${DROP_HINT}`);
    return blob;
  }

  private async read(path: string, what: () => Promise<ArrayBuffer>): Promise<Uint8Array> {
    try {
      return new Uint8Array(await what());
    } catch (e) {
      throw new ModelSourceError(`could not read ${path} from the dropped folder (${errorText(e)}). Drop the folder again`);
    }
  }

  async has(path: string): Promise<boolean> {
    checkPath(path);
    return this.files.has(path);
  }

  async size(path: string): Promise<number> {
    return this.blob(path).size;
  }

  async bytes(path: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
    const blob = this.blob(path);
    const progress = onProgress ?? this.opts.onProgress;
    const data = await this.read(path, () => blob.arrayBuffer());
    progress?.({ path, loaded: data.length, total: blob.size });
    return data;
  }

  async range(path: string, start: number, end: number, onProgress?: ProgressCallback): Promise<Uint8Array> {
    checkRange(path, start, end);
    const blob = this.blob(path);
    if (end > blob.size) throw new ModelSourceError(`${path} is ${blob.size} bytes, but bytes [${start}, ${end}) were requested. The file is shorter than its header says: it is damaged`);
    const data = await this.read(path, () => blob.slice(start, end).arrayBuffer());
    onProgress?.({ path, loaded: data.length, total: end - start });
    return data;
  }

  async text(path: string): Promise<string> {
    return decodeText(path, await this.bytes(path));
  }
}

const DROP_HINT =
  'Drop the complete model folder as downloaded from the hub: it needs config.json, tokenizer.json, model.safetensors ' +
  'and onnx/vision_encoder*.onnx (e.g. HuggingFaceTB/SmolVLM-256M-Instruct)';

// ---------------------------------------------------------------------------------------------
// The whole bundle

export interface LoadModelBundleOptions extends OpenModelFilesOptions {
  /**
   * Which vision-encoder export to load: one variant (only that one), a preference order (the
   * first present is downloaded, the rest are fallbacks), or 'none'. Default: visionVariantOrder().
   */
  visionEncoder?: VisionEncoderVariant | readonly VisionEncoderVariant[] | 'none';
  decoder?: Omit<LoadDecoderTensorsOptions, 'onProgress' | 'fileName'>;
}

export interface ModelBundle {
  config: ModelConfig;
  /** generation_config.json, when the folder has one (its eos ids end generated answers). */
  generationConfig?: GenerationConfig;
  tokenizerJson: unknown;
  tokenizerConfigJson: unknown; // undefined when the folder has no tokenizer_config.json
  chatTemplate?: string;
  /** Decoder tensors keyed by their names in model.safetensors; see decoderPrefix. */
  decoderTensors: Map<string, RawTensor>;
  decoderPrefix: string; // 'model.text_model.' (Idefics3) or 'model.' (Llama)
  visionOnnx?: Uint8Array;
  visionOnnxPath?: string;
  visionVariant?: VisionEncoderVariant;
  /** Variants to try, in order, when visionOnnx fails to load (not yet looked for). */
  visionFallbacks: VisionEncoderVariant[];
  /** A fallback's bytes, or undefined when the folder does not have it. */
  readVisionEncoder(variant: VisionEncoderVariant, onProgress?: ProgressCallback): Promise<Uint8Array | undefined>;
  /** preprocessor_config.json, when the folder has one. */
  preprocessorConfigJson?: unknown;
}

const CONFIG = 'config.json';
const TOKENIZER = 'tokenizer.json';
const WEIGHTS = 'model.safetensors';
const GENERATION = 'generation_config.json';

async function readJson(files: ModelFiles, path: string): Promise<unknown> {
  const text = await files.text(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelSourceError(`${path} from ${files.description} is not valid JSON (${errorText(e)}); it is damaged or not the file it should be`);
  }
}

/** The file's content, or undefined when it does not exist. */
async function optional<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof ModelFileMissingError) return undefined;
    throw e;
  }
}

function missingFilesError(files: ModelFiles, source: ModelSource, missing: string[]): ModelFileMissingError {
  const list = missing.join(', ');
  const message =
    source.kind === 'files'
      ? `the dropped folder is missing ${list}. ${DROP_HINT}`
      : `${files.description} is missing ${list}. Check the model id or URL; the app needs config.json, tokenizer.json, ` +
        'model.safetensors and an ONNX export of the vision encoder (onnx/vision_encoder*.onnx), as in HuggingFaceTB/SmolVLM-256M-Instruct';
  return new ModelFileMissingError(missing, message);
}

/** The first wanted vision-encoder variant the folder has, and the ones after it. */
async function chooseVisionEncoder(files: ModelFiles, order: readonly VisionEncoderVariant[]): Promise<{ variant: VisionEncoderVariant; rest: VisionEncoderVariant[] } | undefined> {
  for (let i = 0; i < order.length; i++) if (await files.has(VISION_ENCODER_FILES[order[i]])) return { variant: order[i], rest: order.slice(i + 1) };
  return undefined;
}

/** chat_template.jinja, chat_template.json, or the template inside tokenizer_config.json. */
async function findChatTemplate(files: ModelFiles, tokenizerConfig: unknown): Promise<string | undefined> {
  const jinja = await optional(() => files.text('chat_template.jinja'));
  if (jinja !== undefined) return jinja;
  const json = await optional(() => readJson(files, 'chat_template.json'));
  const fromJson = templateOf(json);
  if (fromJson !== undefined) return fromJson;
  return templateOf(tokenizerConfig);
}

function templateOf(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const t = (json as { chat_template?: unknown }).chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    // The list form: [{ name: 'default', template: '...' }, ...]
    const named = t.find((x) => x?.name === 'default') ?? t[0];
    if (typeof named?.template === 'string') return named.template;
  }
  return undefined;
}

/** Everything the app needs from a model folder; vision tensors of model.safetensors are never fetched. */
export async function loadModelBundle(source: ModelSource, opts: LoadModelBundleOptions = {}): Promise<ModelBundle> {
  const files = openModelFiles(source, opts);

  const basics = [CONFIG, TOKENIZER, WEIGHTS];
  const present = await Promise.all(basics.map((p) => files.has(p)));
  const missing = basics.filter((_, i) => !present[i]);
  if (missing.includes(WEIGHTS) && (await files.has('model.safetensors.index.json'))) {
    missing[missing.indexOf(WEIGHTS)] = 'model.safetensors (the weights are split into shards; only a single model.safetensors is supported)';
  }
  if (missing.includes(CONFIG)) throw missingFilesError(files, source, missing);

  const config = parseModelConfig(await readJson(files, CONFIG), CONFIG);
  const wantVision = config.vision !== undefined && opts.visionEncoder !== 'none';
  const requested = opts.visionEncoder === 'none' ? undefined : opts.visionEncoder;
  const order: readonly VisionEncoderVariant[] = requested === undefined ? visionVariantOrder() : typeof requested === 'string' ? [requested] : requested;
  const chosen = wantVision ? await chooseVisionEncoder(files, order) : undefined;
  const visionOnnxPath = chosen ? VISION_ENCODER_FILES[chosen.variant] : undefined;
  if (wantVision && !chosen) missing.push(order.slice(0, 2).map((v) => VISION_ENCODER_FILES[v]).join(' or '));
  if (missing.length > 0) throw missingFilesError(files, source, missing);

  const [tokenizerJson, tokenizerConfigJson, generationJson, decoderTensors, visionOnnx, preprocessorConfigJson] = await Promise.all([
    readJson(files, TOKENIZER),
    optional(() => readJson(files, 'tokenizer_config.json')),
    optional(() => readJson(files, GENERATION)),
    loadDecoderTensors(files, config.decoder, { ...opts.decoder, fileName: WEIGHTS, onProgress: opts.onProgress }),
    visionOnnxPath ? files.bytes(visionOnnxPath) : Promise.resolve(undefined),
    wantVision ? optional(() => readJson(files, 'preprocessor_config.json')) : Promise.resolve(undefined),
  ]);
  const chatTemplate = await findChatTemplate(files, tokenizerConfigJson);
  return {
    config,
    generationConfig: generationJson === undefined ? undefined : parseGenerationConfig(generationJson, GENERATION),
    tokenizerJson,
    tokenizerConfigJson,
    chatTemplate,
    decoderTensors,
    decoderPrefix: findDecoderPrefix(decoderTensors.keys()),
    visionOnnx,
    visionOnnxPath,
    visionVariant: chosen?.variant,
    visionFallbacks: chosen?.rest ?? [],
    readVisionEncoder: async (variant, onProgress) => {
      const path = VISION_ENCODER_FILES[variant];
      return (await files.has(path)) ? files.bytes(path, onProgress) : undefined;
    },
    preprocessorConfigJson,
  };
}
