"""The training loop: configuration, control flags, events, run folder.

Reads top to bottom: prepare (data, model, optimiser, run folder), then for each epoch
`_train_one_epoch` and `_evaluate`, then save. Progress leaves through callbacks as
typed events (events.py); the loop is stopped or paused through a RunControl.

Images are decoded once into a memory cache and cropped, flipped and normalized in
batches on the training device (fastdata.py). Values the loop accumulates stay on the
device and are read back in batches (`sync_interval`), so a GPU never waits for the host.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
import traceback
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn

from . import checkpoint as ckpt
from . import runs
from .data import DatasetScan, resize_size_for, scan_dataset
from .devices import describe_device, resolve_device
from .errors import RunCancelled, StudioError
from .events import EpochEnd, LogMessage, MemoryFallback, RunFinished, RunStarted, SkippedFile, StepEnd
from .fastdata import Batch, BatchLoader, DecodedCache, FeatureBank, eval_batch, train_batch
from .memory import ChunkedRunner, is_out_of_memory, memory_name
from .models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    STAGES,
    TRAINABLE_CHOICES,
    DEPTHS,
    build_model,
    default_lr,
    set_train_mode,
)

__all__ = ["TrainConfig", "RunControl", "Trainer", "OPTIMIZERS"]

OPTIMIZERS = ("sgd", "adamw")
Callback = Callable[[object], None]


@dataclass
class TrainConfig:
    data_dir: str
    depth: int = 18
    weights: str = "imagenet"  # "imagenet", "none" or a path to a state-dict file
    epochs: int = 10
    batch_size: int = 32
    image_size: int = 224
    lr: float | None = None  # None: models.default_lr for the optimiser and weights
    optimizer: str = "sgd"
    weight_decay: float | None = None  # None: 1e-4 for SGD, 0.05 for AdamW
    label_smoothing: float = 0.1
    warmup_epochs: float = 1.0
    trainable: str = "all"
    val_split: float = 0.2
    seed: int = 0
    device: str = "auto"
    workers: int | None = None  # image decoding threads; None: chosen from the CPU count
    out_dir: str | None = None  # None: runs.default_runs_dir()
    patience: int | None = None  # stop after this many epochs without a better val accuracy
    augment: bool = True
    color_jitter: bool = False
    cache_budget_mb: float | None = None  # decoded-image cache; None: a quarter of the free memory, 0: off
    compile: bool = False  # torch.compile the model

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_saved(cls, data, source: str) -> "TrainConfig":
        """The settings of a run to resume, from its config.json. `source` names the file in
        the StudioError raised for a missing data_dir, a value of the wrong type or one out
        of range (the start weights are not checked: a resume does not read them again)."""
        if not isinstance(data, dict):
            raise StudioError(f"{source} is not a run configuration")
        if not data.get("data_dir"):
            raise StudioError(f"{source} has no data_dir")
        kinds = {"int": int, "float": (int, float), "str": str, "bool": bool}
        for field in fields(cls):
            if data.get(field.name) is None:
                continue  # absent or None: the default (validate() rejects a None that cannot be)
            value = data[field.name]
            allowed = [t.strip() for t in str(field.type).split("|") if t.strip() in kinds]
            fits = any(isinstance(value, kinds[t]) and (t == "bool") == isinstance(value, bool) for t in allowed)
            if allowed and not fits:
                raise StudioError(
                    f"{source} has a bad {field.name}: {json.dumps(value)[:40]} (should be {' or '.join(allowed)})"
                )
        config = cls.from_dict(data)
        try:
            replace(config, weights="none").validate()
        except StudioError as exc:
            raise StudioError(f"{source} has a bad setting: {exc}") from None
        return config

    @property
    def pretrained(self) -> bool:
        return str(self.weights) != "none"

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else default_lr(self.optimizer, self.pretrained)

    def resolved_weight_decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.05 if self.optimizer == "adamw" else 1e-4

    def validate(self) -> None:
        """Raise StudioError for values that cannot work, before anything is loaded."""
        if int(self.depth) not in DEPTHS:
            raise StudioError(f"unsupported depth {self.depth}; choose one of {', '.join(map(str, DEPTHS))}")
        if self.optimizer not in OPTIMIZERS:
            raise StudioError(f"unknown optimizer {self.optimizer!r}; choose sgd or adamw")
        if self.trainable not in TRAINABLE_CHOICES:
            raise StudioError(f"unknown trainable part {self.trainable!r}; choose one of {', '.join(TRAINABLE_CHOICES)}")
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (16 <= self.image_size <= 1024, "image size must be between 16 and 1024 pixels"),
            (self.lr is None or self.lr > 0, "learning rate must be positive"),
            (0 < self.val_split < 1, "validation split must be between 0 and 1"),
            (0 <= self.label_smoothing < 1, "label smoothing must be in [0, 1)"),
            (self.patience is None or self.patience >= 1, "patience must be at least 1 epoch"),
            (self.workers is None or self.workers >= 0, "workers cannot be negative"),
            (self.cache_budget_mb is None or self.cache_budget_mb >= 0, "the cache size cannot be negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise StudioError(message)
        weights = str(self.weights)
        if weights not in ("imagenet", "none") and not Path(weights).expanduser().is_file():
            raise StudioError(f"weights file not found: {weights} (use imagenet, none or a .safetensors/.pth path)")


class RunControl:
    """Stop and pause flags the loop checks between steps. Safe to use from any thread."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        """Wait while paused; raise RunCancelled once a stop was asked for."""
        while not self._running.wait(0.1):
            pass
        if self._stop.is_set():
            raise RunCancelled()


def _auto_workers(device: torch.device) -> int:
    """Decoding threads: every core on a GPU machine; on the CPU they share the cores
    with the model, and only until the cache is full."""
    cores = os.cpu_count() or 1
    return min(16, cores) if device.type == "cuda" else min(8, cores)


def _cosine_with_warmup(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.01 + 0.99 * step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and batch-norm parameters (they are not weights to shrink)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _block_param_slices(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    blocks = {}
    for stage in STAGES:
        for i, block in enumerate(getattr(model, stage)):
            params = [p for p in block.parameters() if p.requires_grad]
            if params:
                blocks[f"{stage}.{i}"] = params
    return blocks


class Trainer:
    """One training run. `run()` returns its RunFinished event."""

    #: emit/flush step statistics at most this often on an accelerator (seconds);
    #: reading a loss back from the GPU waits for it, so it is done in batches.
    sync_interval = 0.1
    #: measure block gradient norms every this many steps (cheap, but not free)
    grad_stats_every = 10
    #: head-only training without augmentation trains the head on features computed once
    feature_shortcut = True

    def __init__(
        self,
        config: TrainConfig,
        callbacks: Iterable[Callback] = (),
        control: RunControl | None = None,
        resume_dir: str | os.PathLike | None = None,
    ):
        self.config = config
        self.callbacks = list(callbacks)
        self.control = control or RunControl()
        self.resume_dir = Path(resume_dir) if resume_dir else None
        self.run_dir: Path | None = None
        self.skipped: list[SkippedFile] = []
        self._metrics: runs.MetricsWriter | None = None
        self._resume_note: str | None = None

    # ------------------------------------------------------------ events

    def _emit(self, event) -> None:
        for cb in self.callbacks:
            cb(event)

    def _log(self, message: str, level: str = "info") -> None:
        try:
            if self._metrics:
                self._metrics.write({"event": "log", "level": level, "message": message, "time": time.time()})
        finally:  # the window and the terminal hear it even when the disk is full
            self._emit(LogMessage(level, message))

    # ------------------------------------------------------------ preparing

    def _prepare(self) -> None:
        resume_state = None
        if self.resume_dir:
            resume_state = self._load_resume()  # the run's own settings replace self.config
        cfg = self.config
        if not self.resume_dir:  # (a resumed run's settings were checked as they were read)
            cfg.validate()
        self._check_writable()  # before the folder scan, which can take a while
        self.device = resolve_device(cfg.device)
        self.scan: DatasetScan = scan_dataset(cfg.data_dir, cfg.val_split, cfg.seed)
        if resume_state:
            self._reuse_split(resume_state)
        self.classes = self.scan.classes
        self.skipped = list(self.scan.skipped)

        torch.manual_seed(cfg.seed)
        weights = cfg.weights if resume_state is None else "none"  # the checkpoint has them
        self.model = build_model(cfg.depth, len(self.classes), weights, cfg.trainable, progress=False)
        weights_note = getattr(self.model, "studio_weights_note", "")  # e.g. the file's classifier was replaced
        if resume_state:
            self.model.load_state_dict(resume_state["model"])
        self.model.to(self.device)
        self.use_amp = self.device.type == "cuda"
        self.amp_dtype = None
        if self.use_amp:
            torch.backends.cudnn.benchmark = True
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        # channels-last: faster convolutions with cuDNN and with oneDNN on the CPU
        self.channels_last = self.device.type in ("cuda", "cpu")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.notes: list[str] = []  # explanations for the log, once the run folder exists
        if self._resume_note:
            self.notes.append(self._resume_note)
        if weights_note:
            self.notes.append(weights_note)
        # out of memory: training goes on in pieces of a batch with accumulated gradients
        # (pieces of at least 2 images: batch norm cannot train on one), evaluation in pieces
        self._train_memory = ChunkedRunner(self.device, "batch", lambda old, new: self._memory_fallback("training", old, new), floor=2)
        self._eval_memory = ChunkedRunner(self.device, "batch", lambda old, new: self._memory_fallback("validation", old, new))
        self._prepare_input()
        self.net = self.model  # what the steps call: the model, compiled, or (features) only its head
        if cfg.compile and not self.use_features:
            self.net = torch.compile(self.model)

        lr = cfg.resolved_lr()
        groups = _param_groups(self.model, cfg.resolved_weight_decay())
        if cfg.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(groups, lr=lr)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
        total = cfg.epochs * self.steps_per_epoch
        warmup = min(int(cfg.warmup_epochs * self.steps_per_epoch), total // 2)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _cosine_with_warmup(warmup, total))
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self._block_params = _block_param_slices(self.model)

        self.start_epoch = 1
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.best_confusion: list[list[int]] | None = None
        self.final_val_acc: float | None = None
        self.epochs_since_best = 0
        if resume_state:
            self.optimizer.load_state_dict(resume_state["optimizer"])
            self.scheduler.load_state_dict(resume_state["scheduler"])
            if "scaler" in resume_state and self.scaler.is_enabled():
                self.scaler.load_state_dict(resume_state["scaler"])
            self.start_epoch = int(resume_state["epoch"]) + 1
            self.best_val_acc = resume_state.get("best_val_acc")
            self.best_epoch = resume_state.get("best_epoch")
            self.best_confusion = resume_state.get("best_confusion")
            self.final_val_acc = resume_state.get("final_val_acc")
            self.epochs_since_best = int(resume_state.get("epochs_since_best", 0))
            pieces = resume_state.get("memory_pieces") or {}
            self._train_memory.piece = pieces.get("training")  # what fit before fits again
            self._eval_memory.piece = pieces.get("validation")
            self.skipped = [SkippedFile(p, r) for p, r in resume_state.get("skipped", [])] or self.skipped
            # the schedule continues from the first step of the epoch being redone
            self.scheduler.last_epoch = (self.start_epoch - 1) * self.steps_per_epoch
            for group, factor in zip(self.optimizer.param_groups, self.scheduler.lr_lambdas):
                group["lr"] = group["initial_lr"] * factor(self.scheduler.last_epoch)
        self._completed_epochs = self.start_epoch - 1
        self._check_free_space()
        try:
            self._make_run_dir(resume_state)
        except OSError as exc:
            raise StudioError(f"cannot write to the run folder {self.run_dir or self._output_folder()}: {exc.strerror or exc}") from None

    def _prepare_input(self) -> None:
        """The image cache and the loaders; whether the head trains on features computed once."""
        cfg = self.config
        # head-only training without augmentation sees the same backbone output every
        # epoch: compute it once (first epoch) and train the head on it
        self.features: tuple[FeatureBank, FeatureBank] | None = None  # (training, validation)
        self.use_features = self.feature_shortcut and cfg.trainable == "head" and not cfg.augment
        if cfg.trainable == "head" and cfg.augment:
            self.notes.append(
                "head-only training with augmentation: the frozen backbone runs on new random crops every "
                "epoch (without augmentation its features are computed once and later epochs take moments)"
            )
        self.workers = cfg.workers if cfg.workers is not None else _auto_workers(self.device)
        budget = None if cfg.cache_budget_mb is None else int(cfg.cache_budget_mb * 2**20)
        if self.use_features:
            budget = 0  # the images are read once, for the features
        self.cache = DecodedCache(resize_size_for(cfg.image_size), budget)
        self._shuffle_gen = torch.Generator()
        self._augment_gen = torch.Generator(device=self.device)
        self._loading = dict(cache=self.cache, batch_size=cfg.batch_size, threads=self.workers, pin_memory=self.device.type == "cuda")
        self.train_loader = BatchLoader(self.scan.train, shuffle=True, drop_last=True, generator=self._shuffle_gen, **self._loading)
        self.val_loader = BatchLoader(self.scan.val, **self._loading)
        self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise StudioError("no training images left after the checks")

    def _output_folder(self) -> Path:
        if self.resume_dir:
            return self.resume_dir
        cfg = self.config
        return Path(cfg.out_dir).expanduser() if cfg.out_dir else runs.default_runs_dir()

    def _check_writable(self) -> None:
        """Refuse a runs folder that cannot be written, before any work is done."""
        folder = self._output_folder()
        existing = _existing_ancestor(folder)  # the runs folder is made later, once the data checks pass
        try:
            if not existing.is_dir():
                raise NotADirectoryError(20, "not a folder")
            ckpt.probe_writable(existing)
        except OSError as exc:
            what = "run folder" if self.resume_dir else "runs folder"
            raise StudioError(f"cannot write to the {what} {folder}: {exc.strerror or exc}") from None

    def _check_free_space(self) -> None:
        """Refuse to start when the disk cannot hold the run's files: a new run keeps the
        checkpoint and the best model, and while either is replaced the old and the new
        file both exist for a moment."""
        folder = self._output_folder()
        needed = self._checkpoint_bytes() + self._model_bytes()
        if not self.resume_dir:
            needed *= 2  # a resumed run's old files are already on the disk
        needed += 16 * 2**20  # metrics, summary, config
        folder = _existing_ancestor(folder)
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return
        if free < needed:
            raise StudioError(
                f"not enough free disk space in {folder}: this run needs about {_megabytes(needed)} "
                f"for its checkpoints, {_megabytes(free)} is free"
            )

    def _model_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.model.state_dict().values())

    def _checkpoint_bytes(self) -> int:
        """The model, plus the optimiser's state per trainable parameter (SGD: momentum; AdamW: two moments)."""
        slots = 2 if self.config.optimizer == "adamw" else 1
        trainable = sum(p.numel() * p.element_size() for p in self.model.parameters() if p.requires_grad)
        return self._model_bytes() + slots * trainable

    def _load_resume(self) -> dict | None:
        """The checkpoint to continue from, or None for a run stopped before its first one
        (killed in its first epoch): that run starts again from epoch 1, in its own folder."""
        run_dir = self.resume_dir
        if not (run_dir / runs.CONFIG).is_file():
            raise StudioError(f"not a run folder (no {runs.CONFIG}): {run_dir}")
        try:
            saved = runs.read_json(run_dir / runs.CONFIG)
        except (OSError, ValueError) as exc:
            raise StudioError(f"cannot resume: {runs.CONFIG} in {run_dir} is damaged ({exc})".splitlines()[0]) from None
        # a resumed run keeps its own settings; only the number of epochs may change
        self.config = TrainConfig.from_saved({**saved, "epochs": self.config.epochs}, f"{runs.CONFIG} in {run_dir}")
        if not (run_dir / runs.CHECKPOINT).exists():
            self._resume_note = "no checkpoint yet (the run ended in its first epoch): starting again from epoch 1"
            return None
        return ckpt.load_checkpoint(run_dir)

    def _reuse_split(self, state: dict) -> None:
        """A resumed run keeps the split it started with, whatever changed on disk."""
        classes = list(state["classes"])
        if classes != self.scan.classes:
            raise StudioError("the data folder's classes changed since this run started; cannot resume")
        self.scan.train = [(p, int(l)) for p, l in state["train"]]
        self.scan.val = [(p, int(l)) for p, l in state["val"]]

    def _make_run_dir(self, resume_state) -> None:
        cfg = self.config
        if self.resume_dir:
            self.run_dir = self.resume_dir
            runs.remove_orphaned_temp_files(self.run_dir)  # left by a writer killed mid-write
            runs.MetricsWriter.truncate_after_epoch(self.run_dir, self.start_epoch - 1)
        else:
            out = Path(cfg.out_dir).expanduser() if cfg.out_dir else runs.default_runs_dir()
            try:
                self.run_dir = runs.new_run_dir(out, self.scan.name, cfg.depth)
            except OSError as exc:
                raise StudioError(f"cannot create a run folder in {out}: {exc.strerror or exc}") from None
            saved = {
                **cfg.to_dict(),
                "data_dir": str(Path(cfg.data_dir).expanduser().resolve()),
                "out_dir": str(out.resolve()),
                "lr": cfg.resolved_lr(),
                "weight_decay": cfg.resolved_weight_decay(),
                "workers": self.workers,
                "classes": self.classes,
                "layout": self.scan.layout,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "versions": _versions(),
            }
            ckpt.atomic_write_json(self.run_dir / runs.CONFIG, saved)
        self._metrics = runs.MetricsWriter(self.run_dir)

    # ------------------------------------------------------------ running

    def run(self) -> RunFinished:
        """Train; raises StudioError only for problems found before the run starts."""
        self._prepare()
        cfg = self.config
        self._emit(
            RunStarted(
                run_dir=str(self.run_dir),
                config={**cfg.to_dict(), "lr": cfg.resolved_lr()},
                classes=list(self.classes),
                class_counts=self.scan.class_counts(),
                num_train=self.scan.num_train,
                num_val=self.scan.num_val,
                skipped_files=list(self.skipped),
                device=describe_device(self.device),
                start_epoch=self.start_epoch,
                epochs=cfg.epochs,
                steps_per_epoch=self.steps_per_epoch,
            )
        )
        status, message = "completed", ""
        self.epoch = self.start_epoch - 1
        self._run_started = time.perf_counter()
        self._steps_done = 0
        try:
            self._metrics.write({"event": "resume" if self.resume_dir else "start", "epoch": self.start_epoch - 1, "time": time.time()})
            for s in self.skipped:
                self._log(f"skipped {s.path}: {s.reason}", "warning")
            self._log(
                f"ResNet-{cfg.depth} on {describe_device(self.device)}: {self.scan.num_train} training and "
                f"{self.scan.num_val} validation images, {len(self.classes)} classes"
            )
            for note in self.notes:
                self._log(note)
            for epoch in range(self.start_epoch, cfg.epochs + 1):
                self.epoch = epoch
                if self._run_epoch(epoch):
                    break
        except RunCancelled:
            status, message = "cancelled", "stopped by the user"
            try:
                self._save_checkpoint(self.epoch - 1)
                self._log(f"stopped; the checkpoint of epoch {self.epoch - 1} is kept for --resume")
            except OSError as exc:
                message = f"stopped by the user; the checkpoint could not be updated ({exc.strerror or exc}), the previous one is kept"
        except StudioError as exc:
            status, message = "failed", str(exc)
        except OSError as exc:
            status, message = "failed", f"could not write to the run folder: {exc.strerror or exc}"
        except Exception as exc:  # keep the run folder consistent whatever went wrong
            if is_out_of_memory(exc):  # outside a step: moving the model, saving
                status, message = "failed", f"out of {memory_name(self.device)}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            else:
                status, message = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0]
            try:
                (self.run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            except OSError:
                pass
        return self._finish(status, message)

    def _finish(self, status: str, message: str) -> RunFinished:
        if status == "failed":
            self._log(message, "error")
        epochs_completed = self._completed_epochs
        try:  # a full disk must not hide how the run ended: the event below still goes out
            self._write_summary(status, epochs_completed)
            self._metrics.write({"event": "end", "status": status, "epoch": epochs_completed, "time": time.time()})
        except OSError as exc:
            self._emit(LogMessage("error", f"could not record the end of the run in {self.run_dir}: {exc.strerror or exc}"))
        finally:
            self._metrics.close()
        model_path = self.run_dir / runs.MODEL
        event = RunFinished(
            status=status,
            run_dir=str(self.run_dir),
            epochs_completed=epochs_completed,
            best_epoch=self.best_epoch,
            best_val_acc=self.best_val_acc,
            final_val_acc=self.final_val_acc,
            model_path=str(model_path) if model_path.exists() else None,
            message=message,
        )
        self._emit(event)
        return event

    def _run_epoch(self, epoch: int) -> bool:
        """Train and validate one epoch, save, report. True when early stopping ends the run."""
        cfg = self.config
        started = time.perf_counter()
        # order and augmentation: repeatable per epoch, also on resume
        torch.manual_seed(cfg.seed * 1000 + epoch)
        self._shuffle_gen.manual_seed(cfg.seed * 1000 + epoch)
        self._augment_gen.manual_seed(cfg.seed * 1000 + epoch)
        feature_seconds = 0.0
        if self.use_features and self.features is None:
            self.features = self._compute_features()
            feature_seconds = time.perf_counter() - started
        train_loss, train_acc, images, train_seconds, grad_norms = self._train_one_epoch(epoch)
        train_seconds += feature_seconds  # the image rate counts the pass that made the features
        val_loss, val_acc, per_class, confusion = self._evaluate()
        if epoch == self.start_epoch:
            self._log_cache_use()
        seconds = time.perf_counter() - started
        self.final_val_acc = val_acc
        is_best = self.best_val_acc is None or val_acc > self.best_val_acc
        if is_best:
            self._save_model(epoch, val_acc)  # first: the summary names no best model that is not on disk
            self.best_val_acc, self.best_epoch, self.best_confusion = val_acc, epoch, confusion
            self.epochs_since_best = 0
        else:
            self.epochs_since_best += 1
        lr = self.optimizer.param_groups[0]["lr"]
        ips = images / train_seconds if train_seconds > 0 else 0.0
        # the epoch's line goes out before its checkpoint: killed in between, the line is
        # dropped on resume (it follows the checkpoint) and the epoch is redone; the other
        # way round, the redone epoch would have no line
        self._metrics.write(
            {
                "event": "epoch",
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": lr,
                "images_per_sec": ips,
                "seconds": seconds,
                "per_class_acc": per_class,
            }
        )
        self._save_checkpoint(epoch)
        self._completed_epochs = epoch
        self._write_summary("running", epoch)
        self._emit(
            EpochEnd(epoch, cfg.epochs, train_loss, train_acc, val_loss, val_acc, lr, ips, seconds, per_class, is_best, grad_norms)
        )
        if cfg.patience and self.epochs_since_best >= cfg.patience and epoch < cfg.epochs:
            self._log(f"early stop: no better validation accuracy for {cfg.patience} epochs (best {self.best_val_acc:.1%} at epoch {self.best_epoch})")
            return True
        return False

    def _train_one_epoch(self, epoch: int):
        model, device = self.model, self.device
        set_train_mode(model, True)
        loss_sum = torch.zeros((), device=device)
        correct_sum = torch.zeros((), device=device)
        grad_sum = torch.zeros(len(self._block_params), device=device)
        grad_count = 0
        seen = 0
        pending: list[tuple[int, torch.Tensor, torch.Tensor, int, float]] = []
        started = last_flush = time.perf_counter()
        paused = 0.0  # time spent paused does not count against the image rate
        step = 0
        for inputs, labels in self._train_batches():
            waiting = time.perf_counter()
            self.control.check()
            paused += time.perf_counter() - waiting
            step += 1
            measure = bool(self._block_params) and (step - 1) % self.grad_stats_every == 0
            batch_loss, batch_correct, norms = self._train_step(inputs, labels, measure)
            if norms is not None:
                grad_sum += norms
                grad_count += 1
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            n = labels.numel()
            loss_sum += batch_loss * n
            correct_sum += batch_correct
            seen += n
            self._steps_done += 1
            pending.append((step, batch_loss, batch_correct, n, lr))
            now = time.perf_counter()
            if device.type == "cpu" or now - last_flush >= self.sync_interval or step == self.steps_per_epoch:
                self._flush_steps(epoch, pending, seen, now - started - paused)
                pending.clear()
                last_flush = now
        if seen == 0:
            raise StudioError("every training image in this epoch failed to load")
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - started - paused
        self._flush_steps(epoch, pending, seen, train_time)
        grad_norms = dict(zip(self._block_params, (grad_sum / grad_count).tolist())) if grad_count else {}
        return (loss_sum / seen).item(), (correct_sum / seen).item(), seen, train_time, grad_norms

    def _train_step(self, inputs: torch.Tensor, labels: torch.Tensor, measure_grads: bool):
        """One optimiser step on a batch: (mean loss, number correct, block gradient norms
        or None), as device tensors. When the batch does not fit in memory it is retried in
        smaller pieces whose gradients add up to the whole batch's (the piece size found
        is kept for the rest of the run)."""
        while True:
            pieces = self._train_memory.pieces(labels.numel())
            try:
                return self._accumulated_step(inputs, labels, pieces, measure_grads)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not is_out_of_memory(exc):
                    raise
            # outside the except block, so the failed attempt's activations can be freed
            self.optimizer.zero_grad(set_to_none=True)
            self._train_memory.shrink(math.ceil(labels.numel() / pieces))

    def _accumulated_step(self, inputs: torch.Tensor, labels: torch.Tensor, pieces: int, measure_grads: bool):
        n = labels.numel()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        for x, y in zip(inputs.tensor_split(pieces), labels.tensor_split(pieces)):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                logits = self.net(x)
                loss = self.criterion(logits, y)
            # each piece's mean loss, weighted by its share: the gradients sum to the batch's
            self.scaler.scale(loss if pieces == 1 else loss * (y.numel() / n)).backward()
            loss_sum += loss.detach().float() * y.numel()
            correct += (logits.detach().argmax(1) == y).sum()
            del logits, loss
        norms = None
        if measure_grads:
            self.scaler.unscale_(self.optimizer)
            norms = self._block_grad_norms()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss_sum / n, correct, norms

    def _memory_fallback(self, phase: str, old: int, new: int) -> None:
        """Tell the log and the window that batches now run in pieces of `new` images."""
        batch = self.config.batch_size
        where = memory_name(self.device)
        if phase == "training":
            pieces = math.ceil(batch / new)
            message = (
                f"out of {where} with {old} images at once: each batch of {batch} now runs as {pieces} pieces "
                f"of up to {new}, with the gradients accumulated, so training goes on with the same batch size"
            )
        else:
            message = f"out of {where} during {phase} with {old} images at once: carrying on with {new} at a time"
        self._log(message, "warning")
        self._emit(MemoryFallback(phase, batch, new, message))

    def _train_batches(self):
        """(inputs, labels) on the device for one epoch: augmented images, or the
        backbone's features when only the head trains (then self.net is the head)."""
        if self.features is not None:
            yield from self.features[0].batches(self.train_loader.index_batches())
            return
        for batch in self.train_loader:
            self._note_broken(batch.errors)
            if batch.labels.numel():
                yield self._device_images(batch, self.config.augment), batch.labels.to(self.device, non_blocking=True)

    def _device_images(self, batch: Batch, augment: bool) -> torch.Tensor:
        """A batch's cropped (random crops and flips if `augment`), normalized images on the device."""
        cfg = self.config
        pixels = batch.pixels.to(self.device, non_blocking=True)
        sizes = batch.sizes.to(self.device, non_blocking=True)
        if augment:
            images = train_batch(pixels, sizes, cfg.image_size, self._augment_gen, cfg.color_jitter)
        else:
            images = eval_batch(pixels, sizes, cfg.image_size)
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    @torch.no_grad()
    def _compute_features(self) -> tuple[FeatureBank, FeatureBank]:
        """The frozen backbone's pooled output for every training and validation image,
        from one pass over the images; from now on the steps train only the head."""
        started = time.perf_counter()
        set_train_mode(self.model, True)  # frozen parts are in eval mode, as in the usual steps
        backbone = nn.Sequential(*list(self.model.children())[:-1], nn.Flatten())
        banks = []
        for samples in (self.scan.train, self.scan.val):
            bank = FeatureBank(samples, self.model.fc.in_features, self.device)
            for batch in BatchLoader(samples, **self._loading):  # every image, in order
                self.control.check()
                self._note_broken(batch.errors)
                if batch.labels.numel():
                    with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                        bank.add(batch.indices, self._eval_memory(backbone, self._device_images(batch, augment=False)))
            banks.append(bank)
        self.net = self.model.fc
        self._log(
            f"head-only training without augmentation: the backbone's features of {sum(len(b) for b in banks)} images "
            f"took {time.perf_counter() - started:.1f} s, once; each epoch trains the head on them"
        )
        return banks[0], banks[1]

    def _block_grad_norms(self) -> torch.Tensor:
        """The gradient norm of each block of self._block_params, as one tensor on the
        device (reading it back would wait for the device: that is done per epoch)."""
        norms = []
        for params in self._block_params.values():
            grads = [p.grad for p in params if p.grad is not None]
            norms.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros((), device=self.device))
        return torch.stack(norms).float()

    def _flush_steps(self, epoch: int, pending, seen: int, train_time: float) -> None:
        """Turn buffered device values into StepEnd events and metrics lines (one sync)."""
        if not pending:
            return
        values = torch.stack([torch.stack([l.float(), c.float()]) for _, l, c, _, _ in pending]).tolist()
        elapsed = time.perf_counter() - self._run_started
        total_steps = (self.config.epochs - self.start_epoch + 1) * self.steps_per_epoch
        rate = self._steps_done / elapsed if elapsed > 0 else 0.0
        eta = (total_steps - self._steps_done) / rate if rate > 0 else 0.0
        ips = seen / train_time if train_time > 0 else 0.0
        memory = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        for (step, _, _, n, lr), (loss, correct) in zip(pending, values):
            global_step = (epoch - 1) * self.steps_per_epoch + step
            self._metrics.write({"event": "step", "epoch": epoch, "step": global_step, "loss": loss, "lr": lr})
            self._emit(StepEnd(epoch, step, self.steps_per_epoch, global_step, loss, correct / n, lr, ips, eta, memory))

    def _note_broken(self, errors: list[str]) -> None:
        """Skip and log, once each, images that failed to load during training."""
        for error in errors:
            path, reason = error.split(": ", 1)
            if all(s.path != path for s in self.skipped):
                self.skipped.append(SkippedFile(path, reason))
                self._log(f"skipped {path} during training: {reason}", "warning")

    def _log_cache_use(self) -> None:
        cache = self.cache
        if self.use_features:
            return
        if cache.budget_bytes == 0:
            self._log("image cache off: every image is decoded from disk every epoch")
            return
        message = f"image cache: {len(cache)} decoded images, {_megabytes(cache.nbytes)} of {_megabytes(cache.budget_bytes)}"
        if cache.full:
            message += "; full, so the other images are decoded from disk every epoch (a larger --cache-mb keeps them)"
        self._log(message)

    def _val_batches(self):
        """(inputs, labels) on the device: centre-cropped images, or the head's features."""
        if self.features is not None:
            yield from self.features[1].batches(self.val_loader.index_batches())
            return
        for batch in self.val_loader:
            self._note_broken(batch.errors)
            if batch.labels.numel():
                yield self._device_images(batch, augment=False), batch.labels.to(self.device, non_blocking=True)

    @torch.no_grad()
    def _evaluate(self):
        model, device = self.model, self.device
        model.eval()
        n_classes = len(self.classes)
        confusion = torch.zeros(n_classes, n_classes, dtype=torch.long, device=device)
        loss_sum = torch.zeros((), device=device)
        seen = 0
        for inputs, labels in self._val_batches():
            self.control.check()
            with torch.autocast(device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                logits = self._eval_memory(self.net, inputs)
            loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum")
            preds = logits.argmax(1)
            cells = labels * n_classes + preds
            confusion.view(-1).scatter_add_(0, cells, torch.ones_like(cells))  # bincount would wait for the device
            seen += labels.numel()
        if seen == 0:
            raise StudioError("no validation image could be read")
        cm = confusion.cpu()
        per_class_total = cm.sum(1).clamp(min=1)
        per_class = {c: float(cm[i, i] / per_class_total[i]) for i, c in enumerate(self.classes)}
        return (loss_sum / seen).item(), float(cm.diag().sum() / seen), per_class, cm.tolist()

    # ------------------------------------------------------------ saving

    def _model_meta(self, epoch: int, val_acc: float) -> dict:
        from .. import __version__

        cfg = self.config
        return {
            "depth": cfg.depth,
            "classes": list(self.classes),
            "image_size": cfg.image_size,
            "resize_size": resize_size_for(cfg.image_size),
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "project_version": __version__,
            "trainable": cfg.trainable,
            "weights": str(cfg.weights),
            "epoch": epoch,
            "val_acc": val_acc,
        }

    def _save_model(self, epoch: int, val_acc: float) -> None:
        ckpt.save_model(self.model, self.run_dir / runs.MODEL, self._model_meta(epoch, val_acc))

    def _save_checkpoint(self, epoch: int) -> None:
        """The state after `epoch` completed epochs (on a stop mid-epoch: the weights so far,
        and the interrupted epoch is redone on resume)."""
        state = {
            "epoch": epoch,
            "model": {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "best_confusion": self.best_confusion,
            "final_val_acc": self.final_val_acc,
            "epochs_since_best": self.epochs_since_best,
            "classes": list(self.classes),
            "train": [[p, l] for p, l in self.scan.train],
            "val": [[p, l] for p, l in self.scan.val],
            "skipped": [[s.path, s.reason] for s in self.skipped],
            "memory_pieces": self._memory_pieces(),
        }
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        ckpt.save_checkpoint(self.run_dir, state)

    def _memory_pieces(self) -> dict:
        """The most images per pass that fit, where a batch had to be split (else None)."""
        return {"training": self._train_memory.piece, "validation": self._eval_memory.piece}

    def _write_summary(self, status: str, epochs_completed: int) -> None:
        summary = {
            "status": status,
            "epochs_completed": epochs_completed,
            "epochs": self.config.epochs,
            "best_epoch": self.best_epoch,
            "best_val_acc": self.best_val_acc,
            "final_val_acc": self.final_val_acc,
            "classes": list(self.classes),
            "num_train": self.scan.num_train,
            "num_val": self.scan.num_val,
            "skipped_files": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "confusion_matrix": self.best_confusion,
            "device": describe_device(self.device),
        }
        if any(self._memory_pieces().values()):  # batches ran in pieces after running out of memory
            summary["memory_pieces"] = self._memory_pieces()
        if status == "running":
            summary["pid"] = os.getpid()  # a "running" run whose process is gone was interrupted
        path = self.run_dir / runs.SUMMARY
        try:
            ckpt.atomic_write_json(path, summary)
        except OSError:
            if status == "running":
                raise
            # a full disk has no room for a second copy: how the run ended still goes in,
            # over the old summary's own space
            ckpt.overwrite_in_place(path, json.dumps(summary, indent=2) + "\n")


def _existing_ancestor(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n < 10 * 2**20 else f"{n / 2**20:.0f} MB"


def _versions() -> dict:
    import torchvision

    from .. import __version__

    return {"resnet_studio": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__}
