"""Running out of device memory, and carrying on with smaller batches.

A batch that does not fit is split: training keeps its effective batch by accumulating
the gradients of the smaller pieces before one optimiser step; evaluation and
prediction simply run the pieces one after another. Memory is freed *after* the
except block: inside it, the exception's traceback still holds the frames, and with
them the activations that filled the memory.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable

import torch

from .errors import OutOfMemory

__all__ = ["OutOfMemory", "is_out_of_memory", "free_device_memory", "memory_name", "ChunkedRunner", "piece_bounds"]


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA out-of-memory error, or the RuntimeError Apple's MPS and some CPU allocators raise."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text or "can't allocate memory" in text
    return isinstance(exc, MemoryError)


def free_device_memory(device: torch.device | None = None) -> None:
    """Give what the failed attempt allocated back to the device (call outside `except`)."""
    gc.collect()
    kind = device.type if device is not None else None
    if kind in (None, "cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    if kind == "mps":
        try:
            torch.mps.empty_cache()
        except (AttributeError, RuntimeError):
            pass


def memory_name(device: torch.device) -> str:
    return "GPU memory" if device.type in ("cuda", "mps") else "memory"


class ChunkedRunner:
    """Runs `fn` on a batch, or on pieces of it when the whole batch does not fit.

    The piece size found is kept for the next batches. `on_reduce(old, new)` is told
    each time it shrinks; OutOfMemory is raised when a piece of `floor` items fails.
    """

    def __init__(
        self,
        device: torch.device,
        what: str = "batch",
        on_reduce: Callable[[int, int], None] | None = None,
        floor: int = 1,
    ):
        self.device = device
        self.what = what
        self.on_reduce = on_reduce
        self.floor = max(1, floor)
        self.piece: int | None = None  # None: whole batches

    def pieces(self, n: int) -> int:
        """How many nearly equal pieces a batch of `n` is run in."""
        return 1 if self.piece is None or n <= self.piece else math.ceil(n / self.piece)

    def shrink(self, tried: int) -> None:
        """After an out-of-memory error with pieces of `tried` items: halve, or give up."""
        free_device_memory(self.device)
        if tried <= self.floor:
            raise OutOfMemory(
                f"out of {memory_name(self.device)} even with a {self.what} of {tried} "
                f"image{'s' if tried != 1 else ''}: try a smaller image size, a smaller model, or another device"
            )
        new = max(self.floor, tried // 2)
        self.piece = new
        if self.on_reduce:
            self.on_reduce(tried, new)

    def __call__(self, fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        """fn(inputs), computed in pieces if need be; the outputs are concatenated."""
        return self.map(lambda start, stop: fn(inputs[start:stop]), len(inputs))

    def map(self, fn: Callable[[int, int], torch.Tensor], n: int) -> torch.Tensor:
        """fn(start, stop) over pieces of items 0..n (the whole at once when it fits), the
        outputs concatenated: `fn` makes its own inputs (a crop of the batch's pixels,
        say), so what it allocates is inside the fallback too."""
        while True:
            k = self.pieces(n)
            try:
                if k == 1:
                    return fn(0, n)
                return torch.cat([fn(start, stop) for start, stop in piece_bounds(n, k)])
            except Exception as exc:  # only out-of-memory is handled
                if not is_out_of_memory(exc):
                    raise
            self.shrink(math.ceil(n / k))  # outside the except block: the failed attempt's tensors are gone


def piece_bounds(n: int, pieces: int) -> list[tuple[int, int]]:
    """(start, stop) of `pieces` nearly equal parts of n items, the larger ones first (as
    torch.tensor_split cuts)."""
    size, extra = divmod(n, pieces)
    bounds, start = [], 0
    for i in range(pieces):
        stop = start + size + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds
