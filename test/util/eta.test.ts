// ETA estimator: elapsed time without pauses, time left from the recent mean per unit, a prior
// before the first unit, resumed runs, and the time already spent in the running unit.
import { describe, expect, it } from 'vitest';
import { EtaEstimator } from '../../src/util/eta';

function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('EtaEstimator', () => {
  it('knows nothing before the first unit, then remaining units times the mean', () => {
    const c = clock();
    const e = new EtaEstimator(10, { now: c.now });
    expect(e.etaSeconds).toBeNull();
    expect(e.secondsPerUnit).toBeNull();
    c.advance(2000);
    e.tick();
    expect(e.completed).toBe(1);
    expect(e.secondsPerUnit).toBeCloseTo(2, 12);
    expect(e.etaSeconds).toBeCloseTo(18, 12);
    c.advance(4000);
    e.tick();
    expect(e.secondsPerUnit).toBeCloseTo(3, 12);
    expect(e.etaSeconds).toBeCloseTo(24, 12);
    expect(e.elapsedSeconds).toBeCloseTo(6, 12);
  });

  it('uses a measured prior until a unit is timed', () => {
    const c = clock();
    const e = new EtaEstimator(5, { now: c.now, priorSecondsPerUnit: 1.5 });
    expect(e.etaSeconds).toBeCloseTo(7.5, 12);
    c.advance(1000); // one second into the first unit
    expect(e.etaSeconds).toBeCloseTo(6.5, 12);
    c.advance(2000); // longer than the prior: never below the other units' share
    expect(e.etaSeconds).toBeCloseTo(6, 12);
  });

  it('leaves paused time out of elapsed time and of the unit it interrupts', () => {
    const c = clock();
    const e = new EtaEstimator(4, { now: c.now });
    c.advance(1000);
    e.pause();
    expect(e.paused).toBe(true);
    c.advance(60_000);
    expect(e.elapsedSeconds).toBeCloseTo(1, 12);
    e.resume();
    c.advance(1000);
    e.tick();
    expect(e.secondsPerUnit).toBeCloseTo(2, 12);
    expect(e.elapsedSeconds).toBeCloseTo(2, 12);
    expect(e.etaSeconds).toBeCloseTo(6, 12);
  });

  it('a pause that spans a tick counts once', () => {
    const c = clock();
    const e = new EtaEstimator(3, { now: c.now });
    c.advance(1000);
    e.pause();
    c.advance(5000);
    e.tick(); // reported while paused (a unit finishing as the pause starts)
    c.advance(5000);
    e.resume();
    c.advance(3000);
    e.tick();
    expect(e.elapsedSeconds).toBeCloseTo(4, 12);
    expect(e.secondsPerUnit).toBeCloseTo(2, 12); // units of 1 s and 3 s
  });

  it('averages only the latest units (a run speeds up after its first step)', () => {
    const c = clock();
    const e = new EtaEstimator(100, { now: c.now, window: 3 });
    for (const ms of [30_000, 1000, 1000, 1000]) {
      c.advance(ms);
      e.tick();
    }
    expect(e.secondsPerUnit).toBeCloseTo(1, 12);
    expect(e.etaSeconds).toBeCloseTo(96, 12);
  });

  it('starts from the units a resumed run has done, and ends at zero', () => {
    const c = clock();
    const e = new EtaEstimator(6, { now: c.now }, 4);
    expect(e.completed).toBe(4);
    c.advance(500);
    e.tick(5);
    expect(e.etaSeconds).toBeCloseTo(0.5, 12);
    c.advance(500);
    e.tick(6);
    expect(e.etaSeconds).toBe(0);
  });

  it('several units at once share the time', () => {
    const c = clock();
    const e = new EtaEstimator(8, { now: c.now });
    c.advance(4000);
    e.tick(4);
    expect(e.secondsPerUnit).toBeCloseTo(1, 12);
    expect(e.etaSeconds).toBeCloseTo(4, 12);
  });
});
