// Kind `count`: change a number word or digits to another plausible number, keeping the noun,
// its verb and a leading 'there is' in agreement ('one dog is' -> 'three dogs are').

import type { Rng } from '../../util/rng';
import {
  COPULAS,
  FUNCTION_WORDS,
  IRREGULAR_SAME,
  matchCase,
  NUMBER_WORDS,
  numberToWords,
  PLURAL_VERB,
  pluralize,
  SINGULAR_VERB,
  singularize,
} from '../lexicon';
import type { Candidate, Part } from './kinds';
import type { AnswerText } from './text';

/** Every number in the text not taken yet, in text order. */
export function countCandidates(a: AnswerText, out: Candidate[]): void {
  const toks = a.toks;
  for (let i = 0; i < toks.length; i++) {
    if (a.occupied[i]) continue;
    const t = toks[i];
    let value: number | undefined;
    let last = i; // last token of the number
    let style: 'digits' | 'words';
    if (t.isNum) {
      if (i + 1 < toks.length && a.gap(i + 1) === '' && !toks[i + 1].isNum) continue; // 2nd, 10am, 4K
      if (/:$/.test(a.gap(i)) && i > 0) continue; // minutes of a time
      if (i > 0 && /[A-Za-z]$/.test(a.text.slice(0, t.start))) continue; // part of a code like A4
      value = Number(t.text.replace(/,/g, ''));
      style = 'digits';
    } else {
      const v = NUMBER_WORDS[t.lower];
      if (v === undefined || t.lower === 'hundred' || a.properNoun(i)) continue;
      value = v;
      style = 'words';
      const n = toks[i + 1];
      if (v >= 20 && v % 10 === 0 && n && a.gap(i + 1) === '-' && (NUMBER_WORDS[n.lower] ?? 10) < 10) {
        value = v + NUMBER_WORDS[n.lower];
        last = i + 1;
      }
      if (t.lower === 'one') {
        const p = a.prev(i)?.lower;
        const nx = a.next(i);
        if (
          p &&
          [
            'the',
            'this',
            'that',
            'which',
            'each',
            'no',
            'any',
            'every',
            'some',
            'another',
            'only',
            'a',
            'little',
            'big',
            'small',
            'red',
            'blue',
          ].includes(p)
        )
          continue;
        if (!nx && !a.short) continue;
        if (nx && nx.lower !== 'of' && FUNCTION_WORDS.has(nx.lower)) continue;
      }
    }
    if (!Number.isFinite(value)) continue;
    const newValue = pickNumber(a.rng, value, t.text);
    let numText: string;
    if (style === 'words') numText = numberToWords(newValue) ?? String(newValue);
    else if (t.text.includes('.')) numText = newValue.toFixed(t.text.split('.')[1].length);
    else numText = String(newValue);
    const parts: Part[] = [{ start: t.start, end: toks[last].end, to: matchCase(t.text, numText) }];

    const oldPlural = value !== 1;
    const newPlural = newValue !== 1;
    const nounIdx = a.nounAfter(last, oldPlural);
    if (oldPlural !== newPlural && nounIdx >= 0 && !a.occupied[nounIdx]) {
      const noun = toks[nounIdx];
      const base = noun.lower.replace(/'s$/, '');
      const changed = newPlural ? (singularize(base) === null || IRREGULAR_SAME.has(base) ? pluralize(base) : null) : singularize(base);
      if (changed && changed !== base) {
        parts.push({ start: noun.start, end: noun.start + base.length, to: matchCase(noun.text, changed) });
        const after = a.next(nounIdx);
        if (after && COPULAS[after.lower] && !a.occupied[nounIdx + 1]) {
          const want = newPlural ? PLURAL_VERB[after.lower] : SINGULAR_VERB[after.lower];
          if (want && want !== after.lower) parts.push({ start: after.start, end: after.end, to: matchCase(after.text, want) });
        }
        const before = a.prev(i);
        const there = i >= 2 ? a.prev(i - 1) : undefined;
        if (before && COPULAS[before.lower] && there && (there.lower === 'there' || there.lower === 'here') && !a.occupied[i - 1]) {
          const want = newPlural ? PLURAL_VERB[before.lower] : SINGULAR_VERB[before.lower];
          if (want && want !== before.lower) parts.unshift({ start: before.start, end: before.end, to: matchCase(before.text, want) });
        }
        a.occupied[nounIdx] = true;
      }
    }
    if (oldPlural !== newPlural && a.next(last)?.lower === 'of') {
      // 'one of the dogs is' -> 'three of the dogs are'
      for (let k = last + 2, steps = 0; k < toks.length && steps < 6; k++, steps++) {
        if (/[.,;:!?]/.test(a.gap(k))) break;
        const v = toks[k];
        if (!COPULAS[v.lower]) continue;
        const want = newPlural ? PLURAL_VERB[v.lower] : SINGULAR_VERB[v.lower];
        if (!a.occupied[k] && want !== v.lower) {
          parts.push({ start: v.start, end: v.end, to: matchCase(v.text, want) });
          a.occupied[k] = true;
        }
        break;
      }
    }
    for (let k = i; k <= last; k++) a.occupied[k] = true;
    out.push({ kind: 'count', parts });
    i = last;
  }
}

/** A different, plausible number: small counts stay small, larger ones move by a few or double. */
function pickNumber(rng: Rng, v: number, text: string): number {
  if (!Number.isInteger(v)) {
    const f = rng.pick([0.5, 2, 3]);
    return Number((v * f).toFixed(text.includes('.') ? text.split('.')[1].length : 0)) === v ? v + 1 : v * f;
  }
  if (v >= 1800 && v <= 2100 && text.length === 4) return v + rng.pick([-10, -5, -2, 2, 5, 10]);
  if (v <= 5) return rng.pick([1, 2, 3, 4, 5, 6, 7].filter((x) => x !== v));
  if (v <= 20) return rng.pick([v - 3, v - 2, v + 2, v + 5, v * 2].filter((x) => x > 0 && x !== v));
  return rng.pick([Math.round(v / 2), v + 10, v * 2].filter((x) => x !== v));
}
