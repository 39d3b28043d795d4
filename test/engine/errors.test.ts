// (f) Bad input gives typed errors that name the problem: lengths, positions, image rows, ids,
// batch sizes, weights, plans over the device limits, NaN/Inf.
import { describe, expect, it } from 'vitest';
import { GpuLimitError } from '../../src/gpu';
import { ConfigError } from '../../src/engine/config';
import { Engine } from '../../src/engine/decoder';
import { EngineInputError, ImageRowsError, NonFiniteError, SequenceLengthError, WeightError } from '../../src/engine/errors';
import { LORA_TARGETS, type LoraTarget } from '../../src/engine/checkpoint';
import { randomDecoderWeights } from '../../src/engine/params';
import type { RawTensor } from '../../src/util/dtype';
import { Rng } from '../../src/util/rng';
import { IMAGE_TOKEN, makeExamples, makePrompt, makeSequence, randomAnswer, TINY, engineGpu } from './fixture';

const lossParams = { beta: 0.1, mode: 'povid' as const, wText: 0.5, wNoise: 0.5 };

describe('engine errors', () => {
  it('refuses bad sequences, image rows, ids and batch sizes with typed errors', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 51);
    const engine = await Engine.create(ctx, TINY, weights, {
      maxBatch: 2,
      maxSeq: 20,
      lora: { r: 2, alpha: 4 },
      weightDtype: 'f32',
      imageTokenId: IMAGE_TOKEN,
    });
    try {
      const rng = new Rng(1);
      const p = makePrompt(rng, TINY, 8, 3);
      const ok = makeSequence(p, randomAnswer(rng, TINY, 4));
      await expect(engine.forward([ok], { lora: true })).resolves.toBeDefined();

      const long = makeSequence(p, randomAnswer(rng, TINY, 20));
      await expect(engine.forward([long], { lora: false })).rejects.toThrow(SequenceLengthError);
      await expect(engine.forward([long], { lora: false })).rejects.toThrow(/maxSeq of 20/);
      const farPos = { ...ok, positions: Array.from(ok.tokens, (_, i) => (i === 5 ? TINY.maxPositions : i)) };
      await expect(engine.forward([farPos], { lora: false })).rejects.toThrow(SequenceLengthError);

      const fewRows = { ...ok, image: { features: p.features.slice(0, 2 * TINY.hiddenSize) } }; // 3 image tokens, 2 rows
      await expect(engine.forward([fewRows], { lora: false })).rejects.toThrow(ImageRowsError);
      await expect(engine.forward([fewRows], { lora: false })).rejects.toThrow(/3 image token positions but 2 image feature rows/);
      const ragged = { ...ok, image: { features: p.features.slice(1) } };
      await expect(engine.forward([ragged], { lora: false })).rejects.toThrow(ImageRowsError);

      const badToken = { ...ok, tokens: Array.from(ok.tokens, (t, i) => (i === 2 ? TINY.vocabSize : t)) };
      await expect(engine.forward([badToken], { lora: false })).rejects.toThrow(EngineInputError);
      await expect(engine.forward([ok, ok, ok], { lora: false })).rejects.toThrow(/maxBatch 2/);

      const ex = makeExamples(2, TINY, [{ prompt: 8, image: 3, chosen: 3, rejected: 4 }]);
      await expect(engine.povidStep([...ex, ...ex], { loss: lossParams, optimizer: { lr: 1e-3 } })).rejects.toThrow(/maxBatch 2/);
      const wrongNoise = [{ ...ex[0], noisyImage: ex[0].noisyImage!.slice(TINY.hiddenSize) }];
      await expect(engine.povidStep(wrongNoise, { loss: lossParams, optimizer: { lr: 1e-3 } })).rejects.toThrow(ImageRowsError);
      const noAnswer = [{ ...ex[0], rejected: { ...ex[0].rejected, targets: Array.from(ex[0].rejected.tokens, () => -1) } }];
      await expect(engine.povidStep(noAnswer, { loss: lossParams, optimizer: { lr: 1e-3 } })).rejects.toThrow(/no answer tokens/);

      // NaN in the adapter: the step refuses to update and names what went wrong.
      const before = await engine.lora!.get();
      const name = [...before.keys()].find((k) => k.includes('layers.1.mlp.up_proj.lora_B'))!;
      await engine.lora!.set(new Map([[name, new Float32Array(before.get(name)!.length).fill(NaN)]]));
      const err = await engine.povidStep(ex, { loss: lossParams, optimizer: { lr: 1e-3 } }).catch((e) => e);
      expect(err).toBeInstanceOf(NonFiniteError);
      expect(String(err.message)).toMatch(/policy log-probability of example 0/);
      expect(engine.lora!.step).toBe(0);
      await engine.lora!.set(before);
      const res = await engine.povidStep(ex, { loss: lossParams, optimizer: { lr: 1e-3 } });
      expect(Number.isFinite(res.loss)).toBe(true);
      expect(engine.lora!.step).toBe(1);
      await expect(engine.lora!.set(new Map([['nope.lora_A.weight', new Float32Array(2)]]))).rejects.toThrow(EngineInputError);
    } finally {
      engine.destroy();
    }
  });

  it('refuses bad weights, configs and plans over the device limits', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 52);
    const opts = { maxBatch: 1, maxSeq: 8, weightDtype: 'f32' as const };
    const missing = new Map(weights);
    missing.delete('model.text_model.layers.1.mlp.down_proj.weight');
    await expect(Engine.create(ctx, TINY, missing, opts)).rejects.toThrow(WeightError);
    await expect(Engine.create(ctx, TINY, missing, opts)).rejects.toThrow(/layers\.1\.mlp\.down_proj\.weight \[72, 100\] is missing/);
    const wrong = new Map<string, RawTensor | Float32Array>(weights);
    const q = weights.get('model.text_model.layers.0.self_attn.q_proj.weight')!;
    wrong.set('model.text_model.layers.0.self_attn.q_proj.weight', {
      name: 'q',
      dtype: 'F32',
      shape: [72, 36],
      data: new Uint8Array(q.buffer, 0, 72 * 36 * 4),
    });
    await expect(Engine.create(ctx, TINY, wrong, opts)).rejects.toThrow(/shape \[72, 36\], expected \[72, 72\]/);
    await expect(Engine.create(ctx, TINY, weights, { ...opts, lora: { r: 0 } })).rejects.toThrow(ConfigError);
    await expect(Engine.create(ctx, TINY, weights, { ...opts, lora: { targets: ['q', 'x' as LoraTarget] } })).rejects.toThrow(ConfigError);
    await expect(Engine.create(ctx, TINY, weights, { ...opts, maxSeq: TINY.maxPositions + 1 })).rejects.toThrow(SequenceLengthError);
    // A plan whose MLP activations exceed the binding limit names the tensor, before any upload.
    const before = ctx.memory.current;
    const rows = Math.ceil(ctx.limits.maxStorageBufferBindingSize / (4 * TINY.intermediateSize)) + 1;
    const err = await Engine.create(ctx, TINY, weights, {
      ...opts,
      maxBatch: Math.ceil(rows / 256),
      maxSeq: 256,
      lora: { targets: LORA_TARGETS },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(GpuLimitError);
    expect(String(err.message)).toMatch(/layers\[0\]\.gate/);
    expect(ctx.memory.current).toBe(before);
    // Safetensors tensors with flat shapes are caught by name.
    const raw = new Map<string, RawTensor>();
    for (const [k, v] of weights) raw.set(k, { name: k, dtype: 'F32', shape: [v.length], data: new Uint8Array(v.buffer) });
    await expect(Engine.create(ctx, TINY, raw, opts)).rejects.toThrow(/embed_tokens\.weight: shape \[21672\], expected \[301, 72\]/);
  });
});
