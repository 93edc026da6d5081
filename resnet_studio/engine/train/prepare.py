"""Getting a run ready, step by step, before its first batch: each step a function.

    check_output_folder   the runs folder (or the resumed run folder) takes a test write
    load_resume_state     the checkpoint to continue from, if the run has one
    reuse_split           a resumed run keeps the exact split it started with
    make_model            the network, its start weights or the checkpoint's, on the device
    TrainingInput         the decoded-image cache and the batch loaders (or the head's features)
    check_free_space      room for the checkpoint and the model, twice
    create_run_folder     a new folder with config.json and split.json, or the resumed one

Each raises StudioError with one readable line; none of them leaves anything behind
when it fails (the run folder is made last).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import checkpoint as ckpt
from .. import io, runs
from ..config import TrainConfig
from ..data import DatasetScan, resize_size_for
from ..errors import StudioError
from ..fastdata import BatchLoader, DecodedCache, FeatureBank, default_cache_budget
from ..models import build_model, state_stem, weights_stem

#: training images are cached with their shorter side this many times the crop size
#: (training_short_side). At 1.14 (prediction's resize) about 3 in 4 random crops are
#: smaller than the crop and are upscaled, by 1.23x at the median and 1.7x at most; at 2
#: none is, for 3 times the cache memory. Whether that costs accuracy is for
#: benchmarks/train_cache_size.py to measure on real photos: generated textures whose
#: class lies in fine detail could not be learned from scratch on a CPU here
TRAIN_CACHE_SCALE = 1.14

__all__ = [
    "TRAIN_CACHE_SCALE",
    "training_short_side",
    "Progress",
    "TrainingInput",
    "output_folder",
    "check_output_folder",
    "load_resume_state",
    "reuse_split",
    "make_model",
    "check_free_space",
    "create_run_folder",
    "auto_workers",
]


@dataclass
class Progress:
    """Where a run stands: what it has done and its best epoch so far."""

    start_epoch: int = 1
    completed_epochs: int = 0
    best_val_acc: float | None = None
    best_epoch: int | None = None
    best_confusion: list[list[int]] | None = None
    final_val_acc: float | None = None
    epochs_since_best: int = 0

    @classmethod
    def from_checkpoint(cls, state: dict | None) -> Progress:
        if not state:
            return cls()
        epoch = int(state["epoch"])
        return cls(
            start_epoch=epoch + 1,
            completed_epochs=epoch,
            best_val_acc=state.get("best_val_acc"),
            best_epoch=state.get("best_epoch"),
            best_confusion=state.get("best_confusion"),
            final_val_acc=state.get("final_val_acc"),
            epochs_since_best=int(state.get("epochs_since_best", 0)),
        )

    def is_best(self, val_acc: float) -> bool:
        """Whether an epoch with this validation accuracy beats every earlier one."""
        return self.best_val_acc is None or val_acc > self.best_val_acc


def output_folder(config: TrainConfig, resume_dir: Path | None) -> Path:
    if resume_dir:
        return resume_dir
    return Path(config.out_dir).expanduser() if config.out_dir else runs.default_runs_dir()


def check_output_folder(folder: Path, resuming: bool) -> None:
    """Refuse a runs folder that cannot be written, before any work is done (the runs
    folder itself is made later, once the data checks pass)."""
    existing = io.existing_ancestor(folder)
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "not a folder")
        io.probe_writable(existing)
    except OSError as exc:
        what = "run folder" if resuming else "runs folder"
        raise StudioError(f"cannot write to the {what} {folder}: {exc.strerror or exc}") from None


def load_resume_state(run_dir: Path) -> dict | None:
    """The checkpoint to continue from, or None for a run stopped before its first one
    (killed in its first epoch): that run starts again from epoch 1, in its own folder."""
    if not (run_dir / runs.CHECKPOINT).exists():
        return None
    return ckpt.load_checkpoint(run_dir)


def reuse_split(scan: DatasetScan, run_dir: Path) -> None:
    """A resumed run keeps the split it started with, whatever changed on disk."""
    split = ckpt.saved_split(run_dir)
    if split is None:  # an old run killed before its first checkpoint: the scan's split stands
        return
    if list(split.classes) != scan.classes:
        raise StudioError("the data folder's classes changed since this run started; cannot resume")
    scan.train, scan.val = list(split.train), list(split.val)


def make_model(config: TrainConfig, classes: Sequence[str], device: torch.device, resume_state: dict | None):
    """(model on `device`, a note for the log or ""): the start weights, or the checkpoint's.

    `classes`: the data folder's classes, in the model's output order; a start file's
    classifier is matched to them by name when the file names its classes (build_model).
    """
    torch.manual_seed(config.seed)
    weights = config.weights if resume_state is None else "none"  # the checkpoint has them
    # the stem: the one auto picks for the start weights, or a resumed run's checkpoint's own (a run from
    # before the stem setting has none in its config.json)
    stem = config.resolved_stem(weights_stem(config.weights)) if resume_state is None else state_stem(resume_state["model"])
    model = build_model(
        config.depth, len(classes), weights, config.trainable, progress=False, class_names=classes, stem=stem
    )
    note = getattr(model, "studio_weights_note", "")  # e.g. the file's classifier was replaced or reordered
    if resume_state:
        model.load_state_dict(resume_state["model"])
    model.to(device)
    if device.type in ("cuda", "cpu"):  # channels-last: faster convolutions with cuDNN and oneDNN
        model = model.to(memory_format=torch.channels_last)
    return model, note


def auto_workers(device: torch.device) -> int:
    """Decoding threads: every core on a GPU machine; on the CPU they share the cores
    with the model, and only until the cache is full."""
    cores = os.cpu_count() or 1
    return min(16, cores) if device.type == "cuda" else min(8, cores)


class TrainingInput:
    """The image cache and the training and validation loaders of a run.

    Head-only training without augmentation sees the same backbone output every epoch:
    then `use_features` is set, the images are read once (no cache) and the head trains
    on the features the loop computes in the first epoch (`features`).
    """

    def __init__(self, config: TrainConfig, scan: DatasetScan, device: torch.device, feature_shortcut: bool = True):
        self.use_features = feature_shortcut and config.trainable == "head" and not config.augment
        self.features: tuple[FeatureBank, FeatureBank] | None = None  # (training, validation), once computed
        self.workers = config.workers if config.workers is not None else auto_workers(device)
        budget = None if config.cache_budget_mb is None else int(config.cache_budget_mb * 2**20)
        if self.use_features:
            budget = 0  # the images are read once, for the features
        elif budget is None:
            budget = default_cache_budget()
        # JPEGs decoded in batches on a CUDA device (on the CPU, Pillow's reduced-scale decoding is faster)
        decode_device = device if device.type == "cuda" else None
        # validation's centre crops come from images at prediction's resize; training's
        # random crops from images kept at training_short_side (see there)
        val_side = resize_size_for(config.image_size)
        train_side = val_side if self.use_features else training_short_side(config.image_size)
        share = _share(len(scan.train) * train_side**2, len(scan.val) * val_side**2)
        self.cache = DecodedCache(val_side, budget - int(budget * share), decode_device=decode_device)
        self.train_cache = self.cache
        if train_side != val_side:
            self.train_cache = DecodedCache(train_side, int(budget * share), decode_device=decode_device)
        self.shuffle_gen = torch.Generator()
        self.loading = dict(
            cache=self.cache, batch_size=config.batch_size, threads=self.workers, pin_memory=device.type == "cuda"
        )
        self.train_loader = BatchLoader(
            scan.train, shuffle=True, drop_last=True, generator=self.shuffle_gen, **{**self.loading, "cache": self.train_cache}
        )
        self.val_loader = BatchLoader(scan.val, **self.loading)
        if len(self.train_loader) == 0:
            raise StudioError("no training images left after the checks")

    def note(self, config: TrainConfig) -> str:
        if config.trainable == "head" and config.augment:
            return (
                "head-only training with augmentation: the frozen backbone runs on new random crops every "
                "epoch (without augmentation its features are computed once and later epochs take moments)"
            )
        return ""

    def cache_report(self) -> str:
        if self.use_features:
            return ""
        caches = {self.train_cache, self.cache}
        budget = sum(c.budget_bytes for c in caches)
        if budget == 0:
            return "image cache off: every image is decoded from disk every epoch"
        held, used = sum(len(c) for c in caches), sum(c.nbytes for c in caches)
        message = f"image cache: {held} decoded images, {io.megabytes(used)} of {io.megabytes(budget)}"
        if any(c.full for c in caches):
            message += "; full, so the other images are decoded from disk every epoch (a larger --cache-mb keeps them)"
        return message


def training_short_side(image_size: int, scale: float | None = None) -> int:
    """The shorter side training images are cached at, for random crops of `image_size`.

    `scale` (TRAIN_CACHE_SCALE when None) times the crop, and never less than the
    validation resize (resize_size_for: 1.14 times).
    """
    scale = TRAIN_CACHE_SCALE if scale is None else scale
    return max(resize_size_for(image_size), round(image_size * scale))


def _share(train_bytes: int, val_bytes: int) -> float:
    """The training images' part of the cache budget: their part of the bytes to keep."""
    total = train_bytes + val_bytes
    return train_bytes / total if total else 1.0


def check_free_space(folder: Path, model: nn.Module, optimizer_slots: int, resuming: bool) -> None:
    """Refuse to start when the disk cannot hold the run's files: a new run keeps the
    checkpoint and the best model, and while either is replaced the old and the new
    file both exist for a moment."""
    model_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    needed = 2 * model_bytes + optimizer_slots * trainable  # the model, the checkpoint (model + optimiser state)
    if not resuming:
        needed *= 2  # a resumed run's old files are already on the disk
    needed += 16 * 2**20  # metrics, summary, config
    free = io.free_bytes(folder)
    if free is not None and free < needed:
        raise StudioError(
            f"not enough free disk space in {io.existing_ancestor(folder)}: this run needs about {io.megabytes(needed)} "
            f"for its checkpoints, {io.megabytes(free)} is free"
        )


def create_run_folder(config: TrainConfig, scan: DatasetScan, workers: int, resume_dir: Path | None, start_epoch: int) -> Path:
    """The run folder: a resumed run's own (metrics after its checkpoint dropped), or a new
    one with config.json (everything needed to repeat the run) and split.json (the exact
    files on each side)."""
    if resume_dir:
        runs.clean_orphaned_temp_files(resume_dir)  # left by a writer killed mid-write
        runs.MetricsWriter.truncate_after_epoch(resume_dir, start_epoch - 1)
        if runs.read_split(resume_dir) is None:  # a run from before split.json: record it now
            runs.write_split(resume_dir, runs.Split(scan.classes, scan.train, scan.val, scan.layout))
        return resume_dir
    out = output_folder(config, None)
    try:
        run_dir = runs.new_run_dir(out, scan.name, config.depth)
    except OSError as exc:
        raise StudioError(f"cannot create a run folder in {out}: {exc.strerror or exc}") from None
    saved = {
        **config.to_dict(),
        "data_dir": str(Path(config.data_dir).expanduser().resolve()),
        "out_dir": str(out.resolve()),
        "lr": config.resolved_lr(),
        "weight_decay": config.resolved_weight_decay(),
        "workers": workers,
        "classes": scan.classes,
        "layout": scan.layout,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": _versions(),
    }
    io.atomic_write_json(run_dir / runs.CONFIG, saved)
    runs.write_split(run_dir, runs.Split(scan.classes, scan.train, scan.val, scan.layout))
    return run_dir


def _versions() -> dict:
    import torchvision

    from ... import __version__

    return {"resnet_studio": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__}
