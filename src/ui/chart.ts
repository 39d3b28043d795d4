// A live line chart over training steps (uPlot). Points arrive one step at a time; redraws are
// batched to one per animation frame, and the chart follows its container's width.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';

export interface SeriesDef {
  label: string;
  color: string;
  dash?: number[];
  points?: boolean;
}

/** Tick labels with as many decimals as the tick spacing needs (losses move in the 4th decimal). */
export function tickLabels(splits: number[]): string[] {
  const inc = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : Math.abs(splits[0] ?? 1) || 1;
  const decimals = Math.min(8, Math.max(0, Math.ceil(-Math.log10(inc) - 1e-9)));
  return splits.map((v) => v.toFixed(decimals));
}

/** Steps are whole numbers: ticks only at these spacings, labels without decimals. */
export const STEP_INCREMENTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

export function stepLabels(splits: number[]): string[] {
  return splits.map((v) => (Number.isInteger(v) ? String(v) : ''));
}

/** The x range: one step alone gets a step of room on each side instead of a zero-width axis. */
export function stepRange(min: number | null, max: number | null): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  return min === max ? [Math.max(0, min - 1), max + 1] : [min, max];
}

/** A line needs two values; a series with fewer is drawn as points so a single step shows. */
export function needsPoints(values: readonly (number | null | undefined)[]): boolean {
  let n = 0;
  for (const v of values) if (v !== null && v !== undefined && Number.isFinite(v) && ++n >= 2) return false;
  return true;
}

export class LiveChart {
  readonly el: HTMLElement;
  private readonly plotBox: HTMLElement;
  private readonly xs: number[] = [];
  private readonly ys: (number | null)[][];
  private plot: uPlot | null = null;
  private frame = 0;
  private readonly resize: ResizeObserver | null;

  constructor(
    title: string,
    testid: string,
    private readonly series: SeriesDef[],
    private readonly yRange?: [number, number],
  ) {
    this.ys = series.map(() => []);
    this.plotBox = h('div', { class: 'chart-plot' });
    this.el = h('figure', { class: 'chart', testid, attrs: { 'data-points': 0 } }, h('figcaption', { text: title }), this.plotBox);
    this.resize =
      typeof ResizeObserver === 'function'
        ? new ResizeObserver(() => {
            if (this.plot) this.plot.setSize(this.size());
            else this.schedule();
          })
        : null;
    this.resize?.observe(this.plotBox);
  }

  /** Number of steps plotted so far. */
  get points(): number {
    return this.xs.length;
  }

  /** Set the values of one step (null leaves a series untouched at that step). */
  set(step: number, values: (number | null | undefined)[]): void {
    let i = this.xs.length - 1;
    while (i >= 0 && this.xs[i] > step) i--;
    if (i < 0 || this.xs[i] !== step) {
      // A new step; usually at the end, in order.
      i++;
      this.xs.splice(i, 0, step);
      for (const y of this.ys) y.splice(i, 0, null);
    }
    values.forEach((v, s) => {
      if (v !== null && v !== undefined && Number.isFinite(v) && s < this.ys.length) this.ys[s][i] = v;
    });
    this.el.dataset.points = String(this.xs.length);
    // The newest value of the first series, for tests and for people reading the DOM.
    const last = this.ys[0][this.xs.length - 1];
    if (last !== null && last !== undefined) this.el.dataset.last = String(last);
    this.schedule();
  }

  clear(): void {
    this.xs.length = 0;
    for (const y of this.ys) y.length = 0;
    this.el.dataset.points = '0';
    delete this.el.dataset.last;
    this.schedule();
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(240, Math.floor(this.plotBox.clientWidth || 360)), height: 200 };
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const data: uPlot.AlignedData = [this.xs, ...this.ys];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    if (!this.plotBox.isConnected) return;
    this.plot = new uPlot(
      {
        ...this.size(),
        scales: { x: { time: false, range: (_u, min, max) => stepRange(min, max) }, ...(this.yRange ? { y: { range: this.yRange } } : {}) },
        axes: [
          {
            label: 'step',
            stroke: 'currentColor',
            grid: { stroke: 'rgba(128,128,128,.15)' },
            incrs: STEP_INCREMENTS,
            values: (_u, splits) => stepLabels(splits),
          },
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.15)' }, values: (_u, splits) => tickLabels(splits), size: 56 },
        ],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        series: [
          { label: 'step' },
          ...this.series.map((s, i) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            dash: s.dash,
            spanGaps: true,
            points: { show: (u: uPlot) => (s.points ?? false) || needsPoints(u.data[i + 1] as (number | null)[]), size: 6, fill: s.color },
          })),
        ],
      },
      data,
      this.plotBox,
    );
  }

  destroy(): void {
    this.resize?.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.plot?.destroy();
    this.plot = null;
  }
}
