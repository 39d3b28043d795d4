import { describe, expect, it } from 'vitest';
import { ConfigError, SMOLVLM_256M_DECODER } from '../../src/engine/config';
import { ModelConfigError, parseModelConfig } from '../../src/model/config';

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
    vision_config: { hidden_size: 768, image_size: 512, intermediate_size: 3072, model_type: 'idefics3', num_attention_heads: 12, patch_size: 16 },
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
    for (const k of ['rope_theta', 'rms_norm_eps', 'max_position_embeddings', 'num_key_value_heads', 'head_dim', 'vocab_size']) delete json.text_config[k];
    delete json.tie_word_embeddings;
    const { decoder } = parseModelConfig(json);
    expect(decoder).toMatchObject({ ropeTheta: 10000, rmsNormEps: 1e-6, maxPositions: 2048, numKvHeads: 9, headDim: 64, vocabSize: 49280, tieWordEmbeddings: false });
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
    expect(cfg.decoder).toMatchObject({ hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64, vocabSize: 49152, tieWordEmbeddings: true });
    expect(cfg.eosTokenId).toBe(0); // first of the list
  });

  it('names an unknown architecture and lists the supported ones', () => {
    const message = messageOf(() => parseModelConfig({ architectures: ['Qwen2VLForConditionalGeneration'], hidden_size: 8 }, 'my/config.json'));
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
    expect(messageOf(() => parseModelConfig(heads))).toMatch(/config.json: text_config: decoder config: 9 attention heads are not a multiple of the 4/);
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
