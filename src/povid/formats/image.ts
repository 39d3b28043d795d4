// Image headers read without decoding: the pixel size each format declares, and the structure
// that shows a file was cut short. Checked at import, before any decoder is handed the file, so
// a header claiming 60000 x 60000 pixels never reaches createImageBitmap and a truncated PNG is
// refused with a reason instead of failing later in training.

export type ImageType = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp';

/** Most pixels an image may declare: 8192 x 8192 (256 MiB as RGBA once decoded). */
export const MAX_IMAGE_PIXELS = 8192 * 8192;
/** Longest side an image may declare (browsers' canvases stop near 32767). */
export const MAX_IMAGE_SIDE = 16384;

export interface ImageSize {
  width: number;
  height: number;
}

/** What the header says: the size when it was found, or why the file is not usable. */
export type HeaderVerdict = { ok: true; size: ImageSize | null } | { ok: false; reason: string };

const u16be = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const u16le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const u24le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32be = (b: Uint8Array, i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const u32le = (b: Uint8Array, i: number) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
const i32le = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
const tag = (b: Uint8Array, i: number) => String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);

/** Bytes of the file each type needs for its check: PNG is walked chunk by chunk to its end. */
export function headerBytesNeeded(type: ImageType, size: number): number {
  if (type === 'png') return size;
  if (type === 'jpeg') return Math.min(size, 1 << 20); // SOF follows EXIF/ICC segments of up to 64 KiB each
  return Math.min(size, 64);
}

/**
 * Reads the declared size of an image of `type` from its first bytes (`b`, of a file of
 * `fileSize` bytes) and checks its structure. `b` holds at least headerBytesNeeded() bytes.
 */
export function readImageHeader(type: ImageType, b: Uint8Array, fileSize: number): HeaderVerdict {
  switch (type) {
    case 'png':
      return png(b);
    case 'jpeg':
      return jpeg(b, fileSize);
    case 'gif':
      return b.length < 10 ? short('GIF', fileSize) : { ok: true, size: { width: u16le(b, 6), height: u16le(b, 8) } };
    case 'webp':
      return webp(b, fileSize);
    case 'bmp':
      return bmp(b, fileSize);
  }
}

function short(kind: string, n: number): HeaderVerdict {
  return { ok: false, reason: `is truncated: ${n} bytes is too short for a ${kind} header` };
}

/** PNG: signature, IHDR first, then chunks of length + type + data + CRC up to IEND. */
function png(b: Uint8Array): HeaderVerdict {
  if (b.length < 33) return short('PNG', b.length);
  if (tag(b, 12) !== 'IHDR') return { ok: false, reason: `is not a valid PNG: its first chunk is "${tag(b, 12)}", not IHDR` };
  const size = { width: u32be(b, 16), height: u32be(b, 20) };
  let pos = 8;
  while (pos + 8 <= b.length) {
    const len = u32be(b, pos);
    const type = tag(b, pos + 4);
    if (pos + 12 + len > b.length)
      return {
        ok: false,
        reason: `is truncated: the file ends after ${b.length} bytes, inside its ${type} chunk (declared ${len} bytes at byte ${pos})`,
      };
    if (type === 'IEND') return { ok: true, size };
    pos += 12 + len;
  }
  return { ok: false, reason: `is truncated: the file ends after ${b.length} bytes without the IEND chunk that closes a PNG` };
}

/** JPEG: markers from SOI to the first start-of-frame, whose segment holds the size. */
function jpeg(b: Uint8Array, fileSize: number): HeaderVerdict {
  let pos = 2;
  while (pos + 2 <= b.length) {
    if (b[pos] !== 0xff) return { ok: true, size: null }; // not a marker: leave it to the decoder
    const m = b[pos + 1];
    if (m === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      pos += 2;
      continue;
    }
    if (m === 0xd9 || m === 0xda) return { ok: true, size: null }; // end or scan data before any frame header
    if (pos + 4 > b.length) break;
    const len = u16be(b, pos + 2);
    const sof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (sof) {
      if (pos + 9 > b.length) return { ok: false, reason: `is truncated: the file ends after ${b.length} bytes, inside its frame header` };
      return { ok: true, size: { height: u16be(b, pos + 5), width: u16be(b, pos + 7) } };
    }
    pos += 2 + len;
  }
  // Ran out of the bytes read: truncated if that was the whole file, else the header lies further on.
  if (b.length >= fileSize && b.length > 4)
    return { ok: false, reason: `is truncated: the file ends after ${fileSize} bytes, before its frame header` };
  return { ok: true, size: null };
}

/** WebP: a RIFF container whose declared length must fit the file; VP8, VP8L or VP8X chunk. */
function webp(b: Uint8Array, fileSize: number): HeaderVerdict {
  if (b.length < 30) return short('WebP', b.length);
  const riff = u32le(b, 4) + 8;
  if (riff > fileSize) return { ok: false, reason: `is truncated: its RIFF header declares ${riff} bytes but the file has ${fileSize}` };
  const chunk = tag(b, 12);
  if (chunk === 'VP8 ') {
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a)
      return { ok: false, reason: 'is not a valid WebP: its VP8 frame has no start code' };
    return { ok: true, size: { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff } };
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return { ok: false, reason: 'is not a valid WebP: its VP8L stream has no signature' };
    const bits = u32le(b, 21);
    return { ok: true, size: { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 } };
  }
  if (chunk === 'VP8X') return { ok: true, size: { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 } };
  return { ok: false, reason: `is not a valid WebP: unknown chunk "${chunk}"` };
}

/** BMP: the declared file size must fit the file; the DIB header holds the size (height < 0: top-down). */
function bmp(b: Uint8Array, fileSize: number): HeaderVerdict {
  if (b.length < 26) return short('BMP', b.length);
  const declared = u32le(b, 2);
  if (declared > fileSize) return { ok: false, reason: `is truncated: its header declares ${declared} bytes but the file has ${fileSize}` };
  const dib = u32le(b, 14);
  if (dib === 12) return { ok: true, size: { width: u16le(b, 18), height: u16le(b, 20) } };
  return { ok: true, size: { width: Math.abs(i32le(b, 18)), height: Math.abs(i32le(b, 22)) } };
}

/** Why a declared size is refused (zero, a side over MAX_IMAGE_SIDE, over MAX_IMAGE_PIXELS), or null. */
export function sizeProblem(s: ImageSize): string | null {
  if (s.width === 0 || s.height === 0) return `declares ${s.width} x ${s.height} pixels: an image needs a width and a height`;
  const pixels = s.width * s.height;
  if (s.width > MAX_IMAGE_SIDE || s.height > MAX_IMAGE_SIDE || pixels > MAX_IMAGE_PIXELS)
    return (
      `declares ${s.width} x ${s.height} pixels (${(pixels / 1e6).toFixed(1)} megapixels), over the limit of ` +
      `${(MAX_IMAGE_PIXELS / 1e6).toFixed(1)} megapixels and ${MAX_IMAGE_SIDE} pixels a side; ` +
      'scale it down (the model sees far fewer pixels) and add it again'
    );
  return null;
}
