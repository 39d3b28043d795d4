// The answer as tokens, with what every edit kind asks of its neighbourhood: the words around a
// token, sentence starts, proper nouns, which tokens an edit already took, and replacements
// that keep the article before them right ('a red' -> 'an orange').

import type { Rng } from '../../util/rng';
import { ADJECTIVES, COLORS, FUNCTION_WORDS, indefiniteArticle, IRREGULAR_SAME, matchCase, singularize } from '../lexicon';
import type { Part } from './kinds';

export interface Token {
  text: string;
  /** Lowercase, curly apostrophes made straight. */
  lower: string;
  start: number;
  end: number;
  isNum: boolean;
}

const TOKEN_RE = /\d+(?:[.,]\d+)*|[A-Za-z]+(?:['\u2019][A-Za-z]+)*/g;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const m of text.matchAll(TOKEN_RE)) {
    const t = m[0];
    out.push({ text: t, lower: t.toLowerCase().replace(/\u2019/g, "'"), start: m.index!, end: m.index! + t.length, isNum: /^\d/.test(t) });
  }
  return out;
}

export class AnswerText {
  readonly toks: Token[];
  /** Three words or fewer: a bare answer ('Red.'), read in the light of the question. */
  readonly short: boolean;
  /** Tokens taken by a candidate edit (no second candidate may use them). */
  readonly occupied: boolean[];
  /** Tokens inside an object mention (kept from attribute detectors, open to count agreement). */
  readonly objectTok: boolean[];
  readonly questionText: string;
  readonly questionLower: string;

  constructor(
    readonly text: string,
    readonly rng: Rng,
    question?: string,
  ) {
    this.toks = tokenize(text);
    this.short = this.toks.filter((t) => !t.isNum).length <= 3;
    this.occupied = this.toks.map(() => false);
    this.objectTok = this.toks.map(() => false);
    this.questionText = question ?? '';
    this.questionLower = this.questionText.toLowerCase();
  }

  /** Text between token i-1 and token i (before token 0 for i = 0). */
  gap(i: number): string {
    if (i <= 0) return this.text.slice(0, this.toks[0]?.start ?? 0);
    if (i >= this.toks.length) return this.text.slice(this.toks[this.toks.length - 1].end);
    return this.text.slice(this.toks[i - 1].end, this.toks[i].start);
  }

  /** Token i+1 when only spaces separate it from token i. */
  next(i: number): Token | undefined {
    return i + 1 < this.toks.length && /^[ \t]+$/.test(this.gap(i + 1)) ? this.toks[i + 1] : undefined;
  }

  prev(i: number): Token | undefined {
    return i >= 1 && /^[ \t]+$/.test(this.gap(i)) ? this.toks[i - 1] : undefined;
  }

  sentenceStart(i: number): boolean {
    if (i === 0) return !/[A-Za-z0-9]/.test(this.gap(0));
    return /[.!?:;\n"(]/.test(this.gap(i));
  }

  /** Capitalised mid-sentence: a name ('New York', 'Mr. Brown'), left alone. */
  properNoun(i: number): boolean {
    const t = this.toks[i].text;
    if (!/^[A-Z]/.test(t)) return false;
    if (this.sentenceStart(i)) return false;
    return t !== t.toUpperCase() || t.length === 1;
  }

  /** Attached to a neighbour by a hyphen or slash ('man-made', 'black/white'). */
  attached(i: number): boolean {
    return /^[-/]$/.test(this.gap(i)) || (i + 1 < this.toks.length && /^[-/]$/.test(this.gap(i + 1)));
  }

  free(i: number): boolean {
    return !this.occupied[i] && !this.objectTok[i] && !this.properNoun(i);
  }

  /** Marks tokens a..b as taken and returns the part. */
  mark(a: number, b: number, p: Part): Part {
    for (let k = Math.max(0, a); k <= b; k++) this.occupied[k] = true;
    return p;
  }

  /** Replacement of token i, with the article before it fixed when the new word needs the other one. */
  wordPart(i: number, replacement: string): Part {
    const t = this.toks[i];
    const to = matchCase(t.text, replacement);
    return this.withArticle({ start: t.start, end: t.end, to });
  }

  withArticle(p: Part): Part {
    // the article right before the part (only spaces between)
    let lo = 0;
    let hi = this.toks.length - 1;
    let j = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.toks[mid].end <= p.start) {
        j = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (j < 0) return p;
    const art = this.toks[j];
    if (art.lower !== 'a' && art.lower !== 'an') return p;
    const between = this.text.slice(art.end, p.start);
    if (!/^[ \t]+$/.test(between) || /^\s/.test(p.to)) return p;
    const firstWord = p.to.split(/[\s]/)[0];
    const need = indefiniteArticle(firstWord);
    if (need === art.lower) return p;
    return { start: art.start, end: p.end, to: matchCase(art.text, need) + between + p.to };
  }

  /**
   * Head noun of the phrase after token i: skip adjectives, then the last of the nouns in a row.
   * After a count (`plural` given) the number tells where the phrase ends, so the verb after it
   * is not taken for the noun: a plural count ends at its first plural word ('five small stars
   * | shine'), a singular one before a word in -s ('one dog | runs').
   */
  nounAfter(i: number, plural?: boolean): number {
    let k = i;
    let head = -1;
    let started = false;
    for (let steps = 0; steps < 5; steps++) {
      const n = this.next(k);
      if (!n || n.isNum || FUNCTION_WORDS.has(n.lower)) break;
      const idx = k + 1;
      if (ADJECTIVES.has(n.lower)) {
        if (started) break;
      } else {
        if (/ing$/.test(n.lower) && started) break;
        if (plural === false && started && /s$/.test(n.lower)) break;
        started = true;
        head = idx;
        if (plural === true && (singularize(n.lower) !== null || IRREGULAR_SAME.has(n.lower))) break;
      }
      k = idx;
    }
    return head;
  }

  /** 'orange' as a colour rather than the fruit. */
  colorUse(i: number): boolean {
    const n = this.next(i);
    const p = this.prev(i);
    if (n && !n.isNum && !FUNCTION_WORDS.has(n.lower)) return true;
    if (n && (n.lower === 'and' || n.lower === 'or')) {
      const after = this.next(i + 1);
      if (after && COLORS.includes(after.lower)) return true;
    }
    if (p && ['is', 'are', 'was', 'were', 'looks', 'appears', 'seems', 'and', 'or', 'bright', 'dark', 'light', 'in'].includes(p.lower))
      return true;
    if (this.short && /colou?r/.test(this.questionLower)) return true;
    return false;
  }
}
