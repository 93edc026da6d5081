"""The generated demo dataset: four classes of textures a network learns in minutes.

Everything is drawn here from a seed (no download): stripes at any angle, checkerboards,
polka dots and concentric rings, in random scale, position and shade, with noise. Each
class also leans to its own colour family (as real classes often do: sky, grass, fur),
which is what lets ResNet-18 from scratch pass 90% in a few CPU minutes; the texture
alone takes a few hundred steps. A flip or a crop keeps each texture what it is, so the
usual augmentation fits.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from .config import DEMO_IMAGE_SIZE, DEMO_PER_CLASS
from .errors import StudioError

__all__ = ["DEMO_CLASSES", "make_demo_dataset", "draw_demo_image"]

DEMO_CLASSES = ("checkers", "dots", "rings", "stripes")


# Each class's foreground hue (degrees), jittered by +-25 per image.
_HUES = {"checkers": 0.0, "dots": 90.0, "rings": 180.0, "stripes": 270.0}


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h / 60.0) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


def _colours(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    hue = _HUES[kind] + rng.uniform(-25, 25)
    fg = _hsv_to_rgb(hue % 360, rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
    bg = _hsv_to_rgb(rng.uniform(0, 360), rng.uniform(0.0, 0.35), rng.uniform(0.05, 0.35))
    return fg, bg


def draw_demo_image(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, np.pi)
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    period = rng.uniform(0.12, 0.3)
    phase = rng.uniform(0, 1)
    if kind == "stripes":
        mask = np.sin(2 * np.pi * (u / period + phase)) > 0
    elif kind == "checkers":
        mask = (np.sin(2 * np.pi * (u / period + phase)) > 0) ^ (np.sin(2 * np.pi * (v / period + phase)) > 0)
    elif kind == "dots":
        cu = (u / period + phase) % 1 - 0.5
        cv = (v / period + phase) % 1 - 0.5
        mask = cu**2 + cv**2 < rng.uniform(0.06, 0.12)
    elif kind == "rings":
        cx, cy = rng.uniform(0.2, 0.8, 2)
        r = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        mask = np.sin(2 * np.pi * (r / period + phase)) > 0
    else:
        raise ValueError(f"unknown demo class {kind!r}")
    fg, bg = _colours(kind, rng)
    img = np.where(mask[..., None], fg, bg)
    img = img + rng.normal(0, 0.06, img.shape)  # sensor-like noise
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")


def make_demo_dataset(
    out_dir: str | os.PathLike,
    per_class: int = DEMO_PER_CLASS,
    image_size: int = DEMO_IMAGE_SIZE,
    seed: int = 0,
    *,
    reuse: bool = False,
    check: Callable[[], None] | None = None,
) -> Path:
    """Write DEMO_CLASSES x per_class PNG images into out_dir/<class>/ and return out_dir.

    All or nothing: the images are drawn into a hidden folder beside `out_dir`, which is
    renamed into place once complete, so an interrupted write never leaves half a dataset.
    Nothing is overwritten: a folder that already holds files is refused (StudioError),
    unless `reuse` is set and it already holds the demo classes (then it is returned as
    it is). `check()` runs between images; raise in it to stop (the partial folder goes).
    The window and `resnet-studio demo-data` both write the demo data through here.
    """
    out = Path(out_dir).expanduser()
    if out.exists():
        if not out.is_dir():
            raise StudioError(f"cannot write the demo dataset to {out}: it is a file")
        if reuse and all((out / kind).is_dir() and any((out / kind).iterdir()) for kind in DEMO_CLASSES):
            return out
        if any(out.iterdir()):
            raise StudioError(f"{out} is not empty: choose a new folder for the demo dataset")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)  # our own leftover: the pid is this process's
    try:
        rng = np.random.default_rng(seed)
        for kind in DEMO_CLASSES:
            folder = partial / kind
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                if check is not None:
                    check()
                draw_demo_image(kind, image_size, rng).save(folder / f"{kind}_{i:03d}.png", optimize=False)
        if out.is_dir():
            out.rmdir()  # empty (checked above); rename needs the name free
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out
