// The LoRA adapter's flat layout, PEFT init and named access.
import { describe, expect, it } from 'vitest';
import { LoraAdapter } from '../../src/engine/lora';
import { SMOLVLM_NAMES, targetShape } from '../../src/engine/checkpoint';
import { loraLayout, normalizeLoraConfig } from '../../src/engine/layout';
import { engineGpu, TINY } from './fixture';

describe('LoRA adapter', () => {
  it('lays out every A and B at 256-byte offsets with PEFT names and shapes', () => {
    const lc = normalizeLoraConfig({ r: 3, alpha: 6, targets: ['v', 'q', 'down'] });
    expect(lc.targets).toEqual(['q', 'v', 'down']); // canonical order
    const layout = loraLayout(TINY, lc, SMOLVLM_NAMES.prefix);
    expect(layout.tensors.length).toBe(TINY.numLayers * 3 * 2);
    expect(layout.scale).toBe(2);
    let end = 0;
    for (const t of layout.tensors) {
      expect(t.offset % 64).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(end); // no overlap
      end = t.offset + t.count;
      const { IN, OUT } = targetShape(TINY, t.target);
      expect(t.shape).toEqual(t.kind === 'A' ? [3, IN] : [OUT, 3]);
    }
    expect(layout.tensors[0].name).toBe('model.text_model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(layout.tensors.at(-1)!.name).toBe('model.text_model.layers.1.mlp.down_proj.lora_B.weight');
    expect(layout.totalFloats).toBeGreaterThanOrEqual(end);
  });

  it('initialises A Kaiming-uniform (seeded) and B to zero, and round-trips named values', async () => {
    const ctx = await engineGpu();
    const lc = normalizeLoraConfig({ r: 4, alpha: 8, seed: 9 });
    const a = LoraAdapter.create(ctx, TINY, lc, SMOLVLM_NAMES.prefix);
    const b = LoraAdapter.create(ctx, TINY, lc, SMOLVLM_NAMES.prefix);
    try {
      const va = await a.get();
      const vb = await b.get();
      for (const t of a.layout.tensors) {
        const x = va.get(t.name)!;
        expect(Array.from(x)).toEqual(Array.from(vb.get(t.name)!)); // same seed, same values
        if (t.kind === 'B') expect(x.every((v) => v === 0)).toBe(true);
        else {
          const bound = 1 / Math.sqrt(t.shape[1]);
          expect(x.every((v) => Math.abs(v) <= bound)).toBe(true);
          expect(Math.max(...x.map(Math.abs))).toBeGreaterThan(0.8 * bound);
        }
      }
      const name = a.layout.tensors[3].name;
      const vals = Float32Array.from({ length: a.layout.tensors[3].count }, (_, i) => i * 0.5);
      await a.set(new Map([[name, vals]]));
      const back = await a.get();
      expect(Array.from(back.get(name)!)).toEqual(Array.from(vals));
      expect(Array.from(back.get(a.layout.tensors[2].name)!)).toEqual(Array.from(va.get(a.layout.tensors[2].name)!));
      await expect(a.set(new Map([[name, new Float32Array(3)]]))).rejects.toThrow(/expected \[/);
    } finally {
      a.destroy();
      b.destroy();
    }
  });
});
