// Model loading progress: which phase a file belongs to, and byte totals over files that are
// read in parallel (config, tokenizer, weights and the vision encoder arrive together).
import type { LoadProgress } from './api';

/** The loading phase a model file belongs to. */
export function loadPhaseOf(path: string): LoadProgress['phase'] {
  const name = path.split('/').pop() ?? path;
  if (name.endsWith('.onnx')) return 'vision';
  if (
    name.startsWith('tokenizer') ||
    name === 'chat_template.json' ||
    name === 'chat_template.jinja' ||
    name === 'vocab.json' ||
    name === 'merges.txt'
  )
    return 'tokenizer';
  if (name.endsWith('.safetensors')) return 'weights';
  return 'config';
}

/**
 * Byte counts of files read in parallel: each file's latest report, summed. A file whose size
 * is not known yet adds its bytes so far to both sums.
 */
export class LoadTally {
  private readonly files = new Map<string, { loaded: number; total: number }>();

  add(path: string, loaded: number, total: number): { loadedAll: number; totalAll: number } {
    this.files.set(path, { loaded, total });
    let loadedAll = 0;
    let totalAll = 0;
    for (const f of this.files.values()) {
      loadedAll += f.loaded;
      totalAll += Math.max(f.total, f.loaded);
    }
    return { loadedAll, totalAll };
  }
}
