"""The command line and the trainer accept and refuse the same settings as the window,
with the engine's words (tests/ui/test_setup_panel.py checks the window)."""

from __future__ import annotations

import pytest

from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.errors import StudioError
from resnet_studio.engine.train import Trainer

from ..settings_cases import BAD, engine_message, flag
from .conftest import TINY_TRAIN
from .test_cli import assert_usage_error


@pytest.mark.parametrize("field, value, typed", BAD)
def test_the_command_line_refuses_with_the_engine_words(run_cli, demo_dir, tmp_path, field, value, typed):
    code, out, err = run_cli(["train", demo_dir, "--weights", "none", flag(field), typed, "--out", tmp_path / "runs"])
    assert_usage_error(code, out, err)
    assert err.strip() == f"resnet-studio: error: argument {flag(field)}: {engine_message(field, value)}"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("field, value, typed", BAD)
def test_the_trainer_refuses_with_the_engine_words(demo_dir, tmp_path, field, value, typed):
    config = TrainConfig(data_dir=str(demo_dir), weights="none", out_dir=str(tmp_path / "runs"), **{field: value})
    with pytest.raises(StudioError) as caught:
        Trainer(config).run()
    assert str(caught.value) == engine_message(field, value)
    assert not (tmp_path / "runs").exists()


def test_a_batch_larger_than_the_training_set_is_refused_by_both(run_cli, demo_dir, tmp_path):
    """The window refused it, the command line did not: now the engine decides, for both."""
    args = [a for a in TINY_TRAIN if a not in ("--batch-size", "8")]
    code, out, err = run_cli(["train", demo_dir, *args, "--batch-size", "100", "--out", tmp_path / "runs"])
    words = "batch size 100 is larger than the training set (24 images): use 24 or less"
    assert_usage_error(code, out, err, words)
    config = TrainConfig(data_dir=str(demo_dir), weights="none", batch_size=100, out_dir=str(tmp_path / "runs"))
    with pytest.raises(StudioError, match="larger than the training set"):
        Trainer(config).run()
    assert not (tmp_path / "runs").exists()


def test_a_small_image_size_the_window_refused_now_trains_everywhere(run_cli, demo_dir, tmp_path):
    """--image-size 20 worked on the command line and was refused in the window (>= 32):
    the engine's range (16 to 1024) wins on every front."""
    args = [a for a in TINY_TRAIN]
    args[args.index("--image-size") + 1] = "20"
    code, out, err = run_cli(["train", demo_dir, *args, "--out", tmp_path / "runs"])
    assert code == 0, err
    assert '"image_size": 20' in (tmp_path / "runs" / out.strip().splitlines()[-1].rsplit("/", 1)[-1] / "config.json").read_text()
