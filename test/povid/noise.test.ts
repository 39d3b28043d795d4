import { afterEach, describe, expect, it } from 'vitest';
import {
  addDiffusionNoise,
  alphaBars,
  DEFAULT_NOISE_STEP,
  noiseCoefficients,
  NoiseError,
  noiseImageBitmap,
  noiseImageData,
} from '../../src/povid/noise';
import { Rng } from '../../src/util/rng';

function meanStd(x: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  const mean = s / x.length;
  let v = 0;
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / x.length) };
}

describe('diffusion noise schedule', () => {
  it('matches the reference coefficients of docs/method.md to 1e-4', () => {
    const ref: [number, number, number][] = [
      [100, 0.99829, 0.05841],
      [300, 0.98098, 0.19409],
      [500, 0.86302, 0.50517],
      [700, 0.59268, 0.80544],
      [999, 0.28504, 0.95851],
    ];
    for (const [t, a, b] of ref) {
      const c = noiseCoefficients(t);
      expect(Math.abs(c.sqrtAbar - a)).toBeLessThan(1e-4);
      expect(Math.abs(c.sqrtOneMinusAbar - b)).toBeLessThan(1e-4);
    }
    expect(noiseCoefficients()).toEqual(noiseCoefficients(DEFAULT_NOISE_STEP));
    expect(DEFAULT_NOISE_STEP).toBe(500);
  });

  it('is a decreasing cumulative product with abar + (1 - abar) = 1', () => {
    const abar = alphaBars();
    expect(abar).toHaveLength(1000);
    for (let t = 1; t < 1000; t++) expect(abar[t]).toBeLessThan(abar[t - 1]);
    // first beta is sigmoid(-6) * (5e-3 - 1e-5) + 1e-5
    expect(1 - abar[0]).toBeCloseTo((1 / (1 + Math.exp(6))) * (5e-3 - 1e-5) + 1e-5, 12);
    const c = noiseCoefficients(321);
    expect(c.sqrtAbar ** 2 + c.sqrtOneMinusAbar ** 2).toBeCloseTo(1, 12);
  });

  it('rejects steps outside 0..999', () => {
    for (const t of [-1, 1000, 2.5, NaN]) expect(() => noiseCoefficients(t)).toThrow(NoiseError);
  });
});

describe('addDiffusionNoise', () => {
  const n = 200_000;
  const grey = new Float32Array(n).fill(0.5);

  it('on a grey image, x_noisy - sqrt(abar) x has mean ~0 and std sqrt(1 - abar) within 2 %', () => {
    for (const t of [100, 500, 999]) {
      const { sqrtAbar, sqrtOneMinusAbar } = noiseCoefficients(t);
      const out = addDiffusionNoise(grey, t, new Rng(7 + t), { clamp: false });
      const diff = out.map((v) => v - sqrtAbar * 0.5);
      const { mean, std } = meanStd(diff);
      expect(Math.abs(mean)).toBeLessThan((4 * sqrtOneMinusAbar) / Math.sqrt(n));
      expect(Math.abs(std / sqrtOneMinusAbar - 1)).toBeLessThan(0.02);
    }
  });

  it('clamps to [0, 1] by default and not when asked', () => {
    const clamped = addDiffusionNoise(grey, 999, new Rng(1));
    expect(Math.min(...clamped.subarray(0, 50_000))).toBe(0);
    expect(Math.max(...clamped.subarray(0, 50_000))).toBe(1);
    for (const v of clamped) if (v < 0 || v > 1) throw new Error(`value ${v} outside [0, 1]`);
    const raw = addDiffusionNoise(grey, 999, new Rng(1), { clamp: false });
    expect(raw.some((v) => v < 0) && raw.some((v) => v > 1)).toBe(true);
  });

  it('gives the same noise for the same seed and different noise for another', () => {
    const x = new Float32Array(1001).map((_, i) => (i % 17) / 16);
    const a = addDiffusionNoise(x, 500, new Rng(42));
    const b = addDiffusionNoise(x, 500, new Rng(42));
    const c = addDiffusionNoise(x, 500, new Rng(43));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(x[1]).toBeCloseTo(1 / 16, 7); // input untouched
  });
});

describe('noiseImageData', () => {
  const w = 160;
  const h = 120;
  function rgba(value: number): { data: Uint8ClampedArray; width: number; height: number } {
    const data = new Uint8ClampedArray(w * h * 4);
    for (let p = 0; p < w * h; p++) {
      data[4 * p] = value;
      data[4 * p + 1] = value;
      data[4 * p + 2] = value;
      data[4 * p + 3] = p % 256; // varied alpha
    }
    return { data, width: w, height: h };
  }

  it('noises R, G, B with the schedule and leaves alpha untouched', () => {
    const src = rgba(128);
    const out = noiseImageData(src, 100, 5);
    expect(out.width).toBe(w);
    expect(out.height).toBe(h);
    const diffs: number[] = [];
    for (let p = 0; p < w * h; p++) {
      expect(out.data[4 * p + 3]).toBe(p % 256);
      for (let c = 0; c < 3; c++) diffs.push(out.data[4 * p + c] / 255 - noiseCoefficients(100).sqrtAbar * (128 / 255));
    }
    const { mean, std } = meanStd(diffs);
    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(Math.abs(std / noiseCoefficients(100).sqrtOneMinusAbar - 1)).toBeLessThan(0.03);
    expect(src.data[0]).toBe(128); // input untouched
  });

  it('is reproducible for a seed and checks its input', () => {
    const src = rgba(200);
    expect(noiseImageData(src, 500, 9).data).toEqual(noiseImageData(src, 500, 9).data);
    expect(noiseImageData(src, 500, 9).data).not.toEqual(noiseImageData(src, 500, 10).data);
    expect(() => noiseImageData({ data: new Uint8ClampedArray(10), width: 2, height: 2 }, 500, 0)).toThrow(NoiseError);
  });
});

describe('noiseImageBitmap', () => {
  const g = globalThis as Record<string, unknown>;
  const saved = g.OffscreenCanvas;
  afterEach(() => {
    g.OffscreenCanvas = saved;
  });

  it('needs OffscreenCanvas', async () => {
    g.OffscreenCanvas = undefined;
    await expect(noiseImageBitmap({ width: 1, height: 1 } as unknown as ImageBitmap, 500, 0)).rejects.toThrow(NoiseError);
  });

  it('draws, noises and returns the canvas content through OffscreenCanvas', async () => {
    // a minimal stand-in for the browser's OffscreenCanvas: pixels go in with drawImage and out with getImageData
    type Px = { data: Uint8ClampedArray; width: number; height: number };
    let last: Px | null = null;
    class FakeCanvas {
      pixels: Px;
      constructor(
        readonly width: number,
        readonly height: number,
      ) {
        this.pixels = { data: new Uint8ClampedArray(width * height * 4), width, height };
      }
      getContext() {
        return {
          drawImage: (img: Px) => this.pixels.data.set(img.data),
          getImageData: () => ({ data: Uint8ClampedArray.from(this.pixels.data), width: this.width, height: this.height }),
          putImageData: (img: Px) => {
            this.pixels = { data: Uint8ClampedArray.from(img.data), width: img.width, height: img.height };
            last = this.pixels;
          },
        };
      }
      transferToImageBitmap() {
        return this.pixels;
      }
      async convertToBlob() {
        return new Blob([this.pixels.data as Uint8ClampedArray<ArrayBuffer>], { type: 'image/png' });
      }
    }
    g.OffscreenCanvas = FakeCanvas;
    const src: Px = { data: new Uint8ClampedArray(3 * 2 * 4).map((_, i) => (i * 37) % 256), width: 3, height: 2 };
    const bmp = (await noiseImageBitmap(src as unknown as ImageBitmap, 300, 11)) as unknown as Px;
    expect(bmp.data).toEqual(noiseImageData(src, 300, 11).data);
    expect(last).not.toBeNull();
    const blob = await noiseImageBitmap(src as unknown as ImageBitmap, 300, 11, { output: 'blob' });
    expect(blob).toBeInstanceOf(Blob);
    expect(new Uint8ClampedArray(await blob.arrayBuffer())).toEqual(noiseImageData(src, 300, 11).data);
  });
});
