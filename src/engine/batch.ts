// Packs variable-length sequences into the engine's [B, T] row layout (right padding), with the
// key mask, the answer rows that get a log-prob, and the image rows that replace embeddings.
// Every length, id and index is checked here so that kernels never see out-of-range input.
import type { GpuContext } from '../gpu';
import type { DecoderConfig } from './config';
import { EngineInputError, ImageRowsError, SequenceLengthError } from './errors';

export interface ImageInput {
  /** Image features [M, C] (the projector's output), one row per image token. */
  features: Float32Array;
  /** Token indices the rows replace; default: the tokens equal to the engine's imageTokenId. */
  positions?: ArrayLike<number>;
}

/**
 * One sequence. `targets[t]` is the token at t + 1 where position t predicts an answer token
 * (answer tokens and the closing end-of-utterance), -1 elsewhere; log-prob sums run over those.
 */
export interface SequenceInput {
  tokens: ArrayLike<number>;
  targets?: ArrayLike<number>;
  /** Rotary positions; default 0 .. length-1. */
  positions?: ArrayLike<number>;
  image?: ImageInput;
}

export interface PackLimits {
  maxBatch: number;
  maxSeq: number;
  maxImageRows: number;
  imageTokenId?: number;
}

export interface PackedBatch {
  B: number;
  T: number;
  N: number; // B * T
  lengths: number[];
  tokens: Int32Array; // [N], padding = 0
  positions: Int32Array; // [N]
  keyMask: Uint32Array; // [N], 1 for real tokens
  lastRows: Int32Array; // [B], row of each sequence's last token
  /** Answer rows in sequence order, position ascending. */
  rows: Int32Array; // [M]
  targets: Int32Array; // [M]
  seqOfRow: Int32Array; // [M]
  /** rows of sequence b are rows[rowStart[b] .. rowStart[b + 1]). */
  rowStart: number[];
  imagePos: Int32Array; // [I] row indices
  imageRows: Float32Array; // [I, C]
  imageStart: number[]; // per sequence, as rowStart
}

/** Packs and validates; `label(b)` names sequence b in error messages. */
export function packBatch(
  seqs: readonly SequenceInput[],
  cfg: DecoderConfig,
  lim: PackLimits,
  label: (b: number) => string = (b) => `sequence ${b}`,
): PackedBatch {
  const B = seqs.length;
  if (B === 0) throw new EngineInputError('empty batch: pass at least one sequence');
  if (B > lim.maxBatch)
    throw new EngineInputError(
      `batch of ${B} sequences exceeds the engine's maxBatch ${lim.maxBatch}. Create the engine with a larger maxBatch or split the batch.`,
    );
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const lengths = seqs.map((s) => s.tokens.length);
  const T = Math.max(...lengths);
  seqs.forEach((s, b) => {
    const name = label(b);
    if (lengths[b] === 0) throw new EngineInputError(`${name} has no tokens`);
    if (lengths[b] > lim.maxSeq)
      throw new SequenceLengthError(
        `${name} is ${lengths[b]} tokens long, over the engine's maxSeq of ${lim.maxSeq}. Shorten the answer or prompt, or create the engine with a larger maxSeq.`,
      );
    if (s.targets && s.targets.length !== lengths[b])
      throw new EngineInputError(`${name}: ${s.targets.length} targets for ${lengths[b]} tokens; give one target (or -1) per token`);
    if (s.positions && s.positions.length !== lengths[b])
      throw new EngineInputError(`${name}: ${s.positions.length} positions for ${lengths[b]} tokens`);
  });
  const N = B * T;
  const tokens = new Int32Array(N);
  const positions = new Int32Array(N);
  const keyMask = new Uint32Array(N);
  const lastRows = new Int32Array(B);
  const rows: number[] = [];
  const targets: number[] = [];
  const seqOfRow: number[] = [];
  const rowStart: number[] = [0];
  const imagePos: number[] = [];
  const imageChunks: Float32Array[] = [];
  const imageStart: number[] = [0];
  for (let b = 0; b < B; b++) {
    const s = seqs[b];
    const name = label(b);
    const len = lengths[b];
    for (let t = 0; t < len; t++) {
      const id = s.tokens[t];
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new EngineInputError(`${name}: token ${id} at index ${t} is outside the vocabulary [0, ${V})`);
      const pos = s.positions ? s.positions[t] : t;
      if (!Number.isInteger(pos) || pos < 0 || pos >= cfg.maxPositions)
        throw new SequenceLengthError(
          `${name}: position ${pos} at index ${t} is outside [0, ${cfg.maxPositions}), the model's max_position_embeddings. Shorten the sequence.`,
        );
      const row = b * T + t;
      tokens[row] = id;
      positions[row] = pos;
      keyMask[row] = 1;
      const tgt = s.targets ? s.targets[t] : -1;
      if (tgt !== -1) {
        if (!Number.isInteger(tgt) || tgt < 0 || tgt >= V)
          throw new EngineInputError(
            `${name}: target ${tgt} at index ${t} is outside the vocabulary [0, ${V}) (use -1 for unscored positions)`,
          );
        rows.push(row);
        targets.push(tgt);
        seqOfRow.push(b);
      }
    }
    lastRows[b] = b * T + len - 1;
    rowStart.push(rows.length);
    if (s.image) {
      const f = s.image.features;
      let at: number[];
      if (s.image.positions) at = Array.from(s.image.positions);
      else if (lim.imageTokenId !== undefined) {
        at = [];
        for (let t = 0; t < len; t++) if (s.tokens[t] === lim.imageTokenId) at.push(t);
      } else throw new ImageRowsError(`${name}: image features given without positions and the engine has no imageTokenId to find them`);
      if (f.length % C !== 0)
        throw new ImageRowsError(
          `${name}: image features hold ${f.length} values, not a whole number of rows of width ${C} (the decoder's hidden size)`,
        );
      const count = f.length / C;
      if (count !== at.length)
        throw new ImageRowsError(
          `${name}: ${at.length} image token positions but ${count} image feature rows. The prompt's image tokens and the vision encoder's output must match (one row per image token).`,
        );
      const seen = new Set<number>();
      for (const p of at) {
        if (!Number.isInteger(p) || p < 0 || p >= len)
          throw new ImageRowsError(`${name}: image position ${p} is outside the sequence [0, ${len})`);
        if (seen.has(p)) throw new ImageRowsError(`${name}: image position ${p} appears twice`);
        seen.add(p);
        imagePos.push(b * T + p);
      }
      imageChunks.push(f);
    }
    imageStart.push(imagePos.length);
  }
  if (imagePos.length > lim.maxImageRows)
    throw new ImageRowsError(
      `${imagePos.length} image rows in the batch exceed the engine's maxImageRows ${lim.maxImageRows}. Create the engine with a larger maxImageRows or a smaller batch.`,
    );
  const imageRows = new Float32Array(imagePos.length * C);
  let off = 0;
  for (const f of imageChunks) {
    imageRows.set(f, off);
    off += f.length;
  }
  return {
    B,
    T,
    N,
    lengths,
    tokens,
    positions,
    keyMask,
    lastRows,
    rows: Int32Array.from(rows),
    targets: Int32Array.from(targets),
    seqOfRow: Int32Array.from(seqOfRow),
    rowStart,
    imagePos: Int32Array.from(imagePos),
    imageRows,
    imageStart,
  };
}

/** The plan's input buffers a pass reads (layout.ts `inputs`). */
export interface InputBuffers {
  tokens: GPUBuffer;
  positions: GPUBuffer;
  keyMask: GPUBuffer;
  imageRows: GPUBuffer;
  imagePos: GPUBuffer;
  rows: GPUBuffer;
  targets: GPUBuffer;
  slotOfRow: GPUBuffer;
  lastRows: GPUBuffer;
}

/**
 * Writes a packed batch into the input buffers. Recorded-but-unsubmitted work is flushed first:
 * queue writes land before any later submit, so they must not overtake dispatches that read the
 * previous contents.
 */
export function uploadBatch(ctx: GpuContext, inp: InputBuffers, pack: PackedBatch, slotOfRow: Int32Array = pack.seqOfRow): void {
  ctx.flush();
  const put = (b: GPUBuffer, data: ArrayBufferView) => {
    if (data.byteLength > 0) ctx.upload(b, data);
  };
  put(inp.tokens, pack.tokens);
  put(inp.positions, pack.positions);
  put(inp.keyMask, pack.keyMask);
  put(inp.lastRows, pack.lastRows);
  put(inp.rows, pack.rows);
  put(inp.targets, pack.targets);
  put(inp.slotOfRow, slotOfRow);
  put(inp.imagePos, pack.imagePos);
  put(inp.imageRows, pack.imageRows);
}
