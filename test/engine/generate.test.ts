// (e) KV-cache decoding against full recompute (same tokens, logits within 1e-5) and the float64
// reference; greedy decoding without kept logits (argmax on the GPU) picks the same tokens as the
// logits read back; seeded sampling is deterministic; stop token, callback and capacity end generation.
// Batched generation (prompts of different lengths decoded together) gives each prompt's tokens.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/decoder';
import type { GenerateResult } from '../../src/engine/generate';
import { LORA_TARGETS } from '../../src/engine/checkpoint';
import { randomDecoderWeights } from '../../src/engine/params';
import { Rng } from '../../src/util/rng';
import { decoderForward as refForward, refLora, refWeights, rowLogits, type RefModel } from '../reference/decoder';
import { IMAGE_TOKEN, makePrompt, maxAbs, randomLoraValues, TINY, toRef, engineGpu } from './fixture';

const lc = { r: 4, alpha: 8, targets: LORA_TARGETS, seed: 6 };

describe('generation with a KV cache', () => {
  it('matches full recompute and the reference, is deterministic for a seed, and stops', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 31);
    const engine = await Engine.create(ctx, TINY, weights, {
      maxBatch: 2,
      maxSeq: 30,
      lora: lc,
      weightDtype: 'f32',
      imageTokenId: IMAGE_TOKEN,
    });
    try {
      await engine.lora!.set(randomLoraValues(8, await engine.lora!.get(), 0.2));
      const p = makePrompt(new Rng(3), TINY, 13, 4);
      const prompt = { tokens: p.prompt, image: { features: p.features } }; // positions from imageTokenId
      const n = 8;
      const gen = await engine.generate(prompt, { maxNewTokens: n, keepLogits: true });
      expect(gen.tokens.length).toBe(n);
      expect(gen.stopReason).toBe('length');

      const m: RefModel = { cfg: TINY, w: refWeights(TINY, weights), lora: refLora(TINY, lc, await engine.lora!.get()) };
      const imagePos = p.prompt.flatMap((t, i) => (t === IMAGE_TOKEN ? [i] : []));
      let worstFull = 0;
      let worstRef = 0;
      for (let i = 0; i < n; i++) {
        const tokens = [...p.prompt, ...gen.tokens.slice(0, i)];
        const full = await engine.forward([{ tokens, image: prompt.image }], { lora: true, lastLogits: true });
        const a = gen.logits![i];
        const b = full.lastLogits![0];
        let d = 0;
        for (let j = 0; j < a.length; j++) d = Math.max(d, Math.abs(a[j] - b[j]));
        worstFull = Math.max(worstFull, d);
        let best = 0;
        for (let j = 1; j < b.length; j++) if (b[j] > b[best]) best = j;
        expect(gen.tokens[i]).toBe(best);
        const f = refForward(m, toRef({ tokens, image: { features: p.features, positions: imagePos } }), true);
        const r = rowLogits(m, f, tokens.length - 1);
        let dr = 0;
        for (let j = 0; j < a.length; j++) dr = Math.max(dr, Math.abs(a[j] - r[j]));
        worstRef = Math.max(worstRef, dr / maxAbs(r));
      }
      console.log(
        `KV-cache decoding: max |logit difference| vs full recompute ${worstFull.toExponential(2)}, vs float64 reference (relative) ${worstRef.toExponential(2)} over ${n} tokens`,
      );
      expect(worstFull).toBeLessThanOrEqual(1e-5);
      expect(worstRef).toBeLessThanOrEqual(1e-5);

      // Greedy without keepLogits reads only each row's argmax from the fused log-softmax kernel.
      const fast = await engine.generate(prompt, { maxNewTokens: n });
      expect(fast.logits).toBeUndefined();
      expect(fast.tokens).toEqual(gen.tokens);

      // LoRA off decodes the base model: different logits from the adapted one.
      const base = await engine.generate(prompt, { maxNewTokens: 1, lora: false, keepLogits: true });
      expect(maxAbs(base.logits![0].map((v, j) => v - gen.logits![0][j]))).toBeGreaterThan(1e-3);

      // Seeded sampling is reproducible.
      const s1 = await engine.generate(prompt, { maxNewTokens: n, temperature: 1, topP: 0.9, seed: 7 });
      const s2 = await engine.generate(prompt, { maxNewTokens: n, temperature: 1, topP: 0.9, seed: 7 });
      expect(s2.tokens).toEqual(s1.tokens);

      // Stop token (included), callback, capacity.
      const stopAt = gen.tokens.indexOf(gen.tokens[3]);
      const stopped = await engine.generate(prompt, { maxNewTokens: n, stopTokens: [gen.tokens[3]] });
      expect(stopped.stopReason).toBe('stop');
      expect(stopped.tokens).toEqual(gen.tokens.slice(0, stopAt + 1));
      const seen: number[] = [];
      const cb = await engine.generate(prompt, { maxNewTokens: n, onToken: (t, i) => (seen.push(t), i < 1) });
      expect(cb.stopReason).toBe('callback');
      expect(seen).toEqual(gen.tokens.slice(0, 2));
      const long = await engine.generate(prompt, { maxNewTokens: 100 });
      expect(long.stopReason).toBe('capacity');
      expect(long.tokens.length).toBe(30 - 13 + 1); // the last cache row feeds the last token
      expect(long.tokens.slice(0, n)).toEqual(gen.tokens);
    } finally {
      engine.destroy();
    }
  });

  it('decodes prompts of different lengths together, each as if alone', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 32);
    const engine = await Engine.create(ctx, TINY, weights, {
      maxBatch: 3,
      maxSeq: 30,
      lora: lc,
      weightDtype: 'f32',
      imageTokenId: IMAGE_TOKEN,
    });
    try {
      await engine.lora!.set(randomLoraValues(9, await engine.lora!.get(), 0.2));
      const rng = new Rng(5);
      // 13, 7 and 10 tokens: the shorter prompts are padded in the prefill and in the cache.
      const prompts = [13, 7, 10].map((len) => {
        const p = makePrompt(rng, TINY, len, 3);
        return { tokens: p.prompt, image: { features: p.features } };
      });
      const n = 9;
      const alone: GenerateResult[] = [];
      for (const p of prompts) alone.push(await engine.generate(p, { maxNewTokens: n, keepLogits: true }));
      const batch = await engine.generateBatch(prompts, { maxNewTokens: n, keepLogits: true });
      let worst = 0;
      batch.forEach((g, b) => {
        expect(g.tokens).toEqual(alone[b].tokens);
        g.logits!.forEach((l, i) => (worst = Math.max(worst, maxAbs(l.map((v, j) => v - alone[b].logits![i][j])))));
      });
      console.log(`batched decoding of 3 prompts: max |logit difference| vs one at a time ${worst.toExponential(2)} over ${n} tokens`);
      expect(worst).toBeLessThanOrEqual(1e-5);
      // The argmax-only path, and the adapter off, agree too.
      const fast = await engine.generateBatch(prompts, { maxNewTokens: n });
      expect(fast.map((g) => g.tokens)).toEqual(alone.map((g) => g.tokens));
      const base = await engine.generateBatch(prompts, { maxNewTokens: 4, lora: false });
      for (const [b, p] of prompts.entries())
        expect(base[b].tokens).toEqual((await engine.generate(p, { maxNewTokens: 4, lora: false })).tokens);

      // One sequence stops (its stop token, included) while the others go on.
      const stop = alone[1].tokens[2];
      const stopped = await engine.generateBatch(prompts, { maxNewTokens: n, stopTokens: [stop] });
      stopped.forEach((g, b) => {
        const at = alone[b].tokens.indexOf(stop);
        expect(g.stopReason).toBe(at >= 0 ? 'stop' : 'length');
        expect(g.tokens).toEqual(at >= 0 ? alone[b].tokens.slice(0, at + 1) : alone[b].tokens);
      });
      expect(stopped[1].tokens.length).toBeLessThanOrEqual(3);
      // Capacity counts cache rows from the longest prompt.
      const long = await engine.generateBatch(prompts, { maxNewTokens: 100 });
      for (const g of long) expect(g.stopReason).toBe('capacity');
      expect(long[1].tokens.length).toBe(30 - 13 + 1);
      expect(long[1].tokens.slice(0, n)).toEqual(alone[1].tokens);
      await expect(engine.generateBatch([...prompts, prompts[0]], { maxNewTokens: 1 })).rejects.toThrow(/maxBatch 3/);
    } finally {
      engine.destroy();
    }
  });
});
