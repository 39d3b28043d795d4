import { afterEach, describe, expect, it } from 'vitest';
import { normaliseDroppedPaths } from '../../src/model/blob-files';
import { loadModelBundle } from '../../src/model/bundle';
import { ModelFileMissingError } from '../../src/model/files';
import type { ModelSource } from '../../src/model/source';
import { buildTinyModel } from '../../scripts/tiny-model';
import { openBundleVisionEncoder, VisionEncoderUnavailableError } from '../../src/model/vision';
import { TINY_CONFIG_JSON, TINY_DECODER, buildTinyCheckpoint, randomBytes, startTestServer, type TestServer } from './fixtures';

const encode = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const ckpt = buildTinyCheckpoint();
const FP32_ONNX = randomBytes(300, 11);
const FP16_ONNX = randomBytes(150, 12);

function modelFolder(): Map<string, Uint8Array> {
  return new Map<string, Uint8Array>([
    ['config.json', encode(TINY_CONFIG_JSON)],
    ['tokenizer.json', encode({ model: { type: 'BPE' } })],
    ['tokenizer_config.json', encode({ chat_template: 'from tokenizer_config' })],
    ['model.safetensors', ckpt.file],
    ['onnx/vision_encoder.onnx', FP32_ONNX],
    ['onnx/vision_encoder_fp16.onnx', FP16_ONNX],
  ]);
}

function dropped(folder: Map<string, Uint8Array>, prefix = ''): ModelSource {
  return { kind: 'files', files: new Map([...folder].map(([p, b]) => [prefix + p, new Blob([b.slice()])])) };
}

async function missingError(p: Promise<unknown>): Promise<ModelFileMissingError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFileMissingError);
    return e as ModelFileMissingError;
  }
  throw new Error('expected a ModelFileMissingError');
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('loadModelBundle from a dropped folder', () => {
  it('loads config, tokenizer, template, decoder tensors and the fp16 vision encoder', async () => {
    const bundle = await loadModelBundle(dropped(modelFolder(), 'SmolVLM-tiny/'));
    expect(bundle.config.decoder).toEqual(TINY_DECODER);
    expect(bundle.config.vision?.imageSeqLen).toBe(4);
    expect(bundle.tokenizerJson).toEqual({ model: { type: 'BPE' } });
    expect(bundle.tokenizerConfigJson).toEqual({ chat_template: 'from tokenizer_config' });
    expect(bundle.chatTemplate).toBe('from tokenizer_config');
    expect(bundle.decoderPrefix).toBe('model.text_model.');
    expect([...bundle.decoderTensors.keys()]).toEqual([...ckpt.decoder.keys()]);
    for (const [name, e] of ckpt.decoder) expect(Buffer.from(bundle.decoderTensors.get(name)!.data).equals(Buffer.from(e.data))).toBe(true);
    expect(bundle.visionOnnxPath).toBe('onnx/vision_encoder_fp16.onnx');
    expect([...bundle.visionOnnx!]).toEqual([...FP16_ONNX]);
  });

  it('selects a variant, falls back to the plain export, or skips the encoder', async () => {
    expect((await loadModelBundle(dropped(modelFolder()), { visionEncoder: 'fp32' })).visionOnnxPath).toBe('onnx/vision_encoder.onnx');
    const plainOnly = modelFolder();
    plainOnly.delete('onnx/vision_encoder_fp16.onnx');
    const plain = await loadModelBundle(dropped(plainOnly));
    expect(plain.visionOnnxPath).toBe('onnx/vision_encoder.onnx');
    expect([...plain.visionOnnx!]).toEqual([...FP32_ONNX]);
    const none = await loadModelBundle(dropped(modelFolder()), { visionEncoder: 'none' });
    expect(none.visionOnnx).toBeUndefined();
    const error = await missingError(loadModelBundle(dropped(modelFolder()), { visionEncoder: 'q4f16' }));
    expect(error.message).toMatch(/dropped folder is missing onnx\/vision_encoder_q4f16.onnx/);
  });

  it('prefers chat_template.json over the template in tokenizer_config.json', async () => {
    const folder = modelFolder();
    folder.set('chat_template.json', encode({ chat_template: 'from chat_template.json' }));
    expect((await loadModelBundle(dropped(folder))).chatTemplate).toBe('from chat_template.json');
  });

  it('names every missing file and says what to drop', async () => {
    const folder = modelFolder();
    folder.delete('tokenizer.json');
    folder.delete('onnx/vision_encoder.onnx');
    folder.delete('onnx/vision_encoder_fp16.onnx');
    const error = await missingError(loadModelBundle(dropped(folder)));
    expect(error.paths).toEqual(['tokenizer.json', 'onnx/vision_encoder_fp16.onnx or onnx/vision_encoder.onnx']);
    expect(error.message).toMatch(
      /the dropped folder is missing tokenizer.json, onnx\/vision_encoder_fp16.onnx or onnx\/vision_encoder.onnx\. Drop the complete model folder/,
    );

    const noConfig = modelFolder();
    noConfig.delete('config.json');
    noConfig.delete('model.safetensors');
    noConfig.set('model.safetensors.index.json', encode({}));
    const e2 = await missingError(loadModelBundle(dropped(noConfig)));
    expect(e2.message).toMatch(/missing config.json, model.safetensors \(the weights are split into shards/);
  });

  it('needs no vision encoder for a plain Llama checkpoint', async () => {
    const folder = modelFolder();
    folder.set('config.json', encode({ architectures: ['LlamaForCausalLM'], ...TINY_CONFIG_JSON.text_config }));
    folder.delete('onnx/vision_encoder.onnx');
    folder.delete('onnx/vision_encoder_fp16.onnx');
    // The tensors keep their Idefics3 names here; the loader detects the prefix from the file.
    const bundle = await loadModelBundle(dropped(folder));
    expect(bundle.config.vision).toBeUndefined();
    expect(bundle.visionOnnx).toBeUndefined();
    expect(bundle.decoderTensors.size).toBe(ckpt.decoder.size);
  });
});

describe('normaliseDroppedPaths', () => {
  it('strips the folder name, ./ and backslashes', () => {
    const b = new Blob([]);
    const paths = (m: Map<string, Blob>) => [...normaliseDroppedPaths(m).keys()];
    expect(
      paths(
        new Map([
          ['a/b/config.json', b],
          ['a/b/onnx\\v.onnx', b],
        ]),
      ),
    ).toEqual(['config.json', 'onnx/v.onnx']);
    expect(
      paths(
        new Map([
          ['./config.json', b],
          ['x/y', b],
        ]),
      ),
    ).toEqual(['config.json', 'x/y']);
  });
});

describe('loadModelBundle from the hub', () => {
  it('never fetches the vision tensors of model.safetensors', async () => {
    const base = '/org/tiny/resolve/main/';
    server = await startTestServer(new Map([...modelFolder()].map(([p, b]) => [base + p, b])));
    const bundle = await loadModelBundle({ kind: 'hub', id: 'org/tiny', baseUrl: server.url });
    expect(bundle.decoderTensors.size).toBe(ckpt.decoder.size);
    expect(bundle.visionOnnxPath).toBe('onnx/vision_encoder_fp16.onnx');
    const weightGets = server.requests.filter((r) => r.method === 'GET' && r.path === `${base}model.safetensors`);
    expect(weightGets.reduce((s, r) => s + r.bodyBytes, 0)).toBe(ckpt.headerBytes + ckpt.decoderBytes);
    // With fp16 present, the plain fp32 encoder is never requested.
    expect(server.requests.filter((r) => r.path === `${base}onnx/vision_encoder.onnx`)).toHaveLength(0);
  });
});

describe('vision encoder exports of a real folder (the built-in model)', () => {
  const tiny = buildTinyModel();
  const folder = (change: (m: Map<string, Uint8Array>) => void): ModelSource => {
    const m = new Map(tiny);
    change(m);
    return dropped(m);
  };
  const garbage = (n: number) => new Uint8Array(n).map((_, i) => (i * 131 + 7) & 255);

  it('downloads the first present variant and keeps the rest as fallbacks, in order', async () => {
    const b = await loadModelBundle(
      folder(() => undefined),
      { visionEncoder: ['fp16', 'fp32', 'q4'] },
    );
    expect([b.visionVariant, b.visionOnnxPath, b.visionFallbacks]).toEqual(['fp16', 'onnx/vision_encoder_fp16.onnx', ['fp32', 'q4']]);
    expect(await b.readVisionEncoder('q4')).toBeUndefined();
    expect((await b.readVisionEncoder('fp32'))?.length).toBe(tiny.get('onnx/vision_encoder.onnx')!.length);
    expect(
      (
        await loadModelBundle(
          folder(() => undefined),
          { visionEncoder: 'fp32' },
        )
      ).visionFallbacks,
    ).toEqual([]);
    expect(b.preprocessorConfigJson).toMatchObject({ do_image_splitting: true, size: { longest_edge: 2048 } });
  });

  it('falls back from a damaged first variant to the next and says which runs', async () => {
    const b = await loadModelBundle(folder((m) => m.set('onnx/vision_encoder_fp16.onnx', garbage(5000))));
    expect(b.visionVariant).toBe('fp16');
    const status: string[] = [];
    const opened = await openBundleVisionEncoder(b, { backends: ['wasm'], onStatus: (s) => status.push(s) });
    try {
      expect([opened.variant, opened.path, opened.backend]).toEqual(['fp32', 'onnx/vision_encoder.onnx', 'wasm']);
      expect(opened.failures.map((f) => f.path)).toEqual(['onnx/vision_encoder_fp16.onnx']);
      expect(status[status.length - 1]).toBe('vision encoder: onnx/vision_encoder.onnx (fp32) on wasm');
      expect(opened.encoder.hidden).toBe(b.config.decoder.hiddenSize);
    } finally {
      await opened.encoder.dispose();
    }
  });

  it('names each file and what to add when every variant fails', async () => {
    const b = await loadModelBundle(
      folder((m) => {
        m.set('onnx/vision_encoder_fp16.onnx', garbage(5000));
        m.set('onnx/vision_encoder.onnx', garbage(300));
        m.set('onnx/vision_encoder_q4.onnx', garbage(64));
      }),
    );
    const err = await openBundleVisionEncoder(b, { backends: ['wasm'], source: 'the dropped folder' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VisionEncoderUnavailableError);
    const e = err as VisionEncoderUnavailableError;
    expect(e.failures.map((f) => f.path)).toEqual([
      'onnx/vision_encoder_fp16.onnx',
      'onnx/vision_encoder.onnx',
      'onnx/vision_encoder_q4.onnx',
    ]);
    expect(e.message).toMatch(/^no vision encoder export of the dropped folder could be loaded/);
    for (const f of e.failures) expect(e.message).toContain(`${f.path} on wasm: `);
    expect(e.message).toMatch(/Download the folder again .*put the plain float32 export onnx\/vision_encoder.onnx/);
  });
});
