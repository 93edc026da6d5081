"""The dataset doctor's checks before training: what in a photo folder will mislead a model.

Exact duplicates (the same pixels, whatever the file's name or format), near duplicates
(a perceptual hash: resized or recompressed copies), the same photo in two classes, the same
or a near-same photo on both sides of the train/validation split, photos much smaller than
the training size, extreme aspect ratios, class imbalance, and the files the scan skipped.

Each image is decoded once, at reduced size (JPEGs through Image.draft, in load_image), in a
thread pool: Pillow releases the GIL while it decodes and hashlib while it hashes.
The report is plain data; its `groups` are what the split keeps together
(data.scan_dataset(..., groups=...) or data.regroup_split).
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .config import SETTINGS
from .data import DatasetScan, load_image, merge_groups, scan_dataset
from .errors import ImageError

__all__ = [
    "KINDS",
    "NEAR_DISTANCE",
    "Finding",
    "DoctorReport",
    "check_dataset",
    "perceptual_hash",
    "hash_distance",
]

#: the kinds of finding, in the order a report lists them, with their titles
KINDS = {
    "exact_duplicate": "exact duplicates",
    "near_duplicate": "near duplicates",
    "cross_class": "the same photo in two classes",
    "split_leak": "the same photo on both sides of the split",
    "small": "much smaller than the training size",
    "aspect": "extreme aspect ratios",
    "imbalance": "class imbalance",
    "skipped": "skipped files",
}

#: the largest perceptual-hash distance (of 64 bits; always even, as half the bits are set) at which
#: two photos are near duplicates. Measured on 10,000 generated photo-like JPEGs
#: (benchmarks/doctor_speed.py): copies resized to 60 % and saved again at quality 70 differ by
#: 0-8 bits (6 or less for all but 1 of 210 pairs); different pictures by 31.5 on average and by
#: 10 at the closest of the ~50 million pairs.
NEAR_DISTANCE = 8
SMALL_FRACTION = 0.5  # a shorter side under half the training size is enlarged over 2x: blurred
MAX_ASPECT = 3.0  # longer side over shorter: the centre crop keeps a third or less
IMBALANCE_RATIO = 3.0  # the largest class over the smallest; the same line as the scan's warning

_HASH_SIDE = 32  # pHash: a 32x32 grey picture, the DCT's 8x8 lowest frequencies (Krawetz, "Looks like it")
_HASH_BITS = 8
# Decoding a JPEG at 1/8 scale costs ~1/10 of a full decode (libjpeg-turbo scales in the DCT);
# 32 px on the shorter side is all the hash needs.
_DECODE_SIDE = _HASH_SIDE
# The low frequencies' strength, in grey levels of a cosine pattern (a coefficient is ~512 x its
# amplitude). Measured: photo-like pictures 3.3 and over (benchmarks/doctor_speed.py), the demo's fine
# checkers, stripes and dots that hashed as near duplicates of each other 0.5-1.0.
_FLAT_LEVELS = 2.0
_COSINE_GAIN = 512.0


@dataclass(frozen=True)
class Finding:
    """One problem: its kind (a key of KINDS), the files involved, a line saying what to do,
    and a short detail ("48x40 px", "distance 3")."""

    kind: str
    files: tuple[str, ...]
    suggestion: str
    detail: str = ""
    classes: tuple[str, ...] = ()


@dataclass
class DoctorReport:
    """What check_dataset found. `groups`: the exact and near duplicate groups (2+ files each),
    which the split keeps on one side."""

    root: str
    layout: str
    classes: list[str]
    num_images: int
    image_size: int
    findings: list[Finding] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    seconds: float = 0.0
    #: why the folder cannot be trained on as it is ("" when it can), from the scan
    problem: str = ""

    def by_kind(self) -> dict[str, list[Finding]]:
        """The findings of each kind that has any, in KINDS' order."""
        out: dict[str, list[Finding]] = {}
        for finding in self.findings:
            out.setdefault(finding.kind, []).append(finding)
        return {kind: out[kind] for kind in KINDS if kind in out}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Look:
    """What the doctor keeps of one decoded image."""

    size: tuple[int, int]  # as stored: the shorter side and the ratio do not change with EXIF rotation
    digest: bytes  # of the decoded RGB pixels
    grey: np.ndarray  # _HASH_SIDE x _HASH_SIDE, uint8


def _look(path: str) -> _Look:
    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        size = im.size
    rgb = load_image(raw, min_size=_DECODE_SIDE)
    # The pixels as decoded: in full for PNG, BMP, WebP, TIFF...; a JPEG at the reduced scale
    # (byte-identical JPEGs match; a JPEG saved again as PNG shows as a near duplicate at distance 0).
    digest = hashlib.blake2b(f"{rgb.width}x{rgb.height}".encode() + rgb.tobytes(), digest_size=16).digest()
    grey = rgb.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _Look(size, digest, np.asarray(grey, dtype=np.uint8))


def _try_look(path: str) -> _Look | str:
    try:
        return _look(path)
    except ImageError as exc:
        return str(exc).split(": ", 1)[-1]
    except OSError as exc:  # the file went away or became unreadable since the scan
        return f"cannot read ({exc.strerror or exc})"


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    return np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)).astype(np.float32)


_DCT = _dct_matrix(_HASH_SIDE)


def perceptual_hash(greys: np.ndarray) -> np.ndarray:
    """pHash of grey 32x32 pictures (N x 32 x 32) as N x 64 booleans: the 8x8 lowest DCT
    frequencies, each above or below their median. The same rule as ImageHash's phash, written
    here because ImageHash requires scipy and PyWavelets (~100 MB installed) for this one
    two-dimensional DCT, which is two matrix products."""
    return _bits(_low_frequencies(greys))


def _low_frequencies(greys: np.ndarray) -> np.ndarray:
    """The 8x8 lowest frequencies of the two-dimensional DCT-II, N x 64 (DC first)."""
    pixels = np.asarray(greys, dtype=np.float32)
    return (_DCT[:_HASH_BITS] @ pixels @ _DCT[:_HASH_BITS].T).reshape(len(pixels), -1)


def _bits(low: np.ndarray) -> np.ndarray:
    return low > np.median(low, axis=1, keepdims=True)


def hash_distance(a: np.ndarray, b: np.ndarray) -> int:
    """The number of bits in which two hashes differ."""
    return int(np.count_nonzero(np.asarray(a) != np.asarray(b)))


def _near_pairs(bits: np.ndarray, max_distance: int, chunk: int = 2048) -> list[tuple[int, int]]:
    """Index pairs (i < j) of hashes at most `max_distance` bits apart. As +-1 vectors the distance
    is (64 - dot) / 2, so all pairs are one matrix product (in row blocks, ~80 MB each):
    10,000 hashes take ~1 s on 2 cores."""
    signs = bits.astype(np.float32) * 2 - 1
    least_dot = bits.shape[1] - 2 * max_distance
    pairs = []
    for start in range(0, len(signs), chunk):
        dots = signs[start:start + chunk] @ signs.T
        rows, cols = np.nonzero(dots >= least_dot - 0.5)
        rows += start
        keep = cols > rows
        pairs.extend(zip(rows[keep].tolist(), cols[keep].tolist()))
    return pairs


def check_dataset(
    source: str | os.PathLike | DatasetScan,
    *,
    image_size: int | None = None,
    val_split: float | None = None,
    seed: int | None = None,
    max_distance: int = NEAR_DISTANCE,
    small_fraction: float = SMALL_FRACTION,
    max_aspect: float = MAX_ASPECT,
    imbalance_ratio: float = IMBALANCE_RATIO,
    progress: Callable[[int, int], None] | None = None,
    control=None,
    workers: int | None = None,
) -> DoctorReport:
    """Check a photo folder (or its DatasetScan) before training.

    A folder is scanned first as the trainer would (`val_split` and `seed`, default the
    training defaults), its progress reported through `progress(done, total)`; then each image
    is decoded and hashed, reported the same way. `control` (a RunControl) is checked between
    images: its stop raises RunCancelled. Images that cannot be read are skipped and listed
    (kind "skipped"). Raises DataError for a folder that cannot be scanned at all.
    """
    started = time.perf_counter()
    image_size = image_size or SETTINGS["image_size"].default
    if isinstance(source, DatasetScan):
        scan = source
    else:
        scan = scan_dataset(
            source,
            SETTINGS["val_split"].default if val_split is None else val_split,
            SETTINGS["seed"].default if seed is None else seed,
            progress=progress,
            workers=workers,
            strict=False,
        )
    items = sorted(scan.train + scan.val)  # by path: the report does not depend on the split
    paths = [p for p, _ in items]
    looks = _look_all(paths, progress, control, workers)
    seen = [i for i, look in enumerate(looks) if isinstance(look, _Look)]
    findings: list[Finding] = []

    by_digest: dict[bytes, list[str]] = {}
    for i in seen:
        by_digest.setdefault(looks[i].digest, []).append(paths[i])
    pairs = []
    if seen:
        low = _low_frequencies(np.stack([looks[i].grey for i in seen]))
        # A picture without shapes at the hash's scale (one colour, or a fine texture such as the demo's
        # checkers) has a hash made of noise: it is grouped only with its exact copies.
        shaped = np.sqrt(np.mean(low[:, 1:] ** 2, axis=1)) / _COSINE_GAIN >= _FLAT_LEVELS
        kept = [i for i, keep in zip(seen, shaped) if keep]
        bits = _bits(low[shaped])
        pairs = [(paths[kept[i]], paths[kept[j]]) for i, j in _near_pairs(bits, max_distance)]
    groups = [g for g in merge_groups([*pairs, *by_digest.values()]) if len(g) > 1]
    label_of = dict(items)
    side = {p: "val" for p, _ in scan.val}
    look_of = dict(zip(paths, looks))
    for group in groups:
        findings.extend(_group_findings(group, {p: look_of[p] for p in group}, label_of, side, scan, max_distance))
    for i in seen:
        findings.extend(_size_findings(paths[i], looks[i].size, image_size, small_fraction, max_aspect))
    findings.extend(_imbalance_findings(scan, imbalance_ratio))
    findings.extend(Finding("skipped", (s.path,), "left out of training: replace, convert or remove it", s.reason)
                    for s in scan.skipped)
    findings.extend(
        Finding("skipped", (paths[i],), "cannot be read now (changed since the scan?): replace or remove it", looks[i])
        for i in range(len(paths)) if not isinstance(looks[i], _Look)
    )
    kind_order = list(KINDS)
    findings.sort(key=lambda f: kind_order.index(f.kind))
    return DoctorReport(
        root=scan.root, layout=scan.layout, classes=list(scan.classes), num_images=len(seen), image_size=image_size,
        findings=findings, groups=groups, seconds=time.perf_counter() - started, problem=scan.problem,
    )


def _look_all(paths: Sequence[str], progress, control, workers) -> list[_Look | str]:
    """Each image decoded and hashed in a thread pool, in order; a failure is its reason."""
    total = len(paths)
    workers = workers or min(16, (os.cpu_count() or 1) * 2)
    if progress:
        progress(0, total)
    looks: list[_Look | str] = []
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for done, look in enumerate(pool.map(_try_look, paths), 1):
            looks.append(look)
            if control is not None:
                control.check()
            if progress and (done % 64 == 0 or done == total):
                progress(done, total)
    finally:  # a stop leaves the images not yet started undecoded
        pool.shutdown(wait=True, cancel_futures=True)
    return looks


def _names(classes: Sequence[str]) -> str:
    quoted = [repr(c) for c in classes]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _group_findings(group, looks, label_of, side, scan: DatasetScan, max_distance: int) -> list[Finding]:
    """A group of copies: its exact duplicates, whether it is more than that (near), whether it
    spans classes, whether it spans the split."""
    found = []
    by_digest: dict[bytes, list[str]] = {}
    for path in group:
        by_digest.setdefault(looks[path].digest, []).append(path)
    for same in by_digest.values():
        if len(same) > 1:
            found.append(Finding("exact_duplicate", tuple(same), "the same pixels: keep one file",
                                 f"{len(same)} files"))
    if len(by_digest) > 1:
        found.append(Finding(
            "near_duplicate", tuple(group), "resized or recompressed copies (or a burst of shots): keep one",
            f"{len(group)} files, hash distance <= {max_distance}",
        ))
    classes = sorted({scan.classes[label_of[p]] for p in group})
    if len(classes) > 1:
        found.append(Finding("cross_class", tuple(group), f"the same photo is filed under {_names(classes)}: "
                             "keep it in its right class only", f"{len(group)} files", tuple(classes)))
    if len({side.get(p, "train") for p in group}) > 1:
        val = sum(side.get(p) == "val" for p in group)
        if scan.layout == "folders":
            advice = "keep them on one side (doctor --fix-split shows how the split would)"
        else:
            advice = "move them all to train/ or all to val/"
        found.append(Finding("split_leak", tuple(group), f"copies in training and validation inflate validation "
                             f"accuracy: {advice}", f"{len(group) - val} training, {val} validation"))
    return found


def _size_findings(path: str, size: tuple[int, int], image_size: int, small_fraction: float,
                   max_aspect: float) -> list[Finding]:
    short, long = min(size), max(size)
    detail = f"{size[0]}x{size[1]} px"
    found = []
    if short < image_size * small_fraction:
        found.append(Finding("small", (path,), f"enlarged {image_size / short:.1f}x to {image_size} px, so blurred: "
                             "use a bigger original, or a smaller --image-size", detail))
    if long >= short * max_aspect:
        found.append(Finding("aspect", (path,), f"{long / short:.1f}:1: the centre crop keeps {short / long:.0%} of it; "
                             "crop it by hand to what matters", detail))
    return found


def _imbalance_findings(scan: DatasetScan, ratio: float) -> list[Finding]:
    counts = {c: n for c, n in scan.class_counts().items() if n}
    if len(counts) < 2:
        return []
    big, small = max(counts, key=counts.get), min(counts, key=counts.get)
    if counts[big] < counts[small] * ratio:
        return []
    worst = Counter(counts).most_common()
    return [Finding(
        "imbalance", (),
        f"{big!r} has {counts[big]:,} photos, {small!r} {counts[small]:,}: the model learns to favour the big "
        "classes; add photos to the small ones (or leave some of the big ones out)",
        f"{counts[big] / counts[small]:.1f}:1", tuple(c for c, _ in worst),
    )]
