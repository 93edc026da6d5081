"""Settings that cannot work, shared by the tests of each front (command line, trainer,
window): every front must refuse them with the engine's own words."""

from __future__ import annotations

from resnet_studio.engine.config import SETTINGS, TrainConfig

# (TrainConfig field, the value, as typed on the command line)
BAD = [
    ("epochs", 0, "0"),
    ("batch_size", 0, "0"),
    ("image_size", 8, "8"),
    ("image_size", 2000, "2000"),
    ("lr", 0.0, "0"),
    ("lr", -0.1, "-0.1"),
    ("val_split", 1.5, "1.5"),
    ("seed", -1, "-1"),
    ("depth", 19, "19"),
    ("optimizer", "adam", "adam"),
    ("trainable", "layer2", "layer2"),
    ("augmentation", "wild", "wild"),
    ("device", "gpu", "gpu"),
    ("patience", 0, "0"),
    ("workers", -1, "-1"),
    ("cache_budget_mb", -1.0, "-1"),
]


def engine_message(field: str, value, data_dir: str = "photos") -> str:
    """What the engine says of `field` = `value`: the words every front must use."""
    (problem,) = [p for p in TrainConfig(data_dir=data_dir, weights="none", **{field: value}).errors() if p.field == field]
    return problem.message


def flag(field: str) -> str:
    return SETTINGS[field].flag
