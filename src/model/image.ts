// Image preprocessing for the vision encoder (Idefics3ImageProcessor without splitting):
// RGB (alpha composited over white, as transformers' convert_to_rgb does), resized to
// size x size, rescaled by 1/255, normalised with mean 0.5 / std 0.5 to [-1, 1], channels first.

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

export class ImageShapeError extends Error {
  override name = 'ImageShapeError';
}

/** What decodeImage returns: an ImageData-like RGBA raster (row-major, 4 bytes per pixel, not premultiplied). */
export interface RgbaImage {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

const MEAN = 0.5;
const STD = 0.5;

function checkRaster(rgba: ArrayLike<number>, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageShapeError(`image size ${width} x ${height} is not a positive integer size`);
  }
  if (rgba.length !== width * height * 4) {
    throw new ImageShapeError(`image data has ${rgba.length} bytes but a ${width} x ${height} RGBA image needs ${width * height * 4}`);
  }
}

/**
 * Resampling weights for one axis: a triangle (bilinear) filter with half-pixel centres, widened
 * by the scale when shrinking so every source pixel contributes (as PIL's BILINEAR does).
 * Returns, per output index, the first source index and normalised weights.
 */
function axisWeights(inSize: number, outSize: number): { start: Int32Array; count: Int32Array; weights: Float64Array; taps: number } {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1); // filter half-width in source pixels
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(inSize, Math.ceil(center + support));
    let sum = 0;
    let n = 0;
    for (let i = lo; i < hi && n < taps; i++, n++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - center) / support));
      weights[o * taps + n] = w;
      sum += w;
    }
    if (sum === 0) {
      // Cannot happen for sizes >= 1, but never divide by zero: take the nearest pixel.
      weights[o * taps] = 1;
      sum = 1;
      n = 1;
    }
    for (let k = 0; k < n; k++) weights[o * taps + k] /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, taps };
}

/**
 * RGBA bytes -> pixel_values for one image: Float32Array [3, size, size] in [-1, 1].
 * Transparent pixels are composited over white first.
 */
export function toPixelValues(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number, size = 512): Float32Array {
  checkRaster(rgba, width, height);
  if (!Number.isInteger(size) || size <= 0) throw new ImageShapeError(`target size ${size} is not a positive integer`);
  // RGB planes in [0, 1] after alpha compositing.
  const plane = width * height;
  const rgb = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    const a = rgba[p * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) rgb[c * plane + p] = (rgba[p * 4 + c] * a + 255 * (1 - a)) / 255;
  }
  // Separable resize: rows first (width -> size), then columns (height -> size).
  const wx = axisWeights(width, size);
  const wy = axisWeights(height, size);
  const tmp = new Float32Array(3 * height * size);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) {
      const src = c * plane + y * width;
      const dst = (c * height + y) * size;
      for (let x = 0; x < size; x++) {
        let acc = 0;
        const s = wx.start[x];
        for (let k = 0; k < wx.count[x]; k++) acc += wx.weights[x * wx.taps + k] * rgb[src + s + k];
        tmp[dst + x] = acc;
      }
    }
  }
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      const s = wy.start[y];
      const dst = (c * size + y) * size;
      for (let x = 0; x < size; x++) {
        let acc = 0;
        for (let k = 0; k < wy.count[y]; k++) acc += wy.weights[y * wy.taps + k] * tmp[(c * height + s + k) * size + x];
        out[dst + x] = (acc - MEAN) / STD;
      }
    }
  }
  return out;
}

/**
 * Decodes an image file (JPEG, PNG, WebP, ... whatever the browser decodes) to RGBA pixels,
 * in a page or a Worker. EXIF orientation is applied, so the model sees what the user sees.
 */
export async function decodeImage(blob: Blob, fileName?: string): Promise<RgbaImage> {
  const name = fileName ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : 'the image');
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas === 'undefined') {
    throw new ImageDecodeError(`cannot decode ${name}: this environment has no createImageBitmap/OffscreenCanvas; use a current browser`);
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'default', imageOrientation: 'from-image' });
  } catch (e) {
    const type = blob.type ? ` (type ${blob.type})` : '';
    throw new ImageDecodeError(`${name}${type} is not an image this browser can decode (${(e as Error).message}); use a JPEG, PNG or WebP file`);
  }
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new ImageDecodeError(`cannot decode ${name}: no 2D canvas context is available`);
    ctx.drawImage(bitmap, 0, 0);
    const img = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    return { data: img.data, width: img.width, height: img.height };
  } finally {
    bitmap.close();
  }
}
