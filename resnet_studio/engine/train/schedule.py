"""The optimiser and the learning-rate schedule of a run.

SGD with Nesterov momentum or AdamW, no weight decay on biases and batch-norm
parameters, a linear warm-up then a cosine decay, stepped once per batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..config import TrainConfig

__all__ = ["cosine_with_warmup", "param_groups", "make_optimizer", "StepSchedule", "make_scheduler", "continue_schedule"]


def cosine_with_warmup(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The learning-rate factor at each step: 0.01 -> 1 over the warm-up, then a cosine to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return 0.01 + 0.99 * step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and batch-norm parameters (they are not weights to shrink)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, config.resolved_weight_decay())
    lr = config.resolved_lr()
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)


class StepSchedule:
    """Each parameter group's learning rate at every step: its peak rate times `factor(step)`.

    One step per batch, whether or not the optimiser stepped: with fp16 the gradient
    scaler skips the steps whose gradients overflowed (often the first ones), and the
    schedule still follows the batches, so a resumed run continues where it was.
    (torch's LRScheduler warns when its first step comes before any optimiser step.)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, factor: Callable[[int], float]):
        self.optimizer = optimizer
        self.factor = factor
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.steps = 0
        self._apply()

    def step(self) -> None:
        self.steps += 1
        self._apply()

    def seek(self, step: int) -> None:
        """Put the schedule at `step`, with the rates it gives there."""
        self.steps = int(step)
        self._apply()

    def _apply(self) -> None:
        factor = self.factor(self.steps)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        # checkpoints written with torch's LambdaLR count their steps in "last_epoch"
        self.seek(state.get("steps", state.get("last_epoch", 0)))


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> StepSchedule:
    total = config.epochs * steps_per_epoch
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total // 2)
    return StepSchedule(optimizer, cosine_with_warmup(warmup, total))


def continue_schedule(scheduler: StepSchedule, step: int) -> None:
    """Put a resumed schedule at `step` (the first step of the epoch being redone), with
    the learning rates it gives there; the run's epochs may have changed since."""
    scheduler.seek(step)
