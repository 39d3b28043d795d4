// POVID's image distortion: one forward-diffusion step on pixel values in [0, 1]
// (docs/method.md, "Image noise"):
//   betas   = sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5
//   abar_t  = prod_{s<=t} (1 - betas_s), t 0-based
//   x_noisy = sqrt(abar_t) x + sqrt(1 - abar_t) eps, eps ~ N(0, 1) per channel value
// The schedule is computed in float64. Clamping to [0, 1] is the default (what 8-bit
// ImageData does anyway); the released code wrapped instead.

import { Rng } from '../util/rng';

export const NOISE_STEPS = 1000;
/** Step used by the released runs. */
export const DEFAULT_NOISE_STEP = 500;
const BETA_START = 1e-5;
const BETA_END = 5e-3;

export class NoiseError extends Error {
  override name = 'NoiseError';
}

let abarCache: Float64Array | null = null;

/** abar_t for t = 0..999 (float64). */
export function alphaBars(): Float64Array {
  if (abarCache) return abarCache;
  const abar = new Float64Array(NOISE_STEPS);
  let prod = 1;
  for (let t = 0; t < NOISE_STEPS; t++) {
    const x = -6 + (12 * t) / (NOISE_STEPS - 1);
    const beta = (1 / (1 + Math.exp(-x))) * (BETA_END - BETA_START) + BETA_START;
    prod *= 1 - beta;
    abar[t] = prod;
  }
  abarCache = abar;
  return abar;
}

function checkStep(t: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= NOISE_STEPS)
    throw new NoiseError(
      `noise step t must be an integer in [0, ${NOISE_STEPS - 1}], got ${t}; the released runs use ${DEFAULT_NOISE_STEP}`,
    );
}

export interface NoiseCoefficients {
  sqrtAbar: number;
  sqrtOneMinusAbar: number;
}

/** sqrt(abar_t) and sqrt(1 - abar_t) in float64. */
export function noiseCoefficients(t: number = DEFAULT_NOISE_STEP): NoiseCoefficients {
  checkStep(t);
  const a = alphaBars()[t];
  return { sqrtAbar: Math.sqrt(a), sqrtOneMinusAbar: Math.sqrt(1 - a) };
}

/** x_noisy for pixel values in [0, 1]; one normal draw per value, from `rng`. */
export function addDiffusionNoise(
  pixels01: Float32Array,
  t: number = DEFAULT_NOISE_STEP,
  rng: Rng,
  opts: { clamp?: boolean } = {},
): Float32Array {
  const { sqrtAbar, sqrtOneMinusAbar } = noiseCoefficients(t);
  const clamp = opts.clamp ?? true;
  const out = new Float32Array(pixels01.length);
  rng.fillNormal(out); // eps, overwritten in place
  for (let i = 0; i < out.length; i++) {
    const v = sqrtAbar * pixels01[i] + sqrtOneMinusAbar * out[i];
    out[i] = clamp ? (v < 0 ? 0 : v > 1 ? 1 : v) : v;
  }
  return out;
}

/**
 * Noise for the `use`-th use of an example, on pixel values in [-1, 1] (the vision encoder's
 * input): new noise at every use, the same for a (seed, use).
 */
export function noisyPixels(pixels: Float32Array, t: number, seed: number, use: number): Float32Array {
  const x01 = new Float32Array(pixels.length);
  for (let i = 0; i < x01.length; i++) x01[i] = (pixels[i] + 1) * 0.5;
  const noisy = addDiffusionNoise(x01, t, new Rng((seed * 1000003 + use * 7919 + 17) >>> 0));
  for (let i = 0; i < noisy.length; i++) noisy[i] = noisy[i] * 2 - 1;
  return noisy;
}

/** What a Canvas ImageData holds; a real ImageData is returned where the constructor exists. */
export interface ImageDataLike {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** Noisy copy of RGBA pixels: R, G, B get noise (clamped, rounded to 8 bits), alpha is copied. */
export function noiseImageData(image: ImageDataLike, t: number = DEFAULT_NOISE_STEP, seed = 0): ImageDataLike {
  const { data, width, height } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || data.length !== width * height * 4)
    throw new NoiseError(`image data must be RGBA with width*height*4 values, got ${data.length} values for ${width}x${height}`);
  const { sqrtAbar, sqrtOneMinusAbar } = noiseCoefficients(t);
  const n = width * height;
  const eps = new Float32Array(n * 3);
  new Rng(seed).fillNormal(eps);
  const out = new Uint8ClampedArray(data.length);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      const v = sqrtAbar * (data[4 * p + c] / 255) + sqrtOneMinusAbar * eps[3 * p + c];
      out[4 * p + c] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255);
    }
    out[4 * p + 3] = data[4 * p + 3];
  }
  if (typeof ImageData !== 'undefined') return new ImageData(out, width, height);
  return { data: out, width, height };
}

type Drawable = CanvasImageSource & { width: number; height: number };

/**
 * Noisy copy of a bitmap through an OffscreenCanvas (page or Worker). Returns an ImageBitmap,
 * or a PNG Blob with `{ output: 'blob' }` (for the dataset export).
 */
export async function noiseImageBitmap(bitmap: Drawable, t?: number, seed?: number): Promise<ImageBitmap>;
export async function noiseImageBitmap(
  bitmap: Drawable,
  t: number | undefined,
  seed: number | undefined,
  opts: { output: 'blob' },
): Promise<Blob>;
export async function noiseImageBitmap(
  bitmap: Drawable,
  t: number = DEFAULT_NOISE_STEP,
  seed = 0,
  opts: { output?: 'bitmap' | 'blob' } = {},
): Promise<ImageBitmap | Blob> {
  if (typeof OffscreenCanvas === 'undefined')
    throw new NoiseError('noiseImageBitmap needs OffscreenCanvas (a browser page or Worker); use noiseImageData on raw pixels instead');
  const w = bitmap.width;
  const h = bitmap.height;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new NoiseError('OffscreenCanvas has no 2d context here');
  ctx.drawImage(bitmap, 0, 0);
  const noisy = noiseImageData(ctx.getImageData(0, 0, w, h), t, seed);
  ctx.putImageData(noisy as ImageData, 0, 0);
  if (opts.output === 'blob') return canvas.convertToBlob({ type: 'image/png' });
  return canvas.transferToImageBitmap();
}

/** Decodes an image file, noises it and encodes it as PNG (needs createImageBitmap + OffscreenCanvas). */
export async function noiseImageBlob(blob: Blob, t: number = DEFAULT_NOISE_STEP, seed = 0): Promise<Blob> {
  if (typeof createImageBitmap === 'undefined') throw new NoiseError('noiseImageBlob needs createImageBitmap (a browser page or Worker)');
  const bmp = await createImageBitmap(blob);
  try {
    return await noiseImageBitmap(bmp, t, seed, { output: 'blob' });
  } finally {
    bmp.close();
  }
}
