import { describe, expect, it } from 'vitest';
import { KernelArgumentError } from '../../src/engine/errors';
import { POVID_STATS, PovidStat, povidLossForward, type PovidLossParams } from '../../src/engine/kernels/dpo';
import { Rng } from '../../src/util/rng';
import { maxRelError, testGpu } from '../helpers/gpu';
import * as ref from '../reference/dpo';

const MODES: PovidLossParams[] = [
  { mode: 'povid', beta: 0.1, wText: 0.5, wNoise: 0.5 },
  { mode: 'povid', beta: 0.3, wText: 0.7, wNoise: 0.2 },
  { mode: 'dpo-text', beta: 0.1, wText: 0.5, wNoise: 0.5 },
  { mode: 'weighted', beta: 0.1, wText: 0.5, wNoise: 0.5 },
  { mode: 'weighted', beta: 0.1, wText: 0.5, wNoise: 0.5, alpha: 0.2, beta1: 0.15, beta2: 0.05 },
  { mode: 'povid', beta: 0.1, wText: 0.5, wNoise: 0.5, sftWeight: 0.7 },
  { mode: 'dpo-text', beta: 0.1, wText: 0.5, wNoise: 0.5, sftWeight: 1 },
];
/** Answer tokens of the chosen sequences of a batch of E (for the SFT term): an odd count. */
const tokensOf = (E: number) => 13 * E + 4;
const label = (p: PovidLossParams) => `${p.mode}${p.alpha ? ' explicit weights' : ''}${p.sftWeight ? ` + SFT ${p.sftWeight}` : ''}`;

/** Per-sequence sums as the engine produces them: policy near reference, sums of ~20 token log-probs. */
function batch(E: number, rng: Rng, spread = 8): { policy: Float32Array; reference: Float32Array } {
  const policy = new Float32Array(3 * E);
  const reference = new Float32Array(3 * E);
  for (let i = 0; i < 3 * E; i++) {
    reference[i] = -5 - 40 * rng.next();
    policy[i] = reference[i] + spread * rng.normal();
  }
  return { policy, reference };
}

async function runGpu(E: number, policy: Float32Array, reference: Float32Array, params: PovidLossParams, tokens = tokensOf(E)) {
  const ctx = await testGpu();
  const loss = ctx.createBuffer('loss', 4);
  const dPolicy = ctx.createBuffer('dPolicy', 3 * E * 4);
  const stats = ctx.createBuffer('stats', POVID_STATS * E * 4);
  povidLossForward(
    ctx,
    loss,
    dPolicy,
    stats,
    ctx.createBufferFrom('policy', policy),
    ctx.createBufferFrom('reference', reference),
    E,
    params,
    tokens,
  );
  return { loss: await ctx.readF32(loss), dPolicy: await ctx.readF32(dPolicy), stats: await ctx.readF32(stats) };
}

function runRef(E: number, policy: ArrayLike<number>, reference: ArrayLike<number>, params: PovidLossParams, tokens = tokensOf(E)) {
  const loss = new Float64Array(1);
  const dPolicy = new Float64Array(3 * E);
  const stats = new Float64Array(POVID_STATS * E);
  ref.povidLossForward(loss, dPolicy, stats, Float64Array.from(policy), Float64Array.from(reference), E, params, tokens);
  return { loss, dPolicy, stats };
}

describe('povid loss kernel vs float64 reference', () => {
  // f32 inputs; the only f32 error is in D = policy - reference (|sums| <= 45) and in exp/log:
  // loss and gradients within max rel error 1e-4 (floor 1e-6), stats within 1e-4 (floor 1e-3).
  for (const E of [7, 130]) {
    for (const params of MODES) {
      it(`${label(params)} beta=${params.beta} E=${E}`, async () => {
        const rng = new Rng(100 + E);
        const { policy, reference } = batch(E, rng);
        const got = await runGpu(E, policy, reference, params);
        const want = runRef(E, policy, reference, params);
        expect(maxRelError(got.loss, want.loss, 1e-6).err).toBeLessThanOrEqual(1e-4);
        expect(maxRelError(got.dPolicy, want.dPolicy, 1e-6).err).toBeLessThanOrEqual(1e-4);
        expect(maxRelError(got.stats, want.stats, 1e-3).err).toBeLessThanOrEqual(1e-4);
        // Accuracy indicators are exact (no ties at this spread).
        for (let e = 0; e < E; e++) {
          expect(got.stats[e * POVID_STATS + PovidStat.textAccuracy]).toBe(want.stats[e * POVID_STATS + PovidStat.textAccuracy]);
          expect(got.stats[e * POVID_STATS + PovidStat.noiseAccuracy]).toBe(want.stats[e * POVID_STATS + PovidStat.noiseAccuracy]);
        }
        if (params.mode === 'dpo-text') for (let e = 0; e < E; e++) expect(got.dPolicy[3 * e + 2]).toBe(0);
        if (params.sftWeight) {
          // The SFT term is the batch's token-mean NLL of the chosen answers, added to the DPO loss.
          const dpo = runRef(E, policy, reference, { ...params, sftWeight: 0 });
          const nll = -policy.reduce((a, x, i) => (i % 3 === 0 ? a + x : a), 0) / tokensOf(E);
          expect(want.loss[0] - dpo.loss[0]).toBeCloseTo(params.sftWeight * nll, 9);
          expect(got.dPolicy[0] - dpo.dPolicy[0]).toBeCloseTo(-params.sftWeight / tokensOf(E), 6);
        }
      });
    }
  }

  it('stays finite for huge margins (softplus and sigmoid without overflow)', async () => {
    const E = 4;
    const reference = new Float32Array(3 * E).fill(-100);
    // Margins of +-2000 nats at beta = 0.1 are z = +-200, far past exp's f32 range.
    const policy = Float32Array.from(
      [-100, -3000, -3000, -3000, -100, -100, -100, -100, -3000, -3000, -3000, -3000].map((x, i) => x + (i === 9 ? 1000 : 0)),
    );
    for (const params of MODES) {
      const got = await runGpu(E, policy, reference, params);
      const want = runRef(E, policy, reference, params);
      for (const x of [...got.loss, ...got.dPolicy, ...got.stats]) expect(Number.isFinite(x)).toBe(true);
      expect(maxRelError(got.loss, want.loss, 1e-6).err).toBeLessThanOrEqual(1e-4);
      expect(maxRelError(got.dPolicy, want.dPolicy, 1e-6).err).toBeLessThanOrEqual(1e-4);
    }
  });

  it('dpo-text ignores a NaN in the unused noise slot', async () => {
    const E = 3;
    const { policy, reference } = batch(E, new Rng(5));
    policy[2] = NaN;
    const got = await runGpu(E, policy, reference, MODES[2]);
    expect(Number.isFinite(got.loss[0])).toBe(true);
    expect(got.dPolicy[2]).toBe(0);
    expect(Number.isFinite(got.dPolicy[0])).toBe(true);
  });

  it('rejects bad settings with a typed error', async () => {
    const ctx = await testGpu();
    const b = ctx.createBuffer('b', 64);
    expect(() => povidLossForward(ctx, b, b, b, b, b, 1, { mode: 'povid', beta: 0, wText: 0.5, wNoise: 0.5 })).toThrow(KernelArgumentError);
    expect(() => povidLossForward(ctx, b, b, b, b, b, 1, { mode: 'ipo' as 'povid', beta: 0.1, wText: 0.5, wNoise: 0.5 })).toThrow(
      /unknown mode/,
    );
    expect(() => povidLossForward(ctx, b, b, b, b, b, 0, MODES[0])).toThrow(KernelArgumentError);
    // The SFT term needs the chosen answers' token count, and a weight >= 0.
    const sft = { mode: 'povid', beta: 0.1, wText: 0.5, wNoise: 0.5, sftWeight: 1 } as const;
    expect(() => povidLossForward(ctx, b, b, b, b, b, 1, sft)).toThrow(/chosenTokens/);
    expect(() => povidLossForward(ctx, b, b, b, b, b, 1, { ...sft, sftWeight: -1 }, 5)).toThrow(/sftWeight/);
  });
});

describe('povid loss reference gradient vs central finite differences', () => {
  // Central differences in float64 with h = 1e-5: truncation ~h^2 * |L'''|, well under 1e-6.
  for (const params of MODES) {
    it(label(params), () => {
      const E = 5;
      const rng = new Rng(77);
      const policy = new Float64Array(3 * E);
      const reference = new Float64Array(3 * E);
      for (let i = 0; i < 3 * E; i++) {
        reference[i] = -20 * rng.next();
        policy[i] = reference[i] + 10 * rng.normal();
      }
      const want = runRef(E, policy, reference, params).dPolicy;
      const h = 1e-5;
      const fd = new Float64Array(3 * E);
      for (let i = 0; i < 3 * E; i++) {
        const p = Float64Array.from(policy);
        p[i] = policy[i] + h;
        const lp = runRef(E, p, reference, params).loss[0];
        p[i] = policy[i] - h;
        const lm = runRef(E, p, reference, params).loss[0];
        fd[i] = (lp - lm) / (2 * h);
      }
      expect(maxRelError(want, fd, 1e-6).err).toBeLessThanOrEqual(1e-6);
      // The gradient is not trivially zero.
      expect(Math.max(...Array.from(want, Math.abs))).toBeGreaterThan(1e-3);
    });
  }
});
