import { afterEach, describe, expect, it, vi } from 'vitest';
import { EDIT_KINDS, findObjectMentions, injectHallucination, type InjectionResult } from '../../src/povid/inject';
import { CO_OCCURRENCE, COCO_CATEGORIES, CONTEXT_NOUNS, indefiniteArticle, SIMILAR_OBJECTS } from '../../src/povid/lexicon';
import { ANSWERS } from './answers';

/** An independent a/an rule for the words the test answers use. */
function articleOk(article: string, word: string): boolean {
  if (/^[A-Z]{2,}/.test(word)) return true; // initialisms are read letter by letter; not judged here
  const w = word.toLowerCase();
  const vowelSound = (/^[aeiou]/.test(w) && !/^(uni|use|usu|eu|one|once|ur)/.test(w)) || /^(hour|honest|honou?r|heir)/.test(w);
  return article.toLowerCase() === (vowelSound ? 'an' : 'a');
}

function articleErrors(text: string): string[] {
  const bad: string[] = [];
  for (const m of text.matchAll(/\b(a|an)\s+([A-Za-z][A-Za-z'-]*)/gi)) if (!articleOk(m[1], m[2])) bad.push(m[0]);
  return bad;
}

/** Puts every edit's `from` back in place of its output span. */
function undo(r: InjectionResult): string {
  let t = r.text;
  for (const e of [...r.edits].sort((a, b) => b.start - a.start)) t = t.slice(0, e.start) + e.from + t.slice(e.end);
  return t;
}

describe('injectHallucination on 200 varied answers', () => {
  afterEach(() => vi.restoreAllMocks());

  it('has 200 distinct, grammatical test answers', () => {
    expect(ANSWERS).toHaveLength(200);
    expect(new Set(ANSWERS.map((s) => s.answer)).size).toBe(200);
    for (const s of ANSWERS) expect(articleErrors(s.answer)).toEqual([]);
  });

  it('always edits, reports exact spans and keeps articles right', () => {
    ANSWERS.forEach((s, i) => {
      const r = injectHallucination(s.answer, { seed: i, question: s.question });
      expect(r.edits.length, s.answer).toBeGreaterThanOrEqual(1);
      expect(r.text, s.answer).not.toBe(s.answer);
      let prevEnd = -1;
      for (const e of [...r.edits].sort((a, b) => a.start - b.start)) {
        expect(e.from, s.answer).not.toBe(e.to);
        expect(r.text.slice(e.start, e.end), s.answer).toBe(e.to);
        expect(e.start, s.answer).toBeGreaterThanOrEqual(prevEnd);
        expect(EDIT_KINDS).toContain(e.kind);
        prevEnd = e.end;
      }
      expect(undo(r), s.answer).toBe(s.answer);
      expect(articleErrors(r.text), `${s.answer} -> ${r.text}`).toEqual([]);
      // the first letter keeps its case
      const first = s.answer.match(/[A-Za-z]/)?.[0];
      const outFirst = r.text.match(/[A-Za-z]/)?.[0];
      if (first && outFirst) expect(outFirst === outFirst.toUpperCase(), `${s.answer} -> ${r.text}`).toBe(first === first.toUpperCase());
    });
  });

  it('is deterministic for a seed and varies with the seed', () => {
    let varies = 0;
    ANSWERS.forEach((s) => {
      const a = injectHallucination(s.answer, { seed: 123, question: s.question });
      expect(injectHallucination(s.answer, { seed: 123, question: s.question })).toEqual(a);
      const others = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => injectHallucination(s.answer, { seed, question: s.question }).text);
      if (others.some((t) => t !== a.text)) varies++;
    });
    expect(varies).toBeGreaterThanOrEqual(120);
  });

  it('exercises every edit kind across the set', () => {
    const counts = new Map<string, number>();
    ANSWERS.forEach((s, i) => {
      for (const e of injectHallucination(s.answer, { seed: i, question: s.question }).edits)
        counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
    });
    for (const kind of EDIT_KINDS) expect(counts.get(kind) ?? 0, kind).toBeGreaterThanOrEqual(3);
  });

  it('uses no randomness but its seed', () => {
    vi.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('Math.random used');
    });
    for (const s of ANSWERS.slice(0, 50)) injectHallucination(s.answer, { seed: 1 });
  });

  it('makes more edits with more strength', () => {
    const long = ANSWERS.filter((s) => s.answer.length > 150);
    expect(long.length).toBeGreaterThanOrEqual(20);
    const total = (strength: number) => long.reduce((n, s, i) => n + injectHallucination(s.answer, { seed: i, strength }).edits.length, 0);
    const [s0, s5, s1] = [total(0), total(0.5), total(1)];
    expect(s0).toBeLessThan(s5);
    expect(s5).toBeLessThan(s1);
    // strength 0: one edit (one candidate, whose parts share a kind)
    long.forEach((s, i) => {
      const kinds = new Set(injectHallucination(s.answer, { seed: i, strength: 0 }).edits.map((e) => e.kind));
      expect(kinds.size).toBe(1);
    });
  });
});

describe('injectHallucination: specific rewrites', () => {
  /** Output over seeds 0..39 (the candidates are drawn at random). */
  const outputs = (answer: string, question?: string, strength?: number) =>
    Array.from({ length: 40 }, (_, seed) => injectHallucination(answer, { seed, question, strength }));

  it('flips yes/no answers keeping case and punctuation', () => {
    expect(injectHallucination('Yes.', { seed: 1 }).text).toBe('No.');
    expect(injectHallucination('no', { seed: 1 }).text).toBe('yes');
    expect(injectHallucination('YES!', { seed: 1 }).text).toBe('NO!');
    expect(injectHallucination('Yes, there is a cat on the couch.', { seed: 2, strength: 0 }).text).toBe(
      'No, there is no cat on the couch.',
    );
    expect(injectHallucination("No, it isn't.", { seed: 2 }).text).toBe('Yes, it is.');
    expect(injectHallucination('No, the woman is not holding an umbrella.', { seed: 2, strength: 0 }).text).toBe(
      'Yes, the woman is holding an umbrella.',
    );
    const r = injectHallucination('Yes.', { seed: 1 });
    expect(r.edits).toEqual([{ kind: 'opposite', start: 0, end: 2, from: 'Yes', to: 'No' }]);
  });

  it('changes counts with plural agreement and is/are', () => {
    let checked = 0;
    for (const r of outputs('There is one dog on the bench.', 'How many dogs are there?')) {
      const count = r.edits.filter((e) => e.kind === 'count');
      if (count.length === 0) continue;
      checked++;
      expect(r.text).toMatch(/^There are (two|three|four|five|six|seven) dogs on the bench\.$/);
      expect(count.map((e) => e.from)).toEqual(['is', 'one', 'dog']);
    }
    for (const r of outputs('Three cats are sleeping.', 'How many cats?')) {
      if (!r.edits.some((e) => e.kind === 'count')) continue;
      checked++;
      expect(r.text).toMatch(/^(One cat is|(Two|Four|Five|Six|Seven) cats are) sleeping\.$/);
    }
    expect(checked).toBeGreaterThanOrEqual(40); // the question makes count the first choice
    expect(outputs('Three cats are sleeping.', 'How many cats?').some((r) => r.text === 'One cat is sleeping.')).toBe(true);
    const digits = outputs('I see 1 person and 2 buses.', 'How many?').map((r) => r.text);
    expect(digits.some((t) => /I see [2-7] people/.test(t))).toBe(true);
    expect(digits.some((t) => /and 1 bus\./.test(t))).toBe(true);
    const twenty = outputs('There are twenty oranges.', 'How many oranges?').map((r) => r.text);
    expect(twenty.every((t) => /^There are [a-z-]+ oranges\.$/.test(t) && !t.includes('twenty oranges'))).toBe(true);
  });

  it('swaps colours, sizes, materials, attributes and relations in place', () => {
    const seen = new Map<string, Set<string>>();
    const samples: [string, string][] = [
      ['A red car.', 'color'],
      ['A small dog.', 'size'],
      ['A wooden chair.', 'material'],
      ['An old man.', 'attribute'],
      ['The cup is on the left.', 'relation'],
      ['It is a sunny day.', 'relation'],
      ['The door is open.', 'relation'],
      ['The cat is under the table.', 'relation'],
    ];
    for (const [text, kind] of samples) {
      for (const r of outputs(text)) {
        for (const e of r.edits) {
          if (!seen.has(text)) seen.set(text, new Set());
          seen.get(text)!.add(`${e.kind}:${e.from}->${e.to}`);
        }
      }
      expect(
        [...(seen.get(text) ?? [])].some((x) => x.startsWith(kind)),
        `${text}: ${[...(seen.get(text) ?? [])].join(', ')}`,
      ).toBe(true);
    }
    const rel = [...seen.get('The cup is on the left.')!];
    expect(rel).toContain('relation:left->right');
    expect([...seen.get('An old man.')!]).toContain('attribute:An old->A young');
    expect([...seen.get('The door is open.')!]).toContain('relation:open->closed');
  });

  it('adds or replaces objects with co-occurring ones, fixing articles', () => {
    const texts = outputs('A plate on the table.', undefined, 1).map((r) => r.text);
    expect(texts.some((t) => /plate (next to|beside|near) an? (fork|knife|spoon|cup|wine glass)/.test(t))).toBe(true);
    const apple = outputs('An apple.', 'What fruit is this?');
    for (const r of apple) expect(articleErrors(r.text)).toEqual([]);
    expect(apple.some((r) => /^A (banana|sandwich|carrot|hot dog|pizza|donut|cake)\.$/.test(r.text))).toBe(true);
  });

  it('appends a co-occurring object when nothing else can change', () => {
    const r = injectHallucination('Tuesday', { seed: 3 });
    expect(r.text).toMatch(/^Tuesday\. There is also an? [a-z ]+ in the background\.$/);
    expect(r.edits).toHaveLength(1);
    expect(r.edits[0]).toMatchObject({ kind: 'object', from: '', start: 'Tuesday'.length });
    const anchored = injectHallucination('Surfing.', { seed: 3, question: 'What is the dog doing?' });
    expect(anchored.text).toMatch(/^Surfing\. There is also an? (frisbee|person|couch|cat|car|ball) next to the dog\.$/);
    expect(injectHallucination('', { seed: 1 }).text).toMatch(/^There is an? [a-z ]+ in the background\.$/);
  });

  it('keeps HTML, emoji and unknown words outside the edited spans', () => {
    const text = '<b>A red car</b> 🚗 near the שלום sign.';
    for (const r of outputs(text)) expect(undo(r)).toBe(text);
  });
});

describe('test helpers', () => {
  it('articleErrors catches wrong articles', () => {
    expect(articleErrors('a apple and an banana, an hour, a unicorn')).toEqual(['a apple', 'an banana']);
  });
});

describe('lexicon', () => {
  it('has the 80 COCO categories with co-occurrence rows that name real categories', () => {
    const names = COCO_CATEGORIES.map((c) => c.name);
    expect(names).toHaveLength(80);
    expect(new Set(names).size).toBe(80);
    for (const n of names) {
      const row = CO_OCCURRENCE[n];
      expect(row, n).toBeDefined();
      expect(row.length, n).toBeGreaterThanOrEqual(3);
      for (const m of row) {
        expect(names, `${n} -> ${m}`).toContain(m);
        expect(m).not.toBe(n);
      }
    }
    for (const [n, row] of [...Object.entries(SIMILAR_OBJECTS), ...Object.entries(CONTEXT_NOUNS)])
      for (const m of row) expect(names, `${n} -> ${m}`).toContain(m);
  });

  it('chooses a/an by sound', () => {
    const cases: [string, string][] = [
      ['apple', 'an'],
      ['banana', 'a'],
      ['umbrella', 'an'],
      ['unicorn', 'a'],
      ['hour', 'an'],
      ['honest', 'an'],
      ['horse', 'a'],
      ['European', 'a'],
      ['one', 'a'],
      ['SUV', 'an'],
      ['TV', 'a'],
      ['8', 'an'],
      ['18', 'an'],
      ['11', 'an'],
      ['110', 'a'],
      ['oven', 'an'],
      ['user', 'a'],
    ];
    for (const [w, a] of cases) expect(indefiniteArticle(w), w).toBe(a);
  });

  it('finds object mentions with synonyms, plurals and multi-word names', () => {
    const text = 'Two dogs and a hot dog on a dining table near some People with a cellphone.';
    expect(findObjectMentions(text).map((m) => [m.category, text.slice(m.start, m.end), m.plural])).toEqual([
      ['dog', 'dogs', true],
      ['hot dog', 'hot dog', false],
      ['dining table', 'dining table', false],
      ['cell phone', 'cellphone', false],
    ]);
  });
});
