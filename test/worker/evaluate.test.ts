// The Worker's evaluator (src/worker/evaluate.ts) where no GPU is needed: the benchmark's size
// checks, the refusal to share the GPU with training, and the bad-input reports on the user's
// records (no held-out record; none that names a known object), which must not touch the model.
import { describe, expect, it } from 'vitest';
import { checkBenchmarkOptions, HallucinationEvaluator, type EvaluatorHost } from '../../src/worker/evaluate';
import type { ModelSession } from '../../src/worker/model-session';
import { DEFAULT_TRAIN_CONFIG } from '../../src/povid/config';

/** A host whose model only has a name: any use of the engine or the vision encoder would throw. */
function host(records: ReturnType<EvaluatorHost['heldout']>, training = false): EvaluatorHost {
  const session = { summary: { name: 'test model' } } as unknown as ModelSession;
  return {
    session: () => session,
    builtin: async () => session,
    heldout: () => records,
    image: async (id) => {
      throw new Error(`the image of ${id} should not be needed`);
    },
    training: () => training,
  };
}

const NO_OBJECT = { id: 'r1', image: 'a.png', question: 'How does it feel?', chosen: 'Happy and calm.', edits: [] };

describe('checkBenchmarkOptions', () => {
  it('takes whole numbers in range and names the field and the range otherwise', () => {
    expect(() => checkBenchmarkOptions({ trainScenes: 12, heldoutScenes: 24, steps: 24 })).not.toThrow();
    expect(() => checkBenchmarkOptions({ trainScenes: 0, heldoutScenes: 24, steps: 24 })).toThrow(
      'the number of training scenes must be a whole number from 1 to 512, got 0',
    );
    expect(() => checkBenchmarkOptions({ trainScenes: 1, heldoutScenes: 2.5, steps: 24 })).toThrow(/held-out scenes .* got 2.5/);
    expect(() => checkBenchmarkOptions({ trainScenes: 1, heldoutScenes: 2, steps: Number.NaN })).toThrow(/training steps .* got NaN/);
  });

  it('is checked before the benchmark loads anything', async () => {
    const ev = new HallucinationEvaluator({ ...host([]), builtin: async () => Promise.reject(new Error('must not load')) });
    await expect(ev.benchmark({ trainScenes: 1, heldoutScenes: 0, steps: 1, config: DEFAULT_TRAIN_CONFIG })).rejects.toThrow(
      /held-out scenes/,
    );
  });
});

describe('HallucinationEvaluator on the user records', () => {
  it('reports no held-out record with a message and no numbers', async () => {
    const r = await new HallucinationEvaluator(host([])).records({ seed: 1, heldoutFraction: 0 });
    expect(r).toMatchObject({ source: 'records', estimate: true, total: 0, used: 0, before: null, after: null, samples: [] });
    expect(r.message).toMatch(/no held-out records.*held-out fraction above 0/);
  });

  it('counts out records whose preferred answer names no known object, without generating', async () => {
    const r = await new HallucinationEvaluator(host([NO_OBJECT, { ...NO_OBJECT, id: 'r2' }])).records({ seed: 1, heldoutFraction: 0.5 });
    expect(r).toMatchObject({ total: 2, used: 0, before: null, after: null, excluded: { noKnownObject: ['r1', 'r2'] } });
    expect(r.message).toMatch(/none of the 2 held-out records names a known object.*\(2 excluded\)/);
  });

  it('refuses to run while training holds the GPU', async () => {
    await expect(new HallucinationEvaluator(host([], true)).records({ seed: 1, heldoutFraction: 0.1 })).rejects.toThrow(
      /Training is running/,
    );
  });
});
