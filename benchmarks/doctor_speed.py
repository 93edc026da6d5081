"""How fast the dataset doctor's pre-training checks run (issue 15's target: 10,000 images in
under a minute on 2 CPU cores), and whether it finds the copies planted among them.

    python benchmarks/doctor_speed.py                      # 10,000 images in a temporary folder
    python benchmarks/doctor_speed.py --keep /tmp/doctor   # made once, reused by later runs
    python benchmarks/doctor_speed.py --count 2000

The images are photo-like JPEGs (smooth random colour fields with shapes and grain, 160-640 px on a side,
quality 85) in 10 classes; 1 % are byte-for-byte copies filed in another class, 1 % are copies
resized to 60 % and saved again at quality 70, also in another class. The timing is what `resnet-studio doctor` does: the
scan the trainer makes (every file checked), then check_dataset's own decoding, hashing and grouping.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = 10
TARGET_SECONDS = 60.0
DONE = ".complete"  # written last: a folder without it is made again


def _photo(rng: np.random.Generator, grain: np.ndarray) -> Image.Image:
    """A smooth random colour field with a few shapes on it, and grain."""
    width, height = (int(v) for v in rng.integers(160, 641, 2))
    coarse = rng.integers(0, 256, (int(rng.integers(4, 11)), int(rng.integers(4, 11)), 3), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1 + 8, y1 + 8), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    y, x = (int(v) for v in rng.integers(0, 64, 2))
    pixels = np.asarray(image, dtype=np.int16) + grain[y:y + height, x:x + width]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_folder(root: Path, count: int, seed: int = 0) -> dict[str, int]:
    """`count` images in root/<class>/, with the planted copies counted in the result."""
    if (root / DONE).exists() and len(list(root.rglob("*.jpg"))) == count:
        return json.loads((root / DONE).read_text())
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 6, (640 + 64, 640 + 64, 1)).astype(np.int16)
    exact = near = 0
    made = 0
    while made < count:
        cls = made % CLASSES
        path = root / f"class_{cls}" / f"{made:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        roll = rng.random()
        previous = root / f"class_{(made - 1) % CLASSES}" / f"{made - 1:05d}.jpg"
        if made and roll < 0.01:
            shutil.copyfile(previous, path)  # a copy in the next class: an exact duplicate across classes
            exact += 1
        elif made and roll < 0.02:
            with Image.open(previous) as im:
                small = im.resize((max(1, im.width * 3 // 5), max(1, im.height * 3 // 5)), Image.Resampling.LANCZOS)
            small.save(path, quality=70)
            near += 1
        else:
            _photo(rng, grain).save(path, quality=85)
        made += 1
    planted = {"exact": exact, "near": near}
    (root / DONE).write_text(json.dumps(planted))
    return planted


def main() -> int:
    from resnet_studio.engine.data import scan_dataset
    from resnet_studio.engine.doctor import check_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="images (default: 10,000)")
    parser.add_argument("--keep", metavar="DIR", default=None, help="make the images here once and reuse them")
    parser.add_argument("--workers", type=int, default=None, help="decoding threads (default: the doctor's)")
    args = parser.parse_args()

    temp = None if args.keep else tempfile.TemporaryDirectory(prefix="doctor-speed-")
    root = Path(args.keep or temp.name) / "photos"
    reused = (root / DONE).exists()
    started = time.perf_counter()
    planted = make_folder(root, args.count)
    made = time.perf_counter() - started
    print(f"{args.count:,} images in {root} ({'reused' if reused else f'made in {made:.0f} s'})")

    started = time.perf_counter()
    scan = scan_dataset(root, workers=args.workers)
    scanned = time.perf_counter() - started
    report = check_dataset(scan, workers=args.workers)
    seconds = time.perf_counter() - started
    counts = {kind: len(found) for kind, found in report.by_kind().items()}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    met = seconds * 10_000 / args.count < TARGET_SECONDS
    print(f"checked {report.num_images:,} images in {seconds:.1f} s: {report.num_images / seconds:,.0f} images/s; "
          f"target under {TARGET_SECONDS:.0f} s for 10,000: {'met' if met else 'MISSED'} "
          f"(the scan {scanned:.1f} s, the doctor's decoding, hashing and grouping {seconds - scanned:.1f} s)")
    print("findings: " + ", ".join(f"{kind} {n}" for kind, n in counts.items()))
    print(f"planted: {planted['exact']} exact copies in another class, {planted['near']} resized and recompressed copies")
    if temp:
        temp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
