// The committed pretrained weights (scripts/pretrain/tiny-pretrained.safetensors) and how the
// fixture applies them: small, every trained tensor in place in both the safetensors file and the
// ONNX vision encoder, untrained vocabulary rows exactly the seed's.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeOnnxModel } from '../../scripts/onnx-writer';
import {
  applyPretrained,
  buildTinyModel,
  PRETRAINED_FILE,
  PretrainedWeightsError,
  readPretrained,
  tinyTextTensors,
  TINY,
} from '../../scripts/tiny-model';
import { readSafetensors, writeSafetensors } from '../../src/model/safetensors';
import { bf16ToF32, tensorToF32 } from '../../src/util/dtype';

const f32 = (file: ReturnType<typeof readSafetensors>, name: string) => tensorToF32(file.tensor(name));

describe('pretrained built-in model', () => {
  it('is committed, small, and lists its trained vocabulary rows', () => {
    expect(existsSync(PRETRAINED_FILE)).toBe(true);
    expect(statSync(PRETRAINED_FILE).size).toBeLessThan(3_000_000);
    const p = readPretrained(new Uint8Array(readFileSync(PRETRAINED_FILE)));
    expect(p.rowIds.length).toBeGreaterThan(50);
    expect(p.rowIds.length).toBeLessThan(1000);
    expect(p.tensors.get('lm_head.weight:rows')!.shape).toEqual([p.rowIds.length, TINY.text.hiddenSize]);
    expect(p.tensors.has('model.vision_model.embeddings.patch_embedding.weight')).toBe(true);
    expect(p.tensors.has('model.text_model.layers.0.self_attn.q_proj.weight')).toBe(true);
    // The benchmark's aim for the pretrained model: object recall >= 0.8 on the held-out validation scenes.
    expect(JSON.parse(p.metadata['validation']).recall).toBeGreaterThanOrEqual(0.8);
  });

  it('the fixture carries the learned tensors; other vocabulary rows are the seed', () => {
    const p = readPretrained(new Uint8Array(readFileSync(PRETRAINED_FILE)));
    const trained = readSafetensors(buildTinyModel().get('model.safetensors')!, 'trained');
    const seed = readSafetensors(buildTinyModel({ pretrained: false }).get('model.safetensors')!, 'seed');
    const C = TINY.text.hiddenSize;
    for (const name of ['lm_head.weight', 'model.text_model.embed_tokens.weight']) {
      const a = f32(trained, name);
      const b = f32(seed, name);
      const rows = p.tensors.get(`${name}:rows`)!.data;
      const trainedIds = new Set(p.rowIds);
      p.rowIds.forEach((id, k) => expect(a.subarray(id * C, (id + 1) * C)).toEqual(rows.subarray(k * C, (k + 1) * C)));
      for (const id of [0, 5, 1000, 30000, 49189, 49278])
        if (!trainedIds.has(id)) expect(a.subarray(id * C, (id + 1) * C)).toEqual(b.subarray(id * C, (id + 1) * C));
    }
    const q = 'model.text_model.layers.1.self_attn.q_proj.weight';
    expect(f32(trained, q)).toEqual(p.tensors.get(q)!.data);
    expect(f32(trained, q)).not.toEqual(f32(seed, q));
  });

  it('the ONNX vision encoder holds the learned vision tower and connector', () => {
    const files = buildTinyModel();
    const st = readSafetensors(files.get('model.safetensors')!, 'trained');
    const onnx = decodeOnnxModel(files.get('onnx/vision_encoder.onnx')!);
    const init = (name: string) => {
      const t = onnx.graph.initializer.find((x) => x.name === name)!;
      return new Float32Array(t.raw_data.buffer.slice(t.raw_data.byteOffset, t.raw_data.byteOffset + t.raw_data.byteLength));
    };
    const raw = st.tensor('model.vision_model.embeddings.patch_embedding.weight').data;
    expect(init('patch_embedding.weight')).toEqual(
      bf16ToF32(new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))),
    );
    expect(init('position_embedding.weight')).toEqual(f32(st, 'model.vision_model.embeddings.position_embedding.weight'));
    const seedOnnx = decodeOnnxModel(buildTinyModel({ pretrained: false }).get('onnx/vision_encoder.onnx')!);
    const seedPatch = seedOnnx.graph.initializer.find((x) => x.name === 'patch_embedding.weight')!;
    expect(
      Buffer.from(seedPatch.raw_data).equals(
        Buffer.from(onnx.graph.initializer.find((x) => x.name === 'patch_embedding.weight')!.raw_data),
      ),
    ).toBe(false);
  });

  it('rejects a file whose shapes do not fit the model, naming the tensor', () => {
    const bad = writeSafetensors([{ name: 'model.text_model.norm.weight', dtype: 'F32', shape: [3], data: new Uint8Array(12) }]);
    expect(() => applyPretrained(tinyTextTensors(), readPretrained(bad, 'bad.safetensors'))).toThrow(PretrainedWeightsError);
    expect(() => applyPretrained(tinyTextTensors(), readPretrained(bad, 'bad.safetensors'))).toThrow(
      /model\.text_model\.norm\.weight.*npm run pretrain/,
    );
  });
});
