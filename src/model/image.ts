// Image preprocessing as transformers' Idefics3 image processor does it (docs/model.md, "Image
// preprocessing"; transformers' PIL backend, image_processing_pil_idefics3.py), from
// preprocessor_config.json:
//   RGB -> resize so the longest edge is size.longest_edge (even short side, at most 4096)
//       -> with splitting: resize up to multiples of max_image_size.longest_edge, cut that into
//          square tiles row-major, then add the whole image squeezed to one tile (the global view)
//          without splitting: squeeze to one max_image_size square
//       -> rescale (1/255) and normalise (mean/std) per channel, channels first.
// Every resize is PIL's Image.resize on 8-bit RGB (resample 1 = LANCZOS), rounded to uint8 after
// each pass exactly as Pillow's fixed-point resampler rounds (resamplePil below), so chained
// resizes give the same bytes as transformers.
// One difference by design: transparent pixels are composited over white (transformers 4.x's
// convert_to_rgb); a browser canvas keeps no colour under alpha 0, so the file's hidden colours
// that PIL's plain RGBA -> RGB conversion would keep cannot be recovered anyway.

import type { ImageGrid } from './chat';

export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

export class ImageShapeError extends Error {
  override name = 'ImageShapeError';
}

/** preprocessor_config.json holds a value this processor cannot follow. */
export class ImageProcessorConfigError extends Error {
  override name = 'ImageProcessorConfigError';
}

/** What decodeImage returns: an ImageData-like RGBA raster (row-major, 4 bytes per pixel, not premultiplied). */
export interface RgbaImage {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** An 8-bit RGB raster, row-major, 3 bytes per pixel (what PIL holds in mode "RGB"). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** PIL's resampling filters by their Image.Resampling numbers (NEAREST = 0 is not implemented). */
export const PIL_RESAMPLE = { LANCZOS: 1, BILINEAR: 2, BICUBIC: 3, BOX: 4, HAMMING: 5 } as const;
export type PilResample = (typeof PIL_RESAMPLE)[keyof typeof PIL_RESAMPLE];

/** The fields of preprocessor_config.json the Idefics3 image processor reads. */
export interface ImageProcessorConfig {
  doConvertRgb: boolean;
  doResize: boolean;
  /** size.longest_edge: the first resize's longest edge (2048 for SmolVLM). */
  longestEdge: number;
  resample: PilResample;
  doImageSplitting: boolean;
  /** max_image_size.longest_edge: the side of each tile and of the global view (512). */
  maxImageSize: number;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  imageMean: [number, number, number];
  imageStd: [number, number, number];
}

/** transformers' MAX_IMAGE_SIZE: no side grows past 4096 in the first resize. */
export const MAX_IMAGE_SIDE = 4096;

/** SmolVLM's preprocessor_config.json values; `encoderSize` is the vision tower's image_size. */
export function defaultImageProcessorConfig(encoderSize = 512): ImageProcessorConfig {
  return {
    doConvertRgb: true,
    doResize: true,
    longestEdge: 4 * encoderSize,
    resample: PIL_RESAMPLE.LANCZOS,
    doImageSplitting: true,
    maxImageSize: encoderSize,
    doRescale: true,
    rescaleFactor: 1 / 255,
    doNormalize: true,
    imageMean: [0.5, 0.5, 0.5],
    imageStd: [0.5, 0.5, 0.5],
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * preprocessor_config.json -> ImageProcessorConfig. Missing fields take SmolVLM's values
 * (defaultImageProcessorConfig); present ones must be valid, or the error names the field.
 */
export function parseImageProcessorConfig(json: unknown, encoderSize = 512, fileName = 'preprocessor_config.json'): ImageProcessorConfig {
  if (!isObject(json)) throw new ImageProcessorConfigError(`${fileName} is not a JSON object`);
  const d = defaultImageProcessorConfig(encoderSize);
  const bool = (key: string, dflt: boolean): boolean => {
    const v = json[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean')
      throw new ImageProcessorConfigError(`${fileName}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const edge = (key: string, dflt: number): number => {
    const v = json[key];
    if (v === undefined || v === null) return dflt;
    const e = isObject(v) ? v['longest_edge'] : undefined;
    if (typeof e !== 'number' || !Number.isInteger(e) || e <= 0) {
      throw new ImageProcessorConfigError(
        `${fileName}: "${key}" must be {"longest_edge": a positive integer}, got ${JSON.stringify(v)}; other size forms are not used by Idefics3 models`,
      );
    }
    return e;
  };
  const triple = (key: string, dflt: [number, number, number]): [number, number, number] => {
    const v = json[key];
    if (v === undefined || v === null) return dflt;
    const arr = typeof v === 'number' ? [v, v, v] : v;
    if (!Array.isArray(arr) || arr.length !== 3 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new ImageProcessorConfigError(
        `${fileName}: "${key}" must be a number or three numbers (one per RGB channel), got ${JSON.stringify(v)}`,
      );
    }
    return [arr[0], arr[1], arr[2]];
  };
  let resample: PilResample = d.resample;
  if (json['resample'] !== undefined && json['resample'] !== null) {
    const r = json['resample'];
    if (!(Object.values(PIL_RESAMPLE) as unknown[]).includes(r)) {
      throw new ImageProcessorConfigError(
        `${fileName}: "resample" ${JSON.stringify(r)} is not supported; use one of PIL's filters 1 (LANCZOS, SmolVLM's), 2 (BILINEAR), 3 (BICUBIC), 4 (BOX) or 5 (HAMMING)`,
      );
    }
    resample = r as PilResample;
  }
  let rescaleFactor = d.rescaleFactor;
  if (json['rescale_factor'] !== undefined && json['rescale_factor'] !== null) {
    const r = json['rescale_factor'];
    if (typeof r !== 'number' || !(r > 0) || !Number.isFinite(r))
      throw new ImageProcessorConfigError(`${fileName}: "rescale_factor" must be a positive number, got ${JSON.stringify(r)}`);
    rescaleFactor = r;
  }
  const imageStd = triple('image_std', d.imageStd);
  if (imageStd.some((s) => s === 0))
    throw new ImageProcessorConfigError(`${fileName}: "image_std" has a zero entry; normalising would divide by zero`);
  const cfg: ImageProcessorConfig = {
    doConvertRgb: bool('do_convert_rgb', d.doConvertRgb),
    doResize: bool('do_resize', d.doResize),
    longestEdge: edge('size', d.longestEdge),
    resample,
    doImageSplitting: bool('do_image_splitting', d.doImageSplitting),
    maxImageSize: edge('max_image_size', d.maxImageSize),
    doRescale: bool('do_rescale', d.doRescale),
    rescaleFactor,
    doNormalize: bool('do_normalize', d.doNormalize),
    imageMean: triple('image_mean', d.imageMean),
    imageStd,
  };
  if (cfg.maxImageSize !== encoderSize) {
    throw new ImageProcessorConfigError(
      `${fileName}: max_image_size.longest_edge is ${cfg.maxImageSize} but the vision encoder takes ${encoderSize} x ${encoderSize} images; the files belong to different models`,
    );
  }
  return cfg;
}

function checkRaster(pixels: ArrayLike<number>, width: number, height: number, channels: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageShapeError(`image size ${width} x ${height} is not a positive integer size`);
  }
  if (pixels.length !== width * height * channels) {
    const kind = channels === 4 ? 'RGBA' : 'RGB';
    throw new ImageShapeError(
      `image data has ${pixels.length} bytes but a ${width} x ${height} ${kind} image needs ${width * height * channels}`,
    );
  }
}

/** RGBA -> RGB, transparent pixels composited over white (see the note at the top). */
export function rgbaToRgb(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): RgbImage {
  checkRaster(rgba, width, height, 4);
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const a = rgba[p * 4 + 3];
    for (let c = 0; c < 3; c++) data[p * 3 + c] = a === 255 ? rgba[p * 4 + c] : Math.round((rgba[p * 4 + c] * a + 255 * (255 - a)) / 255);
  }
  return { data, width, height };
}

// ------------------------------------------------------------------------ PIL's resampler

/** Filter kernels with their support in source pixels at scale 1 (Pillow's Resample.c). */
const sinc = (x: number): number => {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
};
const FILTERS: Record<PilResample, { support: number; f: (x: number) => number }> = {
  [PIL_RESAMPLE.LANCZOS]: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  [PIL_RESAMPLE.BILINEAR]: { support: 1, f: (x) => Math.max(0, 1 - Math.abs(x)) },
  [PIL_RESAMPLE.BICUBIC]: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  [PIL_RESAMPLE.BOX]: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  [PIL_RESAMPLE.HAMMING]: {
    support: 1,
    f: (x) => {
      x = Math.abs(x);
      if (x === 0) return 1;
      if (x >= 1) return 0;
      const px = x * Math.PI;
      // Pillow writes the constants as C floats: 0.54f and 0.46f.
      return (Math.sin(px) / px) * (Math.fround(0.54) + Math.fround(0.46) * Math.cos(px));
    },
  },
};

/** Fixed-point precision of Pillow's 8-bit resampler: 32 bits - 8 for the value - 2 for overshoot. */
const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

/** Per output index: first source index, tap count, and integer weights (ksize per row). */
interface AxisCoeffs {
  start: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  ksize: number;
}

/**
 * One axis's coefficients as Pillow computes them: the kernel widened by the scale when
 * shrinking, taps between the rounded ends of the support, normalised in double precision,
 * then rounded half away from zero to 22-bit fixed point.
 */
function axisCoeffs(inSize: number, outSize: number, filter: PilResample): AxisCoeffs {
  const { support: base, f } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = base * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const invScale = 1 / filterScale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // C's (int) cast truncates towards zero.
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const n = hi - lo;
    let sum = 0;
    for (let x = 0; x < n; x++) {
      const w = f((x + lo - center + 0.5) * invScale);
      k[x] = w;
      sum += w;
    }
    for (let x = 0; x < n; x++) {
      const w = sum !== 0 ? k[x] / sum : k[x];
      weights[o * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, ksize };
}

/** Rounds a fixed-point accumulator (which includes the +0.5 bias) to a byte, clipping. */
function clip8(acc: number): number {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * PIL's Image.resize(size, resample) of an 8-bit RGB image: a horizontal pass (only when the
 * width changes) over just the rows the vertical pass reads, rounded to bytes, then a vertical
 * pass (only when the height changes), rounded to bytes. The same size returns a copy.
 */
export function resamplePil(img: RgbImage, outWidth: number, outHeight: number, filter: PilResample = PIL_RESAMPLE.LANCZOS): RgbImage {
  checkRaster(img.data, img.width, img.height, 3);
  if (!Number.isInteger(outWidth) || !Number.isInteger(outHeight) || outWidth <= 0 || outHeight <= 0) {
    throw new ImageShapeError(`target size ${outWidth} x ${outHeight} is not a positive integer size`);
  }
  if (!(filter in FILTERS)) throw new ImageProcessorConfigError(`resample ${String(filter)} is not one of PIL's filters 1-5`);
  let { data, width, height } = img;
  if (width === outWidth && height === outHeight) return { data: data.slice(), width, height };

  const vert = axisCoeffs(height, outHeight, filter);
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  if (needH) {
    // Rows [first, last) are all the vertical pass reads.
    const first = vert.start[0];
    const last = vert.start[outHeight - 1] + vert.count[outHeight - 1];
    const hor = axisCoeffs(width, outWidth, filter);
    const rows = last - first;
    const out = new Uint8Array(rows * outWidth * 3);
    for (let y = 0; y < rows; y++) {
      const src = (y + first) * width * 3;
      const dst = y * outWidth * 3;
      for (let x = 0; x < outWidth; x++) {
        const s = src + hor.start[x] * 3;
        const kw = x * hor.ksize;
        let r = HALF;
        let g = HALF;
        let b = HALF;
        for (let t = 0; t < hor.count[x]; t++) {
          const w = hor.weights[kw + t];
          r += data[s + t * 3] * w;
          g += data[s + t * 3 + 1] * w;
          b += data[s + t * 3 + 2] * w;
        }
        out[dst + x * 3] = clip8(r);
        out[dst + x * 3 + 1] = clip8(g);
        out[dst + x * 3 + 2] = clip8(b);
      }
    }
    for (let o = 0; o < outHeight; o++) vert.start[o] -= first;
    data = out;
    width = outWidth;
    height = rows;
  }
  if (needV) {
    const out = new Uint8Array(outHeight * width * 3);
    const stride = width * 3;
    for (let y = 0; y < outHeight; y++) {
      const kw = y * vert.ksize;
      const s0 = vert.start[y] * stride;
      const n = vert.count[y];
      const dst = y * stride;
      for (let i = 0; i < stride; i++) {
        let acc = HALF;
        for (let t = 0; t < n; t++) acc += data[s0 + t * stride + i] * vert.weights[kw + t];
        out[dst + i] = clip8(acc);
      }
    }
    data = out;
    height = outHeight;
  }
  return { data, width, height };
}

// ------------------------------------------------------------------------ the processor's sizes

/**
 * The first resize: the longest edge becomes `longestEdge` (the other side truncated, then made
 * even), then both capped at 4096 (transformers' _resize_output_size_rescale_to_max_len and
 * _resize_output_size_scale_below_upper_bound). Returns [height, width].
 */
export function longestEdgeSize(height: number, width: number, longestEdge: number): [number, number] {
  let h = height;
  let w = width;
  let aspect = w / h;
  if (w >= h) {
    w = longestEdge;
    h = Math.trunc(w / aspect);
    if (h % 2 !== 0) h += 1;
  } else {
    h = longestEdge;
    w = Math.trunc(h * aspect);
    if (w % 2 !== 0) w += 1;
  }
  h = Math.max(h, 1);
  w = Math.max(w, 1);
  aspect = w / h;
  if (w >= h && w > MAX_IMAGE_SIDE) {
    w = MAX_IMAGE_SIDE;
    h = Math.trunc(w / aspect);
  } else if (h > w && h > MAX_IMAGE_SIDE) {
    h = MAX_IMAGE_SIDE;
    w = Math.trunc(h * aspect);
  }
  return [Math.max(h, 1), Math.max(w, 1)];
}

/** resize_for_vision_encoder: both sides up to multiples of the tile side. Returns [height, width]. */
export function tileGridSize(height: number, width: number, tile: number): [number, number] {
  const aspect = width / height;
  let h = height;
  let w = width;
  if (w >= h) {
    w = Math.ceil(w / tile) * tile;
    h = Math.ceil(Math.trunc(w / aspect) / tile) * tile;
  } else {
    h = Math.ceil(h / tile) * tile;
    w = Math.ceil(Math.trunc(h * aspect) / tile) * tile;
  }
  return [h, w];
}

/** How an image is shown to the model. */
export type ImageDetail = 'single' | 'tiles';

/** Rows and columns of tiles before the global view; 0 x 0 for a single view. */
export type TileGrid = ImageGrid;

/** Views per image: rows x cols tiles and one global view, or just the one view. */
export function frameCount(grid: TileGrid): number {
  return grid.rows === 0 && grid.cols === 0 ? 1 : grid.rows * grid.cols + 1;
}

/**
 * The tile grid the processor makes for an image of this size (no pixels touched): what
 * decides the prompt's length before the image is resized.
 */
export function planTiles(width: number, height: number, cfg: ImageProcessorConfig, detail: ImageDetail): TileGrid {
  if (detail === 'single' || !cfg.doImageSplitting) return { rows: 0, cols: 0 };
  let h = height;
  let w = width;
  if (cfg.doResize) [h, w] = longestEdgeSize(h, w, cfg.longestEdge);
  [h, w] = tileGridSize(h, w, cfg.maxImageSize);
  const m = cfg.maxImageSize;
  if (h > m || w > m) return { rows: Math.floor((h - m) / m) + 1, cols: Math.floor((w - m) / m) + 1 };
  return { rows: 0, cols: 0 };
}

/** One image as the vision encoder takes it. */
export interface ProcessedImage {
  /** [frames, 3, S, S] channels first: tiles row-major, then the global view. */
  pixels: Float32Array;
  frames: number;
  grid: TileGrid;
  size: number;
}

/** The processor up to its uint8 views: [frames] of S x S RGB rasters in prompt order. */
export function processorViews(rgb: RgbImage, cfg: ImageProcessorConfig, detail: ImageDetail): { views: RgbImage[]; grid: TileGrid } {
  checkRaster(rgb.data, rgb.width, rgb.height, 3);
  const m = cfg.maxImageSize;
  let img = rgb;
  if (cfg.doResize) {
    const [h, w] = longestEdgeSize(img.height, img.width, cfg.longestEdge);
    img = resamplePil(img, w, h, cfg.resample);
  }
  // A "single" view is the processor with do_image_splitting false.
  if (detail === 'single' || !cfg.doImageSplitting) return { views: [resamplePil(img, m, m, cfg.resample)], grid: { rows: 0, cols: 0 } };
  const [gh, gw] = tileGridSize(img.height, img.width, m);
  img = resamplePil(img, gw, gh, cfg.resample);
  if (img.height <= m && img.width <= m) return { views: [img], grid: { rows: 0, cols: 0 } };
  const rows = Math.floor((img.height - m) / m) + 1;
  const cols = Math.floor((img.width - m) / m) + 1;
  const views: RgbImage[] = [];
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const tile = new Uint8Array(m * m * 3);
      for (let y = 0; y < m; y++) {
        const src = ((r * m + y) * img.width + c * m) * 3;
        tile.set(img.data.subarray(src, src + m * 3), y * m * 3);
      }
      views.push({ data: tile, width: m, height: m });
    }
  views.push(resamplePil(img, m, m, cfg.resample));
  return { views, grid: { rows, cols } };
}

/** uint8 HWC views -> float32 [frames, 3, S, S]: rescale then normalise, as the processor does. */
export function normaliseViews(views: readonly RgbImage[], cfg: ImageProcessorConfig): Float32Array {
  const S = views[0].width;
  const plane = S * S;
  const out = new Float32Array(views.length * 3 * plane);
  const scale = cfg.doRescale ? cfg.rescaleFactor : 1;
  views.forEach((v, f) => {
    if (v.width !== S || v.height !== S) throw new ImageShapeError(`view ${f} is ${v.width} x ${v.height}, not ${S} x ${S}`);
    for (let c = 0; c < 3; c++) {
      const mean = cfg.doNormalize ? cfg.imageMean[c] : 0;
      const std = cfg.doNormalize ? cfg.imageStd[c] : 1;
      const base = (f * 3 + c) * plane;
      for (let p = 0; p < plane; p++) out[base + p] = (Math.fround(v.data[p * 3 + c] * scale) - mean) / std;
    }
  });
  return out;
}

/** RGBA raster -> the processor's pixel_values for one image (see the top of this file). */
export function preprocessImage(
  rgba: Uint8ClampedArray | Uint8Array,
  width: number,
  height: number,
  cfg: ImageProcessorConfig,
  detail: ImageDetail,
): ProcessedImage {
  const { views, grid } = processorViews(rgbaToRgb(rgba, width, height), cfg, detail);
  return { pixels: normaliseViews(views, cfg), frames: views.length, grid, size: cfg.maxImageSize };
}

/**
 * RGBA bytes -> pixel_values of one size x size view: Float32Array [3, size, size] in [-1, 1],
 * resized directly with PIL's filter (LANCZOS by default). Transparent pixels over white.
 */
export function toPixelValues(
  rgba: Uint8ClampedArray | Uint8Array,
  width: number,
  height: number,
  size = 512,
  filter: PilResample = PIL_RESAMPLE.LANCZOS,
): Float32Array {
  if (!Number.isInteger(size) || size <= 0) throw new ImageShapeError(`target size ${size} is not a positive integer`);
  const view = resamplePil(rgbaToRgb(rgba, width, height), size, size, filter);
  return normaliseViews([view], { ...defaultImageProcessorConfig(size), resample: filter });
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
    throw new ImageDecodeError(
      `${name}${type} is not an image this browser can decode (${(e as Error).message}); use a JPEG, PNG or WebP file`,
    );
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
