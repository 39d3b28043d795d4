// Local text-hallucination injector: rewrites a correct answer y_w into a plausible but false
// y_t (POVID.md, "Text-injected hallucination"), without a remote model. Edit kinds:
//   object    replace an object by another of its COCO supercategory, or add one that often
//             co-occurs with an object that is there ("a plate" -> "a plate next to a fork")
//   color / size / material / attribute   swap an attribute value ("red" -> "blue")
//   count     change a number word or digits, keeping agreement ("one dog is" -> "three dogs are")
//   relation  swap spatial or logical relations (left/right, on/under, day/night, open/closed)
//   opposite  flip a yes/no answer ("Yes." -> "No.", "there is a" -> "there is no")
// Every call makes at least one edit: when nothing in the text can be changed, a sentence
// with a co-occurring object is appended. All random choices come from Rng(seed).
//
// Strength: with C candidate edits in the text and S sentences, the injector applies
// max(1, round(strength * min(C, max(2, 2S)))) edits, spread across kinds.

import { Rng } from '../util/rng';
import {
  ATTRIBUTE_SWAPS,
  AUXILIARIES,
  CO_OCCURRENCE,
  COCO_CATEGORIES,
  COLOR_CHOICES,
  COLORS,
  CONTEXT_NOUNS,
  FUNCTION_WORDS,
  GENERIC_OBJECTS,
  indefiniteArticle,
  LONG_NOUNS,
  MATERIAL_ADJECTIVE_CHOICES,
  MATERIAL_ADJECTIVES,
  MATERIAL_NOUN_CHOICES,
  MATERIAL_NOUNS,
  materialFamily,
  matchCase,
  NATURAL_COLORS,
  NEGATIONS,
  NUMBER_WORDS,
  numberToWords,
  OPPOSITE_ANSWERS,
  PERSON_SWAPS,
  pluralize,
  RELATION_PHRASES,
  RELATION_WORDS,
  RELATIVE_POSITIONS,
  POSITION_PHRASE_HEADS,
  POSITION_PHRASE_STARTS,
  singularize,
  SIMILAR_OBJECTS,
  SIZE_SWAPS,
  SURFACES,
  type ObjectCategory,
} from './lexicon';

export type EditKind = 'object' | 'attribute' | 'count' | 'relation' | 'opposite' | 'color' | 'size' | 'material';

export const EDIT_KINDS: readonly EditKind[] = ['object', 'attribute', 'count', 'relation', 'opposite', 'color', 'size', 'material'];

export interface InjectionEdit {
  kind: EditKind;
  /** Span of the changed text in the OUTPUT (`text.slice(start, end) === to`). */
  start: number;
  end: number;
  /** The original text that was replaced ('' for an insertion). */
  from: string;
  to: string;
}

export interface InjectionResult {
  text: string;
  edits: InjectionEdit[];
}

export interface InjectOptions {
  seed: number;
  /** 0..1, how many edits (see the file comment); default 0.5. */
  strength?: number;
  /** The question, used to favour the edit kind it asks about and as a source of objects. */
  question?: string;
}

export const DEFAULT_STRENGTH = 0.5;

// ---------------------------------------------------------------------------------------------
// Tokens

interface Token {
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

/** A replacement of text[start, end) by `to`. */
interface Part {
  start: number;
  end: number;
  to: string;
}

interface Candidate {
  kind: EditKind;
  parts: Part[];
  /** Text no other chosen edit may touch (not changed by this one). */
  guard?: Part[];
}

const DETERMINERS = new Set(['a', 'an', 'the', 'his', 'her', 'its', 'their', 'my', 'your', 'our', 'some', 'this', 'that', 'these', 'those']);
const COPULAS: Record<string, string> = { is: 'are', are: 'is', was: 'were', were: 'was', has: 'have', have: 'has' };
const ADJECTIVES = new Set<string>([
  ...COLORS,
  ...Object.keys(SIZE_SWAPS),
  ...Object.keys(ATTRIBUTE_SWAPS),
  ...MATERIAL_ADJECTIVES.filter((m) => m !== 'wood'),
  'single', 'other', 'more', 'extra', 'few', 'several', 'different', 'same', 'light', 'dark', 'pretty', 'beautiful', 'adult', 'baby',
]);
const LR_NEXT = new Set(['side', 'sides', 'hand', 'hands', 'corner', 'of', 'half', 'edge', 'arm', 'leg', 'eye', 'foot', 'shoulder', 'wing', 'lane', 'ear', 'paw', 'wrist', 'part', 'panel']);
const LR_PREV = new Set(['the', 'upper', 'lower', 'top', 'bottom', 'far', 'its', 'his', 'her', 'their', 'my', 'your', 'our']);
const TB_NEXT = new Set(['left', 'right', 'of', 'half', 'shelf', 'corner', 'part', 'row', 'floor', 'drawer', 'edge', 'portion', 'layer', 'section', 'rack', 'bunk', 'step']);
const FB_NEXT = new Set(['door', 'seat', 'seats', 'wheel', 'wheels', 'yard', 'porch', 'row', 'window', 'tire', 'tires', 'legs', 'leg', 'paws', 'bumper', 'end', 'side', 'cover', 'page', 'of', 'entrance', 'garden', 'lawn']);
const ON_PHRASAL = new Set([
  'turned', 'turn', 'turns', 'put', 'puts', 'putting', 'based', 'depend', 'depends', 'rely', 'relies', 'focus', 'focused', 'focuses',
  'going', 'goes', 'go', 'went', 'carry', 'carries', 'carrying', 'keep', 'keeps', 'later', 'try', 'tries', 'trying', 'work', 'works',
  'working', 'comment', 'agree', 'count', 'take', 'takes', 'taking', 'get', 'gets', 'getting', 'hang', 'hold', 'holds', 'holding',
]);
const DAY_PREV = new Set(['the', 'a', 'this', 'sunny', 'clear', 'bright', 'rainy', 'cloudy', 'snowy', 'dark', 'summer', 'winter', 'beautiful', 'nice', 'warm', 'cold', 'quiet', 'busy']);
const AGE_UNITS = new Set(['year', 'years', 'month', 'months', 'week', 'weeks', 'day', 'days']);
/** Words that may follow a noun after which an object is inserted ('a plate [next to a fork] sits'). */
const AFTER_NOUN_OK = new Set([
  'is', 'are', 'was', 'were', 'has', 'have', 'had', 'sits', 'sit', 'sitting', 'stands', 'standing', 'lies', 'lying', 'rests', 'resting',
  'on', 'in', 'at', 'near', 'by', 'under', 'beside', 'behind', 'above', 'below', 'inside', 'outside', 'and', 'or', 'but', 'that',
  'which', 'who', 'while', 'with', 'can', 'could', 'will', 'appears', 'seems', 'looks', 'waits', 'waiting', 'parked', 'placed', 'along',
]);

// ---------------------------------------------------------------------------------------------
// Object lookup

interface ObjectForm {
  cat: ObjectCategory;
  singular: string;
  plural: boolean;
  /** Same word in both numbers ('sheep'): number is read from context. */
  ambiguous: boolean;
}

const OBJECT_FORMS = new Map<string, ObjectForm>();
const CATEGORY_BY_NAME = new Map<string, ObjectCategory>();
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

/** An object word or phrase in the text. */
export interface ObjectMention {
  category: string;
  start: number;
  end: number;
  plural: boolean;
}

interface Mention {
  form: ObjectForm | null; // null for a scene noun (CONTEXT_NOUNS)
  anchorOf: readonly string[]; // categories that co-occur with it
  first: number; // token indices
  last: number;
  start: number;
  end: number; // end of the noun, before any possessive
  plural: boolean;
  possessive: boolean;
}

// ---------------------------------------------------------------------------------------------
// The injector

export function injectHallucination(answer: string, opts: InjectOptions): InjectionResult {
  const strength = clampStrength(opts.strength);
  const rng = new Rng(opts.seed);
  const ctx = new Context(answer, rng, opts.question);
  const cands = ctx.candidates();

  const sentences = Math.max(1, (answer.match(/[.!?]+(\s|$)/g) ?? []).length);
  const maxEdits = Math.min(cands.length, Math.max(2, 2 * sentences));
  const k = Math.max(1, Math.round(strength * maxEdits));
  const chosen = selectCandidates(cands, k, rng, ctx.priorityKinds());
  if (chosen.length === 0) chosen.push(ctx.fallback());
  return applyParts(answer, chosen);
}

function clampStrength(s: number | undefined): number {
  if (s === undefined || !Number.isFinite(s)) return DEFAULT_STRENGTH;
  return Math.min(1, Math.max(0, s));
}

/** Round-robin over kinds (shuffled; forced and question-asked kinds first), skipping overlaps. */
function selectCandidates(cands: Candidate[], k: number, rng: Rng, priority: EditKind[]): Candidate[] {
  const byKind = new Map<EditKind, Candidate[]>();
  for (const c of cands) {
    const list = byKind.get(c.kind);
    if (list) list.push(c);
    else byKind.set(c.kind, [c]);
  }
  for (const list of byKind.values()) rng.shuffle(list);
  const kinds = rng.shuffle([...byKind.keys()]);
  kinds.sort((a, b) => rank(a) - rank(b));
  function rank(kind: EditKind): number {
    const i = priority.indexOf(kind);
    return i < 0 ? priority.length : i;
  }
  const order: Candidate[] = [];
  for (let round = 0; order.length < cands.length; round++) {
    for (const kind of kinds) {
      const c = byKind.get(kind)![round];
      if (c) order.push(c);
    }
  }
  const chosen: Candidate[] = [];
  for (const c of order) {
    if (chosen.length >= k) break;
    if (chosen.some((d) => overlaps(c, d))) continue;
    chosen.push(c);
  }
  return chosen;
}

function overlaps(a: Candidate, b: Candidate): boolean {
  const as = a.guard ? [...a.parts, ...a.guard] : a.parts;
  const bs = b.guard ? [...b.parts, ...b.guard] : b.parts;
  for (const p of as) for (const q of bs) if (p.start <= q.end && q.start <= p.end) return true;
  return false;
}

function applyParts(text: string, chosen: Candidate[]): InjectionResult {
  const parts = chosen.flatMap((c) => c.parts.map((p) => ({ ...p, kind: c.kind }))).sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let pos = 0;
  const edits: InjectionEdit[] = [];
  for (const p of parts) {
    out += text.slice(pos, p.start);
    const start = out.length;
    out += p.to;
    edits.push({ kind: p.kind, start, end: out.length, from: text.slice(p.start, p.end), to: p.to });
    pos = p.end;
  }
  out += text.slice(pos);
  return { text: out, edits };
}

class Context {
  readonly toks: Token[];
  readonly short: boolean;
  /** Tokens taken by a candidate edit (no second candidate may use them). */
  private occupied: boolean[];
  /** Tokens inside an object mention (kept from attribute detectors, open to count agreement). */
  private objectTok: boolean[];
  private mentions: Mention[] = [];
  private present = new Set<string>();
  private questionMentions: Mention[] = [];
  private questionLower: string;
  private questionText: string;

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
    this.mentions = this.findMentions();
    for (const m of this.mentions) if (m.form) this.present.add(m.form.cat.name);
    if (question) {
      const q = new Context(question, rng);
      this.questionMentions = q.mentions;
      for (const m of q.mentions) if (m.form) this.present.add(m.form.cat.name);
    }
  }

  // -- token helpers --------------------------------------------------------------------------

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

  // -- detection --------------------------------------------------------------------------------

  /** 'orange' as a colour rather than the fruit. */
  private colorUse(i: number): boolean {
    const n = this.next(i);
    const p = this.prev(i);
    if (n && !n.isNum && !FUNCTION_WORDS.has(n.lower)) return true;
    if (n && (n.lower === 'and' || n.lower === 'or')) {
      const after = this.next(i + 1);
      if (after && COLORS.includes(after.lower)) return true;
    }
    if (p && ['is', 'are', 'was', 'were', 'looks', 'appears', 'seems', 'and', 'or', 'bright', 'dark', 'light', 'in'].includes(p.lower)) return true;
    if (this.short && /colou?r/.test(this.questionLower)) return true;
    return false;
  }

  private findMentions(): Mention[] {
    const out: Mention[] = [];
    const toks = this.toks;
    for (let i = 0; i < toks.length; i++) {
      if (toks[i].isNum) continue;
      let found: Mention | null = null;
      for (let len = Math.min(MAX_FORM_WORDS, toks.length - i); len >= 1 && !found; len--) {
        const last = i + len - 1;
        let ok = true;
        for (let k = i + 1; k <= last; k++) if (toks[k].isNum || !/^ $/.test(this.gap(k))) ok = false;
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
          if (phrase === 'orange' && this.colorUse(i)) continue;
          found = { form, anchorOf: CO_OCCURRENCE[form.cat.name] ?? [], first: i, last, start: toks[i].start, end, plural: this.numberOf(form, i), possessive };
        } else if (len === 1) {
          const single = singularize(phrase);
          const scene = CONTEXT_NOUNS[phrase] ? phrase : single && CONTEXT_NOUNS[single] ? single : null;
          if (scene) found = { form: null, anchorOf: CONTEXT_NOUNS[scene], first: i, last, start: toks[i].start, end, plural: scene !== phrase, possessive };
        }
      }
      if (found) {
        if (this.properNoun(found.first) || this.attached(found.first) || this.attached(found.last)) {
          i = found.last;
          continue;
        }
        out.push(found);
        if (found.form) for (let k = found.first; k <= found.last; k++) this.objectTok[k] = true;
        i = found.last;
      }
    }
    return out;
  }

  /** Plural or not; 'sheep' is read from the determiner or verb around it. */
  private numberOf(form: ObjectForm, i: number): boolean {
    if (!form.ambiguous) return form.plural;
    const p = this.prev(i)?.lower;
    if (p && ['a', 'an', 'one', 'this', 'that', 'each', 'every', 'another', '1'].includes(p)) return false;
    if (p && (['these', 'those', 'many', 'several', 'some', 'few', 'both', 'two', 'three'].includes(p) || (NUMBER_WORDS[p] ?? 0) > 1 || /^\d+$/.test(p))) return true;
    return false;
  }

  /** Candidate edits of every kind, in text order within each kind. */
  candidates(): Candidate[] {
    const out: Candidate[] = [];
    const opp = this.opposite();
    if (opp) out.push(opp);
    this.relationPhrases(out);
    this.counts(out);
    for (let i = 0; i < this.toks.length; i++) {
      if (!this.free(i) || this.toks[i].isNum) continue;
      const c = this.colour(i) ?? this.size(i) ?? this.material(i) ?? this.attribute(i) ?? this.relationWord(i);
      if (c) {
        out.push(c);
        this.occupied[i] = true;
      }
    }
    this.objects(out);
    return out;
  }

  /** Kinds the answer or the question calls for, in order. */
  priorityKinds(): EditKind[] {
    const out: EditKind[] = [];
    const first = this.toks[0];
    if (first && OPPOSITE_ANSWERS[first.lower] && this.sentenceStart(0)) out.push('opposite');
    const q = this.questionLower;
    if (/how many|number of|count/.test(q)) out.push('count');
    if (/colou?r/.test(q)) out.push('color');
    if (/made of|material/.test(q)) out.push('material');
    if (/how (big|large|tall|long)|size/.test(q)) out.push('size');
    if (/where|which side|left or right|position|time of day|weather/.test(q)) out.push('relation');
    if (/what (is|are) (this|that|the)|which (animal|object)|what kind/.test(q)) out.push('object');
    return out;
  }

  private opposite(): Candidate | null {
    const toks = this.toks;
    const first = toks[0];
    if (!first || !this.sentenceStart(0)) return null;
    const opp = OPPOSITE_ANSWERS[first.lower];
    if (!opp) return null;
    // the sentence the answer word belongs to (or the next one after a bare 'Yes.')
    let end = toks.length;
    for (let k = 2; k < toks.length; k++) {
      if (/[.!?]/.test(this.gap(k))) {
        end = k;
        break;
      }
    }
    const n0 = this.next(0);
    if (first.lower === 'no' && n0 && !FUNCTION_WORDS.has(n0.lower)) {
      // 'No dogs are visible.': a determiner, not an answer word
      const flip = this.flipPolarity(0, end);
      return flip ? { kind: 'opposite', parts: [flip] } : null;
    }
    if (!['yes', 'no', 'yeah', 'yep', 'nope'].includes(first.lower) && !this.short && !/^\s*[,.!;]/.test(this.gap(1))) return null;
    const parts: Part[] = [{ start: first.start, end: first.end, to: matchCase(first.text, opp) }];
    this.occupied[0] = true;
    if (!['yes', 'no', 'yeah', 'yep', 'nope'].includes(first.lower)) return { kind: 'opposite', parts };
    // flip the polarity of the statement that follows, so the answer stays consistent
    const flip = this.flipPolarity(1, end);
    if (flip) parts.push(flip);
    return { kind: 'opposite', parts };
  }

  private flipPolarity(from: number, to: number): Part | null {
    const toks = this.toks;
    for (let k = from; k < to; k++) {
      const t = toks[k];
      if (t.lower === 'not') {
        const p = this.prev(k);
        if (p && AUXILIARIES.has(p.lower)) return this.mark(k - 1, k, { start: p.start, end: t.end, to: p.text });
        return this.mark(k, k, { start: toks[k - 1]?.end ?? t.start, end: t.end, to: '' });
      }
      if (NEGATIONS[t.lower]) return this.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, NEGATIONS[t.lower]) });
      if (t.lower === 'no') {
        const n = this.next(k);
        if (!n) continue;
        if (n.lower === 'one') return this.mark(k, k + 1, { start: t.start, end: n.end, to: matchCase(t.text, 'someone') });
        const p = this.prev(k)?.lower;
        const plural = p === 'are' || p === 'were' || singularize(n.lower) !== null;
        return this.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, plural ? 'some' : indefiniteArticle(n.text)) });
      }
      if (t.lower === 'nothing' || t.lower === 'nobody') return this.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, t.lower === 'nothing' ? 'something' : 'somebody') });
    }
    for (let k = from; k < to; k++) {
      const t = toks[k];
      if (!AUXILIARIES.has(t.lower)) continue;
      const n = this.next(k);
      if (t.lower === 'has' || t.lower === 'have') {
        // 'has a hat' / 'has cheese' -> 'has no ...'; not 'has been'
        if (!n || n.isNum || ['been', 'got', 'gotten', 'to', 'not', 'no'].includes(n.lower) || /(ed|en)$/.test(n.lower)) continue;
        if (n.lower === 'a' || n.lower === 'an' || n.lower === 'some') return this.mark(k + 1, k + 1, { start: n.start, end: n.end, to: matchCase(n.text, 'no') });
        if (FUNCTION_WORDS.has(n.lower)) continue;
        return this.mark(k, k, { start: t.start, end: t.end, to: `${t.text} no` });
      }
      if (n && (n.lower === 'a' || n.lower === 'an' || n.lower === 'some') && this.prev(k)?.lower === 'there')
        return this.mark(k + 1, k + 1, { start: n.start, end: n.end, to: matchCase(n.text, 'no') });
      return this.mark(k, k, { start: t.start, end: t.end, to: t.lower === 'can' ? matchCase(t.text, 'cannot') : `${t.text} not` });
    }
    // no auxiliary: 'a clock hangs on the wall' -> 'no clock hangs on the wall'
    for (let k = from; k < to; k++) {
      const t = toks[k];
      if ((t.lower === 'a' || t.lower === 'an') && this.next(k)) return this.mark(k, k, { start: t.start, end: t.end, to: matchCase(t.text, 'no') });
    }
    return null;
  }

  private mark(a: number, b: number, p: Part): Part {
    for (let k = Math.max(0, a); k <= b; k++) this.occupied[k] = true;
    return p;
  }

  // counts ---------------------------------------------------------------------------------------

  private counts(out: Candidate[]): void {
    const toks = this.toks;
    for (let i = 0; i < toks.length; i++) {
      if (this.occupied[i]) continue;
      const t = toks[i];
      let value: number | undefined;
      let last = i; // last token of the number
      let style: 'digits' | 'words';
      if (t.isNum) {
        if (i + 1 < toks.length && this.gap(i + 1) === '' && !toks[i + 1].isNum) continue; // 2nd, 10am, 4K
        if (/:$/.test(this.gap(i)) && i > 0) continue; // minutes of a time
        if (i > 0 && /[A-Za-z]$/.test(this.text.slice(0, t.start))) continue; // part of a code like A4
        value = Number(t.text.replace(/,/g, ''));
        style = 'digits';
      } else {
        const v = NUMBER_WORDS[t.lower];
        if (v === undefined || t.lower === 'hundred' || this.properNoun(i)) continue;
        value = v;
        style = 'words';
        const n = toks[i + 1];
        if (v >= 20 && v % 10 === 0 && n && this.gap(i + 1) === '-' && (NUMBER_WORDS[n.lower] ?? 10) < 10) {
          value = v + NUMBER_WORDS[n.lower];
          last = i + 1;
        }
        if (t.lower === 'one') {
          const p = this.prev(i)?.lower;
          const nx = this.next(i);
          if (p && ['the', 'this', 'that', 'which', 'each', 'no', 'any', 'every', 'some', 'another', 'only', 'a', 'little', 'big', 'small', 'red', 'blue'].includes(p)) continue;
          if (!nx && !this.short) continue;
          if (nx && nx.lower !== 'of' && FUNCTION_WORDS.has(nx.lower)) continue;
        }
      }
      if (!Number.isFinite(value)) continue;
      const newValue = this.pickNumber(value, t.text);
      let numText: string;
      if (style === 'words') numText = numberToWords(newValue) ?? String(newValue);
      else if (t.text.includes('.')) numText = newValue.toFixed(t.text.split('.')[1].length);
      else numText = String(newValue);
      const parts: Part[] = [{ start: t.start, end: toks[last].end, to: matchCase(t.text, numText) }];

      const oldPlural = value !== 1;
      const newPlural = newValue !== 1;
      const nounIdx = this.nounAfter(last, oldPlural);
      if (oldPlural !== newPlural && nounIdx >= 0 && !this.occupied[nounIdx]) {
        const noun = toks[nounIdx];
        const base = noun.lower.replace(/'s$/, '');
        const changed = newPlural ? (singularize(base) === null || IRREGULAR_SAME.has(base) ? pluralize(base) : null) : singularize(base);
        if (changed && changed !== base) {
          parts.push({ start: noun.start, end: noun.start + base.length, to: matchCase(noun.text, changed) });
          const after = this.next(nounIdx);
          if (after && COPULAS[after.lower] && !this.occupied[nounIdx + 1]) {
            const want = newPlural ? PLURAL_VERB[after.lower] : SINGULAR_VERB[after.lower];
            if (want && want !== after.lower) parts.push({ start: after.start, end: after.end, to: matchCase(after.text, want) });
          }
          const before = this.prev(i);
          const there = i >= 2 ? this.prev(i - 1) : undefined;
          if (before && COPULAS[before.lower] && there && (there.lower === 'there' || there.lower === 'here') && !this.occupied[i - 1]) {
            const want = newPlural ? PLURAL_VERB[before.lower] : SINGULAR_VERB[before.lower];
            if (want && want !== before.lower) parts.unshift({ start: before.start, end: before.end, to: matchCase(before.text, want) });
          }
          this.occupied[nounIdx] = true;
        }
      }
      if (oldPlural !== newPlural && this.next(last)?.lower === 'of') {
        // 'one of the dogs is' -> 'three of the dogs are'
        for (let k = last + 2, steps = 0; k < toks.length && steps < 6; k++, steps++) {
          if (/[.,;:!?]/.test(this.gap(k))) break;
          const v = toks[k];
          if (!COPULAS[v.lower]) continue;
          const want = newPlural ? PLURAL_VERB[v.lower] : SINGULAR_VERB[v.lower];
          if (!this.occupied[k] && want !== v.lower) {
            parts.push({ start: v.start, end: v.end, to: matchCase(v.text, want) });
            this.occupied[k] = true;
          }
          break;
        }
      }
      for (let k = i; k <= last; k++) this.occupied[k] = true;
      out.push({ kind: 'count', parts });
      i = last;
    }
  }

  /** A different, plausible number: small counts stay small, larger ones move by a few or double. */
  private pickNumber(v: number, text: string): number {
    const rng = this.rng;
    if (!Number.isInteger(v)) {
      const f = rng.pick([0.5, 2, 3]);
      return Number((v * f).toFixed(text.includes('.') ? text.split('.')[1].length : 0)) === v ? v + 1 : v * f;
    }
    if (v >= 1800 && v <= 2100 && text.length === 4) return v + rng.pick([-10, -5, -2, 2, 5, 10]);
    if (v <= 5) return rng.pick([1, 2, 3, 4, 5, 6, 7].filter((x) => x !== v));
    if (v <= 20) return rng.pick([v - 3, v - 2, v + 2, v + 5, v * 2].filter((x) => x > 0 && x !== v));
    return rng.pick([Math.round(v / 2), v + 10, v * 2].filter((x) => x !== v));
  }

  /**
   * Head noun of the phrase after token i: skip adjectives, then the last of the nouns in a row.
   * After a count (`plural` given) the number tells where the phrase ends, so the verb after it
   * is not taken for the noun: a plural count ends at its first plural word ('five small stars
   * | shine'), a singular one before a word in -s ('one dog | runs').
   */
  private nounAfter(i: number, plural?: boolean): number {
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

  // attributes and relations ---------------------------------------------------------------------

  private colour(i: number): Candidate | null {
    const t = this.toks[i];
    if (!COLORS.includes(t.lower)) return null;
    if (t.lower === 'orange' && !this.colorUse(i)) return null;
    const present = new Set(this.toks.filter((x) => COLORS.includes(x.lower)).map((x) => (x.lower === 'grey' ? 'gray' : x.lower)));
    const head = this.nounAfter(i);
    const form = head >= 0 ? OBJECT_FORMS.get(this.toks[head].lower) : undefined;
    const palette = form && form.cat.group === 'animal' ? NATURAL_COLORS : COLOR_CHOICES;
    let choices = palette.filter((c) => !present.has(c));
    if (choices.length === 0) choices = COLOR_CHOICES.filter((c) => c !== t.lower && !(c === 'gray' && t.lower === 'grey'));
    return { kind: 'color', parts: [this.wordPart(i, this.rng.pick(choices))] };
  }

  private size(i: number): Candidate | null {
    const t = this.toks[i];
    const swaps = SIZE_SWAPS[t.lower];
    if (!swaps) return null;
    const n = this.next(i);
    const p = this.prev(i);
    if (t.lower === 'little' && (!n || ['bit', 'more', 'less', 'too', 'while', 'of'].includes(n.lower) || FUNCTION_WORDS.has(n.lower))) return null;
    if (t.lower === 'long' && ((p && ['how', 'as', 'so', 'no', 'for'].includes(p.lower)) || (n && ['as', 'ago'].includes(n.lower)))) return null;
    if ((t.lower === 'tall' || t.lower === 'long' || t.lower === 'wide') && p && MEASURE_UNITS.has(p.lower)) return null; // '2 meters tall'
    let choice = this.rng.pick(swaps);
    if (t.lower === 'short' && n && LONG_NOUNS.has(n.lower)) choice = 'long';
    return { kind: 'size', parts: [this.wordPart(i, choice)] };
  }

  private material(i: number): Candidate | null {
    const t = this.toks[i];
    const n = this.next(i);
    const p = this.prev(i);
    const nounFollows = n && !n.isNum && !FUNCTION_WORDS.has(n.lower);
    const isAdj = MATERIAL_ADJECTIVES.includes(t.lower) && (nounFollows || (p && ['is', 'are', 'was', 'were', 'looks', 'appears'].includes(p.lower) && t.lower !== 'wood'));
    const madeOf = MATERIAL_NOUNS.includes(t.lower) && p && ['of', 'from'].includes(p.lower) && i >= 2 && ['made', 'built', 'constructed', 'out'].includes(this.toks[i - 2].lower);
    // a bare 'Wood.' answering 'What is it made of?'
    const alone = this.short && !nounFollows && (MATERIAL_NOUNS.includes(t.lower) || MATERIAL_ADJECTIVES.includes(t.lower));
    if (!isAdj && !madeOf && !alone) return null;
    const fam = materialFamily(t.lower);
    const table = isAdj && !alone ? MATERIAL_ADJECTIVE_CHOICES : MATERIAL_NOUN_CHOICES;
    const choices = (table[fam] ?? table.wood).filter((m) => materialFamily(m) !== fam);
    return { kind: 'material', parts: [this.wordPart(i, this.rng.pick(choices))] };
  }

  private attribute(i: number): Candidate | null {
    const t = this.toks[i];
    const swaps = ATTRIBUTE_SWAPS[t.lower];
    if (!swaps) return null;
    const n = this.next(i);
    const before = i > 0 ? this.toks[i - 1].lower : '';
    if (t.lower === 'old' && AGE_UNITS.has(before)) return null;
    if ((t.lower === 'old' || t.lower === 'young') && n) {
      // 'an old man' -> 'a young man', but 'an old bicycle' -> 'a new bicycle'
      const head = this.nounAfter(i);
      const form = head >= 0 ? OBJECT_FORMS.get(this.toks[head].lower) : undefined;
      const living = form !== undefined && (form.cat.group === 'person' || form.cat.group === 'animal');
      if (t.lower === 'old') return { kind: 'attribute', parts: [this.wordPart(i, living ? 'young' : 'new')] };
      if (!living && head >= 0) return null;
    }
    if (t.lower === 'full' && n?.lower === 'of') return null;
    if (t.lower === 'new' && n && /^[A-Z]/.test(n.text)) return null;
    return { kind: 'attribute', parts: [this.wordPart(i, this.rng.pick(swaps))] };
  }

  private relationPhrases(out: Candidate[]): void {
    const toks = this.toks;
    const phrases = [...Object.keys(RELATION_PHRASES), 'at night', 'during the day'].sort((a, b) => b.split(' ').length - a.split(' ').length);
    for (let i = 0; i < toks.length; i++) {
      for (const ph of phrases) {
        const words = ph.split(' ');
        if (i + words.length > toks.length) continue;
        let ok = true;
        for (let k = 0; k < words.length; k++) {
          if (toks[i + k].lower !== words[k] || this.occupied[i + k]) ok = false;
          if (k > 0 && !/^ $/.test(this.gap(i + k))) ok = false;
        }
        if (!ok || this.properNoun(i)) continue;
        const to = ph === 'at night' ? 'during the day' : ph === 'during the day' ? 'at night' : this.rng.pick(RELATION_PHRASES[ph]);
        const last = i + words.length - 1;
        out.push({ kind: 'relation', parts: [this.withArticle({ start: toks[i].start, end: toks[last].end, to: matchCase(toks[i].text, to) })] });
        for (let k = i; k <= last; k++) this.occupied[k] = true;
        i = last;
        break;
      }
    }
  }

  private relationWord(i: number): Candidate | null {
    const t = this.toks[i];
    const swaps = RELATION_WORDS[t.lower];
    if (!swaps) return null;
    const n = this.next(i);
    const p = this.prev(i);
    const short = this.short;
    switch (t.lower) {
      case 'left':
      case 'right':
        if (!short && !(p && LR_PREV.has(p.lower)) && !(n && LR_NEXT.has(n.lower))) return null;
        if (n && ['now', 'away', 'there', 'here', 'next', 'behind'].includes(n.lower)) return null;
        break;
      case 'top':
      case 'bottom':
        if (!((n && (n.lower === 'left' || n.lower === 'right')) || (p?.lower === 'the' && (!n || TB_NEXT.has(n.lower))) || short)) return null;
        break;
      case 'front':
      case 'back':
        if (!((n && FB_NEXT.has(n.lower)) || (p?.lower === 'the' && !n) || short)) return null;
        break;
      case 'on': {
        if (p && ON_PHRASAL.has(p.lower)) return null;
        if (!n || !DETERMINERS.has(n.lower)) return null;
        const head = this.nounAfter(i + 1);
        if (head < 0) return null;
        const h = this.toks[head].lower;
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
    return { kind: 'relation', parts: [this.wordPart(i, this.rng.pick(swaps))] };
  }

  // objects --------------------------------------------------------------------------------------

  private objects(out: Candidate[]): void {
    for (const m of this.mentions) {
      if (m.form) {
        const r = this.replaceObject(m);
        if (r) out.push(r);
      }
      const a = this.addObject(m);
      if (a) out.push(a);
    }
  }

  private replaceObject(m: Mention): Candidate | null {
    const form = m.form!;
    if (form.cat.mass) return null;
    let word: string | null = null;
    if (form.cat.name === 'person') {
      const swaps = PERSON_SWAPS[form.singular];
      if (swaps) word = this.rng.pick(swaps);
    } else if (!form.cat.pair) {
      const usable = (c: ObjectCategory | undefined): c is ObjectCategory => !!c && c.name !== form.cat.name && !this.present.has(c.name) && !c.mass && !c.pair;
      let pool = (SIMILAR_OBJECTS[form.cat.name] ?? []).map((n) => CATEGORY_BY_NAME.get(n)).filter(usable);
      if (pool.length === 0) pool = COCO_CATEGORIES.filter((c) => c.group === form.cat.group && usable(c));
      if (pool.length > 0) word = this.rng.pick(pool).forms[0];
    }
    if (!word) return null;
    const to = m.plural ? pluralize(word) : word;
    const first = this.toks[m.first];
    return { kind: 'object', parts: [this.withArticle({ start: m.start, end: m.end, to: matchCase(first.text, to) })] };
  }

  private addObject(m: Mention): Candidate | null {
    if (m.possessive) return null;
    const after = this.toks[m.last + 1];
    const gap = this.gap(m.last + 1);
    if (after && /^[ \t]+$/.test(gap)) {
      if (RELATIVE_POSITIONS.has(after.lower)) return null;
      const two = this.next(m.last + 1);
      if (two && POSITION_PHRASE_STARTS.has(`${after.lower} ${two.lower}`) && (two.lower !== 'the' || POSITION_PHRASE_HEADS.has(this.next(m.last + 2)?.lower ?? ''))) return null;
    }
    const endsPhrase = !after || /[.,;:!?)]/.test(gap) || (/^[ \t]+$/.test(gap) && (AFTER_NOUN_OK.has(after.lower) || /ing$/.test(after.lower)));
    if (!endsPhrase) return null;
    const target = this.pickCoOccurring(m.anchorOf);
    if (!target) return null;
    const prep = this.rng.pick(['next to', 'beside', 'near']);
    // A locative after the pair ('on the table') places both; it must then not become a relative position ('under').
    const guard = after && /^[ \t]+$/.test(gap) && RELATION_WORDS[after.lower] ? [{ start: after.start, end: after.end, to: after.text }] : undefined;
    return { kind: 'object', parts: [{ start: m.end, end: m.end, to: ` ${prep} ${withIndefinite(target)}` }], guard };
  }

  private pickCoOccurring(row: readonly string[]): ObjectCategory | null {
    const options = row.map((n) => CATEGORY_BY_NAME.get(n)!).filter((c) => c && !this.present.has(c.name));
    return options.length > 0 ? this.rng.pick(options) : null;
  }

  /** Always applies: a sentence about an object that often appears with one in the text or question. */
  fallback(): Candidate {
    let sentence: string | null = null;
    const anchors: [Mention, string][] = [...this.mentions.map((m): [Mention, string] => [m, this.text]), ...this.questionMentions.map((m): [Mention, string] => [m, this.questionText])];
    for (const [m, src] of anchors) {
      const target = this.pickCoOccurring(m.anchorOf);
      if (!target) continue;
      sentence = `There is also ${withIndefinite(target)} next to the ${src.slice(m.start, m.end).toLowerCase()}.`;
      break;
    }
    if (!sentence) {
      const options = GENERIC_OBJECTS.filter((n) => !this.present.has(n));
      const target = CATEGORY_BY_NAME.get(this.rng.pick(options.length > 0 ? options : GENERIC_OBJECTS))!;
      sentence = `There is also ${withIndefinite(target)} in the background.`;
    }
    const trimmed = this.text.replace(/\s+$/, '');
    const at = trimmed.length;
    if (at === 0) return { kind: 'object', parts: [{ start: 0, end: 0, to: sentence.replace('There is also', 'There is') }] };
    const sep = /[.!?]["')\]]?$/.test(trimmed) ? ' ' : '. ';
    return { kind: 'object', parts: [{ start: at, end: at, to: sep + sentence }] };
  }
}

const MEASURE_UNITS = new Set(['meter', 'meters', 'metres', 'feet', 'foot', 'inches', 'inch', 'cm', 'm', 'ft', 'stories', 'storeys', 'floors', 'miles', 'kilometers', 'yards']);
const IRREGULAR_SAME = new Set(['sheep', 'deer', 'fish', 'series', 'species', 'aircraft']);
const PLURAL_VERB: Record<string, string> = { is: 'are', are: 'are', was: 'were', were: 'were', has: 'have', have: 'have' };
const SINGULAR_VERB: Record<string, string> = { is: 'is', are: 'is', was: 'was', were: 'was', has: 'has', have: 'has' };

/** 'a fork', 'an umbrella', 'a pair of skis', 'some broccoli'. */
function withIndefinite(cat: ObjectCategory): string {
  if (cat.mass) return `some ${cat.forms[0]}`;
  if (cat.pair) return `a pair of ${cat.name}`;
  const w = cat.forms[0];
  return `${indefiniteArticle(w)} ${w}`;
}

/** Object words and phrases of the 80 COCO categories found in `text` (for display and metrics). */
export function findObjectMentions(text: string): ObjectMention[] {
  const ctx = new Context(text, new Rng(0));
  return ctx['mentions'].filter((m) => m.form).map((m) => ({ category: m.form!.cat.name, start: m.start, end: m.end, plural: m.plural }));
}
