// The hallucination report's text (src/ui/hallucination-format.ts): never NaN on screen, changes
// in points and relative with the right direction, the rows a report has, and answers cut at
// their marks.
import { describe, expect, it } from 'vitest';
import {
  formatChange,
  formatValue,
  METRIC_ROWS,
  pieces,
  progressText,
  rowsOf,
  scopeText,
  valueOf,
} from '../../src/ui/hallucination-format';
import type { HallucinationMetrics, HallucinationReport } from '../../src/worker/hallucination-api';

const r = (num: number, den: number) => ({ value: den > 0 ? num / den : null, num, den });

describe('values', () => {
  it('shows a ratio over nothing as a dash with its counts, never NaN', () => {
    expect(formatValue(r(0, 0))).toBe('– (0/0)');
    expect(formatValue({ value: NaN, num: 0, den: 0 })).toBe('– (0/0)');
    expect(formatValue(null)).toBe('–');
    expect(formatValue(Number.NaN)).toBe('–');
    expect(formatValue(r(5, 12))).toBe('41.7% (5/12)');
    expect(formatValue(0.8)).toBe('80.0%');
    expect(valueOf(Infinity)).toBeNull();
  });

  it('gives changes in points and relative, with lower CHAIR as better', () => {
    expect(formatChange(r(6, 10), r(3, 10), -1)).toEqual({ text: '−30.0 pts (−50%)', tone: 'better' });
    expect(formatChange(r(6, 10), r(7, 10), -1)).toEqual({ text: '+10.0 pts (+17%)', tone: 'worse' });
    expect(formatChange(0.5, 0.75, 1)).toEqual({ text: '+25.0 pts (+50%)', tone: 'better' });
    expect(formatChange(r(0, 10), r(1, 10), -1)).toEqual({ text: '+10.0 pts', tone: 'worse' });
    expect(formatChange(r(5, 10), r(6, 10), 0).tone).toBe('same');
    expect(formatChange(r(1, 2), r(1, 2), -1)).toEqual({ text: '±0 pts', tone: 'same' });
    expect(formatChange(r(0, 0), r(1, 2), -1)).toEqual({ text: '–', tone: 'none' });
  });
});

describe('pieces', () => {
  it('cuts the text at the marks, in order, whatever order they come in', () => {
    const text = 'A sun, a boat and a kite.';
    expect(
      pieces(text, [
        { name: 'kite', start: 20, end: 24 },
        { name: 'boat', start: 9, end: 13 },
      ]),
    ).toEqual([{ text: 'A sun, a ' }, { text: 'boat', mark: 'boat' }, { text: ' and a ' }, { text: 'kite', mark: 'kite' }, { text: '.' }]);
    expect(
      pieces(text, [])
        .map((p) => p.text)
        .join(''),
    ).toBe(text);
    expect(pieces('', [])).toEqual([{ text: '' }]);
  });

  it('skips marks that overlap or fall outside the text', () => {
    const text = 'two boats';
    expect(
      pieces(text, [
        { name: 'boat', start: 4, end: 9 },
        { name: 'x', start: 5, end: 7 },
        { name: 'y', start: 8, end: 30 },
        { name: 'z', start: 3, end: 3 },
      ]),
    ).toEqual([{ text: 'two ' }, { text: 'boats', mark: 'boat' }]);
  });
});

function metrics(over: Partial<HallucinationMetrics> = {}): HallucinationMetrics {
  return {
    chairI: r(1, 4),
    chairS: r(1, 2),
    recall: r(3, 4),
    popeAccuracy: r(3, 4),
    popeF1: 0.8,
    yesRatio: r(2, 4),
    planted: null,
    attributes: null,
    ...over,
  };
}

function report(over: Partial<HallucinationReport> = {}): HallucinationReport {
  return {
    source: 'records',
    estimate: true,
    model: 'm',
    total: 5,
    used: 3,
    excluded: { noKnownObject: ['x', 'y'] },
    message: null,
    before: metrics(),
    after: metrics(),
    samples: [],
    training: null,
    seconds: 1,
    ...over,
  };
}

describe('rows and lines', () => {
  it('leaves out the rows only the benchmark has, and keeps rows without a value as dashes', () => {
    expect(rowsOf(report({ before: metrics({ popeF1: null }) })).map((x) => x.key)).toEqual([
      'chairI',
      'chairS',
      'recall',
      'popeF1',
      'popeAccuracy',
      'yesRatio',
    ]);
    expect(rowsOf(report({ source: 'benchmark', before: metrics({ planted: r(1, 2), attributes: r(1, 2) }) })).map((x) => x.key)).toEqual(
      METRIC_ROWS.map((x) => x.key),
    );
    expect(formatValue(metrics({ popeF1: null }).popeF1)).toBe('–');
  });

  it('says what was scored', () => {
    expect(scopeText(report())).toBe('3 of 5 held-out records scored.');
    expect(scopeText(report({ excluded: { noKnownObject: [] }, used: 1, total: 1 }))).toBe('1 of 1 held-out record scored.');
    expect(scopeText(report({ source: 'benchmark', used: 4 }))).toBe('4 held-out scenes never trained on, exact ground truth.');
  });

  it('writes progress as n/N', () => {
    expect(progressText({ phase: 'before', done: 3, total: 12 }, 'scenes')).toBe('Adapter off: 3/12 scenes');
    expect(progressText({ phase: 'train', done: 5, total: 24 }, 'scenes')).toBe('Training: 5/24 steps');
    expect(progressText({ phase: 'load', done: 0, total: 0 }, 'scenes')).toBe('Loading the built-in model…');
  });
});
