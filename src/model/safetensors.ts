// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
//   [u64 little-endian header length N][N bytes of JSON header][data section]
// The header maps tensor names to { dtype, shape, data_offsets: [begin, end] } (offsets relative to
// the data section) plus an optional "__metadata__" string map.
//
// The file is untrusted: every length and offset is checked before it is used, and the header length
// is checked before any buffer is sized from it.
//
// Tensors of a dtype we do not compute in (I64, F64, ...) do not make the file unreadable: a
// checkpoint may carry such tensors next to the ones we need (e.g. position ids of the vision
// tower). They are recorded in `unsupportedTensors` and only asking for one of them is an error.

export type SafeDtype = 'BF16' | 'F16' | 'F32';

export interface TensorInfo {
  name: string;
  dtype: SafeDtype;
  shape: number[];
  begin: number; // relative to the data section, as in data_offsets
  end: number; // exclusive
}

/** A tensor whose dtype this project does not read; its offsets were still validated. */
export interface UnsupportedTensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  headerLength: number;
  dataOffset: number; // 8 + headerLength: where the data section starts in the file
  tensors: Map<string, TensorInfo>;
  /** Tensors with a dtype other than BF16/F16/F32: listed so that asking for one gives a clear error. */
  unsupportedTensors: Map<string, UnsupportedTensorInfo>;
  metadata: Record<string, string>;
}

export interface RawTensor {
  name: string;
  dtype: SafeDtype;
  shape: number[];
  data: Uint8Array; // raw little-endian bytes, product(shape) * itemsize long
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Bytes per element of each supported dtype. */
export const DTYPE_SIZE: Readonly<Record<SafeDtype, number>> = { BF16: 2, F16: 2, F32: 4 };

/** The safetensors reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_LENGTH = 100_000_000;

const SUPPORTED = 'only BF16, F16 and F32 tensors are supported';

function isSafeDtype(d: string): d is SafeDtype {
  return d === 'BF16' || d === 'F16' || d === 'F32';
}

function fail(fileName: string, what: string, fix: string): never {
  throw new SafetensorsError(`${fileName}: ${what}. ${fix}`);
}

const NOT_SAFETENSORS = 'The file is damaged or not a safetensors file: download it again or export the model with safetensors';

/**
 * Reads the u64 header length from the first 8 bytes and checks that it is sane
 * (at most 100 MB and not past the end of the file) before anyone allocates for it.
 */
export function readHeaderLength(first8: Uint8Array, fileName: string, fileSize?: number): number {
  if (first8.length < 8) fail(fileName, `file is ${first8.length} bytes long, shorter than the 8-byte header length`, NOT_SAFETENSORS);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  // Compare in two halves: a high word above zero already means > 4 GiB, far beyond the limit.
  if (high !== 0 || low > MAX_HEADER_LENGTH) {
    const declared = high * 2 ** 32 + low;
    fail(fileName, `header length ${declared} is larger than the ${MAX_HEADER_LENGTH}-byte limit`, NOT_SAFETENSORS);
  }
  const headerLength = low;
  if (headerLength < 2) fail(fileName, `header length ${headerLength} is too small to hold a JSON object`, NOT_SAFETENSORS);
  if (fileSize !== undefined && headerLength > fileSize - 8) {
    fail(fileName, `header length ${headerLength} runs past the end of the ${fileSize}-byte file`, 'The file is truncated or damaged: download it again');
  }
  return headerLength;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Product of the shape, or undefined when it does not fit a safe integer. */
function elementCount(shape: readonly number[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
}

/**
 * Parses and validates the header. `bytes` starts at the beginning of the file and holds at least
 * 8 + headerLength bytes. `fileSize`, when known, bounds every tensor's offsets.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, fileName: string, fileSize?: number): SafetensorsHeader {
  const headerLength = readHeaderLength(bytes, fileName, fileSize);
  const dataOffset = 8 + headerLength;
  if (bytes.length < dataOffset) {
    fail(fileName, `only ${bytes.length} bytes available but the header needs ${dataOffset}`, 'The file is truncated: download it again');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataOffset));
  } catch {
    fail(fileName, 'the header is not valid UTF-8', NOT_SAFETENSORS);
  }
  if (!text.startsWith('{')) fail(fileName, 'the header does not start with "{"', NOT_SAFETENSORS);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(fileName, `the header is not valid JSON (${(e as Error).message})`, NOT_SAFETENSORS);
  }
  if (!isPlainObject(json)) fail(fileName, 'the header is not a JSON object', NOT_SAFETENSORS);

  const tensors = new Map<string, TensorInfo>();
  const unsupportedTensors = new Map<string, UnsupportedTensorInfo>();
  let metadata: Record<string, string> = {};
  const dataSize = fileSize === undefined ? undefined : fileSize - dataOffset;

  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(entry, fileName);
      continue;
    }
    const where = `tensor "${name}"`;
    if (!isPlainObject(entry)) fail(fileName, `${where} is not a JSON object`, NOT_SAFETENSORS);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') fail(fileName, `${where} has no string "dtype"`, NOT_SAFETENSORS);
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      fail(fileName, `${where} has shape ${JSON.stringify(shape)}; it must be a list of non-negative integers`, NOT_SAFETENSORS);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
      fail(fileName, `${where} has data_offsets ${JSON.stringify(offsets)}; they must be two non-negative integers`, NOT_SAFETENSORS);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(fileName, `${where} ends (${end}) before it begins (${begin})`, NOT_SAFETENSORS);
    if (dataSize !== undefined && end > dataSize) {
      fail(fileName, `${where} ends at data offset ${end}, past the end of the ${dataSize}-byte data section`, 'The file is truncated or damaged: download it again');
    }
    const dims = shape as number[];
    if (isSafeDtype(dtype)) {
      const count = elementCount(dims);
      const expected = count === undefined ? undefined : count * DTYPE_SIZE[dtype];
      if (expected === undefined || !Number.isSafeInteger(expected) || end - begin !== expected) {
        fail(fileName, `${where} (${dtype} ${JSON.stringify(dims)}) needs ${expected ?? 'too many'} bytes but its data_offsets span ${end - begin}`, NOT_SAFETENSORS);
      }
      tensors.set(name, { name, dtype, shape: dims, begin, end });
    } else {
      unsupportedTensors.set(name, { name, dtype, shape: dims, begin, end });
    }
  }
  checkNoOverlap([...tensors.values(), ...unsupportedTensors.values()], fileName);
  return { headerLength, dataOffset, tensors, unsupportedTensors, metadata };
}

function parseMetadata(entry: unknown, fileName: string): Record<string, string> {
  if (!isPlainObject(entry)) fail(fileName, '"__metadata__" is not a JSON object', NOT_SAFETENSORS);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== 'string') fail(fileName, `"__metadata__" entry "${k}" is not a string`, NOT_SAFETENSORS);
    out[k] = v;
  }
  return out;
}

/** Gaps between tensors are allowed (other writers pad); shared bytes are not. */
function checkNoOverlap(list: { name: string; begin: number; end: number }[], fileName: string): void {
  const filled = list.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < filled.length; i++) {
    const prev = filled[i - 1]!;
    const cur = filled[i]!;
    if (cur.begin < prev.end) {
      fail(fileName, `tensors "${prev.name}" [${prev.begin}, ${prev.end}) and "${cur.name}" [${cur.begin}, ${cur.end}) overlap`, NOT_SAFETENSORS);
    }
  }
}

/**
 * The tensor's validated record, or a SafetensorsError naming the tensor when it is missing or
 * has a dtype we do not read.
 */
export function requireTensorInfo(header: SafetensorsHeader, name: string, fileName: string): TensorInfo {
  const info = header.tensors.get(name);
  if (info) return info;
  const other = header.unsupportedTensors.get(name);
  if (other) {
    fail(fileName, `tensor "${name}" has dtype ${other.dtype}; ${SUPPORTED}`, 'Convert the checkpoint to bf16, f16 or f32 (e.g. save it again with torch_dtype=bfloat16)');
  }
  fail(fileName, `has no tensor "${name}"`, 'Check that the file belongs to this model');
}

/** A whole safetensors file in memory. Tensor data are views into `bytes`, not copies. */
export function readSafetensors(bytes: Uint8Array, fileName: string): { header: SafetensorsHeader; tensor(name: string): RawTensor } {
  const header = parseSafetensorsHeader(bytes, fileName, bytes.length);
  return {
    header,
    tensor(name: string): RawTensor {
      const info = requireTensorInfo(header, name, fileName);
      const data = bytes.subarray(header.dataOffset + info.begin, header.dataOffset + info.end);
      return { name, dtype: info.dtype, shape: [...info.shape], data };
    },
  };
}

/**
 * Serialises tensors in the given order, contiguously, with the header padded by spaces to a
 * multiple of 8 so the data section starts 8-byte aligned.
 */
export function writeSafetensors(tensors: RawTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name in header) throw new SafetensorsError(`writeSafetensors: duplicate or reserved tensor name "${t.name}"`);
    if (!isSafeDtype(t.dtype)) throw new SafetensorsError(`writeSafetensors: tensor "${t.name}" has dtype ${String(t.dtype)}; ${SUPPORTED}`);
    const count = elementCount(t.shape);
    if (!t.shape.every(isNonNegativeInteger) || count === undefined || count * DTYPE_SIZE[t.dtype] !== t.data.length) {
      throw new SafetensorsError(`writeSafetensors: tensor "${t.name}" (${t.dtype} ${JSON.stringify(t.shape)}) has ${t.data.length} bytes of data, which does not match its shape`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let pos = 8 + headerLength;
  for (const t of tensors) {
    out.set(t.data, pos);
    pos += t.data.length;
  }
  return out;
}

// ---- element conversions (host assumed little-endian, as every browser platform is) ----

/** bf16 is the top half of an f32: shift the bits back up. */
export function bf16ToF32(u16: Uint16Array): Float32Array {
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) bits[i] = u16[i]! << 16;
  return out;
}

/** Round-to-nearest-even; NaN stays a (quiet) NaN instead of rounding into infinity. */
export function f32ToBf16(f: Float32Array): Uint16Array {
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x0040;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

export function f16ToF32(u16: Uint16Array): Float32Array {
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) {
    const h = u16[i]!;
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // zero or subnormal: mant * 2^-24, exact in f32
      out[i] = (sign ? -1 : 1) * mant * 2 ** -24;
    } else if (exp === 0x1f) {
      bits[i] = sign | 0x7f800000 | (mant << 13);
    } else {
      bits[i] = sign | ((exp + 112) << 23) | (mant << 13);
    }
  }
  return out;
}

/** Round-to-nearest-even, overflow to infinity, gradual underflow to f16 subnormals. */
export function f32ToF16(f: Float32Array): Uint16Array {
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) {
    const x = bits[i]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      if (e < -10) {
        out[i] = sign; // below half the smallest subnormal
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && (h & 1))) h++;
      out[i] = sign | h;
    } else {
      let h = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is correct
      out[i] = sign | h;
    }
  }
  return out;
}

/** A typed-array view when the bytes are aligned, otherwise an aligned copy. */
function alignedBytes(data: Uint8Array, itemSize: number): Uint8Array {
  return data.byteOffset % itemSize === 0 ? data : data.slice();
}

/** Decodes any supported dtype to f32 (always a fresh array). */
export function tensorToF32(t: RawTensor): Float32Array {
  const itemSize = DTYPE_SIZE[t.dtype];
  if (t.data.length % itemSize !== 0) throw new SafetensorsError(`tensor "${t.name}": ${t.data.length} bytes is not a whole number of ${t.dtype} elements`);
  const data = alignedBytes(t.data, itemSize);
  const n = data.length / itemSize;
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(data.buffer, data.byteOffset, n).slice();
    case 'BF16':
      return bf16ToF32(new Uint16Array(data.buffer, data.byteOffset, n));
    case 'F16':
      return f16ToF32(new Uint16Array(data.buffer, data.byteOffset, n));
  }
}
