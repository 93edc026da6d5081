"""The training input path: decode each image once, crop and flip whole batches on the device.

    decode_resized   a file -> uint8 pixels, shorter side at resize_size_for(image_size)
                     (~1.14x the crop), JPEGs decoded at reduced scale (Image.draft)
    aspect_cut       the centre a panorama keeps (at most MAX_ASPECT:1)
    DecodedCache     those pixels in memory within a byte budget; beyond it, images are
                     decoded from disk again each time they are needed. With a CUDA
                     decode_device, fill() decodes a batch's JPEGs there in one call
                     (jpeg.py: nvJPEG, full size, then the same resize; Pillow for the rest)
    BatchLoader      batches of cached pixels, decoded ahead in a thread pool (with GPU
                     decoding the threads read the files, Pillow decodes the non-JPEGs)
    train_batch      random resized crop, turn, flip, lighting (and colour), normalize: on
                     the device, as strong as the augmentation level (AUGMENTATIONS) says
    eval_batch       centre crop and normalize on the device: the same pixels as
                     data.eval_transform, which prediction uses

Decoding runs in threads, not processes: Pillow (and nvJPEG) releases the GIL while it
decodes and resizes, the cache lives in one process, and nothing is pickled or spawned
(safe under Qt, on every OS, in a frozen app). Everything here also runs on CPU tensors.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from . import io
from .data import load_image
from .devices import to_device
from .errors import ImageError
from .models import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "MAX_ASPECT",
    "AUGMENTATIONS",
    "Augmentation",
    "AugmentationLevel",
    "augmentation_for",
    "Batch",
    "BatchLoader",
    "DecodedCache",
    "FeatureBank",
    "aspect_cut",
    "center_crop_boxes",
    "DeviceBatch",
    "TensorBatch",
    "augment",
    "decode_resized",
    "draw_augmentation",
    "default_cache_budget",
    "eval_batch",
    "random_resized_crop_boxes",
    "train_batch",
]

#: a stored image's longer side is at most this many times its shorter side (centre kept)
MAX_ASPECT = 3.0
#: the automatic cache budget: this fraction of the memory available when training starts
AUTO_BUDGET_FRACTION = 0.25


# ---------------------------------------------------------------- decoding and the cache


def decode_resized(path: str, short_side: int) -> torch.Tensor:
    """An image file as uint8 (H, W, 3) with its shorter side resized to `short_side`.

    The same steps and pixels as data.eval_transform's resize (and so as prediction):
    decode (big JPEGs at reduced scale), EXIF orientation, RGB, antialiased resize.
    A panorama keeps its centre, MAX_ASPECT times as long as it is high. Raises ImageError.
    """
    from torchvision.transforms.v2 import functional

    image = functional.resize(load_image(path, min_size=short_side), [short_side], antialias=True)
    box = aspect_cut(*image.size, short_side)
    if box is not None:
        image = image.crop(box)
    return torch.from_numpy(np.array(image, dtype=np.uint8))


def aspect_cut(width: int, height: int, short_side: int) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) an image resized to `short_side` keeps, or None
    when it keeps all of it: a panorama its centre, MAX_ASPECT times as long as it is high."""
    longest = int(short_side * MAX_ASPECT)
    if max(width, height) <= longest:
        return None
    # cut an even number of pixels, half from each end: the centre crop stays where it was
    keep = lambda n: n if n <= longest else longest - (n - longest) % 2
    left, top = (width - keep(width)) // 2, (height - keep(height)) // 2
    return left, top, left + keep(width), top + keep(height)


def default_cache_budget() -> int:
    """A quarter of the memory available now (1 GB when that cannot be found out)."""
    available = io.available_memory()
    return int(available * AUTO_BUDGET_FRACTION) if available else 2**30


class DecodedCache:
    """path -> decoded pixels (decode_resized), kept while they fit in `budget_bytes`.

    Images are never evicted: with random access, a fixed set in memory beats any
    replacement policy. Once full, other images are decoded from disk each time
    (`full` tells). Files that fail are remembered with their reason. Thread-safe.

    With a `decode_device` (a CUDA device), fill() decodes the JPEGs of a batch there in
    one call (jpeg.decode_resized_batch); get() still decodes one file with Pillow.
    """

    def __init__(self, short_side: int, budget_bytes: int | None = None, decode_device: torch.device | str | None = None):
        self.short_side = int(short_side)
        self.budget_bytes = default_cache_budget() if budget_bytes is None else max(0, int(budget_bytes))
        self.decode_device = None if decode_device is None else torch.device(decode_device)
        self.nbytes = 0
        self.full = False
        self._images: dict[str, torch.Tensor] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._images)

    @property
    def batch_decoding(self) -> bool:
        """Whether fill() decodes JPEGs in batches: a decode device that torchvision can decode on."""
        if self.decode_device is None:
            return False
        from .jpeg import decodes_jpegs

        return decodes_jpegs(self.decode_device)

    def cached(self, path: str) -> torch.Tensor | None:
        return self._images.get(path)

    def get(self, path: str) -> torch.Tensor:
        """The pixels of `path`, from memory or decoded now. Raises ImageError."""
        pixels = self._images.get(path)
        if pixels is not None:
            return pixels
        error = self._errors.get(path)
        if error is not None:
            raise ImageError(error)
        try:
            pixels = decode_resized(path, self.short_side)
        except ImageError as exc:
            self._errors[path] = str(exc)
            raise
        return self._keep(path, pixels)

    def fill(self, paths: Sequence[str], files: Sequence | None = None) -> list[torch.Tensor | ImageError]:
        """The pixels of each path as get() gives them, or its ImageError (returned, not
        raised): those not in memory yet decoded now and kept as far as the budget allows.
        With batch_decoding, their JPEGs in one device call; otherwise each with Pillow.
        `files`: the paths as jpeg.read_jpeg read them (None where it gave None), if read.
        """
        results: list = [None] * len(paths)
        missing = []
        for k, path in enumerate(paths):
            results[k] = self._images.get(path)
            if results[k] is None:
                error = self._errors.get(path)
                if error is not None:
                    results[k] = ImageError(error)
                else:
                    missing.append(k)
        if not missing:
            return results
        todo = [paths[k] for k in missing]
        if self.batch_decoding:
            from .jpeg import decode_resized_batch

            read = None if files is None else [files[k] for k in missing]
            decoded = decode_resized_batch(todo, self.short_side, self.decode_device, files=read)
        else:
            decoded = []
            for path in todo:
                try:
                    decoded.append(decode_resized(path, self.short_side))
                except ImageError as exc:
                    decoded.append(exc)
        for k, path, pixels in zip(missing, todo, decoded):
            if isinstance(pixels, ImageError):
                self._errors[path] = str(pixels)
                results[k] = pixels
            else:
                results[k] = self._keep(path, pixels)
        return results

    def _keep(self, path: str, pixels: torch.Tensor) -> torch.Tensor:
        """Decoded pixels, kept when they fit; the ones already kept when another thread was first."""
        size = pixels.numel()
        with self._lock:
            if path in self._images:
                return self._images[path]
            if self.nbytes + size <= self.budget_bytes:
                self._images[path] = pixels
                self.nbytes += size
            else:
                self.full = True
        return pixels


# ---------------------------------------------------------------- batches


@dataclass
class Batch:
    """Decoded images of one batch, each at the top left of a shared uint8 canvas."""

    pixels: torch.Tensor  # uint8 (B, H, W, 3); beyond each image: one edge row/column, then anything
    sizes: torch.Tensor  # int64 (B, 2): each image's (height, width)
    labels: torch.Tensor  # int64 (B,)
    indices: list[int]  # the samples' positions in the loader's list
    errors: list[str] = field(default_factory=list)  # "path: reason" of images left out of the batch


class BatchLoader:
    """Batches of (path, label) samples through a DecodedCache; one pass per iteration.

    `threads` > 0 decodes that many images at once, a few batches ahead of the one in
    use; 0 decodes in the calling thread. When the cache decodes in batches (a CUDA
    decode_device), the threads read the files (and decode what is not a JPEG for the
    device) and the collating thread has each batch's JPEGs decoded together
    (DecodedCache.fill) before collating it. The order is shuffled with `generator`
    (seed it before each epoch for a repeatable order). `pin_memory` for fast CUDA copies.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        cache: DecodedCache,
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        threads: int = 0,
        pin_memory: bool = False,
        generator: torch.Generator | None = None,
        batches_ahead: int = 3,
    ):
        self.samples = list(samples)
        self.cache = cache
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last and len(self.samples) > self.batch_size
        self.threads = int(threads)
        self.pin_memory = pin_memory
        self.generator = generator
        self.batches_ahead = max(1, int(batches_ahead))

    def __len__(self) -> int:
        n, b = len(self.samples), self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def index_batches(self) -> list[list[int]]:
        """The sample positions of each batch of one pass (draws the shuffle)."""
        n = len(self.samples)
        order = torch.randperm(n, generator=self.generator).tolist() if self.shuffle else list(range(n))
        return [order[i : i + self.batch_size] for i in range(0, len(self) * self.batch_size, self.batch_size)]

    def __iter__(self) -> Iterator[Batch]:
        batches = self.index_batches()
        batched = self.cache.batch_decoding
        if self.threads <= 0:
            for indices in batches:
                yield self._collate(indices, self._fill(indices) if batched else [self._load(i) for i in indices])
            return
        decode = ThreadPoolExecutor(self.threads, thread_name_prefix="studio-decode")
        collate = ThreadPoolExecutor(1, thread_name_prefix="studio-batch")
        try:
            pending: deque[Future] = deque()
            for indices in batches:
                pending.append(self._submit(indices, decode, collate, batched))
                if len(pending) > self.batches_ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # stopped early: drop queued work; running decodes end on their own
            collate.shutdown(wait=False, cancel_futures=True)
            decode.shutdown(wait=False, cancel_futures=True)

    def _submit(self, indices: list[int], decode: ThreadPoolExecutor, collate: ThreadPoolExecutor, batched: bool) -> Future:
        # cached images need no thread; only the others are decoded in the pool, or with
        # batch decoding read there and their JPEGs decoded together before collating
        slots = []
        for i in indices:
            pixels = self.cache.cached(self.samples[i][0])
            slots.append(pixels if pixels is not None else decode.submit(self._read if batched else self._load, i))

        def collate_batch() -> Batch:
            loaded = [s.result() if isinstance(s, Future) else s for s in slots]
            return self._collate(indices, self._decode_read(loaded) if batched else loaded)

        return collate.submit(collate_batch)

    def _load(self, index: int) -> torch.Tensor | str:
        """The pixels of sample `index`, or "path: reason" when it cannot be read."""
        path = self.samples[index][0]
        try:
            return self.cache.get(path)
        except ImageError as exc:
            return self._reason(path, exc)

    @staticmethod
    def _reason(path: str, exc: ImageError) -> str:
        return f"{path}: {str(exc).split(': ', 1)[-1]}"

    def _fill(self, indices: list[int]) -> list[torch.Tensor | str]:
        """_load for a whole batch, through the cache's batch decoding."""
        paths = [self.samples[i][0] for i in indices]
        return [self._reason(p, r) if isinstance(r, ImageError) else r for p, r in zip(paths, self.cache.fill(paths))]

    def _read(self, index: int):
        """A JPEG the device can decode, read (jpeg.JpegFile) for _decode_read; any other
        file decoded now, as _load does."""
        from .jpeg import read_jpeg

        file = read_jpeg(self.samples[index][0])
        return self._load(index) if file is None else file

    def _decode_read(self, loaded: list) -> list[torch.Tensor | str]:
        """The JPEGs that _read read, decoded through the cache in one batch."""
        todo = [k for k, item in enumerate(loaded) if not isinstance(item, (torch.Tensor, str))]
        if todo:
            filled = self.cache.fill([loaded[k].path for k in todo], [loaded[k] for k in todo])
            for k, pixels in zip(todo, filled):
                loaded[k] = self._reason(loaded[k].path, pixels) if isinstance(pixels, ImageError) else pixels
        return loaded

    def _collate(self, indices: list[int], loaded: list) -> Batch:
        errors = [img for img in loaded if isinstance(img, str)]
        kept = [i for i, img in zip(indices, loaded) if not isinstance(img, str)]
        good = [(img, self.samples[i][1]) for i, img in zip(indices, loaded) if not isinstance(img, str)]
        sizes = torch.tensor([img.shape[:2] for img, _ in good], dtype=torch.int64).reshape(-1, 2)
        labels = torch.tensor([label for _, label in good], dtype=torch.int64)
        height = int(sizes[:, 0].max()) + 1 if len(good) else 1
        width = int(sizes[:, 1].max()) + 1 if len(good) else 1
        pin = self.pin_memory and torch.cuda.is_available()
        pixels = torch.empty((len(good), height, width, 3), dtype=torch.uint8, pin_memory=pin)
        for k, (img, _) in enumerate(good):
            h, w = img.shape[:2]
            pixels[k, :h, :w] = img
            # repeat the last row and column once: bilinear samples at the image's
            # edge then never read the padding
            pixels[k, h, :w] = img[h - 1]
            pixels[k, : h + 1, w] = pixels[k, : h + 1, w - 1]
        if pin:
            sizes, labels = sizes.pin_memory(), labels.pin_memory()
        return Batch(pixels, sizes, labels, kept, errors)


class FeatureBank:
    """One vector per sample, computed once (a frozen backbone's output), served in the
    batches a BatchLoader over the same samples would make. Lives on `device`."""

    def __init__(self, samples: Sequence[tuple[str, int]], dim: int, device: torch.device):
        self.features = torch.zeros((len(samples), dim), device=device)
        self.labels = torch.tensor([label for _, label in samples]).to(device)
        self.found = [False] * len(samples)

    def __len__(self) -> int:
        return sum(self.found)

    def add(self, indices: list[int], features: torch.Tensor) -> None:
        self.features[self._positions(indices)] = features.float()
        for i in indices:
            self.found[i] = True

    def batches(self, index_batches: list[list[int]]) -> Iterator[TensorBatch]:
        """(features, labels) per batch; samples without features (unreadable) left out."""
        for indices in index_batches:
            kept = [i for i in indices if self.found[i]]
            if kept:
                positions = self._positions(kept)
                yield TensorBatch(self.features[positions], self.labels[positions])

    def _positions(self, indices: list[int]) -> torch.Tensor:
        return torch.tensor(indices, device=self.features.device)  # made there: no copy of a temporary


# ---------------------------------------------------------------- on the device


def random_resized_crop_boxes(
    sizes: torch.Tensor,
    generator: torch.Generator | None = None,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    tries: int = 10,
) -> torch.Tensor:
    """torchvision's RandomResizedCrop parameters for a whole batch, without a host sync.

    sizes: (B, 2) heights and widths. Returns float (B, 4) boxes x1, y1, x2, y2 in
    pixels. As torchvision: up to `tries` draws of area and aspect ratio per image, the
    first that fits wins; when none fits, the centre crop at the nearest allowed ratio.
    """
    device = sizes.device
    hw = sizes.to(torch.float32)
    h, w = hw[:, 0:1], hw[:, 1:2]
    u = torch.rand((sizes.shape[0], tries, 4), generator=generator, device=device)
    area = h * w * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * u[..., 1])
    cw = torch.sqrt(area * aspect).round()
    ch = torch.sqrt(area / aspect).round()
    fits = (cw >= 1) & (cw <= w) & (ch >= 1) & (ch <= h)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # index of the first try that fits
    cw, ch = cw.gather(1, first), ch.gather(1, first)
    y = torch.floor(u[..., 2].gather(1, first) * (h - ch + 1)).clamp(max=h - ch)
    x = torch.floor(u[..., 3].gather(1, first) * (w - cw + 1)).clamp(max=w - cw)
    # nothing fits: the whole image, cut to the nearest allowed aspect ratio, centred
    in_ratio = w / h
    fw = torch.where(in_ratio > ratio[1], (h * ratio[1]).round(), w)
    fh = torch.where(in_ratio < ratio[0], (w / ratio[0]).round(), h)
    fy, fx = torch.floor((h - fh) / 2), torch.floor((w - fw) / 2)
    any_fits = fits.any(1, keepdim=True)
    x, y = torch.where(any_fits, x, fx), torch.where(any_fits, y, fy)
    cw, ch = torch.where(any_fits, cw, fw), torch.where(any_fits, ch, fh)
    return torch.cat([x, y, x + cw, y + ch], 1)


def center_crop_boxes(sizes: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 4) boxes of the centred size x size crop, placed as torchvision's CenterCrop."""
    hw = sizes.to(torch.float32)
    top = torch.round((hw[:, 0] - size) / 2)  # round half to even, like Python's round()
    left = torch.round((hw[:, 1] - size) / 2)
    return torch.stack([left, top, left + size, top + size], 1)


@functools.lru_cache(maxsize=16)
def _on_device(device: torch.device, values: tuple) -> torch.Tensor:
    """A constant, copied to `device` once (a copy per batch would wait for the device)."""
    return torch.tensor(values, dtype=torch.float32).to(device)


def _normalize(images: torch.Tensor, mean, std, already_unit: bool = False) -> torch.Tensor:
    """(x / 255 - mean) / std per channel (x / 1 when `already_unit`), in one multiply-add."""
    unit = 1.0 if already_unit else 255.0
    scale = _on_device(images.device, tuple(1.0 / (unit * float(s)) for s in std)).view(1, 3, 1, 1)
    shift = _on_device(images.device, tuple(-float(m) / float(s) for m, s in zip(mean, std))).view(1, 3, 1, 1)
    return torch.addcmul(shift, images, scale)


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    r, g, b = images.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


# RGB -> YIQ and back: a hue shift is a rotation of the I and Q chroma plane
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
_YIQ_INVERSE = tuple(map(tuple, np.linalg.inv(np.array(_YIQ)).tolist()))


def _color_jitter(images: torch.Tensor, u: torch.Tensor, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05) -> torch.Tensor:
    """Per-image brightness, contrast, saturation and hue, on values in [0, 1]; `u`: the
    (B, 4, 1, 1, 1) uniform draws that set them."""
    n, device = images.shape[0], images.device
    factor = lambda k, amount: 1 - amount + 2 * amount * u[:, k]
    images = (images * factor(0, brightness)).clamp_(0, 1)
    mean = _grayscale(images).mean((1, 2, 3), keepdim=True)
    images = ((images - mean) * factor(1, contrast) + mean).clamp_(0, 1)
    if saturation == 0 and hue == 0:
        return images
    gray = _grayscale(images)
    images = ((images - gray) * factor(2, saturation) + gray).clamp_(0, 1)
    angle = (u[:, 3].view(n) * 2 - 1) * hue * 2 * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotate = torch.zeros((n, 3, 3), device=device)
    rotate[:, 0, 0] = 1
    rotate[:, 1, 1], rotate[:, 1, 2], rotate[:, 2, 1], rotate[:, 2, 2] = cos, -sin, sin, cos
    matrix = _on_device(device, _YIQ_INVERSE) @ rotate @ _on_device(device, _YIQ)  # (n, 3, 3) in RGB
    return torch.einsum("nij,njhw->nihw", matrix, images).clamp_(0, 1)


@dataclass(frozen=True)
class AugmentationLevel:
    """How far one level of augmentation goes (config.augmentation_level picks one)."""

    scale: tuple[float, float]  # the crop's share of the image's area
    ratio: tuple[float, float]  # the crop's aspect ratio, before it is resized to a square
    rotate: float  # turns of up to this many degrees either way (reflected at the image's edges)
    lighting: float  # brightness and contrast factors within 1 +- this
    colour: float = 0.0  # saturation within 1 +- this, hue within +- colour / 6 turns


#: light: about what fastai's aug_transforms does (zoom up to 1.15x, small turns, mild
#: lighting), and near the CIFAR recipe's 4 px shifts at 32 px; standard: fastai's
#: RandomResizedCrop(min_scale=0.35) with the same turns and lighting; strong: torchvision's
#: ImageNet recipe (8-100 % crops) with colour changes. See config.augmentation_level.
AUGMENTATIONS: dict[str, AugmentationLevel] = {
    "light": AugmentationLevel(scale=(0.75, 1.0), ratio=(5 / 6, 6 / 5), rotate=5.0, lighting=0.1),
    "standard": AugmentationLevel(scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), rotate=10.0, lighting=0.2),
    "strong": AugmentationLevel(scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), rotate=15.0, lighting=0.3, colour=0.3),
}
#: what --color-jitter adds to a level: colour changes, and lighting at least this strong
COLOUR_JITTER = 0.3


def augmentation_for(level: str, color_jitter: bool = False) -> AugmentationLevel:
    """The level's settings, with colour jitter added when asked."""
    chosen = AUGMENTATIONS[level]
    if not color_jitter:
        return chosen
    return dataclasses.replace(chosen, lighting=max(chosen.lighting, COLOUR_JITTER), colour=max(chosen.colour, COLOUR_JITTER))


@dataclass
class Augmentation:
    """The random draws of a batch's augmentation, made once for the whole batch: a batch
    run in pieces, or again after running out of memory, gets the same crops, turns, flips
    and colours as in one go."""

    boxes: torch.Tensor  # float (B, 4): the crops, x1 y1 x2 y2
    flip: torch.Tensor  # bool (B,)
    angle: torch.Tensor  # float (B,): the turns, in radians
    jitter: torch.Tensor  # (B, 4, 1, 1, 1) uniform draws for the lighting (and colour) changes
    level: AugmentationLevel

    def __getitem__(self, piece: slice) -> Augmentation:
        return Augmentation(self.boxes[piece], self.flip[piece], self.angle[piece], self.jitter[piece], self.level)


def draw_augmentation(
    sizes: torch.Tensor, generator: torch.Generator | None = None, level: AugmentationLevel | str = "standard",
) -> Augmentation:
    """Crops, flips, turns and lighting draws for images of `sizes` (B, 2), without a host sync."""
    level = AUGMENTATIONS[level] if isinstance(level, str) else level
    boxes = random_resized_crop_boxes(sizes, generator, level.scale, level.ratio)
    n, device = len(boxes), boxes.device
    flip = torch.rand(n, generator=generator, device=device) < 0.5
    angle = (torch.rand(n, generator=generator, device=device) * 2 - 1) * math.radians(level.rotate)
    jitter = torch.rand((n, 4, 1, 1, 1), generator=generator, device=device)
    return Augmentation(boxes, flip, angle, jitter, level)


def _crop_resize(pixels: torch.Tensor, augmentation: Augmentation, sizes: torch.Tensor, size: int) -> torch.Tensor:
    """float (B, 3, size, size) in 0..255: each crop box, turned about its centre by its
    angle and flipped as drawn, sampled bilinearly in one pass. Where a turned box reaches
    past its image, the image is mirrored at its edges (as fastai pads), never the canvas's
    padding or a black corner."""
    images = pixels.permute(0, 3, 1, 2).float()
    n, _, height, width = images.shape
    boxes = augmentation.boxes
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2  # (n, 2) x, y in pixels (0 is an image's left edge)
    half = (boxes[:, 2:] - boxes[:, :2]) / 2
    half_x = torch.where(augmentation.flip, -half[:, 0], half[:, 0])
    cos, sin = torch.cos(augmentation.angle), torch.sin(augmentation.angle)
    # output position (u, v) in -1..1 -> the image position centre + R(angle) (half_x u, half_y v)
    steps = (torch.arange(size, device=images.device, dtype=torch.float32) * 2 + 1) / size - 1
    u, v = steps.view(1, 1, size), steps.view(1, size, 1)
    hx, hy = half_x.view(n, 1, 1), half[:, 1].view(n, 1, 1)
    c, s = cos.view(n, 1, 1), sin.view(n, 1, 1)
    x = centre[:, 0].view(n, 1, 1) + c * hx * u - s * hy * v
    y = centre[:, 1].view(n, 1, 1) + s * hx * u + c * hy * v
    w, h = sizes[:, 1].to(torch.float32).view(n, 1, 1), sizes[:, 0].to(torch.float32).view(n, 1, 1)
    x, y = _mirror(x, w), _mirror(y, h)
    grid = torch.stack([x * (2 / width) - 1, y * (2 / height) - 1], -1)  # grid_sample's -1..1 over the canvas
    return torch.nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _mirror(position: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Positions folded back into 0..length, as a mirror at each edge would show them."""
    period = position.remainder(2 * length)
    return length - (period - length).abs()


def augment(pixels: torch.Tensor, augmentation: Augmentation, sizes: torch.Tensor, image_size: int,
            mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """The drawn crops of `image_size`, turned, flipped and lit as drawn, normalized:
    float (B, 3, S, S) on the pixels' device."""
    images = _crop_resize(pixels, augmentation, sizes, image_size)
    level = augmentation.level
    if level.lighting == 0 and level.colour == 0:
        return _normalize(images, mean, std)
    jittered = _color_jitter(images / 255.0, augmentation.jitter, level.lighting, level.lighting, level.colour, level.colour / 6)
    return _normalize(jittered, mean, std, already_unit=True)


def train_batch(
    pixels: torch.Tensor,
    sizes: torch.Tensor,
    image_size: int,
    generator: torch.Generator | None = None,
    level: AugmentationLevel | str = "standard",
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
) -> torch.Tensor:
    """Random resized crops of `image_size`, turns, flips and lighting as `level` says,
    normalized: float (B, 3, S, S) on the pixels' device. Seeded by `generator`."""
    return augment(pixels, draw_augmentation(sizes, generator, level), sizes, image_size, mean, std)


def eval_batch(pixels: torch.Tensor, sizes: torch.Tensor, image_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Centre crops of `image_size`, normalized: float (B, 3, S, S), channels-last in
    memory. Exact pixel copies: the same values as data.eval_transform."""
    boxes = center_crop_boxes(sizes, image_size).long()
    steps = torch.arange(image_size, device=pixels.device)
    rows = (boxes[:, 1:2] + steps).unsqueeze(2)  # (B, S, 1)
    cols = (boxes[:, 0:1] + steps).unsqueeze(1)  # (B, 1, S)
    batch = torch.arange(len(boxes), device=pixels.device).view(-1, 1, 1)
    crops = pixels[batch, rows, cols]  # (B, S, S, 3)
    return _normalize(crops.permute(0, 3, 1, 2).float(), mean, std)


# ---------------------------------------------------------------- a batch on the device, piece by piece


class DeviceBatch:
    """A loaded batch made into network inputs on the device, a piece at a time.

    The labels, the image sizes and the augmentation's draws (for the whole batch, when
    `generator` is given; centre crops otherwise) go to the device at once. `inputs(start,
    stop)` copies those images' pixels, crops, flips and normalizes them there: all that
    a piece allocates on the device is allocated where the out-of-memory fallback can
    retry it in smaller pieces, and the pieces give the same images as the whole batch.
    """

    def __init__(
        self,
        batch: Batch,
        device: torch.device,
        image_size: int,
        generator: torch.Generator | None = None,
        level: AugmentationLevel | str = "standard",
        channels_last: bool = False,
    ):
        self.batch = batch
        self.device = device
        self.image_size = image_size
        self.channels_last = channels_last
        self.labels = to_device(batch.labels, device)
        self.sizes = to_device(batch.sizes, device)
        self.augmentation = draw_augmentation(self.sizes, generator, level) if generator is not None else None

    def __len__(self) -> int:
        return len(self.batch.labels)

    def inputs(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Normalized float (n, 3, S, S) images start..stop, on the device."""
        stop = len(self) if stop is None else stop
        tallest, widest = (int(v) + 1 for v in self.batch.sizes[start:stop].amax(0))  # host values: no sync
        # the piece's own images, on a canvas cut to the largest of them (and its edge row and column)
        pixels = to_device(self.batch.pixels[start:stop], self.device)[:, :tallest, :widest]
        if self.augmentation is None:
            images = eval_batch(pixels, self.sizes[start:stop], self.image_size)
        else:
            images = augment(pixels, self.augmentation[start:stop], self.sizes[start:stop], self.image_size)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images


@dataclass
class TensorBatch:
    """Inputs already made (the frozen backbone's features): a piece is a slice."""

    tensor: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def inputs(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        return self.tensor[start:stop]
