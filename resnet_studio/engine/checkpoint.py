"""Saving that survives a crash, loading that never runs code from a file.

Every file is written to a temporary name in the same folder, flushed, fsynced and
renamed over the old one, so a crash mid-write leaves the previous file whole.
Model files are safetensors (plain tensors, no code); the training checkpoint is read
with torch.load(weights_only=True), which refuses anything but tensors and plain data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, BinaryIO

import torch
from torch import nn

from .errors import ModelFileError
from .models import DEPTHS, build_model, safe_torch_load
from .runs import CHECKPOINT, MODEL, MODEL_META

__all__ = [
    "MODEL_FORMAT",
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "remove_stale_temp_files",
    "save_model",
    "load_model",
    "save_checkpoint",
    "load_checkpoint",
]

MODEL_FORMAT = "resnet-studio-model"
_TMP_MARK = ".tmp-"


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` through `write(file)` so that it is either the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Temporary files left by a writer that was killed mid-write."""
    removed = []
    for p in Path(folder).glob(f".*{_TMP_MARK}*"):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


# ---------------------------------------------------------------- model files


def save_model(model: nn.Module, path: str | os.PathLike, meta: dict) -> None:
    """model.safetensors plus model.json beside it (what is needed to use the model)."""
    from safetensors.torch import save

    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={"format": MODEL_FORMAT})
    atomic_write(path, lambda f: f.write(data))
    atomic_write_json(path.with_name(MODEL_META), {"format": MODEL_FORMAT, "format_version": 1, **meta})


def _model_paths(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / MODEL, path / MODEL_META
    if path.suffix.lower() == ".json":
        return path.with_name(MODEL), path
    return path, path.with_name(MODEL_META)


def load_model(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """A saved model (eval mode, on the CPU) and its model.json.

    `path` is a run folder, a model.safetensors with model.json beside it, or the
    model.json itself. Nothing in the files is executed.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model not found: {path}")
    weights_path, meta_path = _model_paths(path)
    if not weights_path.is_file():
        raise ModelFileError(f"no {MODEL} in {weights_path.parent} (has the run saved a model yet?)")
    if not meta_path.is_file():
        raise ModelFileError(f"{weights_path.name} has no {MODEL_META} beside it: the class names are unknown")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        depth, classes = int(meta["depth"]), [str(c) for c in meta["classes"]]
        int(meta["image_size"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{meta_path.name} is not a valid model description ({type(exc).__name__}: {exc})") from None
    if depth not in DEPTHS or len(classes) < 1:
        raise ModelFileError(f"{meta_path.name} describes an unsupported model (depth {depth}, {len(classes)} classes)")
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{weights_path.name} is not a readable safetensors file ({exc})") from None
    model = build_model(depth, len(classes), weights="none")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelFileError(
            f"{weights_path.name} does not match its model.json (ResNet-{depth}, {len(classes)} classes): {first}"
        ) from None
    model.eval()
    return model, meta


# ---------------------------------------------------------------- training state


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> None:
    """The full training state (tensors and plain data only), written atomically."""
    atomic_write(Path(run_dir) / CHECKPOINT, lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise ModelFileError(f"no checkpoint to resume from: {path} does not exist")
    state = safe_torch_load(path)
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise ModelFileError(f"{path.name} is not a ResNet Studio checkpoint")
    return state
