import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  decodeImage,
  defaultImageProcessorConfig,
  ImageDecodeError,
  ImageProcessorConfigError,
  ImageShapeError,
  longestEdgeSize,
  parseImageProcessorConfig,
  PIL_RESAMPLE,
  planTiles,
  preprocessImage,
  tileGridSize,
  toPixelValues,
} from '../../src/model/image';

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
    const red = toPixelValues(
      raster(5, 5, () => [255, 0, 0, 255]),
      5,
      5,
      4,
    );
    expect(red.subarray(0, 16).every((v) => v === 1)).toBe(true);
    expect(red.subarray(16, 48).every((v) => v === -1)).toBe(true);
  });

  it("upsamples with PIL's BILINEAR on bytes (hand-computed 2 -> 4, rounded to a level)", () => {
    // Columns 0 and 255: output centres at 0.25, 0.75, 1.25, 1.75 source pixels; PIL takes
    // only the taps between the rounded ends of the support, so the outer ones copy the edge.
    const img = raster(2, 2, (x) => [x * 255, 0, 0, 255]);
    const out = toPixelValues(img, 2, 2, 4, PIL_RESAMPLE.BILINEAR);
    const row = Array.from(out.subarray(0, 4));
    const expected = [0, Math.round(0.25 * 255), Math.round(0.75 * 255), 255].map(norm);
    row.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    for (let y = 1; y < 4; y++) for (let x = 0; x < 4; x++) expect(out[y * 4 + x]).toBeCloseTo(row[x], 6);
  });

  it("downsamples with PIL's widened BILINEAR triangle (4 -> 2 averages neighbours)", () => {
    // Alternating 0/255 columns: the widened filter gives weights 3/7, 3/7, 1/7 over source pixels 0..2.
    const img = raster(4, 4, (x) => [x % 2 ? 255 : 0, 0, 0, 255]);
    const out = toPixelValues(img, 4, 4, 2, PIL_RESAMPLE.BILINEAR);
    expect(out[0]).toBeCloseTo(norm(Math.round((3 / 7) * 255)), 6); // pixels 0 (0), 1 (255), 2 (0)
    expect(out[1]).toBeCloseTo(norm(Math.round((4 / 7) * 255)), 6); // pixels 1 (255), 2 (0), 3 (255) weights 1/7, 3/7, 3/7
  });

  it('resizes with Lanczos-3 by default: weights from sinc(x) sinc(x/3), widened when shrinking', () => {
    // 12 -> 4 columns (scale 3, support 9 source pixels): each output is the normalised
    // Lanczos-weighted sum of the source row, computed here from the definition.
    const src = [0, 255, 30, 200, 90, 10, 250, 120, 60, 180, 5, 220];
    const img = raster(12, 1, (x) => [src[x], 0, 0, 255]);
    const out = toPixelValues(img, 12, 1, 4).subarray(0, 4); // height 1 -> 4 copies rows
    const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
    const lanczos = (x: number) => (Math.abs(x) < 3 ? sinc(x) * sinc(x / 3) : 0);
    for (let o = 0; o < 4; o++) {
      const center = (o + 0.5) * 3;
      let sum = 0;
      let acc = 0;
      for (let i = Math.max(0, Math.trunc(center - 9 + 0.5)); i < Math.min(12, Math.trunc(center + 9 + 0.5)); i++) {
        const w = lanczos((i + 0.5 - center) / 3);
        sum += w;
        acc += w * src[i];
      }
      const level = Math.min(255, Math.max(0, Math.round(acc / sum)));
      expect(Math.abs(out[o] - norm(level)), `column ${o}`).toBeLessThanOrEqual(2 / 255 + 1e-6); // fixed-point rounding may move one level
    }
  });

  it('clips Lanczos overshoot at a hard edge to the byte range', () => {
    const img = raster(8, 8, (x) => (x < 4 ? [0, 0, 0, 255] : [255, 255, 255, 255]));
    const out = toPixelValues(img, 8, 8, 29);
    expect(Math.min(...out)).toBe(-1);
    expect(Math.max(...out)).toBe(1);
    // Ringing: somewhere near the edge a value dips below the flat side's level before rising.
    const row = Array.from(out.subarray(0, 29));
    expect(row.some((v, i) => i > 0 && i < 28 && v > row[i + 1] + 1e-6)).toBe(true);
  });

  it('leaves a constant image constant under any resize', () => {
    for (const [w, h, s] of [
      [7, 3, 5],
      [100, 37, 16],
      [3, 11, 29],
    ]) {
      const out = toPixelValues(
        raster(w, h, () => [51, 102, 204, 255]),
        w,
        h,
        s,
      );
      expect(out).toHaveLength(3 * s * s);
      for (let c = 0; c < 3; c++) {
        const want = norm([51, 102, 204][c]);
        for (let i = 0; i < s * s; i++) expect(Math.abs(out[c * s * s + i] - want)).toBeLessThan(1e-6);
      }
    }
  });

  it('composites transparency over white', () => {
    const out = toPixelValues(
      raster(1, 1, () => [0, 0, 0, 0]),
      1,
      1,
      1,
    );
    expect(Array.from(out)).toEqual([1, 1, 1]);
    const half = toPixelValues(
      raster(1, 1, () => [0, 255, 0, 51]),
      1,
      1,
      1,
    ); // 20% opaque green
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
          return {
            drawImage: () => undefined,
            getImageData: (_x: number, _y: number, w: number, h: number) => ({ data, width: w, height: h }),
          };
        }
      },
    );
    const img = await decodeImage(new Blob([new Uint8Array(8)], { type: 'image/png' }), 'a.png');
    expect(img).toEqual({ data, width: 2, height: 1 });
    expect(closed).toBe(true);
  });
});

describe('preprocessor_config.json and the processor sizes', () => {
  const smol = {
    do_convert_rgb: true,
    do_image_splitting: true,
    do_normalize: true,
    do_pad: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
    max_image_size: { longest_edge: 512 },
    resample: 1,
    rescale_factor: 1 / 255,
    size: { longest_edge: 2048 },
  };

  it("reads SmolVLM's values", () => {
    expect(parseImageProcessorConfig(smol, 512)).toEqual({
      doConvertRgb: true,
      doResize: true,
      longestEdge: 2048,
      resample: 1,
      doImageSplitting: true,
      maxImageSize: 512,
      doRescale: true,
      rescaleFactor: 1 / 255,
      doNormalize: true,
      imageMean: [0.5, 0.5, 0.5],
      imageStd: [0.5, 0.5, 0.5],
    });
    expect(parseImageProcessorConfig({}, 512)).toEqual(parseImageProcessorConfig(smol, 512));
  });

  it('names the field it cannot follow', () => {
    expect(() => parseImageProcessorConfig({ ...smol, resample: 0 }, 512)).toThrow(/"resample" 0 is not supported.*LANCZOS/);
    expect(() => parseImageProcessorConfig({ ...smol, size: { height: 10, width: 10 } }, 512)).toThrow(/"size" must be \{"longest_edge"/);
    expect(() => parseImageProcessorConfig({ ...smol, image_std: [0.5, 0, 0.5] }, 512)).toThrow(/image_std.*zero/);
    expect(() => parseImageProcessorConfig({ ...smol, do_image_splitting: 'yes' }, 512)).toThrow(ImageProcessorConfigError);
    expect(() => parseImageProcessorConfig(smol, 384)).toThrow(/max_image_size.longest_edge is 512 but the vision encoder takes 384/);
  });

  it("sizes as transformers' Idefics3 processor: longest edge, even side, multiples of the tile", () => {
    expect(longestEdgeSize(768, 1024, 2048)).toEqual([1536, 2048]);
    expect(longestEdgeSize(333, 500, 2048)).toEqual([1364, 2048]); // int(2048 / 1.5015) = 1363 -> even
    expect(longestEdgeSize(1000, 10, 8192)).toEqual([4096, 41]); // [8192, 82], then capped: int(4096 * (82 / 8192)) = 41 (values from transformers)
    expect(tileGridSize(1364, 2048, 512)).toEqual([1536, 2048]);
    const cfg = defaultImageProcessorConfig(512);
    expect(planTiles(1024, 768, cfg, 'tiles')).toEqual({ rows: 3, cols: 4 });
    expect(planTiles(256, 256, cfg, 'tiles')).toEqual({ rows: 4, cols: 4 });
    expect(planTiles(3000, 200, cfg, 'tiles')).toEqual({ rows: 1, cols: 4 });
    expect(planTiles(1024, 768, cfg, 'single')).toEqual({ rows: 0, cols: 0 });
    expect(planTiles(1024, 768, { ...cfg, doImageSplitting: false }, 'tiles')).toEqual({ rows: 0, cols: 0 });
    expect(planTiles(300, 200, { ...cfg, longestEdge: 512 }, 'tiles')).toEqual({ rows: 0, cols: 0 });
  });

  it('cuts tiles row-major from the resized image and ends with the global view', () => {
    // A 1024 x 512 image with the longest edge kept: two tiles side by side, then the whole squeezed.
    const cfg = { ...defaultImageProcessorConfig(512), longestEdge: 1024 };
    const img = raster(1024, 512, (x, y) => [x >> 2, y >> 1, x < 512 ? 10 : 240, 255]);
    const p = preprocessImage(img, 1024, 512, cfg, 'tiles');
    expect(p.grid).toEqual({ rows: 1, cols: 2 });
    expect(p.frames).toBe(3);
    const S = 512;
    const at = (f: number, c: number, x: number, y: number) => p.pixels[(f * 3 + c) * S * S + y * S + x];
    expect(at(0, 0, 7, 9)).toBeCloseTo(norm(7 >> 2), 6); // left tile = left half, unchanged
    expect(at(1, 0, 7, 9)).toBeCloseTo(norm((512 + 7) >> 2), 6); // right tile
    expect(at(1, 2, 100, 100)).toBeCloseTo(norm(240), 6);
    // The global view squeezes 1024 columns into 512: its right half is the blue 240 side.
    expect(at(2, 2, 400, 300)).toBeCloseTo(norm(240), 6);
    expect(at(2, 2, 100, 300)).toBeCloseTo(norm(10), 6);
  });
});
