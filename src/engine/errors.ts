// Typed engine failures a user (or a caller's bug) can cause, each with a message that names the fix.
import { ConfigError } from './config';

/** A batch the engine cannot run: wrong lengths, ids out of range, too many sequences. */
export class EngineInputError extends Error {
  override name = 'EngineInputError';
}

/** A sequence longer than the engine's plan (maxSeq) or with positions past maxPositions. */
export class SequenceLengthError extends EngineInputError {
  override name = 'SequenceLengthError';
}

/** Image feature rows that do not match the image positions (count, width or range). */
export class ImageRowsError extends EngineInputError {
  override name = 'ImageRowsError';
}

/** A weight missing from the checkpoint or with the wrong shape or dtype for the config. */
export class WeightError extends ConfigError {
  override name = 'WeightError';
}

/** NaN or Inf in the loss, the log-probabilities or the gradients; `what` names which. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
  constructor(
    readonly what: string,
    detail: string,
  ) {
    super(
      `${what} is not finite (${detail}). The update was not applied. Lower the learning rate, ` +
        'check the input features for NaN, or use f32 weights; then resume from the last checkpoint.',
    );
  }
}

/**
 * Kernel arguments that do not fit together: a size that is not a positive integer, a buffer
 * smaller than its shape, two windows of one buffer, a loss or optimizer setting out of range.
 * Names the kernel and the argument; the message says what was expected and what came.
 */
export class KernelArgumentError extends Error {
  override name = 'KernelArgumentError';
  constructor(
    readonly kernel: string,
    readonly argument: string,
    detail: string,
  ) {
    super(`${kernel}: ${argument} ${detail}`);
  }
}

/** Throws unless `value` is an integer >= `min` (sizes: 0 allowed unless min says otherwise). */
export function expectInteger(kernel: string, argument: string, value: number, min = 0): void {
  const what = min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
  if (!Number.isInteger(value) || value < min) throw new KernelArgumentError(kernel, argument, `must be ${what}, got ${value}`);
}

/**
 * Throws unless the bound buffer (or window) `b` holds `count` values of `dtype` (4 bytes each;
 * bf16 is packed two per 4-byte word). `shape` names the expected shape in the message.
 */
export function expectHolds(
  kernel: string,
  argument: string,
  b: { size: number },
  count: number,
  dtype: 'f32' | 'i32' | 'u32' | 'bf16' = 'f32',
  shape?: readonly number[],
): void {
  const need = dtype === 'bf16' ? Math.ceil(count / 2) * 4 : count * 4;
  if (b.size < need)
    throw new KernelArgumentError(
      kernel,
      shape ? `${argument} [${shape.join(', ')}]` : argument,
      `holds ${b.size} bytes, needs ${need} (${count} ${dtype} values)`,
    );
}
