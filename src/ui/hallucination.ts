// Does the adapter hallucinate less? "Evaluate hallucination" scores the held-out records with the
// adapter off and on (estimates); "Try the built-in benchmark" loads the built-in model, trains
// it on generated scenes and scores held-out scenes before and after. Both run in the Worker;
// this panel shows their progress, a table and a chart of the metrics, and every answer with
// the objects it names that are not there marked (text nodes only).
import * as Comlink from 'comlink';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './hallucination.css';
import type { ModelSummary, PovidWorkerApi, TrainConfig } from '../worker/api';
import { BENCHMARK_DEFAULTS, type EvalProgress, type HallucinationReport, type SampleView } from '../worker/hallucination-api';
import { clear, formatDuration, h } from './dom';
import { formatChange, formatValue, pieces, progressText, rowsOf, scopeText, valueOf, type MetricRow } from './hallucination-format';
import type { Toasts } from './toast';

type Api = Pick<PovidWorkerApi, 'evaluateHallucination' | 'runBuiltinBenchmark' | 'cancelEvaluation'>;
export type EvalState = 'idle' | 'running' | 'done' | 'empty' | 'error' | 'cancelled';

export interface HallucinationHooks {
  /** The training settings (throws when they are invalid). */
  config(): TrainConfig;
  /** The benchmark loaded the built-in model. */
  onModel(s: ModelSummary): void;
  /** An evaluation holds the GPU (true) or has let it go (false). */
  onBusy(busy: boolean): void;
}

const COLOURS = { before: '#94a3b8', after: '#2563eb' };

export class HallucinationPanel {
  readonly el: HTMLElement;
  state: EvalState = 'idle';
  private readonly recordsBtn: HTMLButtonElement;
  private readonly benchBtn: HTMLButtonElement;
  private readonly cancelBtn: HTMLButtonElement;
  private readonly inputs: Record<
    'heldoutScenes' | 'trainScenes' | 'steps' | 'learningRate' | 'sftWeight' | 'maxNewTokens',
    HTMLInputElement
  >;
  private readonly progress: HTMLProgressElement;
  private readonly progressLine: HTMLElement;
  private readonly message: HTMLElement;
  private readonly report: HTMLElement;
  private plot: uPlot | null = null;
  private resize: ResizeObserver | null = null;
  private urls: string[] = [];
  private ready = { model: false, blocked: null as string | null };

  constructor(
    private readonly api: Api,
    private readonly toasts: Toasts,
    private readonly hooks: HallucinationHooks,
  ) {
    this.recordsBtn = h('button', { class: 'button', testid: 'eval-records', text: 'Evaluate hallucination', attrs: { type: 'button' } });
    this.benchBtn = h('button', {
      class: 'button',
      testid: 'eval-benchmark',
      text: 'Try the built-in benchmark',
      attrs: { type: 'button' },
    });
    this.cancelBtn = h('button', {
      class: 'button danger',
      testid: 'eval-cancel',
      text: 'Cancel',
      attrs: { type: 'button', disabled: true },
    });
    this.recordsBtn.addEventListener('click', () => void this.runRecords());
    this.benchBtn.addEventListener('click', () => void this.runBenchmark());
    this.cancelBtn.addEventListener('click', () => void this.api.cancelEvaluation());

    const num = (key: keyof typeof this.inputs, label: string, value: number, attrs: Record<string, number | string>) => {
      const input = h('input', { testid: `eval-${key}`, attrs: { type: 'number', value, ...attrs } });
      return { input, el: h('label', { class: 'inline' }, `${label} `, input) };
    };
    const held = num('heldoutScenes', 'Held-out scenes', BENCHMARK_DEFAULTS.heldoutScenes, { min: 1, max: 512, step: 1 });
    const train = num('trainScenes', 'Training scenes', BENCHMARK_DEFAULTS.trainScenes, { min: 1, max: 512, step: 1 });
    const steps = num('steps', 'Steps', BENCHMARK_DEFAULTS.steps, { min: 1, max: 10000, step: 1 });
    const lr = num('learningRate', 'Learning rate', BENCHMARK_DEFAULTS.learningRate, { min: 0, step: 'any' });
    const sft = num('sftWeight', 'SFT weight', BENCHMARK_DEFAULTS.sftWeight, { min: 0, max: 10, step: 'any' });
    const maxTokens = num('maxNewTokens', 'Max tokens', 64, { min: 1, max: 512, step: 1 });
    this.inputs = {
      heldoutScenes: held.input,
      trainScenes: train.input,
      steps: steps.input,
      learningRate: lr.input,
      sftWeight: sft.input,
      maxNewTokens: maxTokens.input,
    };

    this.progress = h('progress', { testid: 'eval-progress', attrs: { max: 1, value: 0, 'aria-label': 'Evaluation progress' } });
    this.progressLine = h('span', { class: 'muted', testid: 'eval-progress-text' });
    this.message = h('p', { class: 'notice', testid: 'eval-message', attrs: { role: 'status' } });
    this.message.hidden = true;
    this.report = h('div', { class: 'eval-report', testid: 'eval-report' });

    this.el = h(
      'div',
      { class: 'hallucination', testid: 'hallucination', attrs: { 'data-state': 'idle' } },
      h(
        'div',
        { class: 'stack' },
        h('p', {
          class: 'muted',
          text: 'Your held-out records, answered with the adapter off and on. The numbers are estimates: the only ground truth is what each preferred answer names.',
        }),
        h('div', { class: 'row' }, maxTokens.el, this.recordsBtn),
        h('p', {
          class: 'muted',
          text: 'Or see it work end to end: the built-in model, pretrained on generated scenes whose captions pair a sun with a boat (and a plate with a cup, a tree with a bird, a cloud with a kite) so that it names the partner when it is absent, trained with POVID on other scenes and scored on held-out ones. It replaces the loaded model and its adapter. The other settings come from step 3.',
        }),
        h('div', { class: 'row' }, held.el, train.el, steps.el, lr.el, sft.el, this.benchBtn),
      ),
      h('div', { class: 'progress-row' }, this.progress, this.progressLine, this.cancelBtn),
      this.message,
      this.report,
    );
    this.setReady(false, null);
  }

  /** Whether a model is loaded, and why GPU work cannot start now (training), or null. */
  setReady(model: boolean, blocked: string | null): void {
    this.ready = { model, blocked };
    const running = this.state === 'running';
    this.recordsBtn.disabled = running || !model || blocked !== null;
    this.recordsBtn.title = blocked ?? (model ? '' : 'Load a model first');
    this.benchBtn.disabled = running || blocked !== null;
    this.benchBtn.title = blocked ?? '';
  }

  private setState(s: EvalState): void {
    const was = this.state === 'running';
    this.state = s;
    this.el.dataset.state = s;
    this.cancelBtn.disabled = s !== 'running';
    this.setReady(this.ready.model, this.ready.blocked);
    if (was !== (s === 'running')) this.hooks.onBusy(s === 'running');
  }

  private onProgress(unit: 'records' | 'scenes') {
    return Comlink.proxy((p: EvalProgress) => {
      if (p.total > 0) {
        this.progress.max = p.total;
        this.progress.value = Math.min(p.done, p.total);
      } else this.progress.removeAttribute('value');
      this.progressLine.textContent = progressText(p, unit);
      this.el.dataset.phase = p.phase;
    });
  }

  private async run(what: string, unit: 'records' | 'scenes', call: () => Promise<HallucinationReport>): Promise<void> {
    if (this.state === 'running') return;
    this.message.hidden = true;
    this.progress.removeAttribute('value');
    this.progressLine.textContent = 'Starting…';
    this.setState('running');
    try {
      const report = await call();
      this.progress.max = 1;
      this.progress.value = 1;
      this.progressLine.textContent = `Done in ${formatDuration(report.seconds)}`;
      this.render(report);
      this.setState(report.before ? 'done' : 'empty');
    } catch (e) {
      const cancelled = e instanceof Error && /cancelled/i.test(e.message);
      this.progressLine.textContent = cancelled ? 'Cancelled' : 'Failed';
      this.setState(cancelled ? 'cancelled' : 'error');
      if (!cancelled) this.toasts.error(e, `${what} failed`);
    }
  }

  private async runRecords(): Promise<void> {
    let config: TrainConfig;
    try {
      config = this.hooks.config();
    } catch (e) {
      return void this.toasts.error(e, 'Fix the settings first');
    }
    const maxNewTokens = Math.max(1, Math.min(512, Math.round(Number(this.inputs.maxNewTokens.value) || 64)));
    await this.run('The evaluation', 'records', () =>
      this.api.evaluateHallucination(
        { seed: config.seed, heldoutFraction: config.heldoutFraction, maxNewTokens },
        this.onProgress('records'),
      ),
    );
  }

  private async runBenchmark(): Promise<void> {
    let config: TrainConfig;
    const int = (k: 'heldoutScenes' | 'trainScenes' | 'steps') => Number(this.inputs[k].value);
    try {
      config = {
        ...this.hooks.config(),
        warmupRatio: BENCHMARK_DEFAULTS.warmupRatio,
        learningRate: Number(this.inputs.learningRate.value),
        // An emptied or unparsable field reads as '' (which Number makes 0): an error, not DPO alone.
        sftWeight: this.inputs.sftWeight.value.trim() === '' ? NaN : Number(this.inputs.sftWeight.value),
      };
      if (!(config.learningRate > 0 && Number.isFinite(config.learningRate)))
        throw new Error(`the learning rate must be a positive number, got "${this.inputs.learningRate.value}"`);
      if (!(config.sftWeight >= 0 && Number.isFinite(config.sftWeight)))
        throw new Error(
          `the SFT weight must be 0 or more (0 is DPO alone); ${this.inputs.sftWeight.value.trim() === '' ? 'the field is empty' : `got "${this.inputs.sftWeight.value}"`}`,
        );
    } catch (e) {
      return void this.toasts.error(e, 'Fix the settings first');
    }
    const onModel = Comlink.proxy((s: ModelSummary) => this.hooks.onModel(s));
    await this.run('The benchmark', 'scenes', () =>
      this.api.runBuiltinBenchmark(
        { heldoutScenes: int('heldoutScenes'), trainScenes: int('trainScenes'), steps: int('steps'), config },
        this.onProgress('scenes'),
        onModel,
      ),
    );
  }

  private render(r: HallucinationReport): void {
    this.resize?.disconnect();
    this.resize = null;
    this.plot?.destroy();
    this.plot = null;
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
    clear(this.report);
    this.report.dataset.source = r.source;
    if (r.message) {
      this.message.textContent = r.before ? `Note: ${r.message}.` : `Nothing to evaluate: ${r.message}.`;
      this.message.hidden = false;
    }
    if (!r.before) return;
    const rows = rowsOf(r);
    const title = r.estimate ? `Estimates on your held-out records (${r.model})` : `Built-in benchmark (${r.model})`;
    const training = r.training
      ? `Training: ${r.training.steps} POVID steps (${r.training.lossMode}, learning rate ${r.training.learningRate}${r.training.sftWeight > 0 ? `, SFT weight ${r.training.sftWeight}` : ''}) on ${r.training.records} preference records from generated scenes, ${formatDuration(r.training.seconds)}.`
      : null;
    const chartBox = h('div', { class: 'chart-plot' });
    this.report.append(
      h('h3', { text: title }),
      h('p', { class: 'muted', testid: 'eval-scope', text: scopeText(r) }),
      ...(training ? [h('p', { class: 'muted', testid: 'eval-training', text: training })] : []),
      this.table(rows, r),
      h(
        'figure',
        { class: 'chart', testid: 'eval-chart', attrs: { 'data-bars': rows.length } },
        h('figcaption', { text: 'Adapter off and on (%)' }),
        chartBox,
      ),
      h('h3', { text: r.source === 'benchmark' ? 'Answers on the first held-out scenes' : 'Answers on the held-out records' }),
      h('p', { class: 'muted', text: 'Marked: objects the answer names that are not in the picture.' }),
      h('div', { class: 'eval-samples', testid: 'eval-samples' }, ...r.samples.map((s) => this.sample(s, r.source))),
    );
    this.chart(chartBox, rows, r);
  }

  private table(rows: MetricRow[], r: HallucinationReport): HTMLElement {
    const cell = (row: MetricRow, side: 'before' | 'after') => {
      const v = r[side]?.[row.key] ?? null;
      const x = valueOf(v);
      return h('td', {
        class: 'num',
        testid: `eval-${row.key}-${side}`,
        text: formatValue(v),
        attrs: { 'data-value': x === null ? '' : String(x) },
      });
    };
    return h(
      'table',
      { class: 'eval-table', testid: 'eval-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { text: 'Metric' }),
          h('th', { text: 'Adapter off' }),
          h('th', { text: 'Adapter on' }),
          h('th', { text: 'Change' }),
        ),
      ),
      h(
        'tbody',
        {},
        ...rows.map((row) => {
          const c = formatChange(r.before?.[row.key] ?? null, r.after?.[row.key] ?? null, row.better);
          return h(
            'tr',
            { attrs: { 'data-key': row.key } },
            h('th', { text: row.label, title: row.help, attrs: { scope: 'row' } }),
            cell(row, 'before'),
            cell(row, 'after'),
            h('td', { class: `num change ${c.tone}`, testid: `eval-${row.key}-change`, text: c.text }),
          );
        }),
      ),
    );
  }

  private chart(box: HTMLElement, rows: MetricRow[], r: HallucinationReport): void {
    if (typeof uPlot.paths.bars !== 'function') return;
    const xs = rows.map((_, i) => i);
    const ys = (side: 'before' | 'after') =>
      rows.map((row) => {
        const x = valueOf(r[side]?.[row.key] ?? null);
        return x === null ? null : 100 * x;
      });
    const bars = (align: -1 | 1) => uPlot.paths.bars!({ size: [0.38, 48], align });
    this.plot = new uPlot(
      {
        width: Math.max(320, Math.floor(box.clientWidth || 640)),
        height: 240,
        scales: { x: { time: false, range: [-0.6, rows.length - 0.4] }, y: { range: [0, 100] } },
        axes: [
          {
            stroke: 'currentColor',
            splits: () => xs,
            values: (_u, splits) => splits.map((v) => rows[v]?.short ?? ''),
            grid: { show: false },
          },
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.15)' }, values: (_u, splits) => splits.map((v) => `${v}%`) },
        ],
        legend: { live: false },
        cursor: { show: false },
        series: [
          { label: 'metric' },
          { label: 'adapter off', stroke: COLOURS.before, fill: COLOURS.before, paths: bars(-1), points: { show: false } },
          { label: 'adapter on', stroke: COLOURS.after, fill: COLOURS.after, paths: bars(1), points: { show: false } },
        ],
      },
      [xs, ys('before'), ys('after')],
      box,
    );
    // The chart follows its box's width (the page reflows on narrow screens).
    if (typeof ResizeObserver === 'function') {
      this.resize = new ResizeObserver(() => this.plot?.setSize({ width: Math.max(320, Math.floor(box.clientWidth || 640)), height: 240 }));
      this.resize.observe(box);
    }
  }

  private answer(label: string, a: SampleView['before'] | null, side: 'reference' | 'before' | 'after'): HTMLElement {
    const p = h('p', { class: 'answer', testid: `eval-answer-${side}` });
    if (!a) p.append(h('span', { class: 'muted', text: '–' }));
    else
      for (const piece of pieces(a.text, a.hallucinated))
        p.append(
          piece.mark
            ? h('mark', { class: 'hallucinated', testid: 'hallucinated', text: piece.text, title: `not in the picture: ${piece.mark}` })
            : piece.text,
        );
    return h('div', { class: 'eval-answer' }, h('span', { class: 'eval-answer-label', text: label }), p);
  }

  private sample(s: SampleView, source: HallucinationReport['source']): HTMLElement {
    let img: HTMLElement | null = null;
    if (s.image) {
      const url = URL.createObjectURL(s.image);
      this.urls.push(url);
      img = h('img', { class: 'eval-thumb', attrs: { src: url, alt: `picture of ${s.id}`, width: 96, height: 96 } });
    }
    return h(
      'article',
      { class: 'eval-sample', testid: 'eval-sample', attrs: { 'data-id': s.id } },
      img,
      h(
        'div',
        { class: 'stack grow' },
        h(
          'p',
          {},
          h('strong', { text: s.question }),
          ' ',
          h('span', { class: 'muted', text: `(${s.id}; there: ${s.truth.join(', ') || 'nothing known'})` }),
        ),
        this.answer(source === 'records' ? 'Preferred' : 'Exact', { text: s.reference, hallucinated: [] }, 'reference'),
        this.answer('Adapter off', s.before, 'before'),
        this.answer('Adapter on', s.after, 'after'),
      ),
    );
  }
}
