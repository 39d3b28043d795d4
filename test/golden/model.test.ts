// The engine against an outside oracle: the built-in model as transformers runs it in float64
// (scripts/golden/model.py, `npm run golden`), the adapter as PEFT loads it from the files the
// app's exporter writes, and the LoRA gradients of one POVID step by torch autograd in float64.
// Every input (token ids, image features, the adapter) and every expected number comes from
// test/golden/. Tolerances:
//   logits: max abs error <= 1e-6 x the largest |logit| of the oracle (float32 rounding is
//   relative; the pretrained model's logits reach about 30, the seed-only model's 10, where this is
//   the 1e-5 it was); per-token log-probs, a log-sum-exp over all 49,280 logits: <= 2e-6 x the same;
//   log-prob sums (a few hundred nats, float32 in the engine): <= 1e-6 relative, or 5e-5 absolute
//   for a sum of a few tokens (y_n's sum can be 8 nats; each token may be off by the per-token
//   tolerance, 2e-6 x logits of about 30);
//   LoRA gradients: max |engine - torch| / max |torch| <= 1e-4 per tensor.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type PovidExample } from '../../src/engine';
import { decoderNames, loraName } from '../../src/engine/checkpoint';
import { BUILTIN_BASE_MODEL, peftFromEngine, readPeftAdapter } from '../../src/export/peft';
import type { GpuContext } from '../../src/gpu';
import type { ModelBundle } from '../../src/model/bundle';
import { testGpu } from '../helpers/gpu';
import { loadTinyBundle } from '../train/tiny-model';
import { answerTargets, GOLDEN_ADAPTER_DIR, loadModelGolden, maxAbs, maxAbsDiff, type ModelGolden } from './golden';

const LOGIT_TOL = 1e-5;
const LOGIT_REL_TOL = 1e-6;
const LOGPROB_REL_TOL = 2e-6;
const SUM_REL_TOL = 1e-6;
const SUM_ABS_TOL = 5e-5;
const GRAD_REL_TOL = 1e-4;

type NoiseReference = 'own-argmax' | 'policy-argmax';

describe('engine vs transformers / PEFT / torch autograd (float64) on the built-in model', () => {
  let ctx: GpuContext;
  let bundle: ModelBundle;
  let engine: Engine;
  let golden: ModelGolden;
  let array: (name: string) => Float32Array;
  let names: string[];
  let adapterFiles: { config: Uint8Array; weights: Uint8Array };
  let features: Float32Array;
  let logitScale: number;
  const seqs = () => {
    const P = golden.prompt_ids.length;
    const seq = (answer: number[]) => {
      const tokens = [...golden.prompt_ids, ...answer];
      return { tokens, targets: answerTargets(P, tokens), image: { features } };
    };
    return { chosen: seq(golden.chosen_ids), rejected: seq(golden.rejected_ids) };
  };

  beforeAll(async () => {
    ({ golden, array, names } = await loadModelGolden());
    features = array('image_features');
    logitScale = maxAbs(array('base.last_logits'));
    ctx = await testGpu();
    bundle = await loadTinyBundle();
    adapterFiles = {
      config: new Uint8Array(readFileSync(join(GOLDEN_ADAPTER_DIR, 'adapter_config.json'))),
      weights: new Uint8Array(readFileSync(join(GOLDEN_ADAPTER_DIR, 'adapter_model.safetensors'))),
    };
    const { spec, matrices } = readPeftAdapter(adapterFiles.config, adapterFiles.weights);
    const P = golden.prompt_ids.length;
    engine = await Engine.create(ctx, bundle.config.decoder, bundle.decoderTensors, {
      maxBatch: 2,
      maxSeq: P + Math.max(golden.chosen_ids.length, golden.rejected_ids.length),
      lora: { r: spec.r, alpha: spec.alpha, targets: spec.targets, seed: 0 },
      imageTokenId: golden.image_token_id,
      names: decoderNames(bundle.decoderPrefix),
    });
    // As the Worker loads an adapter file into the engine.
    const values = new Map<string, Float32Array>();
    for (const m of matrices) {
      values.set(loraName(bundle.decoderPrefix, m.layer, m.target, 'A'), m.A);
      values.set(loraName(bundle.decoderPrefix, m.layer, m.target, 'B'), m.B);
    }
    await engine.lora!.set(values);
  });
  afterAll(() => engine?.destroy());

  it('feeds the same prompt the oracle used: its image tokens match the stored feature rows', () => {
    const C = bundle.config.decoder.hiddenSize;
    expect(features.length % C).toBe(0);
    expect(golden.prompt_ids.filter((t) => t === golden.image_token_id)).toHaveLength(features.length / C);
    expect(golden.chosen_ids.at(-1)).toBe(golden.rejected_ids.at(-1)); // both end with <end_of_utterance>
  });

  it(`last-position logits of the prompt with its image, adapter off, match transformers within ${LOGIT_REL_TOL} x max |logit|`, async () => {
    const want = array('base.last_logits');
    const out = await engine.forward([{ tokens: golden.prompt_ids, image: { features } }], { lora: false, lastLogits: true });
    const err = maxAbsDiff(out.lastLogits![0], want);
    console.log(`base last logits: max abs error ${err.toExponential(2)} over ${want.length} (max |logit| ${maxAbs(want).toFixed(2)})`);
    expect(err).toBeLessThanOrEqual(LOGIT_REL_TOL * logitScale);
  });

  const compareAnswers = async (lora: boolean, want: ModelGolden['base']) => {
    const { chosen, rejected } = seqs();
    const out = await engine.forward([chosen, rejected], { lora });
    const perToken = Math.max(maxAbsDiff(out.tokenLogprobs[0], want.chosen), maxAbsDiff(out.tokenLogprobs[1], want.rejected));
    const sumRel = Math.max(
      Math.abs(out.logprobSums[0] - want.chosen_sum) / Math.abs(want.chosen_sum),
      Math.abs(out.logprobSums[1] - want.rejected_sum) / Math.abs(want.rejected_sum),
    );
    console.log(
      `answer log-probs (adapter ${lora ? 'on' : 'off'}): per token max abs error ${perToken.toExponential(2)}, sums max relative error ${sumRel.toExponential(2)} (sums ${want.chosen_sum.toFixed(3)}, ${want.rejected_sum.toFixed(3)})`,
    );
    expect(out.tokenLogprobs[0]).toHaveLength(golden.chosen_ids.length);
    expect(perToken).toBeLessThanOrEqual(LOGPROB_REL_TOL * logitScale);
    expect(sumRel).toBeLessThanOrEqual(SUM_REL_TOL);
  };

  it(`answer log-probs per token and summed, adapter off, match transformers`, async () => {
    await compareAnswers(false, golden.base);
  });

  it('the committed adapter is byte for byte what the exporter writes from the engine', async () => {
    const files = peftFromEngine(engine.lora!.layout, await engine.lora!.get(), BUILTIN_BASE_MODEL, bundle.decoderPrefix);
    expect(Buffer.from(files['adapter_config.json']).equals(Buffer.from(adapterFiles.config))).toBe(true);
    expect(Buffer.from(files['adapter_model.safetensors']).equals(Buffer.from(adapterFiles.weights))).toBe(true);
  });

  it(`with that adapter loaded by PeftModel: last logits within ${LOGIT_REL_TOL} x max |logit| and answer log-probs match`, async () => {
    const want = array('peft.last_logits');
    const out = await engine.forward([{ tokens: golden.prompt_ids, image: { features } }], { lora: true, lastLogits: true });
    const err = maxAbsDiff(out.lastLogits![0], want);
    const moved = maxAbsDiff(want, array('base.last_logits'));
    console.log(`PEFT last logits: max abs error ${err.toExponential(2)}; the adapter moves them by up to ${moved.toFixed(3)}`);
    expect(moved).toBeGreaterThan(100 * LOGIT_TOL); // the adapter is not a no-op, so this compares something
    expect(err).toBeLessThanOrEqual(LOGIT_REL_TOL * Math.max(logitScale, maxAbs(want)));
    await compareAnswers(true, golden.peft);
  });

  /** The release's loss settings; noiseReference picks the reference side of the noise term. */
  const lossFor = (noiseReference: NoiseReference) => {
    const loss = {
      beta: golden.povid.beta,
      mode: 'povid' as const,
      wText: golden.povid.w_text,
      wNoise: golden.povid.w_noise,
      noiseReference,
    };
    return loss;
  };

  const compareStep = async (definition: NoiseReference) => {
    const want = golden.povid[definition];
    const { chosen, rejected } = seqs();
    const example: PovidExample = { chosen, rejected, noisyImage: array('noisy_image_features') };
    const res = await engine.povidStep([example], { loss: lossFor(definition), optimizer: { lr: 0 }, update: false });
    const r = res.examples[0];
    expect(Array.from(r.yn)).toEqual(golden.povid.yn_policy); // the policy's argmax under the noisy image
    for (const side of ['policy', 'reference'] as const)
      for (const k of ['chosen', 'text', 'noise'] as const) {
        const err = Math.abs(r[side][k] - want[side][k]);
        const tol = Math.max(SUM_REL_TOL * Math.abs(want[side][k]), SUM_ABS_TOL);
        expect(err, `${side} ${k}: engine ${r[side][k]}, torch ${want[side][k]}`).toBeLessThanOrEqual(tol);
      }
    expect(Math.abs(res.loss - want.loss)).toBeLessThanOrEqual(1e-5);

    const grads = await engine.lora!.getGrads();
    const prefix = `grad.${definition}.`;
    const wanted = names.filter((n) => n.startsWith(prefix));
    expect(wanted.length).toBe(grads.size);
    let worst = { rel: 0, name: '' };
    for (const n of wanted) {
      const name = n.slice(prefix.length);
      const g = grads.get(name);
      expect(g, `the engine has no gradient for ${name}`).toBeDefined();
      const t = array(n);
      const rel = maxAbsDiff(g!, t) / maxAbs(t);
      expect(maxAbs(t), `${name}: torch's gradient is zero`).toBeGreaterThan(0);
      if (rel > worst.rel) worst = { rel, name };
      expect(rel, name).toBeLessThanOrEqual(GRAD_REL_TOL);
    }
    console.log(
      `POVID (${definition}) loss ${res.loss.toFixed(6)} vs ${want.loss.toFixed(6)}; LoRA gradients: worst max|diff|/max|g| ${worst.rel.toExponential(2)} (${worst.name}) over ${wanted.length} tensors`,
    );
  };

  it(`LoRA gradients of one POVID step, the policy's y_n scored by the reference ('policy-argmax'), match float64 autograd within ${GRAD_REL_TOL}`, async () => {
    await compareStep('policy-argmax');
  });

  // The release's definition: the reference's own argmax under the noisy image, gathered from the
  // reference's clean-image logits. Needs the engine's `noiseReference` loss option.
  it(`LoRA gradients of one POVID step, the release's definition ('own-argmax'), match float64 autograd within ${GRAD_REL_TOL}`, async () => {
    await compareStep('own-argmax');
  });

  it('the two definitions differ on this example, so the tests above tell them apart', () => {
    expect(golden.povid.yn_reference).not.toEqual(golden.povid.yn_policy);
    expect(Math.abs(golden.povid['own-argmax'].loss - golden.povid['policy-argmax'].loss)).toBeGreaterThan(1e-3);
  });
});
