// The decoder's shape: one typed place, validated before anything is allocated.

export interface DecoderConfig {
  hiddenSize: number; // C
  numLayers: number; // L
  numHeads: number; // NH (query heads)
  numKvHeads: number; // NKV (key/value heads, grouped-query attention)
  headDim: number; // HD = C / NH
  intermediateSize: number; // FF (SiLU-gated MLP)
  vocabSize: number; // V
  ropeTheta: number;
  rmsNormEps: number;
  maxPositions: number; // longest sequence the engine accepts
  tieWordEmbeddings: boolean; // lm_head shares embed_tokens
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Fills headDim and checks that the shapes fit together. */
export function makeDecoderConfig(c: Omit<DecoderConfig, 'headDim'> & { headDim?: number }): DecoderConfig {
  const ints: (keyof DecoderConfig)[] = [
    'hiddenSize',
    'numLayers',
    'numHeads',
    'numKvHeads',
    'intermediateSize',
    'vocabSize',
    'maxPositions',
  ];
  for (const k of ints) {
    const v = c[k as keyof typeof c];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new ConfigError(`decoder config: ${k} must be a positive integer, got ${String(v)}`);
  }
  if (c.hiddenSize % c.numHeads !== 0)
    throw new ConfigError(`decoder config: hidden size ${c.hiddenSize} is not divisible by the ${c.numHeads} attention heads`);
  if (c.numHeads % c.numKvHeads !== 0)
    throw new ConfigError(`decoder config: ${c.numHeads} attention heads are not a multiple of the ${c.numKvHeads} key/value heads`);
  const headDim = c.headDim ?? c.hiddenSize / c.numHeads;
  if (headDim * c.numHeads !== c.hiddenSize)
    throw new ConfigError(`decoder config: head_dim ${headDim} x ${c.numHeads} heads != hidden size ${c.hiddenSize}`);
  if (headDim % 2 !== 0) throw new ConfigError(`decoder config: head_dim ${headDim} must be even for rotary embeddings`);
  if (!(c.ropeTheta > 0)) throw new ConfigError(`decoder config: rope_theta must be positive, got ${c.ropeTheta}`);
  if (!(c.rmsNormEps > 0)) throw new ConfigError(`decoder config: rms_norm_eps must be positive, got ${c.rmsNormEps}`);
  return { ...c, headDim };
}

/** SmolVLM-256M-Instruct's text decoder (docs/model.md). */
export const SMOLVLM_256M_DECODER: DecoderConfig = makeDecoderConfig({
  hiddenSize: 576,
  numLayers: 30,
  numHeads: 9,
  numKvHeads: 3,
  intermediateSize: 1536,
  vocabSize: 49280,
  ropeTheta: 100000,
  rmsNormEps: 1e-5,
  maxPositions: 8192,
  tieWordEmbeddings: false,
});
