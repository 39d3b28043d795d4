// Where a model's files come from (a hub repository, a plain URL folder, or a folder the user
// dropped), and the ModelFiles that reads each.

import { BlobModelFiles } from './blob-files';
import { ModelSourceError, type ModelFiles, type OpenModelFilesOptions } from './files';
import { HttpModelFiles } from './http-files';

export type ModelSource =
  | { kind: 'hub'; id: string; baseUrl?: string /* default https://huggingface.co */; revision?: string /* default main */ }
  | { kind: 'url'; url: string /* folder base URL */ }
  | { kind: 'files'; files: Map<string, Blob> /* relative path -> file, from a dropped folder */ };

const DEFAULT_HUB_URL = 'https://huggingface.co';

export function openModelFiles(source: ModelSource, opts: OpenModelFilesOptions = {}): ModelFiles {
  switch (source.kind) {
    case 'hub': {
      if (!/^[\w.-]+(\/[\w.-]+)?$/.test(source.id) || source.id.includes('..')) {
        throw new ModelSourceError(
          `"${source.id}" is not a hub model id; write it as owner/name, e.g. HuggingFaceTB/SmolVLM-256M-Instruct`,
        );
      }
      const revision = source.revision ?? 'main';
      const base = `${trimSlashes(source.baseUrl ?? DEFAULT_HUB_URL)}/${source.id}/resolve/${encodeURIComponent(revision)}/`;
      return new HttpModelFiles(base, `${source.id} (revision ${revision})`, opts);
    }
    case 'url':
      return new HttpModelFiles(`${trimSlashes(source.url)}/`, source.url, opts);
    case 'files':
      return new BlobModelFiles(source.files, opts);
  }
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}
