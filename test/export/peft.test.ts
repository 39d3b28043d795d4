import { describe, expect, it } from 'vitest';
import { unzipSync } from 'fflate';
import { LORA_TARGETS, peftKey, type LoraTarget } from '../../src/engine/checkpoint';
import {
  adapterConfig,
  adapterLoadHint,
  BUILTIN_BASE_MODEL,
  localBaseModel,
  readPeftAdapter,
  targetModulesRegex,
  writePeftAdapter,
  zipAdapter,
  type LoraMatrices,
} from '../../src/export/peft';
import { droppedFolderName, modelSource } from '../../src/worker/model-session';
import { parseSafetensorsHeader } from '../../src/model/safetensors';
import { Rng } from '../../src/util/rng';

const spec = {
  r: 4,
  alpha: 8,
  targets: [...LORA_TARGETS],
  baseModel: 'HuggingFaceTB/SmolVLM-256M-Instruct',
  decoderPrefix: 'model.text_model.',
};

function matrices(layers: number, C: number, KV: number, FF: number): LoraMatrices[] {
  const rng = new Rng(3);
  const dims: Record<LoraTarget, [number, number]> = {
    q: [C, C],
    k: [C, KV],
    v: [C, KV],
    o: [C, C],
    gate: [C, FF],
    up: [C, FF],
    down: [FF, C],
  };
  const out: LoraMatrices[] = [];
  for (let l = 0; l < layers; l++)
    for (const t of LORA_TARGETS) {
      const [inF, outF] = dims[t];
      out.push({
        layer: l,
        target: t,
        inFeatures: inF,
        outFeatures: outF,
        A: Float32Array.from({ length: spec.r * inF }, () => rng.normal()),
        B: Float32Array.from({ length: outF * spec.r }, () => rng.normal()),
      });
    }
  return out;
}

describe('PEFT adapter files', () => {
  it('names and shapes tensors as PEFT does for Idefics3 text model', () => {
    const files = writePeftAdapter(spec, matrices(2, 576, 192, 1536));
    const bytes = files['adapter_model.safetensors'];
    const header = parseSafetensorsHeader(bytes, 'adapter_model.safetensors', bytes.length);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.tensors.size).toBe(2 * 7 * 2);
    const q = header.tensors.get('base_model.model.model.text_model.layers.0.self_attn.q_proj.lora_A.weight')!;
    expect(q.shape).toEqual([4, 576]);
    expect(header.tensors.get('base_model.model.model.text_model.layers.1.self_attn.k_proj.lora_B.weight')!.shape).toEqual([192, 4]);
    expect(header.tensors.get('base_model.model.model.text_model.layers.1.mlp.down_proj.lora_A.weight')!.shape).toEqual([4, 1536]);
    expect(header.tensors.get('base_model.model.model.text_model.layers.0.mlp.gate_proj.lora_B.weight')!.shape).toEqual([1536, 4]);
    for (const t of header.tensors.values()) expect(t.dtype).toBe('F32');
  });

  it('writes the config with the documented fields, sorted, indent 2', () => {
    const files = writePeftAdapter(spec, matrices(1, 8, 4, 12));
    const text = new TextDecoder().decode(files['adapter_config.json']);
    const cfg = JSON.parse(text);
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: 'HuggingFaceTB/SmolVLM-256M-Instruct',
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      bias: 'none',
      fan_in_fan_out: false,
      use_rslora: false,
      use_dora: false,
      inference_mode: true,
      modules_to_save: null,
      init_lora_weights: true,
    });
    const keys = Object.keys(cfg);
    expect(keys).toEqual([...keys].sort());
    expect(text).toContain('\n  "bias": "none"');
  });

  it('limits target_modules to the text model (a full-match regex)', () => {
    const re = new RegExp(`^(?:${targetModulesRegex('model.text_model.', [...LORA_TARGETS])})$`);
    const modules = [
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.o_proj',
      'mlp.gate_proj',
      'mlp.up_proj',
      'mlp.down_proj',
    ];
    for (const m of modules) expect(re.test(`model.text_model.layers.12.${m}`)).toBe(true);
    expect(re.test('model.vision_model.encoder.layers.0.self_attn.q_proj')).toBe(false);
    expect(re.test('model.vision_model.encoder.layers.0.mlp.fc1')).toBe(false);
    expect(re.test('model.connector.modality_projection.proj')).toBe(false);
    expect(re.test('lm_head')).toBe(false);
    const qv = new RegExp(`^(?:${targetModulesRegex('model.text_model.', ['q', 'v'])})$`);
    expect(qv.test('model.text_model.layers.0.self_attn.q_proj')).toBe(true);
    expect(qv.test('model.text_model.layers.0.self_attn.k_proj')).toBe(false);
    expect(qv.test('model.text_model.layers.0.mlp.up_proj')).toBe(false);
  });

  it('reads back what it wrote, and zips the two files', () => {
    const m = matrices(2, 8, 4, 12);
    const files = writePeftAdapter(spec, m);
    const back = readPeftAdapter(files['adapter_config.json'], files['adapter_model.safetensors']);
    expect(back.spec).toEqual(spec);
    expect(back.matrices.length).toBe(m.length);
    for (let i = 0; i < m.length; i++) {
      expect(back.matrices[i].layer).toBe(m[i].layer);
      expect(back.matrices[i].target).toBe(m[i].target);
      expect(Array.from(back.matrices[i].A)).toEqual(Array.from(m[i].A));
      expect(Array.from(back.matrices[i].B)).toEqual(Array.from(m[i].B));
    }
    const unzipped = unzipSync(zipAdapter(files));
    expect(Object.keys(unzipped).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(peftKey('model.text_model.', 3, 'up', 'B')).toBe('base_model.model.model.text_model.layers.3.mlp.up_proj.lora_B.weight');
  });

  it('refuses adapters it cannot apply, naming the problem', () => {
    const files = writePeftAdapter(spec, matrices(1, 8, 4, 12));
    expect(() => readPeftAdapter(new TextEncoder().encode('{'), files['adapter_model.safetensors'])).toThrow(
      /adapter_config.json is not valid JSON/,
    );
    const dora = new TextEncoder().encode(JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, use_dora: true }));
    expect(() => readPeftAdapter(dora, files['adapter_model.safetensors'])).toThrow(/DoRA/);
  });
});

describe('the base model an adapter names', () => {
  const base = 'http://localhost:5173/';
  const blob = new Blob(['{}']);

  it('is the hub id for hub models, and says "built-in" or "local folder" otherwise', () => {
    expect(modelSource({ kind: 'hub', id: 'HuggingFaceTB/SmolVLM-256M-Instruct' }, base)).toMatchObject({
      baseModel: 'HuggingFaceTB/SmolVLM-256M-Instruct',
      hubId: 'HuggingFaceTB/SmolVLM-256M-Instruct',
    });
    const builtin = modelSource({ kind: 'builtin' }, base);
    expect(builtin.baseModel).toBe(BUILTIN_BASE_MODEL);
    expect(builtin.baseModel).toBe('povid-webgpu/builtin-tiny');
    expect(builtin.hubId).toBeUndefined(); // never passed off as SmolVLM
    const folder = modelSource(
      {
        kind: 'files',
        files: [
          { path: 'my-smolvlm/config.json', blob },
          { path: 'my-smolvlm/onnx/vision_encoder.onnx', blob },
        ],
      },
      base,
    );
    expect(folder.baseModel).toBe('local:my-smolvlm');
    expect(folder.hubId).toBeUndefined();
    expect(modelSource({ kind: 'files', files: [{ path: 'config.json', blob }] }, base).baseModel).toBe('local:unnamed-folder');
    expect(modelSource({ kind: 'url', url: 'http://models.local/smol' }, base).baseModel).toBe('http://models.local/smol');
  });

  it('finds the dropped folder name only when every path carries the same one', () => {
    expect(droppedFolderName(['a/config.json', 'a/onnx/x.onnx'])).toBe('a');
    expect(droppedFolderName(['./a\\config.json', 'a/tokenizer.json'])).toBe('a');
    expect(droppedFolderName(['a/config.json', 'b/tokenizer.json'])).toBeUndefined();
    expect(droppedFolderName(['config.json'])).toBeUndefined();
    expect(localBaseModel(' weird/name ')).toBe('local:weird_name');
  });

  it('goes into adapter_config.json, and the page line says where the adapter loads', () => {
    expect(adapterConfig({ ...spec, baseModel: BUILTIN_BASE_MODEL }).base_model_name_or_path).toBe('povid-webgpu/builtin-tiny');
    expect(adapterLoadHint(BUILTIN_BASE_MODEL)).toMatch(/built-in tiny model .*public\/models\/tiny.*not onto SmolVLM/);
    expect(adapterLoadHint('local:my-smolvlm')).toMatch(/local folder "my-smolvlm".*AutoModelForImageTextToText/);
    expect(adapterLoadHint('HuggingFaceTB/SmolVLM-256M-Instruct')).toContain(
      'AutoModelForImageTextToText.from_pretrained("HuggingFaceTB/SmolVLM-256M-Instruct")',
    );
  });
});
