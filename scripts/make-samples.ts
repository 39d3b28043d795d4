// Writes the demo's sample data to public/samples/ (or the folder given as the first argument):
// eight 256x256 PNG scenes drawn here from primitives, qa.jsonl with one question and an accurate
// answer per image, and index.json listing the files for the page's "Load sample data" button.
// Deterministic: no randomness, and zlib's output is fixed for a fixed input and level.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';

const SIZE = 256;
const SUPERSAMPLE = 4; // 4x4 samples per pixel: smooth edges without a real rasteriser

type Rgb = readonly [number, number, number];
/** Inside test in pixel coordinates (x right, y down). */
type Shape = { inside(x: number, y: number): boolean; box: [number, number, number, number] };

// ---------------------------------------------------------------- PNG encoder

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  // The CRC covers the type and the data, not the length.
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** 8-bit RGB, no interlace, filter 0 on every row (simple and plenty small for flat scenes). */
function encodePng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  if (rgb.length !== width * height * 3) throw new Error(`encodePng: expected ${width * height * 3} bytes, got ${rgb.length}`);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), deflate, filter set 0, no interlace
  const raw = new Uint8Array(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + width * 3)] = 0;
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1);
  }
  const idat = deflateSync(raw, { level: 9 });
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', idat),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------- drawing primitives

class Canvas {
  readonly px = new Float32Array(SIZE * SIZE * 3);

  /** Vertical gradient from `top` to `bottom` over rows y0..y1. */
  gradient(top: Rgb, bottom: Rgb, y0 = 0, y1 = SIZE): void {
    for (let y = y0; y < y1; y++) {
      const t = (y - y0) / Math.max(1, y1 - y0 - 1);
      for (let x = 0; x < SIZE; x++) for (let c = 0; c < 3; c++) this.px[(y * SIZE + x) * 3 + c] = top[c] + (bottom[c] - top[c]) * t;
    }
  }

  fill(shape: Shape, color: Rgb, alpha = 1): void {
    const [x0, y0, x1, y1] = shape.box;
    const n = SUPERSAMPLE;
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(SIZE, Math.ceil(y1)); y++) {
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(SIZE, Math.ceil(x1)); x++) {
        let hits = 0;
        for (let sy = 0; sy < n; sy++) for (let sx = 0; sx < n; sx++) if (shape.inside(x + (sx + 0.5) / n, y + (sy + 0.5) / n)) hits++;
        if (hits === 0) continue;
        const a = (alpha * hits) / (n * n);
        const i = (y * SIZE + x) * 3;
        for (let c = 0; c < 3; c++) this.px[i + c] = this.px[i + c] * (1 - a) + color[c] * a;
      }
    }
  }

  toPng(): Uint8Array {
    const rgb = new Uint8Array(SIZE * SIZE * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.max(0, Math.min(255, Math.round(this.px[i])));
    return encodePng(SIZE, SIZE, rgb);
  }
}

const rect = (x: number, y: number, w: number, h: number): Shape => ({
  inside: (px, py) => px >= x && px < x + w && py >= y && py < y + h,
  box: [x, y, x + w, y + h],
});

const ellipse = (cx: number, cy: number, rx: number, ry: number): Shape => ({
  inside: (px, py) => ((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2 <= 1,
  box: [cx - rx, cy - ry, cx + rx, cy + ry],
});

const circle = (cx: number, cy: number, r: number): Shape => ellipse(cx, cy, r, r);

/** Even-odd point-in-polygon. */
const polygon = (pts: [number, number][]): Shape => ({
  inside: (px, py) => {
    let inside = false;
    for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
      const [xi, yi] = pts[i];
      const [xj, yj] = pts[j];
      if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  },
  box: [
    Math.min(...pts.map((p) => p[0])),
    Math.min(...pts.map((p) => p[1])),
    Math.max(...pts.map((p) => p[0])),
    Math.max(...pts.map((p) => p[1])),
  ],
});

const minus = (a: Shape, b: Shape): Shape => ({ inside: (x, y) => a.inside(x, y) && !b.inside(x, y), box: a.box });

/** A line segment of the given width (for strings, poles, rays). */
const segment = (x0: number, y0: number, x1: number, y1: number, width: number): Shape => {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  return {
    inside: (px, py) => {
      const t = Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / len2));
      return (px - x0 - t * dx) ** 2 + (py - y0 - t * dy) ** 2 <= (width / 2) ** 2;
    },
    box: [Math.min(x0, x1) - width, Math.min(y0, y1) - width, Math.max(x0, x1) + width, Math.max(y0, y1) + width],
  };
};

const star = (cx: number, cy: number, r: number): Shape => {
  const pts: [number, number][] = [];
  for (let i = 0; i < 10; i++) {
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    const rr = i % 2 === 0 ? r : r * 0.45;
    pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
  }
  return polygon(pts);
};

// ---------------------------------------------------------------- colours and scenes

const C = {
  white: [250, 250, 247],
  sky: [96, 165, 235],
  skyLight: [178, 215, 245],
  night: [14, 22, 58],
  nightLow: [34, 48, 96],
  yellow: [250, 205, 40],
  green: [70, 160, 70],
  darkGreen: [40, 110, 50],
  red: [210, 40, 40],
  brown: [125, 80, 45],
  darkBrown: [85, 52, 30],
  orange: [245, 140, 25],
  blue: [40, 90, 200],
  purple: [130, 60, 170],
  grey: [70, 70, 75],
  black: [18, 18, 22],
  water: [30, 100, 170],
  cream: [236, 226, 205],
} satisfies Record<string, Rgb>;

const dim = (c: Rgb, k = 0.3): Rgb => [c[0] * k, c[1] * k, c[2] * k];

interface Sample {
  file: string;
  question: string;
  answer: string;
  draw(g: Canvas): void;
}

const SAMPLES: Sample[] = [
  {
    file: 'sunny-hill.png',
    question: 'Describe the image.',
    answer: 'A yellow sun shines in a clear blue sky above a green hill. A small red house with a brown door stands on the hill.',
    draw(g) {
      g.gradient(C.sky, C.skyLight);
      g.fill(circle(60, 58, 28), C.yellow);
      g.fill(ellipse(128, 270, 200, 110), C.green);
      g.fill(rect(150, 138, 56, 40), C.red);
      g.fill(
        polygon([
          [144, 140],
          [178, 110],
          [212, 140],
        ]),
        C.darkBrown,
      );
      g.fill(rect(170, 154, 16, 24), C.brown);
    },
  },
  {
    file: 'night-moon.png',
    question: 'Is it day or night in this picture?',
    answer: 'It is night. A white crescent moon and five small stars shine in a dark blue sky above black hills.',
    draw(g) {
      g.gradient(C.night, C.nightLow);
      g.fill(minus(circle(180, 70, 34), circle(196, 60, 30)), C.white);
      for (const [x, y] of [
        [40, 40],
        [90, 80],
        [130, 30],
        [60, 130],
        [220, 140],
      ] as const)
        g.fill(star(x, y, 7), C.white);
      g.fill(ellipse(70, 260, 150, 80), C.black);
      g.fill(ellipse(210, 270, 130, 90), C.black);
    },
  },
  {
    file: 'fruit-table.png',
    question: 'What fruit is on the table?',
    answer: 'Three oranges and one red apple are on a brown wooden table.',
    draw(g) {
      g.gradient(C.cream, C.cream, 0, 150);
      g.fill(rect(0, 150, 256, 106), C.brown);
      g.fill(rect(0, 150, 256, 6), C.darkBrown);
      for (const x of [52, 104, 156]) g.fill(circle(x, 146, 22), C.orange);
      g.fill(circle(206, 146, 21), C.red);
      g.fill(segment(206, 126, 210, 114, 3), C.darkBrown);
    },
  },
  {
    file: 'shapes.png',
    question: 'What shapes are in the picture?',
    answer:
      'There are three shapes on a white background: a red circle on the left, a blue square in the middle and a green triangle on the right.',
    draw(g) {
      g.gradient(C.white, C.white);
      g.fill(circle(45, 128, 32), C.red);
      g.fill(rect(98, 98, 60, 60), C.blue);
      g.fill(
        polygon([
          [178, 160],
          [212, 96],
          [246, 160],
        ]),
        C.green,
      );
    },
  },
  {
    file: 'mug-plate.png',
    question: 'What is on the table?',
    answer: 'A blue mug stands to the left of an empty white plate on a brown table.',
    draw(g) {
      g.gradient(C.skyLight, C.cream, 0, 140);
      g.fill(rect(0, 140, 256, 116), C.brown);
      g.fill(rect(40, 110, 52, 66), C.blue);
      g.fill(minus(ellipse(98, 142, 18, 20), ellipse(98, 142, 9, 11)), C.blue);
      g.fill(ellipse(170, 178, 62, 20), C.white);
      g.fill(ellipse(170, 178, 40, 12), [232, 232, 228]);
    },
  },
  {
    file: 'traffic-light.png',
    question: 'Which light of the traffic light is on?',
    answer: 'The red light at the top is on. The yellow and green lights below it are off.',
    draw(g) {
      g.gradient(C.skyLight, C.white);
      g.fill(rect(122, 180, 12, 76), C.grey);
      g.fill(rect(96, 30, 64, 160), C.black);
      g.fill(circle(128, 65, 20), C.red);
      g.fill(circle(128, 110, 20), dim(C.yellow));
      g.fill(circle(128, 155, 20), dim(C.green));
    },
  },
  {
    file: 'sailboat.png',
    question: 'Describe the boat.',
    answer: 'A small boat with a red hull and one white triangular sail floats on blue water under a light blue sky.',
    draw(g) {
      g.gradient(C.skyLight, C.sky, 0, 160);
      g.gradient(C.water, dim(C.water, 0.7), 160, 256);
      g.fill(
        polygon([
          [70, 170],
          [190, 170],
          [170, 200],
          [90, 200],
        ]),
        C.red,
      );
      g.fill(rect(127, 60, 5, 112), C.darkBrown);
      g.fill(
        polygon([
          [134, 64],
          [134, 164],
          [196, 164],
        ]),
        C.white,
      );
    },
  },
  {
    file: 'balloons.png',
    question: 'How many balloons are there, and what colours are they?',
    answer: 'There are four balloons: a red one, a yellow one, a green one and a purple one, each on a thin string.',
    draw(g) {
      g.gradient(C.skyLight, C.white);
      const balloons: [number, number, Rgb][] = [
        [50, 80, C.red],
        [105, 60, C.yellow],
        [155, 85, C.green],
        [208, 65, C.purple],
      ];
      for (const [x, y] of balloons) g.fill(segment(x, y + 30, 128, 230, 1.5), C.grey);
      for (const [x, y, color] of balloons) g.fill(ellipse(x, y, 24, 30), color);
    },
  },
];

// ---------------------------------------------------------------- output

function writeSamples(outDir: string): { file: string; bytes: number }[] {
  mkdirSync(outDir, { recursive: true });
  const written: { file: string; bytes: number }[] = [];
  const put = (file: string, data: Uint8Array | string) => {
    writeFileSync(join(outDir, file), data);
    written.push({ file, bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.length });
  };
  for (const s of SAMPLES) {
    const g = new Canvas();
    s.draw(g);
    put(s.file, g.toPng());
  }
  put('qa.jsonl', SAMPLES.map((s) => JSON.stringify({ image: s.file, question: s.question, answer: s.answer })).join('\n') + '\n');
  put('index.json', JSON.stringify({ files: [...SAMPLES.map((s) => s.file), 'qa.jsonl'] }, null, 2) + '\n');
  return written;
}

const outDir = resolve(process.argv[2] ?? 'public/samples');
const written = writeSamples(outDir);
for (const w of written) console.log(`${w.file.padEnd(20)} ${String(w.bytes).padStart(8)} bytes`);
console.log(`samples written to ${outDir}`);
