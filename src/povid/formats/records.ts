// Turns parsed JSON objects (or CSV rows) of each supported layout into flat records.
//   llava: {id, image, conversations: [{from: 'human'|'gpt', value}], rejected_conversations?}
//   qa:    {image, question, answer, rejected?, id?}
//   trl:   {images: [..] | image, prompt, chosen, rejected}, plain text or role/content messages
// Text is kept verbatim (HTML stays text) except: line endings become \n, outer whitespace is
// trimmed and `<image>` placeholders are removed from questions.

import type { RecordSource } from '../types';
import { normalizeNewlines } from './common';

export type RecordLayout = 'llava' | 'qa' | 'trl';

/** A record before image matching and validation: `imageRef` is the path as written. */
export interface ParsedRecord {
  id: string;
  imageRef: string;
  question: string;
  chosen: string;
  rejected?: string;
  source: RecordSource;
  turn?: { index: number; count: number };
}

/** A record that cannot be read; becomes one entry of `ImportResult.problems`. */
export class RecordProblem extends Error {
  override name = 'RecordProblem';
  constructor(
    message: string,
    readonly record?: string,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Which layout an object is in, from its keys. */
export function classifyRecord(v: unknown): RecordLayout | null {
  if (!isObject(v)) return null;
  if ('conversations' in v) return 'llava';
  if ('chosen' in v && ('rejected' in v || 'prompt' in v || 'images' in v)) return 'trl';
  if ('question' in v && 'answer' in v) return 'qa';
  return null;
}

export function cleanText(s: string): string {
  return normalizeNewlines(s).trim();
}

export function cleanQuestion(s: string): string {
  return normalizeNewlines(s)
    .replace(/\s*<image>\s*/g, ' ')
    .trim();
}

function idOf(v: Obj, fallback: string): string {
  const id = v.id;
  if (typeof id === 'string' && id.trim() !== '') return id.trim();
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  return fallback;
}

function str(v: Obj, key: string, rec: string): string {
  const x = v[key];
  if (typeof x !== 'string') throw new RecordProblem(`field "${key}" must be a string, found ${typeName(x)}`, rec);
  return x;
}

function optStr(v: Obj, key: string, rec: string): string | undefined {
  const x = v[key];
  if (x === undefined || x === null) return undefined;
  if (typeof x !== 'string') throw new RecordProblem(`field "${key}" must be a string, found ${typeName(x)}`, rec);
  const t = cleanText(x);
  return t === '' ? undefined : t;
}

function typeName(x: unknown): string {
  if (x === undefined) return 'nothing (the field is missing)';
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return `a ${typeof x}`;
}

/** One image reference from a string, `{path}` or a one-element list of those. */
function imageRefOf(x: unknown, rec: string, key: string): string {
  if (Array.isArray(x)) {
    if (x.length === 0) throw new RecordProblem(`"${key}" is an empty list: the record has no image`, rec);
    if (x.length > 1) throw new RecordProblem(`"${key}" lists ${x.length} images; one image per record is supported`, rec);
    return imageRefOf(x[0], rec, key);
  }
  if (typeof x === 'string') {
    if (x.trim() === '') throw new RecordProblem(`"${key}" is empty: the record has no image`, rec);
    return x.trim();
  }
  if (isObject(x) && typeof x.path === 'string' && x.path.trim() !== '') return x.path.trim();
  if (isObject(x) && 'bytes' in x)
    throw new RecordProblem(`"${key}" holds image bytes; export the images as files and refer to them by name`, rec);
  throw new RecordProblem(`"${key}" must name an image file, found ${typeName(x)}`, rec);
}

interface Pair {
  question: string;
  answer: string;
}

function llavaPairs(turns: unknown, rec: string, key: string): Pair[] {
  if (!Array.isArray(turns)) throw new RecordProblem(`"${key}" must be a list of {from, value} turns, found ${typeName(turns)}`, rec);
  const pairs: Pair[] = [];
  let pending: string | undefined;
  turns.forEach((t, k) => {
    if (!isObject(t)) throw new RecordProblem(`${key}[${k}] must be an object {from, value}`, rec);
    const from = typeof t.from === 'string' ? t.from.toLowerCase() : typeof t.role === 'string' ? t.role.toLowerCase() : '';
    const value = t.value ?? t.content;
    if (typeof value !== 'string') throw new RecordProblem(`${key}[${k}].value must be a string, found ${typeName(value)}`, rec);
    if (from === 'system') return;
    if (from === 'human' || from === 'user') {
      if (pending !== undefined) throw new RecordProblem(`${key}[${k}]: two human turns in a row (turn ${k - 1} has no gpt answer)`, rec);
      pending = value;
    } else if (from === 'gpt' || from === 'assistant') {
      if (pending === undefined) throw new RecordProblem(`${key}[${k}]: a gpt turn without a human question before it`, rec);
      pairs.push({ question: pending, answer: value });
      pending = undefined;
    } else throw new RecordProblem(`${key}[${k}].from must be "human" or "gpt", found ${JSON.stringify(t.from ?? null)}`, rec);
  });
  if (pending !== undefined && pairs.length === 0) throw new RecordProblem(`"${key}" has a question but no gpt answer`, rec);
  return pairs;
}

/** LLaVA/POVID record; a multi-turn conversation gives one record per human/gpt pair (see PreferenceRecord.turn). */
export function fromLlava(v: Obj, source: RecordSource, fallbackId: string): ParsedRecord[] {
  const id = idOf(v, fallbackId);
  const imageRef = imageRefOf(v.image, id, 'image');
  const pairs = llavaPairs(v.conversations, id, 'conversations');
  if (pairs.length === 0) throw new RecordProblem('"conversations" holds no human/gpt pair', id);
  const rejected = v.rejected_conversations == null ? [] : llavaPairs(v.rejected_conversations, id, 'rejected_conversations');
  return pairs.map((p, t) => {
    const r: ParsedRecord = {
      id: pairs.length > 1 ? `${id}#${t + 1}` : id,
      imageRef,
      question: cleanQuestion(p.question),
      chosen: cleanText(p.answer),
      source,
    };
    const rej = rejected[t] ? cleanText(rejected[t].answer) : '';
    if (rej !== '') r.rejected = rej;
    if (pairs.length > 1) r.turn = { index: t, count: pairs.length };
    return r;
  });
}

export function fromQa(v: Obj, source: RecordSource, fallbackId: string): ParsedRecord[] {
  const id = idOf(v, fallbackId);
  const r: ParsedRecord = {
    id,
    imageRef: imageRefOf(v.image, id, 'image'),
    question: cleanQuestion(str(v, 'question', id)),
    chosen: cleanText(str(v, 'answer', id)),
    source,
  };
  const rej = optStr(v, 'rejected', id);
  if (rej !== undefined) r.rejected = rej;
  return [r];
}

interface Message {
  role: string;
  text: string;
}

/** A message's text: content as a string or as [{type: 'text', text}, {type: 'image'}] parts. */
function messageText(content: unknown, rec: string, where: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content))
    throw new RecordProblem(`${where}.content must be a string or a list of parts, found ${typeName(content)}`, rec);
  const texts: string[] = [];
  content.forEach((part, k) => {
    if (!isObject(part)) throw new RecordProblem(`${where}.content[${k}] must be an object {type, ...}`, rec);
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw new RecordProblem(`${where}.content[${k}].text must be a string`, rec);
      texts.push(part.text);
    } else if (part.type !== 'image' && part.type !== 'image_url')
      throw new RecordProblem(`${where}.content[${k}].type must be "text" or "image", found ${JSON.stringify(part.type ?? null)}`, rec);
  });
  return texts.join('\n');
}

function messages(v: unknown, rec: string, key: string): Message[] {
  if (!Array.isArray(v)) throw new RecordProblem(`"${key}" must be a string or a list of {role, content} messages`, rec);
  return v.map((m, k) => {
    if (!isObject(m) || typeof m.role !== 'string') throw new RecordProblem(`${key}[${k}] must be a {role, content} message`, rec);
    return { role: m.role.toLowerCase(), text: messageText(m.content, rec, `${key}[${k}]`) };
  });
}

function lastOf(ms: Message[], role: string): Message | undefined {
  for (let k = ms.length - 1; k >= 0; k--) if (ms[k].role === role) return ms[k];
  return undefined;
}

/** TRL preference record; with several user turns only the last question is kept (same rule as LLaVA). */
export function fromTrl(v: Obj, source: RecordSource, fallbackId: string): ParsedRecord[] {
  const id = idOf(v, fallbackId);
  const imageRef = imageRefOf(v.images !== undefined ? v.images : v.image, id, v.images !== undefined ? 'images' : 'image');
  let question: string | undefined;
  if (typeof v.prompt === 'string') question = v.prompt;
  else if (v.prompt !== undefined && v.prompt !== null) {
    const q = lastOf(messages(v.prompt, id, 'prompt'), 'user');
    if (!q) throw new RecordProblem('"prompt" has no user message', id);
    question = q.text;
  }
  const answer = (key: 'chosen' | 'rejected'): string => {
    const x = v[key];
    if (typeof x === 'string') return x;
    const ms = messages(x, id, key);
    if (question === undefined) {
      // implicit prompt: the question is the user turn inside chosen
      const q = lastOf(ms, 'user');
      if (q) question = q.text;
    }
    const a = lastOf(ms, 'assistant');
    if (!a) throw new RecordProblem(`"${key}" has no assistant message`, id);
    return a.text;
  };
  const chosen = answer('chosen');
  const rejected = v.rejected === undefined || v.rejected === null ? undefined : answer('rejected');
  if (question === undefined) throw new RecordProblem('no question: "prompt" is missing and "chosen" holds no user message', id);
  const r: ParsedRecord = { id, imageRef, question: cleanQuestion(question), chosen: cleanText(chosen), source };
  if (rejected !== undefined && cleanText(rejected) !== '') r.rejected = cleanText(rejected);
  return [r];
}

export function convertRecord(layout: RecordLayout, v: Obj, source: RecordSource, fallbackId: string): ParsedRecord[] {
  if (layout === 'llava') return fromLlava(v, source, fallbackId);
  if (layout === 'trl') return fromTrl(v, source, fallbackId);
  return fromQa(v, source, fallbackId);
}
