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
import { DTYPE_SIZE, type RawTensor, type TensorDtype } from '../util/dtype';

export interface TensorInfo {
  name: string;
  dtype: TensorDtype;
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

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** The safetensors reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_LENGTH = 100_000_000;

const SUPPORTED = 'only BF16, F16 and F32 tensors are supported';

function isTensorDtype(d: string): d is TensorDtype {
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
    fail(
      fileName,
      `header length ${headerLength} runs past the end of the ${fileSize}-byte file`,
      'The file is truncated or damaged: download it again',
    );
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
      fail(
        fileName,
        `${where} ends at data offset ${end}, past the end of the ${dataSize}-byte data section`,
        'The file is truncated or damaged: download it again',
      );
    }
    const dims = shape as number[];
    if (isTensorDtype(dtype)) {
      const count = elementCount(dims);
      const expected = count === undefined ? undefined : count * DTYPE_SIZE[dtype];
      if (expected === undefined || !Number.isSafeInteger(expected) || end - begin !== expected) {
        fail(
          fileName,
          `${where} (${dtype} ${JSON.stringify(dims)}) needs ${expected ?? 'too many'} bytes but its data_offsets span ${end - begin}`,
          NOT_SAFETENSORS,
        );
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
      fail(
        fileName,
        `tensors "${prev.name}" [${prev.begin}, ${prev.end}) and "${cur.name}" [${cur.begin}, ${cur.end}) overlap`,
        NOT_SAFETENSORS,
      );
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
    fail(
      fileName,
      `tensor "${name}" has dtype ${other.dtype}; ${SUPPORTED}`,
      'Convert the checkpoint to bf16, f16 or f32 (e.g. save it again with torch_dtype=bfloat16)',
    );
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
    if (t.name === '__metadata__' || t.name in header)
      throw new SafetensorsError(`writeSafetensors: duplicate or reserved tensor name "${t.name}"`);
    if (!isTensorDtype(t.dtype))
      throw new SafetensorsError(`writeSafetensors: tensor "${t.name}" has dtype ${String(t.dtype)}; ${SUPPORTED}`);
    const count = elementCount(t.shape);
    if (!t.shape.every(isNonNegativeInteger) || count === undefined || count * DTYPE_SIZE[t.dtype] !== t.data.length) {
      throw new SafetensorsError(
        `writeSafetensors: tensor "${t.name}" (${t.dtype} ${JSON.stringify(t.shape)}) has ${t.data.length} bytes of data, which does not match its shape`,
      );
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

// The dtype conversions live in src/util/dtype.ts; these two are re-exported for the benchmark.
export { bf16ToF32, f32ToBf16 } from '../util/dtype';
