#!/usr/bin/env python3
"""Golden files for the engine tests: the built-in model run by transformers, PEFT and torch
autograd in float64, an outside oracle the WGSL engine is compared with (test/golden/*.test.ts).

    npm run golden      # step 1 writes test/golden/adapter/ with the app's exporter, step 2 is this

Inputs: the built-in model folder (public/models/tiny, `npm run fixture`), a sample image
(public/samples, `npm run fixture`), and the adapter of step 1. Outputs in test/golden/:

    transformers5-config.json  the built-in model's config.json as transformers 5 saves it
    model.json                 token ids, answer log-probs (per token and sums), y_n, losses, versions
    model.safetensors          F32: image features (clean and noisy), last-position logits without and
                               with the adapter, LoRA gradients of one POVID step for both definitions

Everything is computed in float64 from the features as stored (rounded to float32), so the only
difference left between a test and these numbers is the engine's own arithmetic.
"""
import hashlib
import json
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

import peft
import transformers
from peft import PeftModel
from transformers import AutoConfig, AutoProcessor, Idefics3ForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutputWithPooling

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "public", "models", "tiny")
SAMPLES = os.path.join(ROOT, "public", "samples")
OUT = os.path.join(ROOT, "test", "golden")
ADAPTER = os.path.join(OUT, "adapter")

IMAGE = "fruit-table.png"
REJECTED = "Three bananas and one green pear are on a white glass table."  # y_t: a text-injected hallucination
NOISE_STEP = 500  # POVID's released noise step (0-based, T = 1000)
NOISE_SEED = 0
BETA, W_TEXT, W_NOISE = 0.1, 0.5, 0.5  # the release's loss settings
MIN_ARGMAX_MARGIN = 1e-3  # y_n must not hinge on a near-tie the engine's float32 could flip

torch.set_grad_enabled(False)


def fail(message):
    sys.exit(f"golden: {message}")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sample():
    with open(os.path.join(SAMPLES, "qa.jsonl")) as f:
        for line in f:
            record = json.loads(line)
            if record["image"] == IMAGE:
                return record
    fail(f"{IMAGE} is not in public/samples/qa.jsonl; run `npm run fixture`")


def transformers5_config():
    """config.json as transformers 5 writes it: rope settings in text_config.rope_parameters."""
    config = AutoConfig.from_pretrained(MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        config.save_pretrained(tmp)
        with open(os.path.join(tmp, "config.json")) as f:
            text = f.read()
    saved = json.loads(text)["text_config"]
    if "rope_parameters" not in saved or "rope_theta" in saved:
        fail("transformers did not write text_config.rope_parameters; is this transformers 5?")
    with open(os.path.join(OUT, "transformers5-config.json"), "w") as f:
        f.write(text)


def diffusion_noise(pixel_values, step, seed):
    """POVID's forward diffusion on [0, 1] pixels (sigmoid schedule, T = 1000), clamped, renormalised."""
    betas = torch.sigmoid(torch.linspace(-6, 6, 1000, dtype=torch.float64)) * (5e-3 - 1e-5) + 1e-5
    abar = torch.cumprod(1 - betas, 0)[step]
    x = pixel_values * 0.5 + 0.5  # the processor's mean / std 0.5 undone
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    noisy = (abar.sqrt() * x + (1 - abar).sqrt() * eps).clamp(0, 1)
    return noisy * 2 - 1


def as_stored(t):
    """What the golden file holds (float32), back in float64: every number below starts from it."""
    return t.to(torch.float32).to(torch.float64)


def logits_of(model, ids, features):
    """Full-sequence logits [T, V] with the image features replacing the <image> tokens' embeddings."""
    out = model(
        input_ids=torch.tensor([ids]),
        mm_encoder_outputs={"image": BaseModelOutputWithPooling(pooler_output=features)},
        use_cache=False,
    )
    return out.logits[0]


def answer_rows(logits, prompt_len, n):
    """The rows that predict the answer's n tokens (the last prompt position onwards)."""
    return logits[prompt_len - 1 : prompt_len - 1 + n]


def token_logprobs(rows, targets):
    return F.log_softmax(rows, -1).gather(1, torch.tensor(targets)[:, None])[:, 0]


def argmax_with_margin(rows):
    top = rows.topk(2, dim=-1)
    return top.indices[:, 0].tolist(), float((top.values[:, 0] - top.values[:, 1]).min())


def engine_name(peft_name):
    """base_model.model.model.text_model.layers.0.self_attn.q_proj.lora_A.default.weight -> the engine's name."""
    return peft_name.removeprefix("base_model.model.").replace(".default.", ".")


def main():
    for path in (os.path.join(MODEL, "config.json"), os.path.join(ADAPTER, "adapter_config.json")):
        if not os.path.exists(path):
            fail(f"{path} is missing; run `npm run golden` (it writes the model and the adapter first)")
    os.makedirs(OUT, exist_ok=True)
    transformers5_config()

    record = sample()
    processor = AutoProcessor.from_pretrained(MODEL)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": record["question"]}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    image = Image.open(os.path.join(SAMPLES, IMAGE)).convert("RGB")
    # One 512 x 512 view (64 image tokens), the layout the engine tests use; tiling has its own tests.
    inputs = processor(text=prompt, images=[[image]], return_tensors="pt", do_image_splitting=False)
    prompt_ids = inputs["input_ids"][0].tolist()
    tok = processor.tokenizer
    eos = tok.convert_tokens_to_ids("<end_of_utterance>")
    image_token = tok.convert_tokens_to_ids("<image>")
    chosen_ids = tok(" " + record["answer"], add_special_tokens=False)["input_ids"] + [eos]
    rejected_ids = tok(" " + REJECTED, add_special_tokens=False)["input_ids"] + [eos]
    P = len(prompt_ids)

    model = Idefics3ForConditionalGeneration.from_pretrained(MODEL, dtype=torch.float64).eval()
    pixel_values = inputs["pixel_values"].to(torch.float64)
    mask = inputs["pixel_attention_mask"]
    features = as_stored(model.model.get_image_features(pixel_values, mask).pooler_output)
    noisy_features = as_stored(model.model.get_image_features(diffusion_noise(pixel_values, NOISE_STEP, NOISE_SEED), mask).pooler_output)
    if prompt_ids.count(image_token) != features.shape[0] * features.shape[1]:
        fail(f"{prompt_ids.count(image_token)} <image> tokens for {features.shape[1]} feature rows")

    seq_w, seq_t = prompt_ids + chosen_ids, prompt_ids + rejected_ids

    def answers(m):
        lw = answer_rows(logits_of(m, seq_w, features), P, len(chosen_ids))
        lt = answer_rows(logits_of(m, seq_t, features), P, len(rejected_ids))
        cw, ct = token_logprobs(lw, chosen_ids), token_logprobs(lt, rejected_ids)
        return {"chosen": cw.tolist(), "chosen_sum": float(cw.sum()), "rejected": ct.tolist(), "rejected_sum": float(ct.sum())}

    base_last = logits_of(model, prompt_ids, features)[-1]
    base_answers = answers(model)

    # The adapter as PEFT loads it from the files the app's exporter wrote.
    pm = PeftModel.from_pretrained(model, ADAPTER, is_trainable=True, autocast_adapter_dtype=False)
    pm.to(torch.float64).eval()
    stored = load_file(os.path.join(ADAPTER, "adapter_model.safetensors"))
    lora = {n: p for n, p in pm.named_parameters() if ".lora_" in n}
    loaded = {n.replace(".default.", "."): p for n, p in lora.items()}
    if set(loaded) != set(stored):
        fail(f"PEFT loaded {len(loaded)} LoRA tensors, the file has {len(stored)}: {sorted(set(loaded) ^ set(stored))[:4]}")
    for n, t in stored.items():
        if not torch.equal(loaded[n].detach(), t.to(torch.float64)):
            fail(f"PEFT's {n} differs from the file")
    peft_last = logits_of(pm, prompt_ids, features)[-1]
    peft_answers = answers(pm)
    with pm.disable_adapter():
        if not torch.equal(logits_of(pm, prompt_ids, features)[-1], base_last):
            fail("PEFT with the adapter disabled does not give the base model's logits")

    # ---- one POVID step in float64 autograd, for both definitions of the noise term's reference
    with pm.disable_adapter():
        ref_w_rows = answer_rows(logits_of(pm, seq_w, features), P, len(chosen_ids))
        ref_t_rows = answer_rows(logits_of(pm, seq_t, features), P, len(rejected_ids))
        yn_ref, margin_ref = argmax_with_margin(answer_rows(logits_of(pm, seq_w, noisy_features), P, len(chosen_ids)))
    yn_pol, margin_pol = argmax_with_margin(answer_rows(logits_of(pm, seq_w, noisy_features), P, len(chosen_ids)))
    if min(margin_ref, margin_pol) < MIN_ARGMAX_MARGIN:
        fail(f"an argmax of y_n is a near-tie (margin {min(margin_ref, margin_pol):.2e}); change NOISE_SEED")
    if yn_ref == yn_pol:
        fail("the policy's and the reference's y_n agree, so the two definitions cannot be told apart; raise bStd in scripts/golden/adapter.ts")

    ref = {
        "chosen": float(token_logprobs(ref_w_rows, chosen_ids).sum()),
        "text": float(token_logprobs(ref_t_rows, rejected_ids).sum()),
    }
    povid = {"beta": BETA, "w_text": W_TEXT, "w_noise": W_NOISE, "noise_step": NOISE_STEP, "noise_seed": NOISE_SEED,
             "yn_policy": yn_pol, "yn_reference": yn_ref, "argmax_margin": min(margin_ref, margin_pol)}
    grads = {}
    for definition, yn_scored_by_ref in (("own-argmax", yn_ref), ("policy-argmax", yn_pol)):
        pm.zero_grad(set_to_none=True)
        with torch.enable_grad():
            pol_w_rows = answer_rows(logits_of(pm, seq_w, features), P, len(chosen_ids))
            pol_t_rows = answer_rows(logits_of(pm, seq_t, features), P, len(rejected_ids))
            pi = {
                "chosen": token_logprobs(pol_w_rows, chosen_ids).sum(),
                "text": token_logprobs(pol_t_rows, rejected_ids).sum(),
                # y_n's log-prob is read from the clean image's rows of the preferred answer
                "noise": token_logprobs(pol_w_rows, yn_pol).sum(),
            }
            r = dict(ref, noise=float(token_logprobs(ref_w_rows, yn_scored_by_ref).sum()))
            dw, dt, dn = (pi[k] - r[k] for k in ("chosen", "text", "noise"))
            loss = W_TEXT * -F.logsigmoid(BETA * (dw - dt)) + W_NOISE * -F.logsigmoid(BETA * (dw - dn))
            loss.backward()
        povid[definition] = {"loss": float(loss), "policy": {k: float(v) for k, v in pi.items()}, "reference": r}
        for n, p in lora.items():
            grads[f"grad.{definition}.{engine_name(n)}"] = p.grad.detach().clone()

    gap = max(float((grads[f"grad.own-argmax.{n}"] - grads[f"grad.policy-argmax.{n}"]).abs().max() / grads[f"grad.own-argmax.{n}"].abs().max())
              for n in (engine_name(k) for k in lora))
    if gap < 1e-2:
        fail(f"the two definitions' gradients differ by only {gap:.1e} (relative); raise bStd in scripts/golden/adapter.ts")
    povid["definitions_gap"] = gap

    tensors = {
        "image_features": features[0],
        "noisy_image_features": noisy_features[0],
        "base.last_logits": base_last,
        "peft.last_logits": peft_last,
        **grads,
    }
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()}, os.path.join(OUT, "model.safetensors"), metadata={"format": "pt"})

    golden = {
        "generated_by": "scripts/golden/model.py (npm run golden)",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "model_sha256": {f: sha256(os.path.join(MODEL, f)) for f in ("config.json", "model.safetensors")},
        "adapter_sha256": {f: sha256(os.path.join(ADAPTER, f)) for f in ("adapter_config.json", "adapter_model.safetensors")},
        "image": IMAGE,
        "question": record["question"],
        "chosen": record["answer"],
        "rejected": REJECTED,
        "prompt_ids": prompt_ids,
        "chosen_ids": chosen_ids,
        "rejected_ids": rejected_ids,
        "image_token_id": image_token,
        "base": base_answers,
        "peft": peft_answers,
        "povid": povid,
    }
    with open(os.path.join(OUT, "model.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(OUT, n)) for n in ("model.json", "model.safetensors", "transformers5-config.json"))
    print(f"golden files written to {OUT} ({size / 1024:.0f} KiB); y_n differs at "
          f"{sum(a != b for a, b in zip(yn_ref, yn_pol))} of {len(yn_ref)} positions, gradient gap {gap:.2f}")


if __name__ == "__main__":
    main()
