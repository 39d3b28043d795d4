// Hostile input at import: images that do not decode or declare absurd sizes, zip entries that
// climb out of the archive, a CSV with a header and no rows, and problems listed in line order.
import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { importDataset, parseDatasetFile, sortProblems } from '../../src/povid/dataset';
import { MAX_IMAGE_PIXELS, readImageHeader, sizeProblem } from '../../src/povid/formats/image';
import { checkImage } from '../../src/povid/validate';
import { bmpHead, file, GIF_HEAD, JPEG_HEAD, png, PNG_1X1, WEBP_HEAD } from './helpers';

const u32be = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u16be = (n: number) => [(n >>> 8) & 255, n & 255];
const u16le = (n: number) => [n & 255, (n >>> 8) & 255];
const u24le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255];
const u32le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];

/** The 1x1 PNG with its IHDR rewritten to claim w x h (the CRC is not checked by the header reader). */
function pngClaiming(w: number, h: number): Uint8Array {
  const b = PNG_1X1.slice();
  b.set(u32be(w), 16);
  b.set(u32be(h), 20);
  return b;
}

/** SOI, a JFIF APP0 segment, a baseline SOF0 for h x w, EOI. */
function jpegClaiming(w: number, h: number): Uint8Array {
  return Uint8Array.from([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0x00,
    0x10,
    0x4a,
    0x46,
    0x49,
    0x46,
    0x00,
    0x01,
    0x01,
    0x00,
    0x00,
    0x01,
    0x00,
    0x01,
    0x00,
    0x00,
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    ...u16be(h),
    ...u16be(w),
    0x03,
    1,
    0x22,
    0,
    2,
    0x11,
    1,
    3,
    0x11,
    1,
    0xff,
    0xd9,
  ]);
}

function gifClaiming(w: number, h: number): Uint8Array {
  const b = GIF_HEAD.slice();
  b.set(u16le(w), 6);
  b.set(u16le(h), 8);
  return b;
}

function webpVp8xClaiming(w: number, h: number): Uint8Array {
  const body = [...strToU8('WEBP'), ...strToU8('VP8X'), ...u32le(10), 0, 0, 0, 0, ...u24le(w - 1), ...u24le(h - 1)];
  return Uint8Array.from([...strToU8('RIFF'), ...u32le(body.length), ...body]);
}

function bmpClaiming(w: number, h: number): Uint8Array {
  const b = bmpHead();
  b.set(u32le(w), 18);
  b.set(u32le(h), 22);
  return b;
}

describe('image headers', () => {
  it('reads the declared size of each format', () => {
    expect(readImageHeader('png', PNG_1X1, PNG_1X1.length)).toEqual({ ok: true, size: { width: 1, height: 1 } });
    expect(readImageHeader('png', pngClaiming(640, 480), PNG_1X1.length)).toEqual({ ok: true, size: { width: 640, height: 480 } });
    const j = jpegClaiming(800, 600);
    expect(readImageHeader('jpeg', j, j.length)).toEqual({ ok: true, size: { width: 800, height: 600 } });
    expect(readImageHeader('jpeg', JPEG_HEAD, JPEG_HEAD.length)).toEqual({ ok: true, size: null }); // no frame header: left to the decoder
    expect(readImageHeader('gif', gifClaiming(300, 200), GIF_HEAD.length)).toEqual({ ok: true, size: { width: 300, height: 200 } });
    expect(readImageHeader('webp', WEBP_HEAD, WEBP_HEAD.length)).toEqual({ ok: true, size: { width: 1, height: 1 } });
    const w = webpVp8xClaiming(1024, 768);
    expect(readImageHeader('webp', w, w.length)).toEqual({ ok: true, size: { width: 1024, height: 768 } });
    expect(readImageHeader('bmp', bmpClaiming(33, 17), 58)).toEqual({ ok: true, size: { width: 33, height: 17 } });
    const topDown = bmpHead();
    topDown.set(u32le(-5 >>> 0), 22);
    expect(readImageHeader('bmp', topDown, 58)).toEqual({ ok: true, size: { width: 1, height: 5 } });
  });

  it('finds truncated PNG, JPEG, WebP and BMP files', () => {
    const cut = PNG_1X1.subarray(0, PNG_1X1.length - 20);
    const v = readImageHeader('png', cut, cut.length);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.reason).toMatch(/^is truncated: the file ends after 50 bytes, inside its IDAT chunk/);
    const noEnd = PNG_1X1.subarray(0, PNG_1X1.length - 12); // whole chunks, but no IEND
    const e = readImageHeader('png', noEnd, noEnd.length);
    expect(!e.ok && e.reason).toMatch(/without the IEND chunk/);
    const j = jpegClaiming(8, 8).subarray(0, 12);
    expect(readImageHeader('jpeg', j, j.length)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/truncated: the file ends after 12 bytes, before its frame header/),
    });
    const w = webpVp8xClaiming(8, 8);
    expect(readImageHeader('webp', w, w.length - 1)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/RIFF header declares 30 bytes but the file has 29/),
    });
    expect(readImageHeader('bmp', bmpHead(), 40)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/declares 58 bytes but the file has 40/),
    });
  });

  it('refuses declared sizes over the pixel limit, a side over the limit, and zero', () => {
    expect(sizeProblem({ width: 8192, height: 8192 })).toBeNull();
    expect(8192 * 8192).toBe(MAX_IMAGE_PIXELS);
    expect(sizeProblem({ width: 8193, height: 8192 })).toMatch(
      /declares 8193 x 8192 pixels \(67\.1 megapixels\), over the limit of 67\.1 megapixels/,
    );
    expect(sizeProblem({ width: 20000, height: 10 })).toMatch(/over the limit .* 16384 pixels a side/);
    expect(sizeProblem({ width: 0, height: 10 })).toMatch(/declares 0 x 10 pixels: an image needs a width and a height/);
  });

  it('checkImage refuses a 60000 x 60000 header in every format without calling the decoder', async () => {
    let decoded = 0;
    const decode = async () => {
      decoded++;
      return { width: 1, height: 1 };
    };
    for (const [name, bytes] of [
      ['huge.png', pngClaiming(60000, 60000)],
      ['huge.jpg', jpegClaiming(60000, 60000)],
      ['huge.gif', gifClaiming(60000, 60000)],
      ['huge.webp', webpVp8xClaiming(60000, 60000)],
      ['huge.bmp', bmpClaiming(60000, 60000)],
    ] as const) {
      expect(await checkImage(new Blob([bytes as BlobPart]), name, decode), name).toMatch(
        new RegExp(`^image "${name.replace('.', '\\.')}" declares 60000 x 60000 pixels \\(3600\\.0 megapixels\\)`),
      );
    }
    expect(decoded).toBe(0);
    expect(await checkImage(new Blob([PNG_1X1]), 'ok.png', decode)).toBeNull();
    expect(decoded).toBe(1);
  });

  it('checkImage reports what the decoder says about an image it cannot decode, and sizes it finds', async () => {
    const refuse = async () => {
      throw new DOMException('The source image could not be decoded.', 'InvalidStateError');
    };
    expect(await checkImage(new Blob([PNG_1X1]), 'bad.png', refuse)).toBe(
      'image "bad.png" could not be decoded as PNG (The source image could not be decoded.); re-save it with an image editor',
    );
    // A JPEG whose frame header is past the bytes read: the decoder's size is checked too.
    expect(await checkImage(new Blob([JPEG_HEAD]), 'big.jpg', async () => ({ width: 50000, height: 50000 }))).toMatch(
      /^image "big\.jpg" declares 50000 x 50000 pixels/,
    );
  });
});

describe('import: bad input is reported with file, line and reason', () => {
  const qa = (rows: { image: string; id: string }[]) =>
    rows.map((r) => JSON.stringify({ id: r.id, image: r.image, question: 'What is it?', answer: 'A cat.' })).join('\n');

  it('rejects a truncated PNG and a 60000 x 60000 PNG at import, keeping the good record', async () => {
    const r = await importDataset([
      file(
        'qa.jsonl',
        qa([
          { id: 'a', image: 'ok.png' },
          { id: 'b', image: 'cut.png' },
          { id: 'c', image: 'huge.png' },
        ]),
      ),
      png('ok.png'),
      file('cut.png', PNG_1X1.subarray(0, 45)),
      file('huge.png', pngClaiming(60000, 60000)),
    ]);
    expect(r.records.map((x) => x.id)).toEqual(['a']);
    expect(r.problems.map((p) => [p.file, p.record, p.line])).toEqual([
      ['qa.jsonl', 'b', 2],
      ['qa.jsonl', 'c', 3],
    ]);
    expect(r.problems[0].reason).toMatch(/^line 2: image "cut\.png" is truncated: the file ends after 45 bytes, inside its IDAT chunk/);
    expect(r.problems[1].reason).toMatch(/^line 3: image "huge\.png" declares 60000 x 60000 pixels/);
  });

  it('passes the decoder through importDataset: an image it cannot decode is a problem of the record', async () => {
    const decodeImage = async (blob: Blob) => {
      if (blob.size === PNG_1X1.length) return { width: 1, height: 1 };
      throw new Error('decoding failed');
    };
    const odd = PNG_1X1.slice(0, PNG_1X1.length);
    const padded = new Uint8Array(odd.length + 1);
    padded.set(odd); // a trailing byte after IEND: the header is fine, this decoder is not
    const r = await importDataset(
      [
        file(
          'qa.jsonl',
          qa([
            { id: 'a', image: 'ok.png' },
            { id: 'b', image: 'odd.png' },
          ]),
        ),
        png('ok.png'),
        file('odd.png', padded),
      ],
      { decodeImage },
    );
    expect(r.records.map((x) => x.id)).toEqual(['a']);
    expect(r.problems).toEqual([
      {
        file: 'qa.jsonl',
        record: 'b',
        line: 2,
        reason: 'line 2: image "odd.png" could not be decoded as PNG (decoding failed); re-save it with an image editor',
      },
    ]);
  });

  it('names a zip entry whose path climbs out of the archive', async () => {
    const z = zipSync({
      '../../x.png': PNG_1X1,
      'set/../../../y.png': PNG_1X1,
      'C:/z.png': PNG_1X1,
      'set/qa.jsonl': strToU8(qa([{ id: 'a', image: 'a.png' }])),
      'set/a.png': PNG_1X1,
    });
    const r = await importDataset([file('evil.zip', z)]);
    expect(r.records.map((x) => x.id)).toEqual(['a']);
    const climbing = r.problems.filter((p) => /climbs out of the archive/.test(p.reason));
    expect(climbing.map((p) => p.file).sort()).toEqual(['evil.zip/../../x.png', 'evil.zip/C:/z.png', 'evil.zip/set/../../../y.png']);
    expect(climbing[0].reason).toMatch(
      /^skipped: the entry's path ".*" climbs out of the archive \('\.\.' or a drive letter\); such entries are never unpacked$/,
    );
  });

  it('names a CSV that has a header and no rows', async () => {
    for (const text of ['image,question,answer\n', 'image,question,answer', 'image;question;answer\r\n\r\n\r\n']) {
      const r = await parseDatasetFile(file('empty.csv', text));
      expect(r.records).toEqual([]);
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]).toMatchObject({ file: 'empty.csv', line: 1 });
      expect(r.problems[0].reason).toMatch(
        /^line 1: the file has a header \(image,question,answer\) but no rows; add one row per record below it$/,
      );
    }
    const full = await importDataset([file('empty.csv', 'image,question,answer\n'), png('a.png')]);
    expect(full.problems.map((p) => p.file)).toEqual(['empty.csv']);
  });

  it('lists problems in line order within each file, files in the order found', async () => {
    const lines = [
      JSON.stringify({ id: 'ok', image: 'a.png', question: 'q', answer: 'a' }),
      JSON.stringify({ id: 'gone', image: 'nowhere.png', question: 'q', answer: 'a' }), // line 2: found while validating
      '{"id": "broken", ', // line 3: found while parsing
      JSON.stringify({ id: 'gone2', image: 'nowhere2.png', question: 'q', answer: 'a' }), // line 4
      JSON.stringify({ foo: 1 }), // line 5: parsing
    ];
    const r = await importDataset([file('b.jsonl', lines.join('\n')), file('a.csv', 'image,question,answer\na.png,q\n'), png('a.png')]);
    expect(r.problems.map((p) => `${p.file}:${p.line}`)).toEqual(['b.jsonl:2', 'b.jsonl:3', 'b.jsonl:4', 'b.jsonl:5', 'a.csv:2']);
  });

  it('sortProblems is stable and puts problems about a whole file first', () => {
    const ps = [
      { file: 'x', line: 3, reason: '3' },
      { file: 'y', reason: 'y' },
      { file: 'x', reason: 'file' },
      { file: 'x', line: 1, reason: '1a' },
      { file: 'x', line: 1, reason: '1b' },
    ];
    expect(sortProblems(ps).map((p) => p.reason)).toEqual(['file', '1a', '1b', '3', 'y']);
  });
});
