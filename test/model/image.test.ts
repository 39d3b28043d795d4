import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeImage, ImageDecodeError, ImageShapeError, toPixelValues } from '../../src/model/image';

/** RGBA raster from a per-pixel function. */
function raster(w: number, h: number, f: (x: number, y: number) => [number, number, number, number]): Uint8ClampedArray {
  const d = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d.set(f(x, y), (y * w + x) * 4);
  return d;
}

const norm = (v: number) => (v / 255 - 0.5) / 0.5;

describe('toPixelValues', () => {
  it('keeps a same-size image exactly, channels first, normalised to [-1, 1]', () => {
    const sq = raster(3, 3, (x, y) => [20 * x + y, 100 + 7 * y, 255 - 40 * x, 255]);
    const out = toPixelValues(sq, 3, 3, 3);
    for (let y = 0; y < 3; y++)
      for (let x = 0; x < 3; x++) {
        expect(out[0 * 9 + y * 3 + x]).toBeCloseTo(norm(20 * x + y), 6);
        expect(out[1 * 9 + y * 3 + x]).toBeCloseTo(norm(100 + 7 * y), 6);
        expect(out[2 * 9 + y * 3 + x]).toBeCloseTo(norm(255 - 40 * x), 6);
      }
  });

  it('maps black to -1 and white to 1, per channel', () => {
    const red = toPixelValues(raster(5, 5, () => [255, 0, 0, 255]), 5, 5, 4);
    expect(red.subarray(0, 16).every((v) => v === 1)).toBe(true);
    expect(red.subarray(16, 48).every((v) => v === -1)).toBe(true);
  });

  it('upsamples bilinearly with half-pixel centres (hand-computed 2 -> 4)', () => {
    // Columns 0 and 255: output centres at 0.25, 0.75, 1.25, 1.75 source pixels.
    const img = raster(2, 2, (x) => [x * 255, 0, 0, 255]);
    const out = toPixelValues(img, 2, 2, 4);
    const row = Array.from(out.subarray(0, 4));
    const expected = [0, 0.25 * 255, 0.75 * 255, 255].map(norm);
    row.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
    for (let y = 1; y < 4; y++) for (let x = 0; x < 4; x++) expect(out[y * 4 + x]).toBeCloseTo(row[x], 6);
  });

  it('downsamples with an antialiasing triangle filter (4 -> 2 averages neighbours)', () => {
    // Alternating 0/255 columns: plain point-sampled bilinear would give 127.5 only by luck of
    // phase; the widened filter gives weights 3/7, 3/7, 1/7 over source pixels 0..2.
    const img = raster(4, 4, (x) => [x % 2 ? 255 : 0, 0, 0, 255]);
    const out = toPixelValues(img, 4, 4, 2);
    expect(out[0]).toBeCloseTo(norm((3 / 7) * 255), 5); // pixels 0 (0), 1 (255), 2 (0)
    expect(out[1]).toBeCloseTo(norm((4 / 7) * 255), 5); // pixels 1 (255), 2 (0), 3 (255) weights 1/7, 3/7, 3/7
  });

  it('leaves a constant image constant under any resize', () => {
    for (const [w, h, s] of [
      [7, 3, 5],
      [100, 37, 16],
      [3, 11, 29],
    ]) {
      const out = toPixelValues(raster(w, h, () => [51, 102, 204, 255]), w, h, s);
      expect(out).toHaveLength(3 * s * s);
      for (let c = 0; c < 3; c++) {
        const want = norm([51, 102, 204][c]);
        for (let i = 0; i < s * s; i++) expect(Math.abs(out[c * s * s + i] - want)).toBeLessThan(1e-6);
      }
    }
  });

  it('composites transparency over white', () => {
    const out = toPixelValues(raster(1, 1, () => [0, 0, 0, 0]), 1, 1, 1);
    expect(Array.from(out)).toEqual([1, 1, 1]);
    const half = toPixelValues(raster(1, 1, () => [0, 255, 0, 51]), 1, 1, 1); // 20% opaque green
    expect(half[0]).toBeCloseTo(norm(0.8 * 255), 5);
    expect(half[1]).toBeCloseTo(1, 6);
  });

  it('gives the default 512 x 512 output in [-1, 1]', () => {
    const img = raster(64, 48, (x, y) => [(x * 4) & 255, (y * 5) & 255, (x * y) & 255, 255]);
    const out = toPixelValues(img, 64, 48);
    expect(out).toHaveLength(3 * 512 * 512);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of out) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(lo).toBeGreaterThanOrEqual(-1);
    expect(hi).toBeLessThanOrEqual(1);
    expect(hi - lo).toBeGreaterThan(1);
  });

  it('rejects rasters whose length does not match the size', () => {
    expect(() => toPixelValues(new Uint8Array(10), 2, 2)).toThrow(ImageShapeError);
    expect(() => toPixelValues(new Uint8Array(0), 0, 0)).toThrow(ImageShapeError);
  });
});

describe('decodeImage', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('says so, naming the file, where there is no image decoder (Node)', async () => {
    const blob = new Blob(['not an image'], { type: 'text/plain' });
    await expect(decodeImage(blob, 'notes.txt')).rejects.toThrow(ImageDecodeError);
    await expect(decodeImage(blob, 'notes.txt')).rejects.toThrow(/notes\.txt/);
  });

  // The browser APIs are stubbed here; a real decode is covered by the browser tests.
  it('names the file and its type when the browser cannot decode it', async () => {
    vi.stubGlobal('createImageBitmap', () => Promise.reject(new Error('The source image could not be decoded.')));
    vi.stubGlobal('OffscreenCanvas', class {});
    const blob = new Blob(['not an image'], { type: 'text/plain' });
    await expect(decodeImage(blob, 'notes.txt')).rejects.toThrow(/notes\.txt \(type text\/plain\) is not an image/);
  });

  it('returns the canvas RGBA pixels and closes the bitmap', async () => {
    let closed = false;
    const data = new Uint8ClampedArray([1, 2, 3, 255, 4, 5, 6, 255]);
    vi.stubGlobal('createImageBitmap', () => Promise.resolve({ width: 2, height: 1, close: () => (closed = true) }));
    vi.stubGlobal(
      'OffscreenCanvas',
      class {
        constructor(
          readonly width: number,
          readonly height: number,
        ) {}
        getContext() {
          return { drawImage: () => undefined, getImageData: (_x: number, _y: number, w: number, h: number) => ({ data, width: w, height: h }) };
        }
      },
    );
    const img = await decodeImage(new Blob([new Uint8Array(8)], { type: 'image/png' }), 'a.png');
    expect(img).toEqual({ data, width: 2, height: 1 });
    expect(closed).toBe(true);
  });
});
