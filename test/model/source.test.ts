import { afterEach, describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/model/safetensors';
import { ModelFileMissingError, ModelSourceError, type DownloadProgress } from '../../src/model/files';
import { openModelFiles } from '../../src/model/source';
import { loadDecoderTensors } from '../../src/model/weights';
import { MemoryByteCache } from '../helpers/memory-cache';
import { TINY_DECODER, buildTinyCheckpoint, randomBytes, startTestServer, type TestServer } from './fixtures';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const WEIGHTS = '/tiny/model.safetensors';

async function serveTiny(behaviour = {}) {
  const ckpt = buildTinyCheckpoint();
  server = await startTestServer(new Map([[WEIGHTS, ckpt.file]]), behaviour);
  return { ckpt, server, source: { kind: 'url' as const, url: `${server.url}/tiny/` } };
}

function gets(s: TestServer) {
  return s.requests.filter((r) => r.method === 'GET');
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject');
}

describe('loadDecoderTensors over HTTP', () => {
  it('fetches the header and the decoder tensors only, in few requests', async () => {
    const { ckpt, server, source } = await serveTiny();
    const progress: DownloadProgress[] = [];
    const tensors = await loadDecoderTensors(openModelFiles(source), TINY_DECODER, { onProgress: (p) => progress.push(p) });

    expect([...tensors.keys()]).toEqual([...ckpt.decoder.keys()]);
    for (const [name, entry] of ckpt.decoder) {
      const t = tensors.get(name)!;
      expect(t.dtype).toBe('BF16');
      expect(t.shape).toEqual(entry.shape);
      expect(Buffer.from(t.data).equals(Buffer.from(entry.data))).toBe(true);
    }
    // Bytes on the wire: exactly the header and the decoder, far below the file size.
    expect(server.bodyBytes()).toBe(ckpt.headerBytes + ckpt.decoderBytes);
    expect(server.bodyBytes() * 5).toBeLessThan(ckpt.file.length);
    // 8-byte length, header, then lm_head and the contiguous text_model block (the connector
    // between them is not fetched).
    expect(gets(server).map((r) => r.range)).toEqual([
      'bytes=0-7',
      `bytes=8-${ckpt.headerBytes - 1}`,
      expect.stringMatching(/^bytes=\d+-\d+$/),
      expect.stringMatching(/^bytes=\d+-\d+$/),
    ]);
    expect(gets(server).every((r) => r.status === 206)).toBe(true);
    const last = progress[progress.length - 1]!;
    expect(last).toEqual({ path: 'model.safetensors', loaded: ckpt.decoderBytes, total: ckpt.decoderBytes });
  });

  it('falls back to one whole download when the server ignores Range', async () => {
    const { ckpt, server, source } = await serveTiny({ refuseRanges: true });
    const tensors = await loadDecoderTensors(openModelFiles(source), TINY_DECODER);
    for (const [name, entry] of ckpt.decoder) expect(Buffer.from(tensors.get(name)!.data).equals(Buffer.from(entry.data))).toBe(true);
    expect(gets(server)).toHaveLength(1); // the first range request got the whole file, kept for the rest
    expect(gets(server)[0]!.status).toBe(200);
    expect(server.bodyBytes()).toBe(ckpt.file.length);
  });

  it('range() honours 206 and falls back on 200', async () => {
    const data = randomBytes(1000, 3);
    server = await startTestServer(new Map([['/r/blob.bin', data]]));
    const files = openModelFiles({ kind: 'url', url: `${server.url}/r` });
    expect([...(await files.range('blob.bin', 10, 20))]).toEqual([...data.subarray(10, 20)]);
    expect(gets(server)[0]).toMatchObject({ range: 'bytes=10-19', status: 206, bodyBytes: 10 });
    expect(await files.size('blob.bin')).toBe(1000); // learnt from Content-Range, no HEAD needed
    expect(server.requests.filter((r) => r.method === 'HEAD')).toHaveLength(0);

    server.behaviour.refuseRanges = true;
    const refusing = openModelFiles({ kind: 'url', url: `${server.url}/r` });
    expect([...(await refusing.range('blob.bin', 5, 9))]).toEqual([...data.subarray(5, 9)]);
    expect([...(await refusing.range('blob.bin', 990, 1000))]).toEqual([...data.subarray(990, 1000)]);
    expect(
      gets(server)
        .slice(1)
        .map((r) => r.status),
    ).toEqual([200]); // one whole download served both
    await expect(refusing.range('blob.bin', 995, 1005)).rejects.toThrow(/blob.bin is 1000 bytes, but bytes \[995, 1005\) were requested/);
  });

  it('a truncated download is an error that names the file and says to retry', async () => {
    const { server, source } = await serveTiny({ truncateAt: 100 });
    const files = openModelFiles(source);
    const whole = await rejection(files.bytes('model.safetensors'));
    expect(whole).toBeInstanceOf(ModelSourceError);
    expect(whole.message).toMatch(/download of model.safetensors .* stopped after \d+ of \d+ bytes.*retry/);
    const piece = await rejection(files.range('model.safetensors', 0, 500));
    expect(piece).toBeInstanceOf(ModelSourceError);
    expect(piece.message).toMatch(/model.safetensors .* stopped after \d+ of 500 bytes.*retry/);
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('a huge header length fails after the first 8 bytes, before the header is requested', async () => {
    const file = randomBytes(4096, 5);
    new DataView(file.buffer).setBigUint64(0, 2n ** 50n, true);
    server = await startTestServer(new Map([[WEIGHTS, file]]));
    const error = await rejection(loadDecoderTensors(openModelFiles({ kind: 'url', url: `${server.url}/tiny` }), TINY_DECODER));
    expect(error).toBeInstanceOf(SafetensorsError);
    expect(error.message).toMatch(/model.safetensors: header length 1125899906842624 is larger than/);
    expect(gets(server).map((r) => r.range)).toEqual(['bytes=0-7']);
  });

  it('a header length longer than the file is caught with the file size', async () => {
    const file = randomBytes(4096, 6);
    new DataView(file.buffer).setBigUint64(0, 5000n, true);
    server = await startTestServer(new Map([[WEIGHTS, file]]));
    const error = await rejection(loadDecoderTensors(openModelFiles({ kind: 'url', url: `${server.url}/tiny` }), TINY_DECODER));
    expect(error.message).toMatch(/header length 5000 runs past the end of the 4096-byte file/);
  });
});

describe('hub and URL sources', () => {
  it('builds resolve URLs and reports missing files', async () => {
    server = await startTestServer(new Map([['/org/tiny/resolve/v1.0/config.json', new TextEncoder().encode('{"a":1}')]]));
    const files = openModelFiles({ kind: 'hub', id: 'org/tiny', baseUrl: `${server.url}/`, revision: 'v1.0' });
    expect(files.description).toBe('org/tiny (revision v1.0)');
    expect(JSON.parse(await files.text('config.json'))).toEqual({ a: 1 });
    expect(await files.has('config.json')).toBe(true);
    expect(await files.has('tokenizer.json')).toBe(false);
    const missing = await rejection(files.text('tokenizer.json'));
    expect(missing).toBeInstanceOf(ModelFileMissingError);
    expect((missing as ModelFileMissingError).paths).toEqual(['tokenizer.json']);
    expect(missing.message).toMatch(/org\/tiny \(revision v1.0\) has no tokenizer.json \(HTTP 404/);
    expect(server.requests.map((r) => r.path)).toContain('/org/tiny/resolve/v1.0/config.json');
    expect(() => openModelFiles({ kind: 'hub', id: '../etc' })).toThrow(/not a hub model id/);
    await expect(files.text('../secret')).rejects.toThrow(/not a relative file path/);
  });

  it('reports progress of whole downloads with the announced total', async () => {
    const data = randomBytes(300_000, 7);
    server = await startTestServer(new Map([['/m/onnx/vision_encoder.onnx', data]]));
    const seen: DownloadProgress[] = [];
    const files = openModelFiles({ kind: 'url', url: `${server.url}/m` }, { onProgress: (p) => seen.push(p) });
    const got = await files.bytes('onnx/vision_encoder.onnx');
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.every((p) => p.path === 'onnx/vision_encoder.onnx' && p.total === data.length)).toBe(true);
    expect(seen[seen.length - 1]!.loaded).toBe(data.length);
  });

  it('a network failure names the URL and says what to check', async () => {
    const files = openModelFiles(
      { kind: 'url', url: 'http://127.0.0.1:9/nowhere' },
      { fetch: () => Promise.reject(new TypeError('fetch failed')) },
    );
    await expect(files.text('config.json')).rejects.toThrow(
      /could not fetch config.json from http:\/\/127.0.0.1:9\/nowhere\/config.json: fetch failed.*CORS/,
    );
  });
});

describe('byte cache in the loader', () => {
  it('serves a second load from the cache and re-fetches a piece whose size is wrong', async () => {
    const { ckpt, server, source } = await serveTiny();
    const cache = new MemoryByteCache();
    await loadDecoderTensors(openModelFiles(source, { cache }), TINY_DECODER);
    const firstBytes = server.bodyBytes();
    expect(firstBytes).toBe(ckpt.headerBytes + ckpt.decoderBytes);
    const requestsAfterFirst = server.requests.length;

    // Hit: nothing goes over the wire, not even a HEAD for the size.
    const again = await loadDecoderTensors(openModelFiles(source, { cache }), TINY_DECODER);
    expect(server.requests.length).toBe(requestsAfterFirst);
    for (const [name, entry] of ckpt.decoder) expect(Buffer.from(again.get(name)!.data).equals(Buffer.from(entry.data))).toBe(true);

    // Damage the largest cached piece (cut short): that one piece is fetched again.
    const [damagedKey, damaged] = [...cache.entries].filter(([k]) => k.includes(' bytes=')).sort((a, b) => b[1].length - a[1].length)[0]!;
    cache.entries.set(damagedKey, damaged.subarray(0, damaged.length - 3));
    const repaired = await loadDecoderTensors(openModelFiles(source, { cache }), TINY_DECODER);
    const refetched = server.requests.slice(requestsAfterFirst);
    expect(refetched).toHaveLength(1);
    expect(refetched[0]!.bodyBytes).toBe(damaged.length);
    expect(damagedKey).toContain(refetched[0]!.range!);
    expect(cache.entries.get(damagedKey)!.length).toBe(damaged.length);
    for (const [name, entry] of ckpt.decoder) expect(Buffer.from(repaired.get(name)!.data).equals(Buffer.from(entry.data))).toBe(true);
  });
});
