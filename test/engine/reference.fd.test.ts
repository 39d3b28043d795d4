// (a) The float64 reference decoder's POVID backward against central finite differences on LoRA
// parameters spread over layers and targets (A and B), tiny config.
import { describe, expect, it } from 'vitest';
import { makeDecoderConfig } from '../../src/engine/config';
import { LORA_TARGETS, SMOLVLM_NAMES } from '../../src/engine/checkpoint';
import { loraLayout } from '../../src/engine/layout';
import { randomDecoderWeights } from '../../src/engine/params';
import { Rng } from '../../src/util/rng';
import { refWeights, type RefModel } from '../reference/decoder';
import { povidReference } from '../reference/povid';
import { makeExamples, refExamples } from './fixture';

const cfg = makeDecoderConfig({
  hiddenSize: 16,
  numLayers: 2,
  numHeads: 2,
  numKvHeads: 1,
  intermediateSize: 24,
  vocabSize: 37,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  maxPositions: 64,
  tieWordEmbeddings: false,
});

describe('reference decoder backward', () => {
  it('matches central finite differences of the POVID loss on LoRA A and B', () => {
    const lc = { r: 2, alpha: 4, targets: LORA_TARGETS, seed: 1 };
    const layout = loraLayout(cfg, lc, SMOLVLM_NAMES.prefix);
    const rng = new Rng(7);
    const values = new Map<string, Float64Array>();
    for (const t of layout.tensors)
      values.set(
        t.name,
        Float64Array.from({ length: t.count }, () => rng.normal() * (t.kind === 'A' ? 0.3 : 0.2)),
      );
    const m: RefModel = { cfg, w: refWeights(cfg, randomDecoderWeights(cfg, 3)), lora: { layout, values } };
    // The fixture's image token id is 300; remap into this vocabulary.
    const examples = refExamples(
      makeExamples(5, { ...cfg, vocabSize: 301 }, [
        { prompt: 6, image: 2, chosen: 3, rejected: 4 },
        { prompt: 5, image: 2, chosen: 4, rejected: 2 },
      ]),
    ).map((x) => {
      const fix = (s: typeof x.chosen) => ({
        ...s,
        tokens: s.tokens.map((v) => v % cfg.vocabSize),
        targets: s.targets.map((v) => (v < 0 ? v : v % cfg.vocabSize)),
        imageRows: s.imageRows.slice(0, s.imagePos.length * cfg.hiddenSize),
      });
      const rowsC = x.chosen.imagePos.length * cfg.hiddenSize;
      return { chosen: fix(x.chosen), rejected: fix(x.rejected), noisyImageRows: x.noisyImageRows.slice(0, rowsC) };
    });
    // The SFT term on the chosen answers too, so its gradient is checked with the rest.
    const params = { beta: 1, mode: 'povid' as const, wText: 0.5, wNoise: 0.5, sftWeight: 0.6 };
    const base = povidReference(m, examples, params);
    const loss = () => povidReference(m, examples, params, { yn: base.yn }).loss;
    expect(loss()).toBeCloseTo(base.loss, 12);

    const picks = [
      ['layers.0.self_attn.q_proj.lora_A', 0],
      ['layers.0.self_attn.k_proj.lora_B', 3],
      ['layers.0.self_attn.v_proj.lora_A', 17],
      ['layers.1.self_attn.o_proj.lora_B', 5],
      ['layers.0.mlp.gate_proj.lora_A', 9],
      ['layers.1.mlp.up_proj.lora_B', 11],
      ['layers.1.mlp.down_proj.lora_A', 30],
      ['layers.0.mlp.down_proj.lora_B', 2],
      ['layers.1.self_attn.q_proj.lora_B', 7],
    ] as const;
    const h = 1e-5;
    let worst = 0;
    for (const [suffix, i] of picks) {
      const name = `${SMOLVLM_NAMES.prefix}${suffix}.weight`;
      const x = values.get(name)!;
      const x0 = x[i];
      x[i] = x0 + h;
      const lp = loss();
      x[i] = x0 - h;
      const lm = loss();
      x[i] = x0;
      const fd = (lp - lm) / (2 * h);
      const an = base.grads.get(name)![i];
      const err = Math.abs(fd - an) / Math.max(Math.abs(an), 1e-6);
      worst = Math.max(worst, err);
      expect(Math.abs(an)).toBeGreaterThan(1e-7); // a real gradient, not a zero matched by zero
      expect(err).toBeLessThan(1e-6);
    }
    console.log(
      `reference POVID backward vs finite differences: max relative error ${worst.toExponential(2)} over ${picks.length} parameters`,
    );
  });
});
