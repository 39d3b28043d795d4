import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeOnnxModel, OnnxDataType } from '../../scripts/onnx-writer';
import { buildVisionOnnx, TINY, tinyVisionWeights, type TinyVisionWeights } from '../../scripts/tiny-model';
import { toPixelValues } from '../../src/model/image';
import { FeatureCache, VisionEncoder, VisionEncoderError } from '../../src/model/vision';

/**
 * Plain float64 forward of the tiny tower + connector, written from the Idefics3 / SigLIP
 * definitions (not from the ONNX graph): patch conv, position embedding, pre-LN blocks,
 * post LayerNorm, pixel shuffle by index formula, bias-free projection. Returns [64, C].
 */
function visionForwardReference(w: TinyVisionWeights, pixels: Float32Array): Float64Array {
  const { imageSize: S, patchSize: P, hiddenSize: D, numHeads: H, intermediateSize: F, layerNormEps: eps } = TINY.vision;
  const G = S / P;
  const N = G * G;
  const HD = D / H;
  const sf = TINY.scaleFactor;
  const C = TINY.text.hiddenSize;

  const x = new Float64Array(N * D);
  for (let py = 0; py < G; py++)
    for (let px = 0; px < G; px++) {
      const n = py * G + px;
      for (let d = 0; d < D; d++) {
        let acc = w.patchBias[d];
        for (let c = 0; c < 3; c++)
          for (let ky = 0; ky < P; ky++)
            for (let kx = 0; kx < P; kx++) acc += w.patchWeight[((d * 3 + c) * P + ky) * P + kx] * pixels[(c * S + py * P + ky) * S + px * P + kx];
        x[n * D + d] = acc + w.positionEmbedding[n * D + d];
      }
    }

  const layerNorm = (inp: Float64Array, g: Float32Array, b: Float32Array, width: number) => {
    const out = new Float64Array(inp.length);
    for (let n = 0; n < inp.length / width; n++) {
      let mean = 0;
      for (let d = 0; d < width; d++) mean += inp[n * width + d];
      mean /= width;
      let v = 0;
      for (let d = 0; d < width; d++) v += (inp[n * width + d] - mean) ** 2;
      const rstd = 1 / Math.sqrt(v / width + eps);
      for (let d = 0; d < width; d++) out[n * width + d] = (inp[n * width + d] - mean) * rstd * g[d] + b[d];
    }
    return out;
  };
  // y[n, o] = sum_i inp[n, i] W[o, i] + b[o]  (PyTorch Linear)
  const linear = (inp: Float64Array, W: Float32Array, b: Float32Array | null, out: number, width: number) => {
    const rows = inp.length / width;
    const y = new Float64Array(rows * out);
    for (let n = 0; n < rows; n++)
      for (let o = 0; o < out; o++) {
        let acc = b ? b[o] : 0;
        for (let i = 0; i < width; i++) acc += inp[n * width + i] * W[o * width + i];
        y[n * out + o] = acc;
      }
    return y;
  };

  for (const l of w.layers) {
    const h = layerNorm(x, l.ln1Weight, l.ln1Bias, D);
    const q = linear(h, l.qWeight, l.qBias, D, D);
    const k = linear(h, l.kWeight, l.kBias, D, D);
    const v = linear(h, l.vWeight, l.vBias, D, D);
    const attn = new Float64Array(N * D);
    const scores = new Float64Array(N);
    for (let head = 0; head < H; head++)
      for (let i = 0; i < N; i++) {
        let max = -Infinity;
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let e = 0; e < HD; e++) s += q[i * D + head * HD + e] * k[j * D + head * HD + e];
          scores[j] = s / Math.sqrt(HD);
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j < N; j++) sum += scores[j] = Math.exp(scores[j] - max);
        for (let e = 0; e < HD; e++) {
          let acc = 0;
          for (let j = 0; j < N; j++) acc += scores[j] * v[j * D + head * HD + e];
          attn[i * D + head * HD + e] = acc / sum;
        }
      }
    const o = linear(attn, l.oWeight, l.oBias, D, D);
    for (let i = 0; i < x.length; i++) x[i] += o[i];
    const h2 = layerNorm(x, l.ln2Weight, l.ln2Bias, D);
    const f = linear(h2, l.fc1Weight, l.fc1Bias, F, D);
    for (let i = 0; i < f.length; i++) {
      const t = f[i];
      f[i] = 0.5 * t * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (t + 0.044715 * t ** 3)));
    }
    const f2 = linear(f, l.fc2Weight, l.fc2Bias, D, F);
    for (let i = 0; i < x.length; i++) x[i] += f2[i];
  }
  const y = layerNorm(x, w.postLnWeight, w.postLnBias, D);

  // Pixel shuffle: output row r*Gs + c gathers the sf x sf block at (sf r + dh, sf c + dw),
  // channel (dh * sf + dw) * D + e.
  const Gs = G / sf;
  const W2 = D * sf * sf;
  const shuffled = new Float64Array(Gs * Gs * W2);
  for (let r = 0; r < Gs; r++)
    for (let c = 0; c < Gs; c++)
      for (let dh = 0; dh < sf; dh++)
        for (let dw = 0; dw < sf; dw++)
          for (let e = 0; e < D; e++) shuffled[(r * Gs + c) * W2 + (dh * sf + dw) * D + e] = y[((sf * r + dh) * G + sf * c + dw) * D + e];
  return linear(shuffled, w.projWeight, null, C, W2);
}

function sampleImage(seed: number): { data: Uint8ClampedArray; width: number; height: number } {
  const width = 37;
  const height = 29;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = (x * 7 + seed * 31) & 255;
      data[i + 1] = (y * 9 + x * x) & 255;
      data[i + 2] = x > width / 2 ? 230 : 20 + seed;
      data[i + 3] = 255;
    }
  return { data, width, height };
}

describe('tiny vision_encoder.onnx', () => {
  const weights = tinyVisionWeights();
  const onnx = buildVisionOnnx(weights);
  let enc: VisionEncoder;

  beforeAll(async () => {
    enc = await VisionEncoder.create(onnx, { executionProvider: 'wasm', numThreads: 1 });
  });
  afterAll(async () => enc?.dispose());

  it('declares the official export interface', () => {
    const m = decodeOnnxModel(onnx);
    expect(m.opset_import[0].version).toBe(17);
    const io = (v: (typeof m.graph.input)[number]) => ({
      name: v.name,
      type: v.type.tensor_type.elem_type,
      dims: v.type.tensor_type.shape.dim.map((d) => ('dim_param' in d && d.dim_param ? d.dim_param : (d as { dim_value: number }).dim_value)),
    });
    expect(m.graph.input.map(io)).toEqual([
      { name: 'pixel_values', type: OnnxDataType.FLOAT, dims: ['batch_size', 'num_images', 3, 512, 512] },
      { name: 'pixel_attention_mask', type: OnnxDataType.BOOL, dims: ['batch_size', 'num_images', 512, 512] },
    ]);
    expect(m.graph.output.map(io)).toEqual([{ name: 'image_features', type: OnnxDataType.FLOAT, dims: ['num_images', 64, 64] }]);
    expect(m.graph.node.some((n) => n.op_type === 'Conv')).toBe(true);
  });

  it('opens with onnxruntime-web (wasm) and reads its shape from the session', () => {
    expect(enc.hidden).toBe(TINY.text.hiddenSize);
    expect(enc.imageSeqLen).toBe(64);
    expect(enc.imageSize).toBe(512);
  });

  it('matches the float64 reference within 1e-4', async () => {
    const img = sampleImage(1);
    const pixels = toPixelValues(img.data, img.width, img.height);
    const got = await enc.encode(pixels);
    const want = visionForwardReference(weights, pixels);
    expect(got).toHaveLength(64 * TINY.text.hiddenSize);
    let maxErr = 0;
    let sq = 0;
    for (let i = 0; i < got.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
      sq += want[i] ** 2;
    }
    expect(maxErr).toBeLessThan(1e-4);
    // Not a degenerate network: features of a sensible, non-zero scale.
    const rms = Math.sqrt(sq / got.length);
    expect(rms).toBeGreaterThan(0.1);
    expect(rms).toBeLessThan(5);
  }, 60_000);

  it('gives different features for different images, the same for the same image', async () => {
    const a = sampleImage(1);
    const b = sampleImage(2);
    const pa = toPixelValues(a.data, a.width, a.height);
    const [fa, fb, fa2] = await Promise.all([enc.encode(pa), enc.encode(toPixelValues(b.data, b.width, b.height)), enc.encode(pa)]);
    expect(fa2).toEqual(fa);
    let diff = 0;
    for (let i = 0; i < fa.length; i++) diff = Math.max(diff, Math.abs(fa[i] - fb[i]));
    expect(diff).toBeGreaterThan(1e-2);
  });

  it('rejects pixel values of the wrong size', async () => {
    await expect(enc.encode(new Float32Array(3 * 256 * 256))).rejects.toThrow(VisionEncoderError);
  });

  it('rejects a model without the expected inputs', async () => {
    await expect(VisionEncoder.create(new Uint8Array([1, 2, 3, 4]), { executionProvider: 'wasm' })).rejects.toThrow(VisionEncoderError);
  });
});

describe('FeatureCache', () => {
  it('evicts the least recently used entry', () => {
    const c = new FeatureCache(2);
    c.set('a', new Float32Array([1]));
    c.set('b', new Float32Array([2]));
    expect(c.get('a')?.[0]).toBe(1); // a is now the most recent
    c.set('c', new Float32Array([3]));
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')?.[0]).toBe(1);
    expect(c.size).toBe(2);
  });

  it('computes once for concurrent requests of one key', async () => {
    const c = new FeatureCache();
    let calls = 0;
    const compute = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      return new Float32Array([calls]);
    };
    const [x, y] = await Promise.all([c.getOrCompute('k', compute), c.getOrCompute('k', compute)]);
    expect(calls).toBe(1);
    expect(x).toBe(y);
    expect(await c.getOrCompute('k', compute)).toBe(x);
    await expect(c.getOrCompute('bad', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(c.get('bad')).toBeUndefined();
  });
});
