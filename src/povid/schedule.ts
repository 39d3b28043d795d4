// Learning-rate schedule and data order of a POVID run: linear warm-up then cosine decay to 0
// (as the release trains), and a seeded shuffle per epoch so a resumed run sees the same order.
import { Rng } from '../util/rng';

export interface ScheduleConfig {
  learningRate: number;
  warmupRatio: number;
  totalSteps: number;
}

/** Learning rate at optimizer step `step` (0-based). */
export function learningRateAt(step: number, c: ScheduleConfig): number {
  const warmup = Math.ceil(c.warmupRatio * c.totalSteps);
  if (warmup > 0 && step < warmup) return (c.learningRate * (step + 1)) / warmup;
  const decaySteps = Math.max(1, c.totalSteps - warmup);
  const progress = Math.min(1, (step - warmup) / decaySteps);
  return 0.5 * c.learningRate * (1 + Math.cos(Math.PI * progress));
}

/** Optimizer steps for a run: `steps` when set, else epochs over the training examples. */
export function totalOptimizerSteps(examples: number, c: { steps: number; epochs: number; gradAccumulation: number }): number {
  if (c.steps > 0) return c.steps;
  return Math.max(1, Math.ceil((examples * c.epochs) / Math.max(1, c.gradAccumulation)));
}

/** The example index used at micro-step `micro`: epochs of seeded shuffles, concatenated. */
export function exampleOrder(examples: number, microSteps: number, seed: number): number[] {
  const order: number[] = [];
  for (let epoch = 0; order.length < microSteps; epoch++) {
    const perm = Array.from({ length: examples }, (_, i) => i);
    new Rng(seed * 7919 + epoch + 1).shuffle(perm);
    order.push(...perm);
  }
  return order.slice(0, microSteps);
}

/**
 * Training examples whose LoRA-off sums are worth computing before the steps (from micro-step
 * `from` on): those the order uses more than once. One used once gets them from its own step.
 */
export function reusedExamples(order: readonly number[], examples: number, from = 0): boolean[] {
  const uses = new Int32Array(examples);
  for (let i = from; i < order.length; i++) uses[order[i]]++;
  return Array.from(uses, (n) => n > 1);
}

/** Splits record ids into train / held-out, deterministically for a seed (at least one train record). */
export function splitHeldout<T>(items: T[], fraction: number, seed: number): { train: T[]; heldout: T[] } {
  const idx = Array.from({ length: items.length }, (_, i) => i);
  new Rng(seed ^ 0x5eed).shuffle(idx);
  const n = items.length >= 2 ? Math.min(items.length - 1, Math.round(items.length * Math.max(0, fraction))) : 0;
  const held = new Set(idx.slice(0, n));
  return { train: items.filter((_, i) => !held.has(i)), heldout: items.filter((_, i) => held.has(i)) };
}
