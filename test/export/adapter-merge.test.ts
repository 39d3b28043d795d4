// The downloaded adapter means what the engine computed: read the PEFT files back, merge them
// into the base weights in float64 (W + (alpha / r) B A, as PEFT's merge does) and compare the
// plain reference decoder's logits with the engine's adapter-on logits.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine';
import { TARGET_MODULE, type LoraTarget } from '../../src/engine/checkpoint';
import { randomDecoderWeights } from '../../src/engine/params';
import { peftFromEngine, readPeftAdapter } from '../../src/export/peft';
import { parseSafetensorsHeader } from '../../src/model/safetensors';
import { Rng } from '../../src/util/rng';
import { engineGpu, TINY } from '../engine/fixture';
import { decoderForward, refSequence, refWeights, rowLogits } from '../reference/decoder';

describe('exported adapter vs the engine', () => {
  it('merged into the base weights by the float64 reference, reproduces adapter-on logits within 1e-4', async () => {
    const ctx = await engineGpu();
    const weights = randomDecoderWeights(TINY, 5);
    const lc = { r: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as LoraTarget[], seed: 3 };
    const engine = await Engine.create(ctx, TINY, weights, { maxBatch: 1, maxSeq: 64, lora: lc, weightDtype: 'f32' });
    try {
      // A trained-looking adapter: B non-zero everywhere.
      const rng = new Rng(9);
      const values = await engine.lora!.get();
      for (const [name, v] of values) if (name.includes('lora_B')) for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.05;
      await engine.lora!.set(values);

      const files = peftFromEngine(
        engine.lora!.layout,
        await engine.lora!.get(),
        'HuggingFaceTB/SmolVLM-256M-Instruct',
        'model.text_model.',
      );
      const bytes = files['adapter_model.safetensors'];
      const header = parseSafetensorsHeader(bytes, 'adapter_model.safetensors', bytes.length);
      expect(header.tensors.get('base_model.model.model.text_model.layers.1.mlp.down_proj.lora_A.weight')!.shape).toEqual([
        4,
        TINY.intermediateSize,
      ]);
      const { spec, matrices } = readPeftAdapter(files['adapter_config.json'], bytes);
      expect(spec).toMatchObject({ r: 4, alpha: 8 });
      expect(matrices.length).toBe(TINY.numLayers * 7);

      // Merge in float64: W' = W + (alpha / r) B A.
      const merged = new Map<string, Float32Array>();
      for (const [k, v] of weights) merged.set(k, v);
      const scale = spec.alpha / spec.r;
      const merged64 = new Map<string, Float64Array>();
      for (const m of matrices) {
        const name = `model.text_model.layers.${m.layer}.${TARGET_MODULE[m.target]}.weight`;
        const W = Float64Array.from(weights.get(name)!);
        for (let o = 0; o < m.outFeatures; o++)
          for (let i = 0; i < m.inFeatures; i++) {
            let s = 0;
            for (let r = 0; r < spec.r; r++) s += m.B[o * spec.r + r] * m.A[r * m.inFeatures + i];
            W[o * m.inFeatures + i] += scale * s;
          }
        merged64.set(name, W);
      }
      const ref = { cfg: TINY, w: refWeights(TINY, merged), lora: null };
      // Put the float64 merged matrices in, not their f32 copies.
      for (let l = 0; l < TINY.numLayers; l++)
        for (const t of Object.keys(TARGET_MODULE) as LoraTarget[])
          ref.w.layers[l].linear[t] = merged64.get(`model.text_model.layers.${l}.${TARGET_MODULE[t]}.weight`)!;

      const tokens = Array.from({ length: 23 }, () => 1 + rng.int(TINY.vocabSize - 1));
      const out = await engine.forward([{ tokens }], { lora: true, lastLogits: true });
      const refLogits = rowLogits(ref, decoderForward(ref, refSequence({ tokens }), false), tokens.length - 1);
      const got = out.lastLogits![0];
      let err = 0;
      let scaleL = 0;
      for (let v = 0; v < got.length; v++) {
        err = Math.max(err, Math.abs(got[v] - refLogits[v]));
        scaleL = Math.max(scaleL, Math.abs(refLogits[v]));
      }
      console.log(
        `adapter merged in float64 vs engine adapter-on logits: max abs error ${err.toExponential(2)} (max |logit| ${scaleL.toFixed(3)})`,
      );
      expect(err).toBeLessThan(1e-4);
      // And the adapter matters: without it the logits differ.
      const off = await engine.forward([{ tokens }], { lora: false, lastLogits: true });
      let diff = 0;
      for (let v = 0; v < got.length; v++) diff = Math.max(diff, Math.abs(off.lastLogits![0][v] - got[v]));
      expect(diff).toBeGreaterThan(1e-2);
    } finally {
      engine.destroy();
    }
  });
});
