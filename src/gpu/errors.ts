// Typed GPU failures a user can meet, each with a message that says what to do.

export class GpuError extends Error {
  override name = 'GpuError';
}

/** No WebGPU in this environment (browser without support, Node without an adapter). */
export class WebGpuUnavailableError extends GpuError {
  override name = 'WebGpuUnavailableError';
}

/** The device was lost (driver reset, tab in background too long, out of memory). */
export class DeviceLostError extends GpuError {
  override name = 'DeviceLostError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(`The GPU device was lost (${reason}): ${message}. Training resumes from the last checkpoint after the device is recreated.`);
  }
}

/** A buffer or dispatch over the device's limits. */
export class GpuLimitError extends GpuError {
  override name = 'GpuLimitError';
}

/** A WGSL compile or validation error: a bug in the project, never the user's fault. */
export class GpuValidationError extends GpuError {
  override name = 'GpuValidationError';
}
