"""int8 ONNX export: fp32 against int8 on a ResNet-18 -- accuracy, file size, batch-1 CPU latency.

    python benchmarks/int8_export.py [--per-class 150] [--epochs 5] [--image-size 224] [--run RUN_DIR] [--work DIR]
        [--variants default|all] [--json]

A ResNet-18 (ImageNet stem, from scratch) trains briefly on the studio's demo textures
(engine/demo.py make_demo_dataset: 4 classes, 64 px pictures, made grey so that colour does
not give the answer away; read at --image-size, 224 by default, so latency is measured on
224 px inputs), with 40% of the images held out as the validation split. Then
engine/quantize.py export_int8 quantizes it (calibrated on 200 of the run's training
images), measures top-1 accuracy of the fp32 and the int8 ONNX models on all the validation
images, their file sizes and their batch-1 latency on ONNX Runtime's CPU provider (median of
30 runs, the two models taking turns). `--variants all` also tries the other settings (QDQ
against QOperator, per-tensor weights, Percentile and Entropy calibration, no
pre-processing, QDQ with int8 activations): the numbers that chose DEFAULT_SETTINGS. `--run`
reuses a trained run folder instead of training; `--work` keeps the data and the run.

Prints a Markdown table (--json: one JSON object). Latency on a shared machine is noisy:
other processes add to it, the fp32 and the int8 model alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def train(work: Path, per_class: int, epochs: int, image_size: int, seed: int) -> Path:
    from PIL import Image

    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.demo import make_demo_dataset
    from resnet_studio.engine.train import Trainer

    data = make_demo_dataset(work / "demo", per_class=per_class, image_size=64, seed=seed)
    # in grey: each demo class leans to its own colour, which alone gives 99% after one epoch (measured),
    # and a model at 100% cannot show what int8 loses; the textures alone leave room to be wrong
    for path in data.rglob("*.png"):
        Image.open(path).convert("L").convert("RGB").save(path)
    config = TrainConfig(data_dir=str(data), depth=18, weights="none", stem="imagenet", image_size=image_size,
                         epochs=epochs, batch_size=32, val_split=0.4, seed=seed, device="cpu", out_dir=str(work / "runs"))
    finished = Trainer(config).run()
    if finished.status != "completed":
        raise SystemExit(f"the run {finished.status}: {finished.message}")
    return Path(finished.run_dir)


def variants(which: str) -> dict:
    from resnet_studio.engine.quantize import DEFAULT_SETTINGS

    d = DEFAULT_SETTINGS
    chosen = {"chosen": d}
    if which == "default":
        return chosen
    other_format = "QDQ" if d.quant_format == "QOperator" else "QOperator"
    return chosen | {
        f"{other_format}": replace(d, quant_format=other_format),
        "per-tensor weights": replace(d, per_channel=not d.per_channel),
        "Percentile calibration": replace(d, calibrate_method="Percentile"),
        "Entropy calibration": replace(d, calibrate_method="Entropy"),
        "no quant_pre_process": replace(d, preprocess=not d.preprocess),
        f"{other_format}, int8 activations": replace(d, quant_format=other_format, activation_type="QInt8"),
    }


def _cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def _settings(s: dict) -> str:
    channel = "per-channel" if s["per_channel"] else "per-tensor"
    pre = "" if s["preprocess"] else ", no pre-process"
    return f"{s['quant_format']}, {channel}, {s['calibrate_method']}, {s['activation_type']}{pre}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=150, help="demo images per class (default: 150)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    parser.add_argument("--image-size", type=int, default=224, help="model input size (default: 224)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", default=None, help="a trained run folder to use instead of training one")
    parser.add_argument("--work", default=None, help="where the data and the run go (kept; default: a temporary folder)")
    parser.add_argument("--variants", choices=("default", "all"), default="default", help="settings to try")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    from resnet_studio.engine.quantize import export_int8

    with tempfile.TemporaryDirectory(prefix="int8-bench-") as tmp:
        work = Path(args.work or tmp)
        started = time.perf_counter()
        run = Path(args.run) if args.run else train(work, args.per_class, args.epochs, args.image_size, args.seed)
        train_seconds = time.perf_counter() - started
        rows = []
        for name, settings in variants(args.variants).items():
            print(f"{name}: {settings.describe()}…", file=sys.stderr, flush=True)
            result = export_int8(run, Path(tmp) / f"{len(rows)}.onnx", settings=settings, max_drop=100.0)
            rows.append({"variant": name, **asdict(result)})
            print(f"  {result.summary()}", file=sys.stderr, flush=True)
    report = {"machine": f"{_cpu_name()}, {os.cpu_count()} CPUs", "run": str(run),
              "train_seconds": train_seconds, "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['machine']}; ResNet-18 at {args.image_size} px, trained {train_seconds:.0f} s\n")
    print("| settings | val images | fp32 top-1 | int8 top-1 | drop (points) | fp32 MB | int8 MB | fp32 ms | int8 ms "
          "| speed-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['variant']}: {_settings(r['settings'])} | {r['validation_images']} | {r['fp32_acc']:.1%} | "
              f"{r['int8_acc']:.1%} | {r['drop_points']:.2f} | {r['fp32_bytes'] / 1e6:.1f} | {r['int8_bytes'] / 1e6:.1f} | "
              f"{r['fp32_ms']:.1f} | {r['int8_ms']:.1f} | {r['speedup']:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
