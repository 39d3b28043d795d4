// Kind `opposite`: flip a yes/no answer ('Yes.' -> 'No.') and the polarity of the statement
// that follows it, so the answer stays consistent ('there is a' -> 'there is no').

import { AUXILIARIES, FUNCTION_WORDS, indefiniteArticle, matchCase, NEGATIONS, OPPOSITE_ANSWERS, singularize } from '../lexicon';
import type { Candidate, Part } from './kinds';
import type { AnswerText } from './text';

const ANSWER_WORDS = ['yes', 'no', 'yeah', 'yep', 'nope'];

/** The answer opens with a yes/no word (true/false, correct/incorrect) at a sentence start. */
export function opensWithAnswerWord(a: AnswerText): boolean {
  const first = a.toks[0];
  return !!first && !!OPPOSITE_ANSWERS[first.lower] && a.sentenceStart(0);
}

export function oppositeCandidate(a: AnswerText): Candidate | null {
  const toks = a.toks;
  const first = toks[0];
  if (!first || !a.sentenceStart(0)) return null;
  const opp = OPPOSITE_ANSWERS[first.lower];
  if (!opp) return null;
  // the sentence the answer word belongs to (or the next one after a bare 'Yes.')
  let end = toks.length;
  for (let k = 2; k < toks.length; k++) {
    if (/[.!?]/.test(a.gap(k))) {
      end = k;
      break;
    }
  }
  const n0 = a.next(0);
  if (first.lower === 'no' && n0 && !FUNCTION_WORDS.has(n0.lower)) {
    // 'No dogs are visible.': a determiner, not an answer word
    const flip = flipPolarity(a, 0, end);
    return flip ? { kind: 'opposite', parts: [flip] } : null;
  }
  if (!ANSWER_WORDS.includes(first.lower) && !a.short && !/^\s*[,.!;]/.test(a.gap(1))) return null;
  const parts: Part[] = [{ start: first.start, end: first.end, to: matchCase(first.text, opp) }];
  a.occupied[0] = true;
  if (!ANSWER_WORDS.includes(first.lower)) return { kind: 'opposite', parts };
  // flip the polarity of the statement that follows, so the answer stays consistent
  const flip = flipPolarity(a, 1, end);
  if (flip) parts.push(flip);
  return { kind: 'opposite', parts };
}

/** Negates a positive statement in tokens [from, to), or makes a negative one positive. */
function flipPolarity(a: AnswerText, from: number, to: number): Part | null {
  const toks = a.toks;
  for (let k = from; k < to; k++) {
    const t = toks[k];
    if (t.lower === 'not') {
      const p = a.prev(k);
      if (p && AUXILIARIES.has(p.lower)) return a.mark(k - 1, k, { start: p.start, end: t.end, to: p.text });
      return a.mark(k, k, { start: toks[k - 1]?.end ?? t.start, end: t.end, to: '' });
    }
    if (NEGATIONS[t.lower]) return a.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, NEGATIONS[t.lower]) });
    if (t.lower === 'no') {
      const n = a.next(k);
      if (!n) continue;
      if (n.lower === 'one') return a.mark(k, k + 1, { start: t.start, end: n.end, to: matchCase(t.text, 'someone') });
      const p = a.prev(k)?.lower;
      const plural = p === 'are' || p === 'were' || singularize(n.lower) !== null;
      return a.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, plural ? 'some' : indefiniteArticle(n.text)) });
    }
    if (t.lower === 'nothing' || t.lower === 'nobody')
      return a.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, t.lower === 'nothing' ? 'something' : 'somebody') });
  }
  for (let k = from; k < to; k++) {
    const t = toks[k];
    if (!AUXILIARIES.has(t.lower)) continue;
    const n = a.next(k);
    if (t.lower === 'has' || t.lower === 'have') {
      // 'has a hat' / 'has cheese' -> 'has no ...'; not 'has been'
      if (!n || n.isNum || ['been', 'got', 'gotten', 'to', 'not', 'no'].includes(n.lower) || /(ed|en)$/.test(n.lower)) continue;
      if (n.lower === 'a' || n.lower === 'an' || n.lower === 'some')
        return a.mark(k + 1, k + 1, { start: n.start, end: n.end, to: matchCase(n.text, 'no') });
      if (FUNCTION_WORDS.has(n.lower)) continue;
      return a.mark(k, k, { start: t.start, end: t.end, to: `${t.text} no` });
    }
    if (n && (n.lower === 'a' || n.lower === 'an' || n.lower === 'some') && a.prev(k)?.lower === 'there')
      return a.mark(k + 1, k + 1, { start: n.start, end: n.end, to: matchCase(n.text, 'no') });
    return a.mark(k, k, { start: t.start, end: t.end, to: t.lower === 'can' ? matchCase(t.text, 'cannot') : `${t.text} not` });
  }
  // no auxiliary: 'a clock hangs on the wall' -> 'no clock hangs on the wall'
  for (let k = from; k < to; k++) {
    const t = toks[k];
    if ((t.lower === 'a' || t.lower === 'an') && a.next(k))
      return a.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, 'no') });
  }
  return null;
}
