import { describe, expect, it } from 'vitest';
import { csvRows, sniffDelimiter } from '../../src/povid/formats/csv';
import { DatasetParseError } from '../../src/povid/types';

const rows = (text: string, d = ',') => [...csvRows(text, 't.csv', d)].map((r) => [r.line, ...r.fields]);

describe('csvRows (RFC 4180)', () => {
  it('splits fields and rows with LF, CRLF and CR endings, skipping blank lines', () => {
    expect(rows('a,b\nc,d')).toEqual([
      [1, 'a', 'b'],
      [2, 'c', 'd'],
    ]);
    expect(rows('a,b\r\nc,d\r\n')).toEqual([
      [1, 'a', 'b'],
      [2, 'c', 'd'],
    ]);
    expect(rows('a,b\rc,d\r')).toEqual([
      [1, 'a', 'b'],
      [2, 'c', 'd'],
    ]);
    expect(rows('a,b\n\n\r\nc,d\n')).toEqual([
      [1, 'a', 'b'],
      [4, 'c', 'd'],
    ]);
  });

  it('keeps empty fields, including a trailing one', () => {
    expect(rows('a,,c,\n,b,,')).toEqual([
      [1, 'a', '', 'c', ''],
      [2, '', 'b', '', ''],
    ]);
  });

  it('reads quoted fields with delimiters, line breaks and doubled quotes, counting lines', () => {
    expect(rows('"a, b","line1\r\nline2","say ""hi"""\nnext,"",x')).toEqual([
      [1, 'a, b', 'line1\r\nline2', 'say "hi"'],
      [3, 'next', '', 'x'],
    ]);
  });

  it('is lenient with stray quotes inside unquoted fields and text after a closing quote', () => {
    expect(rows('5" screen,"quoted"tail')).toEqual([[1, '5" screen', 'quotedtail']]);
  });

  it('names the line of a quote that is never closed', () => {
    expect(() => rows('a,b\nc,"open\nmore\n')).toThrow(DatasetParseError);
    expect(() => rows('a,b\nc,"open\nmore\n')).toThrow(/t\.csv: line 2: quoted field is never closed/);
  });

  it('sniffs the header delimiter outside quotes', () => {
    expect(sniffDelimiter('image;question;answer\n')).toBe(';');
    expect(sniffDelimiter('"a;b",c\n')).toBe(',');
    expect(sniffDelimiter('image\tquestion\n')).toBe('\t');
    expect(rows('a;b;"c;d"', ';')).toEqual([[1, 'a', 'b', 'c;d']]);
  });
});
