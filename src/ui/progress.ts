// What the page says about a run, from what the Worker streams (stage progress, step metrics)
// and what the user asked (pause, resume, cancel). Pure state, no DOM: the dashboard and the
// status bar render its view, and tests drive it directly.
//
// Honesty rules it keeps: a pause is "pausing" until the Worker reports that it has paused
// between steps; a status line always belongs to the stage that runs now; an ETA is shown only
// while the run goes on (never after it ended, never a frozen one while paused).
import type { StepMetrics, TrainProgress } from '../worker/api';
import { formatDuration } from './dom';

export type RunState = 'idle' | 'preparing' | 'training' | 'pausing' | 'paused' | 'cancelling' | 'done' | 'cancelled' | 'error';

export interface RunView {
  state: RunState;
  /** The stage that runs now with n/N, elapsed and time left ('' when nothing runs). */
  phase: string;
  /** Optimizer steps done, and of how many (null before the first report). */
  step: number | null;
  totalSteps: number | null;
  /** Seconds left: of the stage while preparing, of the run while training; null when none applies. */
  etaSeconds: number | null;
  etaOf: 'stage' | 'run' | null;
  /** The latest step's training loss. */
  loss: number | null;
  /** For a progress bar: steps done / total, or null (indeterminate). */
  fraction: number | null;
  /** One line for the progress bar: step, percentage, epoch and ETA, or how the run ended. */
  summary: string;
}

const STAGE_NAMES: Record<'images' | 'reference', string> = {
  images: 'Encoding images',
  reference: 'Reference log-probs (adapter off)',
};

function timing(elapsed: number, eta: number | null): string {
  return ` · ${formatDuration(elapsed)} elapsed${eta === null ? '' : ` · ${formatDuration(eta)} left`}`;
}

export class RunProgressModel {
  private state: RunState = 'idle';
  private stage: TrainProgress | null = null;
  private stageAt = 0; // when the stage report arrived (ms, the clock below)
  private latest: StepMetrics | null = null;
  private latestAt = 0;
  private stepsDone: number | null = null;
  private totalSteps: number | null = null;
  private resuming = false;
  private endText = '';

  /** `now` in milliseconds: reports age between arrivals (elapsed grows, time left shrinks). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A run starts (fresh, or from a checkpoint). */
  start(resuming = false): void {
    this.state = 'preparing';
    this.stage = null;
    this.latest = null;
    this.stepsDone = null;
    this.totalSteps = null;
    this.resuming = resuming;
    this.endText = '';
  }

  progress(p: TrainProgress): void {
    if (this.ended()) return;
    this.stage = p;
    this.stageAt = this.now();
    if (p.phase === 'training' || p.phase === 'paused' || p.phase === 'evaluating' || p.phase === 'checkpoint') {
      this.stepsDone = p.done;
      this.totalSteps = p.total;
    }
    if (p.phase === 'paused') this.state = 'paused';
    else if (this.state === 'pausing' || this.state === 'cancelling')
      return; // still waiting for the step to end
    else this.state = p.phase === 'images' || p.phase === 'reference' ? 'preparing' : 'training';
  }

  step(m: StepMetrics): void {
    if (this.ended()) return;
    this.latest = m;
    this.latestAt = this.now();
    this.stepsDone = m.step;
    this.totalSteps = m.totalSteps;
  }

  pauseRequested(): void {
    if (this.state === 'preparing' || this.state === 'training') this.state = 'pausing';
  }

  resumeRequested(): void {
    if (this.state === 'paused' || this.state === 'pausing')
      this.state = this.stage && (this.stage.phase === 'images' || this.stage.phase === 'reference') ? 'preparing' : 'training';
  }

  cancelRequested(): void {
    if (!this.ended() && this.state !== 'idle') this.state = 'cancelling';
  }

  finished(how: 'done' | 'cancelled' | 'error', steps?: number): void {
    this.state = how;
    if (steps !== undefined) this.stepsDone = steps;
    const word = how === 'done' ? 'done' : how === 'cancelled' ? 'cancelled' : 'stopped by an error';
    // How it ended and where, never a time left.
    this.endText =
      this.totalSteps !== null && this.stepsDone !== null
        ? `Step ${this.stepsDone} of ${this.totalSteps} (${this.totalSteps > 0 ? Math.round((100 * this.stepsDone) / this.totalSteps) : 0}%) · ${word}`
        : how === 'cancelled'
          ? 'Cancelled before the first step'
          : how === 'done'
            ? 'Done'
            : 'Stopped by an error before the first step';
  }

  private ended(): boolean {
    return this.state === 'done' || this.state === 'cancelled' || this.state === 'error';
  }

  view(): RunView {
    const st = this.state;
    const p = this.stage;
    const now = this.now();
    const preparing = p !== null && (p.phase === 'images' || p.phase === 'reference');
    const running = st === 'preparing' || st === 'training' || st === 'pausing' || st === 'cancelling';
    let etaSeconds: number | null = null;
    let etaOf: RunView['etaOf'] = null;
    // Right after a resume the last report is 'paused': no time left is known until the next one.
    if (running && p && p.phase !== 'paused') {
      etaOf = preparing ? 'stage' : 'run';
      // The fresher of the stage report and the last step's own.
      const stageEta = p.etaSeconds;
      const fromStep =
        !preparing &&
        this.latest !== null &&
        Number.isFinite(this.latest.etaSeconds) &&
        (stageEta === null || this.latestAt >= this.stageAt);
      const [eta, at] = fromStep ? [this.latest!.etaSeconds, this.latestAt] : [stageEta, this.stageAt];
      if (eta === null) etaOf = null;
      else etaSeconds = Math.max(0, eta - (now - at) / 1000);
    }
    return {
      state: st,
      phase: this.phaseText(now),
      step: this.stepsDone,
      totalSteps: this.totalSteps,
      etaSeconds,
      etaOf,
      loss: this.latest?.loss ?? null,
      fraction: this.totalSteps && this.stepsDone !== null ? Math.min(1, this.stepsDone / this.totalSteps) : st === 'done' ? 1 : null,
      summary: this.summary(etaSeconds, etaOf),
    };
  }

  private summary(eta: number | null, etaOf: RunView['etaOf']): string {
    if (this.ended()) return this.endText;
    if (this.state === 'idle') return 'Not started';
    if (this.stepsDone === null || this.totalSteps === null) return this.resuming ? 'Resuming: preparing…' : 'Preparing…';
    const pct = this.totalSteps > 0 ? Math.round((100 * this.stepsDone) / this.totalSteps) : 0;
    const m = this.latest;
    const epoch = m ? ` · epoch ${Number.isInteger(m.epoch) ? String(m.epoch) : m.epoch.toFixed(2)}` : '';
    const left = this.state === 'paused' ? ' · paused' : etaOf === 'run' && eta !== null ? ` · ETA ${formatDuration(eta)}` : '';
    return `Step ${this.stepsDone} of ${this.totalSteps} (${pct}%)${epoch}${left}`;
  }

  private phaseText(now: number): string {
    const p = this.stage;
    switch (this.state) {
      case 'idle':
      case 'done':
      case 'cancelled':
      case 'error':
        return '';
      case 'pausing':
        return p && (p.phase === 'images' || p.phase === 'reference')
          ? 'Pausing: preparation finishes first, then the run pauses before step 1…'
          : `Pausing after this step${p ? ` (step ${p.done + 1} of ${p.total})` : ''}…`;
      case 'paused':
        return `Paused after step ${p?.done ?? 0} of ${p?.total ?? '?'}. Resume to continue.`;
      case 'cancelling':
        return 'Cancelling after this step…';
      default:
        break;
    }
    if (!p) return this.resuming ? 'Resuming from the checkpoint…' : 'Starting…';
    const age = (now - this.stageAt) / 1000;
    const elapsed = p.elapsedSeconds + age;
    const left = p.etaSeconds === null ? null : Math.max(0, p.etaSeconds - age);
    switch (p.phase) {
      case 'images':
      case 'reference':
        return `${STAGE_NAMES[p.phase]}: ${p.done} of ${p.total}${timing(elapsed, left)}`;
      case 'training':
        return `Training step ${Math.min(p.done + 1, p.total)} of ${p.total}${timing(elapsed, left)}`;
      case 'evaluating':
        return `Evaluating the held-out records after step ${p.done}`;
      case 'checkpoint':
        return `Saving a checkpoint at step ${p.done}`;
      default:
        return '';
    }
  }
}
