import { afterEach, describe, expect, it } from 'vitest';
import { CacheStorageByteCache } from '../../src/model/cache';
import { MemoryByteCache } from '../helpers/memory-cache';
import { openModelFiles } from '../../src/model/source';
import { randomBytes, startTestServer, type TestServer } from './fixtures';

/** Cache Storage as the browser has it, reduced to what CacheStorageByteCache uses. */
class FakeCache {
  readonly stored = new Map<string, { body: Uint8Array; headers: [string, string][] }>();

  async match(request: Request): Promise<Response | undefined> {
    const e = this.stored.get(request.url);
    return e && new Response(e.body.slice(), { headers: e.headers });
  }

  async put(request: Request, response: Response): Promise<void> {
    this.stored.set(request.url, { body: new Uint8Array(await response.arrayBuffer()), headers: [...response.headers] });
  }

  async delete(request: Request): Promise<boolean> {
    return this.stored.delete(request.url);
  }
}

class FakeCacheStorage {
  readonly caches = new Map<string, FakeCache>();

  async open(name: string): Promise<FakeCache> {
    if (!this.caches.has(name)) this.caches.set(name, new FakeCache());
    return this.caches.get(name)!;
  }
}

function cacheStorage() {
  const storage = new FakeCacheStorage();
  const cache = new CacheStorageByteCache('povid-models', storage as unknown as CacheStorage);
  return { storage, cache, entries: async () => (await storage.open('povid-models')).stored };
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('CacheStorageByteCache', () => {
  it('stores bytes under the key in the povid-models cache and returns them', async () => {
    const { storage, cache } = cacheStorage();
    const big = randomBytes(64, 1);
    await cache.put('https://h/x.bin bytes=0-9', big.subarray(10, 20)); // a view: only its bytes are stored
    expect([...(await cache.get('https://h/x.bin bytes=0-9'))!]).toEqual([...big.subarray(10, 20)]);
    expect(await cache.get('https://h/x.bin bytes=0-10')).toBeUndefined();
    expect([...storage.caches.keys()]).toEqual(['povid-models']);
  });

  it('drops an entry whose body does not have the recorded size', async () => {
    const { cache, entries } = cacheStorage();
    await cache.put('k', randomBytes(100, 2));
    const stored = await entries();
    const [url, entry] = [...stored][0]!;
    expect(entry.headers).toContainEqual(['x-povid-size', '100']);
    stored.set(url, { ...entry, body: entry.body.subarray(0, 60) }); // a write cut short
    expect(await cache.get('k')).toBeUndefined();
    expect(stored.size).toBe(0); // deleted, so the next put starts clean
  });

  it('makes the loader re-fetch a damaged entry and keep the good ones', async () => {
    const data = randomBytes(5000, 3);
    server = await startTestServer(new Map([['/m/config.json', data]]));
    const { cache, entries } = cacheStorage();
    const open = () => openModelFiles({ kind: 'url', url: `${server!.url}/m` }, { cache });

    expect(Buffer.from(await open().bytes('config.json')).equals(Buffer.from(data))).toBe(true);
    expect(server.requests).toHaveLength(1);
    expect(Buffer.from(await open().bytes('config.json')).equals(Buffer.from(data))).toBe(true);
    expect(server.requests).toHaveLength(1); // a hit

    const stored = await entries();
    const [url, entry] = [...stored][0]!;
    stored.set(url, { ...entry, body: entry.body.subarray(0, 10) });
    expect(Buffer.from(await open().bytes('config.json')).equals(Buffer.from(data))).toBe(true);
    expect(server.requests).toHaveLength(2); // re-fetched once
    expect(stored.get(url)!.body.length).toBe(5000); // and stored whole again
  });
});

describe('MemoryByteCache', () => {
  it('keeps its own copy of what is put', async () => {
    const cache = new MemoryByteCache();
    const bytes = new Uint8Array([1, 2, 3]);
    await cache.put('a', bytes);
    bytes[0] = 9;
    expect([...(await cache.get('a'))!]).toEqual([1, 2, 3]);
    expect(await cache.get('b')).toBeUndefined();
  });
});
