// (b) The key test: LoRA gradients of the POVID loss (chosen, text-rejected, noise-argmax) from
// the GPU engine against the float64 reference model, every gradient tensor by name, for both
// definitions of the noise term's reference side ('own-argmax', the release's, and
// 'policy-argmax'; docs/method.md). With B = 0 the two definitions agree exactly.
// 2 layers, hidden 72, 3 query heads / 1 KV head (head_dim 24), ff 100, vocab 301, a padded batch
// of 2 examples (4 sequences, T = 37) with 6 image rows each, LoRA r = 4 on all seven targets with
// random B so that every gradient is nonzero.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/decoder';
import type { NoiseReference } from '../../src/engine/kernels/dpo';
import { expectedWeights, LORA_TARGETS } from '../../src/engine/checkpoint';
import type { LoraConfig } from '../../src/engine/layout';
import { randomDecoderWeights, type WeightDtype } from '../../src/engine/params';
import { roundToBf16 } from '../../src/util/dtype';
import { refLora, refWeights } from '../reference/decoder';
import { povidReference } from '../reference/povid';
import { IMAGE_TOKEN, makeExamples, maxAbs, normRelError, randomLoraValues, refExamples, TINY, engineGpu } from './fixture';

const lc: LoraConfig = { r: 4, alpha: 8, targets: LORA_TARGETS, seed: 3 };
const lossParams = { beta: 0.1, mode: 'povid' as const, wText: 0.5, wNoise: 0.5 };
const shapes = [
  { prompt: 20, image: 6, chosen: 12, rejected: 16 }, // 33 and 37 tokens
  { prompt: 17, image: 6, chosen: 9, rejected: 7 }, // 27 and 25 tokens
];

async function compare(dtype: WeightDtype, noiseReference: NoiseReference, sftWeight = 0) {
  const ctx = await engineGpu();
  const weights = randomDecoderWeights(TINY, 11);
  const engine = await Engine.create(ctx, TINY, weights, {
    maxBatch: 4,
    maxSeq: 40,
    lora: lc,
    weightDtype: dtype,
    imageTokenId: IMAGE_TOKEN,
  });
  const params = { ...lossParams, noiseReference, sftWeight };
  try {
    await engine.lora!.set(randomLoraValues(5, await engine.lora!.get(), 0.1));
    const examples = makeExamples(9, TINY, shapes);
    const res = await engine.povidStep(examples, { loss: params, optimizer: { lr: 0 }, update: false });
    const gpu = await engine.lora!.getGrads();

    // The reference sees exactly the values the GPU holds: bf16-rounded matrices, f32 norms.
    const refMap = new Map(weights);
    if (dtype === 'bf16')
      for (const w of expectedWeights(TINY)) if (w.role !== 'norm') refMap.set(w.name, roundToBf16(weights.get(w.name)!));
    const m = { cfg: TINY, w: refWeights(TINY, refMap), lora: refLora(TINY, lc, await engine.lora!.get()) };
    const ref = povidReference(m, refExamples(examples), params);

    // The noise-triggered answers are the same tokens: the policy's, and the ones the reference scores.
    res.examples.forEach((x, e) => {
      expect(Array.from(x.yn)).toEqual(Array.from(ref.yn[e]));
      expect(Array.from(x.ynReference)).toEqual(Array.from(ref.ynReference[e]));
    });
    // This adapter moves the argmax: the reference's own y_n differs from the policy's in some
    // position, so the two definitions score different tokens and this test tells them apart.
    const own =
      noiseReference === 'own-argmax' ? ref : povidReference(m, refExamples(examples), { ...params, noiseReference: 'own-argmax' });
    const differing = own.yn.reduce((n, y, e) => n + y.reduce((k, t, i) => k + Number(t !== own.ynReference[e][i]), 0), 0);
    expect(differing, 'positions where the reference argmax differs from the policy argmax').toBeGreaterThan(0);
    if (noiseReference === 'policy-argmax') res.examples.forEach((x) => expect(Array.from(x.ynReference)).toEqual(Array.from(x.yn)));
    let sumErr = 0;
    res.examples.forEach((x, e) => {
      const p = [x.policy.chosen, x.policy.text, x.policy.noise];
      const r = [x.reference.chosen, x.reference.text, x.reference.noise];
      for (let k = 0; k < 3; k++) {
        sumErr = Math.max(sumErr, Math.abs(p[k] - ref.policy[3 * e + k]) / Math.abs(ref.policy[3 * e + k]));
        sumErr = Math.max(sumErr, Math.abs(r[k] - ref.reference[3 * e + k]) / Math.abs(ref.reference[3 * e + k]));
      }
    });
    const lossErr = Math.abs(res.loss - ref.loss) / Math.abs(ref.loss);

    let worst = 0;
    let worstName = '';
    let worstElem = 0;
    let count = 0;
    for (const [name, g] of ref.grads) {
      const a = gpu.get(name)!;
      expect(a, name).toBeDefined();
      expect(maxAbs(g), `${name} is a real gradient`).toBeGreaterThan(1e-8);
      const err = normRelError(a, g);
      // Elementwise too, with a floor at 1% of the tensor's largest entry.
      const floor = 1e-2 * maxAbs(g);
      let elem = 0;
      for (let i = 0; i < g.length; i++) elem = Math.max(elem, Math.abs(a[i] - g[i]) / Math.max(Math.abs(g[i]), floor));
      if (err > worst) [worst, worstName] = [err, name];
      worstElem = Math.max(worstElem, elem);
      expect(err, name).toBeLessThanOrEqual(1e-4);
      expect(elem, name).toBeLessThanOrEqual(1e-3);
      count++;
    }
    expect(count).toBe(2 * 7 * 2);
    // Gradient norm as reported vs the reference.
    let refNormSq = 0;
    for (const g of ref.grads.values()) for (const v of g) refNormSq += v * v;
    const normErr = Math.abs(res.gradNorm - Math.sqrt(refNormSq)) / Math.sqrt(refNormSq);
    console.log(
      `POVID gradients (${dtype} weights, ${noiseReference}${sftWeight ? `, SFT weight ${sftWeight}` : ''}; reference argmax differs from the policy's at ${differing} positions) vs float64 reference over ${count} tensors: max |d|/max|g| ${worst.toExponential(2)} (${worstName}), ` +
        `elementwise (1% floor) ${worstElem.toExponential(2)}; log-prob sums ${sumErr.toExponential(2)}, loss ${lossErr.toExponential(2)}, grad norm ${normErr.toExponential(2)}`,
    );
    expect(sumErr).toBeLessThan(1e-5);
    expect(lossErr).toBeLessThan(1e-4);
    expect(normErr).toBeLessThan(1e-4);
  } finally {
    engine.destroy();
  }
}

describe('POVID step gradients vs the float64 reference', () => {
  it("f32 weights, the release's noise term (own-argmax): every LoRA gradient tensor within 1e-4", () => compare('f32', 'own-argmax'));
  it("f32 weights, the policy's y_n under the reference (policy-argmax): every LoRA gradient tensor within 1e-4", () =>
    compare('f32', 'policy-argmax'));
  it('bf16 weights (own-argmax): every LoRA gradient tensor within 1e-4 of the reference on the rounded weights', () =>
    compare('bf16', 'own-argmax'));
  it('with the SFT term on the chosen answers (weight 0.8): every LoRA gradient tensor within 1e-4', () =>
    compare('f32', 'own-argmax', 0.8));

  it('with B = 0 (a fresh adapter) both definitions give the same y_n, loss and gradients', async () => {
    const ctx = await engineGpu();
    const engine = await Engine.create(ctx, TINY, randomDecoderWeights(TINY, 11), {
      maxBatch: 4,
      maxSeq: 40,
      lora: lc,
      weightDtype: 'f32',
      imageTokenId: IMAGE_TOKEN,
    });
    try {
      const examples = makeExamples(9, TINY, shapes);
      const run = async (noiseReference: NoiseReference) => {
        const res = await engine.povidStep(examples, { loss: { ...lossParams, noiseReference }, optimizer: { lr: 0 }, update: false });
        return { res, grads: await engine.lora!.getGrads() };
      };
      const own = await run('own-argmax');
      const pol = await run('policy-argmax');
      own.res.examples.forEach((x, e) => {
        expect(Array.from(x.ynReference)).toEqual(Array.from(x.yn));
        expect(Array.from(x.yn)).toEqual(Array.from(pol.res.examples[e].yn));
        expect(x.reference).toEqual(pol.res.examples[e].reference);
      });
      expect(own.res.loss).toBe(pol.res.loss);
      let nonzero = 0;
      for (const [name, g] of own.grads) {
        expect(Array.from(g), name).toEqual(Array.from(pol.grads.get(name)!));
        nonzero += g.some((v) => v !== 0) ? 1 : 0;
      }
      expect(nonzero, 'tensors with a nonzero gradient (dB; dA is 0 while B = 0)').toBeGreaterThan(0);
    } finally {
      engine.destroy();
    }
  });
});
