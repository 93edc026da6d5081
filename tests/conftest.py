"""Shared fixtures: tiny generated images and folders, a private studio home."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: on a 2-core machine two threads spin against each other
    (and against the Qt thread in UI tests), which makes tests slow and uneven."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _studio_home(tmp_path, monkeypatch):
    """Runs and demo data go to a temporary home, never to the user's."""
    monkeypatch.setenv("RESNET_STUDIO_HOME", str(tmp_path / "studio-home"))


def solid_image(colour, size=24, mode="RGB") -> Image.Image:
    return Image.new(mode, (size, size), colour)


def write_image(path: Path, image: Image.Image | None = None, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (image or solid_image((200, 30, 30))).save(path, format=fmt)
    return path


def make_class_folder(root: Path, classes: dict[str, int], size: int = 24, seed: int = 0, ext: str = "png") -> Path:
    """root/<class>/<n>.<ext> with `classes[name]` random images each."""
    rng = np.random.default_rng(seed)
    for cls, n in classes.items():
        for i in range(n):
            arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            write_image(root / cls / f"{cls}_{i}.{ext}", Image.fromarray(arr))
    return root


def jpeg_bytes(size=(48, 32), colour=(10, 120, 240), **save_kw) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", **save_kw)
    return buf.getvalue()


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    """The generated demo dataset, small: 4 classes x 16 images of 32 px."""
    from resnet_studio.engine.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", per_class=16, image_size=32)
