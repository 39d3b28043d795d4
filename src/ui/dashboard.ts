// Training: start / pause / resume / cancel, the time a run will take (a timed probe in the
// Worker), a progress bar and a status line for the stage that runs now (progress.ts), live
// charts of the loss, the reward margins and the reward accuracy from the onStep and onEval
// streams, the example being trained, tokens per second, and an offer to resume from a saved
// checkpoint.
import * as Comlink from 'comlink';
import type { EvalMetrics, PovidWorkerApi, RunMetrics, StepMetrics, TrainConfig, TrainEstimate, TrainProgress } from '../worker/api';
import { LiveChart } from './chart';
import { debounce, errorMessage, formatDuration, h, plural } from './dom';
import { RunProgressModel, type RunView } from './progress';
import type { Toasts } from './toast';

type Api = Pick<PovidWorkerApi, 'train' | 'pause' | 'resume' | 'cancel' | 'checkpointInfo' | 'resumeRun' | 'estimate'>;
export type TrainState = 'idle' | 'training' | 'paused' | 'done' | 'cancelled' | 'error';

const ACCURACY_WINDOW = 10; // one example per step gives 0/1 accuracies; show a running mean

export interface DashboardHooks {
  /** The config to train with (throws when the settings are invalid). */
  config(): TrainConfig;
  /** Why training cannot start now, or null. */
  blocker(): string | null;
  /** A label for a record id (its image and question). */
  describe(id: string): string;
  onState(state: TrainState): void;
  /** Each step's metrics, after the dashboard drew them. */
  onStep?(m: StepMetrics): void;
}

export class Dashboard {
  readonly el: HTMLElement;
  state: TrainState = 'idle';
  private readonly start: HTMLButtonElement;
  private readonly pauseBtn: HTMLButtonElement;
  private readonly resumeBtn: HTMLButtonElement;
  private readonly cancelBtn: HTMLButtonElement;
  private readonly progress: HTMLProgressElement;
  private readonly progressText: HTMLElement;
  private readonly status: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly estimateText: HTMLElement;
  private readonly estimateBtn: HTMLButtonElement;
  private readonly example: HTMLElement;
  private readonly noiseAnswer: HTMLElement;
  private readonly stats: Record<'tps' | 'lr' | 'grad' | 'ms', HTMLElement>;
  private readonly result: HTMLElement;
  private readonly offer: HTMLElement;
  private readonly offerText: HTMLElement;
  readonly loss: LiveChart;
  readonly margins: LiveChart;
  readonly accuracy: LiveChart;
  private recentAccuracy: number[] = [];
  private latest: StepMetrics | null = null;
  private frame = 0;
  /** The run the resume offer continues, and why it cannot now (null: it can). */
  private offerRun: { id: string; blocker: string | null } | null = null;
  private readonly run = new RunProgressModel();
  private readonly listeners: ((v: RunView) => void)[] = [];
  private ticker: ReturnType<typeof setInterval> | undefined;
  private estimating = false;
  private estimated: TrainEstimate | null = null;
  private estimateAgain = false;
  /** Measures (first time) or recomputes the estimate a moment after the settings or data change. */
  readonly updateEstimate = debounce(() => void this.estimate(false), 400);

  constructor(
    private readonly api: Api,
    private readonly toasts: Toasts,
    private readonly hooks: DashboardHooks,
  ) {
    const button = (testid: string, text: string, cls = 'button') => h('button', { class: cls, testid, text, attrs: { type: 'button' } });
    this.start = button('train-start', 'Start training');
    this.pauseBtn = button('train-pause', 'Pause', 'button secondary');
    this.resumeBtn = button('train-resume', 'Resume', 'button secondary');
    this.cancelBtn = button('train-cancel', 'Cancel', 'button danger');
    this.start.addEventListener('click', () => void this.train());
    this.pauseBtn.addEventListener('click', () => void this.control('pause'));
    this.resumeBtn.addEventListener('click', () => void this.control('resume'));
    this.cancelBtn.addEventListener('click', () => void this.control('cancel'));
    this.estimateBtn = button('train-estimate-run', 'Measure again', 'button secondary small');
    this.estimateBtn.title = 'Time one training step on the first record again';
    this.estimateBtn.addEventListener('click', () => void this.estimate(true));
    this.estimateText = h('span', { testid: 'train-estimate', text: 'Load a model and add records to see how long training will take.' });

    this.progress = h('progress', { testid: 'train-progress', attrs: { max: 1, value: 0, 'aria-label': 'Training progress' } });
    this.progressText = h('span', { testid: 'train-progress-text', text: 'Not started' });
    this.status = h('p', { class: 'muted', testid: 'train-status', attrs: { 'aria-live': 'polite' } });
    this.notice = h('p', { class: 'muted', testid: 'train-notice', attrs: { 'aria-live': 'polite' } });
    this.example = h('span', { testid: 'train-example', text: '–' });
    this.noiseAnswer = h('span', { testid: 'train-noise-answer', text: '–' });
    const stat = (testid: string) => h('span', { testid, text: '–' });
    this.stats = { tps: stat('train-tps'), lr: stat('train-lr'), grad: stat('train-grad'), ms: stat('train-ms') };
    this.result = h('p', { class: 'train-result', testid: 'train-result' });

    const resumeOffer = button('resume-train', 'Resume from checkpoint');
    resumeOffer.addEventListener('click', () => {
      if (this.offerRun) void this.train(true, this.offerRun.id);
    });
    this.offerText = h('span');
    this.offer = h('div', { class: 'notice', testid: 'resume-offer' }, this.offerText, resumeOffer);
    this.offer.hidden = true;

    this.loss = new LiveChart('Loss', 'chart-loss', [
      { label: 'train', color: '#2563eb' },
      { label: 'held out', color: '#f59e0b', dash: [6, 4], points: true },
    ]);
    this.margins = new LiveChart('Reward margins (chosen − rejected)', 'chart-margins', [
      { label: 'vs. injected text', color: '#7c3aed' },
      { label: 'vs. noisy image', color: '#059669' },
      { label: 'held out, text', color: '#a78bfa', dash: [6, 4], points: true },
      { label: 'held out, noise', color: '#34d399', dash: [6, 4], points: true },
    ]);
    this.accuracy = new LiveChart(
      'Reward accuracy',
      'chart-accuracy',
      [
        { label: `train (mean of last ${ACCURACY_WINDOW})`, color: '#dc2626' },
        { label: 'held out', color: '#f59e0b', dash: [6, 4], points: true },
      ],
      [0, 1],
    );

    this.el = h(
      'div',
      { class: 'dashboard', testid: 'dashboard', attrs: { 'data-state': 'idle' } },
      this.offer,
      h('p', { class: 'estimate' }, this.estimateText, ' ', this.estimateBtn),
      h('div', { class: 'row' }, this.start, this.pauseBtn, this.resumeBtn, this.cancelBtn),
      h('div', { class: 'progress-row' }, this.progress, this.progressText),
      this.status,
      this.notice,
      h(
        'dl',
        { class: 'stats' },
        h('div', {}, h('dt', { text: 'Example' }), h('dd', {}, this.example)),
        h('div', {}, h('dt', { text: 'Noise-triggered answer (argmax)' }), h('dd', {}, this.noiseAnswer)),
        h('div', {}, h('dt', { text: 'Tokens / s' }), h('dd', {}, this.stats.tps)),
        h('div', {}, h('dt', { text: 'Learning rate' }), h('dd', {}, this.stats.lr)),
        h('div', {}, h('dt', { text: 'Gradient norm' }), h('dd', {}, this.stats.grad)),
        h('div', { class: 'wide' }, h('dt', { text: 'Time per step' }), h('dd', {}, this.stats.ms)),
      ),
      h('div', { class: 'charts' }, this.loss.el, this.margins.el, this.accuracy.el),
      this.result,
    );
    this.setState('idle', false);
    this.estimateBtn.hidden = true;
  }

  /** The run's view now and after every change (the status bar follows it). */
  subscribe(listener: (v: RunView) => void): void {
    this.listeners.push(listener);
    listener(this.run.view());
  }

  /** Pause and resume for controls outside the dashboard (the status bar). */
  pause(): Promise<void> {
    return this.control('pause');
  }

  resume(): Promise<void> {
    return this.control('resume');
  }

  /** Redraws the stage line, progress and listeners from the run model. */
  private render(): void {
    const v = this.run.view();
    this.status.textContent = v.phase;
    this.progressText.textContent = v.summary;
    if (v.fraction === null) {
      if (v.state === 'idle') this.progress.value = 0;
      else this.progress.removeAttribute('value');
    } else {
      this.progress.max = 1;
      this.progress.value = v.fraction;
    }
    this.el.dataset.phase = v.state;
    for (const l of this.listeners) l(v);
  }

  private busy(): boolean {
    return this.state === 'training' || this.state === 'paused';
  }

  /** The time a run with the current settings will take, from the Worker's probe. */
  private async estimate(remeasure: boolean): Promise<void> {
    if (this.busy()) return;
    if (this.estimating) {
      this.estimateAgain = true; // the data or settings changed while measuring
      return;
    }
    if (this.hooks.blocker() !== null) return;
    let config: TrainConfig;
    try {
      config = this.hooks.config();
    } catch {
      return; // invalid settings: the settings panel says why
    }
    this.estimating = true;
    this.estimateBtn.disabled = true;
    if (remeasure || !this.estimated) {
      this.estimateText.textContent = 'Timing one training step on the first record…';
      this.estimateText.dataset.state = 'measuring';
    }
    try {
      const e = await this.api.estimate(config, remeasure);
      this.estimated = e;
      this.showEstimate(e);
    } catch (err) {
      this.estimateText.textContent = `The time per step could not be measured: ${errorMessage(err)}`;
      this.estimateText.dataset.state = 'error';
    } finally {
      this.estimating = false;
      this.estimateBtn.hidden = false;
      this.estimateBtn.disabled = this.busy();
      if (this.estimateAgain) {
        this.estimateAgain = false;
        this.updateEstimate();
      }
    }
  }

  private showEstimate(e: TrainEstimate): void {
    const about = e.upperBound ? 'at most' : 'about';
    const per = e.secondsPerStep < 10 ? `${e.secondsPerStep.toFixed(1)} s` : formatDuration(e.secondsPerStep);
    const parts = [`${e.steps} step${e.steps === 1 ? '' : 's'} × ${about} ${per} = ${formatDuration(e.steps * e.secondsPerStep)}`];
    if (e.prepareSeconds > 0)
      parts.push(
        `${formatDuration(e.prepareSeconds)} to prepare ${e.imagesToEncode} image${e.imagesToEncode === 1 ? '' : 's'} and ${e.referencesToCompute} reference pass${e.referencesToCompute === 1 ? '' : 'es'}`,
      );
    if (e.evalSeconds > 0)
      parts.push(`${formatDuration(e.evalSeconds)} for ${e.evaluations} held-out evaluation${e.evaluations === 1 ? '' : 's'}`);
    this.estimateText.textContent = `Estimated time: ${formatDuration(e.totalSeconds)} in all (${parts.join(', plus ')}). Measured on the first record.`;
    this.estimateText.dataset.state = 'ready';
    this.estimateText.dataset.secondsPerStep = String(e.secondsPerStep);
    this.estimateText.dataset.totalSeconds = String(e.totalSeconds);
  }

  /** Enable or disable the start button from outside (model and data readiness). */
  refresh(): void {
    const busy = this.state === 'training' || this.state === 'paused';
    const blocker = this.hooks.blocker();
    this.start.disabled = busy || blocker !== null;
    this.start.title = blocker ?? '';
    const runBlocker = this.offerRun?.blocker ?? null;
    const offerButton = this.offer.querySelector('button');
    offerButton?.toggleAttribute('disabled', busy || blocker !== null || runBlocker !== null);
    if (offerButton) offerButton.title = blocker ?? (runBlocker ? `Cannot resume: ${runBlocker}` : '');
    this.estimateBtn.disabled = busy || blocker !== null || this.estimating;
    // An estimate as soon as a run could start, again when the data change (the probe itself runs once).
    if (!busy && blocker === null) this.updateEstimate();
    else if (!busy && this.estimated) {
      this.estimated = null;
      this.estimateText.textContent = `${blocker} Then the time a run takes is measured here.`;
      delete this.estimateText.dataset.state;
    }
  }

  /** Offer to resume when the Worker holds a checkpoint (after a reload). */
  async checkCheckpoint(): Promise<void> {
    try {
      const info = await this.api.checkpointInfo();
      this.offerRun = info?.runId ? { id: info.runId, blocker: info.blocker ?? null } : null;
      this.offer.hidden = !this.offerRun || this.state === 'training' || this.state === 'paused';
      if (info) {
        const when = new Date(info.savedAt);
        const why = info.blocker ? ` It cannot resume now: ${info.blocker}.` : '';
        this.offerText.textContent = `A run stopped at step ${info.step} of ${info.totalSteps}${Number.isNaN(when.getTime()) ? '' : ` (saved ${when.toLocaleString()})`}. Resume continues it with its own settings; Start training begins a new run beside it.${why}`;
      }
      this.refresh();
    } catch (e) {
      // A missing checkpoint store is not worth more than a console line.
      console.warn('checkpointInfo failed', e);
    }
  }

  private setState(s: TrainState, notify = true): void {
    this.state = s;
    this.el.dataset.state = s;
    const busy = s === 'training' || s === 'paused';
    this.pauseBtn.disabled = s !== 'training';
    this.resumeBtn.disabled = s !== 'paused';
    this.cancelBtn.disabled = !busy;
    if (busy) this.offer.hidden = true;
    this.refresh();
    if (notify) this.hooks.onState(s);
  }

  /** Continue a stored run (from the runs list). */
  resumeRun(runId: string): void {
    void this.train(true, runId);
  }

  /** Draws a stored run's metrics (after a reload), until a run starts. */
  showHistory(m: RunMetrics): void {
    if (this.state === 'training' || this.state === 'paused') return;
    for (const c of [this.loss, this.margins, this.accuracy]) c.clear();
    this.recentAccuracy = [];
    for (const s of m.history) this.step(s, false);
    for (const e of m.evals) this.evaluated(e);
    this.flush();
    // A stored run is not training: no ETA.
    const last = m.history[m.history.length - 1];
    if (last) this.progressText.textContent = `Step ${last.step} of ${last.totalSteps} of the last run (not training now)`;
  }

  private async train(fromCheckpoint = false, runId?: string): Promise<void> {
    if (this.state === 'training' || this.state === 'paused') return;
    let config: TrainConfig;
    try {
      const blocker = this.hooks.blocker();
      if (blocker) throw new Error(blocker);
      config = this.hooks.config();
    } catch (e) {
      this.toasts.error(e, 'Training cannot start');
      return;
    }
    for (const c of [this.loss, this.margins, this.accuracy]) c.clear();
    this.recentAccuracy = [];
    this.latest = null;
    this.result.textContent = '';
    this.notice.textContent = '';
    this.run.start(fromCheckpoint);
    this.setState('training');
    this.render();
    // Elapsed time and time left move between reports too.
    this.ticker = setInterval(() => this.render(), 1000);
    const onStep = (m: StepMetrics) => this.step(m);
    const onEval = (m: EvalMetrics) => this.evaluated(m);
    const onStatus = (s: string) => {
      this.notice.textContent = s;
    };
    const onProgress = (p: TrainProgress) => {
      this.run.progress(p);
      // The buttons follow what the Worker reports: Resume only once the run has paused.
      if (p.phase === 'paused' && this.state === 'training') this.setState('paused');
      this.render();
    };
    try {
      const res =
        fromCheckpoint && runId
          ? await this.api.resumeRun(
              runId,
              Comlink.proxy(onStep),
              Comlink.proxy(onEval),
              Comlink.proxy(onStatus),
              Comlink.proxy(onProgress),
            )
          : await this.api.train(config, Comlink.proxy(onStep), Comlink.proxy(onEval), Comlink.proxy(onStatus), Comlink.proxy(onProgress));
      this.flush();
      this.run.finished(res.stopped, res.steps);
      if (res.stopped === 'done') {
        this.result.textContent = `Done: ${res.steps} step${res.steps === 1 ? '' : 's'}. Compare the answers below, or download the adapter.`;
        this.setState('done');
        this.toasts.show(`Training finished after ${plural(res.steps, 'step')}.`, 'success');
      } else {
        this.result.textContent = `Cancelled after ${res.steps} step${res.steps === 1 ? '' : 's'}; the adapter keeps what it learned so far.`;
        this.setState('cancelled');
      }
    } catch (e) {
      this.flush();
      this.run.finished('error');
      this.result.textContent = 'Training stopped with an error.';
      this.setState('error');
      this.toasts.error(e, 'Training failed');
    } finally {
      clearInterval(this.ticker);
      this.ticker = undefined;
      this.render();
    }
    void this.checkCheckpoint();
  }

  private async control(what: 'pause' | 'resume' | 'cancel'): Promise<void> {
    try {
      if (what === 'pause') {
        if (this.state !== 'training') return;
        // "Pausing" until the Worker reports the pause (onProgress 'paused'), which it does between steps.
        this.pauseBtn.disabled = true;
        this.run.pauseRequested();
        this.render();
        await this.api.pause();
      } else if (what === 'resume') {
        this.run.resumeRequested();
        if (this.state === 'paused') this.setState('training');
        this.render();
        await this.api.resume();
      } else {
        this.cancelBtn.disabled = true;
        this.run.cancelRequested();
        this.render();
        await this.api.cancel();
      }
    } catch (e) {
      this.toasts.error(e, `Could not ${what}`);
    }
  }

  private step(m: StepMetrics, live = true): void {
    this.latest = m;
    if (live) this.run.step(m);
    this.loss.set(m.step, [m.loss, null]);
    this.margins.set(m.step, [m.marginText, m.marginNoise, null, null]);
    this.recentAccuracy.push(m.accuracy);
    if (this.recentAccuracy.length > ACCURACY_WINDOW) this.recentAccuracy.shift();
    const mean = this.recentAccuracy.reduce((a, b) => a + b, 0) / this.recentAccuracy.length;
    this.accuracy.set(m.step, [mean, null]);
    this.el.dataset.step = String(m.step);
    // Text updates once per frame, however fast steps arrive.
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    if (live) this.hooks.onStep?.(m);
  }

  private evaluated(m: EvalMetrics): void {
    this.loss.set(m.step, [null, m.loss]);
    this.margins.set(m.step, [null, null, m.marginText, m.marginNoise]);
    this.accuracy.set(m.step, [null, m.accuracy]);
  }

  private flush(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const m = this.latest;
    if (!m) return;
    this.render();
    this.example.textContent = this.hooks.describe(m.exampleId);
    this.noiseAnswer.textContent = m.noiseAnswer ?? '–';
    this.stats.tps.textContent = Number.isFinite(m.tokensPerSecond) ? m.tokensPerSecond.toFixed(1) : '–';
    this.stats.lr.textContent = m.learningRate.toExponential(2);
    this.stats.grad.textContent = Number.isFinite(m.gradNorm) ? m.gradNorm.toFixed(3) : '–';
    const ms = m.ms;
    this.stats.ms.textContent = `reference ${ms.reference.toFixed(0)} ms · noisy ${ms.noisy.toFixed(0)} ms · forward ${ms.forward.toFixed(0)} ms · backward ${ms.backward.toFixed(0)} ms · optimizer ${ms.optimizer.toFixed(0)} ms`;
  }
}
