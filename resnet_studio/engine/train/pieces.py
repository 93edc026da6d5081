"""A training step that runs out of memory, and the same step again in pieces.

When a batch does not fit, the step is retried as pieces whose gradients add up to the
whole batch's (loop.Trainer._train_step). For the retry to give the step that would have
been taken, everything the failed attempt changed is put back first:

    BatchNormStats     the running statistics the pieces that ran had already updated
    forget_scaler_step what the gradient scaler recorded (gradients unscaled, inf checks)
    zero_grad          (the optimiser's) the gradients accumulated so far

and while a batch runs in pieces, batch normalization is adjusted (`pieces_batch_norm`):
the running statistics move once per batch, as they would have, and pieces too small
to normalize over use the running statistics instead of their own.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator

import torch
from torch import nn

__all__ = [
    "BN_MIN_PIECE",
    "BatchNormStats",
    "batch_norm_in_pieces",
    "forget_scaler_step",
    "pieces_batch_norm",
    "running_statistics_for",
]

#: the smallest piece that normalizes over itself; smaller pieces use the running
#: statistics. From ImageNet weights those are the pretrained network's, and are better
#: than a few images' (Wu and He, Group Normalization, 2018: ResNet-50's ImageNet error
#: with batch norm over 32, 16, 8, 4, 2 images per GPU: 23.6, 23.7, 24.8, 27.3, 34.7 %);
#: from scratch they are not yet worth anything (measured: ResNet-18, 160 generated
#: images, pieces of 8 on the running statistics lost 0.2-0.35 of accuracy, pieces of 8
#: and 4 over themselves none), so only a single image uses them.
BN_MIN_PIECE = {"pretrained": 8, "scratch": 2}


def _training_batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training and m.track_running_stats and m.running_mean is not None
    ]


class BatchNormStats:
    """A copy of the running statistics of `model`'s training batch-norm layers, taken
    before each step and put back when the step fails part-way. One multi-tensor copy of
    a few thousand numbers per step."""

    def __init__(self, model: nn.Module):
        self.buffers: list[torch.Tensor] = []
        for m in _training_batch_norms(model):
            self.buffers += [m.running_mean, m.running_var, m.num_batches_tracked]
        self.saved = [b.clone() for b in self.buffers]

    def save(self) -> None:
        if self.buffers:
            torch._foreach_copy_(self.saved, self.buffers)

    def restore(self) -> None:
        if self.buffers:
            torch._foreach_copy_(self.buffers, self.saved)


def forget_scaler_step(scaler: torch.amp.GradScaler) -> None:
    """Forget what `scaler` recorded of a step that failed part-way: after unscale_ (or an
    error inside scaler.step) it holds the step as unscaled, and the retry's gradients,
    multiplied by the scale again, would be applied as they are (or unscale_ refuse to
    run). GradScaler has no public call for this: update() would also move the scale."""
    if scaler.is_enabled():
        from torch.amp.grad_scaler import _refresh_per_optimizer_state

        scaler._per_optimizer_states = defaultdict(_refresh_per_optimizer_state)


def running_statistics_for(piece_size: int, pretrained: bool) -> bool:
    """Whether pieces of `piece_size` images normalize with the running statistics."""
    return piece_size < BN_MIN_PIECE["pretrained" if pretrained else "scratch"]


def batch_norm_in_pieces(piece_size: int, pretrained: bool) -> str:
    """What batch norm layers normalize with in pieces of `piece_size` images (for the log)."""
    return "their running statistics" if running_statistics_for(piece_size, pretrained) else "each piece's own statistics"


@contextlib.contextmanager
def pieces_batch_norm(model: nn.Module, pieces: int, piece_size: int, pretrained: bool) -> Iterator[str]:
    """Batch normalization for one batch run as `pieces` pieces of up to `piece_size` images.

    Pieces of BN_MIN_PIECE images or more (8 from pretrained weights, 2 from scratch)
    normalize over themselves (a sample of the batch, as "ghost" batch norm does), and
    each updates the running statistics with a momentum that makes the `pieces` updates
    together move them as far as the whole batch's one. Smaller pieces normalize with the
    running statistics (the layers' weights still train), and leave them as they are.
    Yields what the layers normalize with, for the log.
    """
    layers = _training_batch_norms(model) if pieces > 1 else []
    if not layers:
        yield "whole batches"
        return
    if running_statistics_for(piece_size, pretrained):
        for m in layers:
            m.eval()
        try:
            yield batch_norm_in_pieces(piece_size, pretrained)
        finally:
            for m in layers:
                m.train()
        return
    saved = [m.momentum for m in layers]
    for m in layers:
        if m.momentum is not None:  # None: a cumulative average, which counts updates itself
            m.momentum = 1 - (1 - m.momentum) ** (1 / pieces)
    try:
        yield batch_norm_in_pieces(piece_size, pretrained)
    finally:
        for m, momentum in zip(layers, saved):
            m.momentum = momentum
