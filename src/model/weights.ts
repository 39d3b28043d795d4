// The text decoder's tensors in a Hugging Face checkpoint (names and shapes: src/engine/checkpoint.ts):
// which naming the file uses, checking them against the config, and loading only those tensors
// from model.safetensors by HTTP range, never the vision tower's.

import { DECODER_PREFIXES, decoderNames, expectedWeights, weightName } from '../engine/checkpoint';
import type { DecoderConfig } from '../engine/config';
import type { RawTensor } from '../util/dtype';
import { parseSafetensorsHeader, readHeaderLength, requireTensorInfo, type SafetensorsHeader, type TensorInfo } from './safetensors';
import type { DownloadProgress, ModelFiles } from './files';

/** The checkpoint does not hold the decoder the config describes. */
export class ModelWeightsError extends Error {
  override name = 'ModelWeightsError';
}

/** Which naming the checkpoint uses, told by where its embed_tokens lives. */
export function findDecoderPrefix(names: Iterable<string>, fileName = 'model.safetensors'): string {
  const set = new Set(names);
  const embed = (prefix: string) => weightName.embed(decoderNames(prefix));
  for (const prefix of DECODER_PREFIXES) if (set.has(embed(prefix))) return prefix;
  throw new ModelWeightsError(
    `${fileName} has no decoder embedding (${DECODER_PREFIXES.map(embed).join(' or ')}); ` +
      'it is not an Idefics3/SmolVLM or Llama checkpoint. Use the model.safetensors that belongs to this config.json',
  );
}

function allNames(header: SafetensorsHeader): string[] {
  return [...header.tensors.keys(), ...header.unsupportedTensors.keys()];
}

/**
 * Checks that every decoder tensor is present, readable and shaped as the config says.
 * Returns their records in expectedWeights order.
 */
export function checkDecoderTensors(header: SafetensorsHeader, cfg: DecoderConfig, fileName = 'model.safetensors'): TensorInfo[] {
  const prefix = findDecoderPrefix(allNames(header), fileName);
  return expectedWeights(cfg, decoderNames(prefix)).map(({ name, shape, role }) => {
    if (!header.tensors.has(name) && !header.unsupportedTensors.has(name)) {
      const hint = role === 'lmHead' ? ' (config.json says tie_word_embeddings is false, so a separate lm_head is needed)' : '';
      throw new ModelWeightsError(
        `${fileName} has no tensor "${name}"${hint}. The weights do not match config.json: use the files of one model together`,
      );
    }
    const info = requireTensorInfo(header, name, fileName);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new ModelWeightsError(
        `${fileName}: tensor "${name}" has shape ${JSON.stringify(info.shape)} but config.json implies ${JSON.stringify(shape)}. ` +
          'The weights do not match config.json: use the files of one model together',
      );
    }
    return info;
  });
}

export interface LoadDecoderTensorsOptions {
  fileName?: string; // default model.safetensors
  /** Progress over the decoder's bytes only (the header is not counted). */
  onProgress?: (p: DownloadProgress) => void;
  /** Adjacent tensors are fetched together up to this many bytes per request (default 32 MiB). */
  maxRequestBytes?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
}

/** One HTTP range covering adjacent tensors. Offsets are absolute in the file. */
interface RangePiece {
  start: number;
  end: number;
  tensors: TensorInfo[];
}

/** Merges tensors that touch in the file (no gap at all, so no foreign byte is ever fetched). */
export function planRangeRequests(tensors: TensorInfo[], dataOffset: number, maxRequestBytes: number): RangePiece[] {
  const sorted = tensors.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  const pieces: RangePiece[] = [];
  for (const t of sorted) {
    const start = dataOffset + t.begin;
    const end = dataOffset + t.end;
    const last = pieces[pieces.length - 1];
    if (last && last.end === start && end - last.start <= maxRequestBytes) {
      last.end = end;
      last.tensors.push(t);
    } else {
      pieces.push({ start, end, tensors: [t] });
    }
  }
  return pieces;
}

/** Reads the safetensors header by range (8 bytes, then the header) and validates it. */
export async function readRemoteHeader(files: ModelFiles, fileName: string): Promise<SafetensorsHeader> {
  const first8 = await files.range(fileName, 0, 8);
  const fileSize = await files.size(fileName);
  const headerLength = readHeaderLength(first8, fileName, fileSize); // before sizing any buffer from it
  const head = new Uint8Array(8 + headerLength);
  head.set(first8, 0);
  head.set(await files.range(fileName, 8, 8 + headerLength), 8);
  return parseSafetensorsHeader(head, fileName, fileSize);
}

/**
 * Fetches only the decoder's tensors of model.safetensors, keyed by their names in the file
 * (use findDecoderPrefix on the keys to tell the naming). Tensor data may be views into a shared
 * buffer holding several adjacent tensors.
 */
export async function loadDecoderTensors(
  files: ModelFiles,
  cfg: DecoderConfig,
  opts: LoadDecoderTensorsOptions = {},
): Promise<Map<string, RawTensor>> {
  const fileName = opts.fileName ?? 'model.safetensors';
  const header = await readRemoteHeader(files, fileName);
  const infos = checkDecoderTensors(header, cfg, fileName);
  const pieces = planRangeRequests(infos, header.dataOffset, opts.maxRequestBytes ?? 32 * 2 ** 20);

  const total = pieces.reduce((s, p) => s + (p.end - p.start), 0);
  const loadedPerPiece = new Array<number>(pieces.length).fill(0);
  const report = () => opts.onProgress?.({ path: fileName, loaded: loadedPerPiece.reduce((a, b) => a + b, 0), total });

  const out = new Map<string, RawTensor>();
  for (const info of infos)
    if (info.end === info.begin)
      out.set(info.name, { name: info.name, dtype: info.dtype, shape: [...info.shape], data: new Uint8Array(0) });

  let next = 0;
  let failed = false; // one failed request stops the others from starting new ones
  const worker = async () => {
    while (!failed && next < pieces.length) {
      const index = next++;
      const piece = pieces[index]!;
      const bytes = await files
        .range(fileName, piece.start, piece.end, (p) => {
          loadedPerPiece[index] = p.loaded;
          report();
        })
        .catch((e: unknown) => {
          failed = true;
          throw e;
        });
      loadedPerPiece[index] = bytes.length;
      report();
      for (const t of piece.tensors) {
        const from = header.dataOffset + t.begin - piece.start;
        out.set(t.name, { name: t.name, dtype: t.dtype, shape: [...t.shape], data: bytes.subarray(from, from + (t.end - t.begin)) });
      }
    }
  };
  const workers = Math.max(1, Math.min(opts.concurrency ?? 4, pieces.length));
  await Promise.all(Array.from({ length: workers }, worker));

  // Same order as expectedWeights, for readers that iterate.
  return new Map(infos.map((i) => [i.name, out.get(i.name)!]));
}
