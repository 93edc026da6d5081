"""Make a folder of photo-sized JPEGs (with a few broken files) from the demo textures.

    python benchmarks/photo_folder.py OUT_DIR [--per-class 60] [--size 1600x1200] [--held-out 10]

Each image is a demo texture drawn at full size with phone-like traits: JPEG quality
85-95, some with an EXIF rotation, a few PNGs with transparency and a CMYK JPEG. Broken
files are added to each class (empty, truncated, not an image), and
`OUT_DIR-held-out/` gets images the run never sees, for checking predictions against the validation accuracy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from resnet_studio.engine.demo import DEMO_CLASSES, draw_demo_image


def _photo(kind: str, width: int, height: int, rng) -> Image.Image:
    side = max(width, height)
    return draw_demo_image(kind, side, rng).crop((0, 0, width, height))


def make_photo_folder(out: Path, per_class: int, width: int, height: int, held_out: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for kind in DEMO_CLASSES:
        folder = out / "train" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class + held_out):
            im = _photo(kind, width, height, rng)
            target = folder if i < per_class else out.with_name(out.name + "-held-out") / kind
            target.mkdir(parents=True, exist_ok=True)
            if i % 17 == 5:
                exif = im.getexif()
                exif[0x0112] = 6  # shown rotated, as phones store portrait shots
                im.save(target / f"IMG_{i:04d}.JPG", quality=90, exif=exif.tobytes())
            elif i % 23 == 7:
                im.convert("CMYK").save(target / f"scan_{i:04d}.jpg", quality=90)
            elif i % 29 == 11:
                rgba = im.resize((width // 4, height // 4)).convert("RGBA")
                rgba.putalpha(200)
                rgba.save(target / f"shot_{i:04d}.png")
            else:
                im.save(target / f"IMG_{i:04d}.jpg", quality=int(rng.integers(85, 96)))
        good = (folder / "IMG_0000.jpg").read_bytes()
        (folder / "zero.jpg").write_bytes(b"")
        (folder / "cut.jpg").write_bytes(good[: len(good) // 3])
        (folder / "notes.jpg").write_text("this is a text file with a .jpg name")
    # the run's own layout: class folders, split here
    for kind in DEMO_CLASSES:
        (out / "train" / kind).rename(out / kind)
    (out / "train").rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--size", default="1600x1200")
    parser.add_argument("--held-out", type=int, default=10)
    args = parser.parse_args()
    w, h = map(int, args.size.lower().split("x"))
    make_photo_folder(args.out, args.per_class, w, h, args.held_out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
