"""Long runs: nothing the trainer keeps grows with the number of epochs.

Counted after every few epochs, from an EpochEnd callback (after a full collection):
live tensors, objects the garbage collector tracks, Python's allocated memory blocks,
threads and open files, and the length of every list, dict, set and deque. Between an
early epoch and one two and three times later nothing may grow by one an epoch or more
(memory blocks: by a few dozen an epoch, see BLOCKS_PER_EPOCH). Resident memory over
hundreds of epochs is measured in benchmarks/long_run.py; these counts are exact.
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import threading

import numpy as np
import pytest

from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.events import EpochEnd
from resnet_studio.engine.train import Trainer
from tests.conftest import make_class_folder

CONTAINERS = (list, dict, set, collections.deque)
# Python memory blocks (sys.getallocatedblocks) may grow by less than this an epoch. Measured:
# 1-4 (head only) and ~13 (whole network, about 1 KB) once warm, all inside torch's calls,
# none in objects the trainer keeps. A leak of the trainer's own (a list of losses, the
# step events) shows up first in the container and object counts.
BLOCKS_PER_EPOCH = 40


class _WithoutSaving(Trainer):
    """The trainer without its per-epoch checkpoint and model files (~0.2 s each for
    ResNet-18): the long run then takes milliseconds an epoch."""

    def _save_checkpoint(self, epoch: int) -> None:
        pass

    def _save_model(self, epoch: int, val_acc: float) -> None:
        pass


def _census(trainer: Trainer) -> dict:
    import torch

    gc.collect()
    blocks = sys.getallocatedblocks()  # first: the counts of earlier censuses are numpy arrays, outside it
    objects = gc.get_objects()
    codes = {kind: i for i, kind in enumerate(CONTAINERS)}
    containers = [(id(o), codes[type(o)], len(o)) for o in objects if type(o) in codes]
    counts = {
        "objects": len(objects),
        "tensors": sum(1 for o in objects if issubclass(type(o), torch.Tensor)),
        "sizes": np.array(containers, dtype=np.int64).reshape(-1, 3),  # id, kind, length
        "trainer": {k: len(v) for k, v in vars(trainer).items() if type(v) in (*CONTAINERS, tuple)},
        "blocks": blocks,
        "threads": threading.active_count(),
        "native_threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 0,
        "open_files": len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0,
    }
    del objects, containers
    return counts


def _run_counting(
    trainer_class, config: TrainConfig, at: tuple[int, int, int], callbacks=()
) -> tuple[Trainer, dict[int, dict]]:
    counts: dict[int, dict] = {}
    holder: list[Trainer] = []

    def on_event(event) -> None:
        if isinstance(event, EpochEnd) and event.epoch in at:
            counts[event.epoch] = _census(holder[0])

    trainer = trainer_class(config, callbacks=[*callbacks, on_event])
    holder.append(trainer)
    result = trainer.run()
    assert result.status == "completed", result.message
    assert sorted(counts) == sorted(at)
    return trainer, counts


def _growing_containers(counts: dict[int, dict], at: tuple[int, int, int]) -> list[str]:
    """Containers (the same object all along) that grew by one an epoch or more, in both intervals."""
    a, b, c = ({(int(i), int(k)): int(n) for i, k, n in counts[e]["sizes"]} for e in at)
    found = []
    for key, n_a in a.items():
        if key in b and key in c and b[key] - n_a >= at[1] - at[0] and c[key] - b[key] >= at[2] - at[1]:
            found.append(f"{CONTAINERS[key[1]].__name__} of {n_a} -> {b[key]} -> {c[key]} items")
    return found


def _assert_flat(counts: dict[int, dict], at: tuple[int, int, int]) -> None:
    first, last = counts[at[0]], counts[at[-1]]
    epochs = at[-1] - at[0]
    assert last["tensors"] == first["tensors"], "live tensors grow with the epochs"
    assert last["objects"] - first["objects"] < epochs, "objects the collector tracks grow with the epochs"
    assert last["trainer"] == first["trainer"], "the trainer's lists, dicts and sets grow"
    assert _growing_containers(counts, at) == []
    assert last["blocks"] - first["blocks"] < BLOCKS_PER_EPOCH * epochs, "Python's memory grows with the epochs"
    for name in ("threads", "native_threads", "open_files"):
        assert last[name] == first[name], f"{name} grow with the epochs"


def test_hundreds_of_head_only_epochs_keep_memory_flat(tmp_path):
    """Head-only training without augmentation: the backbone's features once, then
    epochs of milliseconds. 150 epochs, counted after epochs 50, 100 and 150."""
    data = make_class_folder(tmp_path / "data", {"a": 10, "b": 10}, size=20)
    config = TrainConfig(data_dir=str(data), depth=18, weights="none", stem="imagenet", image_size=16, batch_size=4, epochs=150,
                         device="cpu", workers=0, trainable="head", augment=False, out_dir=str(tmp_path / "runs"))
    at = (50, 100, 150)
    trainer, counts = _run_counting(_WithoutSaving, config, at)
    assert trainer.use_features  # the fast path was taken
    assert trainer.steps_per_epoch >= 4
    _assert_flat(counts, at)


def test_whole_network_epochs_keep_memory_flat(tmp_path):
    """The usual path: every layer trains, augmented batches from the image cache,
    checkpoint and model files every epoch. 12 epochs, counted after 4, 8 and 12."""
    data = make_class_folder(tmp_path / "data", {"a": 6, "b": 6}, size=20)
    config = TrainConfig(data_dir=str(data), depth=18, weights="none", stem="imagenet", image_size=16, batch_size=4, epochs=12,
                         device="cpu", workers=0, trainable="all", augment=True, out_dir=str(tmp_path / "runs"))
    at = (4, 8, 12)
    trainer, counts = _run_counting(Trainer, config, at)
    assert not trainer.use_features
    _assert_flat(counts, at)


def test_the_census_sees_a_leak(tmp_path):
    """The counts catch a callback that keeps every step's event (the kind of leak looked for)."""
    data = make_class_folder(tmp_path / "data", {"a": 10, "b": 10}, size=20)
    config = TrainConfig(data_dir=str(data), depth=18, weights="none", stem="imagenet", image_size=16, batch_size=4, epochs=24,
                         device="cpu", workers=0, trainable="head", augment=False, out_dir=str(tmp_path / "runs"))
    kept: list = []
    at = (8, 16, 24)
    _, counts = _run_counting(_WithoutSaving, config, at, callbacks=[kept.append])
    assert any("list of" in line for line in _growing_containers(counts, at))
    with pytest.raises(AssertionError):
        _assert_flat(counts, at)
