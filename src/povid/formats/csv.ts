// RFC 4180 CSV: quoted fields may hold the delimiter, line breaks and doubled quotes;
// CRLF, LF or CR line endings; a BOM is dropped by the caller. Lenient where spreadsheets
// are (a stray quote inside an unquoted field is kept as text), strict where data would
// silently shift (an unterminated quote is an error naming the line it opened on).

import { DatasetParseError } from '../types';

export interface CsvRow {
  fields: string[];
  /** 1-based line where the row starts. */
  line: number;
}

/** Delimiter of the header line: the first of `,` `;` tab found outside quotes. */
export function sniffDelimiter(text: string): string {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted) {
      if (c === '\n' || c === '\r') break;
      if (c === ',' || c === ';' || c === '\t') return c;
    }
  }
  return ',';
}

/** Yields the rows of `text`; blank lines are skipped. */
export function* csvRows(text: string, file: string, delimiter = ','): Generator<CsvRow> {
  const n = text.length;
  const d = delimiter.charCodeAt(0);
  let i = 0;
  let line = 1;
  while (i < n) {
    const rowLine = line;
    const fields: string[] = [];
    let field = '';
    let rowDone = false;
    while (!rowDone) {
      if (i < n && text.charCodeAt(i) === 34) {
        // quoted field
        const openLine = line;
        i++;
        for (;;) {
          if (i >= n)
            throw new DatasetParseError(
              `${file}: line ${openLine}: quoted field is never closed (a '"' is missing; double any quote inside a quoted field as "")`,
              file,
              openLine,
            );
          const c = text.charCodeAt(i);
          if (c === 34) {
            if (text.charCodeAt(i + 1) === 34) {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) line++;
          field += text[i];
          i++;
        }
      }
      // unquoted part (or text after a closing quote, kept as-is)
      const start = i;
      while (i < n) {
        const c = text.charCodeAt(i);
        if (c === d || c === 10 || c === 13) break;
        i++;
      }
      field += text.slice(start, i);
      fields.push(field);
      field = '';
      if (i >= n) rowDone = true;
      else {
        const c = text.charCodeAt(i);
        if (c === d) i++;
        else {
          i += c === 13 && text.charCodeAt(i + 1) === 10 ? 2 : 1;
          line++;
          rowDone = true;
        }
      }
    }
    if (fields.length === 1 && fields[0].trim() === '') continue;
    yield { fields, line: rowLine };
  }
}
