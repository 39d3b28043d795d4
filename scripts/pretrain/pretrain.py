"""Pretrains the built-in tiny model on the benchmark scenes (`npm run pretrain`).

transformers' own Idefics3ForConditionalGeneration on the tiny model's config, trained from the
seed-only weights with next-token NLL on the answers (captions with the planted co-occurrence
bias, object probes, colour and count answers) that scripts/pretrain/export-scenes.ts exported
from the TypeScript generator: the same pixels and token ids the app and the engine see. Two
things make it fit a CPU budget: the softmax runs over the trained vocabulary rows plus a sample
of the frozen ones (sampled softmax), and a training-only linear head on the 64 image features
learns which kinds each 64 x 64 cell shows and which kinds the picture shows (dense supervision
of the vision tower; the head is dropped). Half of the pictures are mirrored (the texts name no left or right).

Deterministic for a seed and a thread count: torch.manual_seed, two threads by default, deterministic algorithms,
a fixed batch order. Writes only what was learned (scripts/pretrain/tiny-pretrained.safetensors):
every trained tensor in bf16 except the vocabulary matrices, of which only the rows of tokens that
occur in the scene texts are trained and stored (`<name>:rows` with their ids in `vocab_rows`); the
other rows stay the seed's and are frozen during training, so seed + file = the trained model.

    python scripts/pretrain/pretrain.py [--data .pretrain] [--out FILE] [--seed 0] [--steps N] [--init FILE] [--resume]

Every 500 steps it writes the whole training state (float32 weights, optimizer, training head,
batch order, random generator) to OUT.state; `--resume` continues an interrupted run from there
with the same result as a run that was never stopped. The state file is removed at the end.

`--tower-only` trains the vision tower and connector alone on the training head's losses (no
captions, no decoder): a picture costs a fraction of what it costs in the joint stages, and the
tower, not the decoder, is what needs many pictures. Its file starts the joint stage (--init).
"""

import argparse
import json
import math
import os
import sys
import time
import zlib

import numpy as np
import torch
from transformers import Idefics3ForConditionalGeneration

VOCAB_ROW_TENSORS = ("model.text_model.embed_tokens.weight", "lm_head.weight")


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=".pretrain", help="folder written by export-scenes.ts")
    p.add_argument("--out", default=os.path.join(here, "tiny-pretrained.safetensors"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=12000)
    p.add_argument("--batch", type=int, default=8, help="scenes per step (each brings all its questions)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--threads", type=int, default=2, help="torch threads (results are deterministic for a given count)")
    p.add_argument("--aux-weight", type=float, default=2.0, help="weight of the auxiliary per-token kind loss")
    p.add_argument("--aux-pos-weight", type=float, default=8.0, help="weight of the positive labels in the per-token kind loss")
    p.add_argument("--scene-weight", type=float, default=1.0, help="weight of the per-picture kind loss (max over image tokens)")
    p.add_argument("--negatives", type=int, default=2048, help="frozen vocabulary rows sampled per step for the softmax")
    p.add_argument("--eval-every", type=int, default=2000)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--init", default=None, help="start from the weights in this file (one written by this script), e.g. for a second, warm-restarted stage")
    p.add_argument("--checkpoint", action="store_true", help="also write the weights at each validation to OUT.partial")
    p.add_argument("--state-every", type=int, default=500, help="write the whole training state to OUT.state every N steps (0: never)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.state where an earlier run of the same settings stopped; the result is the uninterrupted run's, bit for bit")
    p.add_argument(
        "--tower-only",
        action="store_true",
        help="train only the vision tower and connector, on the training head's losses (no captions): a first stage that shows the tower many pictures cheaply",
    )
    return p.parse_args()


class Scenes:
    """The exported pictures and token sequences."""

    def __init__(self, folder):
        with open(os.path.join(folder, "scenes.json")) as f:
            meta = json.load(f)
        self.meta = meta
        self.size = meta["size"]
        self.image_token = meta["imageTokenId"]
        self.eos = meta["eosTokenId"]
        self.bin = np.fromfile(os.path.join(folder, "scenes.bin"), dtype=np.uint8)
        self.scenes = meta["scenes"]
        self.by_scene = {}
        for s in meta["sequences"]:
            self.by_scene.setdefault(s["scene"], []).append(s)
        self.pretrain = [i for i, s in enumerate(self.scenes) if s["split"] == "pretrain"]
        self.val = [i for i, s in enumerate(self.scenes) if s["split"] == "val"]

    def pixels(self, i):
        """pixel_values [3, S, S] in [-1, 1], as src/model/image.ts computes them."""
        s = self.scenes[i]
        raw = zlib.decompress(self.bin[s["offset"] : s["offset"] + s["length"]].tobytes())
        rgb = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(self.size, self.size, 3)
        x = rgb.permute(2, 0, 1).to(torch.float32) / 255.0
        return (x - 0.5) / 0.5

    def kind_labels(self, i, grid=8, flip=False):
        """[grid * grid, kinds] 0/1: which kinds cover at least a quarter of each image token's
        cell (the connector's 64 tokens are an 8 x 8 grid of 64 x 64 pixel cells, row-major)."""
        cell = self.size / grid
        out = torch.zeros(grid * grid, len(self.meta["kinds"]))
        for k, x0, y0, x1, y1 in self.scenes[i]["boxes"]:
            if flip:
                x0, x1 = self.size - x1, self.size - x0
            for r in range(grid):
                for c in range(grid):
                    w = min(x1, (c + 1) * cell) - max(x0, c * cell)
                    h = min(y1, (r + 1) * cell) - max(y0, r * cell)
                    if w > 0 and h > 0 and w * h >= 0.25 * cell * cell:
                        out[r * grid + c, int(k)] = 1.0
        return out

    def kinds_present(self, i):
        """[kinds] 0/1: the kinds drawn in the picture."""
        out = torch.zeros(len(self.meta["kinds"]))
        for box in self.scenes[i]["boxes"]:
            out[int(box[0])] = 1.0
        return out

    def vocab_rows(self):
        ids = set()
        for s in self.meta["sequences"]:
            ids.update(s["ids"])
        ids.discard(self.image_token)  # its embedding is replaced by image features
        return sorted(ids)


def batch_sequences(seqs, pad_id):
    T = max(len(s["ids"]) for s in seqs)
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for b, s in enumerate(seqs):
        ids[b, : len(s["ids"])] = torch.tensor(s["ids"])
        mask[b, : len(s["ids"])] = 1
    return ids, mask


def decoder_hidden(model, ids, mask, feats):
    """Last hidden states [N, T, C] with each sequence's image rows set to its image's features."""
    emb = model.model.text_model.get_input_embeddings()(ids)
    emb = model.model.inputs_merger(ids, emb, feats.reshape(-1, feats.shape[-1]))
    return model.model.text_model(inputs_embeds=emb, attention_mask=mask).last_hidden_state


def image_features(model, pixels):
    return model.model.get_image_features(pixels.unsqueeze(1)).pooler_output  # [n, 64, C]


def batch_pixels(data, scene_ids, flips=None):
    """[n, 3, S, S]; the scenes where `flips` is true mirrored (the texts name no left or right,
    so a mirrored scene has the same answers)."""
    pixels = torch.stack([data.pixels(i) for i in scene_ids])
    if flips is not None:
        pixels = torch.where(flips[:, None, None, None], pixels.flip(-1), pixels)
    return pixels


def nll(model, data, scene_ids, pad_id, vocab, negatives, flips=None):
    """Mean next-token NLL of the answers. The softmax runs over the trained vocabulary rows
    (`vocab`) and a sample of the frozen ones, each sampled logit standing for
    frozen / sampled rows (sampled softmax): far less work than all 49,280 rows, the same
    normaliser in expectation. The frozen rows get no gradient (see main)."""
    feats = image_features(model, batch_pixels(data, scene_ids, flips))  # [n, 64, C]
    seqs, owner = [], []
    for k, i in enumerate(scene_ids):
        for s in data.by_scene[i]:
            seqs.append(s)
            owner.append(k)
    ids, mask = batch_sequences(seqs, pad_id)
    h = decoder_hidden(model, ids, mask, feats[torch.tensor(owner)])
    rows, cols = [], []
    for b, s in enumerate(seqs):
        for t in range(s["promptLength"] - 1, len(s["ids"]) - 1):
            rows.append(b)
            cols.append(t)
    rows = torch.tensor(rows)
    cols = torch.tensor(cols)
    hs = h[rows, cols]
    w = model.lm_head.weight
    frozen = w.shape[0] - len(vocab)
    logits = torch.cat([hs @ w[vocab].T, hs @ w[negatives].T + math.log(frozen / len(negatives))], dim=1)
    index = torch.full((w.shape[0],), -1, dtype=torch.long)
    index[vocab] = torch.arange(len(vocab))
    return torch.nn.functional.cross_entropy(logits, index[ids[rows, cols + 1]]), feats


def save_safetensors(tensors, path, metadata):
    """safetensors with a fixed byte layout (tensors by name, metadata keys sorted): the same
    training gives the same file, which safetensors' own writer does not promise."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dtype = {torch.bfloat16: "BF16", torch.float32: "F32"}[t.dtype]
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for b in blobs:
            f.write(b)


def mentions(text, kinds):
    """Kinds named in a generated caption (singular or plural word)."""
    words = set(w.strip(".,").lower() for w in text.split())
    return {k for k, forms in kinds.items() if words & forms}


@torch.no_grad()
def validate(model, data, tokenizer, pad_id, max_new=40, log=None):
    """Greedy captions of the validation scenes: object recall, CHAIR_i and the planted rate."""
    kinds = {}
    for s in data.scenes:
        for e in s["entries"]:
            kinds.setdefault(e["kind"], set())
    plural = {"fish": "fish"}
    for k in kinds:
        kinds[k] = {k, plural.get(k, k + "s")}
    ids_list = [data.by_scene[i][0]["ids"][: data.by_scene[i][0]["promptLength"]] for i in data.val]
    feats = torch.cat([image_features(model, torch.stack([data.pixels(i) for i in data.val[j : j + 16]])) for j in range(0, len(data.val), 16)])
    outs = [[] for _ in data.val]
    done = [False] * len(data.val)
    for _ in range(max_new):
        seqs = [{"ids": p + o} for p, o in zip(ids_list, outs)]
        ids, mask = batch_sequences(seqs, pad_id)
        h = decoder_hidden(model, ids, mask, feats)
        last = torch.tensor([len(s["ids"]) - 1 for s in seqs])
        nxt = model.lm_head(h[torch.arange(len(seqs)), last]).argmax(-1).tolist()
        for b, t in enumerate(nxt):
            if not done[b]:
                outs[b].append(t)
                done[b] = t == data.eos
        if all(done):
            break
    present_total = recalled = mentioned_total = hallucinated = invited = planted = 0
    samples = []
    for b, i in enumerate(data.val):
        text = tokenizer.decode([t for t in outs[b] if t != data.eos])
        s = data.scenes[i]
        truth = {e["kind"] for e in s["entries"]}
        said = mentions(text, kinds)
        present_total += len(truth)
        recalled += len(truth & said)
        mentioned_total += len(said)
        hallucinated += len(said - truth)
        for p in s["invited"]:
            invited += 1
            planted += p in said
        if len(samples) < 4:
            samples.append(f"{s['caption']!r} -> {text.strip()!r}")
    res = {
        "recall": recalled / max(1, present_total),
        "chair_i": hallucinated / max(1, mentioned_total),
        "planted": planted / max(1, invited),
        "invited": invited,
    }
    if log:
        log(f"  validation: recall {res['recall']:.3f}  CHAIR_i {res['chair_i']:.3f}  planted {res['planted']:.3f} of {invited}")
        for x in samples:
            log("   ", x)
    return res


def tower_loss(cell_logits, labels, present):
    """The tower-only stage's loss. Each image token's cell: a softmax over the kinds and
    "nothing" (the last logit), the target spread evenly over the kinds that cover the cell; and,
    as in the joint stages, which kinds the picture shows, its strongest cell speaking for it."""
    covered = labels.sum(-1, keepdim=True)
    nothing = (covered == 0).to(labels.dtype)
    target = torch.cat([labels / covered.clamp(min=1), nothing], dim=-1)
    cells = torch.nn.functional.cross_entropy(cell_logits.flatten(0, 1), target.flatten(0, 1))
    scene = torch.nn.functional.binary_cross_entropy_with_logits(cell_logits[..., :-1].amax(1), present)
    return cells, scene


@torch.no_grad()
def validate_tower(model, aux, data, log=None):
    """What the tower-only stage can judge without a trained decoder: how often the training
    head names a kind that covers an image token's cell (of the cells some kind covers), and the
    recall and precision of the kinds it finds in each validation picture."""
    hit = cells = found = present_total = said = 0
    for j in range(0, len(data.val), 16):
        batch = data.val[j : j + 16]
        logits = aux(image_features(model, torch.stack([data.pixels(i) for i in batch])))[..., :-1]
        labels = torch.stack([data.kind_labels(i) for i in batch])
        covered = labels.sum(-1) > 0
        best = labels.gather(-1, logits.argmax(-1, keepdim=True))[..., 0] > 0
        hit += (best & covered).sum().item()
        cells += covered.sum().item()
        present = torch.stack([data.kinds_present(i) for i in batch])
        guess = (logits.amax(1) > 0).to(present.dtype)
        found += (guess * present).sum().item()
        present_total += present.sum().item()
        said += guess.sum().item()
    res = {"cell_top1": hit / max(1, cells), "kind_recall": found / max(1, present_total), "kind_precision": found / max(1, said)}
    if log:
        log(f"  validation: cell top-1 {res['cell_top1']:.3f}  kind recall {res['kind_recall']:.3f}  kind precision {res['kind_precision']:.3f}")
    return res


def learned(model, rows):
    """What the file stores: every trained tensor in bf16, of the vocabulary matrices only the
    trained rows, and the rows' ids."""
    out = {}
    for name, p in model.named_parameters():
        t = p.detach().to(torch.bfloat16).contiguous()
        if name in VOCAB_ROW_TENSORS:
            out[f"{name}:rows"] = t[rows].contiguous()
        else:
            out[name] = t
    out["vocab_rows"] = rows.to(torch.float32)
    return out


def load_learned(model, path):
    """Overlays what learned() stored in PATH on the seed model: the inverse of learned()."""
    from safetensors.torch import load_file

    stored = load_file(path)
    rows = stored.pop("vocab_rows").to(torch.long)
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, t in stored.items():
            if name.endswith(":rows"):
                name = name[: -len(":rows")]
                assert name in VOCAB_ROW_TENSORS, f"{path}: unexpected row tensor {name}"
                named[name][rows] = t.to(torch.float32)
            else:
                assert name in named and named[name].shape == t.shape, f"{path}: {name} does not fit the model"
                named[name].copy_(t.to(torch.float32))
    missing = set(named) - set(stored) - set(VOCAB_ROW_TENSORS)
    assert not missing, f"{path}: lacks {sorted(missing)[:3]}"


def run_metadata(args, data, res, steps):
    init = {}
    if args.init:
        from safetensors import safe_open

        with safe_open(args.init, "pt") as f:
            before = f.metadata()
        init = {"init": json.dumps({k: before[k] for k in ("seed", "steps", "lr", "tower_only", "init") if k in before})}
    return {
        **init,
        "format": "pt",
        "seed": str(args.seed),
        "steps": str(steps),
        "batch": str(args.batch),
        "lr": str(args.lr),
        "aux_weight": str(args.aux_weight),
        "aux_pos_weight": str(args.aux_pos_weight),
        "scene_weight": str(args.scene_weight),
        **({"tower_only": "true"} if args.tower_only else {}),
        "threads": str(args.threads),
        "scenes": str(len(data.pretrain)),
        "data_seed": str(data.meta["seed"]),
        "validation": json.dumps(res),
        "torch": torch.__version__,
    }


# Settings that must match for a state file to continue a run.
STATE_KEYS = ("data", "seed", "steps", "batch", "lr", "warmup", "threads", "aux_weight", "aux_pos_weight", "scene_weight", "negatives", "init", "tower_only")


def state_settings(args):
    return {k: getattr(args, k) for k in STATE_KEYS}


def save_state(path, step, model, aux, opt, sched, g, order, ema, args):
    """The whole training state after `step` steps, written atomically (a stop mid-write keeps the last one)."""
    state = {
        "step": step,
        "settings": state_settings(args),
        "model": model.state_dict(),
        "aux": aux.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "generator": g.get_state(),
        "order": order,
        "ema": ema,
    }
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)


def load_state(path, model, aux, opt, sched, g, args):
    """Restores what save_state wrote; returns (step, order, ema)."""
    state = torch.load(path, weights_only=False)
    settings = state_settings(args)
    if state["settings"] != settings:
        changed = sorted(k for k in settings if state["settings"].get(k) != settings[k])
        raise SystemExit(f"{path}: written by a run with other settings ({', '.join(changed)}); run without --resume to start over, or with that run's settings")
    model.load_state_dict(state["model"])
    aux.load_state_dict(state["aux"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    g.set_state(state["generator"])
    return state["step"], state["order"], state["ema"]


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    start = time.time()

    def log(*a):
        print(f"[{time.time() - start:7.1f}s]", *a, flush=True)

    data = Scenes(args.data)
    model = Idefics3ForConditionalGeneration.from_pretrained(os.path.join(args.data, "model-init"), dtype=torch.float32, attn_implementation="sdpa")
    if args.init:
        load_learned(model, args.init)
    model.train()
    assert model.lm_head.weight.data_ptr() != model.model.text_model.embed_tokens.weight.data_ptr(), "lm_head must not be tied"
    pad_id = model.config.pad_token_id
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(args.data, "model-init", "tokenizer.json"))

    rows = torch.tensor(data.vocab_rows())
    row_mask = torch.zeros(model.config.text_config.vocab_size, 1)
    row_mask[rows] = 1.0
    frozen_rows = torch.nonzero(row_mask[:, 0] == 0)[:, 0]
    named = dict(model.named_parameters())
    for name in VOCAB_ROW_TENSORS:
        named[name].register_hook(lambda g: g * row_mask)
    # Auxiliary head, training only: which kinds each image token shows. Dense supervision of the
    # vision tower and connector; the captions alone teach it to see far more slowly.
    # The tower-only stage's head also has a "nothing" logit (see tower_loss).
    aux = torch.nn.Linear(model.config.text_config.hidden_size, len(data.meta["kinds"]) + int(args.tower_only))
    if args.tower_only:
        params = list(model.model.vision_model.parameters()) + list(model.model.connector.parameters())
    else:
        params = [p for p in model.parameters() if p.requires_grad]
    log(f"{len(data.pretrain)} scenes, {sum(len(data.by_scene[i]) for i in data.pretrain)} sequences, {len(rows)} vocabulary rows trained, {sum(p.numel() for p in params)} parameters")

    opt = torch.optim.AdamW(params + list(aux.parameters()), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / args.warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, args.steps))))
    )
    g = torch.Generator().manual_seed(args.seed)
    order = []
    ema = None
    first = 0
    state_path = args.out + ".state"
    if args.resume:
        if not os.path.exists(state_path):
            raise SystemExit(f"{state_path}: no training state to resume from; run without --resume")
        first, order, ema = load_state(state_path, model, aux, opt, sched, g, args)
        log(f"resumed from {state_path} after step {first}")
    for step in range(first, args.steps):
        if len(order) < args.batch:
            order += [data.pretrain[i] for i in torch.randperm(len(data.pretrain), generator=g).tolist()]
        batch, order = order[: args.batch], order[args.batch :]
        negatives = None if args.tower_only else frozen_rows[torch.randint(len(frozen_rows), (args.negatives,), generator=g)]
        flips = torch.rand(len(batch), generator=g) < 0.5
        labels = torch.stack([data.kind_labels(i, flip=bool(f)) for i, f in zip(batch, flips)])
        present = torch.stack([data.kinds_present(i) for i in batch])
        if args.tower_only:
            loss_nll, loss_aux = tower_loss(aux(image_features(model, batch_pixels(data, batch, flips))), labels, present)  # (cells, scene)
            loss = loss_nll + args.scene_weight * loss_aux
        else:
            loss_nll, feats = nll(model, data, batch, pad_id, rows, negatives, flips)
            cell_logits = aux(feats)
            loss_aux = torch.nn.functional.binary_cross_entropy_with_logits(cell_logits, labels, pos_weight=torch.tensor(args.aux_pos_weight))
            loss = loss_nll + args.aux_weight * loss_aux
            if args.scene_weight:
                # Which kinds the picture shows at all: the strongest cell speaks for the picture.
                loss = loss + args.scene_weight * torch.nn.functional.binary_cross_entropy_with_logits(cell_logits.amax(1), present)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        ema = [loss_nll.item(), loss_aux.item()] if ema is None else [0.95 * e + 0.05 * x.item() for e, x in zip(ema, (loss_nll, loss_aux))]
        if (step + 1) % args.log_every == 0:
            names = ("cells", "scene") if args.tower_only else ("nll", "aux")
            log(f"step {step + 1}/{args.steps}  {names[0]} {ema[0]:.4f}  {names[1]} {ema[1]:.4f}  lr {sched.get_last_lr()[0]:.2e}")
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            model.eval()
            res = validate_tower(model, aux, data, log=log) if args.tower_only else validate(model, data, tokenizer, pad_id, log=log)
            model.train()
            if args.checkpoint:
                save_safetensors(learned(model, rows), args.out + ".partial", run_metadata(args, data, res, step + 1))
        if args.state_every and (step + 1) % args.state_every == 0 and step + 1 < args.steps:
            save_state(state_path, step + 1, model, aux, opt, sched, g, order, ema, args)

    # What the engine will run: bf16 weights.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    model.eval()
    res = validate_tower(model, aux, data, log=log) if args.tower_only else validate(model, data, tokenizer, pad_id, log=log)

    save_safetensors(learned(model, rows), args.out, run_metadata(args, data, res, args.steps))
    log(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    if os.path.exists(state_path):
        os.remove(state_path)


if __name__ == "__main__":
    sys.exit(main())
