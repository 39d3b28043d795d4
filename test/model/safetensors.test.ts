import { describe, expect, it } from 'vitest';
import {
  MAX_HEADER_LENGTH,
  SafetensorsError,
  parseSafetensorsHeader,
  readHeaderLength,
  readSafetensors,
  writeSafetensors,
} from '../../src/model/safetensors';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, tensorToF32, type RawTensor } from '../../src/util/dtype';
import { buildFromHeader, buildSafetensorsFile, randomBytes } from './fixtures';

const FILE = 'model.safetensors';

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Runs fn, expects a SafetensorsError naming the file, and returns its message. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    const message = (e as Error).message;
    expect(message).toContain(FILE);
    return message;
  }
  throw new Error('expected a SafetensorsError');
}

describe('writeSafetensors / readSafetensors', () => {
  const f32 = new Float32Array([1.5, -2.25, 3e-3, 0, -0, 1e30]);
  const tensors: RawTensor[] = [
    { name: 'a.f32', dtype: 'F32', shape: [2, 3], data: bytesOf(f32) },
    { name: 'b.bf16', dtype: 'BF16', shape: [3], data: bytesOf(f32ToBf16(new Float32Array([1, -2, 0.5]))) },
    { name: 'c.f16', dtype: 'F16', shape: [1, 1, 3], data: bytesOf(f32ToF16(new Float32Array([65504, -0.25, 2 ** -24]))) },
    { name: 'd.empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
  ];

  it('round-trips all three dtypes and the metadata', () => {
    const file = writeSafetensors(tensors, { format: 'pt', note: 'tiny' });
    const { header, tensor } = readSafetensors(file, FILE);
    expect(header.headerLength % 8).toBe(0);
    expect(header.dataOffset).toBe(8 + header.headerLength);
    expect(file.length).toBe(header.dataOffset + 24 + 6 + 6);
    expect(header.metadata).toEqual({ format: 'pt', note: 'tiny' });
    // padding is spaces, and the data section is contiguous in the given order
    expect(file[header.dataOffset - 1]).toBe(0x20);
    expect([...header.tensors.values()].map((t) => [t.name, t.begin, t.end])).toEqual([
      ['a.f32', 0, 24],
      ['b.bf16', 24, 30],
      ['c.f16', 30, 36],
      ['d.empty', 36, 36],
    ]);
    for (const t of tensors) {
      const back = tensor(t.name);
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect([...back.data]).toEqual([...t.data]);
    }
    expect([...tensorToF32(tensor('a.f32'))]).toEqual([...f32]);
    expect([...tensorToF32(tensor('b.bf16'))]).toEqual([1, -2, 0.5]);
    expect([...tensorToF32(tensor('c.f16'))]).toEqual([65504, -0.25, 2 ** -24]);
  });

  it('reads a file written by hand, with tensors at odd (unaligned) offsets', () => {
    const bf = bytesOf(f32ToBf16(new Float32Array([3.140625])));
    const f = bytesOf(new Float32Array([7.5, -1]));
    const file = buildSafetensorsFile([
      { name: 'x', dtype: 'BF16', shape: [1], data: bf },
      { name: 'y', dtype: 'F32', shape: [2], data: f },
    ]);
    const st = readSafetensors(file, FILE);
    const y = st.tensor('y');
    expect(y.data.byteOffset % 4).not.toBe(0); // the view is misaligned for a Float32Array
    expect([...tensorToF32(y)]).toEqual([7.5, -1]);
    expect([...tensorToF32(st.tensor('x'))]).toEqual([3.140625]);
    expect(st.header.metadata).toEqual({});
  });

  it('refuses to write data that does not match the shape, or a repeated name', () => {
    expect(() => writeSafetensors([{ name: 'x', dtype: 'F32', shape: [3], data: new Uint8Array(8) }])).toThrow(
      /"x".*does not match its shape/,
    );
    const t: RawTensor = { name: 'x', dtype: 'F16', shape: [1], data: new Uint8Array(2) };
    expect(() => writeSafetensors([t, t])).toThrow(/duplicate/);
  });

  it('names a missing tensor', () => {
    const { tensor } = readSafetensors(writeSafetensors(tensors), FILE);
    expect(errorOf(() => tensor('nope'))).toContain('"nope"');
  });
});

describe('malformed files', () => {
  const good = () => ({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
  const data8 = [new Uint8Array(8)];

  it('a header length that lies (longer than the file)', () => {
    const file = buildFromHeader(good(), data8);
    new DataView(file.buffer).setUint32(0, file.length, true);
    expect(errorOf(() => parseSafetensorsHeader(file, FILE, file.length))).toMatch(/runs past the end/);
  });

  it('a huge header length (2^50) fails from the first 8 bytes, before any allocation', () => {
    const first8 = new Uint8Array(8);
    new DataView(first8.buffer).setBigUint64(0, 2n ** 50n, true);
    // Only the 8 bytes exist: an implementation that allocated or read the header first would
    // fail differently (RangeError, or "needs N bytes"). The limit check must come first.
    expect(errorOf(() => readHeaderLength(first8, FILE))).toMatch(new RegExp(`${2 ** 50}.*${MAX_HEADER_LENGTH}`));
    expect(errorOf(() => parseSafetensorsHeader(first8, FILE))).toMatch(/larger than the 100000000-byte limit/);
    // Just above the limit, even in the low word only.
    new DataView(first8.buffer).setBigUint64(0, BigInt(MAX_HEADER_LENGTH + 1), true);
    expect(errorOf(() => readHeaderLength(first8, FILE))).toMatch(/limit/);
  });

  it('fewer than 8 bytes, or fewer bytes than the header needs', () => {
    expect(errorOf(() => readHeaderLength(new Uint8Array(5), FILE))).toMatch(/5 bytes/);
    const file = buildFromHeader(good(), data8);
    expect(errorOf(() => parseSafetensorsHeader(file.subarray(0, 20), FILE))).toMatch(/only 20 bytes/);
  });

  it('offsets past the end of the data', () => {
    const file = buildFromHeader({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, data8);
    expect(errorOf(() => readSafetensors(file, FILE))).toMatch(/"w" ends at data offset 16, past the end of the 8-byte data section/);
  });

  it('overlapping tensors', () => {
    const header = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F16', shape: [2], data_offsets: [6, 10] },
    };
    expect(errorOf(() => readSafetensors(buildFromHeader(header, [new Uint8Array(12)]), FILE))).toMatch(/"a".*"b".*overlap/);
  });

  it('invalid JSON, a non-object, and a header that does not start with {', () => {
    expect(errorOf(() => readSafetensors(buildFromHeader(null, data8, '{"w": {"dtype": "F32",'), FILE))).toMatch(/not valid JSON/);
    expect(errorOf(() => readSafetensors(buildFromHeader(null, data8, '[1]'), FILE))).toMatch(/does not start with "\{"/);
    expect(errorOf(() => readSafetensors(buildFromHeader(null, data8, '{"w": 3}'), FILE))).toMatch(/"w" is not a JSON object/);
  });

  it('entries of the wrong type', () => {
    const cases: [unknown, RegExp][] = [
      [{ w: { dtype: 7, shape: [2], data_offsets: [0, 8] } }, /"w" has no string "dtype"/],
      [{ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, /"w" has shape \[-2\]/],
      [{ w: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, /shape \[2.5\]/],
      [{ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, /data_offsets \[0\]/],
      [{ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, /ends \(0\) before it begins \(8\)/],
      [{ __metadata__: { a: 1 }, w: good().w }, /"__metadata__" entry "a" is not a string/],
    ];
    for (const [header, pattern] of cases) expect(errorOf(() => readSafetensors(buildFromHeader(header, data8), FILE))).toMatch(pattern);
  });

  it('a byte length that does not match shape and dtype', () => {
    const header = { w: { dtype: 'BF16', shape: [3], data_offsets: [0, 8] } };
    expect(errorOf(() => readSafetensors(buildFromHeader(header, data8), FILE))).toMatch(
      /"w" \(BF16 \[3\]\) needs 6 bytes but its data_offsets span 8/,
    );
    // a shape whose product overflows must not pass either
    const huge = { w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } };
    expect(errorOf(() => readSafetensors(buildFromHeader(huge, data8), FILE))).toMatch(/needs too many bytes/);
  });

  it('an unknown dtype only fails when that tensor is read', () => {
    // Choice: such tensors are recorded as unsupported so a checkpoint with e.g. I64 position ids
    // in the vision tower stays usable; reading one is the error.
    const file = buildSafetensorsFile([
      { name: 'ids', dtype: 'I64', shape: [2], data: randomBytes(16, 1) },
      { name: 'w', dtype: 'F32', shape: [2], data: bytesOf(new Float32Array([1, 2])) },
    ]);
    const st = readSafetensors(file, FILE);
    expect(st.header.unsupportedTensors.get('ids')).toMatchObject({ dtype: 'I64', shape: [2], begin: 0, end: 16 });
    expect(st.header.tensors.has('ids')).toBe(false);
    expect([...tensorToF32(st.tensor('w'))]).toEqual([1, 2]);
    const message = errorOf(() => st.tensor('ids'));
    expect(message).toContain('"ids"');
    expect(message).toContain('I64');
    expect(message).toContain('only BF16, F16 and F32');
    // unsupported tensors still take part in the bounds and overlap checks
    const overlapping = buildFromHeader(
      { ids: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } },
      data8,
    );
    expect(errorOf(() => readSafetensors(overlapping, FILE))).toMatch(/overlap/);
  });
});

describe('bf16 and f16 conversions', () => {
  it('bf16 -> f32 for known bit patterns', () => {
    const bits = new Uint16Array([0x3f80, 0xc000, 0x4049, 0x0000, 0x8000, 0x7f80, 0xff80, 0x0001, 0x7f7f]);
    const f = bf16ToF32(bits);
    expect([...f.slice(0, 7)]).toEqual([1, -2, 3.140625, 0, -0, Infinity, -Infinity]);
    expect(Object.is(f[4], -0)).toBe(true);
    expect(f[7]).toBe(2 ** -133); // smallest bf16 subnormal
    expect(f[8]).toBe(3.3895313892515355e38); // largest finite bf16
    expect(Number.isNaN(bf16ToF32(new Uint16Array([0x7fc0]))[0])).toBe(true);
  });

  it('f32 -> bf16 rounds to nearest, ties to even', () => {
    const input = new Float32Array([
      1,
      1 + 2 ** -8, // halfway between 0x3f80 and 0x3f81 -> even 0x3f80
      1 + 3 * 2 ** -8, // halfway between 0x3f81 and 0x3f82 -> even 0x3f82
      1 + 2 ** -8 + 2 ** -20, // just above halfway -> 0x3f81
      -2,
      3.4e38, // rounds up past the largest finite bf16 -> infinity
      NaN,
    ]);
    expect([...f32ToBf16(input)].map((b) => b.toString(16))).toEqual(['3f80', '3f80', '3f82', '3f81', 'c000', '7f80', '7fc0']);
  });

  it('every non-NaN bf16 survives bf16 -> f32 -> bf16', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToBf16(bf16ToF32(all));
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7f80) === 0x7f80 && (i & 0x7f) !== 0;
      if (!isNaN && back[i] !== i) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('f16 -> f32 for known bit patterns', () => {
    const f = f16ToF32(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x3555, 0x7c00, 0xfc00, 0x8000, 0x83ff]));
    expect([...f]).toEqual([1, -2, 65504, 2 ** -14, 2 ** -24, 0.333251953125, Infinity, -Infinity, -0, -(1023 * 2 ** -24)]);
    expect(Number.isNaN(f16ToF32(new Uint16Array([0x7e00]))[0])).toBe(true);
  });

  it('f32 -> f16 rounds to nearest even, overflows to infinity, underflows gradually', () => {
    const input = new Float32Array([
      1,
      1 / 3,
      65504,
      65519,
      65520,
      1e6,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -26,
      2 ** -14,
      -1e-10,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      NaN,
    ]);
    expect([...f32ToF16(input)].map((b) => b.toString(16))).toEqual([
      '3c00',
      '3555',
      '7bff',
      '7bff', // below the halfway point to 65536
      '7c00', // halfway, ties to even -> infinity
      '7c00',
      '1',
      '0', // exactly half the smallest subnormal: ties to even zero
      '1', // 0.75 of the smallest subnormal rounds up
      '400',
      '8000',
      '3c00', // tie -> even
      '3c02', // tie -> even
      '7e00',
    ]);
  });

  it('every non-NaN f16 survives f16 -> f32 -> f16', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    let mismatches = 0;
    for (let i = 0; i < 65536; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!isNaN && back[i] !== i) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});
