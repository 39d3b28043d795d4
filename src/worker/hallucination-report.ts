// Turning generated answers into the page's hallucination report (hallucination-api.ts): which
// held-out records can be scored and what to ask about each, the metrics of one side (adapter
// off or on), and the marks of hallucinated mentions. Plain functions, no GPU: evaluate.ts
// generates the answers and calls these.
import type { BenchmarkReport, SceneResult } from '../eval/benchmark';
import {
  chair,
  estimateFromRecords,
  findLexiconMentions,
  findLexiconSpans,
  findSceneSpans,
  hallucinatedSpans,
  pope,
  type MentionSpan,
  type PopeProbe,
  type RecordEstimate,
} from '../eval/metrics';
import type { RunHallucination } from './api';
import type { AnswerView, HallucinationMetrics, HallucinationReport, SampleView, TrainingSummary } from './hallucination-api';

/** A held-out record as evaluation sees it. */
export interface RecordInput {
  id: string;
  question: string;
  chosen: string;
  /** The injector's edits of the dispreferred answer (kind 'object' adds an object). */
  edits: readonly { kind: string; to: string }[];
}

export interface ProbePlan {
  object: string;
  present: boolean;
  question: string;
}

/** What is asked about one scored record: its own question, then the POPE probes. */
export interface RecordPlan {
  id: string;
  question: string;
  chosen: string;
  /** The objects the preferred answer names (the lexicon's categories). */
  truth: string[];
  probes: ProbePlan[];
}

/** What the model answered to a plan: its own question, then the probes in order. */
export interface PlanAnswers {
  answer: string;
  probes: string[];
}

export function probeQuestion(object: string): string {
  return `Is there ${/^[aeiou]/i.test(object) ? 'an' : 'a'} ${object} in the image?`;
}

/**
 * The records that can be scored and their probes: one object the preferred answer names
 * (present) and one it does not (the object injected into the dispreferred answer, else one the
 * lexicon lists as co-occurring), so "yes" and "no" are asked equally often. Records whose
 * preferred answer names no known object are left out (estimate.excluded, estimate.message).
 */
export function planRecords(records: readonly RecordInput[]): { plans: RecordPlan[]; estimate: RecordEstimate } {
  const estimate = estimateFromRecords(
    records.map((r) => ({
      id: r.id,
      chosen: r.chosen,
      generated: '',
      injectedObjects: r.edits.filter((e) => e.kind === 'object').map((e) => e.to),
    })),
    { maxAbsent: 1 },
  );
  const byId = new Map(records.map((r) => [r.id, r]));
  const plans = estimate.probes.map((p) => {
    const r = byId.get(p.id)!;
    const probes: ProbePlan[] = [];
    if (p.present[0]) probes.push({ object: p.present[0], present: true, question: probeQuestion(p.present[0]) });
    if (p.absent[0]) probes.push({ object: p.absent[0], present: false, question: probeQuestion(p.absent[0]) });
    return { id: r.id, question: r.question, chosen: r.chosen, truth: p.present, probes };
  });
  return { plans, estimate };
}

const marks = (spans: MentionSpan[]) => spans.map((s) => ({ name: s.name, start: s.start, end: s.end }));

export function answerView(text: string, truth: readonly string[], spans: (text: string) => MentionSpan[]): AnswerView {
  return { text, hallucinated: marks(hallucinatedSpans(text, truth, spans)) };
}

/** One side's metrics on the user's records: CHAIR over the answers, POPE over the probes. */
export function recordMetrics(plans: readonly RecordPlan[], answers: readonly PlanAnswers[]): HallucinationMetrics {
  if (answers.length !== plans.length) throw new Error(`recordMetrics: ${answers.length} answers for ${plans.length} records`);
  const c = chair(
    plans.map((p, i) => ({ text: answers[i].answer, truth: p.truth })),
    findLexiconMentions,
  );
  const probes: PopeProbe[] = plans.flatMap((p, i) =>
    p.probes.map((q, k) => ({ object: q.object, present: q.present, answer: answers[i].probes[k] ?? '' })),
  );
  const po = pope(probes);
  return {
    chairI: c.chairI,
    chairS: c.chairS,
    recall: c.recall,
    popeAccuracy: po.accuracy,
    popeF1: po.f1,
    yesRatio: po.yesRatio,
    planted: null,
    attributes: null,
  };
}

/** The report on the user's held-out records: estimates, with what was left out and why. */
export function recordsReport(args: {
  model: string;
  total: number;
  plans: readonly RecordPlan[];
  estimate: RecordEstimate;
  before: readonly PlanAnswers[] | null;
  after: readonly PlanAnswers[] | null;
  images?: ReadonlyMap<string, Blob>;
  seconds: number;
}): HallucinationReport {
  const { plans, estimate, before, after } = args;
  const scored = plans.length > 0 && before !== null;
  const samples: SampleView[] = scored
    ? plans.map((p, i) => ({
        id: p.id,
        question: p.question,
        truth: p.truth,
        reference: p.chosen,
        before: answerView(before[i].answer, p.truth, findLexiconSpans),
        after: after ? answerView(after[i].answer, p.truth, findLexiconSpans) : null,
        image: args.images?.get(p.id),
      }))
    : [];
  return {
    source: 'records',
    estimate: true,
    model: args.model,
    total: args.total,
    used: scored ? plans.length : 0,
    excluded: { noKnownObject: [...estimate.excluded.noKnownObject] },
    message: estimate.message,
    before: scored ? recordMetrics(plans, before) : null,
    after: scored && after ? recordMetrics(plans, after) : null,
    samples,
    training: null,
    seconds: args.seconds,
  };
}

/** One side's metrics on the built-in benchmark (exact ground truth). */
export function benchmarkMetrics(r: BenchmarkReport): HallucinationMetrics {
  return {
    chairI: r.chairI,
    chairS: r.chairS,
    recall: r.recall,
    popeAccuracy: r.pope.accuracy,
    popeF1: r.pope.f1,
    yesRatio: r.pope.yesRatio,
    planted: r.planted,
    attributes: r.attributes.overall,
  };
}

function sceneSample(before: SceneResult, after: SceneResult | undefined, image: Blob | undefined): SampleView {
  return {
    id: `scene ${before.seed}`,
    question: 'Describe the image.',
    truth: [...before.truth],
    reference: before.caption,
    before: answerView(before.generated, before.truth, findSceneSpans),
    after: after ? answerView(after.generated, after.truth, findSceneSpans) : null,
    image,
  };
}

/** The report of the built-in benchmark: the same held-out scenes before and after training. */
export function benchmarkReport(args: {
  model: string;
  before: BenchmarkReport;
  after: BenchmarkReport | null;
  training: TrainingSummary | null;
  /** Pictures of the first scenes, by seed. */
  images?: ReadonlyMap<number, Blob>;
  samples: number;
  seconds: number;
}): HallucinationReport {
  const { before, after } = args;
  if (after && after.results.some((r, i) => r.seed !== before.results[i]?.seed))
    throw new Error('benchmarkReport: the two sides were evaluated on different scenes');
  return {
    source: 'benchmark',
    estimate: false,
    model: args.model,
    total: before.scenes,
    used: before.scenes,
    excluded: { noKnownObject: [] },
    message: before.scenes === 0 ? 'the benchmark has no held-out scene: ask for at least one' : null,
    before: benchmarkMetrics(before),
    after: after ? benchmarkMetrics(after) : null,
    samples: before.results.slice(0, args.samples).map((r, i) => sceneSample(r, after?.results[i], args.images?.get(r.seed))),
    training: args.training,
    seconds: args.seconds,
  };
}

/**
 * What a run keeps of an evaluation of its adapter: the scored metrics with the adapter on, and
 * off as the baseline (a ratio over nothing is left out, never stored as NaN).
 */
export function runHallucination(r: HallucinationReport, evaluatedAt: Date): RunHallucination | null {
  if (!r.after) return null;
  const scores = (m: HallucinationMetrics): Record<string, number> => {
    const out: Record<string, number> = {};
    const put = (name: string, v: number | null | undefined) => {
      if (v !== null && v !== undefined && Number.isFinite(v)) out[name] = v;
    };
    put('CHAIR_i', m.chairI.value);
    put('CHAIR_s', m.chairS.value);
    put('object recall', m.recall.value);
    put('POPE accuracy', m.popeAccuracy.value);
    put('POPE F1', m.popeF1);
    put('POPE yes-ratio', m.yesRatio.value);
    put('planted partner named', m.planted?.value);
    put('attribute accuracy', m.attributes?.value);
    return out;
  };
  return {
    benchmark: r.source === 'benchmark' ? 'built-in benchmark' : 'held-out records (estimates)',
    evaluatedAt: evaluatedAt.toISOString(),
    scores: scores(r.after),
    ...(r.before ? { baseline: scores(r.before) } : {}),
    samples: r.used,
  };
}
