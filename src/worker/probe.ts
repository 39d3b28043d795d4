// The timed probe behind the estimate shown before Start: on one prepared training example, time
// the vision encoder, the reference pass and one POVID step (the steady-state one: the first
// call also compiles pipelines). The step runs without an optimizer update and leaves only
// gradients behind, which the next real step clears (zeroGrads), so the adapter is untouched.
import type { Engine } from '../engine';
import type { ProbeTimings } from '../povid/estimate';
import type { TrainConfig } from '../povid/config';
import { noisyFeatures, type ImageDeps, type TrainExample } from '../povid/prepare';

export interface ProbeDeps extends ImageDeps {
  engine: Engine;
}

async function timed<T>(job: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await job();
  return { ms: performance.now() - t0, value };
}

/** Times each slow part on `ex`; the step is run `repeats` times and the fastest counts. */
export async function probeTimings(deps: ProbeDeps, ex: TrainExample, config: TrainConfig, repeats = 2): Promise<ProbeTimings> {
  const { engine } = deps;
  const textOnly = config.lossMode === 'dpo-text';
  const encode = await timed(() => deps.encodeImage(ex.pixels));
  const reference = await timed(() => engine.referenceSums([ex]));
  ex.reference ??= reference.value[0]; // the same sums training would compute; keep them
  let noisyMs = 0;
  let noisyImage: Float32Array | undefined;
  if (!textOnly) {
    const noisy = await timed(() => noisyFeatures(deps, ex.pixels, { t: config.noiseStep, seed: config.seed, use: 0 }));
    noisyMs = noisy.ms;
    noisyImage = noisy.value;
  }
  // Two-stage runs are timed on their slower, POVID stage.
  const mode = textOnly ? 'dpo-text' : config.lossMode === 'weighted' ? 'weighted' : 'povid';
  let stepMs = Infinity;
  for (let i = 0; i < Math.max(1, repeats); i++) {
    const step = await timed(() =>
      engine.povidStep([{ chosen: ex.chosen, rejected: ex.rejected, noisyImage, reference: ex.reference }], {
        // The noise term's reference side decides whether the step runs the extra own-argmax pass.
        loss: {
          beta: config.beta,
          mode,
          wText: config.wText,
          wNoise: config.wNoise,
          noiseReference: config.noiseReference ?? 'own-argmax',
          sftWeight: config.sftWeight ?? 0,
        },
        optimizer: { lr: 0 },
        zeroGrads: true,
        update: false,
      }),
    );
    stepMs = Math.min(stepMs, step.ms);
  }
  return { encodeMs: encode.ms, referenceMs: reference.ms, noisyMs, stepMs };
}
