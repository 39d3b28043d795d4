// Where the data comes in: drag and drop (files or whole folders), a file picker, a folder picker
// and the sample data. Everything ends up as DropFile[] handed to one callback (addFiles).
import type { DropFile } from '../worker/api';
import { errorMessage, h, plural } from './dom';

/** Caps that keep a stray drop of a home folder from walking the whole disk. */
export const MAX_DROP_FILES = 20_000;
const MAX_DEPTH = 16;

export class DropLimitError extends Error {
  override name = 'DropLimitError';
}

function skipName(name: string): boolean {
  // Operating-system litter, never data.
  return name.startsWith('.') || name === '__MACOSX' || name === 'Thumbs.db' || name === 'desktop.ini';
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: DropFile[], depth: number): Promise<void> {
  if (skipName(entry.name)) return;
  const path = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    if (out.length >= MAX_DROP_FILES) throw new DropLimitError(`More than ${MAX_DROP_FILES} files were dropped; drop a smaller folder.`);
    out.push({ path, blob: await entryFile(entry as FileSystemFileEntry) });
    return;
  }
  if (!entry.isDirectory) return;
  if (depth >= MAX_DEPTH) throw new DropLimitError(`"${path}" is nested more than ${MAX_DEPTH} folders deep; drop a flatter folder.`);
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries returns the listing in batches (about 100 in Chromium) until an empty one.
  for (;;) {
    const batch = await readBatch(reader);
    if (batch.length === 0) break;
    for (const child of batch) await walk(child, path, out, depth + 1);
  }
}

/**
 * Files of a drop, folders walked through webkitGetAsEntry. The items must be read during the
 * drop event itself (the DataTransfer is emptied afterwards), so the synchronous part runs first.
 */
export function filesFromDataTransfer(dt: DataTransfer): Promise<DropFile[]> {
  const dirs: FileSystemEntry[] = [];
  const plain: File[] = [];
  const fileEntries: FileSystemFileEntry[] = [];
  if (dt.items && dt.items.length) {
    for (const item of Array.from(dt.items)) {
      if (item.kind !== 'file') continue;
      const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
      const file = item.getAsFile();
      if (entry?.isDirectory) dirs.push(entry);
      else if (file)
        plain.push(file); // script-made drops have no entry, only the File
      else if (entry?.isFile) fileEntries.push(entry as FileSystemFileEntry);
    }
  } else {
    plain.push(...Array.from(dt.files));
  }
  return (async () => {
    const out: DropFile[] = plain.filter((f) => !skipName(f.name)).map((f) => ({ path: f.name, blob: f }));
    for (const e of fileEntries) await walk(e, '', out, 0);
    for (const d of dirs) await walk(d, '', out, 0);
    if (out.length > MAX_DROP_FILES) throw new DropLimitError(`More than ${MAX_DROP_FILES} files were dropped; drop a smaller folder.`);
    return out;
  })();
}

export function filesFromInput(input: HTMLInputElement): DropFile[] {
  return Array.from(input.files ?? [])
    .filter((f) => !(f.webkitRelativePath || f.name).split('/').some(skipName))
    .map((f) => ({ path: f.webkitRelativePath || f.name, blob: f }));
}

/** The bundled sample data: public/samples/index.json lists the files. */
export async function fetchSamples(base: string = import.meta.env.BASE_URL): Promise<DropFile[]> {
  const root = `${base.replace(/\/?$/, '/')}samples/`;
  const res = await fetch(`${root}index.json`);
  if (!res.ok) throw new Error(`samples/index.json: HTTP ${res.status}. Run "npm run fixture" to generate the sample data.`);
  const index: unknown = await res.json();
  const names = (index as { files?: unknown })?.files;
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && /^[\w.-]+$/.test(n))) {
    throw new Error('samples/index.json must be {"files": ["name.png", …]} with plain file names.');
  }
  return Promise.all(
    (names as string[]).map(async (name) => {
      const r = await fetch(root + name);
      if (!r.ok) throw new Error(`samples/${name}: HTTP ${r.status}`);
      return { path: name, blob: await r.blob() };
    }),
  );
}

export class DropZone {
  readonly el: HTMLElement;
  private readonly status: HTMLElement;
  private busy = false;

  constructor(private readonly onFiles: (files: DropFile[], source: string) => Promise<void>) {
    const fileInput = h('input', {
      testid: 'file-input',
      attrs: { type: 'file', multiple: true, accept: 'image/*,.jsonl,.json,.csv,.tsv,.txt', 'aria-label': 'Choose images and QA files' },
    });
    const folderInput = h('input', {
      testid: 'folder-input',
      attrs: { type: 'file', multiple: true, webkitdirectory: true, 'aria-label': 'Choose a data folder' },
    });
    for (const input of [fileInput, folderInput]) {
      input.addEventListener('change', () => {
        const files = filesFromInput(input);
        input.value = '';
        void this.deliver(Promise.resolve(files), 'picker');
      });
    }
    const samples = h('button', { class: 'button secondary', testid: 'load-samples', text: 'Load sample data', attrs: { type: 'button' } });
    samples.addEventListener('click', () => void this.deliver(fetchSamples(), 'samples'));

    this.status = h('p', { class: 'muted drop-status', testid: 'drop-status', attrs: { 'aria-live': 'polite' } });
    const zone = h(
      'div',
      {
        class: 'drop-zone',
        testid: 'drop-zone',
        attrs: { tabindex: 0, role: 'group', 'aria-label': 'Drop images and question-answer files here' },
      },
      h('p', { class: 'drop-title', text: 'Drop images and a QA file here, or a whole folder' }),
      h('p', {
        class: 'muted',
        text: 'QA file: JSON Lines with {"image", "question", "answer"} per line (an optional "rejected" answer is kept); images are matched by file name.',
      }),
      h(
        'div',
        { class: 'row' },
        h('label', { class: 'button secondary' }, 'Choose files…', fileInput),
        h('label', { class: 'button secondary' }, 'Choose folder…', folderInput),
        samples,
      ),
      this.status,
    );
    let depth = 0; // dragenter/dragleave fire for every child; count them
    zone.addEventListener('dragenter', (e) => {
      e.preventDefault();
      depth++;
      zone.classList.add('is-over');
    });
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    });
    zone.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) zone.classList.remove('is-over');
    });
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      e.stopPropagation();
      depth = 0;
      zone.classList.remove('is-over');
      if (!e.dataTransfer) return;
      void this.deliver(filesFromDataTransfer(e.dataTransfer), 'drop');
    });
    this.el = zone;
  }

  private async deliver(files: Promise<DropFile[]>, source: string): Promise<void> {
    if (this.busy) {
      this.status.textContent = 'Still reading the previous files…';
      return;
    }
    this.busy = true;
    this.el.dataset.state = 'busy';
    this.status.textContent = 'Reading files…';
    try {
      const list = await files;
      if (!list.length) {
        this.status.textContent = 'Nothing to add: no files found.';
        return;
      }
      this.status.textContent = `Adding ${plural(list.length, 'file')}…`;
      await this.onFiles(list, source);
      this.status.textContent = `Read ${plural(list.length, 'file')}.`;
    } catch (e) {
      this.status.textContent = `Could not add the files: ${errorMessage(e)}`;
    } finally {
      this.busy = false;
      this.el.dataset.state = 'idle';
    }
  }
}
