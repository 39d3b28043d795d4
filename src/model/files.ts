// The one small interface every model folder is read through (a hub repository, a URL folder or
// a dropped folder: source.ts opens the right one), its errors, and the checks the
// implementations share.

import type { ByteCache } from './cache';

export interface DownloadProgress {
  path: string;
  loaded: number; // bytes received so far
  total: number; // bytes expected; 0 when the server does not say
}
export type ProgressCallback = (p: DownloadProgress) => void;

export interface ModelFiles {
  /** Says where the files come from, for messages ("HuggingFaceTB/SmolVLM-256M-Instruct (revision main)"). */
  readonly description: string;
  has(path: string): Promise<boolean>;
  text(path: string): Promise<string>;
  bytes(path: string, onProgress?: ProgressCallback): Promise<Uint8Array>;
  /** Bytes [start, end) of the file. The result may be a view into a larger buffer. */
  range(path: string, start: number, end: number, onProgress?: ProgressCallback): Promise<Uint8Array>;
  size(path: string): Promise<number>;
}

export interface OpenModelFilesOptions {
  fetch?: typeof fetch;
  cache?: ByteCache;
  /** Progress of whole-file downloads (bytes()); range pieces report through their own callback. */
  onProgress?: ProgressCallback;
}

export class ModelSourceError extends Error {
  override name = 'ModelSourceError';
}

/** One or more files the model needs are not there. */
export class ModelFileMissingError extends ModelSourceError {
  override name = 'ModelFileMissingError';
  constructor(
    readonly paths: string[],
    message: string,
  ) {
    super(message);
  }
}

/** Paths come from our own code, but never let one climb out of the model folder. */
export function checkPath(path: string): void {
  const parts = path.split('/');
  if (!path || path.startsWith('/') || /[\\?#]/.test(path) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModelSourceError(`"${path}" is not a relative file path inside the model folder`);
  }
}

export function checkRange(path: string, start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new ModelSourceError(`${path}: invalid byte range [${start}, ${end})`);
  }
}

/** An error's message with its cause's, for messages that wrap it. */
export function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? ` (${e.cause.message})` : '';
  return `${e.message}${cause}`;
}

export function decodeText(path: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelSourceError(`${path} is not UTF-8 text; it is damaged or not the file it should be`);
  }
}
