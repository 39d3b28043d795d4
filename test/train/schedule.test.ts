import { describe, expect, it } from 'vitest';
import { MemoryCheckpointStore, StorageQuotaError, type Checkpoint } from '../../src/povid/checkpoint';
import { exampleOrder, learningRateAt, reusedExamples, splitHeldout, totalOptimizerSteps } from '../../src/povid/schedule';

describe('schedule', () => {
  it('warms up linearly then decays by cosine to zero', () => {
    const c = { learningRate: 1e-4, warmupRatio: 0.1, totalSteps: 100 };
    expect(learningRateAt(0, c)).toBeCloseTo(1e-5, 12);
    expect(learningRateAt(9, c)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(10, c)).toBeCloseTo(1e-4, 12);
    expect(learningRateAt(55, c)).toBeCloseTo(0.5e-4, 12);
    expect(learningRateAt(100, c)).toBeCloseTo(0, 12);
    for (let s = 10; s < 99; s++) expect(learningRateAt(s + 1, c)).toBeLessThanOrEqual(learningRateAt(s, c));
  });

  it('counts steps from epochs and accumulation', () => {
    expect(totalOptimizerSteps(10, { steps: 0, epochs: 3, gradAccumulation: 4 })).toBe(8);
    expect(totalOptimizerSteps(10, { steps: 5, epochs: 3, gradAccumulation: 4 })).toBe(5);
  });

  it('orders examples as seeded per-epoch permutations', () => {
    const a = exampleOrder(7, 20, 1);
    expect(a).toEqual(exampleOrder(7, 20, 1));
    expect(a).not.toEqual(exampleOrder(7, 20, 2));
    expect([...a.slice(0, 7)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect([...a.slice(7, 14)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('marks the examples an order uses more than once (from a micro-step on)', () => {
    expect(reusedExamples([2, 0, 1], 4)).toEqual([false, false, false, false]); // one pass: none
    const order = exampleOrder(5, 8, 3); // one epoch and three of the next
    const again = new Set(order.slice(5));
    expect(reusedExamples(order, 5)).toEqual([0, 1, 2, 3, 4].map((i) => again.has(i)));
    expect(reusedExamples(order, 5, 5)).toEqual([false, false, false, false, false]); // resumed in the second epoch
    expect(reusedExamples([1, 1, 3, 1], 4, 1)).toEqual([false, true, false, false]);
  });

  it('holds out a fraction, keeping at least one training record', () => {
    const s = splitHeldout(
      Array.from({ length: 20 }, (_, i) => i),
      0.1,
      5,
    );
    expect(s.heldout.length).toBe(2);
    expect(s.train.length).toBe(18);
    expect(splitHeldout([1], 0.5, 1)).toEqual({ train: [1], heldout: [] });
  });
});

describe('checkpoint store', () => {
  const cp = (step: number): Checkpoint => ({
    runId: 'r',
    step,
    microStep: step,
    totalSteps: 10,
    config: {},
    datasetKey: 'd',
    params: new Float32Array([step]),
    adamM: new Float32Array(1),
    adamV: new Float32Array(1),
    rngState: new Uint32Array(4),
    history: [],
    savedAt: '',
  });
  it('keeps the last good checkpoint when a save fails for quota', async () => {
    const store = new MemoryCheckpointStore();
    expect(await store.load()).toBeNull();
    await store.save(cp(1));
    await store.save(cp(2));
    store.failNext = new Error('QuotaExceededError');
    await expect(store.save(cp(3))).rejects.toThrow(StorageQuotaError);
    expect((await store.load())!.step).toBe(2);
    expect(Array.from((await store.load())!.params)).toEqual([2]);
  });
});
