import { describe, expect, it } from 'vitest';
import { decoderNames, expectedWeights } from '../../src/engine/checkpoint';
import { SMOLVLM_256M_DECODER, makeDecoderConfig } from '../../src/engine/config';
import { SafetensorsError, readSafetensors } from '../../src/model/safetensors';
import { ModelWeightsError, checkDecoderTensors, findDecoderPrefix, planRangeRequests } from '../../src/model/weights';
import { TINY_DECODER, buildSafetensorsFile, buildTinyCheckpoint, randomBytes, type RawEntry } from './fixtures';

describe('expectedWeights', () => {
  it('lists SmolVLM-256M’s decoder with grouped-query shapes', () => {
    const specs = expectedWeights(SMOLVLM_256M_DECODER);
    expect(specs).toHaveLength(1 + 30 * 9 + 1 + 1);
    const byName = new Map(specs.map((s) => [s.name, s.shape]));
    expect(byName.get('model.text_model.embed_tokens.weight')).toEqual([49280, 576]);
    expect(byName.get('model.text_model.layers.29.self_attn.q_proj.weight')).toEqual([576, 576]);
    expect(byName.get('model.text_model.layers.0.self_attn.k_proj.weight')).toEqual([192, 576]);
    expect(byName.get('model.text_model.layers.0.self_attn.v_proj.weight')).toEqual([192, 576]);
    expect(byName.get('model.text_model.layers.0.self_attn.o_proj.weight')).toEqual([576, 576]);
    expect(byName.get('model.text_model.layers.0.mlp.down_proj.weight')).toEqual([576, 1536]);
    expect(byName.get('model.text_model.layers.0.mlp.gate_proj.weight')).toEqual([1536, 576]);
    expect(byName.get('model.text_model.norm.weight')).toEqual([576]);
    expect(specs[specs.length - 1]).toEqual({ name: 'lm_head.weight', shape: [49280, 576], role: 'lmHead' });
    const params = specs.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
    expect(params).toBe(162_974_016); // ~106M in the layers plus 28.4M each for embeddings and lm_head
  });

  it('omits lm_head when tied and uses the Llama prefix', () => {
    const tied = makeDecoderConfig({ ...TINY_DECODER, tieWordEmbeddings: true });
    const specs = expectedWeights(tied, decoderNames('model.'));
    expect(specs.map((s) => s.name)).not.toContain('lm_head.weight');
    expect(specs[0]!.name).toBe('model.embed_tokens.weight');
    expect(specs).toHaveLength(1 + 2 * 9 + 1);
  });
});

describe('findDecoderPrefix', () => {
  it('tells Idefics3 from Llama naming', () => {
    expect(findDecoderPrefix(['lm_head.weight', 'model.text_model.embed_tokens.weight', 'model.vision_model.x'])).toBe('model.text_model.');
    expect(findDecoderPrefix(['model.embed_tokens.weight', 'model.norm.weight'])).toBe('model.');
    expect(() => findDecoderPrefix(['transformer.wte.weight'])).toThrow(ModelWeightsError);
    expect(() => findDecoderPrefix(['transformer.wte.weight'])).toThrow(/model.safetensors has no decoder embedding/);
  });
});

describe('checkDecoderTensors', () => {
  const file = 'model.safetensors';

  function withEntries(edit: (entries: RawEntry[]) => RawEntry[]) {
    const entries = expectedWeights(TINY_DECODER).map((s, i) => ({
      name: s.name,
      dtype: 'BF16',
      shape: s.shape,
      data: randomBytes(2 * s.shape.reduce((a, b) => a * b, 1), i),
    }));
    return readSafetensors(buildSafetensorsFile(edit(entries)), file).header;
  }

  it('accepts the tiny checkpoint, whose vision tower holds an I64 tensor', () => {
    const { file: bytes } = buildTinyCheckpoint();
    const header = readSafetensors(bytes, file).header;
    expect(header.unsupportedTensors.has('model.vision_model.embeddings.position_ids')).toBe(true);
    const infos = checkDecoderTensors(header, TINY_DECODER);
    expect(infos.map((i) => i.name)).toEqual(expectedWeights(TINY_DECODER).map((s) => s.name));
  });

  it('names a missing tensor', () => {
    const header = withEntries((e) => e.filter((t) => t.name !== 'model.text_model.layers.1.mlp.up_proj.weight'));
    expect(() => checkDecoderTensors(header, TINY_DECODER)).toThrow(/has no tensor "model.text_model.layers.1.mlp.up_proj.weight"/);
    const noHead = withEntries((e) => e.filter((t) => t.name !== 'lm_head.weight'));
    expect(() => checkDecoderTensors(noHead, TINY_DECODER)).toThrow(/"lm_head.weight" \(config.json says tie_word_embeddings is false/);
  });

  it('names a tensor of the wrong shape', () => {
    const header = withEntries((e) =>
      e.map((t) => (t.name.endsWith('layers.0.self_attn.k_proj.weight') ? { ...t, shape: [8, 4], data: t.data.subarray(0, 64) } : t)),
    );
    expect(() => checkDecoderTensors(header, TINY_DECODER)).toThrow(
      /"model.text_model.layers.0.self_attn.k_proj.weight" has shape \[8,4\] but config.json implies \[4,8\]/,
    );
  });

  it('refuses a decoder tensor of an unsupported dtype', () => {
    const header = withEntries((e) => e.map((t) => (t.name === 'model.text_model.norm.weight' ? { ...t, dtype: 'F64', shape: [2] } : t)));
    expect(() => checkDecoderTensors(header, TINY_DECODER)).toThrow(SafetensorsError);
    expect(() => checkDecoderTensors(header, TINY_DECODER)).toThrow(/"model.text_model.norm.weight" has dtype F64; only BF16, F16 and F32/);
  });
});

describe('planRangeRequests', () => {
  it('joins only touching tensors, up to the size cap', () => {
    const t = (name: string, begin: number, end: number) => ({ name, dtype: 'BF16' as const, shape: [(end - begin) / 2], begin, end });
    const pieces = planRangeRequests([t('c', 20, 30), t('a', 0, 10), t('b', 10, 20), t('d', 40, 50), t('e', 50, 90)], 100, 30);
    expect(pieces.map((p) => [p.start, p.end, p.tensors.map((x) => x.name).join('')])).toEqual([
      [100, 130, 'abc'],
      [140, 150, 'd'], // gap before d; e would make the piece 50 bytes > 30
      [150, 190, 'e'],
    ]);
  });
});
