// Dataset import: a drop of files (loose, from a folder, or zipped) -> validated preference
// records and their images. QA files are recognised by extension and read record by record:
//   .json          array of LLaVA/POVID, {image, question, answer} or TRL preference records
//                  (a .json holding one record per line is read as JSONL)
//   .jsonl/.ndjson one such record per line
//   .csv/.tsv      header image,question,answer[,rejected][,id] (RFC 4180)
//   .zip           unpacked, then the same rules apply to its entries
// An export of this project (povid-export.json beside povid.json) is read through its
// povid.json and images/ only: trl.jsonl and noisy/ repeat the same data.
// Parsing yields to the event loop every YIELD_EVERY records so a page stays responsive.

import { basename, dirname, extension, LineIndex, normalizePath, readText, Yielder, type Progress } from './formats/common';
import { csvRows, sniffDelimiter } from './formats/csv';
import { parseJson, topLevelElementOffsets } from './formats/json';
import { classifyRecord, convertRecord, isObject, RecordProblem, type ParsedRecord, type RecordLayout } from './formats/records';
import { readZip } from './formats/zip';
import { DatasetError, DatasetParseError, type DatasetFile, type ImportResult, type Problem, type RecordSource } from './types';
import { IMAGE_EXTENSIONS, ImageIndex, validateRecords, type ValidateOptions } from './validate';

export type { ParsedRecord } from './formats/records';

/** Name of the manifest the exporter writes at the root of its zip. */
export const EXPORT_MANIFEST = 'povid-export.json';

export const QA_EXTENSIONS: ReadonlySet<string> = new Set(['json', 'jsonl', 'ndjson', 'csv', 'tsv']);
/** Files that may sit beside a dataset and are skipped without a problem. */
const QUIET_EXTENSIONS = new Set(['md', 'txt', 'py', 'yaml', 'yml', 'toml', 'sh', 'ipynb', 'log', 'html']);

export type ImportOptions = ValidateOptions;

export interface ParsedFile {
  records: ParsedRecord[];
  problems: Problem[];
}

/** Reads a drop: unzips, parses every QA file, matches images by name and validates. */
export async function importDataset(files: readonly DatasetFile[], opts: ImportOptions = {}): Promise<ImportResult> {
  const problems: Problem[] = [];
  const entries = await expandZips(files, problems, opts.onProgress);
  const kept = applyManifests(entries, await readManifests(entries, problems));

  const images: DatasetFile[] = [];
  const qa: DatasetFile[] = [];
  for (const f of kept) {
    const ext = extension(f.name);
    if (IMAGE_EXTENSIONS.has(ext)) images.push(f);
    else if (QA_EXTENSIONS.has(ext)) qa.push(f);
    else if (!QUIET_EXTENSIONS.has(ext) && !/^(license|readme|notice)/i.test(basename(f.name)))
      problems.push({
        file: f.name,
        reason: 'skipped: not a dataset file (.json, .jsonl, .csv, .zip) nor an image (.jpg, .png, .gif, .webp, .bmp)',
      });
  }

  const yielder = new Yielder(opts.onProgress);
  const parsed: ParsedRecord[] = [];
  for (const f of qa) {
    const r = await parseDatasetFile(f, yielder);
    for (const rec of r.records) parsed.push(rec);
    problems.push(...r.problems);
  }
  if (qa.length === 0 && files.length > 0)
    problems.push({
      file: files[0].name,
      reason: 'no dataset file found: add a .json, .jsonl or .csv file with the questions and answers',
    });

  const result = await validateRecords(parsed, new ImageIndex(images), opts);
  return { records: result.records, images: result.images, problems: sortProblems([...problems, ...result.problems]) };
}

/**
 * Problems grouped by file (files in the order their first problem was found), each file's in
 * line order; problems about a whole file come before its lines. The sort is stable.
 */
export function sortProblems(problems: Problem[]): Problem[] {
  const rank = new Map<string, number>();
  for (const p of problems) if (!rank.has(p.file)) rank.set(p.file, rank.size);
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => rank.get(a.p.file)! - rank.get(b.p.file)! || (a.p.line ?? 0) - (b.p.line ?? 0) || a.i - b.i)
    .map((x) => x.p);
}

async function expandZips(files: readonly DatasetFile[], problems: Problem[], onProgress?: (p: Progress) => void): Promise<DatasetFile[]> {
  const out: DatasetFile[] = [];
  let done = 0;
  for (const f of files) {
    const name = normalizePath(f.name);
    if (basename(name).startsWith('.') || name.includes('__MACOSX/')) continue;
    if (extension(name) !== 'zip') {
      out.push({ name, blob: f.blob });
      continue;
    }
    try {
      const z = await readZip({ name, blob: f.blob });
      for (const e of z.files) {
        if (extension(e.name) === 'zip') problems.push({ file: e.name, reason: 'skipped: zip inside a zip; unpack it first' });
        else out.push(e);
      }
      for (const s of z.skipped) problems.push({ file: `${name}/${s.name}`, reason: `skipped: ${s.reason}` });
    } catch (e) {
      problems.push({ file: name, reason: e instanceof Error ? e.message : String(e) });
    }
    onProgress?.({ phase: 'unzip', file: name, done: ++done });
  }
  return out;
}

interface Manifest {
  dir: string;
  primary: string;
  imagesDir: string;
}

async function readManifests(entries: DatasetFile[], problems: Problem[]): Promise<Manifest[]> {
  const out: Manifest[] = [];
  for (const f of entries) {
    if (basename(f.name) !== EXPORT_MANIFEST) continue;
    try {
      const m = parseJson(await readText(f.blob, f.name), f.name);
      const primary = isObject(m) && typeof m.primary === 'string' ? m.primary : 'povid.json';
      const imagesDir = isObject(m) && typeof m.images === 'string' ? m.images : 'images';
      if (primary.includes('..') || imagesDir.includes('..'))
        throw new DatasetError(`${f.name}: paths in the manifest may not contain '..'`, f.name);
      out.push({ dir: dirname(f.name), primary, imagesDir });
    } catch (e) {
      problems.push({ file: f.name, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}

/** Inside an export's folder only its primary file and images/ are read (trl.jsonl and noisy/ repeat the same data). */
function applyManifests(entries: DatasetFile[], manifests: Manifest[]): DatasetFile[] {
  if (manifests.length === 0) return entries;
  return entries.filter((f) => {
    for (const m of manifests) {
      const prefix = m.dir === '' ? '' : `${m.dir}/`;
      if (!f.name.startsWith(prefix)) continue;
      const rel = f.name.slice(prefix.length);
      return rel === m.primary || rel.startsWith(`${m.imagesDir}/`);
    }
    return true;
  });
}

/** Parses one QA file into records (not yet validated); bad records become problems. */
export async function parseDatasetFile(file: DatasetFile, yielder = new Yielder()): Promise<ParsedFile> {
  const problems: Problem[] = [];
  const records: ParsedRecord[] = [];
  let text: string;
  try {
    text = await readText(file.blob, file.name);
  } catch (e) {
    return { records, problems: [{ file: file.name, reason: e instanceof Error ? e.message : String(e) }] };
  }
  if (text.trim() === '') return { records, problems: [{ file: file.name, reason: 'the file is empty' }] };
  const ext = extension(file.name);
  try {
    if (ext === 'csv' || ext === 'tsv') await parseCsv(file.name, text, records, problems, yielder);
    else if (ext === 'jsonl' || ext === 'ndjson' || (ext === 'json' && looksLikeJsonl(text)))
      await parseJsonl(file.name, text, records, problems, yielder);
    else await parseJsonArray(file.name, text, records, problems, yielder);
  } catch (e) {
    if (e instanceof DatasetParseError) problems.push({ file: file.name, line: e.line, reason: e.message });
    else if (e instanceof DatasetError) problems.push({ file: file.name, reason: e.message });
    else throw e;
  }
  return { records, problems };
}

/** A .json whose first line is a complete object and which has more lines: JSONL. */
function looksLikeJsonl(text: string): boolean {
  const t = text.trimStart();
  if (!t.startsWith('{')) return false;
  const nl = t.indexOf('\n');
  if (nl < 0) return false;
  try {
    JSON.parse(t.slice(0, nl));
    return t.slice(nl).trim() !== '';
  } catch {
    return false;
  }
}

function addRecord(
  file: string,
  v: unknown,
  source: RecordSource,
  records: ParsedRecord[],
  problems: Problem[],
  layoutHint?: RecordLayout,
): void {
  const where = source.line !== undefined ? `line ${source.line}` : `record ${source.index + 1}`;
  const layout = layoutHint ?? classifyRecord(v);
  if (!layout || !isObject(v)) {
    problems.push({
      file,
      record: where,
      line: source.line,
      reason: `${where}: not a known record layout (expected LLaVA {image, conversations}, {image, question, answer} or TRL {images, prompt, chosen, rejected})`,
    });
    return;
  }
  try {
    for (const r of convertRecord(layout, v, source, `${basename(file)}:${source.index + 1}`)) records.push(r);
  } catch (e) {
    if (!(e instanceof RecordProblem)) throw e;
    problems.push({ file, record: e.record ?? where, line: source.line, reason: `${where}: ${e.message}` });
  }
}

async function parseJsonArray(file: string, text: string, records: ParsedRecord[], problems: Problem[], y: Yielder): Promise<void> {
  const root = parseJson(text, file);
  if (!Array.isArray(root)) {
    if (classifyRecord(root)) addRecord(file, root, { file, line: 1, index: 0 }, records, problems);
    else problems.push({ file, reason: 'expected a JSON array of records (or one record per line, JSONL)' });
    return;
  }
  const offsets = topLevelElementOffsets(text);
  const lines = offsets.length === root.length ? new LineIndex(text) : null;
  for (let k = 0; k < root.length; k++) {
    await y.tick('parse', file);
    const line = lines ? lines.locate(offsets[k]).line : undefined;
    const source: RecordSource = line !== undefined ? { file, line, index: k } : { file, index: k };
    addRecord(file, root[k], source, records, problems);
  }
}

async function parseJsonl(file: string, text: string, records: ParsedRecord[], problems: Problem[], y: Yielder): Promise<void> {
  let start = 0;
  let line = 0;
  let index = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const raw = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    if (raw.trim() === '') {
      if (end >= text.length) break;
      continue;
    }
    await y.tick('parse', file);
    let v: unknown;
    try {
      v = parseJson(raw, file, line - 1);
    } catch (e) {
      problems.push({ file, record: `line ${line}`, line, reason: e instanceof Error ? e.message : String(e) });
      index++;
      continue;
    }
    addRecord(file, v, { file, line, index }, records, problems);
    index++;
  }
}

const CSV_COLUMNS: Record<string, 'image' | 'question' | 'answer' | 'rejected' | 'id'> = {
  image: 'image',
  image_path: 'image',
  question: 'question',
  prompt: 'question',
  answer: 'answer',
  chosen: 'answer',
  rejected: 'rejected',
  id: 'id',
};

async function parseCsv(file: string, text: string, records: ParsedRecord[], problems: Problem[], y: Yielder): Promise<void> {
  const delimiter = extension(file) === 'tsv' ? '\t' : sniffDelimiter(text);
  const rows = csvRows(text, file, delimiter);
  const head = rows.next();
  if (head.done) {
    problems.push({ file, reason: 'the file is empty' });
    return;
  }
  const header = head.value.fields.map((h) => h.trim().toLowerCase());
  const col = new Map<string, number>();
  header.forEach((h, k) => {
    const c = CSV_COLUMNS[h];
    if (c && !col.has(c)) col.set(c, k);
  });
  const missing = ['image', 'question', 'answer'].filter((c) => !col.has(c));
  if (missing.length > 0) {
    problems.push({
      file,
      line: head.value.line,
      reason: `line ${head.value.line}: the header lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; expected image,question,answer[,rejected][,id], found ${header.join(',')}`,
    });
    return;
  }
  let index = 0;
  for (const row of rows) {
    await y.tick('parse', file);
    if (row.fields.length !== header.length) {
      problems.push({
        file,
        record: `line ${row.line}`,
        line: row.line,
        reason: `line ${row.line}: the row has ${row.fields.length} fields but the header has ${header.length}; quote fields that contain '${delimiter === '\t' ? '\\t' : delimiter}' or line breaks`,
      });
      index++;
      continue;
    }
    const get = (c: string) => (col.has(c) ? row.fields[col.get(c)!] : undefined);
    const obj: Record<string, unknown> = { image: get('image'), question: get('question'), answer: get('answer') };
    if (get('rejected') !== undefined) obj.rejected = get('rejected');
    if (get('id') !== undefined && get('id')!.trim() !== '') obj.id = get('id');
    addRecord(file, obj, { file, line: row.line, index }, records, problems, 'qa');
    index++;
  }
  if (index === 0)
    problems.push({
      file,
      line: head.value.line,
      reason: `line ${head.value.line}: the file has a header (${header.join(',')}) but no rows; add one row per record below it`,
    });
}
