// Byte caches for downloaded model files and byte ranges of them, so a page reload does not
// download half a gigabyte again. Keys are chosen by the caller (http-files.ts: the file's URL,
// plus the byte range for range pieces).

export interface ByteCache {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

/** Response header holding the byte count written, to recognise an entry that was cut short. */
const SIZE_HEADER = 'x-povid-size';
/** Cache Storage only takes http(s) requests as keys; this origin is never fetched. */
const KEY_ORIGIN = 'https://povid-cache.invalid/';

/**
 * The browser's Cache Storage (`caches.open('povid-models')`). Each entry records its expected
 * size; an entry whose body does not have that size (a write interrupted by a closed tab or a
 * full disk) is deleted and reported as a miss, so the caller fetches it again.
 */
export class CacheStorageByteCache implements ByteCache {
  private opened?: Promise<Cache>;

  constructor(
    readonly cacheName = 'povid-models',
    private readonly storage: CacheStorage | undefined = globalThis.caches,
  ) {}

  static isAvailable(): boolean {
    return typeof globalThis.caches !== 'undefined'; // absent on plain-http pages other than localhost
  }

  private open(): Promise<Cache> {
    if (!this.storage) return Promise.reject(new Error('Cache Storage is not available in this context (it needs https or localhost)'));
    this.opened ??= this.storage.open(this.cacheName);
    return this.opened;
  }

  private static request(key: string): Request {
    return new Request(KEY_ORIGIN + encodeURIComponent(key));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const cache = await this.open();
    const request = CacheStorageByteCache.request(key);
    const response = await cache.match(request);
    if (!response) return undefined;
    const expected = Number(response.headers.get(SIZE_HEADER));
    let bytes: Uint8Array | undefined;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch {
      bytes = undefined; // unreadable entry: treat as damaged
    }
    if (bytes && Number.isSafeInteger(expected) && bytes.length === expected) return bytes;
    await cache.delete(request);
    return undefined;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const cache = await this.open();
    // Store exactly these bytes, not the whole buffer a view may point into.
    const ownsBuffer = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const body = ownsBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
    await cache.put(
      CacheStorageByteCache.request(key),
      new Response(body, { headers: { 'content-type': 'application/octet-stream', [SIZE_HEADER]: String(bytes.length) } }),
    );
  }
}
