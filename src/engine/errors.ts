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
  constructor(readonly what: string, detail: string) {
    super(
      `${what} is not finite (${detail}). The update was not applied. Lower the learning rate, ` +
        'check the input features for NaN, or use f32 weights; then resume from the last checkpoint.',
    );
  }
}
