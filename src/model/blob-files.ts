// Model files from a folder the user dropped: Blobs keyed by their path in the folder.

import {
  checkPath,
  checkRange,
  decodeText,
  errorText,
  ModelFileMissingError,
  ModelSourceError,
  type ModelFiles,
  type OpenModelFilesOptions,
  type ProgressCallback,
} from './files';

/** What a dropped model folder must hold, for messages about missing files. */
export const DROP_HINT =
  'Drop the complete model folder as downloaded from the hub: it needs config.json, tokenizer.json, model.safetensors ' +
  'and onnx/vision_encoder*.onnx (e.g. HuggingFaceTB/SmolVLM-256M-Instruct)';

/**
 * Normalises dropped paths: backslashes, "./", and the folder's own name (webkitRelativePath
 * gives "SmolVLM-256M-Instruct/config.json") are removed, so paths are relative to the model folder.
 */
export function normaliseDroppedPaths(files: Map<string, Blob>): Map<string, Blob> {
  let entries = [...files].map(([p, blob]) => [p.replace(/\\/g, '/').replace(/^(\.?\/)+/, ''), blob] as [string, Blob]);
  for (;;) {
    if (entries.some(([p]) => p === 'config.json')) break;
    const first = entries[0]?.[0].split('/')[0];
    if (!first || !entries.every(([p]) => p.startsWith(`${first}/`))) break;
    entries = entries.map(([p, blob]) => [p.slice(first.length + 1), blob]);
  }
  return new Map(entries);
}

export class BlobModelFiles implements ModelFiles {
  readonly description = 'the dropped folder';
  private readonly files: Map<string, Blob>;

  constructor(
    files: Map<string, Blob>,
    private readonly opts: OpenModelFilesOptions,
  ) {
    this.files = normaliseDroppedPaths(files);
  }

  private blob(path: string): Blob {
    checkPath(path);
    const blob = this.files.get(path);
    if (!blob) throw new ModelFileMissingError([path], `the dropped folder has no ${path}. ${DROP_HINT}`);
    return blob;
  }

  private async read(path: string, what: () => Promise<ArrayBuffer>): Promise<Uint8Array> {
    try {
      return new Uint8Array(await what());
    } catch (e) {
      throw new ModelSourceError(`could not read ${path} from the dropped folder (${errorText(e)}). Drop the folder again`);
    }
  }

  async has(path: string): Promise<boolean> {
    checkPath(path);
    return this.files.has(path);
  }

  async size(path: string): Promise<number> {
    return this.blob(path).size;
  }

  async bytes(path: string, onProgress?: ProgressCallback): Promise<Uint8Array> {
    const blob = this.blob(path);
    const progress = onProgress ?? this.opts.onProgress;
    const data = await this.read(path, () => blob.arrayBuffer());
    progress?.({ path, loaded: data.length, total: blob.size });
    return data;
  }

  async range(path: string, start: number, end: number, onProgress?: ProgressCallback): Promise<Uint8Array> {
    checkRange(path, start, end);
    const blob = this.blob(path);
    if (end > blob.size)
      throw new ModelSourceError(
        `${path} is ${blob.size} bytes, but bytes [${start}, ${end}) were requested. The file is shorter than its header says: it is damaged`,
      );
    const data = await this.read(path, () => blob.slice(start, end).arrayBuffer());
    onProgress?.({ path, loaded: data.length, total: end - start });
    return data;
  }

  async text(path: string): Promise<string> {
    return decodeText(path, await this.bytes(path));
  }
}
