"""Photo folders: finding the images, checking them, splitting them, reading them.

Two layouts are understood (DESIGN.md):
    DATA/<class>/<image>                        split into train/val here (seeded, stratified)
    DATA/train/<class>/...  DATA/val/<class>/... used as given (valid/validation also accepted)
"""

from __future__ import annotations

import io
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DataError, ImageError
from .events import SkippedFile

__all__ = [
    "IMAGE_EXTENSIONS",
    "MIN_PHOTOS_PER_CLASS",
    "DatasetScan",
    "is_image_file",
    "list_image_files",
    "load_image",
    "open_image",
    "to_rgb",
    "check_image",
    "scan_dataset",
    "regroup_split",
    "merge_groups",
    "median_side",
    "eval_transform",
    "resize_size_for",
]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
VAL_FOLDER_NAMES = ("val", "valid", "validation")
_JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})
_UNSUPPORTED_HINTS = {
    ".heic": "HEIC", ".heif": "HEIF", ".avif": "AVIF", ".raw": "RAW", ".cr2": "RAW", ".nef": "RAW", ".dng": "RAW",
}
# Full decode is cheap for small files; for bigger files and every JPEG the check reads the
# structure and decodes at reduced size (a JPEG's whole data stream is still decoded, just
# not scaled up to full size), and a file that still fails later is skipped during training.
_FULL_CHECK_BYTES = 1024 * 1024
_JPEG_SUFFIXES = (".jpg", ".jpeg")


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def is_image_file(path: str | os.PathLike) -> bool:
    path = Path(path)
    return not _hidden(path) and path.suffix.lower() in IMAGE_EXTENSIONS


def _walk_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files below `folder` (recursively, sorted, hidden files and folders skipped)."""
    return [p for p in _walk_files(Path(folder)) if is_image_file(p)]


# ---------------------------------------------------------------- reading one image


def to_rgb(image: Image.Image) -> Image.Image:
    """A decoded picture as the model sees it: EXIF orientation applied, then RGB (alpha over
    white, 16-bit scaled, CMYK converted). The one conversion used by training, prediction,
    Grad-CAM and export, for files and in-memory images alike. Never the same object."""
    try:
        oriented = ImageOps.exif_transpose(image)
    except Exception:  # a damaged EXIF block should not cost the picture
        oriented = image
    rgb = _mode_to_rgb(oriented)
    return image.copy() if rgb is image else rgb


def open_image(item, min_size: int | None = None) -> Image.Image:
    """`item` as an RGB picture: a PIL image through to_rgb, a path, bytes or file object
    through load_image. Raises ImageError for a file that cannot be read."""
    if isinstance(item, Image.Image):
        return to_rgb(item)
    return load_image(item, min_size=min_size)


def _mode_to_rgb(im: Image.Image) -> Image.Image:
    """Any mode to RGB, the right way: alpha over white, 16-bit scaled, CMYK converted."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    elif im.mode in ("L", "RGB") and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


_BOMB = "too many pixels (over Pillow's safety limit; possible decompression bomb)"
# A file claiming more pixels than its size could plausibly hold is refused before its pixels
# are allocated: a damaged header (or a deliberate bomb) of a few kilobytes can claim 80
# megapixels, which decoders fill with grey or the background and which take seconds and
# hundreds of megabytes to decode and convert. Real images at this size are far bigger
# (a photo has well under 100 pixels a byte; even a flat-colour RGB PNG at most ~350).
_PLAUSIBLE_PIXELS = 16_000_000  # up to this, any file is decoded (well under a second)
_MAX_PIXELS_PER_BYTE = 500


class _Bomb(Image.DecompressionBombError):
    """Refused by _refuse_bombs; the message is the reason shown."""


def _refuse_bombs(im: Image.Image, file_bytes: int | None = None) -> None:
    """Pillow only warns between its limit and twice it; we refuse (a warning filter
    would do it too, but warning filters are process-wide and checks run in threads).
    With the file's size, far more pixels than its bytes could hold are refused too."""
    width, height = im.size
    pixels = width * height
    limit = Image.MAX_IMAGE_PIXELS
    if limit and pixels > limit:
        raise _Bomb(_BOMB)
    if file_bytes and pixels > _PLAUSIBLE_PIXELS and pixels > file_bytes * _MAX_PIXELS_PER_BYTE:
        raise _Bomb(
            f"{width}x{height} pixels in a file of {file_bytes:,} bytes: far more than it can hold "
            "(damaged, or a decompression bomb)"
        )


def _bomb_reason(exc: BaseException) -> str:
    """Our own reason, or the short one for Pillow's own refusal (or its warning raised as an error)."""
    return str(exc) if isinstance(exc, _Bomb) else _BOMB


def _damaged_reason(exc: BaseException, limit: int = 100) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0].strip() if text else type(exc).__name__
    if "truncated" in detail.lower():
        return "truncated (the file ends early)"
    return f"damaged or unreadable ({detail[:limit] or type(exc).__name__})"


def _source_bytes(source) -> int | None:
    """The size of an image source in bytes (Image.open reads a file object from its start)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    try:
        here = source.tell()
        end = source.seek(0, os.SEEK_END)
        source.seek(here)
        return end
    except (AttributeError, OSError, ValueError):
        return None


def load_image(source, min_size: int | None = None) -> Image.Image:
    """Read a file (path, bytes or file object) as an RGB image.

    EXIF orientation is applied; the first frame of an animation is used. With
    `min_size`, JPEGs are decoded at a reduced scale whose shorter side stays at least
    `min_size` (much faster for phone photos). Raises ImageError with the reason.
    """
    name = Path(source).name if isinstance(source, (str, os.PathLike)) else "image"
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        file_bytes = _source_bytes(source)
        if isinstance(source, (str, os.PathLike)) and file_bytes == 0:
            raise ImageError(f"{name}: empty file (0 bytes)")
        with Image.open(source) as im:
            _refuse_bombs(im, file_bytes)
            if min_size and im.format == "JPEG":
                w, h = im.size
                scale = min(w, h) / min_size
                if scale >= 2:
                    im.draft("RGB", (int(w / scale) + 1, int(h / scale) + 1))
            im.load()
            rgb = to_rgb(im)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found (moved or deleted?)") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a folder, not an image") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (or a format Pillow cannot read)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: {_bomb_reason(exc)}") from None
    except Exception as exc:
        # What a damaged file makes a decoder raise: OSError (truncated, broken data stream),
        # SyntaxError (Pillow's "not a valid file"), ValueError, EOFError, struct.error,
        # IndexError, KeyError, TypeError, ZeroDivisionError, MemoryError, a warning run
        # under -W error, ... Not KeyboardInterrupt or SystemExit (BaseException).
        raise ImageError(f"{name}: {_damaged_reason(exc)}") from None
    return rgb


def _jpeg_complete(path: Path) -> bool:
    """A whole JPEG ends with the EOI marker (some cameras pad a few bytes after it)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 4096))
        tail = f.read()
    return b"\xff\xd9" in tail


def check_image(path: str | os.PathLike) -> str | None:
    """Why a file cannot be used as a training image, or None when it can."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if size == 0:
        return "empty file (0 bytes)"
    if size > _FULL_CHECK_BYTES or path.suffix.lower() in _JPEG_SUFFIXES:
        try:
            with Image.open(path) as im:
                fmt = im.format
                _refuse_bombs(im, size)
            complete = fmt != "JPEG" or _jpeg_complete(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            return _bomb_reason(exc)
        except UnidentifiedImageError:
            return "not an image (or a format Pillow cannot read)"
        except Exception as exc:  # never raises: a scan checks thousands of files in threads
            return _damaged_reason(exc, limit=80)
        if not complete:
            return "truncated (the file ends early)"
        min_size = 64
    else:
        min_size = None
    try:
        load_image(path, min_size=min_size)
    except ImageError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


# ---------------------------------------------------------------- the dataset


#: the fewest photos a class needs when the split is made here: one to train on, one to validate
MIN_PHOTOS_PER_CLASS = 2
_FEW_PHOTOS = 10  # below this a class is named in the warnings


@dataclass
class DatasetScan:
    """A checked photo folder. `problem` says why it cannot be trained on as it is ("" when
    it can); `left_out` names the class folders without a readable photo (not classes)."""

    root: str
    layout: str  # "folders" (split here) or "split" (train/ and val/ given)
    classes: list[str]
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    skipped: list[SkippedFile] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    #: the median shorter side of the photos, in pixels, from the headers of up to SIZE_SAMPLE of them (None: unknown)
    median_side: int | None = None

    @property
    def name(self) -> str:
        return Path(self.root).name

    @property
    def num_train(self) -> int:
        return len(self.train)

    @property
    def num_val(self) -> int:
        return len(self.val)

    def class_counts(self) -> dict[str, int]:
        counts = Counter(label for _, label in self.train + self.val)
        return {c: counts.get(i, 0) for i, c in enumerate(self.classes)}

    def summary(self) -> str:
        """One line: "4 classes · 128 training · 32 validation · 1 skipped"."""
        skipped = f" · {len(self.skipped):,} skipped" if self.skipped else ""
        return f"{len(self.classes)} classes · {self.num_train:,} training · {self.num_val:,} validation{skipped}"

    @property
    def problem(self) -> str:
        """Why this folder cannot be trained on ("" when it can), one line. Every class needs a
        training photo and the validation side at least one photo; when the split is made
        here, that is at least 2 photos per class (one to train on, one to validate)."""
        totals = self.class_counts()
        if self.layout == "folders":
            few = [c for c in self.classes if totals[c] < MIN_PHOTOS_PER_CLASS]
            if few:
                have = "has only 1 photo" if len(few) == 1 else "have only 1 photo each"
                return (f"{_names(few)} {have}: every class needs at least {MIN_PHOTOS_PER_CLASS} photos "
                        "(one to train on, one to validate)")
            return ""
        trained = Counter(label for _, label in self.train)
        missing = [c for i, c in enumerate(self.classes) if not trained.get(i)]
        if missing:
            return f"{_names(missing)} {'has' if len(missing) == 1 else 'have'} no readable photo in the training folder"
        if not self.val:
            return "no readable photo in the validation folder: it needs at least one"
        return ""

    def warnings(self) -> list[str]:
        """What may go wrong, a line each: class folders left out, tiny classes, imbalance."""
        found = []
        if self.left_out:
            verb = "has no readable photos and is" if len(self.left_out) == 1 else "have no readable photos and are"
            found.append(f"{_names(self.left_out)} {verb} left out.")
        return found + [line for line in (self._few_warning(), self._imbalance_warning()) if line]

    def balance_warning(self) -> str:
        """One line about tiny classes (every one named) and class imbalance, or "" when the
        classes look fine."""
        return " ".join(line for line in (self._few_warning(), self._imbalance_warning()) if line)

    def _few_warning(self) -> str:
        """The classes with few photos (those `problem` names already left aside)."""
        totals = self.class_counts()
        floor = MIN_PHOTOS_PER_CLASS if self.layout == "folders" else 1
        few = [c for c in self.classes if floor <= totals[c] < _FEW_PHOTOS]
        if not few:
            return ""
        listed = ", ".join(f"{c!r} ({_photos(totals[c])})" for c in few[:_LISTED])
        more = f" and {len(few) - _LISTED} more" if len(few) > _LISTED else ""
        return f"Few photos in {listed}{more}: expect rough results."

    def _imbalance_warning(self) -> str:
        totals = self.class_counts()
        if not totals:
            return ""
        small = min(totals, key=totals.get)
        big = max(totals, key=totals.get)
        if totals[small] and totals[big] / totals[small] >= 3:
            return f"Unbalanced classes: {small!r} has {_photos(totals[small])}, {big!r} has {_photos(totals[big])}."
        return ""

    def examples(self, per_class: int = 4) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {c: [] for c in self.classes}
        for path, label in self.train + self.val:
            bucket = out[self.classes[label]]
            if len(bucket) < per_class:
                bucket.append(path)
        return out


_LISTED = 5  # classes named in one line, then "and N more"


def _names(classes: Sequence[str]) -> str:
    """"'a'", "'a' and 'b'", "'a', 'b' and 'c'", "'a', ... 'e' and 3 more"."""
    quoted = [repr(c) for c in classes[:_LISTED]]
    if len(classes) > _LISTED:
        return f"{', '.join(quoted)} and {len(classes) - _LISTED} more"
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _photos(n: int) -> str:
    return f"{n:,} photo{'' if n == 1 else 's'}"


def class_dirs(folder: Path) -> list[Path]:
    """The visible subfolders of `folder`, by name."""
    return sorted((d for d in folder.iterdir() if d.is_dir() and not _hidden(d)), key=lambda d: d.name)


def find_split_dirs(root: Path) -> tuple[Path, Path] | None:
    """(train/, val/) when `root` holds a split made by hand (val/, valid/ or validation/), else None."""
    subdirs = {d.name.lower(): d for d in class_dirs(root)}
    if "train" not in subdirs:
        return None
    for name in VAL_FOLDER_NAMES:
        if name in subdirs:
            return subdirs["train"], subdirs[name]
    return None


def _collect(folder: Path, classes: list[str], skipped: list[SkippedFile]) -> list[tuple[str, int]]:
    """(path, label) for the image files of each class folder; other files are listed as skipped."""
    items = []
    for label, cls in enumerate(classes):
        cdir = folder / cls
        if not cdir.is_dir():
            continue
        for p in _walk_files(cdir):
            suffix = p.suffix.lower()
            if suffix in IMAGE_EXTENSIONS:
                items.append((str(p), label))
            elif p.name.lower() not in _JUNK_FILES:
                kind = _UNSUPPORTED_HINTS.get(suffix)
                if kind:
                    reason = f"{kind} images are not supported: convert to JPEG or PNG"
                else:
                    reason = f"not an image file type ({suffix or 'no extension'})"
                skipped.append(SkippedFile(str(p), reason))
    return items


def _val_count(n: int, val_split: float) -> int:
    """How many of a class's `n` photos go to validation: at least one when it has 2, never all."""
    return 0 if n < 2 else min(n - 1, max(1, round(n * val_split)))


def _stratified_split(items: list[tuple[str, int]], num_classes: int, val_split: float, seed: int,
                      groups: Sequence[Sequence[str]] | None = None):
    if groups:
        return _grouped_split(items, num_classes, val_split, seed, groups)
    rng = random.Random(seed)
    train, val = [], []
    for label in range(num_classes):
        group = [it for it in items if it[1] == label]
        rng.shuffle(group)
        n_val = _val_count(len(group), val_split)
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    return sorted(train), sorted(val)


def merge_groups(groups: Iterable[Iterable[str]]) -> list[list[str]]:
    """Groups of paths, those sharing a path merged into one (union-find): each sorted, sorted by
    their first path. A group of one path stays a group of one."""
    parent: dict[str, str] = {}

    def root(path: str) -> str:
        parent.setdefault(path, path)
        while parent[path] != path:
            parent[path] = parent[parent[path]]
            path = parent[path]
        return path

    for group in groups:
        members = list(group)
        for other in members:
            parent[root(other)] = root(members[0])
    merged: dict[str, list[str]] = {}
    for path in parent:
        merged.setdefault(root(path), []).append(path)
    return sorted(sorted(g) for g in merged.values())


def _grouped_split(items: list[tuple[str, int]], num_classes: int, val_split: float, seed: int,
                   groups: Sequence[Sequence[str]]):
    """The seeded, stratified split with each group's files on one side (the doctor's duplicate
    groups: a photo and its copy on both sides would inflate validation accuracy).

    Each class is shuffled as the plain split shuffles it; groups sharing a file are merged, files
    in no group are units of one. A unit belongs to the class most of its files have (the smallest
    label on a tie) and takes its place in that shuffle from its first file there. Units go to
    validation in that order while the class's count stays within _val_count (a class whose units
    are all bigger still gives its smallest, unless that is its only one). With units of one file
    this is the plain split, so a few groups move few files."""
    rng = random.Random(seed)
    label_of: dict[str, int] = {}
    rank: dict[str, int] = {}
    for label in range(num_classes):
        shuffled = [it for it in items if it[1] == label]
        rng.shuffle(shuffled)
        rank.update((path, i) for i, (path, _) in enumerate(shuffled))
        label_of.update(shuffled)
    grouped = merge_groups([p for p in group if p in label_of] for group in groups)
    in_group = {p for group in grouped for p in group}
    by_class: list[list[list[str]]] = [[] for _ in range(num_classes)]
    for unit in grouped + [[p] for p in label_of if p not in in_group]:
        votes = Counter(label_of[p] for p in unit)
        by_class[min(votes, key=lambda label: (-votes[label], label))].append(unit)
    train, val = [], []
    for label, class_units in enumerate(by_class):
        class_units.sort(key=lambda unit: min(rank[p] for p in unit if label_of[p] == label))
        target = _val_count(sum(len(u) for u in class_units), val_split)
        chosen, count = [], 0
        for unit in class_units:
            if count + len(unit) <= target:
                chosen.append(unit)
                count += len(unit)
        if target and not chosen and len(class_units) > 1:
            chosen.append(min(class_units, key=len))
        for unit in class_units:
            (val if any(unit is c for c in chosen) else train).extend((p, label_of[p]) for p in unit)
    return sorted(train), sorted(val)


def _walk_order(path: str, folder: str | os.PathLike) -> tuple:
    """Where _walk_files lists `path` below `folder`: a folder's files by name, then its subfolders' by name."""
    *dirs, name = Path(os.path.relpath(path, folder)).parts
    return (*((1, d) for d in dirs), (0, name))


def regroup_split(scan: DatasetScan, groups: Sequence[Sequence[str]], val_split: float, seed: int) -> DatasetScan:
    """`scan` split again with each group's files on one side: what scan_dataset(..., groups=groups)
    gives, without reading the folder again. A split given as train/ and val/ folders is kept as it is."""
    if scan.layout != "folders" or not groups:
        return scan
    items = sorted(scan.train + scan.val, key=lambda it: (it[1], _walk_order(it[0], Path(scan.root) / scan.classes[it[1]])))
    train, val = _grouped_split(items, len(scan.classes), val_split, seed, groups)
    return replace(scan, train=train, val=val)


def scan_dataset(
    root: str | os.PathLike,
    val_split: float = 0.2,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    strict: bool = True,
    groups: Sequence[Sequence[str]] | None = None,
) -> DatasetScan:
    """Find, check and split a photo folder. Raises DataError with a one-line reason.

    A class folder without a readable photo is left out (`left_out`, and listed in `skipped`
    with the reason), as long as 2 classes remain. With `strict` (what training uses), a
    folder that cannot be trained on raises DataError with its `problem`; without it, the
    scan is returned and `problem` says why (the window lists the classes and the reason).
    With `groups` (lists of paths, the doctor's DoctorReport.groups), the split made here keeps
    each group's files on one side; without them it is the plain seeded, stratified split.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    if not 0 < val_split < 1:
        raise DataError(f"the validation split must be between 0 and 1 (got {val_split})")
    skipped: list[SkippedFile] = []
    split_dirs = find_split_dirs(root)
    if split_dirs:
        train_dir, val_dir = split_dirs
        classes = sorted({d.name for d in class_dirs(train_dir)} | {d.name for d in class_dirs(val_dir)})
        train_items = _collect(train_dir, classes, skipped)
        val_items = _collect(val_dir, classes, skipped)
        layout = "split"
        folders = [train_dir / c if (train_dir / c).is_dir() else val_dir / c for c in classes]
    else:
        classes = [d.name for d in class_dirs(root)]
        train_items = _collect(root, classes, skipped)
        val_items = []
        layout = "folders"
        folders = [root / c for c in classes]
    if not classes:
        loose = [p for p in root.iterdir() if is_image_file(p)]
        hint = " (the images must be in one subfolder per class)" if loose else ""
        raise DataError(f"no class subfolders with images in {root}{hint}")
    if not train_items and not val_items:
        raise DataError(f"no images found in {root} (looked for {', '.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))})")

    bad = _check_all([p for p, _ in train_items + val_items], progress, workers)
    skipped.extend(SkippedFile(p, reason) for p, reason in bad.items())
    train_items = [it for it in train_items if it[0] not in bad]
    val_items = [it for it in val_items if it[0] not in bad]

    counts = Counter(label for _, label in train_items + val_items)
    kept = [i for i in range(len(classes)) if counts.get(i, 0)]
    left_out = [classes[i] for i in range(len(classes)) if not counts.get(i, 0)]
    if not kept:
        raise DataError(f"no readable images in {root}")
    if len(kept) < 2:
        empty = f"; {_names(left_out)} {'has' if len(left_out) == 1 else 'have'} none" if left_out else ""
        raise DataError(
            f"only one class ({classes[kept[0]]!r}) with photos in {root}{empty}: at least 2 class subfolders are needed"
        )
    if left_out:  # the classes with photos, numbered afresh; the empty folders said once, as skipped
        new_label = {old: new for new, old in enumerate(kept)}
        train_items = [(p, new_label[label]) for p, label in train_items]
        val_items = [(p, new_label[label]) for p, label in val_items]
        skipped.extend(
            SkippedFile(str(folders[i]), "no readable photos in this class folder: the class is left out")
            for i in range(len(classes)) if not counts.get(i, 0)
        )
        classes = [classes[i] for i in kept]
    if layout == "split":
        train, val = sorted(train_items), sorted(val_items)
    else:
        train, val = _stratified_split(train_items, len(classes), val_split, seed, groups)
    skipped.sort(key=lambda s: s.path)
    scan = DatasetScan(str(root), layout, classes, train, val, skipped, left_out, median_side([p for p, _ in train + val]))
    if strict and scan.problem:
        raise DataError(scan.problem)
    return scan


SIZE_SAMPLE = 256


def median_side(paths: Sequence[str], sample: int = SIZE_SAMPLE) -> int | None:
    """The median shorter side of the images, in pixels, read from the headers (no decoding)
    of at most `sample` of them, evenly spread; None when none can be read."""
    if not paths:
        return None
    step = max(1, len(paths) // sample)
    sides = []
    for path in list(paths)[::step][:sample]:
        try:
            with Image.open(path) as im:
                sides.append(min(im.size))
        except Exception:  # the scan has checked them; a file changed since is just not counted
            continue
    if not sides:
        return None
    sides.sort()
    return int(sides[len(sides) // 2])


def _check_all(paths: Sequence[str], progress, workers) -> dict[str, str]:
    """Check every file in parallel (decoders release the GIL); returns path -> reason."""
    total = len(paths)
    bad: dict[str, str] = {}
    workers = workers or min(16, (os.cpu_count() or 1) * 2)
    if progress:
        progress(0, total)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (path, reason) in enumerate(zip(paths, pool.map(check_image, paths)), 1):
            if reason:
                bad[path] = reason
            if progress and (done % 64 == 0 or done == total):
                progress(done, total)
    return bad


# ---------------------------------------------------------------- tensors


def resize_size_for(image_size: int) -> int:
    """Validation resize before the centre crop (the usual 224 -> 256 ratio)."""
    return int(round(image_size / 0.875))


def _normalize():
    import torch
    from torchvision.transforms import v2

    from .models import IMAGENET_MEAN, IMAGENET_STD

    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]


def eval_transform(image_size: int):
    from torchvision.transforms import v2

    return v2.Compose(
        [v2.Resize(resize_size_for(image_size), antialias=True), v2.CenterCrop(image_size)] + _normalize()
    )
