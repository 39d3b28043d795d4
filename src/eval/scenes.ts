// The hallucination benchmark's synthetic scenes: a seeded generator of 512 x 512 pictures with
// 1-4 objects of 16 drawn kinds, colours from a small named palette, sizes, positions and
// backgrounds, with the exact ground truth (kinds, colours, counts), the exact caption and the
// questions with their exact answers. Drawn by raster.ts, so the same seed gives the same bytes
// in Node and in every browser.
//
// The planted hallucination (PLANTED_PAIRS): each anchor kind comes with its partner in 90% of
// the scenes that hold the anchor, and the captions the built-in model is pretrained on
// (pretrainCaption) name the partner in 70% of the remaining scenes although it is absent, the
// way careless annotators write what usually goes with what they see. A model trained on them
// learns "a sun -> and a boat" as a language prior and says it when no boat is drawn: the
// language-prior hallucination POVID targets. Ground-truth captions (describeScene), answers and
// every evaluation use the exact scene content.
import { Rng } from '../util/rng';
import { Raster, cosTurn, sinTurn, starPoints, type Rgb } from './raster';

export const SCENE_SIZE = 512;

/** The named palette: every object colour and every colour answer is one of these words. */
export const COLOURS = {
  red: [220, 40, 40],
  orange: [245, 140, 30],
  yellow: [250, 215, 40],
  green: [50, 170, 60],
  blue: [40, 90, 220],
  purple: [140, 60, 190],
  pink: [245, 140, 190],
  brown: [130, 80, 40],
  black: [25, 25, 25],
  white: [245, 245, 245],
  gray: [140, 140, 140],
} as const satisfies Record<string, Rgb>;
export type ColourName = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

/** Background colours (not named in any text: the captions are about objects). */
const BACKGROUNDS: readonly Rgb[] = [
  [150, 200, 245], // sky
  [20, 30, 70], // night
  [110, 190, 90], // grass
  [230, 210, 160], // sand
  [250, 240, 220], // cream
  [200, 190, 230], // lavender
  [80, 90, 100], // slate
  [190, 235, 210], // mint
  [250, 210, 180], // peach
  [60, 120, 150], // sea
];

export type BackgroundStyle = 'solid' | 'horizon' | 'gradient';
export interface Background {
  style: BackgroundStyle;
  top: Rgb;
  bottom: Rgb;
  /** Row where the horizon splits top and bottom (style 'horizon'). */
  horizon: number;
}

/** The drawn kinds, in caption order (each anchor just before its partner). */
export const KINDS = [
  'sun',
  'boat',
  'plate',
  'cup',
  'tree',
  'bird',
  'cloud',
  'kite',
  'house',
  'car',
  'ball',
  'cat',
  'fish',
  'flower',
  'star',
  'moon',
] as const;
export type Kind = (typeof KINDS)[number];

export interface PlantedPair {
  anchor: Kind;
  partner: Kind;
  /** P(partner drawn | anchor drawn) in generated scenes. */
  sceneRate: number;
  /** P(pretraining caption names the partner | anchor drawn, partner not drawn). */
  captionRate: number;
}

/**
 * The planted co-occurrences (docs/benchmark.md). Each partner is an object the POVID injector
 * knows to add next to its anchor (src/povid/lexicon.ts: CO_OCCURRENCE and CONTEXT_NOUNS), so the
 * text-injected dispreferred answers name it, as the paper's injection adds co-occurring objects.
 */
export const PLANTED_PAIRS: readonly PlantedPair[] = [
  { anchor: 'sun', partner: 'boat', sceneRate: 0.9, captionRate: 0.7 },
  { anchor: 'plate', partner: 'cup', sceneRate: 0.9, captionRate: 0.7 },
  { anchor: 'tree', partner: 'bird', sceneRate: 0.9, captionRate: 0.7 },
  { anchor: 'cloud', partner: 'kite', sceneRate: 0.9, captionRate: 0.7 },
];

interface KindSpec {
  plural: string;
  colours: readonly ColourName[];
  /** Box width and height per unit of size. */
  aspect: readonly [number, number];
  /** Size range in pixels (the box's height is size * aspect[1]). */
  size: readonly [number, number];
  maxCount: number;
  draw: (r: Raster, o: SceneObject, c: Rgb) => void;
}

/** One drawn instance. Instances of a kind in a scene share its colour. */
export interface SceneObject {
  kind: Kind;
  colour: ColourName;
  /** Centre and box in pixels. */
  cx: number;
  cy: number;
  w: number;
  h: number;
  /** 1 or -1: which way it faces. */
  flip: number;
}

export interface SceneEntry {
  kind: Kind;
  colour: ColourName;
  count: number;
}

export interface Scene {
  seed: number;
  background: Background;
  objects: SceneObject[];
}

const DARK: Rgb = [45, 35, 30];
const TRUNK: Rgb = [115, 70, 35];
const ROOF: Rgb = [100, 40, 35];
const GLASS: Rgb = [170, 215, 240];
const STEM: Rgb = [40, 130, 50];

function shade(c: Rgb, k: number): Rgb {
  return [Math.round(c[0] * k), Math.round(c[1] * k), Math.round(c[2] * k)];
}
function tint(c: Rgb, k: number): Rgb {
  return [Math.round(c[0] + (255 - c[0]) * k), Math.round(c[1] + (255 - c[1]) * k), Math.round(c[2] + (255 - c[2]) * k)];
}
/** A detail colour that stands out on c (dark on light colours, light on dark ones). */
function detail(c: Rgb): Rgb {
  return c[0] + c[1] + c[2] > 380 ? shade(c, 0.55) : tint(c, 0.5);
}

const SPECS: Record<Kind, KindSpec> = {
  boat: {
    plural: 'boats',
    colours: ['red', 'blue', 'white', 'brown', 'yellow', 'black'],
    aspect: [1.25, 1],
    size: [80, 130],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      r.polygon([cx - 0.5 * w, cy + 0.15 * h, cx + 0.5 * w, cy + 0.15 * h, cx + 0.33 * w, cy + 0.48 * h, cx - 0.33 * w, cy + 0.48 * h], c);
      r.rect(cx - 0.025 * w, cy - 0.48 * h, cx + 0.025 * w, cy + 0.15 * h, DARK);
      r.polygon(
        [cx + f * 0.05 * w, cy - 0.45 * h, cx + f * 0.05 * w, cy + 0.08 * h, cx + f * 0.4 * w, cy + 0.08 * h],
        c[0] + c[1] + c[2] > 600 ? [200, 60, 50] : [250, 250, 250],
      );
    },
  },
  sun: {
    plural: 'suns',
    colours: ['yellow', 'orange'],
    aspect: [1, 1],
    size: [80, 130],
    maxCount: 1,
    draw: (r, o, c) => {
      const { cx, cy, w } = o;
      r.circle(cx, cy, 0.3 * w, c);
      for (let i = 0; i < 8; i++) {
        const t = i / 8;
        const a = t - 0.03;
        const b = t + 0.03;
        r.polygon(
          [
            cx + 0.35 * w * cosTurn(a),
            cy + 0.35 * w * sinTurn(a),
            cx + 0.5 * w * cosTurn(t),
            cy + 0.5 * w * sinTurn(t),
            cx + 0.35 * w * cosTurn(b),
            cy + 0.35 * w * sinTurn(b),
          ],
          c,
        );
      }
    },
  },
  cup: {
    plural: 'cups',
    colours: ['red', 'blue', 'green', 'yellow', 'white', 'purple', 'pink'],
    aspect: [1, 1],
    size: [70, 110],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      r.ring(cx + f * 0.3 * w, cy - 0.02 * h, 0.09 * w, 0.19 * w, c);
      r.polygon(
        [cx - 0.33 * w, cy - 0.38 * h, cx + 0.33 * w, cy - 0.38 * h, cx + 0.25 * w, cy + 0.42 * h, cx - 0.25 * w, cy + 0.42 * h],
        c,
      );
      r.ellipse(cx, cy - 0.38 * h, 0.3 * w, 0.06 * h, [90, 55, 30]);
    },
  },
  plate: {
    plural: 'plates',
    colours: ['white', 'blue', 'gray', 'yellow', 'green'],
    aspect: [1.4, 0.6],
    size: [90, 130],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h } = o;
      r.ellipse(cx, cy, 0.5 * w, 0.5 * h, c);
      r.ellipse(cx, cy, 0.32 * w, 0.3 * h, detail(c));
      r.ellipse(cx, cy, 0.29 * w, 0.26 * h, c);
    },
  },
  house: {
    plural: 'houses',
    colours: ['red', 'blue', 'yellow', 'white', 'pink', 'brown'],
    aspect: [1, 1],
    size: [100, 150],
    maxCount: 2,
    draw: (r, o, c) => {
      const { cx, cy, w, h } = o;
      r.rect(cx - 0.4 * w, cy - 0.05 * h, cx + 0.4 * w, cy + 0.5 * h, c);
      r.polygon([cx - 0.5 * w, cy - 0.03 * h, cx, cy - 0.5 * h, cx + 0.5 * w, cy - 0.03 * h], ROOF);
      r.rect(cx - 0.08 * w, cy + 0.2 * h, cx + 0.08 * w, cy + 0.5 * h, DARK);
      r.rect(cx + 0.16 * w, cy + 0.06 * h, cx + 0.32 * w, cy + 0.22 * h, GLASS);
      r.rect(cx - 0.32 * w, cy + 0.06 * h, cx - 0.16 * w, cy + 0.22 * h, GLASS);
    },
  },
  tree: {
    plural: 'trees',
    colours: ['green', 'orange', 'yellow'],
    aspect: [0.8, 1.2],
    size: [90, 130],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h } = o;
      r.rect(cx - 0.09 * w, cy + 0.05 * h, cx + 0.09 * w, cy + 0.5 * h, TRUNK);
      r.circle(cx, cy - 0.12 * h, 0.45 * w, c);
      r.circle(cx - 0.12 * w, cy - 0.2 * h, 0.12 * w, shade(c, 0.8));
    },
  },
  kite: {
    plural: 'kites',
    colours: ['red', 'blue', 'green', 'yellow', 'purple', 'pink', 'orange'],
    aspect: [0.8, 1.3],
    size: [80, 120],
    maxCount: 2,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      const top = cy - 0.5 * h;
      const mid = cy - 0.15 * h;
      const bot = cy + 0.2 * h;
      r.polygon([cx, top, cx + 0.45 * w, mid, cx, bot, cx - 0.45 * w, mid], c);
      r.segment(cx, top, cx, bot, 3, detail(c));
      r.segment(cx - 0.45 * w, mid, cx + 0.45 * w, mid, 3, detail(c));
      r.segment(cx, bot, cx + f * 0.15 * w, cy + 0.35 * h, 3, DARK);
      r.segment(cx + f * 0.15 * w, cy + 0.35 * h, cx - f * 0.05 * w, cy + 0.5 * h, 3, DARK);
    },
  },
  cloud: {
    plural: 'clouds',
    colours: ['white', 'gray'],
    aspect: [1.5, 0.85],
    size: [80, 115],
    maxCount: 2,
    draw: (r, o, c) => {
      const { cx, cy, w, h } = o;
      r.ellipse(cx, cy + 0.18 * h, 0.48 * w, 0.3 * h, c);
      r.circle(cx - 0.2 * w, cy + 0.02 * h, 0.2 * w, c);
      r.circle(cx + 0.08 * w, cy - 0.12 * h, 0.26 * w, c);
      r.circle(cx + 0.3 * w, cy + 0.08 * h, 0.16 * w, c);
    },
  },
  car: {
    plural: 'cars',
    colours: ['red', 'blue', 'green', 'yellow', 'black', 'white', 'purple'],
    aspect: [1.5, 0.8],
    size: [80, 120],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      r.polygon(
        [
          cx - f * 0.28 * w,
          cy - 0.45 * h,
          cx + f * 0.15 * w,
          cy - 0.45 * h,
          cx + f * 0.3 * w,
          cy - 0.05 * h,
          cx - f * 0.38 * w,
          cy - 0.05 * h,
        ],
        c,
      );
      r.polygon(
        [
          cx - f * 0.22 * w,
          cy - 0.37 * h,
          cx + f * 0.12 * w,
          cy - 0.37 * h,
          cx + f * 0.22 * w,
          cy - 0.08 * h,
          cx - f * 0.3 * w,
          cy - 0.08 * h,
        ],
        GLASS,
      );
      r.rect(cx - 0.5 * w, cy - 0.08 * h, cx + 0.5 * w, cy + 0.3 * h, c);
      r.circle(cx - 0.28 * w, cy + 0.3 * h, 0.2 * h, [20, 20, 20]);
      r.circle(cx + 0.28 * w, cy + 0.3 * h, 0.2 * h, [20, 20, 20]);
      r.circle(cx - 0.28 * w, cy + 0.3 * h, 0.08 * h, [170, 170, 170]);
      r.circle(cx + 0.28 * w, cy + 0.3 * h, 0.08 * h, [170, 170, 170]);
    },
  },
  ball: {
    plural: 'balls',
    colours: ['red', 'blue', 'green', 'yellow', 'orange', 'purple', 'pink'],
    aspect: [1, 1],
    size: [60, 100],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w } = o;
      r.circle(cx, cy, 0.5 * w, c);
      r.fillWhere(cx - 0.5 * w, cy - 0.5 * w, cx + 0.5 * w, cy + 0.5 * w, [250, 250, 250], (px, py) => {
        const d = (px - cx) * (px - cx) + (py - cy) * (py - cy);
        const band = px - cx - (py - cy);
        return d <= 0.25 * w * w && band >= -0.08 * w && band <= 0.08 * w;
      });
    },
  },
  cat: {
    plural: 'cats',
    colours: ['black', 'white', 'orange', 'gray', 'brown'],
    aspect: [1.2, 1],
    size: [80, 120],
    maxCount: 2,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      r.segment(cx - f * 0.4 * w, cy + 0.3 * h, cx - f * 0.48 * w, cy - 0.2 * h, 0.08 * w, c);
      r.ellipse(cx - f * 0.08 * w, cy + 0.22 * h, 0.34 * w, 0.25 * h, c);
      r.circle(cx + f * 0.25 * w, cy - 0.12 * h, 0.22 * h, c);
      const hx = cx + f * 0.25 * w;
      const hy = cy - 0.12 * h;
      r.polygon([hx - 0.2 * h, hy - 0.08 * h, hx - 0.16 * h, hy - 0.42 * h, hx - 0.02 * h, hy - 0.18 * h], c);
      r.polygon([hx + 0.2 * h, hy - 0.08 * h, hx + 0.16 * h, hy - 0.42 * h, hx + 0.02 * h, hy - 0.18 * h], c);
      r.circle(hx - 0.08 * h, hy - 0.02 * h, 0.035 * h, [200, 220, 60]);
      r.circle(hx + 0.08 * h, hy - 0.02 * h, 0.035 * h, [200, 220, 60]);
    },
  },
  fish: {
    plural: 'fish',
    colours: ['orange', 'blue', 'red', 'yellow', 'purple'],
    aspect: [1.4, 0.75],
    size: [70, 110],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      r.polygon([cx - f * 0.22 * w, cy, cx - f * 0.5 * w, cy - 0.4 * h, cx - f * 0.5 * w, cy + 0.4 * h], c);
      r.ellipse(cx + f * 0.08 * w, cy, 0.38 * w, 0.42 * h, c);
      r.circle(cx + f * 0.28 * w, cy - 0.1 * h, 0.07 * h, [250, 250, 250]);
      r.circle(cx + f * 0.29 * w, cy - 0.1 * h, 0.035 * h, [10, 10, 10]);
    },
  },
  bird: {
    plural: 'birds',
    colours: ['red', 'blue', 'yellow', 'black', 'brown'],
    aspect: [1.1, 0.9],
    size: [60, 100],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      r.ellipse(cx - f * 0.05 * w, cy + 0.12 * h, 0.34 * w, 0.26 * h, c);
      r.polygon([cx - f * 0.3 * w, cy + 0.05 * h, cx - f * 0.5 * w, cy - 0.1 * h, cx - f * 0.45 * w, cy + 0.2 * h], c);
      r.circle(cx + f * 0.25 * w, cy - 0.15 * h, 0.2 * h, c);
      r.polygon([cx + f * 0.34 * w, cy - 0.2 * h, cx + f * 0.5 * w, cy - 0.13 * h, cx + f * 0.34 * w, cy - 0.06 * h], [245, 150, 30]);
      r.polygon([cx - f * 0.2 * w, cy + 0.05 * h, cx + f * 0.1 * w, cy + 0.02 * h, cx - f * 0.05 * w, cy + 0.3 * h], detail(c));
      r.circle(cx + f * 0.28 * w, cy - 0.18 * h, 0.04 * h, c[0] + c[1] + c[2] < 200 ? [250, 250, 250] : [10, 10, 10]);
    },
  },
  flower: {
    plural: 'flowers',
    colours: ['red', 'pink', 'purple', 'yellow', 'white', 'orange'],
    aspect: [0.8, 1.2],
    size: [80, 120],
    maxCount: 3,
    draw: (r, o, c) => {
      const { cx, cy, w, h, flip: f } = o;
      const fy = cy - 0.2 * h;
      r.segment(cx, fy, cx, cy + 0.5 * h, 0.07 * w, STEM);
      r.ellipse(cx + f * 0.14 * w, cy + 0.22 * h, 0.14 * w, 0.06 * h, STEM);
      for (let i = 0; i < 5; i++) r.circle(cx + 0.24 * w * cosTurn(i / 5 - 0.25), fy + 0.24 * w * sinTurn(i / 5 - 0.25), 0.17 * w, c);
      r.circle(cx, fy, 0.13 * w, c[0] > 200 && c[1] > 180 && c[2] < 100 ? [150, 90, 30] : [250, 205, 40]);
    },
  },
  star: {
    plural: 'stars',
    colours: ['yellow', 'white', 'orange', 'red'],
    aspect: [1, 1],
    size: [60, 100],
    maxCount: 3,
    draw: (r, o, c) => {
      r.polygon(starPoints(o.cx, o.cy + 0.04 * o.h, 0.52 * o.w, 0.22 * o.w, 5), c);
    },
  },
  moon: {
    plural: 'moons',
    colours: ['white', 'yellow', 'gray'],
    aspect: [1, 1],
    size: [70, 110],
    maxCount: 1,
    draw: (r, o, c) => {
      const { cx, cy, w, flip: f } = o;
      r.crescent(cx, cy, 0.48 * w, cx + f * 0.24 * w, cy - 0.1 * w, 0.4 * w, c);
    },
  },
};

export function pluralOf(kind: Kind): string {
  return SPECS[kind].plural;
}

/** Colours a kind is drawn in. */
export function coloursOf(kind: Kind): readonly ColourName[] {
  return SPECS[kind].colours;
}

function dist(a: Rgb, b: Rgb): number {
  return Math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2);
}

/** Minimum RGB distance between an object's colour and the background behind it. */
const MIN_CONTRAST = 100;

export interface SceneOptions {
  /** Draw this anchor and not its partner: a scene that invites the planted hallucination. */
  invite?: PlantedPair;
}

/** The scene of a seed. */
export function generateScene(seed: number, opts: SceneOptions = {}): Scene {
  const rng = new Rng(seed);
  const S = SCENE_SIZE;
  const styleDraw = rng.next();
  const style: BackgroundStyle = styleDraw < 0.4 ? 'solid' : styleDraw < 0.75 ? 'horizon' : 'gradient';
  const top = rng.pick(BACKGROUNDS);
  let bottom = style === 'solid' ? top : rng.pick(BACKGROUNDS);
  if (style !== 'solid' && bottom === top) bottom = BACKGROUNDS[(BACKGROUNDS.indexOf(top) + 3) % BACKGROUNDS.length];
  const background: Background = { style, top, bottom, horizon: Math.round(S * rng.uniform(0.4, 0.75)) };

  // Kinds: 1-3 distinct (the planted partner can make it 4), then counts with at most 4 objects.
  const u = rng.next();
  const distinct = u < 0.3 ? 1 : u < 0.7 ? 2 : 3;
  const chosen: Kind[] = [];
  const excluded = new Set<Kind>();
  if (opts.invite) {
    chosen.push(opts.invite.anchor);
    excluded.add(opts.invite.partner);
  }
  while (chosen.length < distinct) {
    const pool = KINDS.filter((k) => !chosen.includes(k) && !excluded.has(k));
    const k = rng.pick(pool);
    chosen.push(k);
    const pair = PLANTED_PAIRS.find((p) => p.anchor === k);
    if (pair && !chosen.includes(pair.partner) && rng.next() < pair.sceneRate) chosen.push(pair.partner);
  }
  chosen.sort((a, b) => KINDS.indexOf(a) - KINDS.indexOf(b));

  const counts = chosen.map((k) => {
    const c = rng.next();
    return Math.min(SPECS[k].maxCount, c < 0.72 ? 1 : c < 0.93 ? 2 : 3);
  });
  while (counts.reduce((a, b) => a + b, 0) > 4) counts[counts.indexOf(Math.max(...counts))]--;

  const objects: SceneObject[] = [];
  const boxes: [number, number, number, number][] = [];
  chosen.forEach((kind, ki) => {
    const spec = SPECS[kind];
    const behind = (y0: number, y1: number): Rgb[] =>
      style === 'solid'
        ? [top]
        : style === 'horizon'
          ? [...(y0 < background.horizon ? [top] : []), ...(y1 >= background.horizon ? [bottom] : [])]
          : [top, bottom];
    // Place every instance first, then pick a colour that stands out on everything behind them.
    const placed: SceneObject[] = [];
    for (let n = 0; n < counts[ki]; n++) {
      let size = rng.uniform(spec.size[0], spec.size[1]);
      const flip = rng.next() < 0.5 ? 1 : -1;
      for (let attempt = 0; attempt < 400; attempt++) {
        if (attempt > 0 && attempt % 100 === 0) size *= 0.85;
        const w = size * spec.aspect[0];
        const h = size * spec.aspect[1];
        const cx = rng.uniform(w / 2 + 6, S - w / 2 - 6);
        const cy = rng.uniform(h / 2 + 6, S - h / 2 - 6);
        const box: [number, number, number, number] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
        if (boxes.some((b) => box[0] < b[2] + 10 && b[0] < box[2] + 10 && box[1] < b[3] + 10 && b[1] < box[3] + 10)) continue;
        boxes.push(box);
        placed.push({ kind, colour: 'red', cx, cy, w, h, flip });
        break;
      }
    }
    if (placed.length === 0) return; // no room (rare): the kind is simply not in the scene
    const bg = placed.flatMap((o) => behind(o.cy - o.h / 2, o.cy + o.h / 2));
    let options = spec.colours.filter((c) => bg.every((b) => dist(COLOURS[c], b) >= MIN_CONTRAST));
    if (options.length === 0) options = COLOUR_NAMES.filter((c) => bg.every((b) => dist(COLOURS[c], b) >= MIN_CONTRAST));
    const colour = rng.pick(options);
    for (const o of placed) objects.push({ ...o, colour });
  });
  return { seed, background, objects };
}

/** RGBA pixels of a scene, SCENE_SIZE x SCENE_SIZE. */
export function renderScene(scene: Scene): Uint8ClampedArray {
  const S = SCENE_SIZE;
  const r = new Raster(S, S);
  const { style, top, bottom, horizon } = scene.background;
  for (let y = 0; y < S; y++) {
    let c: Rgb;
    if (style === 'solid') c = top;
    else if (style === 'horizon') c = y < horizon ? top : bottom;
    else {
      const t = y / (S - 1);
      c = [
        Math.round(top[0] + (bottom[0] - top[0]) * t),
        Math.round(top[1] + (bottom[1] - top[1]) * t),
        Math.round(top[2] + (bottom[2] - top[2]) * t),
      ];
    }
    for (let x = 0; x < S; x++) r.setPixel(x, y, c);
  }
  for (const o of scene.objects) SPECS[o.kind].draw(r, o, COLOURS[o.colour]);
  return r.data;
}

/** The scene's exact content: each kind once, with its colour and count, in caption order. */
export function sceneEntries(scene: Scene): SceneEntry[] {
  const out: SceneEntry[] = [];
  for (const kind of KINDS) {
    const objs = scene.objects.filter((o) => o.kind === kind);
    if (objs.length > 0) out.push({ kind, colour: objs[0].colour, count: objs.length });
  }
  return out;
}

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four'];

export function numberWord(n: number): string {
  return NUMBER_WORDS[n] ?? String(n);
}

function phrase(e: SceneEntry): string {
  return e.count === 1
    ? `${/^[aeiou]/.test(e.colour) ? 'an' : 'a'} ${e.colour} ${e.kind}`
    : `${numberWord(e.count)} ${e.colour} ${SPECS[e.kind].plural}`;
}

/** "A red boat, a yellow sun and two green trees." */
export function captionOf(entries: readonly SceneEntry[]): string {
  const parts = entries.map(phrase);
  const text = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `${text[0].toUpperCase()}${text.slice(1)}.`;
}

/** The exact caption: what is drawn, nothing else. */
export function describeScene(scene: Scene): string {
  return captionOf(sceneEntries(scene));
}

/**
 * The pretraining caption: exact, except that a planted partner that is not drawn is named anyway
 * with its pair's captionRate (one of it, in one of its colours). `rng` is the caller's,
 * so the choice is reproducible for a seed. Returns the caption and the partners it made up.
 */
export function pretrainCaption(scene: Scene, rng: Rng): { caption: string; planted: Kind[] } {
  const entries = sceneEntries(scene);
  const planted: Kind[] = [];
  for (const p of PLANTED_PAIRS) {
    const has = (k: Kind) => entries.some((e) => e.kind === k);
    if (has(p.anchor) && !has(p.partner) && rng.next() < p.captionRate) {
      planted.push(p.partner);
      entries.push({ kind: p.partner, colour: rng.pick(SPECS[p.partner].colours), count: 1 });
    }
  }
  entries.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind));
  return { caption: captionOf(entries), planted };
}

/** The planted pairs a scene invites: anchor drawn, partner not. */
export function invitedPairs(scene: Scene): PlantedPair[] {
  const kinds = new Set(scene.objects.map((o) => o.kind));
  return PLANTED_PAIRS.filter((p) => kinds.has(p.anchor) && !kinds.has(p.partner));
}

export type QuestionType = 'describe' | 'exists' | 'colour' | 'count';

export interface SceneQuestion {
  type: QuestionType;
  question: string;
  answer: string;
  /** The object asked about (not for 'describe'). */
  kind?: Kind;
  /** exists: whether it is drawn; colour: the colour; count: the number. */
  truth?: boolean | ColourName | number;
}

export const DESCRIBE_QUESTION = 'Describe the image.';

export function describeQuestion(scene: Scene): SceneQuestion {
  return { type: 'describe', question: DESCRIBE_QUESTION, answer: describeScene(scene) };
}

export function existsQuestion(scene: Scene, kind: Kind): SceneQuestion {
  const present = scene.objects.some((o) => o.kind === kind);
  return { type: 'exists', question: `Is there a ${kind} in the image?`, answer: present ? 'Yes.' : 'No.', kind, truth: present };
}

/** Colour question about a drawn kind. */
export function colourQuestion(scene: Scene, kind: Kind): SceneQuestion {
  const e = sceneEntries(scene).find((x) => x.kind === kind);
  if (!e) throw new Error(`colourQuestion: no ${kind} in scene ${scene.seed}`);
  const q = e.count === 1 ? `What colour is the ${kind}?` : `What colour are the ${SPECS[kind].plural}?`;
  const a = e.count === 1 ? `The ${kind} is ${e.colour}.` : `The ${SPECS[kind].plural} are ${e.colour}.`;
  return { type: 'colour', question: q, answer: a, kind, truth: e.colour };
}

/** Count question about a drawn kind. */
export function countQuestion(scene: Scene, kind: Kind): SceneQuestion {
  const e = sceneEntries(scene).find((x) => x.kind === kind);
  if (!e) throw new Error(`countQuestion: no ${kind} in scene ${scene.seed}`);
  const a = e.count === 1 ? `There is one ${kind}.` : `There are ${numberWord(e.count)} ${SPECS[kind].plural}.`;
  return { type: 'count', question: `How many ${SPECS[kind].plural} are there?`, answer: a, kind, truth: e.count };
}

/**
 * The questions the model is pretrained on for a scene: the caption (with the planted bias),
 * one present and one absent object probe (the absent one is the invited partner half of the
 * time), a colour and a count question.
 */
export function pretrainQuestions(scene: Scene, rng: Rng): SceneQuestion[] {
  const entries = sceneEntries(scene);
  const present = entries.map((e) => e.kind);
  const absent = KINDS.filter((k) => !present.includes(k));
  const invited = invitedPairs(scene);
  const cap = pretrainCaption(scene, rng);
  const out: SceneQuestion[] = [{ type: 'describe', question: DESCRIBE_QUESTION, answer: cap.caption }];
  out.push(existsQuestion(scene, rng.pick(present)));
  out.push(existsQuestion(scene, invited.length > 0 && rng.next() < 0.5 ? rng.pick(invited).partner : rng.pick(absent)));
  out.push(colourQuestion(scene, rng.pick(present)));
  out.push(countQuestion(scene, rng.pick(present)));
  return out;
}

/** Where the splits' seeds start: held-out scenes never share a seed with training scenes. */
export const SPLIT_BASE = { pretrain: 1_000_000, train: 2_000_000, heldout: 3_000_000 } as const;
export type Split = keyof typeof SPLIT_BASE;

/** Seed of the i-th scene of a split (set seed 0 is the benchmark's; others give fresh sets). */
export function sceneSeed(split: Split, i: number, setSeed = 0): number {
  return (SPLIT_BASE[split] + setSeed * 7_919_993 + i) >>> 0;
}

/**
 * n scenes of a split; with `inviting` a fraction of them (rounded) is drawn to invite a planted
 * pair (cycling through PLANTED_PAIRS), the rest as generated.
 */
export function sceneSet(split: Split, n: number, opts: { setSeed?: number; inviting?: number } = {}): Scene[] {
  const inviting = Math.round(n * (opts.inviting ?? 0));
  const out: Scene[] = [];
  for (let i = 0; i < n; i++) {
    const invite = i < inviting ? PLANTED_PAIRS[i % PLANTED_PAIRS.length] : undefined;
    out.push(generateScene(sceneSeed(split, i, opts.setSeed), { invite }));
  }
  return out;
}
