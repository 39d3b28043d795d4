// Helpers for the page tests: synthetic drag-and-drop, screenshots, image comparison, and a
// reader for the downloaded adapter (zip + safetensors header), all without network access.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

export const SCREENSHOTS = 'test-output/screenshots';
export const SAMPLES_DIR = 'public/samples';

/** The page under test; POVID_E2E_PAGE=/test/browser/fake-app.html runs the UI on the fake Worker fixture. */
export const PAGE_PATH = process.env.POVID_E2E_PAGE ?? '/';

export const tid = (id: string) => `[data-testid="${id}"]`;

/** Selector of one dataset row by record id (JSON string escaping is valid CSS string escaping). */
export const rowSelector = (id: string) => `${tid('record-row')}[data-id=${JSON.stringify(id)}]`;

export interface DropSpec {
  name: string;
  /** Fetched by the page (same origin). */
  url?: string;
  /** Or literal contents. */
  text?: string;
  type?: string;
}

/** Builds a DataTransfer in the page and fires dragenter, dragover and drop at `selector`. */
export async function dropFiles(page: Page, selector: string, files: DropSpec[]): Promise<void> {
  await page.evaluate(
    async ({ selector, files }) => {
      const dt = new DataTransfer();
      for (const f of files) {
        let blob: Blob;
        if (f.url) {
          const r = await fetch(f.url);
          if (!r.ok) throw new Error(`${f.url}: HTTP ${r.status}`);
          blob = await r.blob();
        } else {
          blob = new Blob([f.text ?? '']);
        }
        dt.items.add(new File([blob], f.name, { type: f.type ?? blob.type }));
      }
      const target = document.querySelector(selector);
      if (!target) throw new Error(`no element ${selector}`);
      for (const type of ['dragenter', 'dragover', 'drop'])
        target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    },
    { selector, files },
  );
}

export interface SampleQa {
  image: string;
  question: string;
  answer: string;
}

/** The generated sample data as the page will fetch it (npm run fixture writes it). */
export function sampleData(): { files: DropSpec[]; qa: SampleQa[] } {
  const index = JSON.parse(readFileSync(join(SAMPLES_DIR, 'index.json'), 'utf8')) as { files: string[] };
  const qa = readFileSync(join(SAMPLES_DIR, 'qa.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as SampleQa);
  return { files: index.files.map((name) => ({ name, url: `/samples/${name}` })), qa };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Mean absolute difference (0..1, over RGB) between a row's clean thumbnail and its noisy image,
 * both drawn at the noisy image's size.
 */
export async function noiseDistance(page: Page, rowSelector: string): Promise<number> {
  return page.evaluate(async (sel) => {
    const row = document.querySelector(sel);
    if (!row) throw new Error(`no row ${sel}`);
    const bitmap = async (img: HTMLImageElement | null) => {
      if (!img?.src) throw new Error('image not loaded');
      return createImageBitmap(await (await fetch(img.src)).blob());
    };
    const clean = await bitmap(row.querySelector<HTMLImageElement>('[data-testid="thumb"]'));
    const noisy = await bitmap(row.querySelector<HTMLImageElement>('[data-testid="noisy-image"]'));
    const w = noisy.width;
    const hgt = noisy.height;
    const canvas = new OffscreenCanvas(w, hgt);
    const g = canvas.getContext('2d')!;
    g.drawImage(clean, 0, 0, w, hgt);
    const a = g.getImageData(0, 0, w, hgt).data;
    g.clearRect(0, 0, w, hgt);
    g.drawImage(noisy, 0, 0, w, hgt);
    const b = g.getImageData(0, 0, w, hgt).data;
    let sum = 0;
    for (let i = 0; i < a.length; i++) if (i % 4 !== 3) sum += Math.abs(a[i] - b[i]);
    return sum / ((a.length / 4) * 3 * 255);
  }, rowSelector);
}

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Parses a safetensors file's header, checking every length and offset against the file size. */
export function parseSafetensors(bytes: Uint8Array): {
  tensors: Map<string, SafetensorsEntry>;
  metadata?: Record<string, string>;
  dataStart: number;
} {
  if (bytes.length < 8) throw new Error(`safetensors: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > bytes.length - 8) throw new Error(`safetensors: header length ${n} runs past the end (${bytes.length} bytes)`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const dataStart = 8 + n;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> | undefined;
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = v as Record<string, string>;
      continue;
    }
    const e = v as SafetensorsEntry;
    const [start, end] = e.data_offsets;
    if (!(start >= 0 && end >= start && dataStart + end <= bytes.length))
      throw new Error(`safetensors: ${name} offsets ${start}..${end} outside the data`);
    tensors.set(name, e);
  }
  return { tensors, metadata, dataStart };
}

export const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
