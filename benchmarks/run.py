"""ResNet Studio benchmarks, side by side on the same generated photos, in one command.

    python benchmarks/run.py [--quick] [--data DIR] [--output FILE] [--only PARTS]

1. training: `resnet-studio train` against the plain PyTorch loop (plain_loop.py:
   ImageFolder + DataLoader, same model, size, batch, workers), per-epoch images/s and
   whole-run wall time, on photo-sized JPEGs (photo_folder.py); ResNet-18 at 64 px on
   the CPU, and ResNet-50 at 224 px with mixed precision when a CUDA GPU is present
2. event loop: the largest and 99th-percentile gap of a 10 ms QTimer in the studio
   window while a ResNet-18 run trains on the CPU
3. prediction: latency for one 12 MP photo, decoding included, ResNet-18 and -50
4. cold start: `python main.py` launched to window shown

Prints a Markdown table (and writes it to --output). Runs take the median of --repeat
runs, interleaving the contenders so that a busy machine slows both alike. The data
are generated once into --data and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PARTS = ("train", "eventloop", "predict", "start")


# ---------------------------------------------------------------- helpers


# Both loops run with the same OpenMP setting: the studio's (resnet_studio/__init__.py).
COMMON_ENV = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


def _run(cmd: list[str], env: dict | None = None, timeout: float = 3600) -> tuple[float, str]:
    """Run a command; (wall seconds, stdout). Raises with its stderr when it fails."""
    started = time.perf_counter()
    env = {**os.environ, **COMMON_ENV, **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def _fmt(value, digits=1, unit=""):
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"


def machine() -> dict:
    import PIL
    import PIL.features
    import torch
    import torchvision

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    memory = None
    if hasattr(os, "sysconf"):
        try:
            memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
        except (ValueError, OSError):
            pass
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores" + (f", {memory:.0f} GB RAM" if memory else ""),
        "gpu": gpu,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pillow": PIL.__version__ + (" (libjpeg-turbo)" if PIL.features.check_feature("libjpeg_turbo") else ""),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a",
    }


def photo_folder(root: Path, per_class: int, copies: int = 1) -> Path:
    """DEMO textures as 1600x1200 JPEGs (with broken files), made once; `copies` > 1 adds
    hard links (or copies) of each photo under new names for a bigger folder."""
    sys.path.insert(0, str(HERE))
    from photo_folder import make_photo_folder
    from plain_loop import BROKEN

    base = root / f"photos-{per_class}"
    if not (base / "stripes").is_dir():
        print(f"writing {4 * per_class} photos of 1600x1200 to {base} (once)...", file=sys.stderr, flush=True)
        shutil.rmtree(base, ignore_errors=True)
        make_photo_folder(base, per_class, 1600, 1200, held_out=0)
    if copies <= 1:
        return base
    big = root / f"photos-{per_class}x{copies}"
    if not (big / "stripes").is_dir():
        for cls in sorted(p for p in base.iterdir() if p.is_dir()):
            (big / cls.name).mkdir(parents=True, exist_ok=True)
            for f in cls.iterdir():
                if f.name in BROKEN:  # the broken files once, under the names the plain loop leaves out
                    (big / cls.name / f.name).write_bytes(f.read_bytes())
                    continue
                for k in range(copies):
                    target = big / cls.name / f"c{k:03d}_{f.name}"
                    try:
                        os.link(f, target)
                    except OSError:
                        shutil.copyfile(f, target)
    return big


# ---------------------------------------------------------------- 1. training


def studio_train(
    data: Path, out: Path, depth: int, size: int, epochs: int, batch: int, workers: int, device: str, extra=()
) -> dict:
    cmd = [sys.executable, "-m", "resnet_studio", "train", str(data), "--depth", str(depth), "--weights", "none",
           "--image-size", str(size), "--epochs", str(epochs), "--batch-size", str(batch), "--workers", str(workers),
           "--device", device, "--out", str(out), *extra]
    wall, stdout = _run(cmd)
    run_dir = Path(stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if '"epoch"' in line]
    epochs_rows = [r for r in rows if r.get("event") == "epoch"]
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"wall": wall, "ips": [r["images_per_sec"] for r in epochs_rows], "seconds": [r["seconds"] for r in epochs_rows],
            "val_acc": epochs_rows[-1]["val_acc"]}


def plain_train(data: Path, depth: int, size: int, epochs: int, batch: int, workers: int, device: str) -> dict:
    cmd = [sys.executable, str(HERE / "plain_loop.py"), str(data), "--depth", str(depth), "--image-size", str(size),
           "--epochs", str(epochs), "--batch-size", str(batch), "--workers", str(workers), "--device", device, "--json"]
    wall, stdout = _run(cmd)
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {"wall": wall, "ips": [r["images_per_sec"] for r in rows], "seconds": [r["seconds"] for r in rows],
            "val_acc": rows[-1]["val_acc"]}


def bench_training(data: Path, device: str, depth: int, size: int, batch: int, epochs: int, workers: int, repeat: int,
                   extras: dict[str, list[str]]) -> list[dict]:
    """Interleaved runs; returns one row per contender with medians."""
    results: dict[str, list[dict]] = {"plain": [], "studio": [], **{k: [] for k in extras}}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeat):
            print(f"training on {device}, round {r + 1}/{repeat}...", file=sys.stderr, flush=True)
            results["plain"].append(plain_train(data, depth, size, epochs, batch, workers, device))
            results["studio"].append(studio_train(data, Path(tmp), depth, size, epochs, batch, workers, device))
            for name, extra in extras.items():
                if r == 0:  # the extra variants run once
                    results[name].append(studio_train(data, Path(tmp), depth, size, epochs, batch, workers, device, extra))
    rows = []
    for name, runs in results.items():
        rows.append({
            "name": name,
            "ips": [_median(run["ips"][e] for run in runs) for e in range(epochs)],
            "seconds": [_median(run["seconds"][e] for run in runs) for e in range(epochs)],
            "wall": _median(run["wall"] for run in runs),
            "val_acc": _median(run["val_acc"] for run in runs),
            "runs": len(runs),
        })
    return rows


# ---------------------------------------------------------------- 2. event loop


def eventloop_part(data: str, epochs: int) -> dict:
    """In a child process: the studio window (or what of it exists) while ResNet-18 trains."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from resnet_studio.engine.config import TrainConfig

    app = QApplication.instance() or QApplication([])
    config = TrainConfig(data_dir=data, depth=18, weights="none", epochs=epochs, batch_size=32, image_size=64,
                         device="cpu", out_dir=tempfile.mkdtemp())
    window = None
    try:
        if os.environ.get("BENCH_NO_WINDOW"):
            raise RuntimeError("BENCH_NO_WINDOW is set")
        from resnet_studio.ui.main_window import MainWindow

        window = MainWindow()
        window.resize(1320, 840)
        window.show()
        ready_by = time.perf_counter() + 60
        while not window.is_ready() and time.perf_counter() < ready_by:  # as a person would: after it loaded
            app.processEvents()
            time.sleep(0.01)
        controller, mode = window.controller, "the studio window (MainWindow, its curves updating)"
    except Exception as exc:  # no window (asked for, or the UI is not usable): the worker on its own
        print(f"no window ({exc}); measuring with the TrainingController alone", file=sys.stderr)
        from resnet_studio.ui.worker import TrainingController

        controller, mode = TrainingController(), "the training thread alone (ui/worker.py, no window)"
    clock = QElapsedTimer()
    clock.start()
    state = {"last": None, "training": False, "done": False, "error": None}
    gaps: list[float] = []

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if state["training"] and state["last"] is not None:
            gaps.append(now - state["last"])
            if now - state["last"] > 50 and os.environ.get("BENCH_VERBOSE"):
                print(f"gap {now - state['last']:.0f} ms ending at {now / 1000:.2f} s", file=sys.stderr)
        state["last"] = now

    def started(_event) -> None:
        state["training"] = True
        if os.environ.get("BENCH_VERBOSE"):
            print(f"run started at {clock.nsecsElapsed() / 1e9:.2f} s", file=sys.stderr)
            controller.epochEnded.connect(
                lambda e: print(f"epoch {e.epoch} ended at {clock.nsecsElapsed() / 1e9:.2f} s", file=sys.stderr)
            )

    def ended(result) -> None:
        state["training"], state["done"] = False, True
        if isinstance(result, str):
            state["error"] = result

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(tick)
    controller.runStarted.connect(started)
    controller.finished.connect(ended)
    controller.failed.connect(ended)
    timer.start()
    started_at = time.perf_counter()
    controller.start(config)
    while not state["done"]:
        app.processEvents()
        time.sleep(0.001)
        if time.perf_counter() - started_at > 1800:
            raise RuntimeError("the training run did not end")
    timer.stop()
    if window is not None:
        window.close()
    if state["error"]:
        raise RuntimeError(state["error"])
    gaps.sort()
    return {"mode": mode, "epochs": epochs, "ticks": len(gaps), "max_ms": gaps[-1], "p99_ms": gaps[int(0.99 * (len(gaps) - 1))],
            "median_ms": statistics.median(gaps), "seconds": time.perf_counter() - started_at}


# ---------------------------------------------------------------- 3. prediction


def predict_part(photo: str, repeat: int) -> list[dict]:
    import torch

    from resnet_studio.engine import data
    from resnet_studio.engine.models import build_model
    from resnet_studio.engine.predict import Predictor

    rows = []
    for depth in (18, 50):
        torch.manual_seed(0)
        predictor = Predictor(build_model(depth, 4, "none"), ["a", "b", "c", "d"], 224, device="cpu")
        started = time.perf_counter()
        predictor.predict([photo])
        first = time.perf_counter() - started
        total, decode = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            data.load_image(photo, min_size=predictor.resize_size)
            decode.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            predictor.predict([photo])
            total.append(time.perf_counter() - t0)
        rows.append({"depth": depth, "first_ms": first * 1000, "ms": _median(total) * 1000, "decode_ms": _median(decode) * 1000})
    return rows


def twelve_megapixel_photo(root: Path) -> Path:
    path = root / "photo-4000x3000.jpg"
    if not path.exists():
        import numpy as np

        sys.path.insert(0, str(REPO))
        from resnet_studio.engine.demo import draw_demo_image

        image = draw_demo_image("rings", 4000, np.random.default_rng(0)).crop((0, 0, 4000, 3000))
        exif = image.getexif()
        exif[0x0112] = 6  # a portrait shot, as phones store it
        image.save(path, quality=90, exif=exif.tobytes())
    return path


# ---------------------------------------------------------------- 4. cold start


def cold_start(repeat: int) -> dict:
    shown, walls = [], []
    env = {"RESNET_STUDIO_EXIT_AFTER_SHOW": "1", "QT_QPA_PLATFORM": "offscreen", "RESNET_STUDIO_HOME": tempfile.mkdtemp()}
    for _ in range(repeat):
        wall, out = _run([sys.executable, "main.py"], env=env, timeout=300)
        match = re.search(r"window shown after ([\d.]+) s", out)
        shown.append(float(match.group(1)) if match else None)
        walls.append(wall)
    return {"shown": _median(shown), "wall": _median(walls)}


# ---------------------------------------------------------------- the report


def report(info: dict, results: dict, args) -> str:
    lines = ["### Benchmarks", ""]
    lines.append(f"Machine: {info['cpu']}; GPU: {info['gpu']}; {info['os']}; Python {info['python']}, torch "
                 f"{info['torch']}, torchvision {info['torchvision']}, Pillow {info['pillow']}. Load average "
                 f"at the start: {info['load']}. Medians of {args.repeat} run(s)"
                 + ("; the `--trainable head` and `--compile` variants ran once." if not args.quick else "."))
    for key, title in (("train_cpu", "CPU"), ("train_gpu", "GPU")):
        train = results.get(key)
        if not train:
            if key == "train_gpu":
                lines += ["", "GPU training: not measured (no CUDA GPU on this machine)."]
            continue
        setup = train["setup"]
        lines += ["", f"Training on the {title}: ResNet-{setup['depth']} at {setup['size']} px, batch {setup['batch']}, "
                      f"{setup['epochs']} epochs, {setup['images']} photo-sized JPEGs (1600x1200), {setup['workers']} "
                      f"loading workers, weights from scratch.", ""]
        epochs = setup["epochs"]
        lines.append("| | " + " | ".join(f"epoch {e + 1} img/s" for e in range(epochs)) + " | whole run | val acc |")
        lines.append("| --- " * (epochs + 3) + "|")
        names = {"plain": "plain loop (ImageFolder + DataLoader" + (", fp32)" if title == "GPU" else ")"),
                 "studio": "`resnet-studio train`", "compile": "`resnet-studio train --compile`",
                 "head": "`resnet-studio train --trainable head --no-augment`"}
        plain = next(r for r in train["rows"] if r["name"] == "plain")
        for row in train["rows"]:
            cells = [_fmt(v, 0) for v in row["ips"]] + [_fmt(row["wall"], 1, " s"), _fmt(row["val_acc"] * 100, 0, "%")]
            lines.append(f"| {names.get(row['name'], row['name'])} | " + " | ".join(cells) + " |")
            if row["name"] != "plain":
                ratio = [_times(a / b) if a and b else "" for a, b in zip(row["ips"], plain["ips"])]
                lines.append("| speed-up | " + " | ".join(ratio) + f" | {_times(plain['wall'] / row['wall'])} | |")
    loops = results.get("eventloop")
    if loops:
        lines += ["", f"Event loop while ResNet-18 trains on the CPU (64 px, {loops[0]['epochs']} epoch(s) on the photos "
                      "above, decoding included): the gaps between the ticks of a 10 ms QTimer.", "",
                  "| measured in | ticks | largest gap | 99th percentile | median |", "| --- | --- | --- | --- | --- |"]
        for loop in loops:
            lines.append(f"| {loop['mode']} | {loop['ticks']} | {loop['max_ms']:.0f} ms | {loop['p99_ms']:.0f} ms | "
                         f"{loop['median_ms']:.1f} ms |")
    pred = results.get("predict")
    if pred:
        lines += ["", "Prediction of one dropped 12 MP photo (4000x3000 JPEG) on the CPU, decoding included:", "",
                  "| model | latency | of which decoding | first prediction (cold) |", "| --- | --- | --- | --- |"]
        for row in pred:
            lines.append(f"| ResNet-{row['depth']} | {row['ms']:.0f} ms | {row['decode_ms']:.0f} ms | {row['first_ms']:.0f} ms |")
    start = results.get("start")
    if start:
        lines += ["", f"Cold start, `python main.py` to window shown: {_fmt(start['shown'], 2, ' s')} "
                      f"(process start to exit: {_fmt(start['wall'], 2, ' s')})."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer photos and one run each (a few minutes)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "resnet-studio-bench",
                        help="where the generated photos are kept between runs")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown table here")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts to run ({', '.join(PARTS)})")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (default: 3, 1 with --quick)")
    parser.add_argument(
        "--workers", type=int, default=None, help="loading workers for both loops (default: studio's automatic choice)"
    )
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--arg", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "eventloop":  # child processes
        print(json.dumps(eventloop_part(args.arg, 1 if args.quick else 2)))
        return
    if args.part == "predict":
        print(json.dumps(predict_part(args.arg, 3 if args.quick else 10)))
        return
    args.repeat = args.repeat or (1 if args.quick else 3)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")

    import torch

    info = machine()
    results: dict = {}
    args.data.mkdir(parents=True, exist_ok=True)
    per_class = 15 if args.quick else 60
    cores = os.cpu_count() or 1
    if "train" in parts or "eventloop" in parts:
        photos = photo_folder(args.data, per_class)
    if "train" in parts:
        workers = args.workers if args.workers is not None else min(8, cores)
        extras = {} if args.quick else {"head": ["--trainable", "head", "--no-augment"], "compile": ["--compile"]}
        rows = bench_training(photos, "cpu", 18, 64, 32, 3, workers, args.repeat, extras)
        setup = {"depth": 18, "size": 64, "batch": 32, "epochs": 3, "images": 4 * per_class, "workers": workers}
        results["train_cpu"] = {"setup": setup, "rows": rows}
        if torch.cuda.is_available():
            copies = 4 if args.quick else 40
            big = photo_folder(args.data, per_class, copies)
            workers = args.workers if args.workers is not None else min(16, cores)
            variants = {} if args.quick else {"compile": ["--compile"]}
            rows = bench_training(big, "cuda", 50, 224, 256, 3, workers, args.repeat, variants)
            setup = {"depth": 50, "size": 224, "batch": 256, "epochs": 3, "images": 4 * per_class * copies, "workers": workers}
            results["train_gpu"] = {"setup": setup, "rows": rows}
    if "eventloop" in parts:
        print("event loop while training...", file=sys.stderr, flush=True)
        results["eventloop"] = []
        for env in ({}, {"BENCH_NO_WINDOW": "1"}):
            cmd = [sys.executable, __file__, "--part", "eventloop", "--arg", str(photos)] + (["--quick"] if args.quick else [])
            _, out = _run(cmd, env=env)
            results["eventloop"].append(json.loads(out.strip().splitlines()[-1]))
    if "predict" in parts:
        print("prediction latency...", file=sys.stderr, flush=True)
        photo = twelve_megapixel_photo(args.data)
        _, out = _run([sys.executable, __file__, "--part", "predict", "--arg", str(photo)] + (["--quick"] if args.quick else []))
        results["predict"] = json.loads(out.strip().splitlines()[-1])
    if "start" in parts:
        print("cold start...", file=sys.stderr, flush=True)
        results["start"] = cold_start(args.repeat)
    table = report(info, results, args)
    print(table)
    if args.output:
        args.output.write_text(table, encoding="utf-8")
    (args.data / "last-results.json").write_text(json.dumps({"machine": info, **results}, indent=2))


if __name__ == "__main__":
    main()
