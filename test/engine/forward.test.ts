// (c) Forward: LoRA off is the plain reference model; B = 0 makes LoRA on and off identical;
// LoRA on with random B matches the reference with LoRA; padding and batching do not change a
// sequence's numbers; last-position logits match.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/decoder';
import { expectedWeights, LORA_TARGETS } from '../../src/engine/checkpoint';
import { randomDecoderWeights, type WeightSource } from '../../src/engine/params';
import { f16ToF32, f32ToBf16, f32ToF16, roundToBf16, type RawTensor } from '../../src/util/dtype';
import { Rng } from '../../src/util/rng';
import { refLora, refWeights, rowLogits, decoderForward as refForward, sequenceLogprob, type RefModel } from '../reference/decoder';
import { IMAGE_TOKEN, makePrompt, makeSequence, normRelError, randomAnswer, randomLoraValues, TINY, toRef, engineGpu } from './fixture';

const lc = { r: 4, alpha: 8, targets: LORA_TARGETS, seed: 2 };

function batch(seed: number) {
  const rng = new Rng(seed);
  const a = makePrompt(rng, TINY, 14, 5);
  const b = makePrompt(rng, TINY, 9, 3);
  return [
    makeSequence(a, randomAnswer(rng, TINY, 10)), // 25 tokens
    makeSequence(b, randomAnswer(rng, TINY, 4)), // 14 tokens: padded
    makeSequence(a, randomAnswer(rng, TINY, 20)), // 35 tokens
  ];
}

describe('engine forward', () => {
  it('LoRA off equals the plain reference; B = 0 gives identical outputs with LoRA on and off', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 21);
    const engine = await Engine.create(ctx, TINY, weights, {
      maxBatch: 3,
      maxSeq: 36,
      lora: lc,
      weightDtype: 'f32',
      imageTokenId: IMAGE_TOKEN,
    });
    try {
      const seqs = batch(1);
      const off = await engine.forward(seqs, { lora: false, lastLogits: true });
      const on = await engine.forward(seqs, { lora: true, lastLogits: true });
      // B is zero after init: the adapter adds exactly 0.
      expect(on.logprobSums).toEqual(off.logprobSums);
      on.tokenLogprobs.forEach((x, b) => expect(Array.from(x)).toEqual(Array.from(off.tokenLogprobs[b])));
      on.lastLogits!.forEach((x, b) => expect(Array.from(x)).toEqual(Array.from(off.lastLogits![b])));

      const plain: RefModel = { cfg: TINY, w: refWeights(TINY, weights), lora: null };
      let sumErr = 0;
      let tokErr = 0;
      let logitErr = 0;
      seqs.forEach((s, b) => {
        const r = sequenceLogprob(plain, toRef(s), false);
        sumErr = Math.max(sumErr, Math.abs(off.logprobSums[b] - r.sum) / Math.abs(r.sum));
        tokErr = Math.max(tokErr, normRelError(off.tokenLogprobs[b], r.logprob));
        expect(Array.from(off.argmax[b])).toEqual(Array.from(r.argmax));
        const f = refForward(plain, toRef(s), false);
        logitErr = Math.max(logitErr, normRelError(off.lastLogits![b], rowLogits(plain, f, s.tokens.length - 1)));
      });
      console.log(
        `forward, LoRA off vs plain reference: sums ${sumErr.toExponential(2)}, token log-probs ${tokErr.toExponential(2)}, last logits ${logitErr.toExponential(2)}`,
      );
      expect(sumErr).toBeLessThan(1e-5);
      expect(tokErr).toBeLessThan(1e-5);
      expect(logitErr).toBeLessThan(1e-5);
    } finally {
      engine.destroy();
    }
  });

  it('LoRA on matches the reference with the adapter; padding and batch position do not matter', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 22);
    const engine = await Engine.create(ctx, TINY, weights, {
      maxBatch: 3,
      maxSeq: 36,
      lora: lc,
      weightDtype: 'f32',
      imageTokenId: IMAGE_TOKEN,
    });
    try {
      await engine.lora!.set(randomLoraValues(4, await engine.lora!.get(), 0.2));
      const seqs = batch(2);
      const on = await engine.forward(seqs, { lora: true });
      const off = await engine.forward(seqs, { lora: false });
      const m: RefModel = { cfg: TINY, w: refWeights(TINY, weights), lora: refLora(TINY, lc, await engine.lora!.get()) };
      let err = 0;
      seqs.forEach((s, b) => {
        const r = sequenceLogprob(m, toRef(s), true);
        err = Math.max(err, Math.abs(on.logprobSums[b] - r.sum) / Math.abs(r.sum), normRelError(on.tokenLogprobs[b], r.logprob));
        expect(Array.from(on.argmax[b])).toEqual(Array.from(r.argmax));
        expect(on.logprobSums[b]).not.toBeCloseTo(off.logprobSums[b], 3); // the adapter does something
      });
      console.log(`forward, LoRA on vs reference with LoRA: max relative error ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-5);
      // The short sequence alone (no padding) gives the same numbers as inside the padded batch.
      const alone = await engine.forward([seqs[1]], { lora: true });
      expect(Math.abs(alone.logprobSums[0] - on.logprobSums[1])).toBeLessThan(1e-4);
      expect(normRelError(alone.tokenLogprobs[0], on.tokenLogprobs[1])).toBeLessThan(1e-5);
      // No answer positions: nothing scored, no error.
      const none = await engine.forward([{ tokens: [1, 2, 3] }], { lora: true });
      expect(none.logprobSums).toEqual([0]);
      expect(none.tokenLogprobs[0].length).toBe(0);
    } finally {
      engine.destroy();
    }
  });

  it('loads safetensors tensors (BF16, F16, F32) exactly like the same values given as f32', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 23);
    const seq = batch(3)[0];
    const sums = async (w: WeightSource, weightDtype: 'f32' | 'bf16') => {
      const e = await Engine.create(ctx, TINY, w, { maxBatch: 1, maxSeq: 36, lora: null, weightDtype, imageTokenId: IMAGE_TOKEN });
      try {
        const r = await e.forward([seq], { lora: false });
        return Array.from(r.tokenLogprobs[0]);
      } finally {
        e.destroy();
      }
    };
    const shapes = new Map(expectedWeights(TINY).map((w) => [w.name, w.shape]));
    const raw = (dtype: 'BF16' | 'F16' | 'F32', conv: (x: Float32Array) => Uint16Array | Float32Array) =>
      new Map<string, RawTensor>(
        [...weights].map(([k, v]) => {
          const d = conv(v);
          return [k, { name: k, dtype, shape: shapes.get(k)!, data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) }];
        }),
      );
    // A BF16 checkpoint's norms are bf16 values too (kept as f32 on the GPU, exactly).
    const viaBf16 = new Map([...weights].map(([k, v]) => [k, roundToBf16(v)]));
    expect(await sums(raw('BF16', f32ToBf16), 'bf16')).toEqual(await sums(viaBf16, 'bf16'));
    expect(
      await sums(
        raw('F32', (x) => x),
        'f32',
      ),
    ).toEqual(await sums(weights, 'f32'));
    const viaF16 = new Map([...weights].map(([k, v]) => [k, f16ToF32(f32ToF16(v))]));
    expect(await sums(raw('F16', f32ToF16), 'f32')).toEqual(await sums(viaF16, 'f32'));
  });
});
