export { GpuContext, grid1d, fmtBytes, profileTrace, type Binding, type MemoryStats } from './context';
export { acquireDevice, type GpuFeatures, type GpuRequestOptions } from './device';
export { GpuError, WebGpuUnavailableError, DeviceLostError, GpuLimitError, GpuValidationError } from './errors';
