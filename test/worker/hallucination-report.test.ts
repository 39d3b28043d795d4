// The hallucination report's assembly (src/worker/hallucination-report.ts): which held-out records
// are scored and what they are asked, one side's metrics from given answers, the marks of
// hallucinated mentions, and the messages for bad input. No GPU: the answers are given.
import { describe, expect, it } from 'vitest';
import type { BenchmarkReport, SceneResult } from '../../src/eval/benchmark';
import { attributeAccuracy, chair, plantedRate, pope } from '../../src/eval/metrics';
import {
  benchmarkReport,
  planRecords,
  probeQuestion,
  recordMetrics,
  recordsReport,
  runHallucination,
  type RecordInput,
} from '../../src/worker/hallucination-report';
import { hallucinationLine } from '../../src/ui/hallucination-format';

const RECORDS: RecordInput[] = [
  { id: 'a', question: 'What is on the table?', chosen: 'A cup on a table.', edits: [{ kind: 'object', to: 'knife' }] },
  { id: 'b', question: 'What is the weather?', chosen: 'It is sunny and warm.', edits: [] },
  { id: 'c', question: 'What animal is this?', chosen: 'A cat sleeping.', edits: [{ kind: 'color', to: 'red' }] },
];

describe('planRecords', () => {
  it('scores records that name a known object, probing one present and one absent object', () => {
    const { plans, estimate } = planRecords(RECORDS);
    expect(plans.map((p) => p.id)).toEqual(['a', 'c']);
    expect(estimate.excluded.noKnownObject).toEqual(['b']);
    expect(estimate.message).toBe('1 of 3 held-out records name no known object and were left out');
    // The injected object is the absent probe where there is one; else a co-occurring object.
    expect(plans[0].truth).toEqual(['cup', 'dining table']);
    expect(plans[0].probes).toEqual([
      { object: 'cup', present: true, question: 'Is there a cup in the image?' },
      { object: 'knife', present: false, question: 'Is there a knife in the image?' },
    ]);
    expect(plans[1].probes).toEqual([
      { object: 'cat', present: true, question: 'Is there a cat in the image?' },
      { object: 'couch', present: false, question: 'Is there a couch in the image?' },
    ]);
  });

  it('says so when there is nothing to score', () => {
    expect(planRecords([]).estimate.message).toMatch(/no held-out records/);
    const none = planRecords([RECORDS[1]]);
    expect(none.plans).toEqual([]);
    expect(none.estimate.message).toMatch(/none of the 1 held-out records names a known object.*1 excluded/);
  });

  it('asks with the right article', () => {
    expect(probeQuestion('apple')).toBe('Is there an apple in the image?');
    expect(probeQuestion('dining table')).toBe('Is there a dining table in the image?');
  });
});

describe('recordMetrics', () => {
  const { plans } = planRecords(RECORDS);
  it('is CHAIR over the answers and POPE over the probes, against the preferred answers', () => {
    const answers = [
      { answer: 'A cup and a knife on a table.', probes: ['Yes.', 'Yes, there is.'] }, // knife is not there: fp
      { answer: 'A cat on a couch.', probes: ['Yes.', 'No.'] }, // couch is not there
    ];
    const m = recordMetrics(plans, answers);
    // Mentions: cup, knife, dining table | cat, couch -> 2 of 5 hallucinated; both answers hallucinate.
    expect(m.chairI).toEqual({ value: 2 / 5, num: 2, den: 5 });
    expect(m.chairS).toEqual({ value: 1, num: 2, den: 2 });
    expect(m.recall).toEqual({ value: 1, num: 3, den: 3 });
    // Probes: tp 2, fp 1, tn 1.
    expect(m.popeAccuracy).toEqual({ value: 3 / 4, num: 3, den: 4 });
    expect(m.yesRatio).toEqual({ value: 3 / 4, num: 3, den: 4 });
    expect(m.popeF1).toBeCloseTo((2 * (2 / 3) * 1) / (2 / 3 + 1), 12);
    expect(m.planted).toBeNull();
    expect(m.attributes).toBeNull();
  });

  it('refuses answers that do not match the records', () => {
    expect(() => recordMetrics(plans, [])).toThrow(/0 answers for 2 records/);
  });
});

describe('recordsReport', () => {
  it('marks the hallucinated words of each answer and keeps the counts of what was left out', () => {
    const { plans, estimate } = planRecords(RECORDS);
    const before = [
      { answer: 'A cup and a knife on a table.', probes: ['Yes.', 'Yes.'] },
      { answer: 'A cat.', probes: ['Yes.', 'No.'] },
    ];
    const after = [
      { answer: 'A cup on a table.', probes: ['Yes.', 'No.'] },
      { answer: 'A cat.', probes: ['Yes.', 'No.'] },
    ];
    const r = recordsReport({ model: 'm', total: 3, plans, estimate, before, after, seconds: 1 });
    expect(r).toMatchObject({ source: 'records', estimate: true, total: 3, used: 2, excluded: { noKnownObject: ['b'] } });
    expect(r.samples[0].before.hallucinated).toEqual([{ name: 'knife', start: 12, end: 17 }]);
    expect(r.samples[0].before.text.slice(12, 17)).toBe('knife');
    expect(r.samples[0].after?.hallucinated).toEqual([]);
    expect(r.before!.chairI.value).toBeCloseTo(1 / 4, 12);
    expect(r.after!.chairI.value).toBe(0);
  });

  it('has no numbers, and a message with the count, when no record can be scored', () => {
    const { plans, estimate } = planRecords([RECORDS[1], { ...RECORDS[1], id: 'd' }]);
    const r = recordsReport({ model: 'm', total: 2, plans, estimate, before: null, after: null, seconds: 0 });
    expect(r.before).toBeNull();
    expect(r.after).toBeNull();
    expect(r.used).toBe(0);
    expect(r.excluded.noKnownObject).toEqual(['b', 'd']);
    expect(r.message).toMatch(/none of the 2 held-out records.*\(2 excluded\)/);
    const empty = planRecords([]);
    expect(recordsReport({ model: 'm', total: 0, ...empty, before: null, after: null, seconds: 0 }).message).toMatch(
      /no held-out records.*held-out fraction/,
    );
  });
});

describe('runHallucination', () => {
  it('keeps the adapter-on metrics with the adapter-off baseline, and only finite values', () => {
    const { plans, estimate } = planRecords(RECORDS);
    const before = [
      { answer: 'A cup and a knife on a table.', probes: ['Yes.', 'Yes.'] },
      { answer: 'A cat.', probes: ['Yes.', 'No.'] },
    ];
    const after = [
      { answer: 'A cup on a table.', probes: ['Yes.', 'No.'] },
      { answer: 'A cat.', probes: ['Yes.', 'No.'] },
    ];
    const r = recordsReport({ model: 'm', total: 3, plans, estimate, before, after, seconds: 1 });
    const kept = runHallucination(r, new Date('2026-01-02T03:04:05Z'))!;
    expect(kept.benchmark).toBe('held-out records (estimates)');
    expect(kept.evaluatedAt).toBe('2026-01-02T03:04:05.000Z');
    expect(kept.samples).toBe(2);
    expect(kept.scores['CHAIR_i']).toBe(0);
    expect(kept.baseline!['CHAIR_i']).toBeCloseTo(1 / 4, 12);
    expect(kept.scores['POPE accuracy']).toBe(1);
    // Records have no planted pairs or attribute questions: those are left out, not NaN.
    expect(kept.scores).not.toHaveProperty('planted partner named');
    expect(kept.scores).not.toHaveProperty('attribute accuracy');
    for (const v of [...Object.values(kept.scores), ...Object.values(kept.baseline!)]) expect(Number.isFinite(v)).toBe(true);
    expect(hallucinationLine(kept)).toBe(
      'Hallucination on held-out records (estimates), 2 scored: CHAIR_i 0.0% (off: 25.0%) · CHAIR_s 0.0% (off: 50.0%) · POPE F1 100.0% (off: 80.0%)',
    );
  });

  it('keeps nothing when no record could be scored', () => {
    const { plans, estimate } = planRecords([RECORDS[1]]);
    expect(
      runHallucination(recordsReport({ model: 'm', total: 1, plans, estimate, before: null, after: null, seconds: 0 }), new Date()),
    ).toBeNull();
  });
});

function sceneResult(
  seed: number,
  truth: string[],
  generated: string,
  probes: [boolean, string][],
  attrs: [string | number, string][],
): SceneResult {
  return {
    seed,
    truth: truth as SceneResult['truth'],
    caption: 'exact',
    generated,
    hallucinated: [],
    probes: probes.map(([t, a]) => ({ question: 'Is there?', truth: t, answer: a })),
    attributes: attrs.map(([t, a]) => ({ question: 'q', truth: t, answer: a })),
  };
}

function benchmark(results: SceneResult[]): BenchmarkReport {
  const c = chair(results.map((r) => ({ text: r.generated, truth: r.truth })));
  return {
    scenes: results.length,
    chairI: c.chairI,
    chairS: c.chairS,
    recall: c.recall,
    planted: plantedRate(results.map((r) => ({ text: r.generated, truth: r.truth }))),
    pope: pope(results.flatMap((r) => r.probes.map((p) => ({ object: 'x', present: p.truth, answer: p.answer })))),
    attributes: attributeAccuracy(
      results.flatMap((r) =>
        r.attributes.map((a) =>
          typeof a.truth === 'number'
            ? { type: 'count' as const, truth: a.truth, answer: a.answer }
            : { type: 'colour' as const, truth: a.truth, answer: a.answer },
        ),
      ),
    ),
    results,
    seconds: 1,
  };
}

describe('benchmarkReport', () => {
  const before = benchmark([
    sceneResult(
      1,
      ['sun'],
      'A yellow sun and a red boat.',
      [
        [true, 'Yes.'],
        [false, 'Yes.'],
      ],
      [
        ['yellow', 'The sun is yellow.'],
        [1, 'There is one sun.'],
      ],
    ),
    sceneResult(
      2,
      ['cat'],
      'A black cat.',
      [
        [true, 'Yes.'],
        [false, 'No.'],
      ],
      [
        ['black', 'The cat is white.'],
        [1, 'There is one cat.'],
      ],
    ),
  ]);
  const after = benchmark([
    sceneResult(
      1,
      ['sun'],
      'A yellow sun.',
      [
        [true, 'Yes.'],
        [false, 'No.'],
      ],
      [
        ['yellow', 'The sun is yellow.'],
        [1, 'There is one sun.'],
      ],
    ),
    sceneResult(
      2,
      ['cat'],
      'A black cat.',
      [
        [true, 'Yes.'],
        [false, 'No.'],
      ],
      [
        ['black', 'The cat is black.'],
        [1, 'There is one cat.'],
      ],
    ),
  ]);

  it('carries both sides with the planted rate and attributes, and marks the planted partner', () => {
    const r = benchmarkReport({ model: 'tiny', before, after, training: null, samples: 8, seconds: 2 });
    expect(r).toMatchObject({ source: 'benchmark', estimate: false, total: 2, used: 2, message: null });
    expect(r.before!.planted).toEqual({ value: 1, num: 1, den: 1 });
    expect(r.after!.planted).toEqual({ value: 0, num: 0, den: 1 });
    expect(r.before!.chairI).toEqual({ value: 1 / 3, num: 1, den: 3 });
    expect(r.after!.chairI).toEqual({ value: 0, num: 0, den: 2 });
    expect(r.before!.attributes).toEqual({ value: 3 / 4, num: 3, den: 4 });
    expect(r.after!.attributes).toEqual({ value: 1, num: 4, den: 4 });
    expect(r.before!.popeAccuracy.value).toBe(3 / 4);
    expect(r.samples[0].before.hallucinated).toEqual([{ name: 'boat', start: 23, end: 27 }]);
    expect(r.samples[0].after?.hallucinated).toEqual([]);
    expect(r.samples.map((s) => s.id)).toEqual(['scene 1', 'scene 2']);
  });

  it('keeps only the first samples and refuses sides from different scenes', () => {
    expect(benchmarkReport({ model: 'tiny', before, after: null, training: null, samples: 1, seconds: 0 }).samples).toHaveLength(1);
    const other = benchmark([...after.results].reverse());
    expect(() => benchmarkReport({ model: 'tiny', before, after: other, training: null, samples: 8, seconds: 0 })).toThrow(
      /different scenes/,
    );
  });
});
