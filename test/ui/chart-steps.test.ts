// Step axis of the live charts: whole-number ticks only, room around a single step, and points
// drawn for a series that has fewer than two values (a line needs two).
import { describe, expect, it } from 'vitest';
import { needsPoints, STEP_INCREMENTS, stepLabels, stepRange } from '../../src/ui/chart';

describe('chart step axis', () => {
  it('uses whole-number increments and labels no fractional step', () => {
    expect(STEP_INCREMENTS.every((v) => Number.isInteger(v) && v >= 1)).toBe(true);
    expect(stepLabels([1, 1.5, 2, 2.5, 3])).toEqual(['1', '', '2', '', '3']);
  });

  it('gives a single step room on both sides', () => {
    expect(stepRange(1, 1)).toEqual([0, 2]);
    expect(stepRange(7, 7)).toEqual([6, 8]);
    expect(stepRange(1, 3)).toEqual([1, 3]);
    expect(stepRange(null, null)).toEqual([0, 1]);
  });

  it('draws points while a series has fewer than two values', () => {
    expect(needsPoints([])).toBe(true);
    expect(needsPoints([0.69])).toBe(true);
    expect(needsPoints([null, 0.7, null])).toBe(true);
    expect(needsPoints([0.69, 0.68])).toBe(false);
    expect(needsPoints([0.69, null, Number.NaN, 0.6])).toBe(false);
  });
});
