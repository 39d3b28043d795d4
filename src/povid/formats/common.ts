// Helpers shared by the format parsers: cooperative yielding, text decoding, paths, lines.

import { DatasetError } from '../types';

/** Records handled between two yields to the event loop (keeps a page responsive). */
export const YIELD_EVERY = 500;

/** Hands control back to the event loop for one macrotask so input and painting can run. */
export function yieldToEventLoop(): Promise<void> {
  const sched = (globalThis as { scheduler?: { yield?: () => Promise<void> } }).scheduler;
  if (sched && typeof sched.yield === 'function') return sched.yield();
  return new Promise((resolve) => setTimeout(resolve, 0));
}

export interface Progress {
  phase: 'unzip' | 'parse' | 'validate';
  file?: string;
  /** Records (or files, for unzip) handled so far in this phase. */
  done: number;
}

/** Counts work items and yields every `YIELD_EVERY` of them. */
export class Yielder {
  private count = 0;
  constructor(
    private readonly onProgress?: (p: Progress) => void,
    private readonly every = YIELD_EVERY,
  ) {}

  async tick(phase: Progress['phase'], file?: string): Promise<void> {
    this.count++;
    if (this.count % this.every === 0) {
      this.onProgress?.({ phase, file, done: this.count });
      await yieldToEventLoop();
    }
  }

  get done(): number {
    return this.count;
  }
}

/** Largest text file the importer reads (V8 strings stop near 512 MiB). */
export const MAX_TEXT_BYTES = 256 * 1024 * 1024;

/** Decodes a dataset text file: UTF-8 (BOM dropped) or UTF-16 with a BOM. */
export async function readText(blob: Blob, file: string): Promise<string> {
  if (blob.size > MAX_TEXT_BYTES)
    throw new DatasetError(
      `${file}: ${blob.size} bytes is over the ${MAX_TEXT_BYTES} byte limit for a dataset text file; split it into several files`,
      file,
    );
  const bytes = new Uint8Array(await blob.arrayBuffer());
  return decodeText(bytes);
}

export function decodeText(bytes: Uint8Array): string {
  let text: string;
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) text = new TextDecoder('utf-16le').decode(bytes.subarray(2));
  else if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) text = new TextDecoder('utf-16be').decode(bytes.subarray(2));
  else text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Forward slashes, no leading `./` or `/`. */
export function normalizePath(p: string): string {
  return p
    .replace(/\\/g, '/')
    .replace(/^(\.\/)+/, '')
    .replace(/^\/+/, '');
}

export function basename(p: string): string {
  const n = normalizePath(p);
  const i = n.lastIndexOf('/');
  return i < 0 ? n : n.slice(i + 1);
}

export function dirname(p: string): string {
  const n = normalizePath(p);
  const i = n.lastIndexOf('/');
  return i < 0 ? '' : n.slice(0, i);
}

export function extension(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf('.');
  return i <= 0 ? '' : b.slice(i + 1).toLowerCase();
}

/** Maps string offsets to 1-based line/column numbers. */
export class LineIndex {
  private starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13 && text.charCodeAt(i + 1) !== 10) this.starts.push(i + 1);
    }
  }

  /** 1-based line and column of `offset`. */
  locate(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo] + 1 };
  }
}

/** Line endings of imported text become `\n` so CSV (CRLF) and JSON give identical strings. */
export function normalizeNewlines(s: string): string {
  return s.indexOf('\r') < 0 ? s : s.replace(/\r\n?/g, '\n');
}
