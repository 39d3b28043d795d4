// A tiny deterministic rasteriser for the benchmark scenes: filled circles, ellipses, rectangles,
// polygons and crescents into an RGBA Uint8ClampedArray, one sample per pixel centre. No canvas
// and no fonts, and only +, -, *, / and comparisons on doubles (IEEE-exact everywhere), so Node
// and every browser produce the same bytes. Angles go through cosTurn / sinTurn below instead of
// Math.cos / Math.sin, whose last bits are not specified and differ between engines.

export type Rgb = readonly [number, number, number];

export class Raster {
  readonly data: Uint8ClampedArray;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8ClampedArray(width * height * 4);
  }

  setPixel(x: number, y: number, c: Rgb): void {
    const i = (y * this.width + x) * 4;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
    this.data[i + 3] = 255;
  }

  fillAll(c: Rgb): void {
    for (let y = 0; y < this.height; y++) for (let x = 0; x < this.width; x++) this.setPixel(x, y, c);
  }

  /** Paints every pixel whose centre is inside, within the box [x0, x1) x [y0, y1) (clipped). */
  fillWhere(x0: number, y0: number, x1: number, y1: number, c: Rgb, inside: (px: number, py: number) => boolean): void {
    const xa = Math.max(0, Math.floor(x0));
    const ya = Math.max(0, Math.floor(y0));
    const xb = Math.min(this.width, Math.ceil(x1));
    const yb = Math.min(this.height, Math.ceil(y1));
    for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) if (inside(x + 0.5, y + 0.5)) this.setPixel(x, y, c);
  }

  rect(x0: number, y0: number, x1: number, y1: number, c: Rgb): void {
    this.fillWhere(x0, y0, x1, y1, c, (px, py) => px >= x0 && px < x1 && py >= y0 && py < y1);
  }

  ellipse(cx: number, cy: number, rx: number, ry: number, c: Rgb): void {
    this.fillWhere(cx - rx, cy - ry, cx + rx, cy + ry, c, (px, py) => {
      const dx = (px - cx) / rx;
      const dy = (py - cy) / ry;
      return dx * dx + dy * dy <= 1;
    });
  }

  circle(cx: number, cy: number, r: number, c: Rgb): void {
    this.ellipse(cx, cy, r, r, c);
  }

  /** Inside the circle (cx, cy, r) and outside the circle (ox, oy, or). */
  crescent(cx: number, cy: number, r: number, ox: number, oy: number, or: number, c: Rgb): void {
    this.fillWhere(cx - r, cy - r, cx + r, cy + r, c, (px, py) => {
      const d1 = (px - cx) * (px - cx) + (py - cy) * (py - cy);
      const d2 = (px - ox) * (px - ox) + (py - oy) * (py - oy);
      return d1 <= r * r && d2 > or * or;
    });
  }

  /** Ring between radii r0 < r1. */
  ring(cx: number, cy: number, r0: number, r1: number, c: Rgb): void {
    this.fillWhere(cx - r1, cy - r1, cx + r1, cy + r1, c, (px, py) => {
      const d = (px - cx) * (px - cx) + (py - cy) * (py - cy);
      return d <= r1 * r1 && d >= r0 * r0;
    });
  }

  /** Even-odd polygon fill; points as [x0, y0, x1, y1, ...]. */
  polygon(pts: readonly number[], c: Rgb): void {
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (let i = 0; i < pts.length; i += 2) {
      x0 = Math.min(x0, pts[i]);
      x1 = Math.max(x1, pts[i]);
      y0 = Math.min(y0, pts[i + 1]);
      y1 = Math.max(y1, pts[i + 1]);
    }
    const n = pts.length / 2;
    this.fillWhere(x0, y0, x1, y1, c, (px, py) => {
      let inside = false;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const xi = pts[2 * i];
        const yi = pts[2 * i + 1];
        const xj = pts[2 * j];
        const yj = pts[2 * j + 1];
        if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
      }
      return inside;
    });
  }

  /** A thick straight segment (a rotated rectangle). */
  segment(xa: number, ya: number, xb: number, yb: number, width: number, c: Rgb): void {
    const dx = xb - xa;
    const dy = yb - ya;
    const len = Math.sqrt(dx * dx + dy * dy); // sqrt is correctly rounded in IEEE 754
    if (len === 0) return;
    const nx = (-dy / len) * (width / 2);
    const ny = (dx / len) * (width / 2);
    this.polygon([xa + nx, ya + ny, xb + nx, yb + ny, xb - nx, yb - ny, xa - nx, ya - ny], c);
  }
}

/** cos(2 pi t) by range reduction and a Taylor series: the same bits in every JavaScript engine. */
export function cosTurn(t: number): number {
  let u = t - Math.floor(t); // [0, 1)
  if (u > 0.5) u -= 1; // [-0.5, 0.5]
  const x = 2 * Math.PI * u;
  const x2 = x * x;
  let term = 1;
  let sum = 1;
  for (let k = 1; k <= 14; k++) {
    term *= -x2 / ((2 * k - 1) * (2 * k));
    sum += term;
  }
  return sum;
}

export function sinTurn(t: number): number {
  return cosTurn(t - 0.25);
}

/** Points of a regular star / polygon: `n` outer points at radius r, inner radius ri (ri = r: polygon). */
export function starPoints(cx: number, cy: number, r: number, ri: number, n: number, turn0 = -0.25): number[] {
  const pts: number[] = [];
  const k = ri === r ? n : 2 * n;
  for (let i = 0; i < k; i++) {
    const rad = ri === r || i % 2 === 0 ? r : ri;
    const t = turn0 + i / k;
    pts.push(cx + rad * cosTurn(t), cy + rad * sinTurn(t));
  }
  return pts;
}
