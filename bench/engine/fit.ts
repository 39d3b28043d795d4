// The full-depth step's figures: the timed ones when the L-layer step ran, otherwise a linear fit
// in the layer count through the 1- and 2-layer steps (time = head + layers x per-layer), or,
// with only one shallow step, its own figures marked as not L-layer ones.
import type { Figure } from '../types';
import { fig, PHASES, type Phase, type StepRun } from './results';

interface FullDepth {
  step: Figure;
  phases: Record<Phase, Figure>;
  notes: string[];
}

/** Through (1, a) and (2, b), at L layers; more layers never take less time, so at least max(a, b). */
function fitLayers(a: number, b: number, L: number): number {
  return Math.max(a + (L - 1) * (b - a), a, b);
}

export function fullDepthFigures(runs: StepRun[], L: number): FullDepth {
  const byLayers = new Map(runs.map((r) => [r.layers, r]));
  const exact = byLayers.get(L);
  if (exact) return { step: exact.step, phases: exact.phases, notes: [] };
  if (byLayers.has(1) && byLayers.has(2)) {
    const basis = `fitted: max(t(1) + (${L} - 1) x (t(2) - t(1)), t(1), t(2)) from the timed 1- and 2-layer steps`;
    const r1 = byLayers.get(1)!;
    const r2 = byLayers.get(2)!;
    const n = r1.step.iterations + r2.step.iterations;
    return {
      step: fig(fitLayers(r1.step.value, r2.step.value, L), 'ms', n, { estimate: basis }),
      phases: Object.fromEntries(
        PHASES.map((k) => [k, fig(fitLayers(r1.phases[k].value, r2.phases[k].value, L), 'ms', n, { estimate: basis })]),
      ) as Record<Phase, Figure>,
      notes: [
        `only ${[...byLayers.keys()].join(' and ')}-layer steps fitted the time budget; the ${L}-layer figures are a linear fit in the layer count`,
      ],
    };
  }
  const r = runs[0];
  const basis = `NOT a ${L}-layer figure: timed with ${r.layers} of ${L} layers only, not scaled`;
  return {
    step: { ...r.step, estimate: basis },
    phases: Object.fromEntries(PHASES.map((k) => [k, { ...r.phases[k], estimate: basis }])) as Record<Phase, Figure>,
    notes: [
      `only a ${r.layers}-layer step fitted the time budget; step, phases, tokensPerSecond and stepsPerSecond are for ${r.layers} layers`,
    ],
  };
}
