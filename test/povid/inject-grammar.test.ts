// Grammar of injected hallucinations, checked on many generated edits by a checker written
// independently of the injector: a changed count agrees with its noun and verb ("one small
// stars" must not happen), and an inserted object never stacks a second spatial relation on the
// one already there ("a dog near a bird below the table").
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { injectHallucination, type InjectionResult } from '../../src/povid/inject';
import { ATTRIBUTE_SWAPS, COLORS, MATERIAL_ADJECTIVES, SIZE_SWAPS } from '../../src/povid/lexicon';
import { ANSWERS } from './answers';

const SEEDS = 60;

/** Answers with counts before adjectives and spatial phrases after nouns, the cases that went wrong. */
const EXTRA = [
  'A white crescent moon and five small stars shine in a dark blue sky above black hills.',
  'Three oranges and one red apple are on a brown wooden table.',
  'There are two large dogs under the table.',
  'One small bird sits on a branch below the window.',
  'Four tall giraffes stand near a tree.',
  'Two young children are playing beside the fountain.',
  'A cat sleeps below the chair and a dog lies on the rug.',
  'The bird above the house is flying.',
  'Six red balloons float above the park.',
  'A man stands behind the car in front of the shop.',
  'Two people are sitting on the bench near the lake.',
  'There is one white cup on the table.',
];

const samples = (() => {
  try {
    return readFileSync('public/samples/qa.jsonl', 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { answer: string; question: string });
  } catch {
    return []; // npm run fixture writes them; the other answers still run
  }
})();

const TEXTS = [...ANSWERS, ...EXTRA.map((answer) => ({ answer, question: undefined as string | undefined })), ...samples];

const NUMBER_WORDS: Record<string, number> = {
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  twenty: 20,
};
const IRREGULAR_PLURAL = new Set([
  'men',
  'women',
  'children',
  'people',
  'mice',
  'teeth',
  'feet',
  'geese',
  'oxen',
  'knives',
  'leaves',
  'shelves',
  'wolves',
  'loaves',
]);
const SAME_BOTH = new Set([
  'sheep',
  'deer',
  'fish',
  'aircraft',
  'series',
  'species',
  'broccoli',
  'scissors',
  'skis',
  'glasses',
  'pants',
  'jeans',
]);
const ADJECTIVES = new Set([
  ...COLORS,
  ...Object.keys(SIZE_SWAPS),
  ...Object.keys(ATTRIBUTE_SWAPS),
  ...MATERIAL_ADJECTIVES,
  'other',
  'more',
  'different',
  'adult',
  'baby',
  'light',
  'dark',
]);
const STOP = new Set([
  'of',
  'and',
  'or',
  'in',
  'on',
  'at',
  'to',
  'is',
  'are',
  'was',
  'were',
  'the',
  'a',
  'an',
  'with',
  'from',
  'by',
  'for',
  'that',
  'which',
  'times',
  'percent',
  'more',
  'less',
]);
/** Relative positions; a plain locative after the pair ('a plate next to a fork on the table') places both and is fine. */
const POSITIONS = new Set([
  'near',
  'by',
  'under',
  'beside',
  'behind',
  'above',
  'below',
  'beneath',
  'underneath',
  'inside',
  'outside',
  'along',
  'over',
  'next',
  'atop',
  'across',
  'against',
  'between',
  'around',
  'opposite',
]);
const POSITION_PHRASES = /^(in front of|on top of|to the (left|right)|at the (back|front|top|bottom|side|left|right))\b/i;
/** Units written the same for any number ('25 mph'). */
const UNITS = new Set(['mph', 'kph', 'km', 'kg', 'cm', 'mm', 'm', 'ft', 'lb', 'lbs', 'oz', 'am', 'pm', 'x', 'percent']);
/** Adjectives the lists above lack, by their endings ('triangular', 'wooden', 'striped'). */
const adjectiveLike = (w: string) => ADJECTIVES.has(w) || /^[a-z]{4,}(al|ar|ful|ous|ic|ive|ish|less)$/.test(w);
const VERBS_SINGULAR: Record<string, boolean> = { is: true, was: true, has: true, are: false, were: false, have: false };

function isPlural(noun: string): boolean | null {
  const w = noun.toLowerCase();
  if (SAME_BOTH.has(w)) return null;
  if (IRREGULAR_PLURAL.has(w)) return true;
  if (/(ss|us|is|ness)$/.test(w)) return false;
  return /s$/.test(w);
}

function words(text: string, from: number): { word: string; at: number }[] {
  const out: { word: string; at: number }[] = [];
  const rest = text.slice(from);
  for (const m of rest.matchAll(/[A-Za-z']+|[.,;:!?]/g)) out.push({ word: m[0], at: from + m.index! });
  return out;
}

/** Disagreements after each changed count: the head noun and the verb after it. */
function countErrors(r: InjectionResult): string[] {
  const errs: string[] = [];
  for (const e of r.edits) {
    if (e.kind !== 'count') continue;
    const num = e.to.trim().toLowerCase();
    const value = /^\d+$/.test(num) ? Number(num) : NUMBER_WORDS[num];
    if (value === undefined) continue;
    const after = words(r.text, e.end);
    let k = 0;
    while (k < after.length && adjectiveLike(after[k].word.toLowerCase())) k++;
    const noun = after[k];
    if (!noun || STOP.has(noun.word.toLowerCase()) || UNITS.has(noun.word.toLowerCase()) || /^[.,;:!?]$/.test(noun.word)) continue;
    // a compound ('two tennis rackets'): the head is the last of the nouns in a row
    let head = k;
    // ('two tennis rackets': 'tennis' is not plural, 'rackets' is; 'one dog runs': 'runs' is the verb)
    while (
      value !== 1 &&
      head + 1 < after.length &&
      head - k < 2 &&
      isPlural(after[head].word) === false &&
      /^[a-z]+s$/i.test(after[head + 1].word) &&
      !STOP.has(after[head + 1].word.toLowerCase()) &&
      !(after[head + 1].word.toLowerCase() in VERBS_SINGULAR)
    )
      head++;
    const plural = isPlural(after[head].word);
    const phrase = r.text.slice(e.start, (after[head + 1]?.at ?? r.text.length) + (after[head + 1]?.word.length ?? 0));
    if (plural !== null && plural !== (value !== 1))
      errs.push(`"${phrase}": ${value} with ${plural ? 'plural' : 'singular'} "${after[head].word}"`);
    const verb = after[head + 1]?.word.toLowerCase();
    if (plural !== null && verb !== undefined && verb in VERBS_SINGULAR && VERBS_SINGULAR[verb] !== (value === 1))
      errs.push(`"${phrase}": ${value} ${after[head].word} with "${verb}"`);
  }
  return errs;
}

/** An inserted object phrase followed at once by another spatial relation. */
function relationErrors(r: InjectionResult): string[] {
  const errs: string[] = [];
  for (const e of r.edits) {
    if (e.kind !== 'object' || e.from !== '' || !/^ (next to|beside|near) /.test(e.to)) continue;
    const next = words(r.text, e.end)[0];
    if (next && (POSITIONS.has(next.word.toLowerCase()) || POSITION_PHRASES.test(r.text.slice(next.at))))
      errs.push(`"${r.text.slice(Math.max(0, e.start - 20), next.at + next.word.length + 12)}"`);
  }
  return errs;
}

describe('injected edits stay grammatical', () => {
  it('the checker catches the known bad outputs', () => {
    const bad: InjectionResult = {
      text: 'One small stars shine. A dog near a bird below the table.',
      edits: [
        { kind: 'count', start: 0, end: 3, from: 'Five', to: 'One' },
        { kind: 'object', start: 28, end: 40, from: '', to: ' near a bird' },
      ],
    };
    expect(countErrors(bad)).toEqual(['"One small stars shine": 1 with plural "stars"']);
    expect(relationErrors(bad)).toHaveLength(1);
    const verb: InjectionResult = { text: 'Five bird is here.', edits: [{ kind: 'count', start: 0, end: 4, from: 'One', to: 'Five' }] };
    expect(countErrors(verb)).toEqual(['"Five bird is": 5 with singular "bird"', '"Five bird is": 5 bird with "is"']);
    const good: InjectionResult = {
      text: 'One small star shines. Three men are here. A dog next to a cat sleeps.',
      edits: [{ kind: 'count', start: 23, end: 28, from: 'Two', to: 'Three' }],
    };
    expect(countErrors(good)).toEqual([]);
  });

  it(`counts agree with their nouns and verbs, and no inserted object doubles a spatial relation (${TEXTS.length} answers x ${SEEDS} seeds x 2 strengths)`, () => {
    const countBad = new Set<string>();
    const relationBad = new Set<string>();
    let counts = 0;
    let inserts = 0;
    for (const s of TEXTS)
      for (let seed = 0; seed < SEEDS; seed++)
        for (const strength of [0.5, 1]) {
          const r = injectHallucination(s.answer, { seed, strength, question: s.question });
          counts += r.edits.filter((e) => e.kind === 'count').length;
          inserts += r.edits.filter((e) => e.kind === 'object' && e.from === '').length;
          for (const e of countErrors(r)) countBad.add(`${s.answer} -> ${e}`);
          for (const e of relationErrors(r)) relationBad.add(`${s.answer} -> ${e}`);
        }
    // The checks ran on many edits of both kinds.
    expect(counts).toBeGreaterThan(2000);
    expect(inserts).toBeGreaterThan(2000);
    expect([...countBad].slice(0, 20)).toEqual([]);
    expect([...relationBad].slice(0, 20)).toEqual([]);
  });
});
