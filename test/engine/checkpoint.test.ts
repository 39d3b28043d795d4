// The checkpoint table: names and shapes as transformers and PEFT write them (expected strings
// written out here, not derived from the table under test).
import { describe, expect, it } from 'vitest';
import {
  decoderNames,
  expectedWeights,
  LORA_PROJECTIONS,
  LORA_TARGETS,
  loraName,
  parsePeftKey,
  peftKey,
  SMOLVLM_NAMES,
  targetOfProjection,
  targetShape,
  targetsOfProjections,
  weightName,
} from '../../src/engine/checkpoint';
import { ConfigError, SMOLVLM_256M_DECODER } from '../../src/engine/config';

const MODULES = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
];

describe('the checkpoint table', () => {
  it('names the projections as Hugging Face does, in one order', () => {
    expect(LORA_PROJECTIONS).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    LORA_TARGETS.forEach((t, i) => expect(weightName.linear(SMOLVLM_NAMES, 4, t)).toBe(`model.text_model.layers.4.${MODULES[i]}.weight`));
    expect(LORA_PROJECTIONS.map(targetOfProjection)).toEqual([...LORA_TARGETS]);
    expect(targetOfProjection('fc1')).toBeUndefined();
    expect(targetsOfProjections(['v_proj', 'q_proj'])).toEqual(['v', 'q']);
    expect(() => targetsOfProjections(['q_proj', 'qkv_proj'])).toThrow(ConfigError);
    expect(() => targetsOfProjections(['qkv_proj'])).toThrow(/unknown LoRA target "qkv_proj"; choose from q_proj, k_proj/);
  });

  it("gives SmolVLM-256M's grouped-query shapes", () => {
    const s = (t: (typeof LORA_TARGETS)[number]) => targetShape(SMOLVLM_256M_DECODER, t);
    expect([s('q'), s('k'), s('v'), s('o'), s('gate'), s('up'), s('down')]).toEqual([
      { IN: 576, OUT: 576 },
      { IN: 576, OUT: 192 },
      { IN: 576, OUT: 192 },
      { IN: 576, OUT: 576 },
      { IN: 576, OUT: 1536 },
      { IN: 576, OUT: 1536 },
      { IN: 1536, OUT: 576 },
    ]);
    const w = expectedWeights(SMOLVLM_256M_DECODER);
    expect(w.slice(0, 10).map((x) => x.name)).toEqual([
      'model.text_model.embed_tokens.weight',
      'model.text_model.layers.0.input_layernorm.weight',
      ...MODULES.map((m) => `model.text_model.layers.0.${m}.weight`),
      'model.text_model.layers.0.post_attention_layernorm.weight',
    ]);
    expect(w.slice(-2)).toEqual([
      { name: 'model.text_model.norm.weight', shape: [576], role: 'norm' },
      { name: 'lm_head.weight', shape: [49280, 576], role: 'lmHead' },
    ]);
  });

  it("names adapter matrices as the engine and PEFT's files do, and reads PEFT keys back", () => {
    expect(loraName('model.text_model.', 2, 'gate', 'A')).toBe('model.text_model.layers.2.mlp.gate_proj.lora_A.weight');
    expect(peftKey('model.', 11, 'o', 'B')).toBe('base_model.model.model.layers.11.self_attn.o_proj.lora_B.weight');
    for (const prefix of ['model.text_model.', 'model.'])
      for (const target of LORA_TARGETS)
        for (const kind of ['A', 'B'] as const)
          expect(parsePeftKey(peftKey(prefix, 7, target, kind))).toEqual({ prefix, layer: 7, target, kind });
    expect(parsePeftKey(peftKey(decoderNames('model.').prefix, 0, 'q', 'A'))!.prefix).toBe('model.');
    // Not decoder projections: the vision tower, a projection in the wrong block, other PEFT tensors.
    expect(parsePeftKey('base_model.model.model.vision_model.encoder.layers.0.mlp.fc1.lora_A.weight')).toBeNull();
    expect(parsePeftKey('base_model.model.model.text_model.layers.0.mlp.q_proj.lora_A.weight')).toBeNull();
    expect(parsePeftKey('base_model.model.model.text_model.layers.0.self_attn.q_proj.lora_magnitude_vector')).toBeNull();
    expect(parsePeftKey('model.text_model.layers.0.self_attn.q_proj.lora_A.weight')).toBeNull();
  });
});
