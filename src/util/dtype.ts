// The storage dtypes of checkpoint tensors (bf16, f16, f32) and the conversions between them,
// in one place for the loaders, the engine's upload, the exporters, the scripts and the tests.
// Host byte order is assumed little-endian, as on every browser platform.

export type TensorDtype = 'BF16' | 'F16' | 'F32';

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<TensorDtype, number>> = { BF16: 2, F16: 2, F32: 4 };

/** A tensor as its raw bytes (a safetensors entry, or one about to be written). */
export interface RawTensor {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  data: Uint8Array; // raw little-endian bytes, product(shape) * itemsize long
}

/** Tensor bytes that are not a whole number of elements of their dtype. */
export class TensorDataError extends Error {
  override name = 'TensorDataError';
}

// ---- element conversions ----------------------------------------------------------------------

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
      if (rem > halfway || (rem === halfway && h & 1)) h++;
      out[i] = sign | h;
    } else {
      let h = (e << 10) | (mant >>> 13);
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is correct
      out[i] = sign | h;
    }
  }
  return out;
}

/** The f32 values a bf16 copy of `x` holds (round to nearest even), for references in tests. */
export function roundToBf16(x: Float32Array): Float32Array {
  return bf16ToF32(f32ToBf16(x));
}

// ---- whole tensors --------------------------------------------------------------------------

/** A typed-array view when the bytes are aligned, otherwise an aligned copy. */
function alignedBytes(data: Uint8Array, itemSize: number): Uint8Array {
  return data.byteOffset % itemSize === 0 ? data : data.slice();
}

function elements(t: RawTensor): { data: Uint8Array; n: number } {
  const itemSize = DTYPE_SIZE[t.dtype];
  if (t.data.length % itemSize !== 0)
    throw new TensorDataError(`tensor "${t.name}": ${t.data.length} bytes is not a whole number of ${t.dtype} elements`);
  return { data: alignedBytes(t.data, itemSize), n: t.data.length / itemSize };
}

/** Decodes any dtype to f32 (always a fresh array). */
export function tensorToF32(t: RawTensor): Float32Array {
  const { data, n } = elements(t);
  switch (t.dtype) {
    case 'F32':
      return new Float32Array(data.buffer, data.byteOffset, n).slice();
    case 'BF16':
      return bf16ToF32(new Uint16Array(data.buffer, data.byteOffset, n));
    case 'F16':
      return f16ToF32(new Uint16Array(data.buffer, data.byteOffset, n));
  }
}

/** bf16 halves of any dtype: a view of bf16 data as stored (aligned), others rounded to nearest even. */
export function tensorToBf16(t: RawTensor): Uint16Array {
  if (t.dtype !== 'BF16') return f32ToBf16(tensorToF32(t));
  const { data, n } = elements(t);
  return new Uint16Array(data.buffer, data.byteOffset, n);
}
