import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeOnnxModel, OnnxDataType, OnnxGraphBuilder } from '../../scripts/onnx-writer';
import { buildVisionOnnx, buildVisionOnnxFloat16Io, TINY, tinyVisionWeights, type TinyVisionWeights } from '../../scripts/tiny-model';
import { toPixelValues } from '../../src/model/image';
import { FeatureCache, openVisionEncoder, VisionEncoder, VisionEncoderError, VisionEncoderUnavailableError } from '../../src/model/vision';

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
            for (let kx = 0; kx < P; kx++)
              acc += w.patchWeight[((d * 3 + c) * P + ky) * P + kx] * pixels[(c * S + py * P + ky) * S + px * P + kx];
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
      dims: v.type.tensor_type.shape.dim.map((d) =>
        'dim_param' in d && d.dim_param ? d.dim_param : (d as { dim_value: number }).dim_value,
      ),
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

describe('the float16-I/O export (onnx/vision_encoder_fp16.onnx)', () => {
  const weights = tinyVisionWeights();
  const fp32 = buildVisionOnnx(weights);
  const fp16 = buildVisionOnnxFloat16Io(fp32);

  it('declares float16 pixel_values and image_features, and the built-in folder ships it', () => {
    const m = decodeOnnxModel(fp16);
    expect(m.graph.input.map((v) => v.type.tensor_type.elem_type)).toEqual([OnnxDataType.FLOAT16, OnnxDataType.BOOL]);
    expect(m.graph.output[0].type.tensor_type.elem_type).toBe(OnnxDataType.FLOAT16);
    expect(m.graph.node[0].op_type).toBe('Cast');
    expect(m.graph.node[m.graph.node.length - 1].op_type).toBe('Cast');
    expect(Buffer.from(buildVisionOnnxFloat16Io(fp32)).equals(Buffer.from(fp16))).toBe(true); // deterministic
  });

  it('reads the element types from the session and gives the fp32 features within f16 rounding', async () => {
    const [e32, e16] = await Promise.all([
      VisionEncoder.create(fp32, { executionProvider: 'wasm' }),
      VisionEncoder.create(fp16, { executionProvider: 'wasm' }),
    ]);
    try {
      expect([e32.inputType, e32.outputType]).toEqual(['float32', 'float32']);
      expect([e16.inputType, e16.outputType]).toEqual(['float16', 'float16']);
      const img = sampleImage(3);
      const pixels = toPixelValues(img.data, img.width, img.height);
      const [a, b] = await Promise.all([e32.encode(pixels), e16.encode(pixels)]);
      expect(b).toHaveLength(a.length);
      // Inputs rounded to f16 (relative 2^-11, |x| <= 1) move the features a little; the
      // output's f16 rounding adds at most 2^-11 relative. Bound: 2e-3 (1 + |x|); measured 4.3e-4.
      let maxErr = 0;
      let maxRel = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i] - b[i]);
        maxErr = Math.max(maxErr, d);
        maxRel = Math.max(maxRel, d / (1 + Math.abs(a[i])));
      }
      expect(maxRel).toBeLessThan(2e-3);
      expect(maxErr).toBeGreaterThan(0); // the f16 path really ran
    } finally {
      await Promise.all([e32.dispose(), e16.dispose()]);
    }
  }, 60_000);
});

describe('image_features layouts and symbolic dimensions', () => {
  // A toy export: 8 x 8 views, 4 features of width 6 each, a linear map of the pixels, returned
  // flat as [n * 4, 6] with every dimension symbolic.
  const S = 8;
  const L = 4;
  const C = 6;
  const W = new Float32Array(3 * S * S * L * C).map((_, i) => Math.sin(i * 0.37) * 0.1);
  function toyEncoder(): Uint8Array {
    const g = new OnnxGraphBuilder('toy');
    const pv = g.input('pixel_values', OnnxDataType.FLOAT, ['batch', 'images', 3, 'height', 'width']);
    g.input('pixel_attention_mask', OnnxDataType.BOOL, ['batch', 'images', 'height', 'width']);
    const flat = g.node('Reshape', [pv, g.int64Tensor('flat', [-1, 3 * S * S])]);
    const y = g.node('MatMul', [flat, g.floatTensor('w', [3 * S * S, L * C], W)]);
    g.node('Reshape', [y, g.int64Tensor('rows', [-1, C])], {}, 'image_features');
    g.output('image_features', OnnxDataType.FLOAT, ['rows', 'width']);
    return g.build();
  }

  it('takes symbolic sizes from the config, then accepts [n * 64, C] features, several views in order', async () => {
    // Without a config, symbolic sizes take SmolVLM's (512, 64); the width onnxruntime infers (6).
    const bare = await VisionEncoder.create(toyEncoder(), { executionProvider: 'wasm' });
    expect([bare.imageSize, bare.imageSeqLen, bare.hidden]).toEqual([512, 64, C]);
    await bare.dispose();
    const enc = await VisionEncoder.create(toyEncoder(), {
      executionProvider: 'wasm',
      expect: { hidden: C, imageSeqLen: L, imageSize: S },
    });
    try {
      expect([enc.imageSize, enc.imageSeqLen, enc.hidden]).toEqual([S, L, C]);
      const views = new Float32Array(2 * 3 * S * S).map((_, i) => Math.cos(i * 0.11));
      const got = await enc.encode(views);
      expect(got).toHaveLength(2 * L * C);
      for (let v = 0; v < 2; v++)
        for (let o = 0; o < L * C; o++) {
          let acc = 0;
          for (let i = 0; i < 3 * S * S; i++) acc += views[v * 3 * S * S + i] * W[i * L * C + o];
          expect(Math.abs(got[v * L * C + o] - acc)).toBeLessThan(1e-4);
        }
      await expect(enc.encode(new Float32Array(3 * S * S + 1))).rejects.toThrow(/whole number of views/);
    } finally {
      await enc.dispose();
    }
  });

  it("refuses a config that contradicts the export's fixed sizes", async () => {
    const onnx = buildVisionOnnx(tinyVisionWeights());
    await expect(VisionEncoder.create(onnx, { executionProvider: 'wasm', expect: { hidden: 576 } })).rejects.toThrow(
      /feature width .* is 64 but the model's config says 576/,
    );
  });
});

describe('openVisionEncoder: variants in turn', () => {
  const fp32 = buildVisionOnnx(tinyVisionWeights());
  const fp16 = buildVisionOnnxFloat16Io(fp32);
  const corrupt = new Uint8Array(fp16.length).map((_, i) => (i * 7919) & 255);

  it('falls back from a damaged fp16 file to fp32 and says which runs', async () => {
    const status: string[] = [];
    const opened = await openVisionEncoder({
      first: { variant: 'fp16', bytes: corrupt },
      fallbacks: ['fp32', 'q4'],
      read: async (v) => (v === 'fp32' ? fp32 : undefined),
      backends: ['wasm'],
      onStatus: (m) => status.push(m),
    });
    try {
      expect([opened.variant, opened.path, opened.backend]).toEqual(['fp32', 'onnx/vision_encoder.onnx', 'wasm']);
      expect(opened.failures.map((f) => [f.path, f.backend])).toEqual([['onnx/vision_encoder_fp16.onnx', 'wasm']]);
      expect(status.join('\n')).toMatch(/onnx\/vision_encoder_fp16.onnx did not load on wasm/);
      expect(status[status.length - 1]).toBe('vision encoder: onnx/vision_encoder.onnx (fp32) on wasm');
    } finally {
      await opened.encoder.dispose();
    }
  });

  it('takes the next backend before the next file', async () => {
    const opened = await openVisionEncoder({
      first: { variant: 'fp16', bytes: fp16 },
      fallbacks: [],
      read: async () => undefined,
      backends: ['webgpu', 'wasm'],
    });
    try {
      // Node has no WebGPU for onnxruntime-web: the fp16 file runs on wasm.
      expect([opened.variant, opened.backend]).toEqual(['fp16', 'wasm']);
      expect(opened.failures.map((f) => f.backend)).toEqual(['webgpu']);
    } finally {
      await opened.encoder.dispose();
    }
  });

  it('names every file it tried and what to put in the folder when all fail', async () => {
    const err = await openVisionEncoder({
      first: { variant: 'fp16', bytes: corrupt },
      fallbacks: ['fp32', 'q4'],
      read: async (v) => (v === 'fp32' ? corrupt.subarray(0, 1000) : undefined),
      backends: ['wasm'],
      source: 'the dropped folder',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VisionEncoderUnavailableError);
    const e = err as VisionEncoderUnavailableError;
    expect(e.failures.map((f) => f.path)).toEqual(['onnx/vision_encoder_fp16.onnx', 'onnx/vision_encoder.onnx']);
    expect(e.message).toMatch(
      /no vision encoder export of the dropped folder could be loaded \(the dropped folder has none of onnx\/vision_encoder_q4.onnx\)/,
    );
    expect(e.message).toMatch(/Tried onnx\/vision_encoder_fp16.onnx on wasm: .*; onnx\/vision_encoder.onnx on wasm: /);
    expect(e.message).toMatch(/Download the folder again .* or put the plain float32 export onnx\/vision_encoder.onnx/);
  });
});
