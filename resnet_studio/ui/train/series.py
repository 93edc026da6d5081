"""The Train tab's curve data, without Qt: bounded buffers, the smoother, and the mapping
of training events and metrics rows to curve points.

- `GrowingSeries`: x/y points in numpy buffers that double when full, up to a bound
  (MAX_SERIES_POINTS); beyond it the series halves its resolution by min/max decimation,
  so memory stays flat however long the run.
- `Ema`: the bias-corrected exponential moving average of the smoothed step curves.
- `CurveBuffers`: one GrowingSeries a curve (SERIES_NAMES), fed with StepEnd and EpochEnd
  events (live) or with a run's metrics.jsonl rows (replay). The x of every point is the
  epoch (fractional for steps), so per-step and per-epoch curves line up.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["GrowingSeries", "Ema", "CurveBuffers", "SERIES_NAMES", "MAX_SERIES_POINTS", "SMOOTHING"]

SMOOTHING = 0.95  # EMA factor of the smoothed step curves (bias-corrected)
# Points a curve keeps at most (GrowingSeries). 2**17: a 100,000-step run is drawn from
# every step; past the bound a curve keeps 32,768-65,536 min/max pairs, 16 or more to each
# pixel column of a 2,000 px plot. What pyqtgraph draws is peak-downsampled to the plot's
# width anyway; the buffer's size only sets the O(n) work of each update (setData and the
# downsampling: measured ~1 ms a curve at 131k points, ~6 ms at 1M) and the memory
# (2 x 8 bytes a point: ~2.5 MB a curve at most). benchmarks/long_run.py measures it.
MAX_SERIES_POINTS = 131_072

SERIES_NAMES = (
    "train_loss",  # per step, raw
    "train_loss_smooth",  # per step, EMA
    "batch_acc_smooth",  # per step, EMA of batch accuracy (%)
    "val_loss",  # per epoch
    "train_acc",  # per epoch (%)
    "val_acc",  # per epoch (%)
    "lr",  # per step
    "gpu_memory",  # per step (MB), CUDA only
)
STEP_SERIES = ("train_loss", "train_loss_smooth", "batch_acc_smooth", "lr")
EPOCH_SERIES = ("val_loss", "train_acc", "val_acc")


class GrowingSeries:
    """x/y points in numpy buffers that grow up to `max_points`, then keep their shape.

    Up to `max_points` every point is kept as given (amortised O(1) appends into buffers
    that double). Beyond it the series halves its resolution, evenly over the whole run:
    every four consecutive points become two, the lowest and the highest of them at their
    own x and in their order (min/max decimation), and points that arrive later are
    reduced the same way in buckets of as many raw points as one stored pair now stands
    for. So a long series keeps about `max_points / 2` to `max_points` points, every one
    of them a point that was added: with the default, 32,768 or more min/max pairs
    across the run, 16 or more to each pixel column of a plot 2,000 px wide, so each
    column's lowest and highest value (what a line plot draws there) is kept, but for a
    bucket astride two columns. Measured: 300,000 and 1,000,000 noisy steps drawn from the
    kept points changed under 1% of the loss plot's pixels, nearly all by antialiasing
    shades. The first point and the latest few (fewer than one bucket) are kept as given,
    so the curve starts and ends where the run did, and the series' minimum and maximum
    (a loss spike, the peak memory) are never lost. NaNs are dropped from a bucket unless
    it holds nothing else. Memory: at most 16 bytes x 1.25 `max_points` a series.
    """

    def __init__(self, capacity: int = 1024, max_points: int = MAX_SERIES_POINTS):
        if max_points < 16:
            raise ValueError("max_points must be at least 16")
        self.max_points = int(max_points)
        self._chunk = max(4, self.max_points // 4)  # raw points appended per round of reduction
        capacity = max(4, min(int(capacity), self.max_points + self._chunk))
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self.clear()

    def __len__(self) -> int:
        return self._n

    @property
    def raw_count(self) -> int:
        """How many points were added since the last clear (kept or reduced)."""
        return self._raw

    @property
    def nbytes(self) -> int:
        """Memory of the buffers (bounded by `max_points`)."""
        return self._x.nbytes + self._y.nbytes

    @property
    def points_per_bucket(self) -> int:
        """Raw points that one stored min/max pair stands for now (1: nothing reduced yet)."""
        return 1 if self._level == 0 else 2 ** (self._level + 1)

    def extend(self, xs, ys) -> None:
        xs = np.asarray(xs, dtype=np.float64).reshape(-1)
        ys = np.asarray(ys, dtype=np.float64).reshape(-1)
        if len(xs) != len(ys):
            raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
        for start in range(0, len(xs), self._chunk):
            self._append(xs[start : start + self._chunk], ys[start : start + self._chunk])

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the kept points; valid until the next extend (copy them to keep them)."""
        return self._x[: self._n], self._y[: self._n]

    def clear(self) -> None:
        self._n = 0  # points stored: [0] the first point, [1, _tail) min/max pairs, [_tail, _n) as given
        self._tail = 1
        self._level = 0  # 0: nothing reduced; k: each stored pair stands for 2**(k+1) raw points
        self._raw = 0

    # ------------------------------------------------------------ internals

    def _append(self, xs: np.ndarray, ys: np.ndarray) -> None:
        n, k = self._n, len(xs)
        if n + k > len(self._x):
            capacity = len(self._x)
            while capacity < n + k:
                capacity *= 2
            capacity = min(capacity, self.max_points + self._chunk)
            for name in ("_x", "_y"):
                grown = np.empty(capacity, dtype=np.float64)
                grown[:n] = getattr(self, name)[:n]
                setattr(self, name, grown)
        self._x[n : n + k] = xs
        self._y[n : n + k] = ys
        self._n = n + k
        self._raw += k
        if self._level:
            self._reduce_tail(self.points_per_bucket)
        while self._n > self.max_points:
            if self._level == 0:  # the first time: buckets of 4 points, reduced to 2
                self._level = 1
                self._reduce_tail(self.points_per_bucket)
            elif self._tail - 1 >= 4:  # halve the resolution of what is reduced already
                self._tail = 1 + self._pairs(1, self._tail, 4)
                self._level += 1
                self._reduce_tail(self.points_per_bucket)
            else:  # (only with a tiny max_points and a huge run) reduce the latest points further
                self._reduce_tail(4)

    def _reduce_tail(self, bucket: int) -> None:
        """Reduce the whole buckets of the as-given tail to min/max pairs, in place."""
        full = (self._n - self._tail) // bucket * bucket
        if full:
            end = self._tail + full
            self._tail += self._pairs(self._tail, end, bucket)

    def _pairs(self, start: int, end: int, group: int) -> int:
        """Replace points [start, end) by two points per `group` (the leftover, fewer than
        `group`, stays as it is); move the rest of the series up. Returns the new length
        of [start, end)."""
        groups = (end - start) // group
        stop = start + groups * group
        x = self._x[start:stop].reshape(groups, group)
        y = self._y[start:stop].reshape(groups, group)
        nan = np.isnan(y)
        lo = np.where(nan, np.inf, y).argmin(axis=1)
        hi = np.where(nan, -np.inf, y).argmax(axis=1)
        first, second = np.minimum(lo, hi), np.maximum(lo, hi)
        rows = np.arange(groups)
        out_x = np.empty((groups, 2))
        out_y = np.empty((groups, 2))
        out_x[:, 0], out_x[:, 1] = x[rows, first], x[rows, second]
        out_y[:, 0], out_y[:, 1] = y[rows, first], y[rows, second]
        kept = 2 * groups
        rest = self._n - stop  # leftover of the range and everything after it
        self._x[start : start + kept] = out_x.reshape(-1)
        self._y[start : start + kept] = out_y.reshape(-1)
        self._x[start + kept : start + kept + rest] = self._x[stop : self._n].copy()
        self._y[start + kept : start + kept + rest] = self._y[stop : self._n].copy()
        self._n = start + kept + rest
        return kept + (end - stop)


class Ema:
    """Bias-corrected exponential moving average (as TensorBoard's smoothing)."""

    def __init__(self, beta: float = SMOOTHING):
        self.beta = beta
        self.reset()

    def reset(self) -> None:
        self._value = 0.0
        self._weight = 0.0

    def __call__(self, x: float) -> float:
        if not math.isfinite(x):
            return self._value / self._weight if self._weight else x
        self._value = self.beta * self._value + (1 - self.beta) * x
        self._weight = self.beta * self._weight + (1 - self.beta)
        return self._value / self._weight


class CurveBuffers:
    """The points of every curve of a run (SERIES_NAMES), each in a bounded GrowingSeries.

    The `add_*` methods return the names of the curves they changed, to redraw.
    `smoothed_loss` is the latest smoothed training loss (None before the first step).
    """

    names = SERIES_NAMES

    def __init__(self, max_points: int = MAX_SERIES_POINTS):
        self._series = {name: GrowingSeries(max_points=max_points) for name in SERIES_NAMES}
        self._loss_ema = Ema()
        self._acc_ema = Ema()
        self.smoothed_loss: float | None = None

    def data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The kept points of one curve (views: see GrowingSeries.data)."""
        return self._series[name].data()

    @property
    def nbytes(self) -> int:
        """Memory of all the buffers."""
        return sum(series.nbytes for series in self._series.values())

    def clear(self) -> None:
        for series in self._series.values():
            series.clear()
        self._loss_ema.reset()
        self._acc_ema.reset()
        self.smoothed_loss = None

    def add_steps(self, steps) -> list[str]:
        """StepEnd events, oldest first."""
        n = len(steps)
        xs, loss, acc, lr = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        for i, s in enumerate(steps):
            xs[i] = (s.epoch - 1) + s.step / max(1, s.steps_per_epoch)
            loss[i] = s.loss
            acc[i] = 100.0 * self._acc_ema(s.accuracy)
            lr[i] = s.lr
        self._add_loss_and_lr(xs, loss, lr)
        self._series["batch_acc_smooth"].extend(xs, acc)
        changed = list(STEP_SERIES)
        memory = [(x, s.gpu_memory_mb) for x, s in zip(xs, steps) if s.gpu_memory_mb is not None]
        if memory:
            self._series["gpu_memory"].extend(*zip(*memory))
            changed.append("gpu_memory")
        return changed

    def add_epoch(self, e) -> list[str]:
        """An EpochEnd event."""
        self._add_epoch_points(e.epoch, e.val_loss, e.train_acc, e.val_acc)
        return list(EPOCH_SERIES)

    def add_rows(self, steps: list[dict], epochs: list[dict]) -> list[str]:
        """A past run's metrics.jsonl rows: its "step" rows and its "epoch" rows (one an epoch,
        as RunRecord.epoch_rows gives them). A step's x is counted within its epoch, at the
        run's largest number of steps an epoch."""
        per_epoch: dict[int, int] = {}
        for r in steps:
            epoch = int(r.get("epoch", 1))
            per_epoch[epoch] = per_epoch.get(epoch, 0) + 1
        spe = max(per_epoch.values(), default=1)
        seen: dict[int, int] = {}
        xs = []
        for r in steps:
            epoch = int(r.get("epoch", 1))
            seen[epoch] = seen.get(epoch, 0) + 1
            xs.append(epoch - 1 + seen[epoch] / spe)
        loss = [float(r["loss"]) for r in steps]
        lr = [float(r.get("lr", math.nan)) for r in steps]
        self._add_loss_and_lr(np.asarray(xs, dtype=np.float64), np.asarray(loss), np.asarray(lr))
        for r in epochs:
            self._add_epoch_points(r["epoch"], *(r.get(key, math.nan) for key in ("val_loss", "train_acc", "val_acc")))
        return list(SERIES_NAMES)

    def _add_loss_and_lr(self, xs: np.ndarray, loss: np.ndarray, lr: np.ndarray) -> None:
        smooth = np.fromiter((self._loss_ema(v) for v in loss.tolist()), dtype=np.float64, count=len(loss))
        self._series["train_loss"].extend(xs, loss)
        self._series["train_loss_smooth"].extend(xs, smooth)
        self._series["lr"].extend(xs, lr)
        if len(smooth):
            self.smoothed_loss = float(smooth[-1])

    def _add_epoch_points(self, epoch, val_loss, train_acc, val_acc) -> None:
        x = [float(epoch)]
        self._series["val_loss"].extend(x, [float(val_loss)])
        self._series["train_acc"].extend(x, [100.0 * float(train_acc)])
        self._series["val_acc"].extend(x, [100.0 * float(val_acc)])
