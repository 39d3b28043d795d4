// Kind `relation`: swap spatial or logical relations (left/right, on/under, in front of/behind,
// day/night, open/closed), only where the words around show the relation sense.

import {
  DAY_PREV,
  DETERMINERS,
  FB_NEXT,
  FUNCTION_WORDS,
  LR_NEXT,
  LR_PREV,
  matchCase,
  ON_PHRASAL,
  RELATION_PHRASES,
  RELATION_WORDS,
  singularize,
  SURFACES,
  TB_NEXT,
} from '../lexicon';
import type { Candidate } from './kinds';
import type { AnswerText } from './text';

/** Multi-word relations ('in front of', 'at night'), longest first, before any single word. */
export function relationPhraseCandidates(a: AnswerText, out: Candidate[]): void {
  const toks = a.toks;
  const phrases = [...Object.keys(RELATION_PHRASES), 'at night', 'during the day'].sort(
    (x, y) => y.split(' ').length - x.split(' ').length,
  );
  for (let i = 0; i < toks.length; i++) {
    for (const ph of phrases) {
      const words = ph.split(' ');
      if (i + words.length > toks.length) continue;
      let ok = true;
      for (let k = 0; k < words.length; k++) {
        if (toks[i + k].lower !== words[k] || a.occupied[i + k]) ok = false;
        if (k > 0 && !/^ $/.test(a.gap(i + k))) ok = false;
      }
      if (!ok || a.properNoun(i)) continue;
      const to = ph === 'at night' ? 'during the day' : ph === 'during the day' ? 'at night' : a.rng.pick(RELATION_PHRASES[ph]);
      const last = i + words.length - 1;
      out.push({
        kind: 'relation',
        parts: [a.withArticle({ start: toks[i].start, end: toks[last].end, to: matchCase(toks[i].text, to) })],
      });
      for (let k = i; k <= last; k++) a.occupied[k] = true;
      i = last;
      break;
    }
  }
}

export function relationWordCandidate(a: AnswerText, i: number): Candidate | null {
  const t = a.toks[i];
  const swaps = RELATION_WORDS[t.lower];
  if (!swaps) return null;
  const n = a.next(i);
  const p = a.prev(i);
  const short = a.short;
  switch (t.lower) {
    case 'left':
    case 'right':
      if (!short && !(p && LR_PREV.has(p.lower)) && !(n && LR_NEXT.has(n.lower))) return null;
      if (n && ['now', 'away', 'there', 'here', 'next', 'behind'].includes(n.lower)) return null;
      break;
    case 'top':
    case 'bottom':
      if (!((n && (n.lower === 'left' || n.lower === 'right')) || (p?.lower === 'the' && (!n || TB_NEXT.has(n.lower))) || short))
        return null;
      break;
    case 'front':
    case 'back':
      if (!((n && FB_NEXT.has(n.lower)) || (p?.lower === 'the' && !n) || short)) return null;
      break;
    case 'on': {
      if (p && ON_PHRASAL.has(p.lower)) return null;
      if (!n || !DETERMINERS.has(n.lower)) return null;
      const head = a.nounAfter(i + 1);
      if (head < 0) return null;
      const h = a.toks[head].lower;
      if (!SURFACES.has(h) && !SURFACES.has(singularize(h) ?? h)) return null;
      break;
    }
    case 'near':
      if (!n || !DETERMINERS.has(n.lower)) return null;
      break;
    case 'open':
      if (p && ['to', 'can', 'will', 'could', 'would', 'please'].includes(p.lower)) return null;
      if (n && DETERMINERS.has(n.lower)) return null;
      break;
    case 'day':
    case 'night':
      if (!short && !(p && DAY_PREV.has(p.lower))) return null;
      break;
    case 'sun':
    case 'lit':
      if (n && !FUNCTION_WORDS.has(n.lower) && !['shining', 'shines', 'setting', 'rising', 'sets', 'rises'].includes(n.lower)) return null;
      break;
  }
  return { kind: 'relation', parts: [a.wordPart(i, a.rng.pick(swaps))] };
}
