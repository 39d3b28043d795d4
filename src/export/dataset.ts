// Dataset export for training larger models on GPU clusters: one zip with
//   images/<name>        the images, stored as they were dropped
//   noisy/<image>-noisy.<ext> the distorted copies, when records carry one, named after their
//                        image (records that share an image and its noisy copy share the file)
//   povid.json           the POVID release's format (id, image, conversations, rejected_conversations)
//   trl.jsonl            TRL's conversational preference format for vision models
//   povid-export.json    manifest: lets the importer read this zip back through povid.json only
//   README.md, train_dpo.py   how to run TRL's DPOTrainer on it with accelerate
// The zip's bytes depend only on the input (fixed timestamps, no dates in the files).

import { zip, type AsyncZippable } from 'fflate';
import { LORA_PROJECTIONS } from '../engine/checkpoint';
import { EXPORT_MANIFEST } from '../povid/dataset';
import { injectHallucination } from '../povid/inject';
import type { PreferenceRecord } from '../povid/types';
import { sniffImageType } from '../povid/validate';
import { yieldToEventLoop, YIELD_EVERY } from '../povid/formats/common';

export interface ExportRecord extends PreferenceRecord {
  /** The injector's y_t for this record (used when `rejected` is absent). */
  rejectedText?: string;
  /** A noise-distorted copy of the image (PNG or any image type). */
  noisyImage?: Blob;
}

export interface ExportOptions {
  /** Records with no rejected answer get the injector's, seeded with seed + record index; default 0. */
  seed?: number;
  /** Injector strength for those records. */
  strength?: number;
  /** Fill missing rejected answers with the injector (default true); when false they are left out of trl.jsonl. */
  injectMissing?: boolean;
  /** Model named in README.md's commands. */
  baseModel?: string;
  /** Timestamp written into the zip entries (default 2024-01-01, so equal input gives equal bytes). */
  mtime?: Date;
}

export class ExportError extends Error {
  override name = 'ExportError';
}

export const DEFAULT_EXPORT_MODEL = 'HuggingFaceTB/SmolVLM-Instruct';

interface PovidTurn {
  from: 'human' | 'gpt';
  value: string;
}

/** Builds the zip. Throws ExportError when a record's image is not in `images`. */
export async function exportDataset(
  records: readonly ExportRecord[],
  images: Map<string, Blob>,
  opts: ExportOptions = {},
): Promise<Uint8Array> {
  const seed = opts.seed ?? 0;
  const injectMissing = opts.injectMissing ?? true;
  const files: AsyncZippable = {};
  const zipNames = new Map<string, string>(); // image key -> path in the zip
  const used = new Set<string>();
  const povid: Record<string, unknown>[] = [];
  const trl: string[] = [];
  let noisyCount = 0;
  const noisyPaths = new Map<string, { blob: Blob; path: string }[]>(); // image key -> its noisy copies
  let injected = 0;
  let withoutRejected = 0;

  for (let i = 0; i < records.length; i++) {
    if (i > 0 && i % YIELD_EVERY === 0) await yieldToEventLoop();
    const r = records[i];
    let imagePath = zipNames.get(r.image);
    if (imagePath === undefined) {
      const blob = images.get(r.image);
      if (!blob)
        throw new ExportError(
          `record "${r.id}": image "${r.image}" is not among the images given to the export; pass the ImportResult's images map`,
        );
      imagePath = `images/${uniqueName(safeFileName(r.image), used)}`;
      zipNames.set(r.image, imagePath);
      files[imagePath] = [new Uint8Array(await blob.arrayBuffer()), { level: 0 }];
    }

    let rejected = r.rejected ?? r.rejectedText;
    if (rejected === undefined && injectMissing) {
      rejected = injectHallucination(r.chosen, { seed: seed + i, strength: opts.strength, question: r.question }).text;
      injected++;
    }

    const human: PovidTurn = { from: 'human', value: `<image>\n${r.question}` };
    const entry: Record<string, unknown> = { id: r.id, image: imagePath, conversations: [human, { from: 'gpt', value: r.chosen }] };
    if (rejected !== undefined) entry.rejected_conversations = [human, { from: 'gpt', value: rejected }];
    if (r.noisyImage) {
      const known = noisyPaths.get(r.image) ?? [];
      let path = known.find((k) => k.blob === r.noisyImage)?.path;
      if (path === undefined) {
        const bytes = new Uint8Array(await r.noisyImage.arrayBuffer());
        const ext = sniffImageType(bytes) ?? 'png';
        const base = safeFileName(r.image);
        const stem = base.lastIndexOf('.') > 0 ? base.slice(0, base.lastIndexOf('.')) : base;
        // "-noisy" keeps the name apart from the clean image's, so no reader can mistake one for the other.
        path = `noisy/${uniqueName(`${stem}-noisy.${ext === 'jpeg' ? 'jpg' : ext}`, used)}`;
        files[path] = [bytes, { level: 0 }];
        known.push({ blob: r.noisyImage, path });
        noisyPaths.set(r.image, known);
        noisyCount++;
      }
      entry.noisy_image = path;
    }
    povid.push(entry);

    if (rejected === undefined) {
      withoutRejected++;
      continue;
    }
    trl.push(
      JSON.stringify({
        images: [imagePath],
        prompt: [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: r.question }] }],
        chosen: [{ role: 'assistant', content: [{ type: 'text', text: r.chosen }] }],
        rejected: [{ role: 'assistant', content: [{ type: 'text', text: rejected }] }],
      }),
    );
  }

  const enc = new TextEncoder();
  files['povid.json'] = enc.encode(JSON.stringify(povid, null, 1) + '\n');
  files['trl.jsonl'] = enc.encode(trl.length > 0 ? trl.join('\n') + '\n' : '');
  files[EXPORT_MANIFEST] = enc.encode(
    JSON.stringify(
      {
        format: 'povid-webgpu-dataset',
        version: 1,
        primary: 'povid.json',
        images: 'images',
        trl: 'trl.jsonl',
        noisy: noisyCount > 0 ? 'noisy' : null,
        records: records.length,
        trl_records: trl.length,
      },
      null,
      2,
    ) + '\n',
  );
  const stats = { records: records.length, images: zipNames.size, trl: trl.length, injected, withoutRejected, noisy: noisyCount };
  files['README.md'] = enc.encode(readme(stats, opts.baseModel ?? DEFAULT_EXPORT_MODEL));
  files['train_dpo.py'] = enc.encode(TRAIN_DPO_PY);

  const mtime = opts.mtime ?? new Date(Date.UTC(2024, 0, 1));
  return new Promise((resolve, reject) => {
    zip(files, { level: 6, mtime }, (err, data) => (err ? reject(new ExportError(`zip failed: ${err.message}`)) : resolve(data)));
  });
}

/** A name that is safe as a single zip path segment. */
function safeFileName(name: string): string {
  const s = name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_').replace(/^\.+/, '_');
  return s === '' ? '_' : s.slice(0, 180);
}

function uniqueName(name: string, used: Set<string>): string {
  let out = name;
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : '';
  for (let k = 2; used.has(out.toLowerCase()); k++) out = `${stem}-${k}${ext}`;
  used.add(out.toLowerCase());
  return out;
}

interface Stats {
  records: number;
  images: number;
  trl: number;
  injected: number;
  withoutRejected: number;
  noisy: number;
}

function readme(s: Stats, model: string): string {
  return `# POVID preference data

Exported by povid-webgpu: ${s.records} records, ${s.images} images, ${s.trl} preference pairs in \`trl.jsonl\`${
    s.injected > 0 ? ` (${s.injected} rejected answers written by the local hallucination injector)` : ''
  }${s.withoutRejected > 0 ? `; ${s.withoutRejected} records have no rejected answer and are only in povid.json` : ''}.

| file | content |
| --- | --- |
| \`images/\` | the images, as they were imported |
| \`noisy/\` | ${s.noisy > 0 ? `${s.noisy} noise-distorted copies (forward diffusion, POVID's image distortion)` : 'not present (no noisy images were exported)'} |
| \`povid.json\` | POVID / LLaVA format: \`id\`, \`image\`, \`conversations\`, \`rejected_conversations\` |
| \`trl.jsonl\` | TRL conversational preference format for vision models: \`images\`, \`prompt\`, \`chosen\`, \`rejected\` |
| \`train_dpo.py\` | a DPO training script for TRL (sketch; read it before a long run) |

\`trl.jsonl\` pairs the preferred answer y_w with the text-injected answer y_t: that is
POVID's first stage (plain DPO). POVID's second stage adds a second DPO term against the
model's own answer on the noisy image; that needs a custom loss and is what the browser
trainer does.

## Train a larger model with TRL on many GPUs

    pip install torch transformers trl peft accelerate datasets pillow

    # N GPUs on one machine (data parallel)
    accelerate launch --num_processes N train_dpo.py --model ${model} --output povid-dpo
    # e.g. 8 GPUs
    accelerate launch --multi_gpu --num_processes 8 train_dpo.py \\
        --model ${model} --output povid-dpo

    # a smoke test on a CPU: one optimizer step, a small adapter
    python train_dpo.py --model ${model} --max-steps 1 --grad-accum 1 --lora-r 8 --output /tmp/povid-dpo

    # models that do not fit one GPU: DeepSpeed ZeRO-3 (answer \`accelerate config\` once)
    accelerate config --config_file zero3.yaml
    accelerate launch --config_file zero3.yaml train_dpo.py --model llava-hf/llava-1.5-7b-hf --lr 1e-7

    # several machines: run on every node with its own --machine_rank
    accelerate launch --num_machines 2 --machine_rank 0 --main_process_ip 10.0.0.1 \\
        --main_process_port 29500 --num_processes 16 train_dpo.py --model ${model}

Defaults follow the POVID release: beta 0.1, sigmoid DPO, LoRA r 128 / alpha 256 / dropout 0
on the language model's linear layers only, cosine schedule with 3 % warm-up, weight decay 0,
3 epochs (the release used learning rate 1e-7 on LLaVA-1.5-7B). \`--lora-targets\` is a regex
matched against full module names; check it against \`model.named_modules()\` of your model.
Use \`--full\` to train every weight instead of an adapter, \`--max-steps\` to stop early,
\`--sft-weight\` to add an SFT term on the chosen answers (the app's "SFT weight").
Precision follows the hardware: bf16 on GPUs that support it, fp16 mixed precision on older
GPUs, float32 on a CPU.

Load the data yourself:

    import os
    from datasets import load_dataset, Image, Sequence

    root = "povid-dataset"  # the folder this zip was extracted to
    ds = load_dataset("json", data_files=os.path.join(root, "trl.jsonl"), split="train")
    ds = ds.map(lambda ex: {"images": [os.path.join(root, p) for p in ex["images"]]})
    ds = ds.cast_column("images", Sequence(Image()))
`;
}

const TRAIN_DPO_PY = `#!/usr/bin/env python3
"""DPO fine-tuning of a vision-language model on this export with TRL's DPOTrainer.

    # GPUs (bf16 where the GPU supports it), data parallel over N processes
    accelerate launch --num_processes N train_dpo.py --model ${DEFAULT_EXPORT_MODEL}
    # a smoke test on CPU: one optimizer step
    python train_dpo.py --model path/to/model --max-steps 1 --grad-accum 1 --lora-r 8 --output /tmp/povid-dpo

Check the LoRA target regex and the batch settings against your model and GPUs.
"""
import argparse
import dataclasses
import os

import torch
from datasets import Image, Sequence, load_dataset
from peft import LoraConfig
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import DPOConfig, DPOTrainer

LM_LINEAR = r".*(language_model|text_model).*\\.(${LORA_PROJECTIONS.join('|')})"
WARMUP = 0.03  # share of the steps spent warming up (POVID's release)


def precision():
    """bf16 where the GPU supports it, else fp16 mixed precision on a GPU, else float32 (CPU)."""
    if not torch.cuda.is_available():
        return dict(bf16=False, fp16=False), torch.float32
    if torch.cuda.is_bf16_supported():
        return dict(bf16=True, fp16=False), torch.bfloat16
    return dict(bf16=False, fp16=True), torch.float32  # fp16 autocast needs float32 master weights


def dpo_config(**kwargs):
    """DPOConfig across TRL / transformers versions: the warm-up share is warmup_ratio in older
    releases and a fractional warmup_steps in transformers 5; options a version lacks are left out."""
    fields = {f.name for f in dataclasses.fields(DPOConfig)}
    if "warmup_ratio" in fields:
        kwargs["warmup_ratio"] = WARMUP
    else:
        kwargs["warmup_steps"] = WARMUP
    return DPOConfig(**{k: v for k, v in kwargs.items() if k in fields})


def sft_loss(weight):
    """Sigmoid DPO, plus an SFT term on the chosen answers when weight > 0: loss_type ["sigmoid", "sft"]
    with loss_weights in today's TRL, rpo_alpha in older releases (the same token-mean NLL)."""
    if weight <= 0:
        return dict(loss_type=["sigmoid"])
    fields = {f.name for f in dataclasses.fields(DPOConfig)}
    if "loss_weights" in fields:
        return dict(loss_type=["sigmoid", "sft"], loss_weights=[1.0, weight])
    return dict(loss_type=["sigmoid"], rpo_alpha=weight)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="${DEFAULT_EXPORT_MODEL}", help="hub id or local folder")
    p.add_argument("--data", default=os.path.dirname(os.path.abspath(__file__)), help="folder with trl.jsonl and images/")
    p.add_argument("--output", default="povid-dpo")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps (-1: run all epochs)")
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--sft-weight", type=float, default=0.0, help="weight of an SFT (NLL) term on the chosen answers; 0 = DPO alone, as released")
    p.add_argument("--batch-size", type=int, default=1, help="per device")
    p.add_argument("--grad-accum", type=int, default=8)
    p.add_argument("--max-length", type=int, default=None, help="truncate longer pairs (tokens; default: no truncation, which keeps every image token)")
    p.add_argument("--lora-r", type=int, default=128)
    p.add_argument("--lora-alpha", type=int, default=256)
    p.add_argument("--lora-targets", default=LM_LINEAR, help="regex over full module names (language model only)")
    p.add_argument("--full", action="store_true", help="train all weights instead of a LoRA adapter")
    p.add_argument("--no-gradient-checkpointing", action="store_true")
    a = p.parse_args()

    root = os.path.abspath(a.data)
    ds = load_dataset("json", data_files=os.path.join(root, "trl.jsonl"), split="train")
    # image paths in trl.jsonl are relative to the export folder; datasets decodes them lazily
    ds = ds.map(lambda ex: {"images": [os.path.join(root, x) for x in ex["images"]]})
    ds = ds.cast_column("images", Sequence(Image()))

    flags, dtype = precision()
    processor = AutoProcessor.from_pretrained(a.model)
    model = AutoModelForImageTextToText.from_pretrained(a.model, dtype=dtype)
    peft_config = None
    if not a.full:
        peft_config = LoraConfig(
            r=a.lora_r,
            lora_alpha=a.lora_alpha,
            lora_dropout=0.0,
            target_modules=a.lora_targets,
            task_type="CAUSAL_LM",
        )

    args = dpo_config(
        output_dir=a.output,
        beta=a.beta,
        **sft_loss(a.sft_weight),
        learning_rate=a.lr,
        lr_scheduler_type="cosine",
        weight_decay=0.0,
        num_train_epochs=a.epochs,
        max_steps=a.max_steps,
        per_device_train_batch_size=a.batch_size,
        gradient_accumulation_steps=a.grad_accum,
        max_length=a.max_length,
        gradient_checkpointing=not a.no_gradient_checkpointing,
        remove_unused_columns=False,
        logging_steps=1 if 0 < a.max_steps <= 10 else 10,
        save_strategy="epoch",
        report_to="none",
        **flags,
    )
    trainer = DPOTrainer(
        model=model,
        ref_model=None,  # with LoRA the reference is the base model with the adapter off
        args=args,
        train_dataset=ds,
        processing_class=processor,
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(a.output)


if __name__ == "__main__":
    main()
`;
