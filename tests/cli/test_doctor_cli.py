"""`resnet-studio doctor`: a table of findings or JSON, exit 0 when the check ran; --fix-split
writes nothing; exit 2 with one line for a folder that cannot be checked."""

from __future__ import annotations

import json

import pytest

from ..engine.test_doctor import make_planted


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("doctor_cli") / "photos"
    make_planted(root)
    return root


def folder_state(root):
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_table_grouped_by_kind(run_cli, planted):
    before = folder_state(planted)
    code, out, err = run_cli(["doctor", planted, "--image-size", "64", "--fix-split"])
    assert code == 0, err
    for title in ("exact duplicates (1)", "near duplicates (1)", "the same photo in two classes (1)",
                  "much smaller than the training size (1)", "extreme aspect ratios (1)", "class imbalance (1)",
                  "skipped files (1)"):
        assert title in out
    assert "cat/same.png  dog/same_again.bmp" in out  # paths relative to the folder
    assert "--fix-split: the split would keep 2 groups (4 files) together" in out and "Nothing was written." in out
    assert folder_state(planted) == before


def test_json_for_scripts(run_cli, planted):
    code, out, _ = run_cli(["doctor", planted, "--json", "--image-size", "64", "--fix-split"])
    assert code == 0
    report = json.loads(out)
    kinds = {f["kind"] for f in report["findings"]}
    assert kinds == {"exact_duplicate", "near_duplicate", "cross_class", "small", "aspect", "imbalance", "skipped"}
    assert report["num_images"] == 21 and report["image_size"] == 64 and len(report["groups"]) == 2
    split = report["fixed_split"]
    assert split["made_here"] and split["num_train"] + split["num_val"] == 21
    assert all(g["side"] in ("train", "val") for g in split["groups"])


@pytest.mark.parametrize("argv", [["doctor", "MISSING"], ["doctor", "HERE", "--val-split", "1.5"]])
def test_a_folder_that_cannot_be_checked_is_one_line_exit_2(run_cli, planted, tmp_path, argv):
    argv = [str(tmp_path / "nope") if a == "MISSING" else str(planted) if a == "HERE" else a for a in argv]
    code, out, err = run_cli(argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("resnet-studio: error: ")
