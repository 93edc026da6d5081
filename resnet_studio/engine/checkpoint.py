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
from .models import (
    DEPTHS,
    build_model,
    check_readable_file,
    load_safetensors_file,
    safe_torch_load,
    sniff_format,
    state_dict_mismatch,
)
from .runs import CHECKPOINT, CONFIG, MODEL, MODEL_META, TMP_MARK as _TMP_MARK

__all__ = [
    "MODEL_FORMAT",
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "probe_writable",
    "overwrite_in_place",
    "save_model",
    "load_model",
    "save_checkpoint",
    "load_checkpoint",
]

MODEL_FORMAT = "resnet-studio-model"


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


def overwrite_in_place(path: str | os.PathLike, text: str) -> None:
    """Rewrite a file through its existing blocks (no temporary copy): the fallback for a
    small file when the disk is full. Not atomic; the caller has nothing better."""
    data = text.encode("utf-8")
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def probe_writable(folder: str | os.PathLike) -> None:
    """Raise OSError when a file cannot be created, written and synced in `folder`."""
    probe = Path(folder) / f".write-test{_TMP_MARK}{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"resnet-studio")
            f.flush()
            os.fsync(f.fileno())
    finally:
        probe.unlink(missing_ok=True)


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
    """(model.safetensors, model.json) for a run folder, either file, or a refusal."""
    if path.is_dir():
        return path / MODEL, path / MODEL_META
    if path.suffix.lower() == ".json":
        return path.with_name(MODEL), path
    if path.suffix.lower() != ".safetensors":
        raise ModelFileError(
            f"{path.name} was refused: a model is opened from its run folder, model.safetensors or model.json "
            "(pickled .pt/.pth files are never loaded: they can run code)"
        )
    return path, path.with_name(MODEL_META)


def load_model(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """A saved model (eval mode, on the CPU) and its model.json.

    `path` is a run folder, a model.safetensors with model.json beside it, or the
    model.json itself. Nothing in the files is executed: a pickle is never opened, and
    every problem is a one-line ModelFileError naming the file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"model not found: {path}")
    weights_path, meta_path = _model_paths(path)
    if weights_path.is_dir():
        raise ModelFileError(f"{weights_path.name} is a folder, not a model file: {weights_path}")
    if not weights_path.is_file():
        raise ModelFileError(f"no {MODEL} in {weights_path.parent} (has the run saved a model yet?)")
    if meta_path.is_dir():
        raise ModelFileError(f"{meta_path.name} is a folder, not a model description: {meta_path}")
    if not meta_path.is_file():
        raise ModelFileError(f"{weights_path.name} has no {MODEL_META} beside it: the class names are unknown")
    meta = _read_model_meta(meta_path)
    depth, classes = meta["depth"], meta["classes"]
    check_readable_file(weights_path, "model file")
    if sniff_format(weights_path) == "pickle":
        raise ModelFileError(
            f"{weights_path.name} is a pickle (PyTorch's .pt format), not a safetensors file: it is not opened, "
            "since loading a pickle can run code"
        )
    state = load_safetensors_file(weights_path)
    problem = state_dict_mismatch(state, depth, len(classes))
    if problem:
        raise ModelFileError(
            f"{weights_path.name} does not match its {MODEL_META} (ResNet-{depth}, {len(classes)} classes): {problem}"
        )
    model = build_model(depth, len(classes), weights="none")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights_path.name} cannot be loaded: {str(exc).strip().splitlines()[0]}") from None
    model.eval()
    return model, meta


def _read_model_meta(meta_path: Path) -> dict:
    """model.json, checked: depth, classes and image_size, and resize_size, mean and std if given."""
    name = meta_path.name
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ModelFileError(f"{name} is not valid JSON (it is not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{name} is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    except OSError as exc:
        raise ModelFileError(f"{name} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{name} is not a model description (it holds a JSON {type(meta).__name__})")
    missing = [k for k in ("depth", "classes", "image_size") if k not in meta]
    if missing:
        raise ModelFileError(f"{name} is not a complete model description: it has no {', '.join(missing)}")

    def bad(key: str, wanted: str):
        return ModelFileError(f"{name} has a bad {key}: {json.dumps(meta[key])[:60]} ({wanted})")

    def is_int(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not is_int(meta["depth"]) or meta["depth"] not in DEPTHS:
        raise bad("depth", f"one of {', '.join(map(str, DEPTHS))}")
    classes = meta["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) and c for c in classes):
        raise bad("classes", "a list of class names")
    if len(set(classes)) != len(classes):
        raise bad("classes", "the class names must differ")
    if not is_int(meta["image_size"]) or not 16 <= meta["image_size"] <= 1024:
        raise bad("image_size", "a number of pixels from 16 to 1024")
    if meta.get("resize_size") is not None and (not is_int(meta["resize_size"]) or meta["resize_size"] < meta["image_size"]):
        raise bad("resize_size", "a number of pixels, at least image_size")
    for key in ("mean", "std"):
        value = meta.get(key)
        if value is None:
            continue
        if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise bad(key, "three numbers, one per colour channel")
        if key == "std" and not all(v > 0 for v in value):
            raise bad(key, "three numbers above 0")
    return meta


# ---------------------------------------------------------------- training state


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> None:
    """The full training state (tensors and plain data only), written atomically."""
    atomic_write(Path(run_dir) / CHECKPOINT, lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A run's checkpoint (a run folder or its checkpoint.pt), read with weights_only=True.

    Checked before it is used: the entries resuming needs, and, when the run's
    config.json is beside it, that its weights fit the run's depth and classes. Every
    problem is a one-line ModelFileError naming the file; nothing in it is executed.
    """
    path = Path(path).expanduser()
    if path.is_dir() and path.name != CHECKPOINT:
        path = path / CHECKPOINT
    if path.is_dir():
        raise ModelFileError(f"{path.name} is a folder, not a checkpoint file: {path}")
    if not path.is_file():
        raise ModelFileError(f"no checkpoint to resume from: {path} does not exist")
    state = safe_torch_load(path)
    name = path.name
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise ModelFileError(f"{name} is not a ResNet Studio checkpoint")
    missing = [k for k in _CHECKPOINT_KEYS if k not in state]
    if missing:
        raise ModelFileError(f"{name} is not a complete ResNet Studio checkpoint: it has no {', '.join(missing)}")
    wrong = [k for k, kind in _CHECKPOINT_KEYS.items() if not isinstance(state[k], kind) or isinstance(state[k], bool)]
    if wrong:
        raise ModelFileError(f"{name} is damaged: its {', '.join(wrong)} entry is not what a checkpoint holds")
    model = state["model"]
    if not model or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        raise ModelFileError(f"{name} is damaged: its model entry is not a state dict of tensors")
    try:
        state["classes"] = [str(c) for c in state["classes"]]
        for key in ("train", "val"):
            state[key] = [[str(p), int(label)] for p, label in state[key]]
    except (TypeError, ValueError):
        raise ModelFileError(f"{name} is damaged: its list of classes or images is malformed") from None
    depth = _run_depth(path.parent)
    if depth is not None:
        problem = state_dict_mismatch(model, depth, len(state["classes"]))
        if problem:
            raise ModelFileError(
                f"{name} does not fit its run (ResNet-{depth}, {len(state['classes'])} classes): {problem}"
            )
    return state


_CHECKPOINT_KEYS = {"epoch": int, "model": dict, "optimizer": dict, "scheduler": dict, "classes": list, "train": list, "val": list}


def _run_depth(run_dir: Path) -> int | None:
    """The depth in a run's config.json, or None when it cannot be told."""
    try:
        depth = json.loads((run_dir / CONFIG).read_text(encoding="utf-8")).get("depth", 18)
        depth = int(depth)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return depth if depth in DEPTHS else None
