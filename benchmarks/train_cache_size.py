"""Which random crops are upscaled, and whether caching training images larger pays.

    python benchmarks/train_cache_size.py [--data DIR] [--scales 1.14,2] [--seeds 3]
                                          [--image-size 64] [--epochs 12] [--depth 18]
                                          [--weights none] [--lr LR] [--output FILE]

Training images are cached with their shorter side at TRAIN_CACHE_SCALE times the crop
(engine/train/prepare.py). Random resized crops take 25-100 % of an image's area, so a
crop from a cache at 1.14x the crop is mostly smaller than the crop and is upscaled:
blurrier than the centre crops validation and prediction see. For each scale this
measures (1) the share of one epoch's training crops that are upscaled, and by how much
(the crop boxes the trainer draws, from the cached sizes), and (2) the validation
accuracy of the same run at each scale, over several seeds.

Without --data it generates a folder where fine detail decides the class: four texture
kinds at periods of 8-14 % of the picture, in colours that say nothing about the class,
as 480x360 JPEGs. With --data it measures on your own photo folder (use --weights
imagenet there, on a machine that has the weights). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.data import scan_dataset
from resnet_studio.engine.fastdata import DecodedCache, random_resized_crop_boxes
from resnet_studio.engine.train import Trainer, prepare

KINDS = ("stripes", "checkers", "dots", "rings")


def fine_texture(kind: str, width: int, height: int, rng: np.random.Generator) -> Image.Image:
    """A texture whose kind shows only in its fine detail (period 8-14 % of the short side)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / min(width, height)
    angle = rng.uniform(0, np.pi)
    u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
    period, phase = rng.uniform(0.08, 0.14), rng.uniform(0, 1)
    wave = lambda t: np.sin(2 * np.pi * (t / period + phase)) > 0
    if kind == "stripes":
        mask = wave(u)
    elif kind == "checkers":
        mask = wave(u) ^ wave(v)
    elif kind == "dots":
        mask = ((u / period + phase) % 1 - 0.5) ** 2 + ((v / period + phase) % 1 - 0.5) ** 2 < 0.08
    else:
        cx, cy = rng.uniform(0.2, 1.2, 2)
        mask = wave(np.sqrt((x - cx) ** 2 + (y - cy) ** 2))
    fg, bg = rng.uniform(0.2, 0.9, 3), rng.uniform(0.1, 0.8, 3)  # any colours, for every kind
    shade = 0.75 + 0.25 * np.sin(2 * np.pi * (x * rng.uniform(0.3, 1) + rng.uniform(0, 1)))[..., None]  # coarse light
    img = np.where(mask[..., None], fg, bg) * shade + rng.normal(0, 0.04, (height, width, 3))
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")


def make_folder(out: Path, per_class: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for kind in KINDS:
        (out / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            landscape = i % 3 != 0
            w, h = (480, 360) if landscape else (360, 480)
            fine_texture(kind, w, h, rng).save(out / kind / f"{i:04d}.jpg", quality=92)
    return out


def upscaled(data: Path, image_size: int, scale: float, seed: int = 0) -> tuple[float, float, float]:
    """(share of one epoch's training crops smaller than the crop, their median and largest
    upscale factor) for the cache at `scale`, from the boxes the trainer draws."""
    scan = scan_dataset(str(data), 0.2, seed)
    cache = DecodedCache(prepare.training_short_side(image_size, scale), budget_bytes=0)
    sizes = torch.tensor([tuple(cache.get(path).shape[:2]) for path, _ in scan.train])
    boxes = random_resized_crop_boxes(sizes, torch.Generator().manual_seed(seed))
    side = torch.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    factor = image_size / side
    up = factor[factor > 1]
    return float((factor > 1).float().mean()), float(up.median()) if len(up) else 1.0, float(factor.max())


def run(data: Path, out: Path, scale: float, seed: int, args) -> float:
    prepare.TRAIN_CACHE_SCALE = scale
    config = TrainConfig(
        data_dir=str(data), depth=args.depth, weights=args.weights, epochs=args.epochs, batch_size=args.batch_size,
        image_size=args.image_size, device=args.device, out_dir=str(out), seed=seed, lr=args.lr,
    )
    result = Trainer(config).run()
    if result.status != "completed":
        raise SystemExit(f"run failed: {result.message}")
    return result.final_val_acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a photo folder (default: generated fine textures)")
    parser.add_argument("--per-class", type=int, default=100, help="generated images per class")
    parser.add_argument("--scales", default="1.14,2", help="cache sides to compare, times the crop")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--depth", type=int, default=18)
    parser.add_argument("--weights", default="none")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the studio's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or make_folder(Path(tmp) / "textures", args.per_class)
        rows = [
            f"| cache side (x crop {args.image_size} px) | crops upscaled | median / largest upscale | "
            f"final val accuracy, {args.seeds} seeds | mean |",
            "|---|---|---|---|---|",
        ]
        for scale in scales:
            share, median, largest = upscaled(data, args.image_size, scale)
            accs = [run(data, Path(tmp) / "runs", scale, seed, args) for seed in range(args.seeds)]
            side = prepare.training_short_side(args.image_size, scale)
            rows.append(
                f"| {scale:g} ({side} px) | {share:.0%} | {median:.2f}x / {largest:.2f}x | "
                f"{', '.join(f'{a:.3f}' for a in accs)} | {statistics.mean(accs):.3f} |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    table = "\n".join(rows)
    print(table)
    if args.output:
        args.output.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
