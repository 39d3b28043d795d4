// The trainer's progress stream on the built-in tiny model (Node, WebGPU on SwiftShader): the
// reference stage reports n/N, each step starts with a 'training' report, a pause is reported
// only between steps and no step ends after it until resume, cancel ends the run at once; the
// timed probe leaves the adapter as it was; answer scores match the engine's own sums.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateRun } from '../../src/povid/estimate';
import { DEFAULT_TRAIN_CONFIG, type StepMetrics, type TrainConfig, type TrainProgress } from '../../src/povid/config';
import { noisyPixels } from '../../src/povid/noise';
import { toSequence, type TrainExample } from '../../src/povid/prepare';
import { PovidTrainer } from '../../src/povid/trainer';
import { scoreAnswers } from '../../src/worker/answer-scores';
import { probeTimings } from '../../src/worker/probe';
import type { GpuContext } from '../../src/gpu';
import { testGpu } from '../helpers/gpu';
import { discImage, loadTinySession, type TinySession } from './tiny-model';

const CONFIG: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  loraRank: 4,
  loraAlpha: 8,
  learningRate: 1e-2,
  warmupRatio: 0,
  steps: 4,
  seed: 3,
  evalEvery: 0,
  checkpointEvery: 0,
};

type Event = { kind: 'progress'; p: TrainProgress; at: number } | { kind: 'step'; step: number };

describe('training progress on the built-in tiny model', () => {
  let ctx: GpuContext;
  let s: TinySession;
  let data: TrainExample[];
  const fresh = () => data.map((e) => ({ ...e, reference: undefined }));
  beforeAll(async () => {
    ctx = await testGpu();
    s = await loadTinySession(ctx, { r: CONFIG.loraRank, alpha: CONFIG.loraAlpha, seed: CONFIG.seed });
    const S = s.vision.imageSize;
    data = [];
    for (const [i, [q, a, b]] of [
      ['What is in the picture?', 'A red ball on a green lawn.', 'A blue ball on a green lawn.'],
      ['Describe the image.', 'A yellow sun in a blue sky.', 'A yellow moon in a blue sky.'],
    ].entries()) {
      const pixels = discImage(S, [220, 30 + 100 * i, 30], [40, 160, 60], 0.4, 0.5, 0.2);
      const features = await s.vision.encode(pixels);
      data.push({
        id: `ex${i}`,
        chosen: toSequence(s.tokenizer.buildExample(q, a, s.vision.imageSeqLen), features),
        rejected: toSequence(s.tokenizer.buildExample(q, b, s.vision.imageSeqLen), features),
        pixels,
      });
    }
  });
  afterAll(() => {
    s?.engine.destroy();
    s?.vision.dispose();
  });

  it('reports each stage, pauses only between steps and runs no step while paused', { timeout: 900_000 }, async () => {
    const events: Event[] = [];
    const trainer = new PovidTrainer({ engine: s.engine, encodeImage: (p) => s.vision.encode(p) }, fresh(), [], CONFIG, 'progress');
    let resumeAt = 0;
    const res = trainer.run({
      onProgress: (p) => {
        events.push({ kind: 'progress', p, at: performance.now() });
        if (p.phase === 'paused') {
          // Resume a while later, long enough for a step to have ended had one run.
          setTimeout(() => {
            resumeAt = events.length;
            trainer.resume();
          }, 1500);
        }
      },
      onStep: (m: StepMetrics) => {
        events.push({ kind: 'step', step: m.step });
        if (m.step === 1) trainer.pause(); // asked for after step 1: step 2 must not start
      },
    });
    expect(await res).toEqual({ steps: 4, stopped: 'done' });

    const progress = events.flatMap((e) => (e.kind === 'progress' ? [e.p] : []));
    const reference = progress.filter((p) => p.phase === 'reference');
    expect(reference.map((p) => [p.done, p.total])).toEqual([
      [0, 2],
      [1, 2],
      [2, 2],
    ]);
    expect(reference[0].etaSeconds).toBeNull();
    expect(reference[1].etaSeconds).not.toBeNull();
    expect(reference[2].etaSeconds).toBe(0);
    expect(progress.filter((p) => p.phase === 'training').map((p) => p.done)).toEqual([0, 1, 2, 3]);

    const pausedAt = events.findIndex((e) => e.kind === 'progress' && e.p.phase === 'paused');
    expect(pausedAt).toBeGreaterThan(0);
    const paused = (events[pausedAt] as { p: TrainProgress }).p;
    expect(paused.done).toBe(1);
    // Nothing happened between "paused" and resume; the next event is step 2 starting.
    expect(resumeAt).toBe(pausedAt + 1);
    expect(events[pausedAt + 1]).toEqual({
      kind: 'progress',
      p: expect.objectContaining({ phase: 'training', done: 1 }),
      at: expect.any(Number),
    });
    const steps = events.flatMap((e, i) => (e.kind === 'step' ? [[e.step, i]] : []));
    expect(steps.map(([st]) => st)).toEqual([1, 2, 3, 4]);
    expect(steps.filter(([, i]) => i > pausedAt && i < resumeAt)).toEqual([]);
    // The paused time (at least 1.5 s) does not count as elapsed training time.
    const starts = events.flatMap((e) => (e.kind === 'progress' && e.p.phase === 'training' ? [e] : []));
    const [start1, start2] = [starts[0], starts[1]];
    const wall = (start2.at - start1.at) / 1000;
    expect(start2.p.elapsedSeconds - start1.p.elapsedSeconds).toBeLessThan(wall - 1.4);
    expect(start2.p.elapsedSeconds - start1.p.elapsedSeconds).toBeGreaterThan(0);
    expect(start2.p.etaSeconds).not.toBeNull();
  });

  it('one pass computes no reference sums first: each step keeps the sums its own LoRA-off pass gave', { timeout: 300_000 }, async () => {
    const examples: TrainExample[] = fresh();
    const kept: string[] = [];
    const phases = new Set<string>();
    const trainer = new PovidTrainer(
      { engine: s.engine, encodeImage: (p) => s.vision.encode(p) },
      examples,
      [],
      { ...CONFIG, steps: 2 },
      'one-pass',
    );
    expect(trainer.referenceTodo()).toEqual([]);
    expect(await trainer.run({ onProgress: (p) => phases.add(p.phase), onReference: (ex) => kept.push(ex.id) })).toEqual({
      steps: 2,
      stopped: 'done',
    });
    expect(phases.has('reference')).toBe(false);
    expect(kept.sort()).toEqual(['ex0', 'ex1']);
    // The same sums a separate LoRA-off pass gives (the step's pass is that pass).
    const want = await s.engine.referenceSums(examples);
    for (const [i, ex] of examples.entries()) {
      expect(ex.reference!.chosen).toBe(want[i].chosen);
      expect(ex.reference!.rejected).toBe(want[i].rejected);
    }
    // Two passes over the same two examples: both are computed first.
    expect(
      new PovidTrainer({ engine: s.engine, encodeImage: (p) => s.vision.encode(p) }, fresh(), [], CONFIG, 'two').referenceTodo(),
    ).toHaveLength(2);
  });

  it('a cancel while paused ends the run without another step', { timeout: 300_000 }, async () => {
    const steps: number[] = [];
    const trainer = new PovidTrainer({ engine: s.engine, encodeImage: (p) => s.vision.encode(p) }, fresh(), [], CONFIG, 'progress');
    trainer.pause();
    const res = await trainer.run({
      onProgress: (p) => {
        if (p.phase === 'paused') setTimeout(() => trainer.cancel(), 100);
      },
      onStep: (m) => steps.push(m.step),
    });
    expect(res).toEqual({ steps: 0, stopped: 'cancelled' });
    expect(steps).toEqual([]);
  });

  it('times a step without changing the adapter, and feeds an estimate', { timeout: 300_000 }, async () => {
    const ex = fresh()[0];
    const before = await s.engine.lora!.get();
    const t = await probeTimings({ engine: s.engine, encodeImage: (p) => s.vision.encode(p), noise: noisyPixels }, ex, CONFIG);
    for (const v of Object.values(t)) expect(v).toBeGreaterThan(0);
    expect(ex.reference).toBeDefined();
    const after = await s.engine.lora!.get();
    for (const [name, v] of before) expect(Array.from(after.get(name)!), name).toEqual(Array.from(v));
    const e = estimateRun(t, { trainRecords: 2, heldoutRecords: 0, imagesToEncode: 0, referencesToCompute: 0 }, CONFIG);
    expect(e.steps).toBe(4);
    expect(e.totalSeconds).toBeCloseTo((4 * (t.stepMs + t.noisyMs)) / 1000, 9);
    console.log('probe on the tiny model (ms):', t);
  });

  it('scores answers with the adapter off and on as the engine sums them', { timeout: 300_000 }, async () => {
    const features = data[0].chosen.image!.features;
    const q = 'What is in the picture?';
    const answers = ['A red ball on a green lawn.', 'A blue ball.', ''];
    const scores = await scoreAnswers(
      { engine: s.engine, example: (qq, a) => s.tokenizer.buildExample(qq, a, s.vision.imageSeqLen) },
      q,
      answers,
      features,
    );
    expect(scores[2]).toMatchObject({ base: null, lora: null, error: 'the answer is empty' });
    for (const [i, a] of answers.slice(0, 2).entries()) {
      const ex = s.tokenizer.buildExample(q, a, s.vision.imageSeqLen);
      const seq = toSequence(ex, features);
      const off = (await s.engine.forward([seq], { lora: false })).logprobSums[0];
      const on = (await s.engine.forward([seq], { lora: true })).logprobSums[0];
      expect(scores[i].base).toBe(off);
      expect(scores[i].lora).toBe(on);
      expect(scores[i].tokens).toBe(ex.answerMask.reduce((n, m) => n + m, 0));
      expect(scores[i].base!).toBeLessThan(0);
    }
    // After the first test's training the adapter moved the preferred answer's log-prob.
    expect(scores[0].lora).not.toBe(scores[0].base);
  });
});
