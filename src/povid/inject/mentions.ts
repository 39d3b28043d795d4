// Objects the answer (and the question) mention: COCO category words and phrases in either
// number, and scene nouns outside COCO that anchor a co-occurring object ('the kitchen').

import type { Rng } from '../../util/rng';
import { CO_OCCURRENCE, COCO_CATEGORIES, CONTEXT_NOUNS, NUMBER_WORDS, pluralize, singularize, type ObjectCategory } from '../lexicon';
import { AnswerText } from './text';

export interface ObjectForm {
  cat: ObjectCategory;
  singular: string;
  plural: boolean;
  /** Same word in both numbers ('sheep'): number is read from context. */
  ambiguous: boolean;
}

/** Every singular and plural form of every category, by its lowercase text. */
export const OBJECT_FORMS = new Map<string, ObjectForm>();
export const CATEGORY_BY_NAME = new Map<string, ObjectCategory>();
let MAX_FORM_WORDS = 1;
for (const cat of COCO_CATEGORIES) {
  CATEGORY_BY_NAME.set(cat.name, cat);
  for (const f of cat.forms) {
    MAX_FORM_WORDS = Math.max(MAX_FORM_WORDS, f.split(' ').length);
    if (cat.pair && f === 'scissors') {
      OBJECT_FORMS.set(f, { cat, singular: f, plural: true, ambiguous: false });
      continue;
    }
    const p = pluralize(f);
    const ambiguous = p === f;
    if (!OBJECT_FORMS.has(f)) OBJECT_FORMS.set(f, { cat, singular: f, plural: false, ambiguous });
    if (!ambiguous && !OBJECT_FORMS.has(p)) OBJECT_FORMS.set(p, { cat, singular: f, plural: true, ambiguous: false });
  }
}

export interface Mention {
  form: ObjectForm | null; // null for a scene noun (CONTEXT_NOUNS)
  anchorOf: readonly string[]; // categories that co-occur with it
  first: number; // token indices
  last: number;
  start: number;
  end: number; // end of the noun, before any possessive
  plural: boolean;
  possessive: boolean;
}

/** What the answer and its question mention, and the categories already there (never added). */
export interface Mentions {
  inAnswer: Mention[];
  inQuestion: Mention[];
  present: Set<string>;
}

export function findAllMentions(a: AnswerText, rng: Rng): Mentions {
  const inAnswer = findMentions(a);
  const present = new Set<string>();
  for (const m of inAnswer) if (m.form) present.add(m.form.cat.name);
  let inQuestion: Mention[] = [];
  if (a.questionText) {
    inQuestion = findMentions(new AnswerText(a.questionText, rng));
    for (const m of inQuestion) if (m.form) present.add(m.form.cat.name);
  }
  return { inAnswer, inQuestion, present };
}

/** Mentions in text order, longest phrase first at each token; marks COCO mentions' tokens in `a.objectTok`. */
export function findMentions(a: AnswerText): Mention[] {
  const out: Mention[] = [];
  const toks = a.toks;
  for (let i = 0; i < toks.length; i++) {
    if (toks[i].isNum) continue;
    let found: Mention | null = null;
    for (let len = Math.min(MAX_FORM_WORDS, toks.length - i); len >= 1 && !found; len--) {
      const last = i + len - 1;
      let ok = true;
      for (let k = i + 1; k <= last; k++) if (toks[k].isNum || !/^ $/.test(a.gap(k))) ok = false;
      if (!ok) continue;
      let lastWord = toks[last].lower;
      let possessive = false;
      if (/'s$/.test(lastWord)) {
        lastWord = lastWord.slice(0, -2);
        possessive = true;
      }
      const words = toks.slice(i, last).map((t) => t.lower);
      words.push(lastWord);
      const phrase = words.join(' ');
      const form = OBJECT_FORMS.get(phrase);
      const end = toks[last].end - (possessive ? 2 : 0);
      if (form) {
        if (phrase === 'orange' && a.colorUse(i)) continue;
        found = {
          form,
          anchorOf: CO_OCCURRENCE[form.cat.name] ?? [],
          first: i,
          last,
          start: toks[i].start,
          end,
          plural: numberOf(a, form, i),
          possessive,
        };
      } else if (len === 1) {
        const single = singularize(phrase);
        const scene = CONTEXT_NOUNS[phrase] ? phrase : single && CONTEXT_NOUNS[single] ? single : null;
        if (scene)
          found = {
            form: null,
            anchorOf: CONTEXT_NOUNS[scene],
            first: i,
            last,
            start: toks[i].start,
            end,
            plural: scene !== phrase,
            possessive,
          };
      }
    }
    if (found) {
      if (a.properNoun(found.first) || a.attached(found.first) || a.attached(found.last)) {
        i = found.last;
        continue;
      }
      out.push(found);
      if (found.form) for (let k = found.first; k <= found.last; k++) a.objectTok[k] = true;
      i = found.last;
    }
  }
  return out;
}

/** Plural or not; 'sheep' is read from the determiner or verb around it. */
function numberOf(a: AnswerText, form: ObjectForm, i: number): boolean {
  if (!form.ambiguous) return form.plural;
  const p = a.prev(i)?.lower;
  if (p && ['a', 'an', 'one', 'this', 'that', 'each', 'every', 'another', '1'].includes(p)) return false;
  if (
    p &&
    (['these', 'those', 'many', 'several', 'some', 'few', 'both', 'two', 'three'].includes(p) ||
      (NUMBER_WORDS[p] ?? 0) > 1 ||
      /^\d+$/.test(p))
  )
    return true;
  return false;
}
