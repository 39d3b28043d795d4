// Validation of parsed records: image present and really an image, texts non-empty, answers
// within the model's context, ids unique. Invalid records go to `problems` with a reason
// that says what to fix; valid ones are kept in input order.

import { basename, Yielder, type Progress } from './formats/common';
import { headerBytesNeeded, readImageHeader, sizeProblem, type ImageSize, type ImageType } from './formats/image';
import type { ParsedRecord } from './formats/records';
import type { DatasetFile, ImportResult, PreferenceRecord, Problem } from './types';

export type { ImageType } from './formats/image';

/** File extensions the importer treats as images. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['jpg', 'jpeg', 'jpe', 'png', 'gif', 'webp', 'bmp']);

/** Shortest file of each type that can hold a header (shorter means truncated). */
const MIN_BYTES: Record<ImageType, number> = { png: 33, jpeg: 4, gif: 13, webp: 20, bmp: 26 };

const BMP_DIB_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

/** Image type from the file's first bytes (magic numbers), or null. */
export function sniffImageType(b: Uint8Array): ImageType | null {
  if (
    b.length >= 8 &&
    b[0] === 0x89 &&
    b[1] === 0x50 &&
    b[2] === 0x4e &&
    b[3] === 0x47 &&
    b[4] === 0x0d &&
    b[5] === 0x0a &&
    b[6] === 0x1a &&
    b[7] === 0x0a
  )
    return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 6 && ascii(b, 0, 6) === 'GIF87a') return 'gif';
  if (b.length >= 6 && ascii(b, 0, 6) === 'GIF89a') return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if (b.length >= 18 && b[0] === 0x42 && b[1] === 0x4d) {
    const dib = b[14] | (b[15] << 8) | (b[16] << 16) | (b[17] << 24);
    if (BMP_DIB_SIZES.has(dib)) return 'bmp';
  }
  return null;
}

function ascii(b: Uint8Array, at: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[at + i]);
  return s;
}

function hex(b: Uint8Array): string {
  return Array.from(b.subarray(0, 8), (x) => x.toString(16).toUpperCase().padStart(2, '0')).join(' ');
}

/** Decodes an image fully (createImageBitmap in a Worker); throws when it cannot. */
export type ImageDecoder = (blob: Blob) => Promise<ImageSize>;

/**
 * Why `blob` is not a usable image, or null when it is one of PNG, JPEG, GIF, WebP, BMP: its
 * signature, its structure (a truncated PNG), the size its header declares (checked against
 * MAX_IMAGE_PIXELS before anything decodes it) and, when `decode` is given, a full decode.
 */
export async function checkImage(blob: Blob, name: string, decode?: ImageDecoder): Promise<string | null> {
  if (blob.size === 0) return `image "${name}" is an empty file (0 bytes)`;
  const head = new Uint8Array(await blob.slice(0, 32).arrayBuffer());
  const type = sniffImageType(head);
  if (!type) return `"${name}" is not an image: its first bytes (${hex(head)}) match no PNG, JPEG, GIF, WebP or BMP signature`;
  if (blob.size < MIN_BYTES[type]) return `image "${name}" is truncated: ${blob.size} bytes is too short for a ${type.toUpperCase()} file`;
  const need = headerBytesNeeded(type, blob.size);
  const bytes = need <= head.length ? head : new Uint8Array(await blob.slice(0, need).arrayBuffer());
  const header = readImageHeader(type, bytes, blob.size);
  if (!header.ok) return `image "${name}" ${header.reason}`;
  const tooBig = header.size && sizeProblem(header.size);
  if (tooBig) return `image "${name}" ${tooBig}`;
  if (!decode) return null;
  let decoded: ImageSize;
  try {
    decoded = await decode(blob);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return `image "${name}" could not be decoded as ${type.toUpperCase()} (${why || 'the decoder refused it'}); re-save it with an image editor`;
  }
  const after = sizeProblem(decoded);
  return after ? `image "${name}" ${after}` : null;
}

export type ImageMatch = { ok: true; key: string; file: DatasetFile } | { ok: false; reason: string };

/** Image files by base name, case-insensitively: records refer to images by file name only. */
export class ImageIndex {
  private byName = new Map<string, DatasetFile[]>();

  constructor(files: Iterable<DatasetFile>) {
    for (const f of files) {
      const k = basename(f.name).toLowerCase();
      const list = this.byName.get(k);
      if (list) list.push(f);
      else this.byName.set(k, [f]);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  resolve(ref: string): ImageMatch {
    // a URL's query or fragment is not part of the file name
    const name = basename(/^[a-z][a-z0-9+.-]*:\/\//i.test(ref) ? ref.replace(/[?#].*$/, '') : ref);
    const list = this.byName.get(name.toLowerCase());
    if (!list || list.length === 0)
      return {
        ok: false,
        reason: `missing image: no file named "${name}" in the drop (images are matched by file name, ignoring folders and case); add it or fix the record's image field`,
      };
    if (list.length > 1)
      return {
        ok: false,
        reason: `ambiguous image "${name}": ${list.length} files have that name (${list.map((f) => f.name).join(', ')}); remove or rename all but one`,
      };
    return { ok: true, key: basename(list[0].name), file: list[0] };
  }
}

export interface ValidateOptions {
  /** Full decode of each image (in the Worker: createImageBitmap); without it only headers are checked. */
  decodeImage?: ImageDecoder;
  /** Token counter of the model's tokenizer; without it the length check is skipped. */
  countTokens?: (text: string) => number;
  /** Longest answer in tokens. */
  maxTokens?: number;
  onProgress?: (p: Progress) => void;
}

/** Checks every record; returns the valid ones with their images and a problem per invalid one. */
export async function validateRecords(
  parsed: readonly ParsedRecord[],
  index: ImageIndex,
  opts: ValidateOptions = {},
): Promise<ImportResult> {
  const records: PreferenceRecord[] = [];
  const images = new Map<string, Blob>();
  const problems: Problem[] = [];
  const imageVerdict = new Map<DatasetFile, string | null>();
  const seen = new Map<string, ParsedRecord>();
  const yielder = new Yielder(opts.onProgress);
  const lengthCheck = opts.countTokens !== undefined && opts.maxTokens !== undefined;

  for (const r of parsed) {
    await yielder.tick('validate', r.source.file);
    const fail = (reason: string) =>
      problems.push({
        file: r.source.file,
        record: r.id,
        line: r.source.line,
        reason: r.source.line ? `line ${r.source.line}: ${reason}` : reason,
      });

    const first = seen.get(r.id);
    if (first) {
      const where = first.source.line
        ? `${first.source.file} line ${first.source.line}`
        : `${first.source.file} record ${first.source.index + 1}`;
      fail(`duplicate id "${r.id}" (first used in ${where}); ids must be unique`);
      continue;
    }
    seen.set(r.id, r);

    if (r.question === '') {
      fail('the question is empty');
      continue;
    }
    if (r.chosen === '') {
      fail('the answer is empty');
      continue;
    }
    if (lengthCheck) {
      const n = opts.countTokens!(r.chosen);
      if (n > opts.maxTokens!) {
        fail(`the answer is ${n} tokens, over the limit of ${opts.maxTokens} for the model's context; shorten it`);
        continue;
      }
      if (r.rejected !== undefined) {
        const m = opts.countTokens!(r.rejected);
        if (m > opts.maxTokens!) {
          fail(`the rejected answer is ${m} tokens, over the limit of ${opts.maxTokens} for the model's context; shorten it`);
          continue;
        }
      }
    }
    const match = index.resolve(r.imageRef);
    if (!match.ok) {
      fail(match.reason);
      continue;
    }
    let verdict = imageVerdict.get(match.file);
    if (verdict === undefined) {
      verdict = await checkImage(match.file.blob, match.file.name, opts.decodeImage);
      imageVerdict.set(match.file, verdict);
    }
    if (verdict !== null) {
      fail(verdict);
      continue;
    }
    images.set(match.key, match.file.blob);
    const out: PreferenceRecord = { id: r.id, image: match.key, question: r.question, chosen: r.chosen, source: r.source };
    if (r.rejected !== undefined) out.rejected = r.rejected;
    if (r.turn) out.turn = r.turn;
    records.push(out);
  }
  return { records, images, problems };
}
