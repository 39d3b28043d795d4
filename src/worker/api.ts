// The contract between the page and the Worker (comlink). The Worker owns the GPU, the model,
// the dataset and the training loop; the page only renders what these calls return and stream.
// Callbacks are passed wrapped in Comlink.proxy().
import type { EvalMetrics, ImageDetail, StepMetrics, TrainConfig, TrainProgress } from '../povid/config';
import type { TrainEstimate } from '../povid/estimate';
import type { BenchmarkOptions, EvalProgress, HallucinationReport, RecordEvalOptions } from './hallucination-api';

// Training's settings and reports are defined where training lives; the page takes them from here.
export {
  DEFAULT_TRAIN_CONFIG,
  type EvalMetrics,
  type ImageDetail,
  type LossMode,
  type StepMetrics,
  type TrainConfig,
} from '../povid/config';
export { LORA_PROJECTIONS, SMOLVLM_HUB_ID } from '../engine/checkpoint';
export type * from './hallucination-api';

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
  /** What is happening, when a file name and bytes do not say it (which vision export runs, which failed). */
  message?: string;
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
  /** The vision export that runs (onnx/vision_encoder_fp16.onnx ...) and its variant name. */
  visionFile: string;
  visionVariant: string;
  /** Prompt tokens one image takes: as one view, and tiled at most (the processor's largest grid). */
  imageTokens: { single: number; tilesMax: number; tilesMaxViews: number };
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
  /** 'excluded': left out of training, `flag` says why (too long for the loaded model's context). */
  split: 'train' | 'heldout' | 'excluded';
  flag?: string;
}

export interface Problem {
  file: string;
  record?: string;
  line?: number;
  reason: string;
}

export interface DatasetView {
  /** The records, or only the first ones when `total` is larger: read the rest with recordsSlice(). */
  records: RecordView[];
  problems: Problem[];
  /** How many records there are (absent: all are in `records`). */
  total?: number;
  /** Changes with every change of the records; recordsSlice() refuses a stale one. */
  version?: number;
}

export type { TrainProgress } from '../povid/config';
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

export interface PovidWorkerApi extends SessionApi {
  gpuStatus(): Promise<GpuStatus>;
  loadModel(choice: ModelChoice, onProgress?: (p: LoadProgress) => void): Promise<ModelSummary>;
  addFiles(files: DropFile[]): Promise<DatasetView>;
  /**
   * Records from `start` to `end` of the view numbered `version` (a large view comes in slices so
   * that no single message stalls the page); throws when the records changed since that view.
   */
  recordsSlice(start: number, end: number, version: number): Promise<RecordView[]>;
  /**
   * The dataset as it is now (after a model load, records may have been flagged); with `split`,
   * first sets the seed and held-out fraction its train / held-out split is drawn with.
   */
  datasetView(split?: { seed: number; heldoutFraction: number }): Promise<DatasetView>;
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
  checkpointInfo(): Promise<{ step: number; totalSteps: number; savedAt: string; runId?: string; blocker?: string | null } | null>;
  /** Image detail for training and generation alike; returns the prompt tokens one image then takes (at most). */
  setImageDetail(detail: ImageDetail): Promise<{ detail: ImageDetail; maxSeq: number }>;
  /** onToken receives the whole answer so far (not the new piece) after every token. */
  generate(req: GenerateRequest, onToken?: (text: string) => void): Promise<string>;
  /**
   * Ends the running generation (generate or noisyAnswer) after the token it is computing; with
   * `shown`, the tokens the page displayed when Stop was pressed, that token is dropped when the
   * page already has one more on its way. The generation resolves with the text it sent.
   */
  stopGeneration(shown?: number): Promise<void>;
  /** Each answer's log-prob given the image and question, adapter off and on. */
  scoreAnswers(req: ScoreRequest): Promise<AnswerScore[]>;
  exportAdapter(): Promise<{ zip: Uint8Array; files: { name: string; bytes: Uint8Array }[] }>;
  /** adapter_config.json + adapter_model.safetensors, or a zip holding them. */
  loadAdapter(files: DropFile[]): Promise<void>;
  exportDataset(): Promise<Uint8Array>;
  /** Held-out records, adapter off and on: estimates of hallucination (hallucination-api.ts). */
  evaluateHallucination(opts: RecordEvalOptions, onProgress?: (p: EvalProgress) => void): Promise<HallucinationReport>;
  /** Loads the built-in model, trains on generated scenes and evaluates held-out scenes before and after. */
  runBuiltinBenchmark(
    opts: BenchmarkOptions,
    onProgress?: (p: EvalProgress) => void,
    onModel?: (s: ModelSummary) => void,
  ): Promise<HallucinationReport>;
  cancelEvaluation(): Promise<void>;
}

// ---- The saved session and the runs ---------------------------------------------------------
// Everything the user made is kept in the browser (IndexedDB) so a reload brings it back; each
// training run is kept on its own with its settings, metrics and adapter.

/** What is stored for the next page load, and what the browser refused to store. */
export interface StorageReport {
  /** True when everything the user made is stored. */
  complete: boolean;
  saved: { records: number; images: number; features: number; references: number; runs: number; adapters: number };
  total: { records: number; images: number; runs: number };
  /** One line per kind of thing that is not stored: which, why, and what it means after a reload. */
  notSaved: string[];
  /** Bytes this site uses and may use, when the browser says. */
  usage?: { bytes: number; quota: number };
}

/** A hallucination evaluation of a run's adapter, kept with the run (hallucination-report.ts `runHallucination`). */
export interface RunHallucination {
  /** What was measured, e.g. the benchmark's name. */
  benchmark: string;
  evaluatedAt: string;
  /** Scores by metric name (e.g. CHAIR_s, CHAIR_i, POPE F1), for the adapter. */
  scores: Record<string, number>;
  /** The same metrics for the base model, when measured. */
  baseline?: Record<string, number>;
  samples?: number;
}

export type RunStatus = 'running' | 'done' | 'cancelled' | 'interrupted' | 'error';

export interface RunSummary {
  id: string;
  /** 1, 2, 3…: never reused, so "run 2" keeps its name after run 1 is deleted. */
  number: number;
  name: string;
  createdAt: string;
  updatedAt: string;
  status: RunStatus;
  /** Steps with metrics. */
  step: number;
  totalSteps: number;
  /** Step of the stored checkpoint (0: none). */
  savedStep: number;
  config: TrainConfig;
  /** The model it was trained on (key: identifies it for resuming). */
  model: { name: string; baseModel: string; key: string };
  datasetKey: string;
  trainRecords: number;
  lastLoss?: number;
  lastAccuracy?: number;
  hasAdapter: boolean;
  /** The steps at which the run was resumed (after a reload, a cancel or a lost GPU). */
  resumedFrom: number[];
  /** Why it cannot be resumed now (null when it can, or when it is finished). */
  resumeBlocker: string | null;
  resumable: boolean;
  /** Its adapter is the one loaded now (the one Compare and Download use). */
  active: boolean;
  hallucination?: RunHallucination;
  /** Imported from an earlier version of the app, which did not save the records with it. */
  legacy?: boolean;
}

export interface RunMetrics {
  history: StepMetrics[];
  evals: EvalMetrics[];
}

/** Work done by this Worker since it started, and what came from storage instead. */
export interface WorkCounters {
  /** Reference log-prob passes (adapter off) over a record's chosen and rejected answers. */
  referencePasses: number;
  referencesReused: number;
  /** Vision-encoder passes over a clean record image. */
  featureEncodings: number;
  featuresReused: number;
}

export interface RestoredSession {
  /** The model to load again by itself (never a local folder: the browser cannot reopen it). */
  model?: ModelChoice;
  /** Set when the saved model cannot load by itself, saying what to do. */
  modelNote?: string;
  dataset: DatasetView;
  runs: RunSummary[];
  /** The newest run's metrics, to redraw the charts. */
  latest?: { id: string; metrics: RunMetrics };
  /** What could not be loaded, and why (older or newer versions of the app, damaged entries). */
  dropped: string[];
  storage: StorageReport;
  /** Anything at all came back. */
  restored: boolean;
}

export interface SessionApi {
  /** Loads the saved session into the Worker (once, at page start) and says what came back. */
  restoreSession(): Promise<RestoredSession>;
  /** After pending writes: what is stored and what is not. */
  storageStatus(): Promise<StorageReport>;
  workCounters(): Promise<WorkCounters>;
  /** Deletes everything saved (records, images, features, runs); `modelCache` also drops downloaded model files. */
  startOver(opts?: { modelCache?: boolean }): Promise<void>;
  listRuns(): Promise<RunSummary[]>;
  runMetrics(id: string): Promise<RunMetrics>;
  /** The run's adapter in PEFT's format, as stored when it was trained. */
  runAdapter(id: string): Promise<{ zip: Uint8Array; files: { name: string; bytes: Uint8Array }[] }>;
  deleteRun(id: string): Promise<RunSummary[]>;
  /** Loads the run's adapter into the model, for Compare and Download. */
  useRun(id: string): Promise<RunSummary[]>;
  /** Continues a run from its checkpoint, with the run's own settings; metrics so far are sent again first. */
  resumeRun(
    id: string,
    onStep: (m: StepMetrics) => void,
    onEval?: (m: EvalMetrics) => void,
    onStatus?: (s: string) => void,
    onProgress?: (p: TrainProgress) => void,
  ): Promise<{ steps: number; stopped: 'done' | 'cancelled' }>;
}

/** recordsSlice() was asked for a view the records have moved on from. */
export class StaleViewError extends Error {
  override name = 'StaleViewError';
}
