"""The commands other than `train`: each parses nothing, calls the engine, prints.

torch and the engine are imported inside each command, so that `--help` stays quick.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import sys
from pathlib import Path

from .console import (
    EXIT_OK,
    UsageError,
    narrow_architecture_table,
    note,
    print_depths,
    print_evaluation,
    print_predictions,
    terminal_width,
)

__all__ = ["gui", "predict", "evaluate", "info", "demo_data", "export", "install_desktop"]

CAM_MAX_SIDE = 1024  # overlays of big photos are written at most this wide or high


def gui(args) -> int:
    try:
        from ..ui.app import run
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6"):
            raise UsageError(f"the studio window needs {exc.name}, which is not installed") from None
        raise
    return run([sys.argv[0]])  # the window opens no files: "gui" is a command here, not a path


# ---------------------------------------------------------------- predict


def predict(args) -> int:
    from tqdm import tqdm

    from ..engine import data
    from ..engine.predict import write_csv

    files: list[str] = []
    empty: list[str] = []
    for item in args.images:
        path = Path(item)
        if path.is_dir():
            found = data.list_image_files(path)
            if not found:
                empty.append(item)
            files.extend(str(f) for f in found)
        elif path.exists():
            files.append(str(path))
        else:
            raise UsageError(f"no such file or folder: {item}")
    if not files:
        raise UsageError(f"no images in {', '.join(empty)}")
    for item in empty:
        note(f"no images in {item}")

    predictor = _predictor(args.model, args.device)
    results = []
    with tqdm(total=len(files), unit="img", leave=False, file=sys.stderr, disable=None) as bar:
        for result in predictor.iter_predict(files, topk=args.topk, batch_size=args.batch_size):
            results.append(result)
            bar.update(1)
    if not any(r.ok for r in results):  # nothing was predicted: bad input, not a result
        first = results[0]
        others = f" (none of the other {len(results) - 1} file(s) could be read either)" if len(results) > 1 else ""
        raise UsageError(f"no image to predict: {first.path}: {first.error}{others}")

    if args.csv:
        try:
            write_csv(args.csv, results)
        except OSError as exc:
            raise UsageError(f"cannot write {args.csv}: {exc.strerror or exc}") from None
    cams = _write_cams(predictor, results, args.cam) if args.cam else 0
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        print_predictions(results)
    if args.csv:
        note(f"wrote {len(results)} row(s) to {args.csv}")
    if args.cam:
        note(f"wrote {cams} Grad-CAM overlay(s) to {args.cam}")
    return EXIT_OK


def _predictor(model: str, device: str):
    """The model to predict or evaluate with: a run folder or model file, or 'imagenet'."""
    from ..engine.predict import Predictor

    if model == "imagenet":
        # torch.hub announces a download on stdout, which would spoil --json: move it to stderr,
        # and drop it when the download fails (the one-line error says it all)
        announced = io.StringIO()
        with contextlib.redirect_stdout(announced), contextlib.redirect_stderr(announced):
            predictor = Predictor.imagenet(device=device)
        sys.stderr.write(announced.getvalue())
    else:
        if not Path(model).exists():
            raise UsageError(f"no such model file or run folder: {model}")
        predictor = Predictor.from_path(model, device=device)
    predictor.on_memory_fallback = lambda message: note(f"warning: {message}")
    return predictor


def _write_cams(predictor, results, out_dir: str) -> int:
    """One PNG per readable image: the top class's Grad-CAM over the picture."""
    from tqdm import tqdm

    from ..engine import explain
    from ..engine.errors import ImageError

    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    used: set[str] = set()
    written = 0
    readable = [r for r in results if r.ok and r.path]
    for r in tqdm(readable, unit="img", leave=False, file=sys.stderr, disable=None, desc="Grad-CAM"):
        try:
            shown = explain.explain(predictor, r.path, predictor.classes.index(r.predictions[0][0]), CAM_MAX_SIDE)
        except ImageError:
            continue
        stem = Path(r.path).stem
        name, n = f"{stem}.cam.png", 1
        while name in used:
            n += 1
            name = f"{stem}-{n}.cam.png"
        used.add(name)
        try:
            explain.overlay(shown.image, shown.cam, opacity=0.5).save(folder / name)
        except OSError as exc:
            raise UsageError(f"cannot write {folder / name}: {exc.strerror or exc}") from None
        written += 1
    return written


# ---------------------------------------------------------------- evaluate


def evaluate(args) -> int:
    from tqdm import tqdm

    from ..engine import evaluate as engine_evaluate

    if not Path(args.model).exists():
        raise UsageError(f"no such model file or run folder: {args.model}")
    predictor = _predictor(args.model, args.device)
    if args.data is not None:
        if not Path(args.data).is_dir():
            raise UsageError(f"no such folder: {args.data}")
        samples, skipped, source = engine_evaluate.folder_samples(args.data, predictor.classes)
    else:
        run_dir = Path(args.model) if Path(args.model).is_dir() else Path(args.model).parent
        samples, skipped, source = engine_evaluate.validation_samples(run_dir, predictor.classes)
    with tqdm(total=len(samples), unit="img", leave=False, file=sys.stderr, disable=None) as bar:
        result = engine_evaluate.evaluate(
            predictor,
            samples,
            topk=args.topk,
            batch_size=args.batch_size,
            skipped=skipped,
            source=source,
            progress=lambda done, total: bar.update(done - bar.n),
        )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    print_evaluation(result, args.mistakes)
    return EXIT_OK


# ---------------------------------------------------------------- info


def info(args) -> int:
    from ..engine import architecture, models
    from ..engine.config import SETTINGS

    problem = SETTINGS["image_size"].check(args.image_size)
    if problem:
        raise UsageError(f"argument --image-size: {problem}")
    if args.depth is None:
        rows = []
        for depth, spec in (*models.DEPTHS.items(), *models.CIFAR_DEPTHS.items()):
            row = dict(models.depth_summary(depth, args.image_size, args.stem))
            row.update(depth=depth, block=spec.block, layers=list(spec.layers))
            rows.append(row)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            print_depths(rows, args.image_size)
        return EXIT_OK
    desc = architecture.describe_depth(args.depth, args.image_size, args.classes, args.trainable, args.stem)
    if args.json:
        print(json.dumps(desc, indent=2, default=str))
        return EXIT_OK
    table = architecture.format_table(desc)
    width = terminal_width()
    if width and max(map(len, table.splitlines())) > width:  # it would wrap: the narrow layout
        table = narrow_architecture_table(desc, width)
    print(table)
    return EXIT_OK


# ---------------------------------------------------------------- demo-data


def demo_data(args) -> int:
    from ..engine import data, demo

    try:
        root = demo.make_demo_dataset(args.out_dir, per_class=args.per_class, image_size=args.image_size)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out_dir}: {exc.strerror or exc}") from None
    total = 0
    for folder in data.class_dirs(root):
        count = len(data.list_image_files(folder))
        total += count
        print(f"  {folder.name}: {count} images")
    print(f"wrote {total} images of {args.image_size} px to {root}")
    return EXIT_OK


# ---------------------------------------------------------------- export


def export(args) -> int:
    from ..engine import export as engine_export

    if not Path(args.run_dir).exists():
        raise UsageError(f"no such model file or run folder: {args.run_dir}")
    if args.int8 and args.format != "onnx":
        raise UsageError(f"argument --int8: only with --format onnx, not {args.format}")
    if args.max_drop is not None and not args.int8:
        raise UsageError("argument --max-drop: only with --int8")
    if args.int8:
        from ..engine import quantize

        max_drop = quantize.DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
        result = quantize.export_int8(args.run_dir, args.out, max_drop=max_drop, progress=note)
    else:
        result = engine_export.export_model(args.run_dir, args.format, args.out, progress=note)
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
        return EXIT_OK
    if args.int8:
        _print_int8_comparison(result)
    else:
        note(result.summary())
    print(result.path, flush=True)
    return EXIT_OK


def _print_int8_comparison(result) -> None:
    """fp32 against int8 (accuracy, size, latency) as a small table on stderr: stdout keeps only the path."""
    rows = (
        ("top-1 accuracy", f"{result.fp32_acc:.1%}", f"{result.int8_acc:.1%}",
         f"{0.0 - result.drop_points:+.2f} points (limit -{result.max_drop:g})"),
        ("file size", f"{result.fp32_bytes / 1e6:.1f} MB", f"{result.int8_bytes / 1e6:.1f} MB",
         f"{result.fp32_bytes / max(1, result.int8_bytes):.1f}x smaller"),
        ("CPU latency, batch 1", f"{result.fp32_ms:.1f} ms", f"{result.int8_ms:.1f} ms", f"{result.speedup:.2f}x faster"),
    )
    note(f"int8 against fp32 on {result.validation_images} validation images "
         f"(calibrated on {result.calibration_images} training images):")
    note(f"  {'':<22}{'fp32':>10}{'int8':>10}")
    for name, fp32, int8, change in rows:
        note(f"  {name:<22}{fp32:>10}{int8:>10}   {change}")


# ---------------------------------------------------------------- install-desktop


def install_desktop(args) -> int:
    from .. import desktop

    if args.remove:
        done = desktop.remove()
        print(f"removed {done.entry} and {done.icon}" if done.changed else f"nothing to remove: {done.entry} is not there")
        return EXIT_OK
    done = desktop.install()
    state = "added to" if done.changed else "already in"
    print(f"{state} the application menu: {done.entry} (runs {' '.join(done.command)}; icon {done.icon})")
    return EXIT_OK
