// Kinds `color`, `size`, `material` and `attribute`: swap an attribute value for a plausible
// wrong one ('red' -> 'blue', 'wooden' -> 'metal', 'an old man' -> 'a young man').

import {
  AGE_UNITS,
  ATTRIBUTE_SWAPS,
  COLOR_CHOICES,
  COLORS,
  FUNCTION_WORDS,
  LONG_NOUNS,
  MATERIAL_ADJECTIVE_CHOICES,
  MATERIAL_ADJECTIVES,
  MATERIAL_NOUN_CHOICES,
  MATERIAL_NOUNS,
  materialFamily,
  MEASURE_UNITS,
  NATURAL_COLORS,
  SIZE_SWAPS,
} from '../lexicon';
import type { Candidate } from './kinds';
import { OBJECT_FORMS } from './mentions';
import type { AnswerText } from './text';

export function colourCandidate(a: AnswerText, i: number): Candidate | null {
  const t = a.toks[i];
  if (!COLORS.includes(t.lower)) return null;
  if (t.lower === 'orange' && !a.colorUse(i)) return null;
  const present = new Set(a.toks.filter((x) => COLORS.includes(x.lower)).map((x) => (x.lower === 'grey' ? 'gray' : x.lower)));
  const head = a.nounAfter(i);
  const form = head >= 0 ? OBJECT_FORMS.get(a.toks[head].lower) : undefined;
  const palette = form && form.cat.group === 'animal' ? NATURAL_COLORS : COLOR_CHOICES;
  let choices = palette.filter((c) => !present.has(c));
  if (choices.length === 0) choices = COLOR_CHOICES.filter((c) => c !== t.lower && !(c === 'gray' && t.lower === 'grey'));
  return { kind: 'color', parts: [a.wordPart(i, a.rng.pick(choices))] };
}

export function sizeCandidate(a: AnswerText, i: number): Candidate | null {
  const t = a.toks[i];
  const swaps = SIZE_SWAPS[t.lower];
  if (!swaps) return null;
  const n = a.next(i);
  const p = a.prev(i);
  if (t.lower === 'little' && (!n || ['bit', 'more', 'less', 'too', 'while', 'of'].includes(n.lower) || FUNCTION_WORDS.has(n.lower)))
    return null;
  if (t.lower === 'long' && ((p && ['how', 'as', 'so', 'no', 'for'].includes(p.lower)) || (n && ['as', 'ago'].includes(n.lower))))
    return null;
  if ((t.lower === 'tall' || t.lower === 'long' || t.lower === 'wide') && p && MEASURE_UNITS.has(p.lower)) return null; // '2 meters tall'
  let choice = a.rng.pick(swaps);
  if (t.lower === 'short' && n && LONG_NOUNS.has(n.lower)) choice = 'long';
  return { kind: 'size', parts: [a.wordPart(i, choice)] };
}

export function materialCandidate(a: AnswerText, i: number): Candidate | null {
  const t = a.toks[i];
  const n = a.next(i);
  const p = a.prev(i);
  const nounFollows = n && !n.isNum && !FUNCTION_WORDS.has(n.lower);
  const isAdj =
    MATERIAL_ADJECTIVES.includes(t.lower) &&
    (nounFollows || (p && ['is', 'are', 'was', 'were', 'looks', 'appears'].includes(p.lower) && t.lower !== 'wood'));
  const madeOf =
    MATERIAL_NOUNS.includes(t.lower) &&
    p &&
    ['of', 'from'].includes(p.lower) &&
    i >= 2 &&
    ['made', 'built', 'constructed', 'out'].includes(a.toks[i - 2].lower);
  // a bare 'Wood.' answering 'What is it made of?'
  const alone = a.short && !nounFollows && (MATERIAL_NOUNS.includes(t.lower) || MATERIAL_ADJECTIVES.includes(t.lower));
  if (!isAdj && !madeOf && !alone) return null;
  const fam = materialFamily(t.lower);
  const table = isAdj && !alone ? MATERIAL_ADJECTIVE_CHOICES : MATERIAL_NOUN_CHOICES;
  const choices = (table[fam] ?? table.wood).filter((m) => materialFamily(m) !== fam);
  return { kind: 'material', parts: [a.wordPart(i, a.rng.pick(choices))] };
}

export function attributeCandidate(a: AnswerText, i: number): Candidate | null {
  const t = a.toks[i];
  const swaps = ATTRIBUTE_SWAPS[t.lower];
  if (!swaps) return null;
  const n = a.next(i);
  const before = i > 0 ? a.toks[i - 1].lower : '';
  if (t.lower === 'old' && AGE_UNITS.has(before)) return null;
  if ((t.lower === 'old' || t.lower === 'young') && n) {
    // 'an old man' -> 'a young man', but 'an old bicycle' -> 'a new bicycle'
    const head = a.nounAfter(i);
    const form = head >= 0 ? OBJECT_FORMS.get(a.toks[head].lower) : undefined;
    const living = form !== undefined && (form.cat.group === 'person' || form.cat.group === 'animal');
    if (t.lower === 'old') return { kind: 'attribute', parts: [a.wordPart(i, living ? 'young' : 'new')] };
    if (!living && head >= 0) return null;
  }
  if (t.lower === 'full' && n?.lower === 'of') return null;
  if (t.lower === 'new' && n && /^[A-Z]/.test(n.text)) return null;
  return { kind: 'attribute', parts: [a.wordPart(i, a.rng.pick(swaps))] };
}
