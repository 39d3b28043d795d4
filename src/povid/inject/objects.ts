// Kind `object`: replace an object by another of its COCO supercategory (or a person word by
// another person word), or add one that often co-occurs with an object that is there ('a plate'
// -> 'a plate next to a fork'). The fallback appends a sentence about such an object, so every
// answer gets at least one edit.

import {
  AFTER_NOUN_OK,
  COCO_CATEGORIES,
  GENERIC_OBJECTS,
  indefiniteArticle,
  matchCase,
  PERSON_SWAPS,
  pluralize,
  POSITION_PHRASE_HEADS,
  POSITION_PHRASE_STARTS,
  RELATION_WORDS,
  RELATIVE_POSITIONS,
  SIMILAR_OBJECTS,
  type ObjectCategory,
} from '../lexicon';
import type { Candidate } from './kinds';
import { CATEGORY_BY_NAME, type Mention, type Mentions } from './mentions';
import type { AnswerText } from './text';

/** For each mention in text order: its replacement (COCO objects only), then an addition after it. */
export function objectCandidates(a: AnswerText, m: Mentions, out: Candidate[]): void {
  for (const mention of m.inAnswer) {
    if (mention.form) {
      const r = replaceObject(a, m, mention);
      if (r) out.push(r);
    }
    const add = addObject(a, m, mention);
    if (add) out.push(add);
  }
}

function replaceObject(a: AnswerText, m: Mentions, mention: Mention): Candidate | null {
  const form = mention.form!;
  if (form.cat.mass) return null;
  let word: string | null = null;
  if (form.cat.name === 'person') {
    const swaps = PERSON_SWAPS[form.singular];
    if (swaps) word = a.rng.pick(swaps);
  } else if (!form.cat.pair) {
    const usable = (c: ObjectCategory | undefined): c is ObjectCategory =>
      !!c && c.name !== form.cat.name && !m.present.has(c.name) && !c.mass && !c.pair;
    let pool = (SIMILAR_OBJECTS[form.cat.name] ?? []).map((n) => CATEGORY_BY_NAME.get(n)).filter(usable);
    if (pool.length === 0) pool = COCO_CATEGORIES.filter((c) => c.group === form.cat.group && usable(c));
    if (pool.length > 0) word = a.rng.pick(pool).forms[0];
  }
  if (!word) return null;
  const to = mention.plural ? pluralize(word) : word;
  const first = a.toks[mention.first];
  return { kind: 'object', parts: [a.withArticle({ start: mention.start, end: mention.end, to: matchCase(first.text, to) })] };
}

function addObject(a: AnswerText, m: Mentions, mention: Mention): Candidate | null {
  if (mention.possessive) return null;
  const after = a.toks[mention.last + 1];
  const gap = a.gap(mention.last + 1);
  if (after && /^[ \t]+$/.test(gap)) {
    if (RELATIVE_POSITIONS.has(after.lower)) return null;
    const two = a.next(mention.last + 1);
    if (
      two &&
      POSITION_PHRASE_STARTS.has(`${after.lower} ${two.lower}`) &&
      (two.lower !== 'the' || POSITION_PHRASE_HEADS.has(a.next(mention.last + 2)?.lower ?? ''))
    )
      return null;
  }
  const endsPhrase =
    !after || /[.,;:!?)]/.test(gap) || (/^[ \t]+$/.test(gap) && (AFTER_NOUN_OK.has(after.lower) || /ing$/.test(after.lower)));
  if (!endsPhrase) return null;
  const target = pickCoOccurring(a, m, mention.anchorOf);
  if (!target) return null;
  const prep = a.rng.pick(['next to', 'beside', 'near']);
  // A locative after the pair ('on the table') places both; it must then not become a relative position ('under').
  const guard =
    after && /^[ \t]+$/.test(gap) && RELATION_WORDS[after.lower] ? [{ start: after.start, end: after.end, to: after.text }] : undefined;
  return { kind: 'object', parts: [{ start: mention.end, end: mention.end, to: ` ${prep} ${withIndefinite(target)}` }], guard };
}

function pickCoOccurring(a: AnswerText, m: Mentions, row: readonly string[]): ObjectCategory | null {
  const options = row.map((n) => CATEGORY_BY_NAME.get(n)!).filter((c) => c && !m.present.has(c.name));
  return options.length > 0 ? a.rng.pick(options) : null;
}

/** Always applies: a sentence about an object that often appears with one in the text or question. */
export function fallbackCandidate(a: AnswerText, m: Mentions): Candidate {
  let sentence: string | null = null;
  const anchors: [Mention, string][] = [
    ...m.inAnswer.map((x): [Mention, string] => [x, a.text]),
    ...m.inQuestion.map((x): [Mention, string] => [x, a.questionText]),
  ];
  for (const [mention, src] of anchors) {
    const target = pickCoOccurring(a, m, mention.anchorOf);
    if (!target) continue;
    sentence = `There is also ${withIndefinite(target)} next to the ${src.slice(mention.start, mention.end).toLowerCase()}.`;
    break;
  }
  if (!sentence) {
    const options = GENERIC_OBJECTS.filter((n) => !m.present.has(n));
    const target = CATEGORY_BY_NAME.get(a.rng.pick(options.length > 0 ? options : GENERIC_OBJECTS))!;
    sentence = `There is also ${withIndefinite(target)} in the background.`;
  }
  const trimmed = a.text.replace(/\s+$/, '');
  const at = trimmed.length;
  if (at === 0) return { kind: 'object', parts: [{ start: 0, end: 0, to: sentence.replace('There is also', 'There is') }] };
  const sep = /[.!?]["')\]]?$/.test(trimmed) ? ' ' : '. ';
  return { kind: 'object', parts: [{ start: at, end: at, to: sep + sentence }] };
}

/** 'a fork', 'an umbrella', 'a pair of skis', 'some broccoli'. */
function withIndefinite(cat: ObjectCategory): string {
  if (cat.mass) return `some ${cat.forms[0]}`;
  if (cat.pair) return `a pair of ${cat.name}`;
  const w = cat.forms[0];
  return `${indefiniteArticle(w)} ${w}`;
}
