// Small real image headers and file builders for the dataset tests.
import type { DatasetFile } from '../../src/povid/types';

/** A complete 1x1 PNG. */
export const PNG_1X1 = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='),
  (c) => c.charCodeAt(0),
);
export const JPEG_HEAD = Uint8Array.from([
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xd9,
]);
export const GIF_HEAD = new TextEncoder().encode('GIF89a\x01\x00\x01\x00\x00\x00\x00;');
export const WEBP_HEAD = Uint8Array.from([
  ...new TextEncoder().encode('RIFF'),
  26,
  0,
  0,
  0,
  ...new TextEncoder().encode('WEBPVP8L'),
  13,
  0,
  0,
  0,
  0x2f,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
]);
export function bmpHead(): Uint8Array {
  const b = new Uint8Array(58);
  b[0] = 0x42;
  b[1] = 0x4d;
  b[2] = 58;
  b[10] = 54;
  b[14] = 40; // BITMAPINFOHEADER
  b[18] = 1;
  b[22] = 1;
  b[26] = 1;
  b[28] = 24;
  return b;
}

export function file(name: string, content: string | Uint8Array): DatasetFile {
  return { name, blob: new Blob([content as BlobPart]) };
}

export function png(name: string): DatasetFile {
  return file(name, PNG_1X1);
}

export function jpeg(name: string): DatasetFile {
  return file(name, JPEG_HEAD);
}
