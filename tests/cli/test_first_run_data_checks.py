"""A first run on a tiny or odd folder: refused before anything is written, with one line,
exit 2 (issue 13, items 3 and 4); the window shows the same (tests/ui/test_first_run_window.py)."""

from __future__ import annotations

import pytest

from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.errors import DataError
from resnet_studio.engine.train import Trainer

from ..conftest import make_class_folder
from .conftest import TINY_TRAIN
from .test_cli import assert_usage_error


def _args(batch_size: int) -> list[str]:
    args = list(TINY_TRAIN)
    args[args.index("--batch-size") + 1] = str(batch_size)
    return args


def test_one_photo_per_class_is_refused_before_a_run_folder_exists(run_cli, tmp_path):
    data = make_class_folder(tmp_path / "tiny", {"dots": 1, "rings": 1}, size=16)
    code, out, err = run_cli(["train", data, *_args(1), "--out", tmp_path / "runs"])
    assert_usage_error(code, out, err, "'dots' and 'rings' have only 1 photo each: every class needs at least 2 photos")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    config = TrainConfig(data_dir=str(data), weights="none", batch_size=1, out_dir=str(tmp_path / "runs"))
    with pytest.raises(DataError, match="one to train on, one to validate"):
        Trainer(config).run()
    assert not (tmp_path / "runs").exists()


def test_a_batch_larger_than_a_tiny_training_set_is_refused(run_cli, tmp_path):
    data = make_class_folder(tmp_path / "tiny", {"dots": 2, "rings": 2}, size=16)  # 1 to train on, 1 to validate each
    code, out, err = run_cli(["train", data, *_args(8), "--out", tmp_path / "runs"])
    assert_usage_error(code, out, err, "batch size 8 is larger than the training set (2 images): use 2 or less")
    assert not (tmp_path / "runs").exists()


def test_an_empty_class_folder_is_left_out_and_said_on_both_fronts(run_cli, tmp_path):
    data = make_class_folder(tmp_path / "photos", {"dogs": 3, "owls": 3}, size=16)
    (data / "cats").mkdir()
    code, out, err = run_cli(["train", data, *_args(2), "--out", tmp_path / "runs"])
    assert code == 0, err
    assert f"{data / 'cats'}: no readable photos in this class folder: the class is left out" in err
    assert "2 classes" in err
