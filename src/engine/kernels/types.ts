// Shared types of the kernel host wrappers.

/** A frozen weight on the GPU: f32, or bf16 packed two per u32 (even element in the low half). */
export interface Weight {
  buffer: GPUBuffer;
  dtype: 'f32' | 'bf16';
}
