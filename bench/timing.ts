// Wall-clock timing with the GPU synchronised before and after: `run(n)` records and submits n
// iterations, then waits for the queue to drain. One untimed warm-up (pipeline compilation,
// first-use allocation), one timed probe, then as many more iterations as fill the target time.
export interface TimingOptions {
  targetSeconds: number;
  minRuns: number;
  maxRuns: number;
  /** Skip the untimed warm-up (the caller warmed up some other way). */
  noWarmup?: boolean;
  /** Milliseconds the whole measurement may take: fewer than minRuns iterations rather than more time. */
  budgetMs?: number;
}

export interface Timed {
  msPerIteration: number;
  iterations: number;
  totalMs: number;
  warmupMs: number;
}

const now = (): number => performance.now();

export async function measure(run: (n: number) => Promise<void>, o: TimingOptions): Promise<Timed> {
  const start = now();
  let warmupMs = 0;
  if (!o.noWarmup) {
    const t = now();
    await run(1);
    warmupMs = now() - t;
  }
  let t0 = now();
  await run(1);
  let totalMs = now() - t0;
  let iterations = 1;
  const per = Math.max(totalMs, 1e-3);
  const want = Math.ceil((o.targetSeconds * 1000 - totalMs) / per);
  let more = Math.min(Math.max(want, o.minRuns - iterations), o.maxRuns - iterations);
  if (o.budgetMs !== undefined) more = Math.min(more, Math.floor((o.budgetMs - (now() - start)) / per));
  if (more > 0) {
    t0 = now();
    await run(more);
    totalMs += now() - t0;
    iterations += more;
  }
  return { msPerIteration: totalMs / iterations, iterations, totalMs, warmupMs };
}

/** A deadline; `share(f)` gives a part of what is left. */
export class Budget {
  readonly deadline: number;
  constructor(seconds: number) {
    this.deadline = seconds > 0 ? now() + seconds * 1000 : Infinity;
  }
  get unlimited(): boolean {
    return this.deadline === Infinity;
  }
  /** Seconds left (Infinity without a limit). */
  remaining(): number {
    return Math.max(0, (this.deadline - now()) / 1000);
  }
  share(fraction: number): Budget {
    return new Budget(this.unlimited ? 0 : this.remaining() * fraction);
  }
  /** Whether `seconds` more fit. */
  fits(seconds: number): boolean {
    return seconds <= this.remaining();
  }
}

export const round = (x: number, digits = 3): number => {
  if (!Number.isFinite(x)) return x;
  const m = 10 ** digits;
  return Math.round(x * m) / m;
};

/** A short message from anything thrown. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
