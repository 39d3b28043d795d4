// Zip drops: every entry becomes a DatasetFile named `archive.zip/inner/path`. Sizes declared
// in the archive are checked before anything is inflated (zip bombs), and again after.

import { unzip, type UnzipFileInfo } from 'fflate';
import { DatasetError, type DatasetFile } from '../types';
import { normalizePath } from './common';

export const MAX_ZIP_ENTRY_BYTES = 1024 * 1024 * 1024;
export const MAX_ZIP_TOTAL_BYTES = 2 * 1024 * 1024 * 1024;

export interface ZipContents {
  files: DatasetFile[];
  skipped: { name: string; reason: string }[];
}

function unzipAsync(data: Uint8Array, filter: (f: UnzipFileInfo) => boolean): Promise<Record<string, Uint8Array>> {
  return new Promise((resolve, reject) => {
    unzip(data, { filter }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/** Skips folders, macOS resource forks and hidden files. */
function isJunk(name: string): boolean {
  return name.endsWith('/') || name.startsWith('__MACOSX/') || name.split('/').some((p) => p.startsWith('.'));
}

export async function readZip(file: DatasetFile): Promise<ZipContents> {
  const bytes = new Uint8Array(await file.blob.arrayBuffer());
  const skipped: ZipContents['skipped'] = [];
  let total = 0;
  const filter = (f: UnzipFileInfo): boolean => {
    const name = normalizePath(f.name);
    // Before the junk test: '..' also starts with a dot, and a climbing path must be reported.
    if (name.split('/').includes('..') || /^[a-z]:/i.test(name)) {
      skipped.push({
        name,
        reason: `the entry's path "${f.name}" climbs out of the archive ('..' or a drive letter); such entries are never unpacked`,
      });
      return false;
    }
    if (isJunk(name)) return false;
    if (f.compression !== 0 && f.compression !== 8) {
      skipped.push({ name, reason: `compression method ${f.compression} is not supported (only stored or deflate)` });
      return false;
    }
    if (f.originalSize > MAX_ZIP_ENTRY_BYTES) {
      skipped.push({ name, reason: `${f.originalSize} bytes uncompressed is over the ${MAX_ZIP_ENTRY_BYTES} byte limit per entry` });
      return false;
    }
    total += f.originalSize;
    if (total > MAX_ZIP_TOTAL_BYTES) {
      skipped.push({ name, reason: `the archive expands past ${MAX_ZIP_TOTAL_BYTES} bytes; split it` });
      return false;
    }
    return true;
  };
  let out: Record<string, Uint8Array>;
  try {
    out = await unzipAsync(bytes, filter);
  } catch (e) {
    throw new DatasetError(`${file.name}: not a readable zip archive (${e instanceof Error ? e.message : String(e)})`, file.name);
  }
  const files: DatasetFile[] = [];
  for (const [rawName, data] of Object.entries(out)) {
    const name = normalizePath(rawName);
    if (data.length > MAX_ZIP_ENTRY_BYTES) {
      skipped.push({ name, reason: `expands to ${data.length} bytes, over the ${MAX_ZIP_ENTRY_BYTES} byte limit per entry` });
      continue;
    }
    files.push({ name: `${normalizePath(file.name)}/${name}`, blob: new Blob([data as Uint8Array<ArrayBuffer>]) });
  }
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, skipped };
}
