import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resnet_studio.engine import data
from resnet_studio.engine.errors import DataError, ImageError

from ..conftest import jpeg_bytes, make_class_folder, write_image

# ---------------------------------------------------------------- layouts and split


def test_class_folders_are_split_seeded_and_stratified(tmp_path):
    root = make_class_folder(tmp_path / "d", {"cat": 10, "dog": 5, "owl": 2})
    (tmp_path / "d" / ".hidden").mkdir()
    write_image(tmp_path / "d" / ".hidden" / "x.png")
    write_image(tmp_path / "d" / "cat" / ".secret.png")
    scan = data.scan_dataset(root, val_split=0.2, seed=3)
    assert scan.layout == "folders" and scan.classes == ["cat", "dog", "owl"]
    assert scan.num_train + scan.num_val == 17  # hidden files and folders ignored
    val_counts = Counter(label for _, label in scan.val)
    assert val_counts == {0: 2, 1: 1, 2: 1}  # every class with 2+ images gets a val image
    assert not set(scan.train) & set(scan.val)
    assert scan.class_counts() == {"cat": 10, "dog": 5, "owl": 2}
    again = data.scan_dataset(root, val_split=0.2, seed=3)
    other = data.scan_dataset(root, val_split=0.2, seed=4)
    assert again.val == scan.val and other.val != scan.val
    assert all(len(v) <= 4 for v in scan.examples(4).values())


@pytest.mark.parametrize("val_name", ["val", "valid", "Validation"])
def test_train_val_layout_is_used_as_given(tmp_path, val_name):
    make_class_folder(tmp_path / "d" / "train", {"a": 3, "b": 4})
    make_class_folder(tmp_path / "d" / val_name, {"a": 1, "b": 2}, seed=1)
    scan = data.scan_dataset(tmp_path / "d")
    assert scan.layout == "split" and scan.classes == ["a", "b"]
    assert (scan.num_train, scan.num_val) == (7, 3)
    assert all(val_name in p for p, _ in scan.val)


def test_extensions_in_any_case_and_nested_folders(tmp_path):
    for i, ext in enumerate(["JPG", "jpeg", "Png", "bmp", "gif", "webp", "tif", "TIFF"]):
        formats = {"JPG": "JPEG", "jpeg": "JPEG", "TIFF": "TIFF", "tif": "TIFF", "Png": "PNG"}
        write_image(tmp_path / "d" / "x" / f"{i}.{ext}", fmt=formats.get(ext))
    write_image(tmp_path / "d" / "y" / "sub" / "deep.png")
    write_image(tmp_path / "d" / "y" / "z.png")
    scan = data.scan_dataset(tmp_path / "d")
    assert scan.class_counts() == {"x": 8, "y": 2}
    assert scan.skipped == []


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda r: None, "data folder not found"),
        (lambda r: r.mkdir(), "no class subfolders"),
        (lambda r: (r / "a").mkdir(parents=True) or (r / "b").mkdir(), "no images found"),
        (lambda r: make_class_folder(r, {"only": 3}), "only one class"),
        (lambda r: make_class_folder(r, {"a": 3}) and (r / "b").mkdir(), r"only one class \('a'\) with photos .*'b' has none"),
        (
            lambda r: make_class_folder(r, {"a": 3}) and (r / "b").mkdir() or (r / "b" / "x.jpg").write_bytes(b""),
            "only one class",
        ),
        (lambda r: make_class_folder(r, {"a": 1, "b": 1}), "'a' and 'b' have only 1 photo each: every class needs at least 2"),
        (lambda r: make_class_folder(r, {"a": 5, "b": 1}), "'b' has only 1 photo: every class needs at least 2 photos"),
        (
            lambda r: make_class_folder(r / "train", {"a": 3, "b": 2}) and (r / "val").mkdir(),
            "no readable photo in the validation",
        ),
        (
            lambda r: make_class_folder(r / "train", {"a": 3}) and make_class_folder(r / "val", {"a": 1, "b": 1}),
            "'b' has no readable photo in the training folder",
        ),
        (lambda r: write_image(r / "loose.png"), "one subfolder per class"),
    ],
)
def test_unusable_folders_give_one_line_errors(tmp_path, setup, message):
    root = tmp_path / "d"
    setup(root)
    with pytest.raises(DataError, match=message) as info:
        data.scan_dataset(root)
    assert "\n" not in str(info.value)


def test_one_photo_per_class_is_listed_with_the_reason_when_not_strict(tmp_path):
    root = make_class_folder(tmp_path / "d", {"a": 1, "b": 1, "c": 4})
    scan = data.scan_dataset(root, strict=False)
    assert scan.classes == ["a", "b", "c"] and scan.class_counts() == {"a": 1, "b": 1, "c": 4}
    assert scan.problem == (
        "'a' and 'b' have only 1 photo each: every class needs at least 2 photos (one to train on, one to validate)"
    )
    assert not any("'a'" in w or "'b'" in w for w in scan.warnings() if "Few photos" in w)  # said once, as the problem
    assert data.scan_dataset(make_class_folder(tmp_path / "ok", {"a": 2, "b": 2})).problem == ""


def test_an_empty_class_folder_is_left_out_and_reported(tmp_path):
    root = make_class_folder(tmp_path / "d", {"dogs": 12, "owls": 12})
    (root / "cats").mkdir()
    (root / "mice").mkdir()
    (root / "mice" / "broken.jpg").write_bytes(b"not a jpeg")
    scan = data.scan_dataset(root)
    assert scan.classes == ["dogs", "owls"] and scan.left_out == ["cats", "mice"]
    assert {label for _, label in scan.train + scan.val} == {0, 1}  # numbered over the classes kept
    assert scan.class_counts() == {"dogs": 12, "owls": 12}
    assert scan.warnings() == ["'cats' and 'mice' have no readable photos and are left out."]
    reasons = {Path(s.path).name: s.reason for s in scan.skipped}
    assert "the class is left out" in reasons["cats"] and "the class is left out" in reasons["mice"]
    assert "not an image" in reasons["broken.jpg"]
    assert scan.problem == ""

    (root / "mice" / "broken.jpg").unlink()
    make_class_folder(root, {"mice": 12})
    again = data.scan_dataset(root)
    assert again.warnings() == ["'cats' has no readable photos and is left out."]


def test_the_warnings_name_every_small_class_in_the_right_number():
    scan = data.DatasetScan(
        "/d", "split", ["a", "b", "c", "d"],
        [("/d/train/a/1.png", 0), ("/d/train/b/1.png", 1), ("/d/train/b/2.png", 1)]
        + [(f"/d/train/c/{i}.png", 2) for i in range(3)] + [(f"/d/train/d/{i}.png", 3) for i in range(30)],
        [("/d/val/d/1.png", 3)],
    )
    assert scan.problem == ""
    few, unbalanced = scan.warnings()
    assert few == "Few photos in 'a' (1 photo), 'b' (2 photos), 'c' (3 photos): expect rough results."
    assert unbalanced == "Unbalanced classes: 'a' has 1 photo, 'd' has 31 photos."
    assert scan.balance_warning() == f"{few} {unbalanced}"
    many = data.DatasetScan("/d", "split", list("abcdefg"), [(f"/d/{c}.png", i) for i, c in enumerate("abcdefg")], [("/x", 6)])
    assert many.warnings()[0].startswith("Few photos in 'a' (1 photo), 'b' (1 photo), 'c'")
    assert "and 2 more" in many.warnings()[0]


# ---------------------------------------------------------------- bad files


def _bad_files(folder):
    folder.mkdir(parents=True)
    (folder / "empty.jpg").write_bytes(b"")
    full = jpeg_bytes((64, 64))
    (folder / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (folder / "text.png").write_text("hello, I am not a picture")
    (folder / "notes.txt").write_text("not an image type")
    (folder / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, "PNG")  # 144 Mpx: over Pillow's limit, tiny file
    (folder / "bomb.png").write_bytes(bomb.getvalue())
    png = io.BytesIO()
    Image.new("RGB", (40, 40), "red").save(png, "PNG")
    (folder / "cut.png").write_bytes(png.getvalue()[:-30])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_every_kind_of_bad_file_is_skipped_with_a_reason(tmp_path):
    make_class_folder(tmp_path / "d", {"good": 3, "mixed": 2})
    _bad_files(tmp_path / "d" / "mixed" / "bad")
    scan = data.scan_dataset(tmp_path / "d")
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in ((s.path, s.reason) for s in scan.skipped)}
    assert reasons["empty.jpg"].startswith("empty file")
    assert "truncated" in reasons["truncated.jpg"]
    assert "not an image" in reasons["text.png"]
    assert "not an image file type (.txt)" == reasons["notes.txt"]
    assert "HEIC" in reasons["photo.heic"]
    assert "decompression bomb" in reasons["bomb.png"]
    assert "cut.png" in reasons
    assert scan.class_counts() == {"good": 3, "mixed": 2}
    kept = {p for p, _ in scan.train + scan.val}
    assert not any("/bad/" in p for p in kept)


def test_large_truncated_jpeg_is_caught_by_the_quick_check(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_FULL_CHECK_BYTES", 50_000)
    rng = np.random.default_rng(0)
    big = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 200, 3), dtype=np.uint8)).save(big, "JPEG", quality=95)
    assert len(big.getvalue()) > data._FULL_CHECK_BYTES
    (tmp_path / "cut.jpg").write_bytes(big.getvalue()[: len(big.getvalue()) * 2 // 3])
    (tmp_path / "whole.jpg").write_bytes(big.getvalue())
    assert "truncated" in data.check_image(tmp_path / "cut.jpg")
    assert data.check_image(tmp_path / "whole.jpg") is None


def test_load_image_errors_are_the_projects_own(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8\xff garbage")
    for source in (tmp_path / "x.jpg", tmp_path / "missing.jpg", b"", tmp_path):
        with pytest.raises(ImageError):
            data.load_image(source)


# ---------------------------------------------------------------- RGB the right way


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (40, 20), "blue")
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert data.load_image(buf.getvalue()).size == (20, 40)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: Image.new("L", (8, 8), 128), (128, 128, 128)),
        (lambda: Image.new("RGBA", (8, 8), (255, 0, 0, 0)), (255, 255, 255)),  # transparent -> white, not black
        (lambda: Image.new("RGBA", (8, 8), (0, 0, 255, 255)), (0, 0, 255)),
        (lambda: Image.new("LA", (8, 8), (0, 0)), (255, 255, 255)),
        (lambda: Image.new("I;16", (8, 8), 65535), (255, 255, 255)),
        (lambda: Image.new("I;16", (8, 8), 32896), (128, 128, 128)),
        (lambda: Image.new("CMYK", (8, 8), (0, 255, 255, 0)), (255, 0, 0)),
        (lambda: Image.new("RGB", (8, 8), (0, 200, 0)).convert("P", palette=Image.Palette.ADAPTIVE), (0, 200, 0)),
    ],
)
def test_every_mode_becomes_rgb(tmp_path, make, expected):
    im = make()
    fmt = "TIFF" if im.mode in ("CMYK", "I;16") else "PNG"
    path = tmp_path / f"x.{fmt.lower()}"
    im.save(path, fmt)
    out = data.load_image(path)
    assert out.mode == "RGB"
    assert all(abs(a - b) <= 2 for a, b in zip(out.getpixel((3, 3)), expected))


def test_palette_transparency_and_first_frame_of_animations(tmp_path):
    frames = [Image.new("P", (10, 10), i) for i in range(3)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], transparency=0, duration=50)
    out = data.load_image(tmp_path / "anim.gif")
    assert out.getpixel((0, 0)) == (255, 255, 255)  # frame 0 is colour 0, transparent -> white
    webp = tmp_path / "anim.webp"
    Image.new("RGB", (10, 10), "red").save(webp, save_all=True, append_images=[Image.new("RGB", (10, 10), "blue")])
    r, g, b = data.load_image(webp).getpixel((5, 5))
    assert r > 200 and b < 60


def test_jpeg_draft_decoding_keeps_enough_pixels():
    big = jpeg_bytes((2000, 1500))
    out = data.load_image(big, min_size=150)
    assert 150 <= min(out.size) < 1500
    assert data.load_image(big).size == (2000, 1500)


def test_eval_transform_gives_normalized_tensors_of_the_image_size():
    im = Image.new("RGB", (50, 37), (255, 128, 0))
    x = data.eval_transform(32)(im)
    assert tuple(x.shape) == (3, 32, 32)
    assert x[0].mean() == pytest.approx((1 - 0.485) / 0.229, abs=0.02)
