import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { exportDataset, ExportError, type ExportRecord } from '../../src/export/dataset';
import { importDataset } from '../../src/povid/dataset';
import { injectHallucination } from '../../src/povid/inject';
import type { ImportResult, PreferenceRecord } from '../../src/povid/types';
import { file, JPEG_HEAD, jpeg, png, PNG_1X1 } from './helpers';

const dec = new TextDecoder();

/** A drop with every input format, multi-turn, emoji, RTL, HTML and a user-supplied rejected answer. */
async function sampleImport(): Promise<ImportResult> {
  const llava = [
    {
      id: 'l1',
      image: 'train/dog.jpg',
      conversations: [
        { from: 'human', value: '<image>\nWhat is the dog doing?' },
        { from: 'gpt', value: 'The dog is catching a red frisbee.' },
        { from: 'human', value: 'Where is it?' },
        { from: 'gpt', value: 'In a park, on the grass.' },
      ],
      rejected_conversations: [
        { from: 'human', value: '<image>\nWhat is the dog doing?' },
        { from: 'gpt', value: 'The dog is sleeping on a couch.' },
      ],
    },
  ];
  const trl = {
    images: ['cat.png'],
    prompt: [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'ما لون القطة؟ 🐱' }] }],
    chosen: [{ role: 'assistant', content: [{ type: 'text', text: 'The cat is <b>black</b> & white.' }] }],
    rejected: [{ role: 'assistant', content: [{ type: 'text', text: 'The cat is orange.' }] }],
  };
  const csv = 'image,question,answer\r\ncat.png,"How many cats, exactly?","There is one cat on the bed."\r\n';
  const r = await importDataset([
    file('a/llava.json', JSON.stringify(llava)),
    file('a/trl.jsonl', JSON.stringify(trl) + '\n'),
    file('a/qa.csv', csv),
    jpeg('a/img/dog.jpg'),
    png('a/img/cat.png'),
  ]);
  expect(r.problems).toEqual([]);
  expect(r.records).toHaveLength(5 - 1);
  return r;
}

const core = (r: PreferenceRecord) => ({ id: r.id, image: r.image, question: r.question, chosen: r.chosen, rejected: r.rejected });

describe('exportDataset', () => {
  it('writes the POVID release format, TRL vision preference JSONL, images, README and script', async () => {
    const imp = await sampleImport();
    const zip = await exportDataset(imp.records, imp.images, { seed: 5 });
    const files = unzipSync(zip);
    expect(Object.keys(files).sort()).toEqual([
      'README.md',
      'images/cat.png',
      'images/dog.jpg',
      'povid-export.json',
      'povid.json',
      'train_dpo.py',
      'trl.jsonl',
    ]);
    expect(files['images/dog.jpg']).toEqual(JPEG_HEAD);
    expect(files['images/cat.png']).toEqual(PNG_1X1);

    const povid = JSON.parse(dec.decode(files['povid.json']));
    expect(povid).toHaveLength(4);
    expect(povid[0]).toEqual({
      id: 'l1#1',
      image: 'images/dog.jpg',
      conversations: [
        { from: 'human', value: '<image>\nWhat is the dog doing?' },
        { from: 'gpt', value: 'The dog is catching a red frisbee.' },
      ],
      rejected_conversations: [
        { from: 'human', value: '<image>\nWhat is the dog doing?' },
        { from: 'gpt', value: 'The dog is sleeping on a couch.' },
      ],
    });
    // missing rejected answers come from the injector, seeded with seed + index
    const injected = injectHallucination('In a park, on the grass.', { seed: 5 + 1, question: 'Where is it?' }).text;
    expect(povid[1].rejected_conversations[1].value).toBe(injected);

    const trl = dec
      .decode(files['trl.jsonl'])
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(trl).toHaveLength(4);
    expect(trl[2]).toEqual({
      images: ['images/cat.png'],
      prompt: [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'ما لون القطة؟ 🐱' }] }],
      chosen: [{ role: 'assistant', content: [{ type: 'text', text: 'The cat is <b>black</b> & white.' }] }],
      rejected: [{ role: 'assistant', content: [{ type: 'text', text: 'The cat is orange.' }] }],
    });
    for (const row of trl) expect(Object.keys(row)).toEqual(['images', 'prompt', 'chosen', 'rejected']);

    const readme = dec.decode(files['README.md']);
    expect(readme).toMatch(/accelerate launch --multi_gpu --num_processes 8 train_dpo\.py/);
    expect(readme).toMatch(/4 records, 2 images, 4 preference pairs/);
    const script = dec.decode(files['train_dpo.py']);
    for (const s of [
      'from trl import DPOConfig, DPOTrainer',
      'load_dataset("json"',
      'cast_column("images", Sequence(Image()))',
      'processing_class=processor',
      'beta=a.beta',
    ])
      expect(script).toContain(s);
    expect(JSON.parse(dec.decode(files['povid-export.json']))).toMatchObject({
      primary: 'povid.json',
      images: 'images',
      records: 4,
      trl_records: 4,
    });
  });

  it("writes a train_dpo.py for today's TRL / transformers: no warmup_ratio, bf16 only where supported, CPU smoke test", async () => {
    const imp = await sampleImport();
    const files = unzipSync(await exportDataset(imp.records, imp.images, { baseModel: 'HuggingFaceTB/SmolVLM-256M-Instruct' }));
    const script = dec.decode(files['train_dpo.py']);
    expect(script).not.toMatch(/^\s+bf16=True,$/m); // an unconditional bf16 fails on a machine without a bf16 GPU
    expect(script).toMatch(/if not torch\.cuda\.is_available\(\):\n\s+return dict\(bf16=False, fp16=False\), torch\.float32/);
    expect(script).toContain('if torch.cuda.is_bf16_supported():');
    expect(script).not.toMatch(/^\s*warmup_ratio=/m); // DPOConfig has no warmup_ratio in transformers 5
    expect(script).toContain('kwargs["warmup_steps"] = WARMUP');
    expect(script).toContain('"--max-steps"');
    // The SFT term: TRL's loss_type 'sft' with loss_weights today, rpo_alpha in older releases.
    expect(script).toContain('"--sft-weight"');
    expect(script).toContain('return dict(loss_type=["sigmoid", "sft"], loss_weights=[1.0, weight])');
    expect(script).toContain('AutoModelForImageTextToText');
    expect(script).not.toContain('torch_dtype');
    const readme = dec.decode(files['README.md']);
    expect(readme).toContain('accelerate launch --num_processes N train_dpo.py --model HuggingFaceTB/SmolVLM-256M-Instruct');
    expect(readme).toContain('python train_dpo.py --model HuggingFaceTB/SmolVLM-256M-Instruct --max-steps 1');
    // The loading snippet defines every name it uses.
    const snippet = readme.slice(readme.indexOf('Load the data yourself'));
    expect(snippet.indexOf('import os')).toBeGreaterThan(0);
    expect(snippet.indexOf('root = ')).toBeGreaterThan(snippet.indexOf('import os'));
    expect(snippet.indexOf('root = ')).toBeLessThan(snippet.indexOf('os.path.join(root'));
    expect(readme).not.toContain('AutoModelForVision2Seq');
  });

  it('reads back to the same records (export -> import)', async () => {
    const imp = await sampleImport();
    const records: ExportRecord[] = imp.records.map((r, i) => (i === 1 ? { ...r, rejectedText: 'It is in a kitchen.' } : r));
    const zip = await exportDataset(records, imp.images, { seed: 9 });
    const back = await importDataset([file('export.zip', zip)]);
    expect(back.problems).toEqual([]);
    const expected = records.map((r, i) => ({
      ...core(r),
      rejected: r.rejected ?? r.rejectedText ?? injectHallucination(r.chosen, { seed: 9 + i, question: r.question }).text,
    }));
    expect(back.records.map(core)).toEqual(expected);
    for (const [k, blob] of imp.images)
      expect(new Uint8Array(await back.images.get(k)!.arrayBuffer())).toEqual(new Uint8Array(await blob.arrayBuffer()));
    // and again: a second round trip changes nothing
    const again = await importDataset([file('again.zip', await exportDataset(back.records, back.images))]);
    expect(again.records.map(core)).toEqual(back.records.map(core));
  });

  it('stores noisy images, named after their image, without making the read-back ambiguous', async () => {
    const imp = await sampleImport();
    const noisy = new Blob([PNG_1X1], { type: 'image/png' });
    const records: ExportRecord[] = imp.records.map((r) => ({ ...r, noisyImage: noisy }));
    const zip = await exportDataset(records, imp.images);
    const files = unzipSync(zip);
    const povid = JSON.parse(dec.decode(files['povid.json']));
    // One file per image: records that share an image and its noisy copy share the file.
    expect(povid.map((e: { image: string; noisy_image: string }) => [e.image, e.noisy_image])).toEqual(
      imp.records.map((r) => [`images/${r.image}`, `noisy/${r.image.replace(/\.[a-z]+$/, '')}-noisy.png`]),
    );
    expect(
      Object.keys(files)
        .filter((k) => k.startsWith('noisy/'))
        .sort(),
    ).toEqual(['noisy/cat-noisy.png', 'noisy/dog-noisy.png']);
    expect(files['noisy/dog-noisy.png']).toEqual(PNG_1X1);
    // A record with its own noisy copy of a shared image gets a file of its own, still named after the image.
    const own = records.map((r, i) => (i === 1 ? { ...r, noisyImage: new Blob([PNG_1X1]) } : r));
    const ownFiles = unzipSync(await exportDataset(own, imp.images));
    expect(JSON.parse(dec.decode(ownFiles['povid.json']))[1].noisy_image).toMatch(
      new RegExp(`^noisy/${imp.records[1].image.replace(/\.[a-z]+$/, '')}-noisy-2\\.png$`),
    );
    const back = await importDataset([file('n.zip', zip)]);
    expect(back.problems).toEqual([]);
    expect(back.records).toHaveLength(4);
  });

  it('gives the same bytes for the same input and fails clearly on a missing image', async () => {
    const imp = await sampleImport();
    const a = await exportDataset(imp.records, imp.images, { seed: 1 });
    const b = await exportDataset(imp.records, imp.images, { seed: 1 });
    expect(a).toEqual(b);
    await expect(exportDataset(imp.records, new Map())).rejects.toThrow(ExportError);
    await expect(exportDataset(imp.records, new Map())).rejects.toThrow(/record "l1#1": image "dog.jpg" is not among the images/);
  });

  it('leaves records without a rejected answer out of trl.jsonl when injection is off', async () => {
    const imp = await sampleImport();
    const files = unzipSync(await exportDataset(imp.records, imp.images, { injectMissing: false }));
    const trl = dec.decode(files['trl.jsonl']).trimEnd().split('\n');
    expect(trl).toHaveLength(2); // l1#1 and the TRL record carry rejected answers
    const povid = JSON.parse(dec.decode(files['povid.json']));
    expect(povid.filter((e: Record<string, unknown>) => 'rejected_conversations' in e)).toHaveLength(2);
    expect(dec.decode(files['README.md'])).toMatch(/2 records have no rejected answer/);
  });

  it('exports and re-imports 10,000 records', async () => {
    const records: PreferenceRecord[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: `r${i}`,
      image: `img${i % 5}.png`,
      question: `What is in picture ${i}?`,
      chosen: `A dog and ${i % 9} red balls on the grass.`,
      source: { file: 'x', index: i },
    }));
    const images = new Map(Array.from({ length: 5 }, (_, i) => [`img${i}.png`, new Blob([PNG_1X1])]));
    const t0 = performance.now();
    const zip = await exportDataset(records, images);
    const back = await importDataset([file('big.zip', zip)]);
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(back.problems).toEqual([]);
    expect(back.records.map((r) => [r.id, r.image, r.question, r.chosen])).toEqual(
      records.map((r) => [r.id, r.image, r.question, r.chosen]),
    );
    expect(back.records.every((r) => r.rejected && r.rejected !== r.chosen)).toBe(true);
  });
});
