// Elapsed time and time left for a stage of N equal units (images encoded, reference passes,
// training steps). Paused time counts toward neither; the estimate is the mean duration of the
// most recent units (steps speed up once pipelines are compiled), or a measured prior before the
// first unit has finished.

export interface EtaOptions {
  /** Seconds per unit known in advance (a timed probe), used until a unit has been timed. */
  priorSecondsPerUnit?: number;
  /** How many of the latest unit durations the estimate averages. */
  window?: number;
  /** Clock in milliseconds (tests pass their own). */
  now?: () => number;
}

export class EtaEstimator {
  private readonly now: () => number;
  private readonly window: number;
  private readonly prior: number | undefined;
  private readonly durations: number[] = []; // ms, the latest `window` units
  private started: number;
  private lastMark: number;
  private pausedAt: number | null = null;
  private pausedMs = 0; // finished pauses since the start
  private pausedMarkMs = 0; // finished pauses since the last mark
  private done: number;

  constructor(
    readonly total: number,
    opts: EtaOptions = {},
    /** Units already done when timing starts (a resumed run). */
    readonly startDone = 0,
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.window = Math.max(1, opts.window ?? 10);
    this.prior = opts.priorSecondsPerUnit !== undefined && opts.priorSecondsPerUnit > 0 ? opts.priorSecondsPerUnit : undefined;
    this.started = this.lastMark = this.now();
    this.done = startDone;
  }

  /** Units finished so far (startDone included). */
  get completed(): number {
    return this.done;
  }

  /** Records that the units up to `done` have finished now. */
  tick(done = this.done + 1): void {
    const t = this.now();
    const units = done - this.done;
    if (units <= 0) return;
    const ms = (t - this.lastMark - this.pausedSinceMark(t)) / units;
    for (let i = 0; i < units; i++) this.durations.push(Math.max(0, ms));
    while (this.durations.length > this.window) this.durations.shift();
    this.done = done;
    this.lastMark = t;
    this.pausedMarkMs = 0;
    if (this.pausedAt !== null) {
      // A pause that spans the mark: the part before it is done with.
      this.pausedMs += t - this.pausedAt;
      this.pausedAt = t;
    }
  }

  pause(): void {
    if (this.pausedAt === null) this.pausedAt = this.now();
  }

  resume(): void {
    if (this.pausedAt === null) return;
    const d = this.now() - this.pausedAt;
    this.pausedMs += d;
    this.pausedMarkMs += d;
    this.pausedAt = null;
  }

  get paused(): boolean {
    return this.pausedAt !== null;
  }

  /** Seconds spent on this stage, paused time excluded. */
  get elapsedSeconds(): number {
    const t = this.now();
    const pausedNow = this.pausedAt !== null ? t - this.pausedAt : 0;
    return Math.max(0, t - this.started - this.pausedMs - pausedNow) / 1000;
  }

  /** Seconds per unit: the recent mean, else the prior, else null. */
  get secondsPerUnit(): number | null {
    if (this.durations.length > 0) return this.durations.reduce((a, b) => a + b, 0) / this.durations.length / 1000;
    return this.prior ?? null;
  }

  /**
   * Seconds left: remaining units times seconds per unit, less the time the current unit has
   * already run (never below zero). Null while nothing is known; 0 when all units are done.
   */
  get etaSeconds(): number | null {
    const left = this.total - this.done;
    if (left <= 0) return 0;
    const per = this.secondsPerUnit;
    if (per === null) return null;
    const t = this.now();
    const inUnit = (t - this.lastMark - this.pausedSinceMark(t)) / 1000;
    return Math.max(0, left * per - Math.min(inUnit, per));
  }

  /** Paused ms since the last mark (finished pauses plus a running one). */
  private pausedSinceMark(t: number): number {
    return this.pausedMarkMs + (this.pausedAt !== null ? t - this.pausedAt : 0);
  }
}
