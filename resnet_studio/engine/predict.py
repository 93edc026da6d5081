"""Top-k predictions of a trained model (or torchvision's ImageNet model) on images.

Images go through the same evaluation preprocessing the trainer validated with:
resize the shorter side, center crop, normalize. A file that cannot be read becomes
an error entry for that image only; the others are still predicted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from io import StringIO

import torch
from PIL import Image
from torch import nn

from . import checkpoint, data, io, models
from .errors import ImageError, StudioError
from .memory import ChunkedRunner, memory_name

__all__ = ["Prediction", "Predictor", "write_csv"]

ImageItem = str | os.PathLike | bytes | Image.Image  # what predict() accepts


@dataclass(frozen=True)
class Prediction:
    path: str | None  # None for an in-memory image
    predictions: list[tuple[str, float]] = field(default_factory=list)  # (label, prob), most likely first
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def top1(self) -> tuple[str, float] | None:
        return self.predictions[0] if self.predictions else None

    def to_dict(self) -> dict:
        """The object `resnet-studio predict --json` prints for this image."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "predictions": [{"label": label, "prob": prob} for label, prob in self.predictions]}


class Predictor:
    """A model in eval mode plus what it needs to read images: classes and preprocessing."""

    def __init__(
        self,
        model: nn.Module,
        classes: Sequence[str],
        image_size: int,
        mean: Sequence[float] = models.IMAGENET_MEAN,
        std: Sequence[float] = models.IMAGENET_STD,
        device: str | torch.device = "cpu",
        *,
        resize_size: int | None = None,
        depth: int | None = None,
    ):
        self.classes = list(classes)
        if not self.classes:
            raise StudioError("a model needs at least one class")
        self.image_size = int(image_size)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.device = _device(device)
        self.depth = depth if depth is not None else _infer_depth(model)
        self.model = model.to(self.device).eval()
        # channels-last: oneDNN and cuDNN convolutions run markedly faster (ResNet-50 on a 2-core CPU: ~1.3x)
        self.channels_last = self.device.type in ("cpu", "cuda")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.resize_size = int(resize_size) if resize_size else data.resize_size_for(self.image_size)
        self.transform = _eval_transform(self.image_size, self.resize_size, self.mean, self.std)
        #: told (one line) when batches stop fitting in memory and run in smaller pieces
        self.on_memory_fallback: Callable[[str], None] | None = None
        self._memory = ChunkedRunner(self.device, "batch", self._memory_fallback)

    # ------------------------------------------------------------ constructors

    @classmethod
    def from_path(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Predictor:
        """A trained model from a run folder, model.safetensors or model.json (never runs code from the file)."""
        model, meta = checkpoint.load_model(path)
        return cls(
            model,
            meta["classes"],
            meta["image_size"],
            meta.get("mean", models.IMAGENET_MEAN),
            meta.get("std", models.IMAGENET_STD),
            device,
            resize_size=meta.get("resize_size"),
            depth=meta.get("depth"),
        )

    @classmethod
    def imagenet(cls, depth: int = 50, device: str | torch.device = "cpu") -> Predictor:
        """torchvision's ImageNet model with its 1000 labels; WeightsUnavailableError offline."""
        model = models.build_model(depth, 1000, "imagenet")
        preset = models.DEPTHS[int(depth)].default_weights.transforms()
        return cls(
            model,
            models.imagenet_categories(),
            preset.crop_size[0],
            preset.mean,
            preset.std,
            device,
            resize_size=preset.resize_size[0],
            depth=int(depth),
        )

    # ------------------------------------------------------------ predicting

    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Class probabilities (float, on the device) of a preprocessed batch; a batch that
        does not fit in memory runs in smaller pieces (OutOfMemory when one image does not fit)."""
        batch = batch.to(self.device)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self._memory(lambda x: self.model(x).float().softmax(dim=1), batch)

    def _memory_fallback(self, old: int, new: int) -> None:
        if self.on_memory_fallback:
            where = memory_name(self.device)
            self.on_memory_fallback(f"out of {where} with {old} images at once: carrying on with {new} at a time")

    def warm_up(self) -> None:
        """Run the model once on a blank image: the first run of a shape sets up its
        kernels (0.2-0.5 s for a ResNet on a CPU), which a person's first photo should not wait for."""
        with torch.inference_mode():
            blank = torch.zeros(1, 3, self.image_size, self.image_size, device=self.device)
            self.model(blank.contiguous(memory_format=torch.channels_last) if self.channels_last else blank)

    def predict(self, items: Iterable[ImageItem], topk: int = 5, batch_size: int = 16) -> list[Prediction]:
        """One Prediction per item, in order; items are paths or PIL images."""
        return list(self.iter_predict(items, topk=topk, batch_size=batch_size))

    def iter_predict(self, items: Iterable[ImageItem], topk: int = 5, batch_size: int = 16) -> Iterator[Prediction]:
        """Like predict(), yielding each batch's predictions as soon as it is done."""
        batch_size = max(1, int(batch_size))
        pending: list = []
        for item in items:
            pending.append(item)
            if len(pending) == batch_size:
                yield from self._predict_batch(pending, topk)
                pending = []
        if pending:
            yield from self._predict_batch(pending, topk)

    def read(self, item: ImageItem) -> Image.Image:
        """An image as this model reads it: a file (path or bytes) decoded with big JPEGs at
        the reduced scale its resize allows, EXIF orientation applied, RGB with alpha over
        white. Prediction, Grad-CAM, evaluation and export all read through here, so they
        see the same pixels. Raises ImageError."""
        return data.open_image(item, min_size=self.resize_size)

    def tensor(self, item: ImageItem) -> torch.Tensor:
        """The preprocessed (3, S, S) input of one image: read, resized, centre-cropped, normalized."""
        return self.transform(self.read(item))

    def _predict_batch(self, items: list, topk: int) -> list[Prediction]:
        results: list[Prediction | None] = [None] * len(items)
        tensors, slots = [], []
        for i, item in enumerate(items):
            path = str(item) if isinstance(item, (str, os.PathLike)) else None
            try:
                tensors.append(self.tensor(item))
                slots.append((i, path))
            except ImageError as exc:
                results[i] = Prediction(path, [], str(exc))
        if tensors:
            k = max(1, min(int(topk), len(self.classes)))
            probs = self.probabilities(torch.stack(tensors))
            top_p, top_i = probs.topk(k, dim=1)  # sorted, most likely first
            for (i, path), ps, ids in zip(slots, top_p.cpu().tolist(), top_i.cpu().tolist()):
                results[i] = Prediction(path, [(self.classes[c], p) for p, c in zip(ps, ids)])
        return results  # type: ignore[return-value]


# ---------------------------------------------------------------- helpers


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    from . import devices

    return devices.resolve_device(device)


def _eval_transform(image_size: int, resize_size: int, mean, std):
    """data.eval_transform when it matches the model's preprocessing, else the same steps
    with the model's own sizes and normalization."""
    reference = data.eval_transform(image_size)
    if _matches(reference, image_size, resize_size, mean, std):
        return reference
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.Resize(resize_size, antialias=True),
            v2.CenterCrop(image_size),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )


def _matches(transform, image_size: int, resize_size: int, mean, std) -> bool:
    """Whether a transform's resize, crop and normalization are the given ones."""
    steps = getattr(transform, "transforms", [transform])
    found = {"resize": None, "crop": None, "mean": None, "std": None}
    for step in steps:
        name = type(step).__name__
        if name == "Resize":
            size = step.size
            found["resize"] = size[0] if isinstance(size, (list, tuple)) and len(size) == 1 else size
        elif name == "CenterCrop":
            found["crop"] = tuple(step.size)
        elif name == "Normalize":
            found["mean"], found["std"] = tuple(step.mean), tuple(step.std)
    return (
        found["resize"] == resize_size
        and found["crop"] in ((image_size, image_size), (image_size,))
        and found["mean"] is not None
        and _close(found["mean"], mean)
        and _close(found["std"], std)
    )


def _close(a, b) -> bool:
    return len(a) == len(b) and all(abs(float(x) - float(y)) < 1e-6 for x, y in zip(a, b))


def _infer_depth(model: nn.Module) -> int | None:
    """The registry depth whose block layout this model has, or None."""
    try:
        layers = tuple(len(getattr(model, s)) for s in models.stages(model))
        block = type(model.layer1[0]).__name__
    except (AttributeError, TypeError):
        return None
    for spec in (*models.DEPTHS.values(), *models.CIFAR_DEPTHS.values()):
        if spec.layers == layers and spec.block == block:
            return spec.depth
    return None


def write_csv(path: str | os.PathLike, predictions: Sequence[Prediction]) -> None:
    """The predictions as a CSV file, one row per image in the order given:
    `path, label_1, prob_1, ..., label_k, prob_k, error` (k: the most predictions any image
    has). The command line's --csv and the Predict tab's Export CSV both write it.
    Written atomically; raises OSError."""
    import csv

    k = max([len(p.predictions) for p in predictions] + [1])
    out = StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", *(f"{name}_{i}" for i in range(1, k + 1) for name in ("label", "prob")), "error"])
    for p in predictions:
        cells = [p.path or ""]
        for i in range(k):
            cells += [p.predictions[i][0], f"{p.predictions[i][1]:.6f}"] if i < len(p.predictions) else ["", ""]
        writer.writerow([*cells, p.error or ""])
    io.atomic_write_text(path, out.getvalue())
