"""int8 ONNX export: static quantization with ONNX Runtime, calibrated and checked on the run's own images.

    result = export_int8(run_dir, max_drop=1.0)       # RUN_DIR/export/model.int8.onnx
    result.fp32_acc, result.int8_acc, result.speedup

The fp32 model is exported to ONNX (engine/export.py), pre-processed (ONNX Runtime's
`quant_pre_process`: shape inference and graph optimisation) and statically quantized
(`quantize_static`), calibrated on a bounded sample of the run's training images
(split.json, spread over the classes), preprocessed exactly as prediction does
(`Predictor.tensor`). Then both ONNX models run on the run's validation images (all of
them, up to VALIDATION_LIMIT) against their labels: top-1 accuracy of each, file sizes and
batch-1 CPU latency (the median of LATENCY_RUNS runs on ONNX Runtime's CPU provider).

When int8 loses more than `max_drop` accuracy points, AccuracyDropRefused (a StudioError:
the CLI's exit 2) is raised and nothing is written: every file is made under a temporary
name in the target folder and only the int8 file is renamed into place, on success. The
description of the exported file (engine/export.py's, plus a "quantization" section with
the settings and the measurements) goes beside it and inside it, as for any export.

onnx and onnxruntime are imported only when a function here runs.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, export, io
from .errors import ImageError, StudioError
from .models import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "QuantSettings",
    "DEFAULT_SETTINGS",
    "Int8Result",
    "AccuracyDropRefused",
    "export_int8",
    "default_int8_path",
    "CALIBRATION_IMAGES",
    "VALIDATION_LIMIT",
    "DEFAULT_MAX_DROP",
]

DEFAULT_MAX_DROP = 1.0  # accuracy points int8 may lose on the validation images before the export is refused
CALIBRATION_IMAGES = 200  # training images the activation ranges are calibrated on (spread over the classes)
VALIDATION_LIMIT = 2000  # validation images the accuracies are measured on (all of a run's, up to this many)
LATENCY_RUNS = 30  # batch-1 runs timed per model (after 5 warm-up runs); the median is reported
_BATCH = 32  # images per ONNX Runtime call while measuring accuracy


@dataclass(frozen=True)
class QuantSettings:
    """How the model is quantized (ONNX Runtime's quantize_static options, by name)."""

    quant_format: str = "QOperator"  # or "QDQ"
    per_channel: bool = True
    calibrate_method: str = "MinMax"  # or "Percentile", "Entropy"
    activation_type: str = "QUInt8"  # or "QInt8"
    preprocess: bool = True  # quant_pre_process first

    def describe(self) -> str:
        channel = "per-channel" if self.per_channel else "per-tensor"
        return f"{self.quant_format}, {channel} weights, {self.calibrate_method} calibration, {self.activation_type} activations"


# Chosen with benchmarks/int8_export.py --variants all (ResNet-18, ImageNet stem, 224 px, from scratch on the
# grey demo textures, 240 validation images; a 2-core Xeon shared with other jobs; ONNX Runtime 1.32). Two
# models (fp32 63.3% after 5 epochs, 45.4% after 2): every setting below gave the same int8 top-1 within one
# image (62.9%: -0.42 points; 45.4-46.2%), so speed and cost decided:
# - uint8 activations (U8S8): QDQ with int8 activations ran slower than fp32 (0.86x, 0.92x); with uint8 2.2-2.4x.
# - QOperator over QDQ: 2.25x/2.15x against 2.41x/2.17x here, within the noise; an earlier probe on this machine
#   gave QOperator 2.0-2.3x and QDQ 1.7-1.8x, and the first (3-epoch) run 2.49x against 2.18x.
# - per-channel weights: no cost measured (2.25x, per-tensor 2.32x); the safer default for fine-tuned
#   networks, whose filters' ranges differ more than these.
# - MinMax calibration: as accurate as Percentile and Entropy here and the quickest (whole export 21 s against
#   41 s and 33 s): those keep a histogram of every activation.
# - quant_pre_process: no difference measured (2.27x without); kept, as ONNX Runtime asks (it warns otherwise).
DEFAULT_SETTINGS = QuantSettings()


@dataclass(frozen=True)
class Int8Result:
    path: str
    meta_path: str
    settings: dict
    calibration_images: int
    validation_images: int
    fp32_acc: float  # top-1 on the validation images, 0..1
    int8_acc: float
    drop_points: float  # (fp32_acc - int8_acc) in percentage points
    max_drop: float
    fp32_bytes: int
    int8_bytes: int
    fp32_ms: float  # batch-1 median latency on the CPU
    int8_ms: float
    speedup: float  # fp32_ms / int8_ms
    seconds: float
    format: str = field(default="onnx-int8")

    def summary(self) -> str:
        return (
            f"int8 top-1 {self.int8_acc:.1%} vs fp32 {self.fp32_acc:.1%} on {self.validation_images} validation images "
            f"(drop {self.drop_points:.2f} points, limit {self.max_drop:g}); {_mb(self.int8_bytes)} vs {_mb(self.fp32_bytes)}; "
            f"batch-1 CPU {self.int8_ms:.1f} ms vs {self.fp32_ms:.1f} ms ({self.speedup:.2f}x faster)"
        )


class AccuracyDropRefused(StudioError):
    """The int8 model lost more validation accuracy than allowed; nothing was written."""


def default_int8_path(model_path: str | os.PathLike) -> Path:
    """RUN_DIR/export/model.int8.onnx."""
    return export.default_export_path(model_path, "onnx").with_name("model.int8.onnx")


def export_int8(
    model_path: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    max_drop: float = DEFAULT_MAX_DROP,
    settings: QuantSettings = DEFAULT_SETTINGS,
    calibration_images: int = CALIBRATION_IMAGES,
    validation_limit: int = VALIDATION_LIMIT,
    progress: Callable[[str], None] | None = None,
) -> Int8Result:
    """Quantize the model of a run folder (or its model.safetensors / model.json) to an int8 ONNX file.

    Raises StudioError (no run images to calibrate or check on, missing packages) and
    AccuracyDropRefused (int8 lost more than `max_drop` points); either way nothing is written.
    """
    if not max_drop >= 0:
        raise StudioError(f"the largest accuracy drop must be 0 points or more, not {max_drop}")
    missing = export.missing_packages("onnx")
    if missing:
        raise StudioError(export.install_hint(missing))
    started = time.monotonic()
    say = progress or (lambda message: None)
    split = checkpoint.saved_split(Path(model_path) if Path(model_path).is_dir() else Path(model_path).parent)
    train = _existing(split.train, calibration_images) if split else []
    val = _existing(split.val, validation_limit) if split else []
    if not train or not val:
        raise StudioError(
            f"int8 export calibrates on the run's training images and checks on its validation images: "
            f"{model_path} has {'no split.json' if split is None else 'none of them on disk'} (export it without --int8)"
        )
    model, meta = checkpoint.load_model(model_path)
    model = model.float().eval()
    out_path = Path(out).expanduser() if out else default_int8_path(model_path)
    if out_path.is_dir():
        out_path = out_path / default_int8_path(model_path).name
    made_folder = not out_path.parent.exists()  # taken away again when nothing is written
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudioError(f"cannot create {out_path.parent}: {exc.strerror or exc}") from None

    from .predict import Predictor

    predictor = Predictor(
        model, meta["classes"], meta["image_size"], meta.get("mean", IMAGENET_MEAN), meta.get("std", IMAGENET_STD),
        "cpu", resize_size=meta.get("resize_size"), depth=meta.get("depth"),
    )
    description = export._description(meta, "onnx", out_path, model_path)
    fp32, prepared, int8 = (io.temp_path(out_path.with_name(f"{out_path.stem}.{k}.onnx")) for k in ("fp32", "pre", "int8"))
    try:
        say(f"Reading {len(train)} training images to calibrate on and {len(val)} validation images…")
        calib, _ = _batch(predictor, train)
        images, labels = _batch(predictor, val)
        say("Exporting the fp32 model to ONNX…")
        example = torch.zeros(1, 3, predictor.image_size, predictor.image_size)
        export._export_onnx(model, example, fp32, description)
        say(f"Quantizing to int8 ({settings.describe()}), calibrated on {len(calib)} training images…")
        _quantize(fp32, prepared, int8, calib, settings)
        say(f"Measuring top-1 accuracy on {len(images)} validation images and batch-1 CPU latency…")
        fp32_run = _session(fp32)
        int8_run = _session(int8)
        fp32_acc, int8_acc = _accuracy(fp32_run, images, labels), _accuracy(int8_run, images, labels)
        fp32_ms, int8_ms = _latencies_ms((fp32_run, int8_run), images[:1])
        drop = round(100.0 * (fp32_acc - int8_acc), 9)  # 100 * (0.75 - 0.74) is 1.0000000000000009: not over 1
        if drop > max_drop:
            raise AccuracyDropRefused(
                f"int8 top-1 accuracy {int8_acc:.1%} is {drop:.2f} points below fp32's {fp32_acc:.1%} on {len(images)} "
                f"validation images, more than the {max_drop:g} allowed (--max-drop); nothing was written"
            )
        result = dict(
            settings=asdict(settings), calibration_images=len(calib), validation_images=len(images),
            fp32_acc=fp32_acc, int8_acc=int8_acc, drop_points=drop, max_drop=float(max_drop),
            fp32_bytes=fp32.stat().st_size, int8_bytes=int8.stat().st_size, fp32_ms=fp32_ms, int8_ms=int8_ms,
            speedup=fp32_ms / int8_ms if int8_ms > 0 else float("inf"),
        )
        description["quantization"] = dict(result)  # the size before the description went in: a file cannot hold its own
        export.set_onnx_metadata(int8, description)
        result["int8_bytes"] = int8.stat().st_size
        os.replace(int8, out_path)
    finally:
        for path in (fp32, prepared, int8):
            path.unlink(missing_ok=True)
        if made_folder and not out_path.exists():
            with contextlib.suppress(OSError):  # only an empty folder goes
                out_path.parent.rmdir()
    meta_path = export.meta_path_for(out_path)
    io.atomic_write_json(meta_path, description)
    return Int8Result(path=str(out_path), meta_path=str(meta_path), seconds=time.monotonic() - started, **result)


# ---------------------------------------------------------------- steps


def _existing(pairs: Sequence[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """Up to `limit` (path, label) pairs whose files exist, taking the classes in turn."""
    return [(p, label) for p, label in export.spread_over_classes(pairs, limit) if os.path.isfile(p)]


def _batch(predictor, pairs: Sequence[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    """The readable images, preprocessed as prediction does, and their labels."""
    tensors, labels = [], []
    for path, label in pairs:
        try:
            tensors.append(predictor.tensor(path))
        except ImageError:
            continue
        labels.append(label)
    if not tensors:
        raise StudioError("none of the run's images could be read to calibrate or check the int8 model")
    return torch.stack(tensors).numpy(), np.asarray(labels)


def _quantize(fp32: Path, prepared: Path, int8: Path, calib: np.ndarray, settings: QuantSettings) -> None:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        # one image at a time: the histogram calibrators (Percentile, Entropy) stack the outputs of
        # every call, which fails on batches of unequal size
        def __init__(self) -> None:
            self.images = iter(calib)

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {"input": np.ascontiguousarray(image[None], dtype=np.float32)}

    source = fp32
    try:
        with export._quiet():
            if settings.preprocess:
                # ONNX's own shape inference is enough for a CNN (the symbolic one is for transformers' dynamic shapes)
                quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
                source = prepared
            quantize_static(
                str(source), str(int8), Reader(),
                quant_format=getattr(QuantFormat, settings.quant_format),
                per_channel=settings.per_channel,
                activation_type=getattr(QuantType, settings.activation_type),
                weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, settings.calibrate_method),
            )
    except Exception as exc:
        raise StudioError(f"int8 quantization failed: {export._first_line(exc)}") from None


def _session(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    try:
        run, _ = export.load_exported(path, "onnx")
    except Exception as exc:
        raise StudioError(f"the ONNX model could not be loaded: {export._first_line(exc)}") from None
    return run


def _accuracy(run: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray) -> float:
    top1 = np.concatenate([run(images[i : i + _BATCH]).argmax(axis=1) for i in range(0, len(images), _BATCH)])
    return float((top1 == labels).mean())


def _latencies_ms(runs: Sequence[Callable[[np.ndarray], np.ndarray]], one: np.ndarray, warmup: int = 5) -> list[float]:
    """Each model's median batch-1 latency. The models take turns, run by run, so that a burst of
    load from other processes on the machine slows them alike instead of one of them."""
    for run in runs:
        for _ in range(warmup):
            run(one)
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(LATENCY_RUNS):
        for run, spent in zip(runs, times):
            start = time.perf_counter()
            run(one)
            spent.append(time.perf_counter() - start)
    return [1000.0 * statistics.median(spent) for spent in times]


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
