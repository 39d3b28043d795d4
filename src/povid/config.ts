// A POVID training run's settings (with the defaults of the released runs) and what it reports
// per step and per evaluation. The trainer reads them; the Worker's API passes them to the page.
import { LORA_PROJECTIONS } from '../engine/checkpoint';
import type { ImageDetail } from '../model/image';

export type LossMode = 'povid' | 'dpo-text' | 'two-stage' | 'weighted';

/**
 * How images are shown to the model: 'single', one 512 view, or 'tiles', the processor's tiles
 * plus a global view (docs/model.md). The image processor (model/image.ts) defines the values.
 */
export type { ImageDetail };

export interface TrainConfig {
  loraRank: number; // 16
  loraAlpha: number; // 32
  /** Projection names ('q_proj', ...; LORA_PROJECTIONS), as PEFT's target_modules lists them. */
  loraTargets: string[];
  beta: number; // 0.1
  learningRate: number; // 2e-5
  warmupRatio: number; // 0.03
  weightDecay: number; // 0
  maxGradNorm: number; // 1.0
  gradAccumulation: number; // 1
  epochs: number; // used when steps is 0
  steps: number; // 0 = use epochs
  lossMode: LossMode;
  /** Reference side of the noise term: the reference's own noisy argmax (the release) or the policy's y_n. */
  noiseReference: 'own-argmax' | 'policy-argmax';
  stage1Fraction: number; // two-stage: share of steps that are text-only DPO
  wText: number; // 0.5
  wNoise: number; // 0.5
  /**
   * Weight of an SFT term, the mean NLL of the preferred answers' tokens (TRL's loss_type 'sft',
   * formerly rpo_alpha). 0, the release: DPO alone, which can lower the preferred answers'
   * likelihood along with the rejected ones'.
   */
  sftWeight: number; // 0
  noiseStep: number; // 500
  seed: number;
  heldoutFraction: number; // 0.1
  imageDetail: ImageDetail; // 'single': one 512 view (fast); 'tiles': as the model was trained
  evalEvery: number; // steps
  checkpointEvery: number; // steps
}

export interface StepMetrics {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  rewardChosen: number;
  rewardText: number;
  rewardNoise: number;
  marginText: number;
  marginNoise: number;
  accuracy: number;
  gradNorm: number;
  learningRate: number;
  tokensPerSecond: number;
  etaSeconds: number;
  exampleId: string;
  /** The teacher-forced argmax answer y_n under the noisy image (what the loss pushes down). */
  noiseAnswer?: string;
  ms: { reference: number; noisy: number; forward: number; backward: number; optimizer: number };
}

export interface EvalMetrics {
  step: number;
  loss: number;
  accuracy: number;
  marginText: number;
  marginNoise: number;
}

/**
 * Where a run stands: the stage, n of N in it, and the time spent in it and left (null until
 * something has been timed). Every stage is reported as it starts and after each unit.
 */
export interface TrainProgress {
  phase: 'images' | 'reference' | 'training' | 'paused' | 'evaluating' | 'checkpoint';
  /** Units done: images encoded, reference passes, optimizer steps, held-out records. */
  done: number;
  total: number;
  elapsedSeconds: number;
  etaSeconds: number | null;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  loraRank: 16,
  loraAlpha: 32,
  loraTargets: [...LORA_PROJECTIONS],
  beta: 0.1,
  learningRate: 2e-5,
  warmupRatio: 0.03,
  weightDecay: 0,
  maxGradNorm: 1,
  gradAccumulation: 1,
  epochs: 3,
  steps: 0,
  lossMode: 'povid',
  noiseReference: 'own-argmax',
  stage1Fraction: 0.5,
  wText: 0.5,
  wNoise: 0.5,
  sftWeight: 0,
  noiseStep: 500,
  seed: 42,
  heldoutFraction: 0.1,
  imageDetail: 'single',
  evalEvery: 10,
  checkpointEvery: 10,
};
