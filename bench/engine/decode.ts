// Section `decode`: KV-cache generation (greedy, LoRA on) from the example's prompt: prefill
// time, then tokens per second after it; then the same prompt as a full batch of sequences
// decoding together (generateBatch), whose tokens per second over all sequences, divided by the
// one-sequence figure of the same run, is what batching buys.
import type { DecoderConfig, Engine, PovidExample } from '../../src/engine';
import { measure, round, type Budget } from '../timing';
import type { BenchHost, BenchOptions, Skipped } from '../types';
import { decodeGflop, PREFILL_SLACK } from './estimate';
import { fig, mean, type DecodeResult } from './results';
import { decodePrompt, type StepShape } from './workload';

export async function benchDecode(
  host: BenchHost,
  engine: Engine,
  cfg: DecoderConfig,
  example: PovidExample,
  shape: StepShape,
  opts: BenchOptions,
  budget: Budget,
  rate: number,
): Promise<DecodeResult | Skipped> {
  const g = decodeGflop(cfg, shape.promptTokens, shape.newTokens);
  const prefillEst = (g.prefill / rate) * PREFILL_SLACK;
  if (!budget.unlimited && !budget.fits(prefillEst))
    return {
      skipped: `a ${cfg.numLayers}-layer prefill of ${shape.promptTokens} tokens needs ~${prefillEst.toFixed(0)} s, over the ${budget.remaining().toFixed(0)} s budget`,
    };
  const newTokens = shape.newTokens;
  let note = '';
  const prompt = decodePrompt(example, shape);
  const prefill: number[] = [];
  const perToken: number[] = [];
  let tokens = 0;
  let stopReason = '';
  const m = await measure(
    async (n) => {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        let first = 0;
        let lastT = 0;
        const r = await engine.generate(prompt, {
          maxNewTokens: newTokens,
          onToken: (_tok, idx) => {
            lastT = performance.now();
            if (idx === 0) first = lastT;
            // Out of time: stop here (at least two tokens, for one decode step).
            if (idx >= 1 && !budget.unlimited && budget.remaining() <= 0) {
              note = `stopped after ${idx + 1} of ${newTokens} new tokens: the time budget ran out`;
              return false;
            }
          },
        });
        tokens = r.tokens.length;
        stopReason = r.stopReason;
        prefill.push(first - t0);
        if (tokens > 1) perToken.push((lastT - first) / (tokens - 1));
        host.progress(
          `decode: ${tokens} tokens, prefill ${(first - t0).toFixed(0)} ms, ${tokens > 1 ? ((1000 * (tokens - 1)) / (lastT - first)).toFixed(2) : '-'} tokens/s after it`,
        );
      }
    },
    {
      targetSeconds: opts.targetSeconds,
      minRuns: 1,
      maxRuns: opts.maxRuns,
      noWarmup: true,
      budgetMs: budget.unlimited ? undefined : budget.remaining() * 1000,
    },
  );
  const pt = mean(perToken);
  // The engine's whole batch at once: per-step time after the first token, over every sequence.
  let batched: DecodeResult['batched'];
  const B = engine.limits.maxBatch;
  const steps = Math.max(2, tokens);
  if (B > 1 && tokens > 1 && (budget.unlimited || budget.fits((2 * B * prefill[0] + (steps + 2) * pt) / 1000))) {
    const prompts = Array.from({ length: B }, () => prompt);
    await engine.generateBatch(prompts, { maxNewTokens: 2 }); // compiles the B-row decode pipelines
    let first = 0;
    let lastT = 0;
    let count = 0;
    await engine.generateBatch(prompts, {
      maxNewTokens: steps,
      onToken: (_tok, idx, seq) => {
        if (seq !== B - 1) return;
        lastT = performance.now();
        if (idx === 0) first = lastT;
        count = idx + 1;
      },
    });
    const ms = (lastT - first) / (count - 1);
    batched = {
      sequences: B,
      tokensPerSecond: fig((1000 * B) / ms, 'tokens/s', 1, { msPerIteration: round(ms) }),
      speedupOverOne: round(pt / (ms / B)),
    };
    host.progress(
      `decode: ${B} sequences together, ${((1000 * B) / ms).toFixed(2)} tokens/s (x${(pt / (ms / B)).toFixed(2)} one sequence's)`,
    );
  }
  return {
    shape: {
      layers: cfg.numLayers,
      promptTokens: shape.promptTokens,
      imageRows: shape.imageRows,
      newTokens,
      sampling: 'greedy',
      ...(note ? { note } : {}),
    },
    decodeTokensPerSecond: fig(1000 / pt, 'tokens/s', m.iterations, { msPerIteration: round(pt) }),
    prefill: fig(mean(prefill), 'ms', m.iterations),
    generate: fig(m.msPerIteration, 'ms', m.iterations, { msPerIteration: round(m.msPerIteration) }),
    tokensGenerated: tokens,
    stopReason,
    lora: true,
    ...(batched ? { batched } : {}),
  };
}
