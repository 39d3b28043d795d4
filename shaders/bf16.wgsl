// bf16 weights, shared by the kernels that read frozen weights (linear, rmsnorm, embedding).
// WGSL has no #include: the host wrappers prepend this file to their shader's source.
// Storage: two bf16 values per u32 word, the even element in the low half. A bf16 value is the
// top 16 bits of an f32, so unpacking is a shift (low half) or a mask (high half).

// Element i of a bf16 array, given the word that holds it (word index i >> 1).
fn bf16_unpack(word: u32, i: u32) -> f32 {
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u));
}
