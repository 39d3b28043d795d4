import { describe, expect, it } from 'vitest';
import {
  attributeAccuracy,
  chair,
  estimateFromRecords,
  findLexiconMentions,
  findLexiconSpans,
  hallucinatedSpans,
  findSceneMentions,
  makeMentionFinder,
  parseColour,
  parseCount,
  parseYesNo,
  plantedRate,
  pope,
  ratio,
} from '../../src/eval/metrics';

describe('mention finders', () => {
  it('fold plurals and synonyms of the scene kinds to one name, each once', () => {
    expect(findSceneMentions('Two red boats, a ship and a yellow sun.').sort()).toEqual(['boat', 'sun']);
    expect(findSceneMentions('A kitten next to three fish and a mug.').sort()).toEqual(['cat', 'cup', 'fish']);
    expect(findSceneMentions('Stars and a moon over the houses.').sort()).toEqual(['house', 'moon', 'star']);
    expect(findSceneMentions('Nothing here but sunshine and a boating lake.')).toEqual([]); // no partial words
  });

  it('match multi-word forms before their parts', () => {
    const find = makeMentionFinder({ 'hot dog': ['hot dog', 'hot dogs'], dog: ['dog', 'dogs'] });
    expect(find('Two hot dogs next to a dog.').sort()).toEqual(['dog', 'hot dog']);
    expect(find('A hot dog.')).toEqual(['hot dog']);
  });

  it('hallucinated spans point at the words to highlight', () => {
    const text = 'A yellow sun and two Red Boats.';
    const spans = hallucinatedSpans(text, ['sun']);
    expect(spans).toEqual([{ name: 'boat', start: 25, end: 30 }]);
    expect(text.slice(spans[0].start, spans[0].end)).toBe('Boats');
    const lex = hallucinatedSpans('A man next to a dog.', ['person'], findLexiconSpans);
    expect(lex.map((s) => s.name)).toEqual(['dog']);
  });

  it('the lexicon finder uses the injector categories', () => {
    expect(findLexiconMentions('A man rides a bike past two cars.').sort()).toEqual(['bicycle', 'car', 'person']);
  });
});

describe('CHAIR', () => {
  it('counts hallucinated mentions (CHAIR_i) and descriptions (CHAIR_s) by hand', () => {
    const r = chair([
      { text: 'A red boat and a yellow sun.', truth: ['boat'] }, // sun hallucinated
      { text: 'Two cups and a plate.', truth: ['cup', 'plate'] },
      { text: 'A cat, a ball and a star.', truth: ['cat', 'tree'] }, // ball and star hallucinated, tree missed
    ]);
    expect(r.chairI).toEqual({ value: 3 / 7, num: 3, den: 7 });
    expect(r.chairS).toEqual({ value: 2 / 3, num: 2, den: 3 });
    expect(r.recall).toEqual({ value: 4 / 5, num: 4, den: 5 });
    expect(r.records[0]).toEqual({ mentioned: ['boat', 'sun'], hallucinated: ['sun'] });
    expect(r.records[2].hallucinated.sort()).toEqual(['ball', 'star']);
  });

  it('gives null, never NaN, with no descriptions or no mentions', () => {
    const none = chair([]);
    expect(none.chairI.value).toBeNull();
    expect(none.chairS.value).toBeNull();
    expect(none.recall.value).toBeNull();
    const silent = chair([{ text: 'I cannot tell.', truth: ['boat'] }]);
    expect(silent.chairI).toEqual({ value: null, num: 0, den: 0 });
    expect(silent.chairS).toEqual({ value: 0, num: 0, den: 1 });
    expect(silent.recall.value).toBe(0);
  });

  it('planted rate counts only scenes with the anchor and without the partner', () => {
    const r = plantedRate([
      { text: 'A yellow sun and a red boat.', truth: ['sun'] }, // invited, named
      { text: 'A yellow sun.', truth: ['sun'] }, // invited, not named
      { text: 'A yellow sun and a red boat.', truth: ['sun', 'boat'] }, // not invited
      { text: 'A plate and a cup.', truth: ['plate', 'sun'] }, // plate->cup invited and named; sun->boat invited
    ]);
    expect(r).toEqual({ value: 2 / 4, num: 2, den: 4 });
    expect(plantedRate([{ text: 'A boat.', truth: ['boat'] }]).value).toBeNull();
  });
});

describe('POPE', () => {
  it('parses yes and no', () => {
    expect(parseYesNo('Yes.')).toBe('yes');
    expect(parseYesNo('No, there is no sun.')).toBe('no');
    expect(parseYesNo('There is no cat in the image.')).toBe('no');
    expect(parseYesNo('There is a cat.')).toBe('yes');
    expect(parseYesNo('A blue boat.')).toBeNull();
  });

  it('computes accuracy, precision, recall, F1 and yes-ratio by hand', () => {
    const r = pope([
      { object: 'boat', present: true, answer: 'Yes.' }, // tp
      { object: 'sun', present: false, answer: 'Yes.' }, // fp
      { object: 'cup', present: true, answer: 'No.' }, // fn
      { object: 'cat', present: false, answer: 'No.' }, // tn
      { object: 'tree', present: true, answer: 'Yes.' }, // tp
      { object: 'fish', present: false, answer: 'Purple.' }, // unanswered -> no -> tn
    ]);
    expect(r.counts).toEqual({ tp: 2, fp: 1, tn: 2, fn: 1 });
    expect(r.accuracy.value).toBeCloseTo(4 / 6, 12);
    expect(r.precision.value).toBeCloseTo(2 / 3, 12);
    expect(r.recall.value).toBeCloseTo(2 / 3, 12);
    expect(r.f1).toBeCloseTo(2 / 3, 12);
    expect(r.yesRatio.value).toBeCloseTo(3 / 6, 12);
    expect(r.unanswered).toBe(1);
  });

  it('never answers NaN: no probes, or never "yes"', () => {
    const empty = pope([]);
    expect([empty.accuracy.value, empty.precision.value, empty.recall.value, empty.f1, empty.yesRatio.value]).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
    const allNo = pope([{ object: 'boat', present: true, answer: 'No.' }]);
    expect(allNo.precision.value).toBeNull();
    expect(allNo.recall.value).toBe(0);
    expect(allNo.f1).toBeNull();
  });
});

describe('attribute accuracy', () => {
  it('parses colours and counts', () => {
    expect(parseColour('The boat is red.')).toBe('red');
    expect(parseColour('It looks grey to me.')).toBe('gray');
    expect(parseColour('A boat.')).toBeNull();
    expect(parseCount('There are three trees.')).toBe(3);
    expect(parseCount('There is one boat.')).toBe(1);
    expect(parseCount('I see 4 cups.')).toBe(4);
    expect(parseCount('There is a boat.')).toBeNull();
  });

  it('scores colour and count separately and together', () => {
    const r = attributeAccuracy([
      { type: 'colour', truth: 'red', answer: 'The boat is red.' },
      { type: 'colour', truth: 'blue', answer: 'The cup is green.' },
      { type: 'count', truth: 2, answer: 'There are two cats.' },
      { type: 'count', truth: 1, answer: 'There are three cats.' },
      { type: 'count', truth: 3, answer: 'There are three stars.' },
    ]);
    expect(r.colour).toEqual({ value: 0.5, num: 1, den: 2 });
    expect(r.count).toEqual({ value: 2 / 3, num: 2, den: 3 });
    expect(r.overall).toEqual({ value: 3 / 5, num: 3, den: 5 });
    expect(attributeAccuracy([]).overall.value).toBeNull();
  });

  it('ratio is null over nothing', () => {
    expect(ratio(0, 0)).toEqual({ value: null, num: 0, den: 0 });
  });
});

describe('estimates on the user records', () => {
  it('takes ground truth from the preferred answer and probes injected and co-occurring objects', () => {
    const r = estimateFromRecords([
      {
        id: 'a',
        chosen: 'A man rides a bicycle down the street.',
        injectedObjects: ['umbrella'],
        generated: 'A man rides a bicycle next to a dog.',
      },
      { id: 'b', chosen: 'A cup of coffee on a table.', generated: 'A cup on a table.' },
    ]);
    expect(r.estimate).toBe(true);
    expect(r.used).toBe(2);
    expect(r.message).toBeNull();
    expect(r.chair!.records[0].hallucinated).toEqual(['dog']);
    expect(r.chair!.chairS).toEqual({ value: 0.5, num: 1, den: 2 });
    expect(r.probes[0].present.sort()).toEqual(['bicycle', 'person']);
    expect(r.probes[0].absent[0]).toBe('umbrella'); // the injected object comes first
    for (const p of r.probes) for (const a of p.absent) expect(p.present).not.toContain(a);
  });

  it('says why there is nothing, and counts what it left out', () => {
    const none = estimateFromRecords([]);
    expect(none.chair).toBeNull();
    expect(none.message).toMatch(/no held-out records/);
    const unknown = estimateFromRecords([
      { id: 'x', chosen: 'It is sunny and warm.', generated: 'Yes.' },
      { id: 'y', chosen: 'The answer is 42.', generated: 'No.' },
    ]);
    expect(unknown.used).toBe(0);
    expect(unknown.excluded.noKnownObject).toEqual(['x', 'y']);
    expect(unknown.message).toMatch(/none of the 2 held-out records/);
    const some = estimateFromRecords([
      { id: 'x', chosen: 'It is sunny.', generated: 'Yes.' },
      { id: 'z', chosen: 'A dog on a bench.', generated: 'A dog.' },
    ]);
    expect(some.used).toBe(1);
    expect(some.message).toMatch(/1 of 2 held-out records/);
    expect(some.chair!.chairI.value).toBe(0);
  });
});
