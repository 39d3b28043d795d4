// The image processor and the image prompt against transformers' own Idefics3Processor
// (golden files from scripts/golden/processor.py): every view's pixels, the tile grid, and
// the prompt's token ids, for the sample images and a 1024 x 768 image, tiled and single.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTinyModel } from '../../scripts/tiny-model';
import { buildTinyTokenizer, SMOLVLM_CHAT_TEMPLATE } from '../../scripts/tiny-tokenizer';
import { parseImageProcessorConfig, planTiles, preprocessImage, type ImageDetail } from '../../src/model/image';
import { ChatTokenizer } from '../../src/model/tokenizer';
import { decodePng } from '../helpers/png';

const GOLDEN = 'test/golden/processor';
const SAMPLES = 'public/samples';

interface GoldenCase {
  image: string;
  question: string;
  detail: ImageDetail;
  width: number;
  height: number;
  rows: number;
  cols: number;
  frames: number;
  views: string;
  input_ids: number[];
}
const manifest = JSON.parse(readFileSync(join(GOLDEN, 'manifest.json'), 'utf8')) as {
  transformers: string;
  image_seq_len: number;
  cases: GoldenCase[];
};

const model = buildTinyModel();
const cfg = parseImageProcessorConfig(JSON.parse(new TextDecoder().decode(model.get('preprocessor_config.json'))), 512);
const { tokenizerJson, tokenizerConfig } = buildTinyTokenizer();
const tok = ChatTokenizer.fromJson(tokenizerJson, tokenizerConfig, SMOLVLM_CHAT_TEMPLATE);

function inputImage(name: string) {
  const path = name.startsWith('photo-') ? join(GOLDEN, name) : join(SAMPLES, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run fixture\` first`);
  return decodePng(readFileSync(path));
}

describe(`image processor vs transformers ${manifest.transformers} (Idefics3ImageProcessorPil)`, () => {
  it('has golden cases for every sample and the 1024 x 768 image, tiled and single', () => {
    expect(manifest.cases.length).toBe(18);
    const photo = manifest.cases.find((c) => c.image === 'photo-1024x768.png' && c.detail === 'tiles')!;
    expect([photo.width, photo.height, photo.rows, photo.cols, photo.frames]).toEqual([1024, 768, 3, 4, 13]);
    expect(cfg).toMatchObject({ longestEdge: 2048, maxImageSize: 512, doImageSplitting: true, resample: 1 });
  });

  for (const c of manifest.cases) {
    it(`${c.image} (${c.detail}): ${c.frames} views within 1/255 per value, same grid`, () => {
      const img = inputImage(c.image);
      expect([img.width, img.height]).toEqual([c.width, c.height]);
      expect(planTiles(img.width, img.height, cfg, c.detail)).toEqual({ rows: c.rows, cols: c.cols });
      const got = preprocessImage(img.data, img.width, img.height, cfg, c.detail);
      expect(got.grid).toEqual({ rows: c.rows, cols: c.cols });
      expect(got.frames).toBe(c.frames);
      const want = decodePng(readFileSync(join(GOLDEN, c.views)));
      const S = 512;
      expect([want.width, want.height]).toEqual([S, S * c.frames]);
      // Golden views are the uint8 levels pixel_values came from: (u / 255 - 0.5) / 0.5.
      let maxErr = 0;
      let differing = 0;
      for (let f = 0; f < c.frames; f++)
        for (let ch = 0; ch < 3; ch++)
          for (let p = 0; p < S * S; p++) {
            const theirs = (want.data[(f * S * S + p) * 4 + ch] / 255 - 0.5) / 0.5;
            const err = Math.abs(got.pixels[(f * 3 + ch) * S * S + p] - theirs);
            if (err > 1e-6) differing++;
            if (err > maxErr) maxErr = err;
          }
      expect(maxErr, `${differing} values differ`).toBeLessThanOrEqual(1 / 255);
      // Measured: identical uint8 levels (PIL's fixed-point Lanczos replicated).
      expect(differing).toBe(0);
    });

    it(`${c.image} (${c.detail}): prompt ids equal the processor's (${c.input_ids.length} tokens)`, () => {
      const grid = { rows: c.rows, cols: c.cols };
      const ids = tok.encode(tok.renderPrompt(c.question, { imageSeqLen: manifest.image_seq_len, withImage: true, grid }));
      expect(ids).toEqual(c.input_ids);
    });
  }
});
