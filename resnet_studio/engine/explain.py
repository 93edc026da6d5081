"""Why the model decided what it did: Grad-CAM heatmaps from the last stage.

Grad-CAM (Selvaraju et al., 2017) weighs each channel of the last stage's output
(`layer4`; `layer3` in the three-stage CIFAR ResNets) by the mean gradient of the class score with respect to it, sums the
channels and keeps the positive part: the regions that raise that class's score.

The model sees the image the way prediction does (resize the shorter side, centre
crop), so the map covers that centre crop; `CamResult.heatmap(size)` places it over
the whole image, zero outside the crop, and `overlay()` draws it in colour over the
picture, shading what the model never saw. No matplotlib: the colour map is a
polynomial fit of Google's Turbo.

    cams = grad_cam(predictor, [image])            # top class
    cams = grad_cam(predictor, [image], [3])       # class 3
    overlay(image, cams[0], opacity=0.5).save("cam.png")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from . import data
from .errors import StudioError
from .models import stages

__all__ = ["CamResult", "Explanation", "explain", "grad_cam", "overlay", "colorize", "heat_colors", "heat_rgba", "crop_box"]

ImageItem = str | os.PathLike | bytes | Image.Image


@dataclass(frozen=True)
class CamResult:
    grid: np.ndarray  # float32 (h, w) at the last stage's resolution, in [0, 1]
    class_index: int
    label: str
    prob: float  # the model's probability for `label` on this image
    crop: tuple[float, float, float, float]  # the region the model saw: (left, top, right, bottom) as fractions

    def heatmap(self, size: tuple[int, int]) -> np.ndarray:
        """The map at `size` = (width, height) of the image, float32 in [0, 1], 0 outside the crop."""
        width, height = int(size[0]), int(size[1])
        out = np.zeros((height, width), dtype=np.float32)
        left, top, right, bottom = _pixels(self.crop, width, height)
        grid = torch.from_numpy(np.ascontiguousarray(self.grid, dtype=np.float32))[None, None]
        up = nn.functional.interpolate(grid, size=(bottom - top, right - left), mode="bilinear", align_corners=False)
        out[top:bottom, left:right] = up[0, 0].clamp_(0, 1).numpy()
        return out

    @property
    def peak(self) -> tuple[float, float]:
        """Where the map is highest, as (x, y) fractions of the whole image."""
        h, w = self.grid.shape
        y, x = np.unravel_index(int(np.argmax(self.grid)), self.grid.shape)
        left, top, right, bottom = self.crop
        return left + (x + 0.5) / w * (right - left), top + (y + 0.5) / h * (bottom - top)


def _pixels(crop, width: int, height: int) -> tuple[int, int, int, int]:
    """A fractional box in pixels of a width x height frame, at least one pixel, inside it."""
    left = min(max(int(round(crop[0] * width)), 0), width - 1)
    top = min(max(int(round(crop[1] * height)), 0), height - 1)
    right = min(max(int(round(crop[2] * width)), left + 1), width)
    bottom = min(max(int(round(crop[3] * height)), top + 1), height)
    return left, top, right, bottom


def crop_box(width: int, height: int, image_size: int, resize_size: int) -> tuple[float, float, float, float]:
    """The centre crop of the evaluation transform, as fractions of the image (left, top, right, bottom)."""
    short, long = min(width, height), max(width, height)
    # torchvision's Resize(int): the shorter side becomes resize_size, the longer is truncated
    r_short, r_long = resize_size, int(resize_size * long / short)
    r_w, r_h = (r_short, r_long) if width <= height else (r_long, r_short)
    crop = min(image_size, r_w, r_h)
    left = int(round((r_w - crop) / 2.0))
    top = int(round((r_h - crop) / 2.0))
    return left / r_w, top / r_h, (left + crop) / r_w, (top + crop) / r_h


def _trunk(model: nn.Module):
    """The stem and stages of a torchvision ResNet (the last stage's output) and its head."""
    names = ("conv1", "bn1", "relu", "maxpool", *stages(model), "avgpool", "fc")  # the last stage: layer4 or layer3
    if not all(hasattr(model, n) for n in names) or len(names) < 8:
        raise StudioError("Grad-CAM needs a torchvision ResNet (conv1 ... layer4, avgpool, fc)")
    stem = [getattr(model, n) for n in names[:-2]]
    return stem, model.avgpool, model.fc


@dataclass(frozen=True)
class Explanation:
    """A Grad-CAM map and a picture to draw it over."""

    cam: CamResult
    image: Image.Image  # the picture, at most `display_side` wide or high; the map's fractions place it


def explain(predictor, source: ImageItem, class_index: int | None = None, display_side: int | None = None) -> Explanation:
    """Grad-CAM of one image, computed on exactly the pixels prediction reads (so
    `cam.prob` is the prediction's probability), with a picture for display.

    The window's panes and thumbnails and `predict --cam` all call this. `display_side`:
    the longest side of the picture returned; a file is read again at a finer scale when
    the model's own reading is smaller than that (the map is in fractions of the picture,
    so it fits any scale). Raises ImageError."""
    picture = predictor.read(source)
    cam = _grad_cam(predictor, [picture], [class_index])[0]
    image = picture
    if display_side and min(picture.size) < display_side and not isinstance(source, Image.Image):
        image = data.load_image(source, min_size=display_side)
    if display_side:
        image = image.copy() if image is picture else image
        image.thumbnail((display_side, display_side))
    return Explanation(cam, image)


def grad_cam(
    predictor,
    images: Sequence[ImageItem],
    class_indices: Sequence[int | None] | None = None,
    batch_size: int = 16,
) -> list[CamResult]:
    """Grad-CAM of `predictor`'s model for each image: the top class, or class_indices[i].

    Images are paths, bytes or PIL images, read as prediction reads them
    (`Predictor.read`). Thread-safe with other users of the same model: no hooks are
    installed on it. Raises ImageError for a file that cannot be read.
    """
    items = list(images)
    wanted = list(class_indices) if class_indices is not None else [None] * len(items)
    if len(wanted) != len(items):
        raise ValueError("one class index (or None) per image")
    results: list[CamResult] = []
    step = max(1, int(batch_size))
    for start in range(0, len(items), step):
        pictures = [predictor.read(item) for item in items[start : start + step]]
        results.extend(_grad_cam(predictor, pictures, wanted[start : start + step]))
    return results


def _grad_cam(predictor, pictures: list[Image.Image], wanted: list[int | None]) -> list[CamResult]:
    """Grad-CAM of RGB pictures already read by `predictor.read`, in one batch."""
    n_classes = len(predictor.classes)
    for c in wanted:
        if c is not None and not 0 <= int(c) < n_classes:
            raise StudioError(f"class index {c} is out of range (the model has {n_classes} classes)")
    stem, pool, head = _trunk(predictor.model)
    x = torch.stack([predictor.transform(p) for p in pictures]).to(predictor.device)
    if getattr(predictor, "channels_last", False):
        x = x.contiguous(memory_format=torch.channels_last)  # as Predictor.probabilities runs it
    with torch.no_grad():
        for layer in stem:
            x = layer(x)
    # gradients are only needed from the last stage on: the head is all they pass through
    with torch.enable_grad():
        act = x.detach().float().requires_grad_(True)
        logits = head(torch.flatten(pool(act), 1)).float()
        probs = logits.detach().softmax(dim=1)
        chosen = [int(c) if c is not None else int(probs[i].argmax()) for i, c in enumerate(wanted)]
        score = logits[torch.arange(len(pictures)), torch.tensor(chosen)].sum()
        (grads,) = torch.autograd.grad(score, act)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cams = torch.relu((weights * act.detach()).sum(dim=1)).cpu()
    resize = predictor.resize_size
    results = []
    for i, picture in enumerate(pictures):
        cam = cams[i]
        top = float(cam.max())
        grid = (cam / top if top > 0 else torch.zeros_like(cam)).numpy().astype(np.float32)
        results.append(
            CamResult(
                grid=grid,
                class_index=chosen[i],
                label=str(predictor.classes[chosen[i]]),
                prob=float(probs[i, chosen[i]]),
                crop=crop_box(picture.width, picture.height, predictor.image_size, resize),
            )
        )
    return results


# ---------------------------------------------------------------- drawing

# Turbo (Google, 2019), polynomial fit by Ruofei Du: x in [0, 1] -> RGB in [0, 1]
_TURBO = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ],
    dtype=np.float64,
)


def colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB (..., 3) on the Turbo colour map (blue, green, yellow, red)."""
    x = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    powers = np.stack([np.ones_like(x), x, x**2, x**3, x**4, x**5], axis=-1)
    rgb = np.clip(powers @ _TURBO.T, 0.0, 1.0)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


HEAT_RANGE = (0.08, 0.86)  # the part of Turbo used: deep blue to bright red, not its near-black ends


def heat_colors(values: np.ndarray) -> np.ndarray:
    """Heat values in [0, 1] -> uint8 RGB: blue (none) through green and yellow to red (most)."""
    low, high = HEAT_RANGE
    return colorize(low + (high - low) * np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0))


def heat_rgba(cam: CamResult, size: tuple[int, int], opacity: float = 1.0) -> np.ndarray:
    """An RGBA uint8 (height, width, 4) layer: the coloured map, stronger where it is higher,
    transparent outside the crop. Draw it over the image at any opacity."""
    heat = cam.heatmap(size)
    rgba = np.empty(heat.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = heat_colors(heat)
    inside = _inside_mask(cam, size)
    alpha = (0.2 + 0.8 * heat) * float(opacity) * inside
    rgba[..., 3] = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return rgba


def _inside_mask(cam: CamResult, size: tuple[int, int]) -> np.ndarray:
    width, height = int(size[0]), int(size[1])
    mask = np.zeros((height, width), dtype=np.float32)
    left, top, right, bottom = _pixels(cam.crop, width, height)
    mask[top:bottom, left:right] = 1.0
    return mask


def overlay(image: Image.Image, cam: CamResult, opacity: float = 0.5, shade_outside: float = 0.45) -> Image.Image:
    """`image` with the heatmap over it (RGB, the image's size); the part the model did not
    see (outside the centre crop) is darkened by `shade_outside`."""
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    size = (base.shape[1], base.shape[0])
    layer = heat_rgba(cam, size, opacity).astype(np.float32)
    alpha = layer[..., 3:4] / 255.0
    out = base * (1.0 - alpha) + layer[..., :3] * alpha
    if shade_outside > 0:
        inside = _inside_mask(cam, size)[..., None]
        out = out * (inside + (1.0 - inside) * (1.0 - float(shade_outside)))
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGB")
