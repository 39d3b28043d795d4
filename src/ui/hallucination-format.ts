// What the hallucination report shows, as text: the metric rows, percentages that are never NaN
// (a ratio over nothing reads "–" with its counts), changes in points and relative, the progress
// line, and an answer cut into plain and marked pieces. No DOM here.
import type { RunHallucination } from '../worker/api';
import type { EvalProgress, HallucinationMetrics, HallucinationReport, MentionMark, Ratio } from '../worker/hallucination-api';

export interface MetricRow {
  key: keyof HallucinationMetrics;
  label: string;
  /** For the chart's axis. */
  short: string;
  help: string;
  /** +1: higher is better, -1: lower is better, 0: neither (the yes-ratio should sit near 0.5). */
  better: 1 | -1 | 0;
  /** Only the built-in benchmark has it (planted pairs, attribute questions). */
  benchmarkOnly?: true;
}

export const METRIC_ROWS: readonly MetricRow[] = [
  {
    key: 'chairI',
    label: 'CHAIR_i',
    short: 'CHAIR_i',
    help: 'Object mentions that name something not in the picture, of all object mentions.',
    better: -1,
  },
  {
    key: 'chairS',
    label: 'CHAIR_s',
    short: 'CHAIR_s',
    help: 'Answers that name at least one object not in the picture, of all answers.',
    better: -1,
  },
  {
    key: 'planted',
    label: 'Planted partner named',
    short: 'Planted',
    help: 'Scenes that show an anchor (sun, plate, tree, cloud) without its partner (boat, cup, bird, kite) whose description names the partner anyway.',
    better: -1,
    benchmarkOnly: true,
  },
  {
    key: 'recall',
    label: 'Object recall',
    short: 'Recall',
    help: 'Objects in the picture that the answer names, of all objects in the picture.',
    better: 1,
  },
  {
    key: 'popeF1',
    label: 'POPE F1',
    short: 'POPE F1',
    help: '"Is there a X in the image?" over present and absent objects: F1 of "yes" for present ones.',
    better: 1,
  },
  { key: 'popeAccuracy', label: 'POPE accuracy', short: 'POPE acc.', help: 'Object probes answered correctly.', better: 1 },
  {
    key: 'yesRatio',
    label: 'POPE yes-ratio',
    short: 'Yes-ratio',
    help: 'Probes answered "yes"; half of them ask about absent objects, so 50% is unbiased.',
    better: 0,
  },
  {
    key: 'attributes',
    label: 'Attribute accuracy',
    short: 'Attributes',
    help: 'Colour and count questions answered correctly: training should not break them.',
    better: 1,
    benchmarkOnly: true,
  },
];

type Value = Ratio | number | null;

/** The number of a metric, or null when there is none (never NaN or infinite). */
export function valueOf(v: Value): number | null {
  const x = v === null ? null : typeof v === 'number' ? v : v.value;
  return x !== null && Number.isFinite(x) ? x : null;
}

export function formatPercent(x: number | null): string {
  return x === null ? '–' : `${(100 * x).toFixed(1)}%`;
}

/** "42.0% (5/12)", or "– (0/0)" for a ratio over nothing. */
export function formatValue(v: Value): string {
  const pct = formatPercent(valueOf(v));
  return v !== null && typeof v === 'object' ? `${pct} (${v.num}/${v.den})` : pct;
}

export interface Change {
  text: string;
  tone: 'better' | 'worse' | 'same' | 'none';
}

/** After minus before in percentage points, with the relative change where before is above 0. */
export function formatChange(before: Value, after: Value, better: MetricRow['better']): Change {
  const b = valueOf(before);
  const a = valueOf(after);
  if (a === null || b === null) return { text: '–', tone: 'none' };
  const points = 100 * (a - b);
  if (Math.abs(points) < 0.05) return { text: '±0 pts', tone: 'same' };
  const sign = points > 0 ? '+' : '−';
  const rel = b > 0 ? ` (${sign}${Math.abs((100 * (a - b)) / b).toFixed(0)}%)` : '';
  const tone = better === 0 ? 'same' : Math.sign(points) === better ? 'better' : 'worse';
  return { text: `${sign}${Math.abs(points).toFixed(1)} pts${rel}`, tone };
}

/** The rows of a report: the user's records have no planted pairs or attribute questions. */
export function rowsOf(report: HallucinationReport): MetricRow[] {
  return METRIC_ROWS.filter((r) => report.source === 'benchmark' || !r.benchmarkOnly);
}

const PHASES: Record<EvalProgress['phase'], string> = {
  load: 'Loading the built-in model',
  prepare: 'Preparing',
  before: 'Adapter off',
  train: 'Training',
  after: 'Adapter on',
};

export function progressText(p: EvalProgress, unit: 'records' | 'scenes'): string {
  const what = p.phase === 'train' ? 'steps' : p.phase === 'load' ? '' : unit;
  if (!(p.total > 0)) return `${PHASES[p.phase]}…`;
  return `${PHASES[p.phase]}: ${p.done}/${p.total}${what ? ` ${what}` : ''}`;
}

export interface Piece {
  text: string;
  /** The object named here that is not in the picture. */
  mark?: string;
}

/** The text cut at the marks (sorted; overlapping or out-of-range marks are skipped). */
export function pieces(text: string, marks: readonly MentionMark[]): Piece[] {
  const out: Piece[] = [];
  let at = 0;
  for (const m of [...marks].sort((x, y) => x.start - y.start)) {
    if (!(Number.isInteger(m.start) && Number.isInteger(m.end)) || m.start < at || m.end <= m.start || m.end > text.length) continue;
    if (m.start > at) out.push({ text: text.slice(at, m.start) });
    out.push({ text: text.slice(m.start, m.end), mark: m.name });
    at = m.end;
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at) });
  return out;
}

/** One line on what was scored (what was left out, and why, is the report's message). */
export function scopeText(r: HallucinationReport): string {
  if (r.source === 'benchmark') return `${r.used} held-out scene${r.used === 1 ? '' : 's'} never trained on, exact ground truth.`;
  return `${r.used} of ${r.total} held-out record${r.total === 1 ? '' : 's'} scored.`;
}

/** The run's kept evaluation in one line: a few headline metrics, adapter on (off in brackets). */
export function hallucinationLine(e: RunHallucination): string {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const parts = ['CHAIR_i', 'CHAIR_s', 'POPE F1', 'planted partner named']
    .filter((k) => e.scores[k] !== undefined)
    .map((k) => `${k} ${pct(e.scores[k])}${e.baseline?.[k] !== undefined ? ` (off: ${pct(e.baseline[k])})` : ''}`);
  const n = e.samples !== undefined ? `, ${e.samples} scored` : '';
  return `Hallucination on ${e.benchmark}${n}: ${parts.length ? parts.join(' · ') : 'nothing could be scored'}`;
}
