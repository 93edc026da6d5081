"""Long runs: memory over hundreds of epochs, and the window with 100,000 plotted steps.

    python benchmarks/long_run.py [--quick] [--only engine,ui] [--output FILE]

1. engine: the process's resident memory (RSS, from /proc/self/status, or psutil),
   sampled after every epoch of tiny runs on generated images (ResNet-18, 32 px, batch 4):
   a long head-only run without augmentation (the frozen backbone's features are computed
   once; later epochs train in milliseconds, then write their checkpoint) and a shorter
   run that trains the whole network with augmentation. Checkpoints, model files and
   metrics lines are written as usual. Reports the first, last and
   largest RSS and the growth per 100 epochs (the second half's median slope).
2. ui: a TrainTab shown at 1300x850 (offscreen unless a display is given) receives
   StepEnd events in a batch every 80 ms, as the training worker sends them, and an
   EpochEnd at each epoch's end, in the application's event loop: 100,000 steps, 250 a
   batch (the issue's run), then 1,000,000 steps, 5,000 a batch (a fast head-only run,
   far past the curves' bound), once bounded (series.MAX_SERIES_POINTS) and once
   unbounded. Measured: how late a 5 ms timer fires (p50/p99/max: the window's
   responsiveness), the time of an add_steps call and of rendering the whole tab
   (QWidget.grab) at four points of the run, the points and buffer memory the curves
   keep, and the process's RSS at the end.

Each measurement runs in its own process. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PARTS = ("engine", "ui")
sys.path.insert(0, str(REPO))  # this checkout's resnet_studio, whatever else is installed


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    raise RuntimeError("cannot read the resident memory of this process")


def slope_per_100(values: list[float]) -> float:
    """Growth per 100 samples over the second half of `values` (after the allocators have
    warmed up): the median of the slopes between every two samples (Theil-Sen), which
    a single step of the allocator (RSS moving by a few MB once) does not tilt."""
    half = values[len(values) // 2 :]
    slopes = [(half[j] - half[i]) / (j - i) for i in range(len(half)) for j in range(i + 1, len(half))]
    return 100 * statistics.median(slopes) if slopes else 0.0


SINGLETONS = {"None": None, "True": True, "False": False}


def singleton_refs() -> dict[str, int]:
    return {name: sys.getrefcount(obj) for name, obj in SINGLETONS.items()}


def keep_singletons_alive() -> bool:
    """The studio's guard against PySide6 6.12 losing references on Python < 3.12
    (resnet_studio/ui/qt_compat.py); True when applied. The benchmark reports how fast
    the window would have used the references up."""
    from resnet_studio.ui.qt_compat import guard_pyside_refcount_defect

    return guard_pyside_refcount_defect()


def _child(part: str, arg: str, quick: bool) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--arg", arg] + (["--quick"] if quick else [])
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- 1. engine


def engine_part(arg: str, quick: bool) -> dict:
    """One tiny run; RSS after each epoch. arg: "head:EPOCHS" or "full:EPOCHS"."""
    import torch

    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.demo import make_demo_dataset
    from resnet_studio.engine.events import EpochEnd, StepEnd
    from resnet_studio.engine.train import Trainer

    kind, epochs = arg.split(":")
    epochs = int(epochs)
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="long-run-"))
    data = make_demo_dataset(root / "demo", per_class=8, image_size=32)
    common = dict(data_dir=str(data), depth=18, weights="none", epochs=epochs, batch_size=4, image_size=32,
                  workers=0, device="cpu", out_dir=str(root / "runs"))
    if kind == "head":
        config = TrainConfig(**common, trainable="head", augment=False)
    else:
        config = TrainConfig(**common, trainable="all", augment=True)
    samples: list[float] = []
    steps = [0]

    def on_event(event) -> None:
        if isinstance(event, EpochEnd):
            samples.append(rss_mb())
        elif isinstance(event, StepEnd):
            steps[0] += 1

    started = time.perf_counter()
    try:
        result = Trainer(config, callbacks=[on_event]).run()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    seconds = time.perf_counter() - started
    if result.status != "completed":
        raise RuntimeError(result.message)
    return {"kind": kind, "epochs": len(samples), "steps": steps[0], "seconds": seconds, "first_mb": samples[0],
            "last_mb": samples[-1], "max_mb": max(samples), "slope_mb_per_100": slope_per_100(samples),
            "at_10pct_mb": samples[len(samples) // 10]}


# ---------------------------------------------------------------- 2. ui


UI_SCENARIOS = {
    # name: (steps, steps a batch, steps an epoch, marks)
    "100k": (100_000, 250, 1000, (1_000, 10_000, 50_000, 100_000)),  # the run, ~3,000 steps/s
    "1M": (1_000_000, 5_000, 10_000, (100_000, 250_000, 500_000, 1_000_000)),  # a fast head-only run, past the bound
}


def ui_part(arg: str, quick: bool) -> dict:
    """A TrainTab fed steps every 80 ms. arg: "SCENARIO:CAP" (CAP "none": unbounded)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from resnet_studio.engine.events import EpochEnd, RunStarted, StepEnd
    from resnet_studio.ui.train.tab import TrainTab
    from resnet_studio.ui.worker import UiThreadGarbageCollector

    app = QApplication.instance() or QApplication(sys.argv)
    patched = keep_singletons_alive()
    refs_before = singleton_refs()
    UiThreadGarbageCollector.install()  # as in the app: collections on the UI thread's timer
    scenario, cap_arg = arg.split(":")
    cap = 10**12 if cap_arg == "none" else int(cap_arg)
    total, per_batch, spe, marks = UI_SCENARIOS[scenario]
    if quick:
        total, marks = total // 5, tuple(m // 5 for m in marks)
    epochs = total // spe

    TrainTab.max_series_points = cap  # this process measures one bound
    tab = TrainTab()
    tab.resize(1300, 850)
    tab.show()
    tab.ensure_plots()
    tab._on_run_started(RunStarted("/tmp/run", {}, ["a", "b"], {"a": 1, "b": 1}, 1, 1, [], "cuda:0", 1, epochs, spe))
    noise = np.random.default_rng(0).normal(0, 0.15, total)

    def steps(start: int, count: int) -> list:
        """StepEnd events as the worker sends them: a decaying noisy loss with spikes, a
        falling learning rate, a varying peak GPU memory (so all five step curves draw)."""
        g = np.arange(start, start + count)
        loss = 2.0 * np.exp(-g / (total / 4)) + 0.1 + noise[g - 1] + 3.0 * (g % 7919 == 0)
        lr = 0.1 * (1 - g / total)
        memory = 100.0 + g % 500
        return [
            StepEnd((k - 1) // spe + 1, (k - 1) % spe + 1, spe, k, loss_k, 0.5, r, 3000.0, 10.0, m)
            for k, loss_k, r, m in zip(g.tolist(), loss.tolist(), lr.tolist(), memory.tolist())
        ]

    clock = QElapsedTimer()
    clock.start()
    last = [None]
    lateness: list[float] = []

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if last[0] is not None:
            lateness.append(max(0.0, now - last[0] - 5.0))
        last[0] = now

    add_ms: list[tuple[int, float]] = []
    paint_ms: dict[int, float] = {}
    state = {"next": 1}

    def feed() -> None:
        start = state["next"]
        if start > total:
            return
        batch = steps(start, min(per_batch, total + 1 - start))
        t = time.perf_counter()
        tab.add_steps(batch)
        add_ms.append((batch[-1].global_step, (time.perf_counter() - t) * 1000))
        state["next"] = batch[-1].global_step + 1
        if batch[-1].step == spe:
            e = batch[-1].epoch
            tab.add_epoch(EpochEnd(e, epochs, 1.0, 0.5, 1.0, 0.5 + 0.4 * e / epochs, 0.01, 3000.0, 1.0, {}, False, {}))
        for m in marks:
            if start <= m <= batch[-1].global_step:
                times = []
                for _ in range(3):
                    t = time.perf_counter()
                    tab.grab()  # renders the whole tab, curves included
                    times.append((time.perf_counter() - t) * 1000)
                paint_ms[m] = statistics.median(times)
        if state["next"] > total:
            QTimer.singleShot(300, app.quit)  # the last redraws, then out of the event loop

    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(5)
    ticker.timeout.connect(tick)
    feeder = QTimer()
    feeder.setTimerType(Qt.TimerType.PreciseTimer)
    feeder.setInterval(80)
    feeder.timeout.connect(feed)
    ticker.start()
    feeder.start()
    started = time.perf_counter()
    app.exec()  # the application's event loop, as in the studio
    seconds = time.perf_counter() - started
    refs_after = singleton_refs()
    ticker.stop()
    feeder.stop()

    def near(mark: int) -> float:
        """Median add_steps time of the 5 calls around `mark` steps."""
        i = min(range(len(add_ms)), key=lambda k: abs(add_ms[k][0] - mark))
        return statistics.median(ms for _, ms in add_ms[max(0, i - 2) : i + 3])

    lateness.sort()
    x, y = tab.series("train_loss")
    result = {
        "scenario": scenario,
        "cap": cap_arg,
        "steps": total,
        "per_batch": per_batch,
        "seconds": seconds,
        "ticks": len(lateness),
        "late_p50_ms": lateness[len(lateness) // 2],
        "late_p99_ms": lateness[int(0.99 * (len(lateness) - 1))],
        "late_max_ms": lateness[-1],
        "add_ms": {str(m): near(m) for m in marks},
        "paint_ms": {str(m): paint_ms.get(m) for m in marks},
        "points": len(x),
        "x_first": float(x[0]),
        "x_last": float(x[-1]),
        "y_max": float(np.nanmax(y)),
        "series_mb": tab.buffers.nbytes / 2**20,
        "rss_mb": rss_mb(),
        "refs_lost_per_s": {k: (refs_before[k] - refs_after[k]) / seconds for k in SINGLETONS} if patched else None,
    }
    tab.close()
    return result


# ---------------------------------------------------------------- report


def report(info: dict, results: dict) -> str:
    machine = f"Machine: {info['cpu']}; Python {info['python']}, torch {info['torch']}"
    lines = [f"{machine}; load average at the start: {info['load']}.", ""]
    if "engine" in results:
        lines += [
            "Engine memory over a long run (ResNet-18, 32 px, batch 4, "
            f"{results['engine'][0]['steps'] // max(1, results['engine'][0]['epochs'])} steps an epoch), RSS after each epoch:",
            "",
            "| run | epochs | time | RSS first epoch | at 10% | last | max | growth (2nd half) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        names = {"head": "head only, no augmentation (features once)", "full": "whole network, augmentation"}
        for r in results["engine"]:
            lines.append(
                f"| {names[r['kind']]} | {r['epochs']} | {r['seconds']:.0f} s | {r['first_mb']:.0f} MB "
                f"| {r['at_10pct_mb']:.0f} MB "
                f"| {r['last_mb']:.0f} MB | {r['max_mb']:.0f} MB | {r['slope_mb_per_100']:+.2f} MB / 100 epochs |"
            )
        lines.append("")
    for scenario in UI_SCENARIOS:
        rows = [r for r in results.get("ui", []) if r["scenario"] == scenario]
        if not rows:
            continue
        marks = list(rows[0]["add_ms"])
        k = lambda m: f"{int(m) // 1000:,}k" if int(m) % 1000 == 0 else f"{int(m):,}"
        lines += [
            f"The Train tab at 1300x850 fed {rows[0]['steps']:,} steps, {rows[0]['per_batch']:,} every 80 ms: lateness of a "
            "5 ms timer, time of one add_steps call (setData of the curves) and of rendering the whole tab (QWidget.grab):",
            "",
            "| curve buffers | points kept | buffers | timer late p50 | p99 | max | "
            + " | ".join(f"add_steps at {k(m)}" for m in marks)
            + " | "
            + " | ".join(f"render at {k(m)}" for m in marks)
            + " | RSS |",
            "| --- " * (6 + 2 * len(marks) + 1) + "|",
        ]
        for r in rows:
            name = "unbounded" if r["cap"] == "none" else f"bounded ({int(r['cap']):,})"
            lines.append(
                f"| {name} | {r['points']:,} | {r['series_mb']:.1f} MB | {r['late_p50_ms']:.1f} ms | {r['late_p99_ms']:.0f} ms "
                f"| {r['late_max_ms']:.0f} ms | "
                + " | ".join(f"{r['add_ms'][m]:.1f} ms" for m in marks)
                + " | "
                + " | ".join(f"{r['paint_ms'][m]:.0f} ms" if r["paint_ms"][m] is not None else "n/a" for m in marks)
                + f" | {r['rss_mb']:.0f} MB |"
            )
        lost = rows[0].get("refs_lost_per_s")
        if lost:
            lines.append("")
            lines.append(
                "PySide6 6.12 on Python 3.11 dropped references to None, True and False it never took, "
                + ", ".join(f"{name} {rate:,.0f}/s" for name, rate in lost.items())
                + " (negative: gained) while the tab was fed: without the benchmark's workaround the "
                "process aborts once a count reaches zero."
            )
        lines.append("")
    return "\n".join(lines)


def machine() -> dict:
    """The machine, as benchmarks/run.py describes it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import machine as describe

    return describe()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and steps (a smoke run)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts to run ({', '.join(PARTS)})")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the head-only run (default 300)")
    parser.add_argument("--full-epochs", type=int, default=None, help="epochs of the whole-network run (default 50)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each UI measurement, interleaved (default 1)")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown table here")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--arg", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "engine":  # child processes
        print(json.dumps(engine_part(args.arg, args.quick)))
        return
    if args.part == "ui":
        print(json.dumps(ui_part(args.arg, args.quick)))
        return
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if parts - set(PARTS):
        parser.error(f"unknown part(s): {', '.join(sorted(parts - set(PARTS)))}")
    info = machine()
    results: dict = {}
    if "engine" in parts:
        head = args.epochs or (30 if args.quick else 300)
        full = args.full_epochs or (5 if args.quick else 50)
        results["engine"] = []
        for arg in (f"head:{head}", f"full:{full}"):
            print(f"engine, {arg} epochs...", file=sys.stderr, flush=True)
            results["engine"].append(_child("engine", arg, args.quick))
    if "ui" in parts:
        from resnet_studio.ui.train.series import MAX_SERIES_POINTS

        results["ui"] = []
        runs = [("100k", str(MAX_SERIES_POINTS))] * args.repeat
        runs += [("1M", cap) for _ in range(args.repeat) for cap in (str(MAX_SERIES_POINTS), "none")]
        for scenario, cap in runs:
            print(f"ui, {scenario} steps, cap {cap}...", file=sys.stderr, flush=True)
            results["ui"].append(_child("ui", f"{scenario}:{cap}", args.quick))
    table = report(info, results)
    print(table)
    if args.output:
        args.output.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
