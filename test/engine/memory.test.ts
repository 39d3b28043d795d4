// The engine's memory report is the sum of every buffer it created: the GPU context's own count
// of created bytes grows by exactly engine.memory().total at creation and not at all during a
// POVID step, a step without an update (the timed probe before a run), a forward pass, a generation
// and a generation stopped by its callback (Stop) (every buffer they use belongs to the plan).
import { describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../../src/engine/decoder';
import { LORA_TARGETS } from '../../src/engine/checkpoint';
import { randomDecoderWeights } from '../../src/engine/params';
import { Rng } from '../../src/util/rng';
import { IMAGE_TOKEN, makeExamples, makePrompt, randomLoraValues, TINY, engineGpu } from './fixture';

const lossParams = { beta: 0.1, mode: 'povid' as const, wText: 0.5, wNoise: 0.5 };

async function check(opts: EngineOptions, step: boolean) {
  const ctx = await engineGpu();
  const before = { current: ctx.memory.current, created: ctx.memory.created };
  const engine = await Engine.create(ctx, TINY, randomDecoderWeights(TINY, 4), opts);
  try {
    const m = engine.memory();
    expect(m.total).toBe(m.weights + m.lora + m.activations + m.scratch);
    if (opts.lora !== null) {
      const floats = engine.lora!.layout.totalFloats;
      expect(m.lora, 'LoRA parameters, gradients and both Adam moments').toBe(4 * floats * 4);
    } else expect(m.lora).toBe(0);
    expect(ctx.memory.created - before.created, 'created at engine creation').toBe(m.total);
    expect(ctx.memory.current - before.current, 'held after creation').toBe(m.total);
    const afterCreate = ctx.memory.created;

    if (step) {
      await engine.lora!.set(randomLoraValues(2, await engine.lora!.get(), 0.1));
      const examples = makeExamples(3, TINY, [
        { prompt: 14, image: 4, chosen: 6, rejected: 8 },
        { prompt: 12, image: 4, chosen: 5, rejected: 4 },
      ]);
      const res = await engine.povidStep(examples, { loss: lossParams, optimizer: { lr: 1e-3, maxGradNorm: 1 } });
      expect(Number.isFinite(res.loss)).toBe(true);
      await engine.forward([examples[0].chosen, examples[1].rejected], { lora: true, lastLogits: true });
      const probe = await engine.povidStep(examples, { loss: lossParams, optimizer: { lr: 0 }, zeroGrads: true, update: false });
      expect(Number.isFinite(probe.loss)).toBe(true);
    }
    const p = makePrompt(new Rng(5), TINY, 11, 4);
    const gen = await engine.generate({ tokens: p.prompt, image: { features: p.features } }, { maxNewTokens: 5 });
    expect(gen.tokens.length).toBe(5);
    const stopped = await engine.generate(
      { tokens: p.prompt, image: { features: p.features } },
      { maxNewTokens: 5, onToken: (_tok, i) => (i === 1 ? false : undefined) },
    );
    expect(stopped.stopReason).toBe('callback');
    expect(stopped.tokens).toEqual(gen.tokens.slice(0, 2));
    await ctx.sync();
    expect(ctx.memory.created - afterCreate, 'bytes allocated by the steps, the forward and the generations').toBe(0);
    expect(ctx.memory.current - before.current, 'held after the step and the generation').toBe(m.total);
    expect(engine.memory().total).toBe(m.total);
    console.log(
      `engine memory (${opts.lora === null ? 'no adapter' : 'LoRA, training'}): weights ${m.weights}, lora ${m.lora}, activations ${m.activations}, scratch ${m.scratch}, total ${m.total} B = context count ${ctx.memory.created - before.created} B`,
    );
  } finally {
    engine.destroy();
  }
  expect(ctx.memory.current, 'all freed by destroy()').toBe(before.current);
}

describe('engine memory report vs the GPU context count', () => {
  it('training engine with LoRA: creation, a POVID step, a forward pass and a generation', () =>
    check(
      { maxBatch: 4, maxSeq: 32, lora: { r: 4, alpha: 8, targets: LORA_TARGETS, seed: 1 }, weightDtype: 'bf16', imageTokenId: IMAGE_TOKEN },
      true,
    ));
  it('engine without an adapter: creation and a generation', () =>
    check({ maxBatch: 2, maxSeq: 24, lora: null, weightDtype: 'f32', imageTokenId: IMAGE_TOKEN }, false));
});
