// Model loading progress: phases named after the file, byte totals summed over files read in parallel.
import { describe, expect, it } from 'vitest';
import { LoadTally, loadPhaseOf } from '../../src/worker/load-progress';

describe('model loading progress', () => {
  it('names the phase a file belongs to', () => {
    expect(loadPhaseOf('config.json')).toBe('config');
    expect(loadPhaseOf('generation_config.json')).toBe('config');
    expect(loadPhaseOf('tokenizer.json')).toBe('tokenizer');
    expect(loadPhaseOf('tokenizer_config.json')).toBe('tokenizer');
    expect(loadPhaseOf('model.safetensors')).toBe('weights');
    expect(loadPhaseOf('onnx/vision_encoder_fp16.onnx')).toBe('vision');
  });

  it('sums the latest report of each file', () => {
    const t = new LoadTally();
    expect(t.add('config.json', 0, 900)).toEqual({ loadedAll: 0, totalAll: 900 });
    expect(t.add('model.safetensors', 1000, 50_000)).toEqual({ loadedAll: 1000, totalAll: 50_900 });
    expect(t.add('config.json', 900, 900)).toEqual({ loadedAll: 1900, totalAll: 50_900 });
    // A size not announced (0): the bytes so far count on both sides.
    expect(t.add('tokenizer.json', 300, 0)).toEqual({ loadedAll: 2200, totalAll: 51_200 });
    expect(t.add('model.safetensors', 50_000, 50_000)).toEqual({ loadedAll: 51_200, totalAll: 51_200 });
  });
});
