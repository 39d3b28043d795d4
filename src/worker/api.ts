// The contract between the page and the Worker (comlink). The Worker owns the GPU, the model,
// the dataset and the training loop; the page only renders what these calls return and stream.
// Callbacks are passed wrapped in Comlink.proxy().
import type { TrainEstimate } from '../povid/estimate';

export type ModelChoice =
  | { kind: 'builtin' } // public/models/tiny, offline
  | { kind: 'hub'; id: string; baseUrl?: string; revision?: string }
  | { kind: 'url'; url: string }
  | { kind: 'files'; files: { path: string; blob: Blob }[] }; // a dropped folder

export interface GpuStatus {
  ok: boolean;
  /** When not ok: what is wrong and what to do. */
  message?: string;
  adapter?: { vendor: string; architecture: string; description: string };
  features?: { f16: boolean; subgroups: boolean };
}

export interface LoadProgress {
  phase: 'config' | 'tokenizer' | 'weights' | 'vision' | 'upload' | 'ready';
  file?: string;
  /** Bytes of `file` read so far, and its size (0 when not known or not a byte count). */
  loaded: number;
  total: number;
  /** Bytes read in all files so far, and of how many (files read in parallel, sizes known so far). */
  loadedAll?: number;
  totalAll?: number;
  /** Phases without a byte count: the size of what they process (the weights uploaded to the GPU). */
  bytes?: number;
  fromCache?: boolean;
}

export interface ModelSummary {
  name: string;
  architecture: string;
  layers: number;
  hidden: number;
  vocab: number;
  imageSeqLen: number;
  parameters: number;
  visionBackend: 'webgpu' | 'wasm';
  gpuBytes: number;
  /** The exported adapter's base_model_name_or_path: the hub id, or a name for the built-in model / a local folder. */
  baseModel: string;
}

export interface DropFile {
  path: string; // relative path (folder drops keep their folders)
  blob: Blob;
}

export interface Edit {
  kind: string;
  start: number;
  end: number;
  from: string;
  to: string;
}

export interface RecordView {
  id: string;
  image: string;
  question: string;
  chosen: string;
  /** The dispreferred text answer: user supplied, or made by the injector. */
  rejected: string;
  rejectedSource: 'user' | 'injected';
  edits: Edit[];
  /** What the model says on the noisy image (filled by prepare / noisyAnswer). */
  noisyAnswer?: string;
  split: 'train' | 'heldout';
}

export interface Problem {
  file: string;
  record?: string;
  reason: string;
}

export interface DatasetView {
  records: RecordView[];
  problems: Problem[];
}

export type LossMode = 'povid' | 'dpo-text' | 'two-stage' | 'weighted';

export interface TrainConfig {
  loraRank: number; // 16
  loraAlpha: number; // 32
  loraTargets: string[]; // ['q_proj','k_proj','v_proj','o_proj','gate_proj','up_proj','down_proj']
  beta: number; // 0.1
  learningRate: number; // 2e-5
  warmupRatio: number; // 0.03
  weightDecay: number; // 0
  maxGradNorm: number; // 1.0
  gradAccumulation: number; // 1
  epochs: number; // used when steps is 0
  steps: number; // 0 = use epochs
  lossMode: LossMode;
  stage1Fraction: number; // two-stage: share of steps that are text-only DPO
  wText: number; // 0.5
  wNoise: number; // 0.5
  noiseStep: number; // 500
  seed: number;
  heldoutFraction: number; // 0.1
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

export type { TrainEstimate, ProbeTimings } from '../povid/estimate';

/** Log-probs of given answers to a question about an image, under the base model and with the adapter. */
export interface AnswerScore {
  answer: string;
  /** Answer tokens scored (the end-of-answer token included). */
  tokens: number;
  /** Sum of log p over the answer's tokens: adapter off, adapter on; null with `error`. */
  base: number | null;
  lora: number | null;
  error?: string;
}

export interface ScoreRequest {
  recordId?: string;
  image?: Blob;
  question: string;
  answers: string[];
  noiseStep?: number;
  seed?: number;
}

export interface GenerateRequest {
  recordId?: string;
  image?: Blob;
  question: string;
  lora: boolean;
  maxNewTokens?: number;
  temperature?: number; // 0 = greedy
  topP?: number;
  seed?: number;
  noiseStep?: number; // generate on the noised image
}

export interface PovidWorkerApi {
  gpuStatus(): Promise<GpuStatus>;
  loadModel(choice: ModelChoice, onProgress?: (p: LoadProgress) => void): Promise<ModelSummary>;
  addFiles(files: DropFile[]): Promise<DatasetView>;
  updateRecord(id: string, patch: Partial<Pick<RecordView, 'question' | 'chosen' | 'rejected'>>): Promise<RecordView>;
  removeRecord(id: string): Promise<DatasetView>;
  clearDataset(): Promise<void>;
  /** The record's clean image as a blob, for thumbnails. */
  image(id: string): Promise<Blob>;
  /** The noised image as a PNG blob, for the slider. */
  noisyImage(id: string, t: number, seed?: number): Promise<Blob>;
  /** Free generation on the noised image: what the model says when it can barely see. */
  noisyAnswer(id: string, t: number, maxNewTokens?: number, onToken?: (text: string) => void): Promise<string>;
  /**
   * Trains; resumes the stored checkpoint when the settings and the dataset match it, else
   * starts a fresh adapter. Metrics stream through onStep (and onEval every evalEvery steps).
   */
  train(
    config: TrainConfig,
    onStep: (m: StepMetrics) => void,
    onEval?: (m: EvalMetrics) => void,
    onStatus?: (s: string) => void,
    onProgress?: (p: TrainProgress) => void,
  ): Promise<{ steps: number; stopped: 'done' | 'cancelled' }>;
  /**
   * Time per step and in total for a run with this config, from a timed probe on the first
   * training example (measured once per model; `remeasure` times it again).
   */
  estimate(config: TrainConfig, remeasure?: boolean): Promise<TrainEstimate>;
  /** Pause after the current step (or before the first): onProgress reports phase 'paused' once it has. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  /** A checkpoint that can be resumed, if any (after a reload). */
  checkpointInfo(): Promise<{ step: number; totalSteps: number; savedAt: string } | null>;
  /** onToken receives the whole answer so far (not the new piece) after every token. */
  generate(req: GenerateRequest, onToken?: (text: string) => void): Promise<string>;
  /** Ends the running generation (generate or noisyAnswer) after at most one more token; it resolves with the text so far. */
  stopGeneration(): Promise<void>;
  /** Each answer's log-prob given the image and question, adapter off and on. */
  scoreAnswers(req: ScoreRequest): Promise<AnswerScore[]>;
  exportAdapter(): Promise<{ zip: Uint8Array; files: { name: string; bytes: Uint8Array }[] }>;
  /** adapter_config.json + adapter_model.safetensors, or a zip holding them. */
  loadAdapter(files: DropFile[]): Promise<void>;
  exportDataset(): Promise<Uint8Array>;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  loraRank: 16,
  loraAlpha: 32,
  loraTargets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  beta: 0.1,
  learningRate: 2e-5,
  warmupRatio: 0.03,
  weightDecay: 0,
  maxGradNorm: 1,
  gradAccumulation: 1,
  epochs: 3,
  steps: 0,
  lossMode: 'povid',
  stage1Fraction: 0.5,
  wText: 0.5,
  wNoise: 0.5,
  noiseStep: 500,
  seed: 42,
  heldoutFraction: 0.1,
  evalEvery: 10,
  checkpointEvery: 10,
};
