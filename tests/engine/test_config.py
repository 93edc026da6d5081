"""The settings module: torch-free, every limit in one place, problems per field, saved configs checked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from resnet_studio.engine.config import (
    CIFAR_DEPTHS,
    DEPTHS,
    SETTINGS,
    TRAINABLE_CHOICES,
    TrainConfig,
    default_lr,
    weights_problem,
)
from resnet_studio.engine.errors import StudioError

from ..settings_cases import BAD, engine_message


def test_importing_the_settings_does_not_import_torch():
    code = (
        "import sys, resnet_studio.engine.config\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.replace("'", '"')) == []  # pydantic too: it loads only to read a saved file


def test_a_good_config_has_no_problems_and_defaults_come_from_the_table():
    config = TrainConfig(data_dir="photos", weights="none")
    assert config.problems() == []
    for name, setting in SETTINGS.items():
        assert getattr(TrainConfig(), name) == setting.default, name
    assert SETTINGS["depth"].choices == DEPTHS + CIFAR_DEPTHS and SETTINGS["trainable"].choices == TRAINABLE_CHOICES


@pytest.mark.parametrize("field, value, typed", BAD)
def test_each_bad_value_is_one_problem_on_its_field(field, value, typed):
    config = TrainConfig(data_dir="photos", weights="none", **{field: value})
    errors = config.errors()
    assert [p.field for p in errors] == [field]
    assert errors[0].message == engine_message(field, value) and "\n" not in errors[0].message
    with pytest.raises(StudioError, match=errors[0].message.replace("(", r"\(").replace(")", r"\)")):
        config.validate()


def test_limits_in_words():
    assert engine_message("image_size", 8) == "image size must be between 16 and 1024 pixels"
    assert engine_message("lr", 0.0) == "learning rate must be more than 0"
    assert engine_message("val_split", 1.0) == "validation split must be more than 0 and less than 1"
    assert engine_message("depth", 19) == "unknown depth 19; choose one of 18, 34, 50, 101, 152, 20, 32, 44, 56, 110"
    assert TrainConfig(data_dir="x", image_size=16).errors() == []  # 16 px is allowed everywhere now


def test_the_batch_size_is_checked_against_the_training_images():
    config = TrainConfig(data_dir="photos", weights="none", batch_size=64)
    assert config.errors(num_train=64) == []
    (problem,) = config.errors(num_train=20)
    assert problem.field == "batch_size"
    assert problem.message == "batch size 64 is larger than the training set (20 images): use 20 or less"


def test_weights_paths(tmp_path):
    assert weights_problem("imagenet") == weights_problem("none") == ""
    assert weights_problem(str(tmp_path)).startswith(f"{tmp_path} is a folder")
    assert weights_problem(str(tmp_path / "w.pt")).startswith("weights file not found")
    (tmp_path / "w.bin").write_bytes(b"x")
    assert weights_problem(str(tmp_path / "w.bin")) == ""  # the file's content decides, not its name
    assert TrainConfig(data_dir="x", weights=str(tmp_path / "nope.pt")).errors(check_files=False) == []


def test_warnings_do_not_block():
    config = TrainConfig(data_dir="x", weights="none", trainable="head", optimizer="adamw", lr=0.05)
    assert config.errors() == []
    assert {p.field for p in config.problems()} == {"trainable", "lr"}


def test_default_learning_rates():
    assert default_lr("sgd", True) == 0.01 and default_lr("sgd", False) == 0.0125  # at the default batch of 32
    # SGD follows the batch size linearly: 0.1 per 256 images from scratch, 0.01 per 32 from ImageNet weights
    assert default_lr("sgd", False, 256) == 0.1 and default_lr("sgd", False, 1024) == 0.4
    assert default_lr("sgd", True, 64) == 0.02 and default_lr("sgd", True, 8) == 0.0025
    assert TrainConfig(weights="none", batch_size=512).resolved_lr() == 0.2
    assert default_lr("adamw", False, 512) == default_lr("adamw", False, 16) == 1e-3
    assert default_lr("adamw", True) == 3e-4 and TrainConfig(optimizer="adamw", weights="none").resolved_lr() == 1e-3


def test_automatic_augmentation_follows_the_image_size_the_data_and_the_epochs():
    from resnet_studio.engine.config import augmentation_level

    assert augmentation_level(32, 50_000, 200, pretrained=False)[0] == "light"  # small images: light, however long
    assert augmentation_level(63, 100, 5, pretrained=True)[0] == "light"
    assert augmentation_level(64, 100, 5, pretrained=True)[0] == "standard"
    assert augmentation_level(224, 5_000, 30, pretrained=False) == ("strong", "30 epochs from scratch on 5000 images")
    assert augmentation_level(224, 5_000, 29, pretrained=False)[0] == "standard"  # a shorter run
    assert augmentation_level(224, 20_000, 90, pretrained=False)[0] == "standard"  # enough photos
    assert augmentation_level(224, 5_000, 90, pretrained=True)[0] == "standard"  # ImageNet features need less
    assert augmentation_level(224, None, 90, pretrained=False)[0] == "standard"  # not scanned yet
    config = TrainConfig(weights="none", image_size=32, augmentation="strong")
    assert config.resolved_augmentation(100) == ("strong", "chosen")
    assert TrainConfig(weights="none", image_size=32).resolved_augmentation(100)[0] == "light"
    assert TrainConfig(augmentation="wild").problems()[0].field == "augmentation"


@pytest.mark.parametrize(
    "data, words",
    [
        ([1, 2], "is not a run configuration"),
        ({"depth": 18}, "has no data_dir"),
        ({"data_dir": "x", "depth": "deep"}, 'has a bad depth: "deep" (should be int)'),
        ({"data_dir": "x", "lr": True}, "has a bad lr: true (should be float or int)"),
        ({"data_dir": "x", "workers": 2.0}, "has a bad workers: 2.0 (should be int)"),
        ({"data_dir": "x", "augment": "yes"}, 'has a bad augment: "yes" (should be bool)'),
        ({"data_dir": "x", "image_size": 9999}, "has a bad setting: image size must be between 16 and 1024 pixels"),
    ],
)
def test_a_saved_config_is_checked(data, words):
    with pytest.raises(StudioError) as caught:
        TrainConfig.from_saved(data, "config.json")
    assert str(caught.value) == f"config.json {words}"


def test_a_saved_config_keeps_its_values_and_ignores_other_keys():
    saved = {"data_dir": "x", "depth": 50, "lr": 1, "weights": "/gone.pt", "classes": ["a"], "versions": {}, "workers": None}
    config = TrainConfig.from_saved(saved, "config.json")
    assert (config.depth, config.lr, config.weights, config.workers) == (50, 1, "/gone.pt", None)
