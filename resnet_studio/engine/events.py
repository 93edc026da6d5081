"""Typed events the trainer hands to its callbacks.

Every field is a plain Python value (numbers, strings, lists, dicts): no tensors, so
a callback can keep an event without keeping an autograd graph or GPU memory alive.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    config: dict
    classes: list[str]
    class_counts: dict[str, int]  # training + validation images per class
    num_train: int
    num_val: int
    skipped_files: list[SkippedFile]
    device: str  # e.g. "cpu", "cuda:0 (NVIDIA H100)"
    start_epoch: int  # 1-based epoch the run starts (or resumes) at
    epochs: int
    steps_per_epoch: int


@dataclass(frozen=True)
class StepEnd:
    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    global_step: int  # 1-based over the whole run
    loss: float
    accuracy: float  # of this batch
    lr: float
    images_per_sec: float
    eta_seconds: float  # until the end of the run
    gpu_memory_mb: float | None = None


@dataclass(frozen=True)
class EpochEnd:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    images_per_sec: float
    seconds: float
    per_class_acc: dict[str, float]
    is_best: bool
    # Per residual block ("layer3.5"), the norm of its parameters' gradients averaged
    # over the epoch's steps; empty for frozen blocks.
    block_grad_norms: dict[str, float] = field(default_factory=dict)
    confusion_matrix: list[list[int]] = field(default_factory=list)  # [true][predicted], validation images


@dataclass(frozen=True)
class LogMessage:
    level: str  # "info", "warning" or "error"
    message: str


@dataclass(frozen=True)
class MemoryFallback:
    """A batch did not fit in the device's memory; the run goes on in smaller pieces."""

    phase: str  # "training", "validation" or "features"
    batch_size: int  # the configured batch
    piece_size: int  # images per forward/backward pass from now on
    message: str  # one line for a person


@dataclass(frozen=True)
class RunFinished:
    status: str  # "completed", "cancelled" or "failed"
    run_dir: str
    epochs_completed: int
    best_epoch: int | None
    best_val_acc: float | None
    final_val_acc: float | None
    model_path: str | None  # model.safetensors, when one was saved
    message: str = ""  # why it failed or stopped, one line
