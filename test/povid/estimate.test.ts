// The run estimate shown before Start: steps from the settings, time per step from the probe,
// preparation and held-out evaluations counted as the trainer runs them.
import { describe, expect, it } from 'vitest';
import { estimateRun, evaluationCount } from '../../src/povid/estimate';

const probe = { encodeMs: 100, referenceMs: 200, noisyMs: 150, stepMs: 850 };

describe('run estimate', () => {
  it('counts evaluations as the trainer does (every evalEvery steps and at the end)', () => {
    expect(evaluationCount(10, 5, 2)).toBe(2);
    expect(evaluationCount(12, 5, 2)).toBe(3);
    expect(evaluationCount(3, 10, 2)).toBe(1);
    expect(evaluationCount(10, 0, 2)).toBe(0);
    expect(evaluationCount(10, 5, 0)).toBe(0);
  });

  it('adds steps, preparation and evaluations', () => {
    const e = estimateRun(
      probe,
      { trainRecords: 9, heldoutRecords: 1, imagesToEncode: 10, referencesToCompute: 9 },
      { steps: 0, epochs: 2, gradAccumulation: 1, evalEvery: 10, lossMode: 'povid' },
    );
    expect(e.steps).toBe(18);
    expect(e.secondsPerStep).toBeCloseTo(1.0, 12); // step + noisy image
    expect(e.prepareSeconds).toBeCloseTo(10 * 0.1 + 9 * 0.2, 12);
    expect(e.evaluations).toBe(2);
    expect(e.evalSeconds).toBeCloseTo(2 * 1 * (0.2 + 0.15 + 0.2), 12);
    expect(e.totalSeconds).toBeCloseTo(18 + 2.8 + 1.1, 12);
    expect(e.upperBound).toBe(false);
  });

  it('scales with gradient accumulation, skips the noisy image for text-only DPO, bounds two-stage runs', () => {
    const shape = { steps: 5, epochs: 1, gradAccumulation: 4, evalEvery: 0, lossMode: 'dpo-text' as const };
    const counts = { trainRecords: 3, heldoutRecords: 0, imagesToEncode: 0, referencesToCompute: 0 };
    const text = estimateRun(probe, counts, shape);
    expect(text.secondsPerStep).toBeCloseTo(4 * 0.85, 12);
    expect(text.totalSeconds).toBeCloseTo(5 * 3.4, 12);
    const two = estimateRun(probe, counts, { ...shape, lossMode: 'two-stage' });
    expect(two.secondsPerStep).toBeCloseTo(4 * 1.0, 12);
    expect(two.upperBound).toBe(true);
  });
});
