// What the page asks of the Worker to measure hallucination, and what comes back: the metrics of
// src/eval/metrics.ts with the adapter off (before) and on (after), each answer with the spans
// of the objects it names that are not there, and why something was left out. Plain data that
// crosses the comlink boundary; the page only renders it.
import type { Ratio } from '../eval/metrics';
import type { TrainConfig } from '../povid/config';

export type { Ratio } from '../eval/metrics';

/** One side (adapter off or on) of a report. A ratio over nothing has value null, never NaN. */
export interface HallucinationMetrics {
  /** Hallucinated object mentions / object mentions. */
  chairI: Ratio;
  /** Answers with a hallucinated object / answers. */
  chairS: Ratio;
  /** Objects that are there and named / objects that are there. */
  recall: Ratio;
  /** POPE probes "Is there a X in the image?". */
  popeAccuracy: Ratio;
  popeF1: number | null;
  yesRatio: Ratio;
  /** Built-in benchmark only: planted partner named in scenes that show its anchor but not it. */
  planted: Ratio | null;
  /** Built-in benchmark only: colour and count questions. */
  attributes: Ratio | null;
}

/** A hallucinated object mention: text[start, end) names `name`, which is not there. */
export interface MentionMark {
  name: string;
  start: number;
  end: number;
}

export interface AnswerView {
  text: string;
  hallucinated: MentionMark[];
}

export interface SampleView {
  id: string;
  question: string;
  /** The objects taken as present (exact for scenes; from the preferred answer for records). */
  truth: string[];
  /** The exact answer (scenes) or the preferred answer (records). */
  reference: string;
  before: AnswerView;
  after: AnswerView | null;
  /** The picture (a PNG of the scene, or the record's image), where the Worker has it. */
  image?: Blob;
}

export interface TrainingSummary {
  steps: number;
  records: number;
  learningRate: number;
  lossMode: string;
  /** The SFT term's weight (0: DPO alone). */
  sftWeight: number;
  seconds: number;
  lastLoss: number | null;
}

export interface HallucinationReport {
  source: 'records' | 'benchmark';
  /** True on the user's records: ground truth is what the preferred answers name. */
  estimate: boolean;
  model: string;
  /** Held-out records (or scenes) considered, and how many of them were scored. */
  total: number;
  used: number;
  /** Ids of held-out records left out because their preferred answer names no known object. */
  excluded: { noKnownObject: string[] };
  /** Why nothing (or not everything) was scored; null when all was. */
  message: string | null;
  before: HallucinationMetrics | null;
  after: HallucinationMetrics | null;
  samples: SampleView[];
  training: TrainingSummary | null;
  seconds: number;
}

export type EvalPhase = 'load' | 'prepare' | 'before' | 'train' | 'after';

export interface EvalProgress {
  phase: EvalPhase;
  done: number;
  total: number;
}

/** The held-out records of the user's dataset, split as training splits them. */
export interface RecordEvalOptions {
  seed: number;
  heldoutFraction: number;
  /** Longest generated answer, in tokens (default 64). */
  maxNewTokens?: number;
}

export interface BenchmarkOptions {
  /** Generated training scenes (three preference records each: the description, an absent and a present object probe). */
  trainScenes: number;
  /** Held-out scenes, never trained on. */
  heldoutScenes: number;
  /** Optimizer steps. */
  steps: number;
  /** The rest of the training settings (the app's defaults unless the user changed them). */
  config: TrainConfig;
}

/** The built-in benchmark's sizes and learning rate (src/eval/settings.ts). */
export { BENCHMARK_SETTINGS as BENCHMARK_DEFAULTS } from '../eval/settings';
