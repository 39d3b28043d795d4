// The vision encoder's ONNX exports (transformers.js names its dtypes this way) and the order in
// which to try them: the best the device runs first, then the next when one fails to load
// (docs/model.md, "The ONNX vision encoder").

export const VISION_ENCODER_FILES = {
  fp32: 'onnx/vision_encoder.onnx',
  fp16: 'onnx/vision_encoder_fp16.onnx',
  q8: 'onnx/vision_encoder_quantized.onnx',
  int8: 'onnx/vision_encoder_int8.onnx',
  uint8: 'onnx/vision_encoder_uint8.onnx',
  q4: 'onnx/vision_encoder_q4.onnx',
  q4f16: 'onnx/vision_encoder_q4f16.onnx',
  bnb4: 'onnx/vision_encoder_bnb4.onnx',
} as const;
export type VisionEncoderVariant = keyof typeof VISION_ENCODER_FILES;

export function isVisionEncoderVariant(v: unknown): v is VisionEncoderVariant {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(VISION_ENCODER_FILES, v);
}

/** What the device offers the vision encoder. */
export interface VisionDeviceCaps {
  /** onnxruntime-web can use WebGPU here. */
  webgpu: boolean;
  /** The WebGPU adapter has `shader-f16`: float16 kernels run natively. */
  shaderF16: boolean;
}

/**
 * Variants to try, best first. With shader-f16 on WebGPU, fp16 halves the download and the
 * memory at no loss that matters; elsewhere fp32 (every backend runs it), then the quantized
 * exports, and the float16 ones last (the wasm backend runs them through casts, slowly).
 * With no caps known, fp16 first, then fp32, as the hub's transformers.js does.
 */
export function visionVariantOrder(caps?: VisionDeviceCaps): VisionEncoderVariant[] {
  if (!caps || (caps.webgpu && caps.shaderF16)) return ['fp16', 'fp32', 'q4f16', 'q4', 'int8', 'uint8', 'q8', 'bnb4'];
  return ['fp32', 'q4', 'int8', 'uint8', 'q8', 'bnb4', 'fp16', 'q4f16'];
}
