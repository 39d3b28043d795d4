import { describe, expect, it } from 'vitest';
import { importDataset } from '../../src/povid/dataset';
import { checkImage, sniffImageType } from '../../src/povid/validate';
import { bmpHead, file, GIF_HEAD, JPEG_HEAD, png, PNG_1X1, WEBP_HEAD } from './helpers';

describe('image checks', () => {
  it('recognises PNG, JPEG, GIF, WebP and BMP by their first bytes', () => {
    expect(sniffImageType(PNG_1X1)).toBe('png');
    expect(sniffImageType(JPEG_HEAD)).toBe('jpeg');
    expect(sniffImageType(GIF_HEAD)).toBe('gif');
    expect(sniffImageType(WEBP_HEAD)).toBe('webp');
    expect(sniffImageType(bmpHead())).toBe('bmp');
    expect(sniffImageType(new TextEncoder().encode('BM but text, not a bitmap header'))).toBeNull();
    expect(sniffImageType(new TextEncoder().encode('RIFF\0\0\0\0WAVEfmt '))).toBeNull();
    expect(sniffImageType(new Uint8Array(0))).toBeNull();
  });

  it('explains empty, truncated and non-image files', async () => {
    expect(await checkImage(new Blob([PNG_1X1]), 'a.png')).toBeNull();
    expect(await checkImage(new Blob([]), 'z.jpg')).toBe('image "z.jpg" is an empty file (0 bytes)');
    expect(await checkImage(new Blob([PNG_1X1.subarray(0, 12)]), 't.png')).toMatch(/truncated: 12 bytes is too short for a PNG file/);
    expect(await checkImage(new Blob(['%PDF-1.7 ...']), 'doc.jpg')).toMatch(/^"doc.jpg" is not an image: its first bytes \(25 50 44 46/);
  });
});

describe('record validation', () => {
  const rec = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    image: 'a.png',
    question: 'What is it?',
    answer: 'A dog.',
    ...extra,
  });

  it('skips empty questions and answers (after <image> is removed) with a reason', async () => {
    const r = await importDataset([
      file(
        'r.jsonl',
        [rec('1', { question: '<image>\n' }), rec('2', { answer: '   ' }), rec('3')].map((x) => JSON.stringify(x)).join('\n'),
      ),
      png('a.png'),
    ]);
    expect(r.records.map((x) => x.id)).toEqual(['3']);
    expect(r.problems.map((p) => [p.record, p.reason])).toEqual([
      ['1', 'line 1: the question is empty'],
      ['2', 'line 2: the answer is empty'],
    ]);
  });

  it('reports duplicate ids across files and keeps the first', async () => {
    const r = await importDataset([
      file('a.jsonl', JSON.stringify(rec('dup')) + '\n'),
      file('b.json', JSON.stringify([rec('dup', { answer: 'Other.' }), rec('fine')])),
      png('a.png'),
    ]);
    expect(r.records.map((x) => [x.id, x.chosen, x.source.file])).toEqual([
      ['dup', 'A dog.', 'a.jsonl'],
      ['fine', 'A dog.', 'b.json'],
    ]);
    expect(r.problems).toEqual([
      { file: 'b.json', record: 'dup', line: 1, reason: 'line 1: duplicate id "dup" (first used in a.jsonl line 1); ids must be unique' },
    ]);
  });

  it('checks answer length with the model tokenizer only when one is given', async () => {
    const long = 'word '.repeat(50).trim();
    const files = [
      file(
        'r.jsonl',
        [rec('short'), rec('long', { answer: long }), rec('longRejected', { rejected: long })].map((x) => JSON.stringify(x)).join('\n'),
      ),
      png('a.png'),
    ];
    const countTokens = (t: string) => t.split(/\s+/).length;
    const checked = await importDataset(files, { countTokens, maxTokens: 20 });
    expect(checked.records.map((x) => x.id)).toEqual(['short']);
    expect(checked.problems.map((p) => p.reason)).toEqual([
      "line 2: the answer is 50 tokens, over the limit of 20 for the model's context; shorten it",
      "line 3: the rejected answer is 50 tokens, over the limit of 20 for the model's context; shorten it",
    ]);
    const unchecked = await importDataset(files);
    expect(unchecked.records).toHaveLength(3);
  });

  it('accepts every supported image type and shares one image between records', async () => {
    const names = ['a.png', 'b.jpg', 'c.gif', 'd.webp', 'e.bmp'];
    const blobs = [PNG_1X1, JPEG_HEAD, GIF_HEAD, WEBP_HEAD, bmpHead()];
    const recs = names.map((n, i) => ({ id: `r${i}`, image: n, question: 'q', answer: 'a' }));
    recs.push({ id: 'again', image: 'a.png', question: 'q', answer: 'a' });
    const r = await importDataset([file('r.json', JSON.stringify(recs)), ...names.map((n, i) => file(`imgs/${n}`, blobs[i]))]);
    expect(r.problems).toEqual([]);
    expect(r.records).toHaveLength(6);
    expect([...r.images.keys()].sort()).toEqual(names);
  });
});
