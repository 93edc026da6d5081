"""Take a trained model elsewhere: ONNX or TorchScript, checked against PyTorch.

    result = export_model(run_dir, "onnx")            # RUN_DIR/export/model.onnx
    result.max_prob_diff, result.images_checked

The exported file takes a float32 NCHW batch of RGB images, preprocessed as for
prediction, and returns logits (softmax gives the probabilities). What is needed to
use it travels with it twice: in `<file>.json` beside it (class names, preprocessing,
input and output) and inside the file (ONNX metadata property `resnet_studio`, or the
TorchScript extra file `model.json`).

After writing, the exported model and the PyTorch model run on sample images (the
run's validation images when they can be found, plus a few generated ones); the
largest difference in probability is reported. If the top class differs on any
image, the export fails with StudioError and leaves no file behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, data, io
from .errors import ImageError, StudioError
from .models import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "FORMATS",
    "ExportResult",
    "export_model",
    "default_export_path",
    "missing_packages",
    "install_hint",
    "sample_images",
    "load_exported",
]

FORMATS = ("onnx", "torchscript")
_FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
_FORMAT_NAMES = {"onnx": "ONNX", "torchscript": "TorchScript"}
EXPORT_FORMAT = "resnet-studio-export"
ONNX_OPSET = 17
TIE = 1e-6  # top classes this close in PyTorch's probabilities are a tie, not a disagreement


@dataclass(frozen=True)
class ExportResult:
    path: str
    meta_path: str
    format: str
    images_checked: int
    top1_agree: int  # images whose top class is the same in both
    max_prob_diff: float  # largest |probability difference| over images and classes
    seconds: float

    def summary(self) -> str:
        return (
            f"checked on {self.images_checked} images: top-1 identical on {self.top1_agree}; "
            f"largest probability difference {self.max_prob_diff:.2e}"
        )


def default_export_path(model_path: str | os.PathLike, fmt: str) -> Path:
    """RUN_DIR/export/model.onnx (or model.torchscript.pt), beside a model file's folder otherwise."""
    path = Path(model_path)
    folder = path if path.is_dir() else path.parent
    return folder / "export" / _FILE_NAMES[_check_format(fmt)]


def meta_path_for(path: str | os.PathLike) -> Path:
    """Where the description of an exported file goes: `<file>.json` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def missing_packages(fmt: str) -> list[str]:
    """Python packages the format needs that are not installed (ONNX: onnx, onnxruntime)."""
    if _check_format(fmt) != "onnx":
        return []
    return [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]


def install_hint(packages: Sequence[str]) -> str:
    """How to install what ONNX export lacks, into this installation (a checkout or a package)."""
    from ..installation import install_command

    return f"ONNX export needs {' and '.join(packages)}: install with {install_command('export', packages)}"


# ---------------------------------------------------------------- exporting


def export_model(
    model_path: str | os.PathLike,
    fmt: str,
    out: str | os.PathLike | None = None,
    *,
    samples: Sequence | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export the model of a run folder (or model.safetensors / model.json) and check it.

    `samples`: images (paths or PIL images) to check on; by default `sample_images()`.
    `progress(message)` says what is happening. Raises StudioError.
    """
    fmt = _check_format(fmt)
    missing = missing_packages(fmt)
    if missing:
        raise StudioError(install_hint(missing))
    started = time.monotonic()
    say = progress or (lambda message: None)
    model, meta = checkpoint.load_model(model_path)
    model = model.float().eval()
    out_path = Path(out).expanduser() if out else default_export_path(model_path, fmt)
    if out_path.is_dir():
        out_path = out_path / _FILE_NAMES[fmt]
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudioError(f"cannot create {out_path.parent}: {exc.strerror or exc}") from None
    description = _description(meta, fmt, out_path, model_path)

    from .predict import Predictor

    predictor = Predictor(
        model, meta["classes"], meta["image_size"], meta.get("mean", IMAGENET_MEAN), meta.get("std", IMAGENET_STD),
        "cpu", resize_size=meta.get("resize_size"), depth=meta.get("depth"),
    )
    tmp = io.temp_path(out_path)
    try:
        say(f"Exporting to {_FORMAT_NAMES[fmt]}…")
        example = torch.zeros(1, 3, predictor.image_size, predictor.image_size)
        if fmt == "onnx":
            _export_onnx(model, example, tmp, description)
        else:
            _export_torchscript(model, tmp, description)
        images = list(samples) if samples is not None else sample_images(model_path)
        say(f"Checking the exported model against PyTorch on {len(images)} images…")
        batch = _preprocess(predictor, images)
        if batch is None:
            raise StudioError("none of the sample images could be read to check the export")
        with torch.inference_mode():
            reference = model(batch).double().softmax(dim=1).numpy()
        exported = _run_exported(tmp, fmt, batch.numpy())
        agree, max_diff = _compare(reference, exported)
        n = len(reference)
        if agree < n:
            raise StudioError(
                f"the exported {_FORMAT_NAMES[fmt]} model disagrees with PyTorch on the top class of "
                f"{n - agree} of {n} images (largest probability difference {max_diff:.3g}); nothing was written"
            )
        description["check"] = {"images": n, "top1_agree": agree, "max_prob_diff": max_diff}
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    meta_path = meta_path_for(out_path)
    io.atomic_write_json(meta_path, description)
    return ExportResult(
        path=str(out_path),
        meta_path=str(meta_path),
        format=fmt,
        images_checked=n,
        top1_agree=agree,
        max_prob_diff=max_diff,
        seconds=time.monotonic() - started,
    )


def _check_format(fmt: str) -> str:
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise StudioError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
    return fmt


def _description(meta: dict, fmt: str, out_path: Path, source) -> dict:
    from .. import __version__

    image_size = int(meta["image_size"])
    resize = int(meta.get("resize_size") or data.resize_size_for(image_size))
    mean = [float(m) for m in meta.get("mean", IMAGENET_MEAN)]
    std = [float(s) for s in meta.get("std", IMAGENET_STD)]
    classes = [str(c) for c in meta["classes"]]
    return {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "model_format": fmt,
        "file": out_path.name,
        "depth": meta.get("depth"),
        "classes": classes,
        "image_size": image_size,
        "resize_size": resize,
        "mean": mean,
        "std": std,
        "input": {"name": "input", "shape": ["batch", 3, image_size, image_size], "dtype": "float32", "layout": "NCHW RGB"},
        "output": {"name": "logits", "shape": ["batch", len(classes)], "dtype": "float32"},
        "preprocessing": (
            f"decode as RGB; resize the shorter side to {resize} px (bilinear, antialiased); "
            f"centre-crop {image_size}x{image_size}; scale to [0, 1]; subtract mean and divide by std "
            "per channel; softmax of the logits gives the class probabilities"
        ),
        "source": str(source),
        "source_val_acc": meta.get("val_acc"),
        "project_version": __version__,
        "torch_version": torch.__version__,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


@contextlib.contextmanager
def _quiet():
    """The exporters warn about deprecations and print progress; keep stdout clean for scripts."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(StringIO()):
            yield


def _export_onnx(model, example: torch.Tensor, path: Path, description: dict) -> None:
    common = dict(input_names=["input"], output_names=["logits"])
    try:
        with _quiet():
            # the TorchScript-based exporter: fast and needs no onnxscript; still shipped in torch 2.x
            torch.onnx.export(
                model, (example,), str(path), dynamo=False, opset_version=ONNX_OPSET,
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **common,
            )
    except Exception as legacy_error:  # a torch without it: the torch.export-based exporter
        if importlib.util.find_spec("onnxscript") is None:
            raise StudioError(
                f"ONNX export failed ({_first_line(legacy_error)}); the newer exporter needs onnxscript: "
                "python -m pip install onnxscript"
            ) from None
        try:
            with _quiet():
                batch = torch.export.Dim("batch", min=1)
                torch.onnx.export(model, (example,), str(path), dynamo=True, dynamic_shapes=({0: batch},), **common)
        except Exception as exc:
            raise StudioError(f"ONNX export failed: {_first_line(exc)}") from None
    set_onnx_metadata(path, description)


def set_onnx_metadata(path: str | os.PathLike, description: dict) -> None:
    """Put the description (and the class names alone) into an ONNX file's metadata, replacing what was there."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in (("resnet_studio", json.dumps(description)), ("classes", json.dumps(description["classes"]))):
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    proto.doc_string = f"ResNet-{description['depth']} exported by ResNet Studio; see the resnet_studio metadata"
    onnx.save(proto, str(path))


def _export_torchscript(model, path: Path, description: dict) -> None:
    try:
        with _quiet():
            scripted = torch.jit.script(model)
    except Exception:  # scripting is stricter than tracing; a traced ResNet is just as good
        with _quiet():
            example = torch.zeros(1, 3, description["image_size"], description["image_size"])
            scripted = torch.jit.trace(model, example)
    with _quiet():
        torch.jit.save(scripted, str(path), _extra_files={"model.json": json.dumps(description)})


def load_exported(path: str | os.PathLike, fmt: str | None = None):
    """(run(batch: np.ndarray float32) -> logits np.ndarray, description dict) of an exported file."""
    path = Path(path)
    fmt = fmt or ("onnx" if path.suffix.lower() == ".onnx" else "torchscript")
    if fmt == "onnx":
        import onnx
        import onnxruntime as ort

        proto = onnx.load(str(path), load_external_data=False)
        props = {p.key: p.value for p in proto.metadata_props}
        description = json.loads(props.get("resnet_studio", "{}"))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(batch: np.ndarray) -> np.ndarray:
            return session.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

        return run, description
    extra = {"model.json": ""}
    with _quiet():
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    module.eval()
    description = json.loads(extra["model.json"] or "{}")

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()

    return run, description


def _run_exported(path: Path, fmt: str, batch: np.ndarray) -> np.ndarray:
    try:
        run, _ = load_exported(path, fmt)
        logits = run(batch).astype(np.float64)
    except StudioError:
        raise
    except Exception as exc:
        raise StudioError(f"the exported {_FORMAT_NAMES[fmt]} model could not be run: {_first_line(exc)}") from None
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def _compare(reference: np.ndarray, exported: np.ndarray) -> tuple[int, float]:
    """(images whose top class agrees, max |prob difference|); a near-tie in PyTorch counts as agreeing."""
    agree = 0
    for ref, exp in zip(reference, exported):
        a, b = int(ref.argmax()), int(exp.argmax())
        if a == b or abs(ref[a] - ref[b]) <= TIE:
            agree += 1
    return agree, float(np.abs(reference - exported).max())


def _preprocess(predictor, images: Sequence) -> torch.Tensor | None:
    tensors = []
    for item in images:
        try:
            tensors.append(predictor.tensor(item))
        except ImageError:
            continue
    return torch.stack(tensors) if tensors else None


# ---------------------------------------------------------------- sample images


def sample_images(model_path: str | os.PathLike, limit: int = 16, generated: int = 4, seed: int = 0) -> list:
    """Images to check an export on: up to `limit` of the run's validation images (spread
    over the classes), when its folder can be found, plus `generated` synthetic pictures."""
    from PIL import Image

    paths = _validation_paths(Path(model_path), limit)
    rng = np.random.default_rng(seed)
    synthetic = []
    for i in range(generated):
        size = (int(rng.integers(48, 160)), int(rng.integers(48, 160)))
        if i % 2 == 0:
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        else:
            yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
            ramps = [xx * 255 // max(1, size[0] - 1), yy * 255 // max(1, size[1] - 1), (xx + yy) % 256]
            arr = np.stack(ramps, -1).astype(np.uint8)
        synthetic.append(Image.fromarray(arr, "RGB"))
    return list(paths) + synthetic


def _validation_paths(model_path: Path, limit: int) -> list[str]:
    """Up to `limit` of the run's validation images, taking the classes in turn."""
    run_dir = model_path if model_path.is_dir() else model_path.parent
    split = checkpoint.saved_split(run_dir)
    if split is None:
        return []
    return [p for p, _label in spread_over_classes(split.val, limit) if os.path.isfile(p)]


def spread_over_classes(pairs: Sequence[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """Up to `limit` of the (path, label) pairs, taking the classes in turn (each class's in order)."""
    by_class: dict[int, list[tuple[str, int]]] = {}
    for path, label in pairs:
        by_class.setdefault(label, []).append((path, label))
    picked: list[tuple[str, int]] = []
    while len(picked) < limit and any(by_class.values()):
        for label in sorted(by_class):
            if by_class[label] and len(picked) < limit:
                picked.append(by_class[label].pop(0))
    return picked


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
