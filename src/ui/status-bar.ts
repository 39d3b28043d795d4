// A bar that stays at the top of the window however far the page is scrolled: links to each
// section, and the run's state (stage, step, ETA, latest loss) with pause / resume. It renders
// the dashboard's run view and calls the dashboard's own controls.
import { formatDuration, h } from './dom';
import type { RunView } from './progress';

export interface StatusBarControls {
  subscribe(listener: (v: RunView) => void): void;
  pause(): Promise<void>;
  resume(): Promise<void>;
}

const STATE_WORDS: Record<RunView['state'], string> = {
  idle: 'Not training',
  preparing: 'Preparing',
  training: 'Training',
  pausing: 'Pausing after this step…',
  paused: 'Paused',
  cancelling: 'Cancelling…',
  done: 'Done',
  cancelled: 'Cancelled',
  error: 'Stopped by an error',
};

export class StatusBar {
  readonly el: HTMLElement;
  private readonly state: HTMLElement;
  private readonly step: HTMLElement;
  private readonly eta: HTMLElement;
  private readonly loss: HTMLElement;
  private readonly meter: HTMLProgressElement;
  private readonly pauseBtn: HTMLButtonElement;
  private readonly resumeBtn: HTMLButtonElement;

  constructor(controls: StatusBarControls, sections: { id: string; title: string }[]) {
    const nav = h(
      'nav',
      { class: 'status-nav', attrs: { 'aria-label': 'Sections' } },
      ...sections.map((s, i) =>
        h(
          'a',
          { testid: `status-link-${s.id}`, attrs: { href: `#${s.id}` } },
          h('span', { class: 'status-no', text: String(i + 1) }),
          ` ${s.title}`,
        ),
      ),
    );
    this.state = h('strong', { testid: 'status-state' });
    this.step = h('span', { testid: 'status-step' });
    this.eta = h('span', { testid: 'status-eta' });
    this.loss = h('span', { testid: 'status-loss' });
    this.meter = h('progress', { testid: 'status-progress', attrs: { max: 1, value: 0, 'aria-label': 'Training progress' } });
    this.pauseBtn = h('button', { class: 'button secondary small', testid: 'status-pause', text: 'Pause', attrs: { type: 'button' } });
    this.resumeBtn = h('button', { class: 'button secondary small', testid: 'status-resume', text: 'Resume', attrs: { type: 'button' } });
    this.pauseBtn.addEventListener('click', () => void controls.pause());
    this.resumeBtn.addEventListener('click', () => void controls.resume());
    this.el = h(
      'div',
      { class: 'status-bar', testid: 'status-bar', attrs: { role: 'region', 'aria-label': 'Training status' } },
      nav,
      h(
        'div',
        { class: 'status-run', attrs: { 'aria-live': 'polite' } },
        this.state,
        this.step,
        this.meter,
        this.eta,
        this.loss,
        this.pauseBtn,
        this.resumeBtn,
      ),
    );
    controls.subscribe((v) => this.render(v));
  }

  private render(v: RunView): void {
    this.el.dataset.state = v.state;
    this.state.textContent = STATE_WORDS[v.state];
    this.step.textContent = v.step !== null && v.totalSteps !== null ? `Step ${v.step} of ${v.totalSteps}` : 'Step –';
    this.eta.textContent =
      v.etaSeconds === null
        ? 'ETA –'
        : v.etaOf === 'stage'
          ? `${formatDuration(v.etaSeconds)} left to prepare`
          : `ETA ${formatDuration(v.etaSeconds)}`;
    this.loss.textContent = v.loss === null ? 'Loss –' : `Loss ${v.loss.toFixed(4)}`;
    if (v.fraction === null) {
      if (v.state === 'idle') this.meter.value = 0;
      else this.meter.removeAttribute('value');
    } else this.meter.value = v.fraction;
    const running = v.state === 'preparing' || v.state === 'training';
    this.pauseBtn.hidden = v.state === 'paused';
    this.pauseBtn.disabled = !running;
    this.resumeBtn.hidden = v.state !== 'paused';
  }
}
