// Model files over HTTP: hub repositories and plain URL folders. Downloads stream with progress
// and are checked for completeness; byte ranges (Range requests) let the loader fetch only the
// decoder's tensors out of model.safetensors, and a server that ignores Range is read once and
// sliced. Every answer a fetch can give becomes an error that says what to do.

import {
  checkPath,
  checkRange,
  decodeText,
  errorText,
  ModelFileMissingError,
  ModelSourceError,
  type ModelFiles,
  type OpenModelFilesOptions,
  type ProgressCallback,
} from './files';

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

export class HttpModelFiles implements ModelFiles {
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
      return new ModelFileMissingError(
        [path],
        `${this.description} has no ${path} (HTTP 404 at ${url}). Check the model id, revision and file name`,
      );
    }
    if (res.status === 401 || res.status === 403) {
      return new ModelSourceError(
        `${url} answered HTTP ${res.status}: the repository does not exist, is private, or is gated. ` +
          'This app sends no access token: use a public model, or download the folder and drop it on the page',
      );
    }
    if (res.status === 416)
      return new ModelSourceError(
        `${url} answered HTTP 416: the requested bytes lie past the end of ${path}. The file is shorter than its header says: it is damaged`,
      );
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
      throw new ModelSourceError(
        `${url} announced ${announced} bytes where ${expected} were requested from ${path}. Retry; if it persists, the server mishandles range requests`,
      );
    }
    const length = expected ?? announced;
    const total = length ?? 0;
    const cutOff = (loaded: number, why: string) =>
      new ModelSourceError(
        `the download of ${path} from ${url} stopped after ${loaded} of ${length ?? 'an unknown number of'} bytes${why}. The connection was interrupted: retry`,
      );

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
      new ModelSourceError(
        `${url} sent more than the ${limit} bytes announced for ${path}. Retry; if it persists, the server is misconfigured`,
      );
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
    if (size === undefined)
      throw new ModelSourceError(
        `${this.urlOf(path)} does not tell the size of ${path} (no Content-Length or Content-Range). Serve the folder with a server that does`,
      );
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
        throw new ModelSourceError(
          `${this.urlOf(path)} sent bytes [${cr.start}, ${cr.end}) of ${path} where [${start}, ${end}) were requested. The file is shorter than expected or the server mishandles ranges`,
        );
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
      throw new ModelSourceError(
        `${path} is ${whole.length} bytes, but bytes [${start}, ${end}) were requested. The file is shorter than its header says: it is damaged`,
      );
    }
    return whole.subarray(start, end);
  }

  async text(path: string): Promise<string> {
    return decodeText(path, await this.bytes(path));
  }
}
