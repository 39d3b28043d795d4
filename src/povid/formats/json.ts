// JSON and JSONL reading with errors that name the file, line and column. JSON.parse does
// the work; on failure a small validating scanner finds where the text stops being JSON,
// because engines word (and place) their own messages differently.

import { DatasetParseError } from '../types';
import { LineIndex } from './common';

const MAX_DEPTH = 1000;

/** Parses `text` or throws a DatasetParseError naming `file`, line and column. */
export function parseJson(text: string, file: string, lineOffset = 0): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const err = findJsonError(text) ?? { offset: text.length, message: 'not valid JSON' };
    const { line, column } = new LineIndex(text).locate(err.offset);
    const l = line + lineOffset;
    throw new DatasetParseError(`${file}: line ${l}, column ${column}: ${err.message}`, file, l, column);
  }
}

/** First syntax error of `s` as an offset and a message, or null when `s` is valid JSON. */
export function findJsonError(s: string): { offset: number; message: string } | null {
  let i = 0;
  const n = s.length;
  class Stop {
    constructor(
      readonly offset: number,
      readonly message: string,
    ) {}
  }
  const fail = (msg: string, at = i): never => {
    throw new Stop(at, msg);
  };
  const ws = () => {
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const describe = (at: number) => (at >= n ? 'the end of the text' : `'${s[at]}'`);
  const str = () => {
    const open = i;
    i++; // opening quote
    for (;;) {
      if (i >= n) fail('unterminated string: the " here is never closed', open);
      const c = s.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 32) fail('raw control character or line break inside a string (escape it as \\n)');
      if (c === 92) {
        const e = s[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) fail('bad \\u escape (needs 4 hex digits)');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(`bad escape \\${e ?? ''} in a string`);
      } else i++;
    }
  };
  const num = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(s.slice(i, i + 400));
    if (!m || m[0].length === 0 || m[0] === '-') fail(`unexpected ${describe(i)}`);
    i += m![0].length;
  };
  const value = (depth: number) => {
    if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH} levels`);
    ws();
    if (i >= n) fail('unexpected end of the text (truncated file?)');
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') fail(`expected a property name in double quotes, found ${describe(i)}`);
        str();
        ws();
        if (s[i] !== ':') fail(`expected ':' after the property name, found ${describe(i)}`);
        i++;
        value(depth + 1);
        ws();
        if (s[i] === ',') {
          i++;
          ws();
          if (s[i] === '}') fail("trailing comma before '}'");
          continue;
        }
        if (s[i] === '}') {
          i++;
          return;
        }
        fail(`expected ',' or '}' after a property value, found ${describe(i)}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (s[i] === ',') {
          i++;
          ws();
          if (s[i] === ']') fail("trailing comma before ']'");
          continue;
        }
        if (s[i] === ']') {
          i++;
          return;
        }
        fail(`expected ',' or ']' after an array element, found ${describe(i)}`);
      }
    }
    if (c === '"') return str();
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    for (const lit of ['true', 'false', 'null']) {
      if (s.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    if (c === "'") fail('strings must use double quotes, not single quotes');
    fail(`unexpected ${describe(i)}`);
  };
  try {
    if (s.charCodeAt(0) === 0xfeff) i = 1;
    value(0);
    ws();
    if (i < n) fail(`unexpected ${describe(i)} after the end of the JSON value`);
    return null;
  } catch (e) {
    if (e instanceof Stop) {
      if (e.offset >= n && !e.message.startsWith('unexpected end'))
        return { offset: e.offset, message: `unexpected end of the text (truncated file?): ${e.message}` };
      return { offset: e.offset, message: e.message };
    }
    throw e;
  }
}

/**
 * Offsets where each element of a top-level JSON array starts (string-aware scan), used to
 * give records of a JSON array their line numbers. Assumes `s` is valid JSON.
 */
export function topLevelElementOffsets(s: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let expectElement = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) {
      if (expectElement && depth === 1) {
        out.push(i);
        expectElement = false;
      }
      // skip the string
      for (i++; i < s.length; i++) {
        const d = s.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    if (expectElement && depth === 1 && c !== 93) {
      out.push(i);
      expectElement = false;
    }
    if (c === 91 || c === 123) {
      depth++;
      if (depth === 1 && c === 91) expectElement = true;
    } else if (c === 93 || c === 125) depth--;
    else if (c === 44 && depth === 1) expectElement = true;
  }
  return out;
}
