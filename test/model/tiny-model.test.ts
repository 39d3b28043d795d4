import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeOnnxModel } from '../../scripts/onnx-writer';
import { buildTinyModel, sha256, TINY, writeTinyModel } from '../../scripts/tiny-model';
import { expectedWeights } from '../../src/engine/checkpoint';
import { parseModelConfig, stopTokenIds } from '../../src/model/config';
import { readSafetensors } from '../../src/model/safetensors';
import { loadModelBundle } from '../../src/model/bundle';
import { ChatTokenizer } from '../../src/model/tokenizer';
import { VisionEncoder } from '../../src/model/vision';
import { checkDecoderTensors } from '../../src/model/weights';
import { bf16ToF32, tensorToF32 } from '../../src/util/dtype';

const EXPECTED_FILES = [
  'added_tokens.json',
  'chat_template.json',
  'config.json',
  'generation_config.json',
  'merges.txt',
  'model.safetensors',
  'onnx/vision_encoder.onnx',
  'onnx/vision_encoder_fp16.onnx',
  'preprocessor_config.json',
  'processor_config.json',
  'special_tokens_map.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'vocab.json',
];

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

describe('tiny model folder', () => {
  let dir: string;
  let written: { path: string; bytes: number; sha256: string }[];
  const read = (p: string) => readFile(join(dir, p));
  const readJson = async (p: string) => JSON.parse(await readFile(join(dir, p), 'utf8'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tiny-model-'));
    written = await writeTinyModel(dir);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes exactly the hub file names', async () => {
    expect(await listFiles(dir)).toEqual(EXPECTED_FILES);
    for (const f of written) expect((await stat(join(dir, f.path))).size).toBe(f.bytes);
  });

  it('is deterministic: a second build has the same bytes', async () => {
    const again = buildTinyModel();
    for (const f of written) expect(sha256(again.get(f.path)!), f.path).toBe(f.sha256);
    for (const f of written) expect(sha256(new Uint8Array(await read(f.path))), f.path).toBe(f.sha256);
  });

  it('config.json parses as the Idefics3 layout', async () => {
    const cfg = parseModelConfig(await readJson('config.json'));
    expect(cfg.architecture).toBe('Idefics3ForConditionalGeneration');
    expect(cfg.decoder).toMatchObject({
      hiddenSize: 64,
      numLayers: 4,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      intermediateSize: 128,
      vocabSize: 49280,
      ropeTheta: 100000,
      rmsNormEps: 1e-5,
      tieWordEmbeddings: false,
    });
    expect(cfg.vision).toEqual({ imageSize: 512, patchSize: 32, hiddenSize: 96, scaleFactor: 2, imageSeqLen: 64 });
    expect(cfg.imageTokenId).toBe(49190);
    expect(cfg.eosTokenId).toBe(49279);
    expect(cfg.padTokenId).toBe(2);
    expect((await readJson('processor_config.json')).image_seq_len).toBe(cfg.vision!.imageSeqLen);
    expect((await readJson('generation_config.json')).eos_token_id).toBe(49279);
    const pre = await readJson('preprocessor_config.json');
    // SmolVLM-256M-Instruct's own values: splitting on, longest edge 2048, 512-pixel tiles, Lanczos.
    expect(pre).toEqual({
      do_convert_rgb: true,
      do_image_splitting: true,
      do_normalize: true,
      do_pad: true,
      do_rescale: true,
      do_resize: true,
      image_mean: [0.5, 0.5, 0.5],
      image_processor_type: 'Idefics3ImageProcessor',
      image_std: [0.5, 0.5, 0.5],
      max_image_size: { longest_edge: 512 },
      processor_class: 'Idefics3Processor',
      resample: 1,
      rescale_factor: 0.00392156862745098,
      size: { longest_edge: 2048 },
    });
    expect(pre.max_image_size.longest_edge).toBe(cfg.vision!.imageSize);
  });

  it('model.safetensors holds bf16 decoder tensors under the real names, plus vision tensors', async () => {
    const file = readSafetensors(new Uint8Array(await read('model.safetensors')), 'model.safetensors');
    expect(file.header.metadata).toEqual({ format: 'pt' });
    const cfg = parseModelConfig(await readJson('config.json'));
    expect(checkDecoderTensors(file.header, cfg.decoder)).toHaveLength(expectedWeights(cfg.decoder).length);
    for (const t of file.header.tensors.values()) expect(t.dtype, t.name).toBe('BF16');
    expect(file.header.tensors.get('model.connector.modality_projection.proj.weight')?.shape).toEqual([64, 384]);
    expect(file.header.tensors.get('model.vision_model.embeddings.patch_embedding.weight')?.shape).toEqual([96, 3, 32, 32]);
    expect([...file.header.tensors.keys()].filter((n) => n.startsWith('model.vision_model.')).length).toBeGreaterThan(10);

    // Sensible scales of the seed's initialisation (the seed-only build: `npm run pretrain`
    // trains from it): norms near 1, matrices small and centred; nothing non-finite in either.
    const seedFile = readSafetensors(buildTinyModel({ pretrained: false }).get('model.safetensors')!, 'seed model.safetensors');
    for (const name of file.header.tensors.keys())
      for (const v of tensorToF32(file.tensor(name))) if (!Number.isFinite(v)) expect.fail(`${name} holds ${v}`);
    const stats = (name: string) => {
      const a = tensorToF32(seedFile.tensor(name));
      let s = 0;
      let s2 = 0;
      for (const v of a) {
        expect(Number.isFinite(v)).toBe(true);
        s += v;
        s2 += v * v;
      }
      const mean = s / a.length;
      return { mean, std: Math.sqrt(s2 / a.length - mean * mean) };
    };
    const norm = stats('model.text_model.layers.1.input_layernorm.weight');
    expect(Math.abs(norm.mean - 1)).toBeLessThan(0.05);
    const q = stats('model.text_model.layers.0.self_attn.q_proj.weight');
    expect(Math.abs(q.mean)).toBeLessThan(0.01);
    expect(q.std).toBeGreaterThan(0.05);
    expect(q.std).toBeLessThan(0.25);
    // Different tensors get different streams.
    expect(stats('model.text_model.layers.0.self_attn.k_proj.weight').mean).not.toBe(
      stats('model.text_model.layers.1.self_attn.k_proj.weight').mean,
    );
  });

  it('the ONNX tower carries the same (bf16-exact) weights as the safetensors vision tensors', async () => {
    const file = readSafetensors(new Uint8Array(await read('model.safetensors')), 'model.safetensors');
    const onnx = decodeOnnxModel(new Uint8Array(await read('onnx/vision_encoder.onnx')));
    const init = onnx.graph.initializer.find((t) => t.name === 'patch_embedding.weight')!;
    expect(init.dims).toEqual([96, 3, 32, 32]);
    const raw = init.raw_data;
    const fromOnnx = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const st = file.tensor('model.vision_model.embeddings.patch_embedding.weight').data;
    const fromSt = bf16ToF32(new Uint16Array(st.buffer.slice(st.byteOffset, st.byteOffset + st.byteLength)));
    expect(fromOnnx).toEqual(fromSt);
  });

  it('vocab.json, merges.txt and added_tokens.json say what tokenizer.json says', async () => {
    const tj = await readJson('tokenizer.json');
    const vocabText = (await read('vocab.json')).toString('utf8');
    expect(vocabText.startsWith('{"<|endoftext|>":0,"<|im_start|>":1,')).toBe(true); // id order, compact
    const vocab: Record<string, number> = JSON.parse(vocabText);
    expect(vocab).toEqual(tj.model.vocab);
    const ids = Object.values(vocab);
    expect(new Set(ids).size).toBe(49152);
    expect(Math.max(...ids)).toBe(49151);
    const merges = (await read('merges.txt')).toString('utf8').split('\n');
    expect(merges[0]).toBe('#version: 0.2');
    expect(merges.at(-1)).toBe('');
    expect(merges.slice(1, -1)).toEqual(tj.model.merges);
    const added: Record<string, number> = await readJson('added_tokens.json');
    const fromTokenizer = Object.fromEntries(
      tj.added_tokens.filter((t: { id: number }) => t.id >= 49152).map((t: { id: number; content: string }) => [t.content, t.id]),
    );
    expect(added).toEqual(fromTokenizer);
    expect(Object.keys(added)).toEqual(Object.keys(added).sort());
    expect(Object.keys(added)).toHaveLength(128);
    expect([added['<global-img>'], added['<image>'], added['<end_of_utterance>']]).toEqual([49152, 49190, 49279]);
  });

  it('tokenizer files carry the SmolVLM special tokens and chat template', async () => {
    const tj = await readJson('tokenizer.json');
    const tc = await readJson('tokenizer_config.json');
    const ct = (await readJson('chat_template.json')).chat_template;
    expect(ct).toBe(tc.chat_template);
    expect(ct).toHaveLength(403);
    expect(tc).toMatchObject({ bos_token: '<|im_start|>', eos_token: '<end_of_utterance>', pad_token: '<|im_end|>' });
    expect(Object.keys(tj.model.vocab)).toHaveLength(49152);
    const tok = ChatTokenizer.fromJson(tj, tc, ct);
    expect([tok.tokenToId('<|im_start|>'), tok.padId, tok.tokenToId('<global-img>'), tok.tokenToId('<row_4_col_4>')]).toEqual([
      1, 2, 49152, 49174,
    ]);
    expect([tok.fakeImageTokenId, tok.imageTokenId, tok.eosId]).toEqual([49189, 49190, 49279]);
    expect(tok.tokenToId('<row_1_col_1>')).toBe(49153);
  });

  it('loads through loadModelBundle and runs: prompt ids and image features line up', async () => {
    const files = new Map<string, Blob>();
    for (const p of EXPECTED_FILES) files.set(p, new Blob([await read(p)]));
    const bundle = await loadModelBundle({ kind: 'files', files });
    // Like the hub repository, the folder has an fp16 export, which the loader takes first.
    expect(bundle.visionOnnxPath).toBe('onnx/vision_encoder_fp16.onnx');
    expect(bundle.visionFallbacks[0]).toBe('fp32');
    expect(bundle.decoderPrefix).toBe('model.text_model.');
    expect(bundle.generationConfig).toEqual({ eosTokenIds: [49279] });
    expect(stopTokenIds(bundle.config, bundle.generationConfig, 49279)).toEqual([49279]);
    expect([...bundle.decoderTensors.keys()].some((n) => n.includes('vision_model'))).toBe(false);
    const tok = ChatTokenizer.fromJson(bundle.tokenizerJson, bundle.tokenizerConfigJson, bundle.chatTemplate);
    const ex = tok.buildExample('What is in the picture?', 'A dog.', bundle.config.vision!.imageSeqLen);
    const enc = await VisionEncoder.create(bundle.visionOnnx!, { executionProvider: 'wasm', numThreads: 1 });
    try {
      const feats = await enc.encode(new Float32Array(3 * 512 * 512).fill(0.25));
      expect(feats.length).toBe(ex.imagePositions.length * bundle.config.decoder.hiddenSize);
      expect(enc.hidden).toBe(TINY.text.hiddenSize);
      expect([enc.inputType, enc.outputType]).toEqual(['float16', 'float16']);
    } finally {
      await enc.dispose();
    }
  });
});
