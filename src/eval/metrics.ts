// Hallucination metrics, as plain functions over texts and ground truth:
// - CHAIR (Rohrbach et al., 2018) over generated descriptions: CHAIR_i = hallucinated object
//   mentions / all object mentions, CHAIR_s = descriptions with a hallucinated object / all
//   descriptions; objects are found by a mention finder (plurals and synonyms folded to one name);
// - POPE-style probes (Li et al., 2023): "Is there a X in the image?" over present and absent
//   objects; accuracy, precision, recall and F1 of "yes" for present objects, and the yes-ratio;
// - attribute accuracy (colour, count) to show that nothing else broke.
// A ratio over nothing is null with its counts, never NaN: the caller says "no data" instead.
// estimateFromRecords applies the same metrics to a user's own preference records, where the
// ground truth is only what the preferred answer names (an estimate, and labelled so).
import { CO_OCCURRENCE } from '../povid/lexicon';
import { findObjectMentions } from '../povid/inject';
import { COLOUR_NAMES, KINDS, pluralOf, PLANTED_PAIRS, type Kind } from './scenes';

/** A ratio with its counts; value is null when the denominator is 0. */
export interface Ratio {
  value: number | null;
  num: number;
  den: number;
}

export function ratio(num: number, den: number): Ratio {
  return { value: den > 0 ? num / den : null, num, den };
}

/** Canonical object names mentioned in a text (each name once per text). */
export type MentionFinder = (text: string) => string[];

/** An object mention with its place in the text (for highlighting). */
export interface MentionSpan {
  name: string;
  start: number;
  end: number;
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+/g) ?? [];
}

/** Spans of the surface forms (singular, plural, synonyms; multi-word forms as consecutive words). */
export function makeSpanFinder(forms: Readonly<Record<string, readonly string[]>>): (text: string) => MentionSpan[] {
  const table = new Map<string, string>();
  let longest = 1;
  for (const [name, fs] of Object.entries(forms)) {
    for (const f of fs) {
      const key = words(f).join(' ');
      table.set(key, name);
      longest = Math.max(longest, key.split(' ').length);
    }
  }
  return (text) => {
    const ws = [...text.matchAll(/[A-Za-z]+/g)].map((m) => ({ w: m[0].toLowerCase(), start: m.index, end: m.index + m[0].length }));
    const out: MentionSpan[] = [];
    for (let i = 0; i < ws.length; i++) {
      for (let n = Math.min(longest, ws.length - i); n >= 1; n--) {
        const hit = table.get(
          ws
            .slice(i, i + n)
            .map((x) => x.w)
            .join(' '),
        );
        if (hit) {
          out.push({ name: hit, start: ws[i].start, end: ws[i + n - 1].end });
          i += n - 1;
          break;
        }
      }
    }
    return out;
  };
}

/** A mention finder from canonical names and their surface forms. */
export function makeMentionFinder(forms: Readonly<Record<string, readonly string[]>>): MentionFinder {
  const spans = makeSpanFinder(forms);
  return (text) => [...new Set(spans(text).map((s) => s.name))];
}

/** Synonyms a description of the benchmark's pictures may use for each kind. */
export const SCENE_SYNONYMS: Readonly<Record<Kind, readonly string[]>> = {
  boat: ['ship', 'sailboat', 'sailboats', 'ships'],
  sun: [],
  cup: ['mug', 'mugs'],
  plate: ['dish', 'dishes'],
  house: ['home', 'homes', 'cottage', 'cottages'],
  tree: [],
  kite: [],
  cloud: [],
  car: ['automobile', 'automobiles'],
  ball: [],
  cat: ['kitten', 'kittens'],
  fish: ['fishes'],
  bird: [],
  flower: [],
  star: [],
  moon: [],
};

const SCENE_FORMS = Object.fromEntries(KINDS.map((k) => [k, [k, pluralOf(k), ...SCENE_SYNONYMS[k]]]));

/** Mentions of the benchmark's kinds. */
export const findSceneMentions: MentionFinder = makeMentionFinder(SCENE_FORMS);
export const findSceneSpans = makeSpanFinder(SCENE_FORMS);

/** Mentions of the injector's 80 COCO categories (its lexicon's forms and plurals). */
export const findLexiconMentions: MentionFinder = (text) => [...new Set(findObjectMentions(text).map((m) => m.category))];
export const findLexiconSpans = (text: string): MentionSpan[] =>
  findObjectMentions(text).map((m) => ({ name: m.category, start: m.start, end: m.end }));

/** The spans of a text that name objects not in `truth`: what a report highlights. */
export function hallucinatedSpans(
  text: string,
  truth: readonly string[],
  spans: (text: string) => MentionSpan[] = findSceneSpans,
): MentionSpan[] {
  const t = new Set(truth);
  return spans(text).filter((s) => !t.has(s.name));
}

export interface ChairInput {
  /** The generated description. */
  text: string;
  /** Canonical names of the objects really in the image. */
  truth: readonly string[];
}

export interface ChairRecordResult {
  mentioned: string[];
  hallucinated: string[];
}

export interface ChairResult {
  /** Hallucinated mentions / mentions. */
  chairI: Ratio;
  /** Descriptions with a hallucination / descriptions. */
  chairS: Ratio;
  /** Objects in the image that the description names / objects in the image. */
  recall: Ratio;
  records: ChairRecordResult[];
}

export function chair(inputs: readonly ChairInput[], find: MentionFinder = findSceneMentions): ChairResult {
  let mentions = 0;
  let bad = 0;
  let badTexts = 0;
  let present = 0;
  let recalled = 0;
  const records = inputs.map(({ text, truth }) => {
    const truthSet = new Set(truth);
    const mentioned = find(text);
    const hallucinated = mentioned.filter((m) => !truthSet.has(m));
    mentions += mentioned.length;
    bad += hallucinated.length;
    badTexts += hallucinated.length > 0 ? 1 : 0;
    present += truthSet.size;
    recalled += mentioned.filter((m) => truthSet.has(m)).length;
    return { mentioned, hallucinated };
  });
  return { chairI: ratio(bad, mentions), chairS: ratio(badTexts, inputs.length), recall: ratio(recalled, present), records };
}

/** 'yes', 'no', or null when the answer is neither (counted as unanswered, and as not-yes). */
export function parseYesNo(answer: string): 'yes' | 'no' | null {
  const w = words(answer);
  for (const x of w.slice(0, 3)) {
    if (x === 'yes' || x === 'yeah' || x === 'yep') return 'yes';
    if (x === 'no' || x === 'nope' || x === 'not') return 'no';
  }
  if (/\bthere (is|are) no\b/i.test(answer)) return 'no';
  if (/\bthere (is|are)\b/i.test(answer)) return 'yes';
  return null;
}

export interface PopeProbe {
  object: string;
  /** Whether the object is really in the image. */
  present: boolean;
  /** The model's answer to "Is there a <object> in the image?". */
  answer: string;
}

export interface PopeResult {
  accuracy: Ratio;
  precision: Ratio;
  recall: Ratio;
  /** Harmonic mean of precision and recall; null when either is null or both are 0. */
  f1: number | null;
  yesRatio: Ratio;
  /** Answers that were neither yes nor no (scored as "no", as POPE does). */
  unanswered: number;
  counts: { tp: number; fp: number; tn: number; fn: number };
}

export function pope(probes: readonly PopeProbe[]): PopeResult {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  let unanswered = 0;
  for (const p of probes) {
    const a = parseYesNo(p.answer);
    if (a === null) unanswered++;
    const yes = a === 'yes';
    if (p.present) yes ? tp++ : fn++;
    else yes ? fp++ : tn++;
  }
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  const f1 =
    precision.value !== null && recall.value !== null && precision.value + recall.value > 0
      ? (2 * precision.value * recall.value) / (precision.value + recall.value)
      : null;
  return {
    accuracy: ratio(tp + tn, probes.length),
    precision,
    recall,
    f1,
    yesRatio: ratio(tp + fp, probes.length),
    unanswered,
    counts: { tp, fp, tn, fn },
  };
}

const NUMBERS: Readonly<Record<string, number>> = {
  zero: 0,
  no: 0,
  one: 1,
  a: 1,
  an: 1,
  single: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
};

/** The first colour word of the palette in an answer, or null. */
export function parseColour(answer: string): string | null {
  const names = new Set<string>([...COLOUR_NAMES, 'grey']);
  for (const w of words(answer)) if (names.has(w)) return w === 'grey' ? 'gray' : w;
  return null;
}

/** The first number (digits or a word up to ten) in an answer, or null. */
export function parseCount(answer: string): number | null {
  const m = answer.toLowerCase().match(/\d+|[a-z]+/g) ?? [];
  for (const w of m) {
    if (/^\d+$/.test(w)) return Number(w);
    if (w in NUMBERS && w !== 'a' && w !== 'an' && w !== 'no') return NUMBERS[w];
  }
  return null;
}

export type AttributeProbe = { type: 'colour'; truth: string; answer: string } | { type: 'count'; truth: number; answer: string };

export interface AttributeResult {
  colour: Ratio;
  count: Ratio;
  /** Both together. */
  overall: Ratio;
}

export function attributeAccuracy(probes: readonly AttributeProbe[]): AttributeResult {
  let cOk = 0;
  let cN = 0;
  let nOk = 0;
  let nN = 0;
  for (const p of probes) {
    if (p.type === 'colour') {
      cN++;
      if (parseColour(p.answer) === p.truth) cOk++;
    } else {
      nN++;
      if (parseCount(p.answer) === p.truth) nOk++;
    }
  }
  return { colour: ratio(cOk, cN), count: ratio(nOk, nN), overall: ratio(cOk + nOk, cN + nN) };
}

/** The planted partner named in descriptions of scenes that show its anchor but not it. */
export function plantedRate(inputs: readonly { text: string; truth: readonly string[] }[], find: MentionFinder = findSceneMentions): Ratio {
  let invited = 0;
  let named = 0;
  for (const { text, truth } of inputs) {
    const said = new Set(find(text));
    for (const p of PLANTED_PAIRS) {
      if (truth.includes(p.anchor) && !truth.includes(p.partner)) {
        invited++;
        if (said.has(p.partner)) named++;
      }
    }
  }
  return ratio(named, invited);
}

// ---------------------------------------------------------------------------------------------
// The user's own records (estimates)

export interface RecordEvalInput {
  id: string;
  /** The preferred answer: the only ground truth there is. */
  chosen: string;
  /** Objects the injector put into this record's dispreferred answer (edits of kind 'object'). */
  injectedObjects?: readonly string[];
  /** The generated answer to evaluate (adapter off or on). */
  generated: string;
}

export interface RecordEstimate {
  /** True: computed from preferred answers, not from a labelled image. */
  estimate: true;
  used: number;
  excluded: { noKnownObject: string[] };
  chair: ChairResult | null;
  /** Per used record: the present objects and the absent ones to probe (injected + co-occurring). */
  probes: { id: string; present: string[]; absent: string[] }[];
  /** Why there is nothing to show, when there is nothing. */
  message: string | null;
}

/**
 * CHAIR on held-out records against the objects their preferred answers name (the injector's
 * lexicon), and the POPE probe lists: present = those objects, absent = the objects injected into
 * the record's dispreferred answer and the lexicon's co-occurring objects, minus the present ones.
 * Records whose preferred answer names no known object are excluded and listed.
 */
export function estimateFromRecords(records: readonly RecordEvalInput[], opts: { maxAbsent?: number } = {}): RecordEstimate {
  const maxAbsent = opts.maxAbsent ?? 3;
  if (records.length === 0) {
    return {
      estimate: true,
      used: 0,
      excluded: { noKnownObject: [] },
      chair: null,
      probes: [],
      message: 'there are no held-out records to evaluate: set a held-out fraction above 0 or add more records',
    };
  }
  const used: RecordEvalInput[] = [];
  const truths: string[][] = [];
  const noKnownObject: string[] = [];
  for (const r of records) {
    const truth = findLexiconMentions(r.chosen);
    if (truth.length === 0) noKnownObject.push(r.id);
    else {
      used.push(r);
      truths.push(truth);
    }
  }
  if (used.length === 0) {
    return {
      estimate: true,
      used: 0,
      excluded: { noKnownObject },
      chair: null,
      probes: [],
      message: `none of the ${records.length} held-out records names a known object in its preferred answer, so hallucinated objects cannot be told apart (${noKnownObject.length} excluded)`,
    };
  }
  const c = chair(
    used.map((r, i) => ({ text: r.generated, truth: truths[i] })),
    findLexiconMentions,
  );
  const probes = used.map((r, i) => {
    const present = truths[i];
    const absent: string[] = [];
    const add = (o: string) => {
      if (!present.includes(o) && !absent.includes(o) && absent.length < maxAbsent) absent.push(o);
    };
    for (const o of r.injectedObjects ?? []) for (const cat of findLexiconMentions(o)) add(cat);
    for (const p of present) for (const o of CO_OCCURRENCE[p] ?? []) add(o);
    return { id: r.id, present, absent };
  });
  const message =
    noKnownObject.length > 0
      ? `${noKnownObject.length} of ${records.length} held-out records name no known object and were left out`
      : null;
  return { estimate: true, used: used.length, excluded: { noKnownObject }, chair: c, probes, message };
}
