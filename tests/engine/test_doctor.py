"""The dataset doctor finds each kind of problem planted in tiny generated images, skips broken
files, and its groups keep copies on one side of the split (which is unchanged without them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resnet_studio.engine import data, doctor
from resnet_studio.engine.errors import RunCancelled

IMAGE_SIZE = 64  # "small" is a shorter side under 32 px


def photo(seed: int, size=(48, 48)) -> Image.Image:
    """A smooth random picture: its low frequencies, and so its perceptual hash, differ from seed to seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)


def make_planted(root: Path) -> dict[str, Path]:
    """cat (12 photos and 5 plants), dog (3 and a copy): imbalanced 17:4. Returns the planted files by name."""
    seed = 0
    for cls, n in (("cat", 12), ("dog", 3)):
        for i in range(n):
            seed += 1
            (root / cls).mkdir(parents=True, exist_ok=True)
            photo(seed).save(root / cls / f"{cls}_{i}.png")
    plants = {
        "exact_a": root / "cat" / "same.png", "exact_b": root / "dog" / "same_again.bmp",  # lossless: the same pixels
        "near_a": root / "cat" / "burst.png", "near_b": root / "cat" / "burst_small.jpg",
        "tiny": root / "cat" / "tiny.png", "wide": root / "cat" / "wide.png", "broken": root / "cat" / "broken.jpg",
    }
    photo(100).save(plants["exact_a"])
    photo(100).save(plants["exact_b"])
    photo(101).save(plants["near_a"])
    photo(101).resize((36, 36), Image.Resampling.LANCZOS).save(plants["near_b"], quality=80)
    photo(102, (16, 16)).save(plants["tiny"])
    photo(103, (320, 32)).save(plants["wide"])
    plants["broken"].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return plants


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("doctor") / "photos"
    return root, make_planted(root)


def files_of(report, kind) -> list[set[str]]:
    return [set(f.files) for f in report.findings if f.kind == kind]


def test_each_planted_problem_is_found_and_nothing_else(planted):
    root, plants = planted
    seen = []
    report = doctor.check_dataset(root, image_size=IMAGE_SIZE, progress=lambda done, total: seen.append((done, total)))
    p = {name: str(path) for name, path in plants.items()}
    assert files_of(report, "exact_duplicate") == [{p["exact_a"], p["exact_b"]}]
    assert files_of(report, "near_duplicate") == [{p["near_a"], p["near_b"]}]
    cross = [f for f in report.findings if f.kind == "cross_class"]
    assert [set(f.files) for f in cross] == [{p["exact_a"], p["exact_b"]}] and cross[0].classes == ("cat", "dog")
    assert files_of(report, "small") == [{p["tiny"]}]
    assert files_of(report, "aspect") == [{p["wide"]}]
    assert "10.0:1" in next(f.suggestion for f in report.findings if f.kind == "aspect")
    imbalance = [f for f in report.findings if f.kind == "imbalance"]
    assert len(imbalance) == 1 and imbalance[0].classes[0] == "cat" and imbalance[0].detail == "4.2:1"
    assert files_of(report, "skipped") == [{p["broken"]}]  # listed, not a crash
    assert set(map(frozenset, report.groups)) == {frozenset((p["exact_a"], p["exact_b"])), frozenset((p["near_a"], p["near_b"]))}
    assert report.num_images == 21 and list(report.by_kind()) == [k for k in doctor.KINDS if k in report.by_kind()]
    assert seen[-1] == (21, 21)  # the scan's progress, then the check's
    assert all(f.suggestion and "\n" not in f.suggestion for f in report.findings)


def test_copies_across_a_given_split_are_found(tmp_path):
    for side, seeds in (("train", (1, 2, 3)), ("val", (4, 5, 1))):
        for s in seeds:
            (tmp_path / side / "a").mkdir(parents=True, exist_ok=True)
            photo(s).save(tmp_path / side / "a" / f"{side}{s}.png")
        photo(s + 10).save(tmp_path / side / "a" / "x.png")
        (tmp_path / side / "b").mkdir(exist_ok=True)
        photo(s + 20).save(tmp_path / side / "b" / "y.png")
    report = doctor.check_dataset(tmp_path, image_size=IMAGE_SIZE)
    leak = [f for f in report.findings if f.kind == "split_leak"]
    copies = {str(tmp_path / "train" / "a" / "train1.png"), str(tmp_path / "val" / "a" / "val1.png")}
    assert [set(f.files) for f in leak] == [copies]
    assert "train/ or all to val/" in leak[0].suggestion


def test_a_near_copy_is_close_and_another_photo_is_far():
    greys = [photo(s).convert("L").resize((32, 32)) for s in (1, 1, 2)]
    greys[1] = photo(1).resize((30, 30)).convert("L").resize((32, 32))
    bits = doctor.perceptual_hash(np.stack([np.asarray(g) for g in greys]))
    assert bits.shape == (3, 64) and bits.sum(axis=1).tolist() == [32, 32, 32]
    assert doctor.hash_distance(bits[0], bits[1]) <= 4 < doctor.NEAR_DISTANCE < doctor.hash_distance(bits[0], bits[2])


def test_flat_pictures_are_grouped_only_with_their_exact_copies(tmp_path):
    for name, colour in (("a/red.png", "red"), ("b/red.bmp", "red"), ("a/blue.png", "blue"), ("b/green.png", "green")):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (48, 48), colour).save(tmp_path / name)
    report = doctor.check_dataset(tmp_path, image_size=IMAGE_SIZE)  # one-colour hashes are all alike: not compared
    assert report.groups == [[str(tmp_path / "a" / "red.png"), str(tmp_path / "b" / "red.bmp")]]
    assert {f.kind for f in report.findings} == {"exact_duplicate", "cross_class"}


def test_a_stop_cancels_the_check(planted):
    class StopAtOnce:
        def check(self):
            raise RunCancelled()

    with pytest.raises(RunCancelled):
        doctor.check_dataset(planted[0], control=StopAtOnce())


# ---------------------------------------------------------------- the split with groups


@pytest.fixture(scope="module")
def pairs_folder(tmp_path_factory):
    """Two classes of 16, each with 4 photos copied once (a copy in a subfolder of its class)."""
    root = tmp_path_factory.mktemp("pairs")
    for c, cls in enumerate(("a", "b")):
        for i in range(12):
            (root / cls / "more").mkdir(parents=True, exist_ok=True)
            photo(100 * c + i).save(root / cls / f"{i}.png")
            if i < 4:
                shutil.copyfile(root / cls / f"{i}.png", root / cls / "more" / f"{i}_copy.png")
    return root


def test_groups_keep_copies_on_one_side_and_without_groups_nothing_changes(pairs_folder):
    plain = data.scan_dataset(pairs_folder, val_split=0.25, seed=1)
    report = doctor.check_dataset(plain, image_size=IMAGE_SIZE)
    assert len(report.groups) == 8 and all(len(g) == 2 for g in report.groups)
    val = {p for p, _ in plain.val}
    leaks = [g for g in report.groups if len(set(g) & val) == 1]
    assert leaks and len(files_of(report, "split_leak")) == len(leaks)

    grouped = data.scan_dataset(pairs_folder, val_split=0.25, seed=1, groups=report.groups)
    val = {p for p, _ in grouped.val}
    assert all(len(set(g) & val) in (0, 2) for g in report.groups)
    assert sorted(grouped.train + grouped.val) == sorted(plain.train + plain.val)
    assert [sum(label == c for _, label in grouped.val) for c in (0, 1)] == [4, 4]  # still stratified: 25 % of 16
    assert data.regroup_split(plain, report.groups, 0.25, 1) == grouped  # the same without reading the folder again
    assert data.scan_dataset(pairs_folder, val_split=0.25, seed=2, groups=report.groups).val != grouped.val  # seeded

    # Without groups (or with groups of one file) the split is the plain one.
    assert data.scan_dataset(pairs_folder, val_split=0.25, seed=1, groups=[]) == plain
    singles = [[p] for p, _ in plain.train[:3]]
    assert data.scan_dataset(pairs_folder, val_split=0.25, seed=1, groups=singles) == plain
    assert doctor.check_dataset(grouped, image_size=IMAGE_SIZE).findings == [f for f in report.findings if f.kind != "split_leak"]


def test_merge_groups_joins_groups_that_share_a_file():
    assert data.merge_groups([["c", "a"], ["b"], ["d", "c"], []]) == [["a", "c", "d"], ["b"]]
