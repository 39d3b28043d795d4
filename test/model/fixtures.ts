// Shared fixtures for the model-loading tests: a tiny Idefics3-like checkpoint written by hand
// (independently of writeSafetensors) and a local HTTP server that honours Range and counts bytes.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expectedWeights } from '../../src/engine/checkpoint';
import { makeDecoderConfig, type DecoderConfig } from '../../src/engine/config';
import { Rng } from '../../src/util/rng';

export const TINY_DECODER: DecoderConfig = makeDecoderConfig({
  hiddenSize: 8,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 1,
  intermediateSize: 12,
  vocabSize: 16,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  maxPositions: 64,
  tieWordEmbeddings: false,
});

/** config.json for TINY_DECODER with a vision tower (32 / 8 = 4 x 4 patches, shuffled by 2 -> 4 image tokens). */
export const TINY_CONFIG_JSON = {
  architectures: ['Idefics3ForConditionalGeneration'],
  image_token_id: 15,
  scale_factor: 2,
  tie_word_embeddings: false,
  text_config: {
    hidden_size: 8,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 12,
    vocab_size: 16,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    max_position_embeddings: 64,
    eos_token_id: 14,
    pad_token_id: 2,
  },
  vision_config: { image_size: 32, patch_size: 8, hidden_size: 16 },
};

export interface RawEntry {
  name: string;
  dtype: string; // any safetensors dtype, also those the reader refuses to decode
  shape: number[];
  data: Uint8Array;
}

/** Writes the format by hand: u64 header length, JSON header (space-padded), data in entry order. */
export function buildSafetensorsFile(entries: RawEntry[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.data.length] };
    offset += e.data.length;
  }
  return buildFromHeader(
    header,
    entries.map((e) => e.data),
  );
}

/** A file from any header object (possibly malformed) followed by the given data. */
export function buildFromHeader(header: unknown, data: Uint8Array[] = [], headerText?: string): Uint8Array {
  let json = headerText ?? JSON.stringify(header);
  while (new TextEncoder().encode(json).length % 8 !== 0) json += ' ';
  const jsonBytes = new TextEncoder().encode(json);
  const dataLength = data.reduce((s, d) => s + d.length, 0);
  const out = new Uint8Array(8 + jsonBytes.length + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  out.set(jsonBytes, 8);
  let pos = 8 + jsonBytes.length;
  for (const d of data) {
    out.set(d, pos);
    pos += d.length;
  }
  return out;
}

export function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

export interface TinyCheckpoint {
  file: Uint8Array;
  decoder: Map<string, RawEntry>; // the decoder's tensors (bf16)
  decoderBytes: number;
  headerBytes: number; // 8 + header length
}

/**
 * A checkpoint laid out like SmolVLM's (entries sorted by name, so lm_head comes first, then the
 * connector, the text model, and the vision model), where vision tensors make up most of the file.
 * Holds an I64 tensor in the vision tower, which the decoder never needs.
 */
export function buildTinyCheckpoint(cfg: DecoderConfig = TINY_DECODER, seed = 1): TinyCheckpoint {
  const entries: RawEntry[] = [];
  const decoder = new Map<string, RawEntry>();
  let s = seed;
  for (const spec of expectedWeights(cfg)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const e = { name: spec.name, dtype: 'BF16', shape: spec.shape, data: randomBytes(2 * n, s++) };
    entries.push(e);
    decoder.set(e.name, e);
  }
  entries.push(
    {
      name: 'model.connector.modality_projection.proj.weight',
      dtype: 'BF16',
      shape: [cfg.hiddenSize, 64],
      data: randomBytes(2 * cfg.hiddenSize * 64, s++),
    },
    {
      name: 'model.vision_model.embeddings.patch_embedding.weight',
      dtype: 'F32',
      shape: [64, 3, 8, 8],
      data: randomBytes(4 * 64 * 3 * 64, s++),
    },
    { name: 'model.vision_model.embeddings.position_ids', dtype: 'I64', shape: [1, 16], data: randomBytes(8 * 16, s++) },
    { name: 'model.vision_model.encoder.layers.0.mlp.fc1.weight', dtype: 'F32', shape: [64, 16], data: randomBytes(4 * 64 * 16, s++) },
  );
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  const file = buildSafetensorsFile(entries, { format: 'pt' });
  const headerBytes = 8 + Number(new DataView(file.buffer).getBigUint64(0, true));
  const decoderBytes = [...decoder.values()].reduce((sum, e) => sum + e.data.length, 0);
  return { file, decoder, decoderBytes, headerBytes };
}

// ---- HTTP server -----------------------------------------------------------------------------

export interface ServedRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  bodyBytes: number;
}

export interface ServerBehaviour {
  refuseRanges?: boolean; // answer 200 with the whole file to Range requests
  /** Announce the full Content-Length but send only this many bytes, then drop the connection. */
  truncateAt?: number;
}

export interface TestServer {
  url: string; // http://127.0.0.1:PORT
  requests: ServedRequest[];
  behaviour: ServerBehaviour;
  bodyBytes(): number; // body bytes sent for all GET requests
  close(): Promise<void>;
}

/** Serves `files` (URL path -> bytes) on 127.0.0.1 with a random port; honours single byte ranges. */
export async function startTestServer(files: Map<string, Uint8Array>, behaviour: ServerBehaviour = {}): Promise<TestServer> {
  const requests: ServedRequest[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const range = req.headers.range;
    const record: ServedRequest = { method: req.method ?? 'GET', path, range, status: 0, bodyBytes: 0 };
    requests.push(record);
    const send = (status: number, body: Uint8Array, headers: Record<string, string | number> = {}) => {
      record.status = status;
      const declared = body.length;
      const sent =
        req.method === 'HEAD' ? new Uint8Array(0) : behaviour.truncateAt !== undefined ? body.subarray(0, behaviour.truncateAt) : body;
      record.bodyBytes = sent.length;
      res.writeHead(status, { 'content-length': declared, 'accept-ranges': behaviour.refuseRanges ? 'none' : 'bytes', ...headers });
      if (sent.length < declared && req.method !== 'HEAD') {
        res.write(sent, () => res.destroy()); // the client sees the connection drop mid-body
      } else {
        res.end(req.method === 'HEAD' ? undefined : sent);
      }
    };
    const file = files.get(path);
    if (!file) return send(404, new TextEncoder().encode('not found'));
    const m = range?.match(/^bytes=(\d+)-(\d+)$/);
    if (!m || behaviour.refuseRanges) return send(200, file);
    const start = Number(m[1]);
    const last = Math.min(Number(m[2]), file.length - 1);
    if (start >= file.length) return send(416, new Uint8Array(0), { 'content-range': `bytes */${file.length}` });
    // A HEAD with Range has no body; content-length of the piece is still announced.
    return send(206, file.subarray(start, last + 1), { 'content-range': `bytes ${start}-${last}/${file.length}` });
  };
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    behaviour,
    bodyBytes: () => requests.filter((r) => r.method === 'GET').reduce((s, r) => s + r.bodyBytes, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
