// The engine's public surface.
export { Engine, type EngineOptions, type EngineMemory, type ForwardOptions, type ForwardResult } from './decoder';
export type { SequenceInput, ImageInput } from './batch';
export type {
  PovidExample,
  PovidStepOptions,
  PovidStepResult,
  PovidExampleResult,
  PovidLossParams,
  OptimizerOptions,
  StepTimings,
} from './step';
export type { NoiseReference } from './kernels/dpo';
export { sampleToken, type GenerateOptions, type GenerateResult } from './generate';
export { LoraAdapter, type LoraState } from './lora';
export { expectedWeights, LORA_TARGETS, SMOLVLM_NAMES, TARGET_MODULE, type LoraTarget, type WeightNames } from './checkpoint';
export { DEFAULT_LORA, type LoraConfig, type LoraTensor } from './layout';
export { randomDecoderWeights, type WeightDtype, type WeightSource } from './params';
export { EngineInputError, SequenceLengthError, ImageRowsError, WeightError, NonFiniteError, KernelArgumentError } from './errors';
export { ConfigError, makeDecoderConfig, SMOLVLM_256M_DECODER, type DecoderConfig } from './config';
