"""Augmentation levels against each other and against the old default, on held-out images.

    python benchmarks/augmentation_levels.py [--epochs 10] [--seeds 0 1] [--sets demo glyphs photos]
        [--levels previous light standard strong auto] [--quick] [--data DIR] [--json]

The data sets (each a train folder and a separate held-out test folder):

- demo, glyphs: small images, as benchmarks/small_images.py makes them (32 px textures,
  28 px digits); trained as the studio suggests for them (a CIFAR ResNet at their own size);
- photos: photo-sized images (the demo textures drawn at 128 px, 40 training images a class,
  100 test images a class), ResNet-18 from scratch at 96 px, the ImageNet stem.

Each level trains in a process of its own (the same epochs, batch and seed), then predicts
the test folder. "previous" is the augmentation before the levels existed (crops of 25-100 %
of the area, flips, nothing else); "auto" is what config.augmentation_level picks.
The table gives the test accuracy per seed and their mean.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
small_images = importlib.import_module("small_images")  # the data sets and the measured child runs, shared

LEVELS = ("previous", "light", "standard", "strong", "auto")


def photo_data(root: Path, quick: bool, seed: int) -> dict:
    from resnet_studio.engine.demo import DEMO_CLASSES, make_demo_dataset

    train, test = (6, 6) if quick else (40, 100)
    base = root / f"photos-{train}-{seed}"
    make_demo_dataset(base / "train", per_class=train, image_size=128, seed=seed, reuse=True)
    make_demo_dataset(base / "test", per_class=test, image_size=128, seed=seed + 1_000_003, reuse=True)
    return {"train": base / "train", "test": base / "test", "classes": len(DEMO_CLASSES), "size": 96,
            "images": (train * len(DEMO_CLASSES), test * len(DEMO_CLASSES)), "what": "demo textures at 128 px"}


def settings_for(name: str, data: dict) -> dict:
    if name == "photos":
        return {"depth": 18, "image_size": 96, "weights": "none", "stem": "imagenet"}
    choice = small_images.studio_choice(data["train"])
    return {k: choice[k] for k in ("depth", "image_size", "weights")}


def child(spec: dict) -> dict:
    """One run: `previous` swaps the old default in for the standard level, in this process only."""
    from resnet_studio.engine import fastdata

    level = spec.pop("level")
    if level == "previous":
        fastdata.AUGMENTATIONS["standard"] = fastdata.AugmentationLevel(scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), rotate=0,
                                                                        lighting=0)
        level = "standard"
    spec["settings"]["augmentation"] = level
    return small_images.studio_child(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sets", nargs="+", default=["demo", "glyphs", "photos"])
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS)
    parser.add_argument("--quick", action="store_true", help="a few images, 1 epoch: a smoke run")
    parser.add_argument("--data", help="where the generated data is kept between runs (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    epochs = 1 if args.quick else args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.data) if args.data else Path(tmp) / "data"
        sets = small_images.make_data(root, args.quick, 0)
        sets["photos"] = photo_data(root, args.quick, 0)
        results = {}
        for name in args.sets:
            data = sets[name]
            settings = settings_for(name, data)
            for level in args.levels:
                for seed in args.seeds:
                    spec = {"train": str(data["train"]), "test": str(data["test"]), "epochs": epochs,
                            "batch_size": args.batch_size, "seed": seed, "out": str(Path(tmp) / "runs"),
                            "settings": dict(settings), "level": level}
                    got = small_images.measured([sys.executable, __file__, "--child", json.dumps(spec)], args.timeout)
                    results.setdefault(name, {}).setdefault(level, []).append(got)
                    print(f"{name} {level} seed {seed}: {got['test_acc'] * 100:.1f}% ({got['wall']:.0f} s)",
                          file=sys.stderr, flush=True)
        if args.json:
            print(json.dumps({"machine": small_images.machine(), "results": results}, indent=2))
            return
        print(table(sets, results, args, epochs))


def table(sets: dict, results: dict, args, epochs: int) -> str:
    lines = [f"{epochs} epochs, batch {args.batch_size}, seeds {', '.join(map(str, args.seeds))}; test accuracy "
             "(mean over seeds)", "", "| data | " + " | ".join(args.levels) + " |", "|---" * (len(args.levels) + 1) + "|"]
    for name, by_level in results.items():
        cells = []
        for level in args.levels:
            accs = [r["test_acc"] for r in by_level.get(level, [])]
            cells.append(f"{sum(accs) / len(accs) * 100:.1f}%" if accs else "n/a")
        lines.append(f"| {name} ({sets[name]['what']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
