"""Golden files for the image processor and the image prompt: what transformers' own
Idefics3Processor (AutoProcessor on public/models/tiny, PIL backend) makes of the sample images
and of a 1024 x 768 test image, with and without image splitting.

    npm run golden      # or, after `npm run fixture`: python3 scripts/golden/processor.py (any Python with transformers + pillow)

Writes test/golden/processor/: photo-1024x768.png (the test image, drawn here), manifest.json
(prompt ids, tile grid, versions) and one PNG per case holding the processor's views stacked
top to bottom (tiles row-major, then the global view) as the uint8 values pixel_values came
from: pixel_values == (u8 * rescale_factor - mean) / std, checked here before writing.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import PIL
import transformers
from PIL import Image
from transformers import AutoProcessor

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "public/models/tiny"
SAMPLES = ROOT / "public/samples"
OUT = ROOT / "test/golden/processor"
PHOTO = "photo-1024x768.png"
PHOTO_QUESTION = "What is in this picture?"


def draw_photo() -> Image.Image:
    """A 1024 x 768 scene with smooth areas, hard edges and fine texture (ringing shows up)."""
    h, w = 768, 1024
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 90 + 100 * y / h
    img[..., 1] = 150 + 60 * y / h
    img[..., 2] = 235 - 40 * y / h
    ground = y > 470 + 40 * np.sin(x / 120.0)
    img[ground] = np.stack([60 + 40 * np.sin(x / 37.0), 140 + 30 * np.cos(y / 23.0), 50 + 0 * x], -1)[ground]
    sun = (x - 820) ** 2 + (y - 140) ** 2 < 70**2
    img[sun] = [255, 220, 60]
    house = (x > 250) & (x < 520) & (y > 330) & (y < 560)
    img[house] = [200, 60, 50]
    roof = (y < 330) & (y > 200) & (np.abs(x - 385) < (y - 200) * 1.1)
    img[roof] = [90, 50, 40]
    checks = (x > 600) & (x < 760) & (y > 560) & (y < 720)
    img[checks] = np.where(((x[checks] // 4 + y[checks] // 4) % 2)[:, None] == 0, 250.0, 15.0)
    stripes = (x > 80) & (x < 200) & (y > 600) & (y < 740)
    img[stripes] = (128 + 120 * np.sin(x[stripes] * 0.9))[:, None]
    return Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8), "RGB")


def views_u8(pixel_values: np.ndarray, ip) -> tuple[np.ndarray, float]:
    """[n, 3, S, S] normalised -> [n, S, S, 3] uint8, and the worst reconstruction error."""
    mean = np.array(ip.image_mean, dtype=np.float64)[None, :, None, None]
    std = np.array(ip.image_std, dtype=np.float64)[None, :, None, None]
    pv = pixel_values.astype(np.float64)
    u = np.round((pv * std + mean) / ip.rescale_factor)
    assert u.min() >= 0 and u.max() <= 255, "pixel values outside the uint8 range"
    err = float(np.abs((u * ip.rescale_factor - mean) / std - pv).max())
    assert err < 1e-5, f"pixel values are not uint8 levels (error {err})"
    return u.astype(np.uint8).transpose(0, 2, 3, 1), err


def main() -> int:
    if not (MODEL / "config.json").exists() or not (SAMPLES / "index.json").exists():
        print("run `npm run fixture` first (public/models/tiny and public/samples)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    draw_photo().save(OUT / PHOTO, optimize=True)

    processor = AutoProcessor.from_pretrained(str(MODEL))
    ip = processor.image_processor
    qa = {}
    for line in (SAMPLES / "qa.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            qa[r["image"]] = r["question"]
    inputs = [(f, SAMPLES / f, qa[f]) for f in sorted(qa)] + [(PHOTO, OUT / PHOTO, PHOTO_QUESTION)]

    cases = []
    for name, path, question in inputs:
        image = Image.open(path)
        image.load()
        for detail in ("tiles", "single"):
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
            out = processor(text=prompt, images=[image], do_image_splitting=detail == "tiles", return_tensors="np")
            pv = out["pixel_values"][0]  # [frames, 3, S, S]
            assert out["pixel_attention_mask"].all(), "one image per prompt is never padded"
            u8, err = views_u8(pv, ip)
            stem = f"{Path(name).stem}-{detail}"
            Image.fromarray(u8.reshape(-1, u8.shape[2], 3), "RGB").save(OUT / f"{stem}.png", optimize=True)
            rows, cols = ip.get_number_of_image_patches(image.height, image.width, {"do_image_splitting": detail == "tiles"})[1:]
            assert (rows * cols + 1 if rows else 1) == pv.shape[0]
            cases.append(
                {
                    "image": name,
                    "question": question,
                    "detail": detail,
                    "width": image.width,
                    "height": image.height,
                    "rows": rows,
                    "cols": cols,
                    "frames": int(pv.shape[0]),
                    "views": f"{stem}.png",
                    "views_sha256": hashlib.sha256(u8.tobytes()).hexdigest(),
                    "max_reconstruction_error": err,
                    "prompt": prompt,
                    "input_ids": out["input_ids"][0].tolist(),
                }
            )
            print(f"{stem:28} {pv.shape[0]:2} views, {out['input_ids'].shape[1]:5} tokens")

    manifest = {
        "generator": "scripts/golden/processor.py",
        "transformers": transformers.__version__,
        "pillow": PIL.__version__,
        "processor": type(processor).__name__,
        "image_processor": type(ip).__name__,
        "image_seq_len": processor.image_seq_len,
        "cases": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
