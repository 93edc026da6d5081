"""Small images: the studio's choice (a CIFAR ResNet) against ResNet-18 and fastai's defaults, on held-out images.

    python benchmarks/small_images.py [--epochs 10] [--batch-size 32] [--seed 0] [--quick]
        [--fastai-python /tmp/fastai-venv/bin/python] [--small-stem [demo,glyphs]] [--data DIR] [--json] [--output FILE]

Two generated data sets, each a train folder and a separate held-out test folder (one
subfolder per class):

- demo: the studio's demo textures (engine/demo.py make_demo_dataset) at 32 px, 4 classes,
  100 training and 100 test images a class (the test folder from another seed);
- glyphs: 28 px grey digits 0-9 rendered with Pillow in the machine's TrueType fonts (or
  Pillow's own), random size, stroke width, rotation, shift, shading, blur and noise:
  360 training and 100 test images a class (different seeds), like the small real scans
  the studio is meant for.

On each, with the same epochs and batch size, every configuration trains in a process of
its own (wall seconds and that process's CPU seconds, children included: the fairer
figure on a shared machine), then predicts the test folder:

- studio's choice: what engine/recommend.py suggests for the scanned folder (a CIFAR
  ResNet from scratch at about the photos' own size) over the studio's defaults;
- ResNet-18, ImageNet stem (stem=imagenet: 7x7 stride 2 and max-pool), from scratch, same size;
- fastai's defaults (benchmarks/fastai_peer.py, in its own virtual environment, given with
  --fastai-python; skipped, and said so, without it);
- ResNet-18, small stem (stem=auto picks it from scratch below 96 px): with --small-stem
  only (16x the multiply-adds: long on a CPU), last.

The studio's runs go through the engine's public API (TrainConfig, Trainer) and are scored
with Predictor + evaluate over the test folder (never the run's validation split); fastai's
with its own get_preds. Prints a Markdown table (--json: one JSON object instead).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GLYPH_CLASSES = tuple("0123456789")
COMMON_ENV = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}  # the studio's thread setting, for all


# ---------------------------------------------------------------- data


def glyph_fonts() -> list[str]:
    """TrueType fonts that draw every digit (the machine's, via fc-list), or [] for Pillow's default font."""
    try:
        listed = subprocess.run(["fc-list", ":", "file"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    fonts = sorted({line.split(":")[0].strip() for line in listed.splitlines() if line.strip()})
    usable = []
    from PIL import ImageFont

    for path in fonts:
        if not path.lower().endswith((".ttf", ".otf")) or "math" in path.lower():
            continue
        try:
            font = ImageFont.truetype(path, 20)
            if all(font.getbbox(c)[2] > font.getbbox(c)[0] for c in GLYPH_CLASSES):
                usable.append(path)
        except OSError:
            continue
    return usable


def draw_glyph(char: str, size: int, fonts: list[str], rng) -> object:
    """One grey `size` px image of `char`: drawn at 4x, turned, shifted, shrunk, shaded, blurred, noised."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    big = size * 4
    points = int(big * rng.uniform(0.55, 0.85))
    if fonts:
        font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], points)
    else:
        font = ImageFont.load_default(points)
    canvas = Image.new("L", (big * 2, big * 2), 0)
    draw = ImageDraw.Draw(canvas)
    stroke = int(rng.integers(0, 3)) * big // 56  # none to bold
    draw.text((big, big), char, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255)
    canvas = canvas.rotate(rng.uniform(-15, 15), resample=Image.BICUBIC, center=(big, big))
    dx, dy = (rng.uniform(-0.12, 0.12, 2) * big).round().astype(int)
    left, top = big // 2 - dx, big // 2 - dy
    mask = canvas.crop((left, top, left + big, top + big)).resize((size, size), Image.LANCZOS)
    mask = mask.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.7)))
    ink = np.asarray(mask, dtype=np.float32) / 255
    bg, fg = rng.uniform(0, 0.45), rng.uniform(0.6, 1.0)
    if rng.random() < 0.3:  # dark on light
        bg, fg = 1 - bg, 1 - fg
    y, x = np.mgrid[0:size, 0:size] / size
    gradient = rng.uniform(-0.15, 0.15) * (x - 0.5) + rng.uniform(-0.15, 0.15) * (y - 0.5)  # uneven lighting
    pixels = bg + (fg - bg) * ink + gradient + rng.normal(0, rng.uniform(0.01, 0.08), (size, size))
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8), "L")


def make_glyphs(folder: Path, per_class: int, size: int, seed: int, fonts: list[str]) -> Path:
    import numpy as np

    rng = np.random.default_rng(seed)
    for char in GLYPH_CLASSES:
        (folder / char).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw_glyph(char, size, fonts, rng).save(folder / char / f"{char}_{i:04d}.png")
    return folder


def make_data(root: Path, quick: bool, seed: int) -> dict[str, dict]:
    """{name: {"train", "test", "classes", "images", "size", "what"}}, written under `root` once."""
    from resnet_studio.engine.demo import DEMO_CLASSES, make_demo_dataset

    demo_train, demo_test = (8, 8) if quick else (100, 100)
    glyph_train, glyph_test = (8, 4) if quick else (360, 100)
    sets = {}
    base = root / f"demo-{demo_train}-{seed}"
    make_demo_dataset(base / "train", per_class=demo_train, image_size=32, seed=seed, reuse=True)
    make_demo_dataset(base / "test", per_class=demo_test, image_size=32, seed=seed + 1_000_003, reuse=True)
    sets["demo"] = {"name": "demo", "train": base / "train", "test": base / "test", "classes": len(DEMO_CLASSES), "size": 32,
                    "images": (demo_train * len(DEMO_CLASSES), demo_test * len(DEMO_CLASSES)),
                    "what": "the studio's demo textures (make_demo_dataset, image_size=32)"}
    fonts = glyph_fonts()
    base = root / f"glyphs-{glyph_train}-{seed}"
    if not (base / "done").exists():
        shutil.rmtree(base, ignore_errors=True)
        make_glyphs(base / "train", glyph_train, 28, seed, fonts)
        make_glyphs(base / "test", glyph_test, 28, seed + 1_000_003, fonts)
        (base / "done").write_text("\n".join(fonts) + "\n")
    sets["glyphs"] = {"name": "glyphs", "train": base / "train", "test": base / "test", "classes": len(GLYPH_CLASSES), "size": 28,
                      "images": (glyph_train * len(GLYPH_CLASSES), glyph_test * len(GLYPH_CLASSES)),
                      "what": f"28 px digits in {len(fonts) or 'Pillow default'} font(s), turned, shifted, noised"}
    return sets


# ---------------------------------------------------------------- configurations


def studio_choice(train: Path) -> dict:
    """What the setup panel suggests for this folder: recommend.suggestion over the default TrainConfig."""
    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.data import scan_dataset
    from resnet_studio.engine.recommend import suggestion

    scan = scan_dataset(train)
    config = TrainConfig(data_dir=str(train))
    suggested = suggestion(scan.median_side, scan.num_train, config)
    if suggested is None:
        raise RuntimeError(f"the studio suggests nothing for {train} (median side {scan.median_side} px)")
    return {"median_side": scan.median_side, **suggested.settings}


def configurations(train: Path, small_stem: bool) -> tuple[list[dict], list[dict]]:
    """The studio's configurations ({name, label, settings: TrainConfig fields}): those before the fastai peer
    (which the caller adds), and those after it (the slow small-stem ResNet-18, with `small_stem`)."""
    choice = studio_choice(train)
    size = choice["image_size"]
    rows = [
        {"name": "choice", "label": f"studio's choice: ResNet-{choice['depth']} at {size} px (recommend.py)",
         "settings": {k: choice[k] for k in ("depth", "image_size", "weights")}},
        {"name": "r18-imagenet", "label": f"ResNet-18, ImageNet stem, at {size} px",
         "settings": {"depth": 18, "image_size": size, "weights": "none", "stem": "imagenet"}},
    ]
    later = [{"name": "r18-small", "label": f"ResNet-18, stem auto (small), at {size} px",
              "settings": {"depth": 18, "image_size": size, "weights": "none", "stem": "auto"}}]
    return rows, later if small_stem else []


# ---------------------------------------------------------------- one configuration, in a child process


def studio_child(spec: dict) -> dict:
    """Train with the engine's Trainer, then predict the held-out test folder with Predictor + evaluate."""
    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.evaluate import evaluate, folder_samples
    from resnet_studio.engine.predict import Predictor
    from resnet_studio.engine.train import Trainer

    started = time.perf_counter()
    config = TrainConfig(data_dir=spec["train"], epochs=spec["epochs"], batch_size=spec["batch_size"], seed=spec["seed"],
                         device="cpu", out_dir=spec["out"], **spec["settings"])
    finished = Trainer(config).run()
    if finished.status != "completed":
        raise RuntimeError(f"the run {finished.status}: {finished.message}")
    trained = time.perf_counter()
    predictor = Predictor.from_path(finished.run_dir, device="cpu")
    samples, skipped, _ = folder_samples(spec["test"], predictor.classes)
    result = evaluate(predictor, samples, skipped=skipped)
    return {"test_acc": result.accuracy, "test_images": len(result.samples), "valid_acc": finished.best_val_acc,
            "best_epoch": finished.best_epoch, "lr": config.resolved_lr(), "stem": config.resolved_stem(),
            "train_seconds": trained - started, "seconds": time.perf_counter() - started}


def studio_row(config: dict, data: dict, args, work: str) -> dict:
    """One studio configuration on one data set, in a child process: the table's row."""
    say(f"{data['name']}: {config['label']}...")
    spec = {"train": str(data["train"]), "test": str(data["test"]), "out": str(Path(work) / "runs"), "epochs": args.epochs,
            "batch_size": args.batch_size, "seed": args.seed, "settings": config["settings"]}
    row = {"name": config["name"], "label": config["label"], **config["settings"]}
    try:
        row.update(run_studio(spec, args.timeout))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        row["error"] = str(exc).strip().splitlines()[-1][:200]
    say(f"  {row}")
    return row


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measured(cmd: list[str], timeout: float) -> dict:
    """Run `cmd`; its last JSON line, with the wall seconds and CPU seconds (user + system, its children too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, **COMMON_ENV})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... printed no result:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**json.loads(lines[-1]), "wall": wall, "cpu": cpu}


def run_studio(spec: dict, timeout: float) -> dict:
    return measured([sys.executable, __file__, "--child", json.dumps(spec)], timeout)


def run_fastai(python: str, data: dict, size: int, args) -> dict:
    cmd = [python, str(HERE / "fastai_peer.py"), str(data["train"]), str(data["test"]), "--size", str(size),
           "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--seed", str(args.seed)]
    if args.fastai_lr:
        cmd += ["--lr", str(args.fastai_lr)]
    return measured(cmd, args.timeout)


# ---------------------------------------------------------------- the report


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           cwd=REPO).stdout.strip()
    return {"cpu": f"{cpu}, {os.cpu_count()} cores", "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available()
            else "none", "torch": torch.__version__, "python": platform.python_version(),
            "commit": (commit or "unknown") + (" (with uncommitted changes)" if dirty else ""),
            "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}


def percent(value) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def report(info: dict, results: dict, args) -> str:
    lines = [f"Machine: {info['cpu']}; GPU: {info['gpu']}; Python {info['python']}, torch {info['torch']}; commit "
             f"{info['commit']}; load average at the start {info['load']}. {args.epochs} epochs, batch {args.batch_size}, "
             f"seed {args.seed}, from scratch; accuracy on the held-out test folder."]
    for name, entry in results.items():
        data = entry["data"]
        lines += ["", f"**{name}**: {data['what']}; {data['images'][0]} training images (80% trained on, 20% the "
                      f"run's validation), {data['images'][1]} held-out test images, {data['classes']} classes.", "",
                  "| configuration | test accuracy | wall | CPU | |", "| --- | --- | --- | --- | --- |"]
        for row in entry["rows"]:
            if "skipped" in row:
                lines.append(f"| {row['label']} | skipped | | | {row['skipped']} |")
                continue
            if "error" in row:
                lines.append(f"| {row['label']} | failed | | | {row['error']} |")
                continue
            note = f"lr {row['lr']:.3g}" + (" (lr_find)" if row.get("lr_find") else "")
            lines.append(f"| {row['label']} | {percent(row['test_acc'])} | {row['wall']:.0f} s | {row['cpu']:.0f} s | "
                         f"{note} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few images a class, for a smoke run")
    parser.add_argument("--fastai-python", help="the Python of a virtual environment with fastai (the peer); "
                                                "without it the peer is skipped")
    parser.add_argument("--fastai-lr", type=float, default=None, help="the peer's learning rate (default: lr_find)")
    parser.add_argument("--small-stem", nargs="?", const="demo,glyphs", default="",
                        help="also ResNet-18 with the small stem, on these data sets (default: both; slow on a CPU)")
    parser.add_argument("--only", default="demo,glyphs", help="comma-separated data sets (demo, glyphs)")
    parser.add_argument("--data", type=Path, default=None, help="keep the generated data here (default: a temp folder)")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds one configuration may take")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--output", type=Path, default=None, help="also write the table (or the JSON) here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))  # this checkout's engine, also where another is installed
    if args.child:
        print(json.dumps(studio_child(json.loads(args.child))), flush=True)
        return
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if set(names) - {"demo", "glyphs"}:
        parser.error(f"unknown data set(s): {', '.join(sorted(set(names) - {'demo', 'glyphs'}))}")

    started = time.perf_counter()
    info = machine()
    tmp = tempfile.TemporaryDirectory(prefix="small-images-")
    root = args.data or Path(tmp.name)
    say("writing the data sets...")
    sets = make_data(root, args.quick, args.seed)
    small_stem = {n.strip() for n in args.small_stem.split(",") if n.strip()}
    if not args.fastai_python:
        say("fastai peer: skipped (no --fastai-python; see benchmarks/fastai_peer.py for its virtual environment)")
    results = {}
    try:
        for name in names:
            data = sets[name]
            first, last = configurations(data["train"], name in small_stem)
            rows = [studio_row(config, data, args, tmp.name) for config in first]
            size = rows[0]["image_size"]
            peer = {"name": "fastai", "label": f"fastai's defaults: vision_learner(resnet18) + aug_transforms + "
                                                f"fit_one_cycle, at {size} px"}
            if args.fastai_python:
                say(f"{name}: {peer['label']}...")
                try:
                    peer.update(run_fastai(args.fastai_python, data, size, args))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    peer["error"] = str(exc).strip().splitlines()[-1][:200]
                say(f"  {peer}")
            else:
                peer["skipped"] = "no --fastai-python given"
            rows.append(peer)
            rows += [studio_row(config, data, args, tmp.name) for config in last]  # the slow one last
            results[name] = {"data": {k: (str(v) if isinstance(v, Path) else v) for k, v in data.items()}, "rows": rows}
    finally:
        tmp.cleanup()
    seconds = time.perf_counter() - started
    if args.json:
        text = json.dumps({"machine": info, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
                           "seconds": seconds, "results": results}, indent=2) + "\n"
    else:
        text = report(info, results, args) + f"\nThe whole benchmark took {seconds / 60:.1f} min.\n"
    print(text, end="")
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    failed = [row for entry in results.values() for row in entry["rows"] if "error" in row]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
