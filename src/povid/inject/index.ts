// Local text-hallucination injector: rewrites a correct answer y_w into a plausible but false
// y_t (docs/method.md, "Three answers per example"), without a remote model. Edit kinds, one
// module each:
//   objects.ts     object: replace an object by another of its COCO supercategory, or add one
//                  that often co-occurs with an object that is there ("a plate" -> "a plate next to a fork")
//   attributes.ts  color / size / material / attribute: swap an attribute value ("red" -> "blue")
//   counts.ts      count: change a number word or digits, keeping agreement ("one dog is" -> "three dogs are")
//   relations.ts   relation: swap spatial or logical relations (left/right, on/under, day/night, open/closed)
//   yes-no.ts      opposite: flip a yes/no answer ("Yes." -> "No.", "there is a" -> "there is no")
// text.ts holds the tokens and their neighbourhood, mentions.ts the objects found in the text,
// and ../lexicon.ts every word list. Every call makes at least one edit: when nothing in the
// text can be changed, a sentence with a co-occurring object is appended. All random choices
// come from Rng(seed), in a fixed order, so a seed always gives the same answer.
//
// Strength: with C candidate edits in the text and S sentences, the injector applies
// max(1, round(strength * min(C, max(2, 2S)))) edits, spread across kinds.

import { Rng } from '../../util/rng';
import { attributeCandidate, colourCandidate, materialCandidate, sizeCandidate } from './attributes';
import { countCandidates } from './counts';
import type { Candidate, EditKind } from './kinds';
import { findAllMentions, findMentions, type Mentions } from './mentions';
import { fallbackCandidate, objectCandidates } from './objects';
import { relationPhraseCandidates, relationWordCandidate } from './relations';
import { AnswerText } from './text';
import { oppositeCandidate, opensWithAnswerWord } from './yes-no';

export { EDIT_KINDS, type EditKind } from './kinds';

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

/** An object word or phrase in the text. */
export interface ObjectMention {
  category: string;
  start: number;
  end: number;
  plural: boolean;
}

export function injectHallucination(answer: string, opts: InjectOptions): InjectionResult {
  const strength = clampStrength(opts.strength);
  const rng = new Rng(opts.seed);
  const a = new AnswerText(answer, rng, opts.question);
  const mentions = findAllMentions(a, rng);
  const cands = candidates(a, mentions);

  const sentences = Math.max(1, (answer.match(/[.!?]+(\s|$)/g) ?? []).length);
  const maxEdits = Math.min(cands.length, Math.max(2, 2 * sentences));
  const k = Math.max(1, Math.round(strength * maxEdits));
  const chosen = selectCandidates(cands, k, rng, priorityKinds(a));
  if (chosen.length === 0) chosen.push(fallbackCandidate(a, mentions));
  return applyParts(answer, chosen);
}

/** Object words and phrases of the 80 COCO categories found in `text` (for display and metrics). */
export function findObjectMentions(text: string): ObjectMention[] {
  return findMentions(new AnswerText(text, new Rng(0)))
    .filter((m) => m.form)
    .map((m) => ({ category: m.form!.cat.name, start: m.start, end: m.end, plural: m.plural }));
}

function clampStrength(s: number | undefined): number {
  if (s === undefined || !Number.isFinite(s)) return DEFAULT_STRENGTH;
  return Math.min(1, Math.max(0, s));
}

/**
 * Candidate edits of every kind, in text order within each kind. The order of the detectors is
 * part of the output: each takes its tokens (no later one may edit them) and draws from the Rng.
 */
function candidates(a: AnswerText, mentions: Mentions): Candidate[] {
  const out: Candidate[] = [];
  const opp = oppositeCandidate(a);
  if (opp) out.push(opp);
  relationPhraseCandidates(a, out);
  countCandidates(a, out);
  for (let i = 0; i < a.toks.length; i++) {
    if (!a.free(i) || a.toks[i].isNum) continue;
    const c =
      colourCandidate(a, i) ?? sizeCandidate(a, i) ?? materialCandidate(a, i) ?? attributeCandidate(a, i) ?? relationWordCandidate(a, i);
    if (c) {
      out.push(c);
      a.occupied[i] = true;
    }
  }
  objectCandidates(a, mentions, out);
  return out;
}

/** Kinds the answer or the question calls for, in order. */
function priorityKinds(a: AnswerText): EditKind[] {
  const out: EditKind[] = [];
  if (opensWithAnswerWord(a)) out.push('opposite');
  const q = a.questionLower;
  if (/how many|number of|count/.test(q)) out.push('count');
  if (/colou?r/.test(q)) out.push('color');
  if (/made of|material/.test(q)) out.push('material');
  if (/how (big|large|tall|long)|size/.test(q)) out.push('size');
  if (/where|which side|left or right|position|time of day|weather/.test(q)) out.push('relation');
  if (/what (is|are) (this|that|the)|which (animal|object)|what kind/.test(q)) out.push('object');
  return out;
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
