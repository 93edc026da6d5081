"""The Train tab: Start / Pause / Stop, progress, live curves and the run's log.

Curves are created once; new points go into numpy buffers that double when full, up to
a bound (MAX_SERIES_POINTS a curve: beyond it a curve halves its resolution by min/max
decimation, so memory stays flat however long the run), and each curve gets one
`setData` per update (updates arrive throttled by the worker). The log keeps its last
MAX_LOG_LINES lines.
The plots (and pyqtgraph's import, ~0.7 s) are built just after the window first shows,
so they never delay it.
Step curves use peak downsampling and clip-to-view, so a 100,000-step run redraws
as quickly as a short one. The x axis of every plot is the epoch (fractional for
steps), so per-step and per-epoch curves line up.
"""

from __future__ import annotations

import html
import math
import os
import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QElapsedTimer, QEvent, QSettings, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..widgets import Banner, palette_colors

__all__ = ["TrainTab", "GrowingSeries", "format_duration", "SERIES_NAMES"]

TRAIN_COLOR = "#3b6fd8"
VAL_COLOR = "#ef7d22"
LR_COLOR = "#2a9d8f"
GPU_COLOR = "#9b59b6"
SMOOTHING = 0.95  # EMA factor of the smoothed step curves (bias-corrected)
MAX_LOG_LINES = 5000
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


def format_duration(seconds: float | None) -> str:
    """12 -> '12 s', 252 -> '4:12', 3723 -> '1:02:03'."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _Ema:
    """Bias-corrected exponential moving average (as TensorBoard's smoothing)."""

    def __init__(self, beta: float):
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


class _Stat(QWidget):
    """A small caption over a large value: one figure of the run at a glance."""

    def __init__(self, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._caption = QLabel(caption.upper())
        self._value = QLabel("—")
        font = self._caption.font()
        font.setPointSizeF(font.pointSizeF() * 0.78)
        font.setBold(True)
        self._caption.setFont(font)
        self._caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        font = self._value.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        self._value.setFont(font)
        self._value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._caption)
        layout.addWidget(self._value)

    def set_value(self, text: str, tooltip: str = "") -> None:
        self._value.setText(text)
        self.setToolTip(tooltip)

    def value(self) -> str:
        return self._value.text()


class TrainTab(QWidget):
    """Controls, progress, curves and log of the current (or an opened) run.

    Buttons: Start emits `startRequested` (the window knows the configuration);
    Pause/Resume and Stop act on the attached TrainingController, which flips the
    engine's RunControl flags directly.
    """

    startRequested = Signal()

    #: points each curve keeps at most (beyond it, min/max decimation: see GrowingSeries)
    max_series_points = MAX_SERIES_POINTS

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._controller = None
        self._can_start = False
        self._start_reason: str | Callable[[], str] = "Choose a data folder first."
        self._title = ""
        self._last_error = ""
        self._run_dir: str | None = None
        self._epochs = 0
        self._steps_per_epoch = 0
        self._total_steps = 0
        self._first_step = 0
        self._best: tuple[float, int] | None = None
        self._last_eta: float | None = None
        self._loss_ema = _Ema(SMOOTHING)
        self._acc_ema = _Ema(SMOOTHING)
        self._elapsed = QElapsedTimer()
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._series = {name: GrowingSeries(max_points=self.max_series_points) for name in SERIES_NAMES}
        self._build()
        self._set_state("idle")

    # ================================================================ layout

    def _build(self) -> None:
        style = self.style()
        self.start_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Start training with the settings on the left (Ctrl+Return)")
        self.pause_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPause), "Pause")
        self.pause_button.setToolTip("Pause after the current batch; Resume continues where it left off")
        self.stop_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop_button.setToolTip("Stop after the current batch; the last epoch's checkpoint is kept for resuming")
        for b in (self.start_button, self.pause_button, self.stop_button):
            b.setMinimumWidth(92)
            b.setIconSize(QSize(14, 14))
        self.start_button.clicked.connect(self._on_start_clicked)
        self.start_button.installEventFilter(self)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.stop_button.clicked.connect(self._on_stop_clicked)

        self.state_label = QLabel()
        font = self.state_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.state_label.setFont(font)
        self.detail_label = QLabel()
        self.detail_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.detail_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.state_label)
        titles.addWidget(self.detail_label)

        controls = QHBoxLayout()
        controls.setSpacing(6)
        controls.addWidget(self.start_button)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.stop_button)
        controls.addSpacing(14)
        controls.addLayout(titles, 1)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumHeight(22)
        self.progress.setFormat("")

        self.stat_epoch = _Stat("Epoch")
        self.stat_loss = _Stat("Train loss")
        self.stat_val = _Stat("Val accuracy")
        self.stat_best = _Stat("Best val acc")
        self.stat_speed = _Stat("Images / s")
        self.stat_elapsed = _Stat("Elapsed")
        self.stat_eta = _Stat("ETA")
        stats = QHBoxLayout()
        stats.setSpacing(22)
        for s in (self.stat_epoch, self.stat_loss, self.stat_val, self.stat_best, self.stat_speed, self.stat_elapsed, self.stat_eta):
            stats.addWidget(s)
        stats.addStretch(1)

        self.banner = Banner()

        # -- plots
        self.plots = QWidget()  # filled by ensure_plots()
        self._plots_built = False
        self._gpu_seen = False
        self._x_epochs: int | None = None
        self.empty_state = self._build_empty_state()
        self.plot_stack = QStackedWidget()
        self.plot_stack.addWidget(self.empty_state)
        self.plot_stack.addWidget(self.plots)

        # -- log
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("runLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setPlaceholderText("Messages from the training run appear here: skipped files, checkpoints, warnings.")
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(max(8.0, self.font().pointSizeF() * 0.92))
        self.log_view.setFont(mono)
        log_title = QLabel("Log")
        log_title.setFont(self._bold())
        self.open_folder_button = QToolButton()
        self.open_folder_button.setText("Open run folder")
        self.open_folder_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.open_folder_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.open_folder_button.setAutoRaise(True)
        self.open_folder_button.setEnabled(False)
        self.open_folder_button.clicked.connect(self._open_run_folder)
        clear_log = QToolButton()
        clear_log.setText("Clear")
        clear_log.setAutoRaise(True)
        clear_log.clicked.connect(self.log_view.clear)
        log_header = QHBoxLayout()
        log_header.addWidget(log_title)
        log_header.addStretch(1)
        log_header.addWidget(self.open_folder_button)
        log_header.addWidget(clear_log)
        log_box = QWidget()
        log_layout = QVBoxLayout(log_box)
        log_layout.setContentsMargins(0, 4, 0, 0)
        log_layout.setSpacing(2)
        log_layout.addLayout(log_header)
        log_layout.addWidget(self.log_view)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("trainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.plot_stack)
        self.splitter.addWidget(log_box)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([520, 150])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.setSpacing(8)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addLayout(stats)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)

    def _bold(self) -> QFont:
        font = QFont(self.font())
        font.setBold(True)
        return font

    def _build_empty_state(self) -> QWidget:
        box = QFrame()
        box.setObjectName("emptyState")
        title = QLabel("No training curves yet")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        title.setFont(font)
        self.empty_hint = QLabel()
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        for label in (title, self.empty_hint):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(box)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(self.empty_hint)
        layout.addStretch(2)
        return box

    def ensure_plots(self) -> None:
        """Build the plots once (imports pyqtgraph, ~0.7 s); buffered data is drawn.

        Called on first need at the latest; the window calls it just after it first shows.
        """
        if self._plots_built:
            return
        self._plots_built = True
        self._build_plots(self.plots)
        self.gpu_plot.setVisible(self._gpu_seen)
        self._set_epoch_axis(self._x_epochs)
        self._redraw(self._series)

    def _build_plots(self, box: QWidget) -> None:
        import pyqtgraph as pg

        pal = self.palette()
        background = pal.color(QPalette.ColorRole.Base)
        foreground = pal.color(QPalette.ColorRole.Text)
        grid_alpha = 0.15

        def plot(title: str, y_label: str) -> pg.PlotWidget:
            widget = pg.PlotWidget(background=background)
            widget.setMinimumSize(220, 150)
            item = widget.getPlotItem()
            item.setTitle(title, color=foreground.name(), size="10pt", bold=True)
            item.setLabel("bottom", "epoch", color=foreground.name())
            item.setLabel("left", y_label, color=foreground.name())
            item.showGrid(x=True, y=True, alpha=grid_alpha)
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
            item.setMenuEnabled(True)
            for axis in ("left", "bottom"):
                ax = item.getAxis(axis)
                ax.setPen(pg.mkPen(foreground.name(), width=1))
                ax.setTextPen(pg.mkPen(foreground.name()))
                # major and minor grid lines only: the third level multiplies the lines
                # and made each redraw ~5x slower (measured: ~100 ms -> ~20 ms a frame)
                ax.setStyle(maxTickLevel=1)
            item.getViewBox().setMouseEnabled(x=True, y=False)
            return widget

        def legend(widget: pg.PlotWidget, offset=(-8, 8)):
            lg = widget.getPlotItem().addLegend(offset=offset, labelTextColor=foreground.name())
            fill = QColor(background)
            fill.setAlpha(200)
            lg.setBrush(pg.mkBrush(fill))
            return lg

        def faint(color: str, alpha: int) -> QColor:
            c = QColor(color)
            c.setAlpha(alpha)
            return c

        self.loss_plot = plot("Loss", "cross-entropy")
        legend(self.loss_plot)
        self.acc_plot = plot("Accuracy", "%")
        legend(self.acc_plot, offset=(-8, -8))  # bottom right: accuracy climbs away from it
        self.acc_plot.getPlotItem().setYRange(0, 100, padding=0.04)
        self.acc_plot.getPlotItem().enableAutoRange(axis="y", enable=False)
        self.lr_plot = plot("Learning rate", "lr")
        self.gpu_plot = plot("GPU memory (peak)", "MB")

        symbol = dict(symbol="o", symbolSize=7, antialias=True)
        self._curves = {
            "train_loss": self.loss_plot.plot(pen=pg.mkPen(faint(TRAIN_COLOR, 70), width=1), name="train (step)"),
            "train_loss_smooth": self.loss_plot.plot(pen=pg.mkPen(TRAIN_COLOR, width=2), name="train (smoothed)", antialias=True),
            "val_loss": self.loss_plot.plot(
                pen=pg.mkPen(VAL_COLOR, width=2), symbolBrush=VAL_COLOR, symbolPen=None, name="validation", **symbol
            ),
            "batch_acc_smooth": self.acc_plot.plot(
                pen=pg.mkPen(faint(TRAIN_COLOR, 90), width=1, style=Qt.PenStyle.DashLine), name="train (batches, smoothed)"
            ),
            "train_acc": self.acc_plot.plot(
                pen=pg.mkPen(TRAIN_COLOR, width=2), symbolBrush=TRAIN_COLOR, symbolPen=None, name="train", **symbol
            ),
            "val_acc": self.acc_plot.plot(
                pen=pg.mkPen(VAL_COLOR, width=2), symbolBrush=VAL_COLOR, symbolPen=None, name="validation", **symbol
            ),
            "lr": self.lr_plot.plot(pen=pg.mkPen(LR_COLOR, width=2), antialias=True),
            "gpu_memory": self.gpu_plot.plot(pen=pg.mkPen(GPU_COLOR, width=2), fillLevel=0, brush=faint(GPU_COLOR, 40)),
        }
        # Drawing dominates a long run's updates: at 100,000 steps across the plots, peak
        # downsampling at pyqtgraph's 5 samples a pixel left thousands of vertices a curve,
        # and rendering the tab (1300x850) took about 70 ms, most of the 80 ms between
        # updates. Smooth curves (EMAs, the schedule) need no min/max envelope: their mean
        # at 2 samples a pixel draws the same line; GPU memory keeps its peaks, at 2 a pixel.
        # Rendering then took about 27 ms (measured alternately, 4 x 5 renders each). The
        # raw loss keeps peak mode at 5 a pixel: thin and not antialiased, it is cheap.
        for name in ("train_loss_smooth", "batch_acc_smooth", "lr", "gpu_memory"):
            curve = self._curves[name]
            curve.opts["autoDownsampleFactor"] = 2.0
            curve.setDownsampling(auto=True, method="peak" if name == "gpu_memory" else "mean")
        self.gpu_plot.hide()

        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(8)
        top.addWidget(self.loss_plot, 3)
        top.addWidget(self.acc_plot, 2)
        bottom = QHBoxLayout()
        bottom.setSpacing(8)
        bottom.addWidget(self.lr_plot, 3)
        bottom.addWidget(self.gpu_plot, 2)
        grid.addLayout(top, 0, 0)
        grid.addLayout(bottom, 1, 0)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)

    # ================================================================ public API

    def attach(self, controller) -> None:
        """Follow a TrainingController: its progress fills this tab, its buttons drive it."""
        self._controller = controller
        controller.runStarted.connect(self._on_run_started)
        controller.stepsReady.connect(self.add_steps)
        controller.epochEnded.connect(self.add_epoch)
        controller.logMessage.connect(self.append_log)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(self._on_failed)
        controller.runningChanged.connect(self._on_running_changed)
        controller.pausedChanged.connect(self._on_paused_changed)

    def set_can_start(self, can_start: bool, reason: str | Callable[[], str] = "") -> None:
        """Whether the settings allow a run; `reason` (text, or a function giving it) says why not."""
        self._can_start = bool(can_start)
        self._start_reason = reason
        self._update_buttons()
        self._update_empty_hint()

    def start_reason(self) -> str:
        """Why Start is disabled ("" when it is enabled)."""
        if self._can_start:
            return ""
        reason = self._start_reason() if callable(self._start_reason) else self._start_reason
        return reason or "The setup is not complete yet."

    def begin_run(self, title: str, history: list[dict] | None = None) -> None:
        """Clear the tab for a new run; a resumed run first shows what it did so far."""
        self.clear()
        self.banner.hide()
        self._set_state("preparing", title)
        if history:
            self._plot_history(history, completed_epochs_only=True)

    def show_history(
        self, title: str, rows: list[dict], status: str = "", run_dir: str | None = None, epochs: int | None = None
    ) -> None:
        """Show a past run's curves and log from its metrics.jsonl rows.

        `status` is a one-line description; `epochs` the number the run was set to train.
        """
        self.clear()
        self.banner.hide()
        self._plot_history(rows)
        for row in rows:
            if row.get("event") == "log":
                self.append_log(str(row.get("level", "info")), str(row.get("message", "")), row.get("time"))
        done = max((int(r.get("epoch", 0)) for r in rows if r.get("event") == "epoch"), default=0)
        total = max(int(epochs or 0), done, 1)
        self._set_epoch_axis(total)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} of {total} epochs")
        self.stat_epoch.set_value(f"{done} / {total}")
        self._run_dir = run_dir
        self.open_folder_button.setEnabled(bool(run_dir))
        self._set_state("history", title, status=status)

    def clear(self) -> None:
        for series in self._series.values():
            series.clear()
        self._loss_ema.reset()
        self._acc_ema.reset()
        self._best = None
        self._run_dir = None
        self.open_folder_button.setEnabled(False)
        self._redraw(self._series)
        self._set_epoch_axis(None)
        self._gpu_seen = False
        if self._plots_built:
            self.gpu_plot.hide()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        for stat in (self.stat_epoch, self.stat_loss, self.stat_val, self.stat_best, self.stat_speed, self.stat_elapsed, self.stat_eta):
            stat.set_value("—")
        self.log_view.clear()
        self._last_error = ""
        self.plot_stack.setCurrentWidget(self.empty_state)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The points of one curve (see SERIES_NAMES), as plotted."""
        return self._series[name].data()

    def append_log(self, level: str, message: str, when: float | None = None) -> None:
        if level == "error":
            self._last_error = message
        colors = palette_colors(self)
        stamp = time.strftime("%H:%M:%S", time.localtime(when if when else time.time()))
        text = html.escape(message)
        if level in ("warning", "error"):
            color = colors[level].name()
            text = f'<span style="color:{color}"><b>{level}:</b> {text}</span>'
        muted = colors["muted"]
        self.log_view.appendHtml(f'<span style="color:rgba({muted.red()},{muted.green()},{muted.blue()},0.75)">{stamp}</span>&nbsp; {text}')

    def show_error(self, message: str, title: str = "Training failed") -> None:
        self.banner.show_message("error", title, html.escape(message), actions=[("Dismiss", self.banner.hide)])

    def show_warning(self, title: str, message: str) -> bool:
        """A warning in the tab's banner (e.g. training went on with a smaller batch after
        the GPU ran out of memory), with a Dismiss button; plain text. An error banner
        already shown stays (errors win): then nothing is shown and False is returned.
        The banner goes away with Dismiss, or when the next run begins."""
        if self.error_message():
            return False
        self.banner.show_message("warning", title, html.escape(message), actions=[("Dismiss", self.banner.hide)])
        return True

    def error_message(self) -> str:
        """The message of the error banner, or '' when none is shown."""
        return self.banner.message() if self.banner.isVisibleTo(self) and self.banner.kind == "error" else ""

    def warning_message(self) -> str:
        """The message of the warning banner, or '' when none is shown."""
        return self.banner.message() if self.banner.isVisibleTo(self) and self.banner.kind == "warning" else ""

    def state(self) -> str:
        return self._state

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("train/splitter", self.splitter.saveState())

    def restore_settings(self, settings: QSettings) -> None:
        state = settings.value("train/splitter")
        if state is not None:
            self.splitter.restoreState(state)

    # ================================================================ updates

    def add_steps(self, steps) -> None:
        """A batch of StepEnd events (oldest first): one setData per curve."""
        if not steps:
            return
        n = len(steps)
        xs = np.empty(n)
        loss = np.empty(n)
        smooth = np.empty(n)
        acc = np.empty(n)
        lr = np.empty(n)
        for i, s in enumerate(steps):
            xs[i] = (s.epoch - 1) + s.step / max(1, s.steps_per_epoch)
            loss[i] = s.loss
            smooth[i] = self._loss_ema(s.loss)
            acc[i] = 100.0 * self._acc_ema(s.accuracy)
            lr[i] = s.lr
        self._series["train_loss"].extend(xs, loss)
        self._series["train_loss_smooth"].extend(xs, smooth)
        self._series["batch_acc_smooth"].extend(xs, acc)
        self._series["lr"].extend(xs, lr)
        changed = ["train_loss", "train_loss_smooth", "batch_acc_smooth", "lr"]
        memory = [(x, s.gpu_memory_mb) for x, s in zip(xs, steps) if s.gpu_memory_mb is not None]
        if memory:
            mx, my = zip(*memory)
            self._series["gpu_memory"].extend(mx, my)
            changed.append("gpu_memory")
            self._gpu_seen = True
        self._show_plots()
        if self._gpu_seen and self.gpu_plot.isHidden():
            self.gpu_plot.show()
        self._redraw(changed)

        last = steps[-1]
        self._steps_per_epoch = last.steps_per_epoch
        if self._total_steps:
            self.progress.setRange(0, self._total_steps)
            self.progress.setValue(min(self._total_steps, last.global_step))
        self.progress.setFormat(
            f"Epoch {last.epoch}/{self._epochs or '?'}  ·  step {last.step}/{last.steps_per_epoch}  ·  %p%"
        )
        self.stat_epoch.set_value(f"{last.epoch} / {self._epochs or '?'}")
        self.stat_loss.set_value(f"{smooth[-1]:.3f}", f"last batch: {last.loss:.4f}")
        self.stat_speed.set_value(f"{last.images_per_sec:,.0f}" if last.images_per_sec >= 10 else f"{last.images_per_sec:.1f}")
        self._last_eta = last.eta_seconds
        self._last_eta_at = time.monotonic()
        self._tick()
        if self._state == "preparing":
            self._set_state("running")

    def add_epoch(self, e) -> None:
        """An EpochEnd event."""
        x = [float(e.epoch)]
        self._series["val_loss"].extend(x, [e.val_loss])
        self._series["train_acc"].extend(x, [100.0 * e.train_acc])
        self._series["val_acc"].extend(x, [100.0 * e.val_acc])
        self._show_plots()
        self._redraw(["val_loss", "train_acc", "val_acc"])
        self.stat_val.set_value(f"{e.val_acc:.1%}", f"validation loss {e.val_loss:.4f}")
        if self._best is None or e.val_acc > self._best[0]:
            self._best = (e.val_acc, e.epoch)
        self.stat_best.set_value(f"{self._best[0]:.1%}", f"epoch {self._best[1]}")
        self.detail_label.setText(
            f"Epoch {e.epoch} done in {format_duration(e.seconds)}: train {e.train_acc:.1%}, validation {e.val_acc:.1%}"
            + ("  ·  new best, model saved" if e.is_best else "")
        )

    # ================================================================ controller signals

    def _set_epoch_axis(self, epochs: int | None) -> None:
        """Fix the x axis to the run's epochs (None: follow the data).

        A fixed axis is not re-laid out on every update: each live redraw costs about
        a third of what it does with auto-ranging (measured ~38 -> ~13 ms).
        """
        self._x_epochs = epochs
        if not self._plots_built:
            return
        for widget in (self.loss_plot, self.acc_plot, self.lr_plot, self.gpu_plot):
            item = widget.getPlotItem()
            if epochs:
                item.enableAutoRange(axis="x", enable=False)
                item.setXRange(0, epochs, padding=0.02)
            else:
                item.enableAutoRange(axis="x", enable=True)

    def _on_run_started(self, event) -> None:
        self._set_epoch_axis(event.epochs)
        self._run_dir = event.run_dir
        self.open_folder_button.setEnabled(True)
        self._epochs = event.epochs
        self._steps_per_epoch = event.steps_per_epoch
        self._total_steps = event.epochs * event.steps_per_epoch
        self.progress.setRange(0, max(1, self._total_steps))
        self.progress.setValue((event.start_epoch - 1) * event.steps_per_epoch)
        self.progress.setFormat(f"Epoch {event.start_epoch}/{event.epochs}  ·  starting…")
        self.stat_epoch.set_value(f"{event.start_epoch} / {event.epochs}")
        self._elapsed.start()
        self._clock.start()
        self.append_log("info", f"run folder: {event.run_dir}")
        resumed = f"resuming at epoch {event.start_epoch}; " if event.start_epoch > 1 else ""
        self.detail_label.setText(
            f"{resumed}{event.num_train} training / {event.num_val} validation images, "
            f"{len(event.classes)} classes, on {event.device}"
        )
        self._set_state("running")

    def _on_running_changed(self, running: bool) -> None:
        if running and self._state not in ("preparing", "running"):
            self._set_state("preparing")
        self._update_buttons()

    def _on_paused_changed(self, paused: bool) -> None:
        if paused:
            self._set_state("paused")
        elif self._state == "paused":
            self._set_state("running")
        self._update_buttons()

    def _on_finished(self, result) -> None:
        self._clock.stop()
        self._tick()
        best = f"best validation accuracy {result.best_val_acc:.1%} (epoch {result.best_epoch})" if result.best_val_acc is not None else ""
        if result.status == "completed":
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat("Done  ·  %p%")
            self.stat_eta.set_value("done")
            self._set_state("completed", detail=best or "completed")
        else:
            self.stat_eta.set_value("—")
            self.progress.setFormat("Stopped  ·  %p%")
            detail = f"stopped after {result.epochs_completed} epoch{'s' if result.epochs_completed != 1 else ''}"
            detail += "; resume it from History" if result.run_dir else ""
            self._set_state("cancelled", detail=detail + (f"  ·  {best}" if best else ""))
        self._run_dir = result.run_dir or self._run_dir
        self.open_folder_button.setEnabled(bool(self._run_dir))
        self._update_buttons()

    def _on_failed(self, message: str) -> None:
        self._clock.stop()
        self.stat_eta.set_value("—")
        self.progress.setRange(0, 1)
        self.progress.setFormat("Failed")
        if message != self._last_error:  # the engine usually logged it already
            self.append_log("error", message)
        self.show_error(message)
        self._set_state("failed", detail=message)
        self._update_buttons()

    # ================================================================ buttons

    def _on_start_clicked(self) -> None:
        if self._can_start and not self._running():
            self.startRequested.emit()

    def _on_pause_clicked(self) -> None:
        if self._controller is not None:
            self._controller.toggle_pause()

    def _on_stop_clicked(self) -> None:
        if self._controller is not None and self._controller.is_running():
            self._controller.stop()
            self._set_state("stopping")
            self._update_buttons()

    def _running(self) -> bool:
        return self._controller is not None and self._controller.is_running()

    def _update_buttons(self) -> None:
        running = self._running()
        stopping = running and self._controller.is_stopping()
        paused = running and self._controller.is_paused()
        self.start_button.setEnabled(self._can_start and not running)
        self.start_button.setToolTip(self._start_tooltip())
        self.pause_button.setEnabled(running and not stopping)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause)
        )
        self.stop_button.setEnabled(running and not stopping)

    # ================================================================ drawing

    def _redraw(self, names) -> None:
        if not self._plots_built:
            return
        for name in names:
            x, y = self._series[name].data()
            self._curves[name].setData(x, y)

    def _show_plots(self) -> None:
        self.ensure_plots()
        if self.plot_stack.currentWidget() is not self.plots:
            self.plot_stack.setCurrentWidget(self.plots)

    def _start_tooltip(self) -> str:
        if self._can_start:
            return "Start training with the settings on the left (Ctrl+Return)"
        return f"Cannot start yet: {self.start_reason()}"

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        # the setup's reason can change without its validity changing: ask when it is needed
        if watched is self.start_button and event.type() == QEvent.Type.ToolTip:
            self.start_button.setToolTip(self._start_tooltip())
        return super().eventFilter(watched, event)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        self._update_empty_hint()
        if not self._plots_built:
            QTimer.singleShot(250, self, self.ensure_plots)  # after the window's first frames

    def _update_empty_hint(self) -> None:
        if self._can_start:
            text = "Press Start to train. Loss, accuracy and learning rate are drawn here as the run goes."
        else:
            text = self.start_reason() + "\nThen press Start; the curves are drawn here live."
        self.empty_hint.setText(text + "\nPast runs can be opened from the History tab.")

    def _plot_history(self, rows: list[dict], completed_epochs_only: bool = False) -> None:
        epochs = [r for r in rows if r.get("event") == "epoch"]
        done = max((int(r.get("epoch", 0)) for r in epochs), default=0)
        steps = [r for r in rows if r.get("event") == "step" and "loss" in r]
        if completed_epochs_only:
            steps = [r for r in steps if int(r.get("epoch", 0)) <= done]
        per_epoch: dict[int, int] = {}
        for r in steps:
            per_epoch[int(r.get("epoch", 1))] = per_epoch.get(int(r.get("epoch", 1)), 0) + 1
        spe = max(per_epoch.values(), default=1)
        xs, loss, smooth, lr = [], [], [], []
        seen: dict[int, int] = {}
        for r in steps:
            epoch = int(r.get("epoch", 1))
            seen[epoch] = seen.get(epoch, 0) + 1
            xs.append(epoch - 1 + seen[epoch] / spe)
            loss.append(float(r["loss"]))
            smooth.append(self._loss_ema(float(r["loss"])))
            lr.append(float(r.get("lr", math.nan)))
        self._series["train_loss"].extend(xs, loss)
        self._series["train_loss_smooth"].extend(xs, smooth)
        self._series["lr"].extend(xs, lr)
        for r in epochs:
            x = [float(r["epoch"])]
            self._series["val_loss"].extend(x, [float(r.get("val_loss", math.nan))])
            self._series["train_acc"].extend(x, [100.0 * float(r.get("train_acc", math.nan))])
            self._series["val_acc"].extend(x, [100.0 * float(r.get("val_acc", math.nan))])
        if epochs:
            best = max(epochs, key=lambda r: float(r.get("val_acc", -1)))
            self._best = (float(best["val_acc"]), int(best["epoch"]))
            last = epochs[-1]
            self._epochs = max(self._epochs, done)
            self.stat_val.set_value(f"{float(last['val_acc']):.1%}")
            self.stat_best.set_value(f"{self._best[0]:.1%}", f"epoch {self._best[1]}")
            self.stat_speed.set_value(f"{float(last.get('images_per_sec', 0)):,.0f}")
            self.stat_elapsed.set_value(format_duration(sum(float(r.get("seconds", 0)) for r in epochs)))
        if smooth:
            self.stat_loss.set_value(f"{smooth[-1]:.3f}")
        self._redraw(self._series)
        if steps or epochs:
            self._show_plots()

    def _tick(self) -> None:
        if self._elapsed.isValid() and self._state in ("running", "paused", "stopping", "preparing"):
            self.stat_elapsed.set_value(format_duration(self._elapsed.elapsed() / 1000))
        if self._state == "paused":
            self.stat_eta.set_value("paused")
        elif self._last_eta is not None and self._state == "running":
            left = self._last_eta - (time.monotonic() - getattr(self, "_last_eta_at", time.monotonic()))
            self.stat_eta.set_value(format_duration(max(0.0, left)))

    def _set_state(self, state: str, title: str | None = None, status: str = "", detail: str | None = None) -> None:
        self._state = state
        text = {
            "idle": "Ready",
            "preparing": "Preparing…",
            "running": "Training",
            "paused": "Paused",
            "stopping": "Stopping after this batch…",
            "completed": "Training complete",
            "cancelled": "Stopped",
            "failed": "Training failed",
            "history": title or "Past run",
        }[state]
        if state == "preparing" and title:
            self._title = title
        if state in ("running", "paused", "stopping", "preparing", "completed", "cancelled") and getattr(self, "_title", ""):
            text = f"{text}  —  {self._title}"
        self.state_label.setText(text)
        if detail is not None:
            self.detail_label.setText(detail)
        elif state == "idle":
            self.detail_label.setText("Set up a run on the left, then press Start.")
        elif state == "preparing":
            self.detail_label.setText("Checking the images and building the model…")
            self.progress.setRange(0, 0)  # busy until the first step
        elif state == "history":
            self.detail_label.setText(status)
        if state == "preparing":
            self._last_eta = None
        if state in ("idle",):
            self._update_empty_hint()
        self._update_buttons()

    def _open_run_folder(self) -> None:
        if self._run_dir and os.path.isdir(self._run_dir):
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._run_dir))
