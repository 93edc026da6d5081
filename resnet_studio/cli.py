"""`resnet-studio`: the studio window, or the same engine headless.

    resnet-studio                      open the studio
    resnet-studio train DATA [options] train; prints the run folder at the end
    resnet-studio predict MODEL IMAGE_OR_DIR... [--topk K] [--json] [--csv FILE] [--cam OUT_DIR]
    resnet-studio evaluate MODEL [DATA] [--json]
    resnet-studio info [--depth D] [--image-size S] [--json]
    resnet-studio demo-data OUT_DIR
    resnet-studio export MODEL --format onnx|torchscript [--out FILE]

Exit status: 0 success; 1 a training run that failed; 2 bad usage or bad input (one
line on stderr, no traceback); 130 a training run stopped by Ctrl+C or SIGTERM.
torch is imported inside the commands so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__

PROG = "resnet-studio"
DEPTH_CHOICES = (18, 34, 50, 101, 152)
TRAINABLE_CHOICES = ("all", "head", "layer4", "layer3")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130

# train defaults, as in engine.trainer.TrainConfig (kept here so --help needs no torch)
TRAIN_DEFAULTS = dict(
    depth=18,
    weights="imagenet",
    epochs=10,
    batch_size=32,
    image_size=224,
    optimizer="sgd",
    trainable="all",
    val_split=0.2,
    seed=0,
    device="auto",
)


class UsageError(Exception):
    """Bad usage found by a command itself; printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage dump), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{PROG}: error: {_one_line(message)}\n")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    from .engine.errors import OutOfMemory, StudioError

    try:
        return args.func(args)
    except OutOfMemory as exc:  # not bad input: the machine could not do it
        _error(str(exc))
        return EXIT_FAILED
    except (StudioError, UsageError) as exc:
        return _error(str(exc))
    except BrokenPipeError:  # `resnet-studio predict ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Fine-tune torchvision ResNets on folders of photos.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.set_defaults(func=_cmd_gui)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("gui", help="open the studio window (the default)", description="Open the studio window.")
    p.set_defaults(func=_cmd_gui)

    p = sub.add_parser(
        "train",
        help="train a ResNet on a folder of images",
        description="Train a ResNet on DATA (class subfolders, or train/ and val/ of class subfolders). "
        "Prints one line per epoch and the run folder as the last line of output. Ctrl+C stops the "
        "run cleanly, keeping its checkpoint (exit status 130).",
    )
    p.add_argument("data", metavar="DATA", nargs="?", help="data folder; may be left out with --resume")
    p.add_argument("--depth", type=int, choices=DEPTH_CHOICES, default=None, help="ResNet depth (default: 18)")
    p.add_argument(
        "--weights",
        default=None,
        metavar="{imagenet,none,PATH}",
        help="start from torchvision's ImageNet weights, random weights, or a state-dict file "
        "(.safetensors, or .pt/.pth holding plain tensors) (default: imagenet)",
    )
    p.add_argument("--epochs", type=_positive_int, default=None, help="epochs to train (default: 10)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="images per step (default: 32)")
    p.add_argument("--image-size", type=_positive_int, default=None, help="crop size in pixels (default: 224)")
    p.add_argument("--lr", type=_positive_float, default=None, help="peak learning rate (default: by optimizer and weights)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default=None, help="optimizer (default: sgd)")
    p.add_argument(
        "--trainable",
        choices=TRAINABLE_CHOICES,
        default=None,
        help="what trains: everything, only the head, or layer4/layer3 onwards (default: all)",
    )
    p.add_argument(
        "--val-split",
        type=_fraction,
        default=None,
        help="fraction of each class held out for validation when DATA has no val/ folder (default: 0.2)",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for the split, initialisation and order (default: 0)")
    p.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), default=None, help="where to train (default: auto)"
    )
    p.add_argument(
        "--workers",
        type=_non_negative_int,
        default=None,
        help="image decoding threads (default: one per core, up to 8; 16 with CUDA)",
    )
    p.add_argument("--out", metavar="RUNS_DIR", default=None, help="where run folders go (default: ~/ResNetStudio/runs)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a stopped run from its checkpoint")
    p.add_argument(
        "--patience",
        type=_positive_int,
        default=None,
        help="stop early after this many epochs without a better validation accuracy (default: never)",
    )
    p.add_argument("--no-augment", action="store_true", help="no random crops and flips while training")
    p.add_argument("--color-jitter", action="store_true", help="also jitter brightness, contrast and saturation")
    p.add_argument(
        "--cache-mb",
        type=_non_negative_int,
        default=None,
        help="memory for decoded images, in MB; beyond it images are read from disk every epoch, 0 turns "
        "the cache off (default: a quarter of the free memory)",
    )
    p.add_argument("--compile", action="store_true", help="compile the model with torch.compile (slow to start)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "predict",
        help="predict the class of images",
        description="Top-k predictions of a trained model on images and folders of images.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a run folder, its model.safetensors or model.json, or 'imagenet' for torchvision's ResNet-50",
    )
    p.add_argument("images", metavar="IMAGE_OR_DIR", nargs="+", help="image files and folders (searched recursively)")
    p.add_argument("--topk", type=_positive_int, default=5, help="predictions per image (default: 5)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    p.add_argument("--csv", metavar="FILE", default=None, help="also write path, top1, prob, topk, error columns to FILE")
    p.add_argument("--batch-size", type=_positive_int, default=16, help="images per forward pass (default: 16)")
    p.add_argument(
        "--cam",
        metavar="OUT_DIR",
        default=None,
        help="also write a Grad-CAM overlay of the top class for each image to OUT_DIR (PNG)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto", help="where to run (default: auto)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "evaluate",
        help="measure a trained model on labelled images",
        description="Accuracy, top-k accuracy, per-class precision/recall/F1, the confusion matrix and the "
        "most confident mistakes of a trained model, on its run's validation split or on DATA "
        "(class subfolders; with train/ and val/, the val/ part).",
    )
    p.add_argument("model", metavar="MODEL", help="a run folder, or its model.safetensors or model.json")
    p.add_argument("data", metavar="DATA", nargs="?", help="labelled images (default: the run's validation split)")
    p.add_argument("--topk", type=_positive_int, default=None, help="k of the top-k accuracy (default: up to 5)")
    p.add_argument("--mistakes", type=_non_negative_int, default=10, help="mistakes to list (default: 10)")
    p.add_argument("--json", action="store_true", help="print everything as JSON")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="images per forward pass (default: 32)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto", help="where to run (default: auto)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "info",
        help="describe ResNet depths",
        description="Without --depth, compare all depths; with it, describe that network stage by stage.",
    )
    p.add_argument("--depth", type=int, choices=DEPTH_CHOICES, default=None, help="the depth to describe")
    p.add_argument("--image-size", type=_positive_int, default=224, help="input size in pixels (default: 224)")
    p.add_argument("--classes", type=_positive_int, default=1000, help="classes in the head (default: 1000)")
    p.add_argument("--trainable", choices=TRAINABLE_CHOICES, default="all", help="what trains (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "demo-data",
        help="write a small generated dataset",
        description="Write class folders of generated shapes and textures, ready for `train`.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the dataset into")
    p.add_argument("--per-class", type=_positive_int, default=100, help="images per class (default: 100)")
    p.add_argument("--image-size", type=_positive_int, default=80, help="image width and height in pixels (default: 80)")
    p.set_defaults(func=_cmd_demo_data)

    p = sub.add_parser(
        "export",
        help="export a trained model to ONNX or TorchScript",
        description="Export a run's model to ONNX or TorchScript, with its class names and preprocessing "
        "in FILE.json beside it and in the file's own metadata. The exported model is then run on sample "
        "images next to the PyTorch model: the largest probability difference is reported, and the export "
        "fails (exit 2, nothing written) if the top class ever differs. ONNX needs onnx and onnxruntime "
        "(pip install 'resnet-studio[export]').",
    )
    p.add_argument("run_dir", metavar="MODEL", help="a run folder, or its model.safetensors or model.json")
    p.add_argument("--format", choices=("onnx", "torchscript"), required=True, help="file format")
    p.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="where to write (default: RUN_DIR/export/model.onnx or model.torchscript.pt)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_export)
    return parser


# ---------------------------------------------------------------- argument types


def _positive_int(text: str) -> int:
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = _number(float, text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _fraction(text: str) -> float:
    value = _number(float, text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _number(kind, text: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None


# ---------------------------------------------------------------- output helpers


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str) -> int:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    return EXIT_USAGE


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# ---------------------------------------------------------------- gui


def _cmd_gui(args) -> int:
    try:
        from resnet_studio.ui.app import run
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6"):
            raise UsageError(f"the studio window needs {exc.name}, which is not installed") from None
        raise
    return run([sys.argv[0]])  # the window opens no files: "gui" is a command here, not a path


# ---------------------------------------------------------------- train


class _ConsoleReport:
    """Trainer callback: a progress bar per epoch on stderr, one line per epoch on stdout."""

    def __init__(self):
        self.bar = None
        self.run_dir: str | None = None
        self.errors: list[str] = []  # printed once, at the end
        self._listed: set[str] = set()  # skipped-file warnings already listed at the start

    def __call__(self, event) -> None:
        from .engine import events

        if isinstance(event, events.StepEnd):
            self._step(event)
        elif isinstance(event, events.EpochEnd):
            self._close_bar()
            print(
                f"epoch {event.epoch}/{event.epochs}  "
                f"train loss {event.train_loss:.4f} acc {event.train_acc:.1%}  "
                f"val loss {event.val_loss:.4f} acc {event.val_acc:.1%}  "
                f"lr {event.lr:.3g}  {event.images_per_sec:.0f} img/s  {event.seconds:.1f} s"
                + ("  *best" if event.is_best else ""),
                flush=True,
            )
        elif isinstance(event, events.RunStarted):
            self._started(event)
        elif isinstance(event, events.LogMessage):
            if event.level == "error":
                self.errors.append(event.message)
            elif event.message not in self._listed:
                self._close_bar()
                _note(event.message if event.level == "info" else f"{event.level}: {event.message}")
        elif isinstance(event, events.RunFinished):
            self._close_bar()
            self.run_dir = event.run_dir or self.run_dir

    def _started(self, event) -> None:
        self.run_dir = event.run_dir
        _note(f"run folder: {event.run_dir}")
        if event.start_epoch > 1:
            _note(f"resuming at epoch {event.start_epoch} of {event.epochs}")
        if event.skipped_files:
            _note(f"skipped {len(event.skipped_files)} file(s):")
            for skipped in event.skipped_files:
                _note(f"  {skipped.path}: {skipped.reason}")
                self._listed.add(f"skipped {skipped.path}: {skipped.reason}")

    def _step(self, event) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=event.steps_per_epoch,
                initial=event.step - 1,
                desc=f"epoch {event.epoch}",
                unit="step",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
                disable=None,  # no bar when stderr is not a terminal
            )
        postfix = {"loss": f"{event.loss:.3f}", "img/s": f"{event.images_per_sec:.0f}", "run ETA": _duration(event.eta_seconds)}
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _StopOnSignal:
    """While training: SIGINT (Ctrl+C) and SIGTERM ask the run to stop at the next step.

    A second Ctrl+C interrupts at once. Handlers can only be installed from the main
    thread; elsewhere (a test runner's thread) they are left alone.
    """

    def __init__(self, control):
        self.control = control
        self.signalled = False
        self._previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

    def stop(self, signum: int = signal.SIGINT) -> None:
        if not self.signalled:
            again = " (Ctrl+C again to interrupt at once)" if signum == signal.SIGINT else ""
            _note(f"stopping after this step; the checkpoint is kept{again}")
        self.signalled = True
        self.control.stop()

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.signalled:
            raise KeyboardInterrupt
        self.stop(signum)


def _cmd_train(args) -> int:
    from .engine import runs, trainer

    if args.data is None and args.resume is None:
        raise UsageError("the following arguments are required: DATA (or --resume RUN_DIR)")
    weights = args.weights
    if weights is not None and weights not in ("imagenet", "none") and Path(weights).expanduser().is_dir():
        raise UsageError(f"{weights} is a folder, not a weights file (use imagenet, none or a .safetensors/.pt/.pth file)")
    if weights is not None and weights not in ("imagenet", "none") and not Path(weights).expanduser().is_file():
        raise UsageError(f"weights file not found: {weights} (use imagenet, none or a file path)")

    given = {
        "depth": args.depth,
        "weights": weights,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "trainable": args.trainable,
        "val_split": args.val_split,
        "seed": args.seed,
        "device": args.device,
        "workers": args.workers,
        "out_dir": args.out,
        "patience": args.patience,
        "cache_budget_mb": args.cache_mb,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if args.no_augment:
        given["augment"] = False
    if args.color_jitter:
        given["color_jitter"] = True
    if args.compile:
        given["compile"] = True
    if args.data is not None:
        given["data_dir"] = args.data

    if args.resume is not None:
        config_path = Path(args.resume) / runs.CONFIG
        if not config_path.is_file():
            raise UsageError(f"not a run folder (no {runs.CONFIG}): {args.resume}")
        if (Path(args.resume) / runs.CHECKPOINT).is_dir():
            raise UsageError(f"{runs.CHECKPOINT} is a folder, not a checkpoint file: {Path(args.resume) / runs.CHECKPOINT}")
        try:
            saved = runs.read_json(config_path)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {config_path}: {exc}") from None
        ignored = sorted(k for k in given if k not in ("epochs", "data_dir"))
        if ignored:
            _note(f"note: a resumed run keeps its own settings; ignoring {', '.join(ignored)}")
        if not {**saved, **given}.get("data_dir"):
            raise UsageError(f"{config_path} has no data_dir: give the data folder too (train DATA --resume RUN_DIR)")
        config = trainer.TrainConfig.from_saved({**saved, **given}, str(config_path))
    else:
        config = trainer.TrainConfig(**{**TRAIN_DEFAULTS, **given})

    report = _ConsoleReport()
    control = trainer.RunControl()
    run = trainer.Trainer(config, callbacks=[report], control=control, resume_dir=args.resume)
    with _StopOnSignal(control):
        try:
            finished = run.run()
        except KeyboardInterrupt:  # a second Ctrl+C, or one that came before the handler
            control.stop()
            report._close_bar()
            _note("interrupted; the checkpoint of the last completed epoch is kept")
            finished = None
    report._close_bar()
    run_dir = (finished.run_dir if finished else None) or report.run_dir or getattr(run, "run_dir", None)

    if finished is None:
        status, code = "cancelled", EXIT_CANCELLED
    elif finished.status == "completed":
        status, code = "completed", EXIT_OK
    elif finished.status == "cancelled":
        status, code = "cancelled", EXIT_CANCELLED
    else:
        status, code = "failed", EXIT_FAILED
    if finished is not None:
        best = (
            f"; best val acc {finished.best_val_acc:.1%} at epoch {finished.best_epoch}"
            if finished.best_val_acc is not None
            else ""
        )
        _note(f"{status} after {finished.epochs_completed} epoch(s){best}")
        if status == "failed":
            message = finished.message or (report.errors[-1] if report.errors else "unknown error")
            for other in report.errors:
                if other != message:
                    _note(f"error: {other}")
            print(f"{PROG}: error: training failed: {_one_line(message)}", file=sys.stderr)
        elif status == "cancelled":
            _note(f"resume with: {PROG} train --resume {run_dir}")
    if run_dir:
        print(run_dir, flush=True)
    return code


# ---------------------------------------------------------------- predict


def _cmd_predict(args) -> int:
    from .engine import data
    from .engine.predict import Predictor

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
        _note(f"no images in {item}")

    if args.model == "imagenet":
        # torch.hub announces a download on stdout, which would spoil --json: move it to stderr,
        # and drop it when the download fails (the one-line error says it all)
        announced = io.StringIO()
        with contextlib.redirect_stdout(announced), contextlib.redirect_stderr(announced):
            predictor = Predictor.imagenet(device=args.device)
        sys.stderr.write(announced.getvalue())
    else:
        if not Path(args.model).exists():
            raise UsageError(f"no such model file or run folder: {args.model}")
        predictor = Predictor.from_path(args.model, device=args.device)
    predictor.on_memory_fallback = lambda message: _note(f"warning: {message}")

    from tqdm import tqdm

    results = []
    with tqdm(total=len(files), unit="img", leave=False, file=sys.stderr, disable=None) as bar:
        for result in predictor.iter_predict(files, topk=args.topk, batch_size=args.batch_size):
            results.append(result)
            bar.update(1)

    if args.csv:
        _write_csv(args.csv, results)
    cams = _write_cams(predictor, results, args.cam) if args.cam else 0
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        _print_table(results)
    if args.csv:
        _note(f"wrote {len(results)} row(s) to {args.csv}")
    if args.cam:
        _note(f"wrote {cams} Grad-CAM overlay(s) to {args.cam}")
    return EXIT_OK


CAM_MAX_SIDE = 1024  # overlays of big photos are written at most this wide or high


def _write_cams(predictor, results, out_dir: str) -> int:
    """One PNG per readable image: the top class's Grad-CAM over the picture."""
    from tqdm import tqdm

    from .engine import data, explain
    from .engine.errors import ImageError

    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    used: set[str] = set()
    written = 0
    for r in tqdm([r for r in results if r.ok and r.path], unit="img", leave=False, file=sys.stderr, disable=None, desc="Grad-CAM"):
        try:
            image = data.load_image(r.path, min_size=CAM_MAX_SIDE)
        except ImageError:
            continue
        image.thumbnail((CAM_MAX_SIDE, CAM_MAX_SIDE))
        label = r.predictions[0][0]
        cam = explain.grad_cam(predictor, [image], [predictor.classes.index(label)])[0]
        stem = Path(r.path).stem
        name, n = f"{stem}.cam.png", 1
        while name in used:
            n += 1
            name = f"{stem}-{n}.cam.png"
        used.add(name)
        try:
            explain.overlay(image, cam, opacity=0.5).save(folder / name)
        except OSError as exc:
            raise UsageError(f"cannot write {folder / name}: {exc.strerror or exc}") from None
        written += 1
    return written


def _write_csv(path: str, results) -> None:
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "top1", "prob", "topk", "error"])
            for r in results:
                if r.error is not None:
                    writer.writerow([r.path, "", "", "", r.error])
                else:
                    label, prob = r.predictions[0]
                    topk = ";".join(f"{lbl}:{p:.6f}" for lbl, p in r.predictions)
                    writer.writerow([r.path, label, f"{prob:.6f}", topk, ""])
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def _print_table(results) -> None:
    width = min(60, max(len("path"), *(len(r.path or "") for r in results)))
    label_width = max([len("top-1")] + [len(r.predictions[0][0]) for r in results if r.predictions])
    print(f"{'path':<{width}}  {'top-1':<{label_width}}  {'prob':>6}  others")
    for r in results:
        path = r.path or ""
        if len(path) > width:
            path = "..." + path[-(width - 3):]
        if r.error is not None:
            print(f"{path:<{width}}  error: {r.error}")
            continue
        label, prob = r.predictions[0]
        others = ", ".join(f"{lbl} {p:.1%}" for lbl, p in r.predictions[1:])
        print(f"{path:<{width}}  {label:<{label_width}}  {prob:>6.1%}  {others}".rstrip())


# ---------------------------------------------------------------- info


def _cmd_info(args) -> int:
    from .engine import models

    if args.depth is None:
        rows = []
        for depth, spec in models.DEPTHS.items():
            row = dict(models.depth_summary(depth, args.image_size))
            row.update(depth=depth, block=spec.block, layers=list(spec.layers))
            rows.append(row)
        if args.json:
            print(json.dumps(rows, indent=2))
            return EXIT_OK
        print(f"{'depth':>5}  {'block':<10}  {'blocks':<13}  {'params':>8}  {'GFLOPs':>7}  ImageNet top-1")
        for row in rows:
            print(
                f"{row['depth']:>5}  {row['block']:<10}  {'-'.join(map(str, row['layers'])):<13}  "
                f"{row['params'] / 1e6:>7.1f}M  {row['gflops']:>7.2f}  {row['imagenet_top1']:.1f}%"
            )
        print(f"(GFLOPs at {args.image_size} px; top-1 of torchvision's ImageNet weights)")
        return EXIT_OK

    import importlib

    try:
        architecture = importlib.import_module(f"{__package__}.engine.architecture")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.engine.architecture":
            raise
        architecture = None
    if architecture is None:  # the architecture description is not part of this build
        desc = dict(models.depth_summary(args.depth, args.image_size))
        if args.json:
            print(json.dumps(desc, indent=2))
        else:
            for key, value in desc.items():
                print(f"{key}: {value}")
        return EXIT_OK
    desc = architecture.describe_depth(args.depth, args.image_size, args.classes, args.trainable)
    if args.json:
        print(json.dumps(desc, indent=2, default=str))
    else:
        print(architecture.format_table(desc))
    return EXIT_OK


# ---------------------------------------------------------------- demo-data


def _cmd_demo_data(args) -> int:
    from .engine import data, demo

    try:
        root = Path(demo.make_demo_dataset(args.out_dir, per_class=args.per_class, image_size=args.image_size))
    except OSError as exc:
        raise UsageError(f"cannot write {args.out_dir}: {exc.strerror or exc}") from None
    total = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        count = len(data.list_image_files(folder))
        total += count
        print(f"  {folder.name}: {count} images")
    print(f"wrote {total} images of {args.image_size} px to {root}")
    return EXIT_OK


# ---------------------------------------------------------------- export


def _cmd_export(args) -> int:
    from .engine import export

    if not Path(args.run_dir).exists():
        raise UsageError(f"no such model file or run folder: {args.run_dir}")
    result = export.export_model(args.run_dir, args.format, args.out, progress=_note)
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
    else:
        _note(result.summary())
        print(result.path, flush=True)
    return EXIT_OK


# ---------------------------------------------------------------- evaluate


def _cmd_evaluate(args) -> int:
    from tqdm import tqdm

    from .engine import evaluate
    from .engine.predict import Predictor

    if not Path(args.model).exists():
        raise UsageError(f"no such model file or run folder: {args.model}")
    predictor = Predictor.from_path(args.model, device=args.device)
    predictor.on_memory_fallback = lambda message: _note(f"warning: {message}")
    if args.data is not None:
        if not Path(args.data).is_dir():
            raise UsageError(f"no such folder: {args.data}")
        samples, skipped, source = evaluate.folder_samples(args.data, predictor.classes)
    else:
        run_dir = Path(args.model) if Path(args.model).is_dir() else Path(args.model).parent
        samples, skipped, source = evaluate.validation_samples(run_dir, predictor.classes)
    with tqdm(total=len(samples), unit="img", leave=False, file=sys.stderr, disable=None) as bar:
        result = evaluate.evaluate(
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
    _print_evaluation(result, args.mistakes)
    return EXIT_OK


def _print_evaluation(result, mistakes: int) -> None:
    print(f"{result.source}: {result.num_images} images, {len(result.classes)} classes")
    print(f"accuracy {result.accuracy:.1%}   top-{result.topk} accuracy {result.topk_accuracy:.1%}   "
          f"macro F1 {result.macro_f1:.3f}")
    width = max(len("class"), *(len(c) for c in result.classes))
    print()
    print(f"{'class':<{width}}  precision  recall     F1  support")
    for c in result.per_class:
        print(f"{c.name:<{width}}  {c.precision:>9.1%}  {c.recall:>6.1%}  {c.f1:.3f}  {c.support:>7}")
    if len(result.classes) <= 20:
        print()
        print("confusion matrix (rows: true class, columns: predicted)")
        cell = max(4, *(len(str(v)) for row in result.confusion for v in row))
        names = [c[: cell] for c in result.classes]
        print(f"{'':<{width}}  " + " ".join(f"{n:>{cell}}" for n in names))
        for name, row in zip(result.classes, result.confusion):
            print(f"{name:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    wrong = result.mistakes()
    if wrong and mistakes:
        print()
        print(f"most confident mistakes ({min(mistakes, len(wrong))} of {len(wrong)})")
        for s in wrong[:mistakes]:
            print(f"  {s.path}  true {result.classes[s.true]}, predicted {result.classes[s.pred]} ({s.confidence:.1%})")
    if result.skipped:
        _note(f"skipped {len(result.skipped)} file(s):")
        for s in result.skipped[:20]:
            _note(f"  {s.path}: {s.reason}")


if __name__ == "__main__":
    raise SystemExit(main())
