import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildTinyModel } from '../../scripts/tiny-model';
import { ConfigError, SMOLVLM_256M_DECODER } from '../../src/engine/config';
import { ModelConfigError, parseGenerationConfig, parseModelConfig, stopTokenIds } from '../../src/model/config';

/** The shape of HuggingFaceTB/SmolVLM-256M-Instruct's config.json (fields we do not read trimmed). */
function smolVlmConfig(): Record<string, any> {
  return {
    architectures: ['Idefics3ForConditionalGeneration'],
    image_seq_len: 64,
    image_token_id: 49190,
    model_type: 'idefics3',
    pad_token_id: 128002, // Idefics3Config's default, outside this vocabulary
    scale_factor: 4,
    text_config: {
      architectures: ['VLlama3ForCausalLM'],
      head_dim: 64,
      hidden_size: 576,
      intermediate_size: 1536,
      is_llama_config: true,
      max_position_embeddings: 8192,
      model_type: 'llama',
      num_attention_heads: 9,
      num_hidden_layers: 30,
      num_key_value_heads: 3,
      pad_token_id: 2,
      rms_norm_eps: 1e-5,
      rope_interleaved: false,
      rope_theta: 100000,
      torch_dtype: 'bfloat16',
      vocab_size: 49280,
    },
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    vision_config: {
      hidden_size: 768,
      image_size: 512,
      intermediate_size: 3072,
      model_type: 'idefics3',
      num_attention_heads: 12,
      patch_size: 16,
    },
    vocab_size: 49280,
  };
}

function llamaConfig(): Record<string, any> {
  return {
    architectures: ['LlamaForCausalLM'],
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    rope_theta: 100000,
    rms_norm_eps: 1e-5,
    max_position_embeddings: 8192,
    tie_word_embeddings: true,
    hidden_act: 'silu',
    bos_token_id: 0,
    eos_token_id: [0, 1],
    rope_scaling: null,
  };
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelConfigError);
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ModelConfigError');
}

describe('parseModelConfig', () => {
  it('reads a SmolVLM (Idefics3) config', () => {
    const cfg = parseModelConfig(smolVlmConfig());
    expect(cfg.architecture).toBe('Idefics3ForConditionalGeneration');
    expect(cfg.decoder).toEqual(SMOLVLM_256M_DECODER);
    expect(cfg.vision).toEqual({ imageSize: 512, patchSize: 16, hiddenSize: 768, scaleFactor: 4, imageSeqLen: 64 });
    expect(cfg.imageTokenId).toBe(49190);
    expect(cfg.padTokenId).toBe(2); // the text_config id, not the out-of-vocabulary 128002
    expect(cfg.eosTokenId).toBeUndefined();
  });

  it('applies LlamaConfig defaults to omitted text_config fields and takes vocab_size from the top', () => {
    const json = smolVlmConfig();
    for (const k of ['rope_theta', 'rms_norm_eps', 'max_position_embeddings', 'num_key_value_heads', 'head_dim', 'vocab_size'])
      delete json.text_config[k];
    delete json.tie_word_embeddings;
    const { decoder } = parseModelConfig(json);
    expect(decoder).toMatchObject({
      ropeTheta: 10000,
      rmsNormEps: 1e-6,
      maxPositions: 2048,
      numKvHeads: 9,
      headDim: 64,
      vocabSize: 49280,
      tieWordEmbeddings: false,
    });
  });

  it('the top-level tie_word_embeddings decides for Idefics3', () => {
    const json = smolVlmConfig();
    json.tie_word_embeddings = true;
    json.text_config.tie_word_embeddings = false;
    expect(parseModelConfig(json).decoder.tieWordEmbeddings).toBe(true);
  });

  it('reads a plain Llama config: decoder only', () => {
    const cfg = parseModelConfig(llamaConfig());
    expect(cfg.architecture).toBe('LlamaForCausalLM');
    expect(cfg.vision).toBeUndefined();
    expect(cfg.imageTokenId).toBeUndefined();
    expect(cfg.decoder).toMatchObject({
      hiddenSize: 576,
      numLayers: 30,
      numHeads: 9,
      numKvHeads: 3,
      headDim: 64,
      vocabSize: 49152,
      tieWordEmbeddings: true,
    });
    expect(cfg.eosTokenId).toBe(0); // first of the list
  });

  it('names an unknown architecture and lists the supported ones', () => {
    const message = messageOf(() =>
      parseModelConfig({ architectures: ['Qwen2VLForConditionalGeneration'], hidden_size: 8 }, 'my/config.json'),
    );
    expect(message).toContain('my/config.json');
    expect(message).toContain('"Qwen2VLForConditionalGeneration" is not supported');
    expect(message).toContain('Idefics3ForConditionalGeneration');
    expect(message).toContain('LlamaForCausalLM');
    expect(messageOf(() => parseModelConfig({ hidden_size: 8 }))).toMatch(/names no architecture/);
    expect(messageOf(() => parseModelConfig('x'))).toMatch(/config.json is not a JSON object/);
  });

  it('names missing or mistyped fields', () => {
    const noText = smolVlmConfig();
    delete noText.text_config;
    expect(messageOf(() => parseModelConfig(noText))).toMatch(/no "text_config"/);
    const noHidden = smolVlmConfig();
    delete noHidden.text_config.hidden_size;
    expect(messageOf(() => parseModelConfig(noHidden))).toMatch(/config.json: text_config has no "hidden_size"/);
    const badEps = llamaConfig();
    badEps.rms_norm_eps = '1e-5';
    expect(messageOf(() => parseModelConfig(badEps))).toMatch(/rms_norm_eps must be a number, got "1e-5"/);
    const noVision = smolVlmConfig();
    delete noVision.vision_config;
    expect(messageOf(() => parseModelConfig(noVision))).toMatch(/no "vision_config"/);
  });

  it('passes shape errors on with the file name, and refuses features the engine lacks', () => {
    const heads = smolVlmConfig();
    heads.text_config.num_key_value_heads = 4;
    expect(messageOf(() => parseModelConfig(heads))).toMatch(
      /config.json: text_config: decoder config: 9 attention heads are not a multiple of the 4/,
    );
    const shuffle = smolVlmConfig();
    shuffle.scale_factor = 3;
    expect(messageOf(() => parseModelConfig(shuffle))).toMatch(/32 x 32 patch grid cannot be pixel-shuffled by scale_factor 3/);
    const scaling = llamaConfig();
    scaling.rope_scaling = { rope_type: 'llama3', factor: 8 };
    expect(messageOf(() => parseModelConfig(scaling))).toMatch(/rope_scaling .* is not supported/);
    const bias = llamaConfig();
    bias.attention_bias = true;
    expect(messageOf(() => parseModelConfig(bias))).toMatch(/attention_bias is true/);
    const image = smolVlmConfig();
    image.image_token_id = 50000;
    expect(messageOf(() => parseModelConfig(image))).toMatch(/image_token_id 50000 is outside the 49280-token vocabulary/);
  });
});

/** The hub's config rewritten as transformers 5 saves it: rope settings only in text_config.rope_parameters. */
function transformers5Style(json: Record<string, any>): Record<string, any> {
  const out = structuredClone(json);
  out.text_config.rope_parameters = { rope_theta: out.text_config.rope_theta, rope_type: 'default' };
  delete out.text_config.rope_theta;
  delete out.text_config.rope_scaling;
  return out;
}

describe('configs as transformers 5 writes them', () => {
  it("the built-in model's config.json saved by transformers 5 loads to the same engine settings as the hub-style file", () => {
    // test/golden/transformers5-config.json: AutoConfig.from_pretrained(public/models/tiny).save_pretrained() (npm run golden)
    const t5 = JSON.parse(readFileSync('test/golden/transformers5-config.json', 'utf8'));
    expect(t5.transformers_version).toMatch(/^5\./);
    expect(t5.text_config.rope_theta).toBeUndefined();
    expect(t5.text_config.rope_parameters).toEqual({ rope_theta: 100000, rope_type: 'default' });
    const hub = JSON.parse(new TextDecoder().decode(buildTinyModel().get('config.json')!));
    expect(hub.text_config.rope_theta).toBe(100000);
    expect(hub.text_config.rope_parameters).toBeUndefined();
    const fromT5 = parseModelConfig(t5);
    expect(fromT5).toEqual(parseModelConfig(hub));
    expect(fromT5.decoder.ropeTheta).toBe(100000); // not LlamaConfig's default 10000
  });

  it("SmolVLM-256M's config in either style gives SmolVLM's decoder", () => {
    expect(parseModelConfig(transformers5Style(smolVlmConfig())).decoder).toEqual(SMOLVLM_256M_DECODER);
    const llama = llamaConfig();
    llama.rope_parameters = { rope_type: 'default', rope_theta: 500000 };
    delete llama.rope_theta;
    expect(parseModelConfig(llama).decoder.ropeTheta).toBe(500000);
  });

  it('reads rope_theta inside rope_parameters / rope_scaling first, as transformers does', () => {
    const json = smolVlmConfig();
    json.text_config.rope_parameters = { rope_type: 'default', rope_theta: 250000 };
    expect(parseModelConfig(json).decoder.ropeTheta).toBe(250000);
    const scaling = smolVlmConfig();
    scaling.text_config.rope_scaling = { type: 'default' }; // the old key name; theta from the top level
    expect(parseModelConfig(scaling).decoder.ropeTheta).toBe(100000);
    const empty = smolVlmConfig();
    empty.text_config.rope_parameters = {};
    expect(parseModelConfig(empty).decoder.ropeTheta).toBe(100000);
  });

  it('refuses every rope type the engine does not implement, by name, in either style', () => {
    for (const type of ['linear', 'dynamic', 'yarn', 'longrope', 'llama3', 'proportional', 'something-new']) {
      const t5 = transformers5Style(smolVlmConfig());
      t5.text_config.rope_parameters = { rope_type: type, rope_theta: 100000, factor: 8 };
      const m5 = messageOf(() => parseModelConfig(t5));
      expect(m5).toContain(`rope_type "${type}"`);
      expect(m5).toContain('config.json: text_config: rope_parameters');
      expect(m5).toMatch(/rope_parameters .* is not supported/);
      const hub = llamaConfig();
      hub.rope_scaling = { type, factor: 4 };
      const mh = messageOf(() => parseModelConfig(hub));
      expect(mh).toContain(`rope_type "${type}"`);
      expect(mh).toMatch(/rope_scaling .* is not supported/);
    }
    const bad = transformers5Style(smolVlmConfig());
    bad.text_config.rope_parameters = 'default';
    expect(messageOf(() => parseModelConfig(bad))).toMatch(/rope_parameters must be an object or null, got "default"/);
    const perLayer = transformers5Style(smolVlmConfig());
    perLayer.text_config.rope_parameters = {
      full_attention: { rope_type: 'default', rope_theta: 1e6 },
      sliding_attention: { rope_type: 'default', rope_theta: 1e4 },
    };
    expect(messageOf(() => parseModelConfig(perLayer))).toMatch(/separate settings per layer type \(full_attention, sliding_attention\)/);
  });

  it('refuses other fields that change the decoder math, naming field and value', () => {
    const cases: [(j: Record<string, any>) => void, RegExp][] = [
      [(j) => (j.text_config.partial_rotary_factor = 0.5), /text_config: partial_rotary_factor 0.5 rotates only part of each head/],
      [
        (j) => (j.text_config.rope_parameters = { rope_type: 'default', rope_theta: 1e5, partial_rotary_factor: 0.25 }),
        /partial_rotary_factor 0.25/,
      ],
      [(j) => (j.text_config.hidden_act = 'gelu'), /hidden_act "gelu" is not supported/],
      [(j) => (j.text_config.mlp_bias = true), /mlp_bias is true/],
      [(j) => (j.text_config.attention_bias = true), /attention_bias is true/],
      [(j) => (j.text_config.sliding_window = 4096), /sliding_window 4096 limits attention to a window/],
      [(j) => (j.text_config.final_logit_softcapping = 30), /final_logit_softcapping 30 caps logits/],
      [
        (j) => (j.text_config.layer_types = ['full_attention', 'sliding_attention']),
        /layer_types \["full_attention","sliding_attention"\] mixes attention kinds/,
      ],
      [(j) => (j.text_config.no_rope_layers = [1, 0, 1]), /no_rope_layers switches rotary embeddings off/],
      [(j) => (j.text_config.head_dim = 32), /head_dim 32 x 9 heads != hidden size 576/],
    ];
    for (const [edit, message] of cases) {
      const json = transformers5Style(smolVlmConfig());
      edit(json);
      expect(messageOf(() => parseModelConfig(json))).toMatch(message);
    }
    // Values that leave the math unchanged pass.
    const fine = transformers5Style(smolVlmConfig());
    Object.assign(fine.text_config, {
      sliding_window: null,
      use_sliding_window: false,
      layer_types: Array(30).fill('full_attention'),
      attention_bias: false,
      mlp_bias: false,
      hidden_act: 'silu',
      partial_rotary_factor: 1,
    });
    expect(parseModelConfig(fine).decoder).toEqual(SMOLVLM_256M_DECODER);
    const qwenLike = transformers5Style(smolVlmConfig());
    Object.assign(qwenLike.text_config, { sliding_window: 4096, use_sliding_window: false });
    expect(parseModelConfig(qwenLike).decoder).toEqual(SMOLVLM_256M_DECODER);
  });
});

describe('stop tokens', () => {
  it('reads eos_token_id from generation_config.json, one id or a list', () => {
    expect(parseGenerationConfig({ bos_token_id: 0, eos_token_id: 49279, pad_token_id: 2 })).toEqual({ eosTokenIds: [49279] });
    expect(parseGenerationConfig({ eos_token_id: [2, 49279, 2] })).toEqual({ eosTokenIds: [2, 49279] });
    expect(parseGenerationConfig({ do_sample: false })).toEqual({ eosTokenIds: [] });
    expect(() => parseGenerationConfig({ eos_token_id: '49279' })).toThrow(
      /generation_config.json: eos_token_id must be a token id or a list of token ids, got "49279"/,
    );
    expect(() => parseGenerationConfig({ eos_token_id: [1, -2] })).toThrow(ModelConfigError);
    expect(() => parseGenerationConfig([1])).toThrow(/generation_config.json is not a JSON object/);
  });

  it("stops at every eos id of generation_config.json and at the tokenizer's eos", () => {
    const cfg = parseModelConfig(smolVlmConfig());
    expect(stopTokenIds(cfg, { eosTokenIds: [2, 49279] }, 49279)).toEqual([2, 49279]);
    expect(stopTokenIds(cfg, { eosTokenIds: [0] }, 49279)).toEqual([0, 49279]);
    // No generation_config.json: config.json's eos, then the tokenizer's.
    expect(stopTokenIds({ ...cfg, eosTokenId: 7 }, undefined, 49279)).toEqual([7, 49279]);
    expect(stopTokenIds(cfg, undefined, 49279)).toEqual([49279]);
    // An id past the vocabulary can never be sampled.
    expect(stopTokenIds(cfg, { eosTokenIds: [128001, 49279] }, 49279)).toEqual([49279]);
  });
});
