"""What a run leaves in its folder, as callbacks the loop calls: Lightning's shape, our code.

The loop trains and validates; everything written to the run folder, and the decision
to stop early, happens here. After each epoch the callbacks run in this order, so a
kill at any point leaves a consistent folder:

    SaveBestModel    model.safetensors + model.json, when the epoch is the best so far
                     (and a log line saying so)
    WriteEpochLine   the epoch's line in metrics.jsonl (before the checkpoint: killed in
                     between, resume drops the line and redoes the epoch)
    SaveCheckpoint   checkpoint.pt: the completed epoch's training state
    WriteSummary     summary.json, "running" with this process's id
    EarlyStopping    asks the loop to stop after `patience` epochs without a better one

At the end of a run, in the same order, ReportCompletion (before WriteSummary) logs the
line that says a run completed, with its epochs, its training time and its best epoch.

Each epoch reaches the callbacks as the EpochEnd event the listeners get next: plain
numbers, never tensors.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

from .. import checkpoint as ckpt
from .. import io, runs
from ..data import resize_size_for
from ..devices import describe_device
from ..events import EpochEnd
from ..models import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from .loop import Trainer

__all__ = [
    "Callback",
    "SaveBestModel",
    "WriteEpochLine",
    "SaveCheckpoint",
    "WriteSummary",
    "EarlyStopping",
    "ReportCompletion",
    "run_folder_callbacks",
    "duration_words",
]


class Callback:
    """No-op hooks; a callback overrides the ones it needs. The loop calls them in list order."""

    def on_run_start(self, trainer: Trainer) -> None:
        """The run folder is ready and the first epoch is about to start."""

    def on_epoch_end(self, trainer: Trainer, result: EpochEnd) -> None:
        """An epoch was trained and validated (result); the callbacks before this one have run."""

    def on_run_end(self, trainer: Trainer, status: str, message: str) -> None:
        """The run ended: completed, cancelled or failed (`message` says why, one line)."""


class SaveBestModel(Callback):
    """The best epoch's model, first of all; the run's best epoch is updated only once its
    model is on disk, so the summary never names a model that is not."""

    def on_epoch_end(self, trainer, result):
        p = trainer.progress
        if result.is_best:
            ckpt.save_model(trainer.model, trainer.run_dir / runs.MODEL, model_meta(trainer, result.epoch, result.val_acc))
            p.best_val_acc, p.best_epoch, p.best_confusion = result.val_acc, result.epoch, result.confusion_matrix
            p.epochs_since_best = 0
            trainer.log(f"epoch {result.epoch}: best so far (val {result.val_acc:.1%}), model saved")
        else:
            p.epochs_since_best += 1


def model_meta(trainer: Trainer, epoch: int, val_acc: float) -> dict:
    """What model.json says of a model: what is needed to use it, and where it came from."""
    from ... import __version__

    cfg = trainer.config
    return {
        "depth": cfg.depth,
        "stem": cfg.resolved_stem(),  # the trainer resolved auto before the run: what load_model rebuilds
        "classes": list(trainer.classes),
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


class WriteEpochLine(Callback):
    def on_epoch_end(self, trainer, result):
        trainer.metrics.write(
            {
                "event": "epoch",
                "epoch": result.epoch,
                "train_loss": result.train_loss,
                "train_acc": result.train_acc,
                "val_loss": result.val_loss,
                "val_acc": result.val_acc,
                "lr": result.lr,
                "images_per_sec": result.images_per_sec,
                "seconds": result.seconds,
                "per_class_acc": result.per_class_acc,
            }
        )


class SaveCheckpoint(Callback):
    """checkpoint.pt after every epoch, which makes the epoch completed (resume starts after
    it); on a stop mid-epoch, the weights so far, labelled with the last completed epoch
    (the interrupted one is redone on resume)."""

    def on_epoch_end(self, trainer, result):
        ckpt.save_checkpoint(trainer.run_dir, training_state(trainer, result.epoch))
        trainer.progress.completed_epochs = result.epoch

    def on_run_end(self, trainer, status, message):
        if status != "cancelled":
            return
        epoch = trainer.progress.completed_epochs
        try:
            ckpt.save_checkpoint(trainer.run_dir, training_state(trainer, epoch))
        except OSError as exc:
            trainer.tell(f"stopped; the checkpoint could not be updated ({exc.strerror or exc}), the previous one is kept",
                         "warning")
        else:
            trainer.tell(f"stopped; the checkpoint of epoch {epoch} is kept for --resume")


def training_state(trainer: Trainer, epoch: int) -> dict:
    """Everything resuming needs: tensors and plain data only (loaded with weights_only=True).
    The split is not in it: split.json holds it."""
    p = trainer.progress
    state = {
        "epoch": epoch,
        "model": {k: v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()},
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "best_val_acc": p.best_val_acc,
        "best_epoch": p.best_epoch,
        "best_confusion": p.best_confusion,
        "final_val_acc": p.final_val_acc,
        "epochs_since_best": p.epochs_since_best,
        "classes": list(trainer.classes),
        "skipped": [[s.path, s.reason] for s in trainer.skipped],
        "memory_pieces": trainer.memory_pieces(),
    }
    if trainer.scaler.is_enabled():
        state["scaler"] = trainer.scaler.state_dict()
    return state


class ReportCompletion(Callback):
    """The log's last line of a run that completed: "run completed: 10 epochs in 3 min 12 s,
    best val 93.1% at epoch 8". The time is the run's training time (RunRecord.seconds: its
    epochs', those before a resume included)."""

    def on_run_end(self, trainer, status, message):
        if status != "completed":
            return
        p = trainer.progress
        done, planned = p.completed_epochs, trainer.config.epochs
        epochs = f"{done} epoch{'s' if done != 1 else ''}" if done >= planned else f"{done} of {planned} epochs"
        best = f", best val {p.best_val_acc:.1%} at epoch {p.best_epoch}" if p.best_val_acc is not None else ""
        seconds = runs.RunRecord(str(trainer.run_dir)).seconds()
        trainer.tell(f"run completed: {epochs} in {duration_words(seconds)}{best}")


def duration_words(seconds: float) -> str:
    """12.3 -> '12 s', 192 -> '3 min 12 s', 3725 -> '1 h 2 min'."""
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class WriteSummary(Callback):
    """summary.json: "running" (with this process's id) after each epoch, how it ended at the end."""

    def on_epoch_end(self, trainer, result):
        write_summary(trainer, "running")

    def on_run_end(self, trainer, status, message):
        # a full disk must not hide how the run ended: the loop still sends RunFinished and
        # reports the failed write (the summary has its own full-disk fallback, write_summary)
        write_summary(trainer, status)
        trainer.metrics.write({"event": "end", "status": status, "epoch": trainer.progress.completed_epochs, "time": time.time()})


def write_summary(trainer: Trainer, status: str) -> None:
    p = trainer.progress
    summary = {
        "status": status,
        "epochs_completed": p.completed_epochs,
        "epochs": trainer.config.epochs,
        "best_epoch": p.best_epoch,
        "best_val_acc": p.best_val_acc,
        "final_val_acc": p.final_val_acc,
        "classes": list(trainer.classes),
        "num_train": trainer.scan.num_train,
        "num_val": trainer.scan.num_val,
        "skipped_files": [{"path": s.path, "reason": s.reason} for s in trainer.skipped],
        "confusion_matrix": p.best_confusion,
        "device": describe_device(trainer.device),
    }
    pieces = trainer.memory_pieces()
    if any(pieces.values()):  # batches ran in pieces after running out of memory
        summary["memory_pieces"] = pieces
    if status == "running":
        summary["pid"] = os.getpid()  # a "running" run whose process is gone was interrupted
    path = trainer.run_dir / runs.SUMMARY
    try:
        io.atomic_write_json(path, summary)
    except OSError:
        if status == "running":
            raise
        # a full disk has no room for a second copy: how the run ended still goes in,
        # over the old summary's own space
        io.overwrite_in_place(path, json.dumps(summary, indent=2) + "\n")


class EarlyStopping(Callback):
    """Stop once `patience` epochs in a row brought no better validation accuracy."""

    def __init__(self, patience: int):
        self.patience = patience

    def on_epoch_end(self, trainer, result):
        p = trainer.progress
        if p.epochs_since_best >= self.patience and result.epoch < trainer.config.epochs:
            trainer.log(
                f"early stop: no better validation accuracy for {self.patience} epochs "
                f"(best {p.best_val_acc:.1%} at epoch {p.best_epoch})"
            )
            trainer.should_stop = True


def run_folder_callbacks(patience: int | None) -> list[Callback]:
    """The callbacks every run has, in the order that keeps its folder consistent."""
    callbacks = [SaveBestModel(), WriteEpochLine(), SaveCheckpoint(), ReportCompletion(), WriteSummary()]
    if patience:
        callbacks.append(EarlyStopping(patience))
    return callbacks
