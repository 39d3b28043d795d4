// What the page says about a run (RunProgressModel): stage lines with n/N, elapsed and time left;
// "pausing" until the Worker reports the pause; no step counted after "paused"; no ETA once a run
// has ended or while it is paused; reports that age between arrivals.
import { describe, expect, it } from 'vitest';
import { RunProgressModel } from '../../src/ui/progress';
import type { StepMetrics, TrainProgress } from '../../src/worker/api';

function clock() {
  let t = 0;
  return { now: () => t, advance: (s: number) => (t += s * 1000) };
}

const stage = (
  phase: TrainProgress['phase'],
  done: number,
  total: number,
  etaSeconds: number | null = null,
  elapsedSeconds = 0,
): TrainProgress => ({ phase, done, total, elapsedSeconds, etaSeconds });

function metrics(step: number, totalSteps: number, etaSeconds: number, loss = 0.69): StepMetrics {
  return {
    step,
    totalSteps,
    epoch: step / 2,
    loss,
    rewardChosen: 0,
    rewardText: 0,
    rewardNoise: 0,
    marginText: 0,
    marginNoise: 0,
    accuracy: 0.5,
    gradNorm: 1,
    learningRate: 1e-4,
    tokensPerSecond: 10,
    etaSeconds,
    exampleId: 'r1',
    ms: { reference: 0, noisy: 0, forward: 0, backward: 0, optimizer: 0 },
  };
}

describe('RunProgressModel', () => {
  it('says which preparation stage runs, with n/N, elapsed and time left', () => {
    const c = clock();
    const m = new RunProgressModel(c.now);
    expect(m.view().summary).toBe('Not started');
    m.start();
    expect(m.view()).toMatchObject({ state: 'preparing', phase: 'Starting…', summary: 'Preparing…', etaSeconds: null, fraction: null });
    m.progress(stage('images', 3, 10, 14, 6));
    let v = m.view();
    expect(v.phase).toBe('Encoding images: 3 of 10 · 0:06 elapsed · 0:14 left');
    expect(v).toMatchObject({ etaSeconds: 14, etaOf: 'stage', step: null });
    c.advance(4); // no report for 4 s: elapsed grows, time left shrinks
    v = m.view();
    expect(v.phase).toBe('Encoding images: 3 of 10 · 0:10 elapsed · 0:10 left');
    expect(v.etaSeconds).toBeCloseTo(10, 9);
    m.progress(stage('reference', 0, 10));
    expect(m.view().phase).toBe('Reference log-probs (adapter off): 0 of 10 · 0:00 elapsed');
    expect(m.view().etaSeconds).toBeNull();
  });

  it('has status lines that belong to the stage: no reference line during steps', () => {
    const m = new RunProgressModel(clock().now);
    m.start();
    m.progress(stage('reference', 10, 10, 0));
    m.progress(stage('training', 0, 3, 30));
    const v = m.view();
    expect(v.phase).toMatch(/^Training step 1 of 3/);
    expect(v.phase).not.toMatch(/reference/i);
    expect(v).toMatchObject({ state: 'training', step: 0, totalSteps: 3, etaOf: 'run', fraction: 0 });
    m.progress(stage('evaluating', 1, 3, 20));
    expect(m.view().phase).toBe('Evaluating the held-out records after step 1');
    m.progress(stage('checkpoint', 1, 3, 20));
    expect(m.view().phase).toBe('Saving a checkpoint at step 1');
  });

  it('is "pausing" until the Worker says paused, then paused with no ETA, and counts no step after that', () => {
    const c = clock();
    const m = new RunProgressModel(c.now);
    m.start();
    m.progress(stage('training', 0, 4, 40));
    m.step(metrics(1, 4, 30));
    m.progress(stage('training', 1, 4, 30));
    m.pauseRequested();
    let v = m.view();
    expect(v.state).toBe('pausing');
    expect(v.phase).toBe('Pausing after this step (step 2 of 4)…');
    expect(v.etaSeconds).not.toBeNull(); // the step still runs
    // The step in flight ends; the report of the next stage must not undo "pausing".
    m.step(metrics(2, 4, 20));
    m.progress(stage('evaluating', 2, 4, 20));
    expect(m.view().state).toBe('pausing');
    m.progress(stage('paused', 2, 4, 20));
    v = m.view();
    expect(v).toMatchObject({ state: 'paused', step: 2, totalSteps: 4, etaSeconds: null, etaOf: null });
    expect(v.phase).toBe('Paused after step 2 of 4. Resume to continue.');
    expect(v.summary).toBe('Step 2 of 4 (50%) · epoch 1 · paused');
    m.resumeRequested();
    expect(m.view().state).toBe('training');
    m.progress(stage('training', 2, 4, 20));
    expect(m.view().phase).toMatch(/^Training step 3 of 4/);
  });

  it('pausing during preparation says the run pauses before step 1', () => {
    const m = new RunProgressModel(clock().now);
    m.start();
    m.progress(stage('images', 1, 4, 3));
    m.pauseRequested();
    expect(m.view().phase).toBe('Pausing: preparation finishes first, then the run pauses before step 1…');
    m.progress(stage('reference', 0, 4));
    expect(m.view().state).toBe('pausing');
    m.progress(stage('paused', 0, 4, null));
    expect(m.view().phase).toBe('Paused after step 0 of 4. Resume to continue.');
  });

  it('shows no ETA once the run is cancelled or done, and ignores late reports', () => {
    const m = new RunProgressModel(clock().now);
    m.start();
    m.progress(stage('training', 1, 5, 40));
    m.step(metrics(2, 5, 30));
    expect(m.view().summary).toBe('Step 2 of 5 (40%) · epoch 1 · ETA 0:30');
    m.cancelRequested();
    expect(m.view().phase).toBe('Cancelling after this step…');
    m.step(metrics(3, 5, 20));
    m.finished('cancelled', 3);
    let v = m.view();
    expect(v).toMatchObject({ state: 'cancelled', etaSeconds: null, etaOf: null, phase: '', step: 3 });
    expect(v.summary).toBe('Step 3 of 5 (60%) · cancelled');
    expect(v.summary).not.toMatch(/ETA/);
    m.progress(stage('training', 3, 5, 10));
    m.step(metrics(4, 5, 10));
    expect(m.view()).toMatchObject({ state: 'cancelled', step: 3, etaSeconds: null });

    m.start();
    expect(m.view()).toMatchObject({ state: 'preparing', step: null, loss: null });
    m.progress(stage('training', 0, 2, 10));
    m.step(metrics(1, 2, 5, 0.5));
    m.step(metrics(2, 2, 0, 0.4));
    m.finished('done', 2);
    v = m.view();
    expect(v).toMatchObject({ state: 'done', etaSeconds: null, loss: 0.4, fraction: 1 });
    expect(v.summary).toBe('Step 2 of 2 (100%) · done');
    m.finished('cancelled');
    expect(new RunProgressModel().view().etaSeconds).toBeNull();
  });

  it('takes the latest step report for the ETA and ages it', () => {
    const c = clock();
    const m = new RunProgressModel(c.now);
    m.start();
    m.progress(stage('training', 0, 10, null));
    expect(m.view().etaSeconds).toBeNull();
    m.step(metrics(1, 10, 45));
    expect(m.view().etaSeconds).toBeCloseTo(45, 9);
    c.advance(5);
    expect(m.view().etaSeconds).toBeCloseTo(40, 9);
    c.advance(100);
    expect(m.view().etaSeconds).toBe(0);
    expect(m.view().loss).toBeCloseTo(0.69, 12);
    // After a pause, the stage report that follows (paused time left out) is the fresher one.
    m.pauseRequested();
    m.progress(stage('paused', 1, 10, 44));
    expect(m.view().etaSeconds).toBeNull();
    c.advance(300);
    m.resumeRequested();
    expect(m.view().etaSeconds).toBeNull(); // unknown until the Worker reports again
    m.progress(stage('training', 1, 10, 44));
    expect(m.view().etaSeconds).toBeCloseTo(44, 9);
  });
});
