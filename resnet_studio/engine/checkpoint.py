"""Model files and training checkpoints: saved so they survive a crash (io.atomic_write),
loaded so that nothing in a file ever runs.

Model files are safetensors (plain tensors, no code) with model.json beside them; the
training checkpoint is read with torch.load(weights_only=True), which refuses anything
but tensors and plain data.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import torch
from torch import nn

from . import io
from .config import ALL_DEPTHS, SETTINGS
from .errors import ModelFileError, describe
from .models import (
    build_model,
    check_readable_file,
    load_safetensors_file,
    safe_torch_load,
    sniff_format,
    state_dict_mismatch,
)
from .runs import CHECKPOINT, MODEL, MODEL_META, RunRecord, Split, read_split

__all__ = [
    "MODEL_FORMAT",
    "save_model",
    "load_model",
    "read_model_meta",
    "save_checkpoint",
    "load_checkpoint",
    "saved_split",
]

MODEL_FORMAT = "resnet-studio-model"


# ---------------------------------------------------------------- model files


def save_model(model: nn.Module, path: str | os.PathLike, meta: dict) -> None:
    """model.safetensors plus model.json beside it (what is needed to use the model)."""
    from safetensors.torch import save

    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    data = save(state, metadata={"format": MODEL_FORMAT})
    io.atomic_write(path, lambda f: f.write(data))
    io.atomic_write_json(path.with_name(MODEL_META), {"format": MODEL_FORMAT, "format_version": 1, **meta})


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
    meta = read_model_meta(meta_path)
    depth, classes = meta["depth"], meta["classes"]
    check_readable_file(weights_path, "model file")
    if sniff_format(weights_path) == "pickle":
        raise ModelFileError(
            f"{weights_path.name} is a pickle (PyTorch's .pt format), not a safetensors file: it is not opened, "
            "since loading a pickle can run code"
        )
    state = load_safetensors_file(weights_path)
    stem = meta.get("stem", "imagenet")  # a model.json from before the small stem: torchvision's
    problem = state_dict_mismatch(state, depth, len(classes), stem=stem)
    if problem:
        raise ModelFileError(
            f"{weights_path.name} does not match its {MODEL_META} (ResNet-{depth}, {len(classes)} classes): {problem}"
        )
    model = build_model(depth, len(classes), weights="none", stem=stem)
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights_path.name} cannot be loaded: {describe(exc)}") from None
    model.eval()
    return model, meta


def read_model_meta(meta_path: str | os.PathLike) -> dict:
    """model.json, checked: depth, classes and image_size, and resize_size, mean and std if
    given (`ModelMeta`); every problem is a one-line ModelFileError naming the file."""
    from pydantic import ValidationError

    meta_path = Path(meta_path)
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
    try:
        _model_meta_schema().model_validate(meta)
    except ValidationError as exc:
        errors = exc.errors()
        missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
        if missing:
            raise ModelFileError(f"{name} is not a complete model description: it has no {', '.join(missing)}") from None
        first = errors[0]
        key = str(first["loc"][0]) if first["loc"] else "description"
        wanted = str(first.get("ctx", {}).get("error", "")) if first["type"] == "value_error" else ""
        raise ModelFileError(
            f"{name} has a bad {key}: {json.dumps(meta.get(key))[:60]} ({wanted or _META_WANTED.get(key, 'see the docs')})"
        ) from None
    return meta


_LOW, _HIGH = int(SETTINGS["image_size"].minimum), int(SETTINGS["image_size"].maximum)
_META_WANTED = {
    "depth": f"one of {', '.join(map(str, ALL_DEPTHS))}",
    "stem": "imagenet or small",
    "classes": "a list of class names",
    "image_size": f"a number of pixels from {_LOW} to {_HIGH}",
    "resize_size": "a number of pixels, at least image_size",
    "mean": "three numbers, one per colour channel",
    "std": "three numbers above 0",
}


@functools.lru_cache(maxsize=1)
def _model_meta_schema():
    """model.json's schema, as a pydantic model: strict types (true is not a number), the
    studio's own limits, and any other keys kept (newer versions may add some)."""
    from typing import Annotated

    from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

    channels = Annotated[list[float], Field(min_length=3, max_length=3)]

    class ModelMeta(BaseModel):
        model_config = ConfigDict(strict=True, extra="allow")

        depth: int
        classes: list[str]
        image_size: int
        resize_size: int | None = None
        mean: channels | None = None
        std: channels | None = None

        stem: str | None = None

        @field_validator("depth")
        @classmethod
        def _known_depth(cls, value: int) -> int:
            if value not in ALL_DEPTHS:
                raise ValueError(_META_WANTED["depth"])
            return value

        @field_validator("stem")
        @classmethod
        def _known_stem(cls, value: str | None) -> str | None:
            if value is not None and value not in ("imagenet", "small"):
                raise ValueError(_META_WANTED["stem"])
            return value

        @field_validator("classes")
        @classmethod
        def _class_names(cls, value: list[str]) -> list[str]:
            if not value or not all(value):
                raise ValueError(_META_WANTED["classes"])
            if len(set(value)) != len(value):
                raise ValueError("the class names must differ")
            return value

        @field_validator("image_size")
        @classmethod
        def _image_size(cls, value: int) -> int:
            if not _LOW <= value <= _HIGH:
                raise ValueError(_META_WANTED["image_size"])
            return value

        @field_validator("std")
        @classmethod
        def _positive(cls, value):
            if value is not None and not all(v > 0 for v in value):
                raise ValueError(_META_WANTED["std"])
            return value

        @field_validator("resize_size")
        @classmethod
        def _resize_covers_crop(cls, value, info: ValidationInfo):
            if value is not None and value < info.data.get("image_size", 0):
                raise ValueError(_META_WANTED["resize_size"])
            return value

    return ModelMeta


# ---------------------------------------------------------------- training state


def save_checkpoint(run_dir: str | os.PathLike, state: dict) -> None:
    """The full training state (tensors and plain data only), written atomically."""
    io.atomic_write(Path(run_dir) / CHECKPOINT, lambda f: torch.save(state, f))


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
        for key in ("train", "val"):  # the split, in checkpoints written before split.json
            if key in state:
                state[key] = [[str(p), int(label)] for p, label in state[key]]
    except (TypeError, ValueError):
        raise ModelFileError(f"{name} is damaged: its list of classes or images is malformed") from None
    depth = RunRecord.load(path.parent).depth  # the run's config.json, when it says
    if depth in ALL_DEPTHS:
        problem = state_dict_mismatch(model, depth, len(state["classes"]))
        if problem:
            raise ModelFileError(
                f"{name} does not fit its run (ResNet-{depth}, {len(state['classes'])} classes): {problem}"
            )
    return state


_CHECKPOINT_KEYS = {"epoch": int, "model": dict, "optimizer": dict, "scheduler": dict, "classes": list}


def saved_split(run_dir: str | os.PathLike) -> Split | None:
    """The exact split a run used: its split.json, or, for a run from before split.json
    existed, the lists its checkpoint kept (memory-mapped: the tensors are not read).
    None when neither is there."""
    run_dir = Path(run_dir)
    split = read_split(run_dir)
    if split is not None:
        return split
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # torn, foreign or unsafe: no split to be had from it
        return None
    if not isinstance(state, dict) or "train" not in state or "val" not in state:
        return None
    return Split.from_dict(state)
