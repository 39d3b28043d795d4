// What step.ts and generate.ts work with: the engine's state without its entry points. A file of
// its own, so that they need not import decoder.ts, which imports them.
import type { GpuContext } from '../gpu';
import type { PackLimits } from './batch';
import type { DecoderConfig } from './config';
import type { GradNormScratch } from './kernels/adamw';
import type { LogprobScratch } from './kernels/logprob';
import type { Activations } from './layout';
import type { LoraAdapter } from './lora';
import type { DecoderParams } from './params';

export interface EngineCore {
  ctx: GpuContext;
  cfg: DecoderConfig;
  params: DecoderParams;
  lora: LoraAdapter | null;
  acts: Activations;
  lpScratch: LogprobScratch;
  /** null on an engine without training buffers. */
  normScratch: GradNormScratch | null;
  limits: PackLimits;
}
