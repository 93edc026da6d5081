"""The Train tab's plots: loss, accuracy, learning rate and GPU memory, on an epoch axis.

`TrainPlots` is the widget that holds them. It is cheap to create; `build()` imports
pyqtgraph (~0.7 s) and makes the plots and their curves, once. After that a curve is only
ever fed with `setData` (`draw`). Step curves use peak (or, for smooth ones, mean)
downsampling and clip-to-view, so a 100,000-step run redraws as quickly as a short one.

Each plot sits under a header (`PlotCard`): its title and its legend, a row of line samples
that wraps, so no legend covers a curve. The axes show plain numbers (pyqtgraph's SI
scaling, "lr (x0.001)", is off); the learning rate reads 1e-3, 5e-4. Accuracy spans 0 to
100 % with room above, so the 100 tick and points at 100 % show; the epoch axis leaves
room for its last tick and the last points.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .series import CurveBuffers

__all__ = [
    "TrainPlots",
    "PlotCard",
    "epoch_plot",
    "legend_html",
    "rate_ticks",
    "ACCURACY_RANGE",
    "TRAIN_COLOR",
    "VAL_COLOR",
    "LR_COLOR",
    "GPU_COLOR",
]

TRAIN_COLOR = "#3b6fd8"
VAL_COLOR = "#ef7d22"
LR_COLOR = "#2a9d8f"
GPU_COLOR = "#9b59b6"
GRID_ALPHA = 0.15
#: the accuracy axis, in %, and the room left around it (a share of the span): 100 keeps its
#: tick, and a point at 100 % its whole symbol
ACCURACY_RANGE = (0.0, 100.0, 0.05)
#: room around the epochs on the x axis (a share of the span), so the last points do not sit
#: on the frame; and how far (pixels) the last tick's label may reach past the axis' end
X_PADDING = 0.03
X_LABEL_OVERHANG = 12
#: line samples in a legend: a line, a dashed line, a line through a point
SAMPLES = {"line": "━━", "dash": "╍╍", "dots": "━●━"}


def epoch_plot(y_label: str, palette: QPalette, left_axis=None):
    """A pyqtgraph PlotWidget over an epoch axis in `palette`'s colours: on the Base
    colour, axis labels and axes in the Text colour, a faint grid, and plain numbers on the
    axes (no SI scaling). Its title is its PlotCard's. `left_axis`: an AxisItem for the y
    axis (its tick labels)."""
    import pyqtgraph as pg

    foreground = palette.color(QPalette.ColorRole.Text).name()
    axes = {"left": left_axis} if left_axis is not None else None
    widget = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base), axisItems=axes)
    item = widget.getPlotItem()
    item.setLabel("bottom", "epoch", color=foreground)
    item.setLabel("left", y_label, color=foreground)
    item.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setPen(pg.mkPen(foreground, width=1))
        item.getAxis(axis).setTextPen(pg.mkPen(foreground))
        item.getAxis(axis).enableAutoSIPrefix(False)  # "lr (x0.001)" over 0 to 1: no
    item.getAxis("bottom").setStyle(hideOverlappingLabels=X_LABEL_OVERHANG)  # the last epoch's label shows
    return widget


def rate_ticks(values, scale: float = 1.0, spacing: float = 0.0) -> list[str]:
    """Tick labels for learning rates: decimals from 0.01 up (0.1, 0.05), compact scientific
    notation below (1e-3, 5e-4, 2.5e-5); 0 as "0"."""
    values = [v * scale for v in values]
    top = max((abs(v) for v in values), default=0.0)
    if top >= 0.01:
        return [f"{v:.4g}" for v in values]
    labels = []
    for v in values:
        if abs(v) <= top * 1e-9:
            labels.append("0")
            continue
        mantissa, exponent = f"{v:.3e}".split("e")
        labels.append(f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}")
    return labels


def _rate_axis():
    """A left AxisItem that labels learning rates with rate_ticks."""
    import pyqtgraph as pg

    axis = pg.AxisItem(orientation="left")
    axis.tickStrings = rate_ticks  # pyqtgraph's hook for tick labels: (values, scale, spacing) -> strings
    return axis


def legend_html(entries, background: QColor) -> str:
    """Legend entries as rich text: (name, colour, sample) with sample one of SAMPLES, and
    the colour's alpha mixed over `background` (a faint curve has a faint sample)."""
    parts = []
    for name, color, sample in entries:
        c = QColor(color)
        a = c.alphaF()
        mixed = QColor.fromRgbF(*(a * x + (1 - a) * y for x, y in zip(c.getRgbF()[:3], background.getRgbF()[:3])))
        parts.append(f'<span style="white-space:nowrap"><span style="color:{mixed.name()}">{SAMPLES[sample]}</span>'
                     f"&nbsp;{html.escape(name)}</span>")
    return " &nbsp; ".join(parts)


class PlotCard(QFrame):
    """A plot under its header: a bold title, then its legend (legend_html) on the same line,
    wrapping onto more lines when the plot is narrow; never over the curves."""

    def __init__(self, title: str, plot: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot
        self.setObjectName("plotCard")
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setAutoFillBackground(True)
        self._title = title
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setContentsMargins(10, 6, 10, 0)
        self.set_legend([])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(plot, 1)

    def set_legend(self, entries) -> None:
        """The legend's entries: (name, colour, sample), see legend_html."""
        self.legend_entries = list(entries)
        background = self.palette().color(QPalette.ColorRole.Base)
        legend = legend_html(self.legend_entries, background)
        self.header.setText(f"<b>{html.escape(self._title)}</b>" + (f" &nbsp;&nbsp; {legend}" if legend else ""))


def _faint(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


class TrainPlots(QWidget):
    """Loss and accuracy over the epochs (top), learning rate and GPU memory (bottom).

    Until `build()` the widget is empty and the plot attributes are None; the x axis and
    the GPU plot's visibility set before then apply when it is built. `curves` maps each
    of SERIES_NAMES to its PlotDataItem; `cards` each plot's name ("loss", "accuracy",
    "lr", "gpu") to its PlotCard (the header with its title and legend).
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.loss_plot = self.acc_plot = self.lr_plot = self.gpu_plot = None
        self.curves: dict = {}
        self.cards: dict[str, PlotCard] = {}
        self._x_epochs: int | None = None
        self._gpu_visible = False

    @property
    def built(self) -> bool:
        return bool(self.curves)

    def build(self) -> None:
        """Make the plots and curves (once; imports pyqtgraph)."""
        if self.built:
            return
        import pyqtgraph as pg

        pal = self.palette()

        def plot(y_label: str, left_axis=None) -> pg.PlotWidget:
            widget = epoch_plot(y_label, pal, left_axis=left_axis)
            widget.setMinimumSize(220, 130)
            item = widget.getPlotItem()
            item.setDownsampling(auto=True, mode="peak")
            item.setClipToView(True)
            item.setMenuEnabled(True)
            for axis in ("left", "bottom"):
                # major and minor grid lines only: the third level multiplies the lines
                # and made each redraw ~5x slower (measured: ~100 ms -> ~20 ms a frame)
                item.getAxis(axis).setStyle(maxTickLevel=1)
            item.getViewBox().setMouseEnabled(x=True, y=False)
            return widget

        def line(color, width: int = 2, **style):
            return pg.mkPen(color, width=width, **style)

        def dots(color: str) -> dict:
            return dict(symbol="o", symbolSize=7, antialias=True, symbolBrush=color, symbolPen=None)

        self.loss_plot = plot("cross-entropy")
        self.acc_plot = plot("%")
        low, high, padding = ACCURACY_RANGE
        self.acc_plot.getPlotItem().setYRange(low, high, padding=padding)
        self.acc_plot.getPlotItem().enableAutoRange(axis="y", enable=False)
        self.lr_plot = plot("learning rate", left_axis=_rate_axis())
        self.gpu_plot = plot("MB")

        loss, acc = self.loss_plot.plot, self.acc_plot.plot
        self.curves = {
            "train_loss": loss(pen=line(_faint(TRAIN_COLOR, 70), 1)),
            "train_loss_smooth": loss(pen=line(TRAIN_COLOR), antialias=True),
            "val_loss": loss(pen=line(VAL_COLOR), **dots(VAL_COLOR)),
            "batch_acc_smooth": acc(pen=line(_faint(TRAIN_COLOR, 90), 1, style=Qt.PenStyle.DashLine)),
            "train_acc": acc(pen=line(TRAIN_COLOR), **dots(TRAIN_COLOR)),
            "val_acc": acc(pen=line(VAL_COLOR), **dots(VAL_COLOR)),
            "lr": self.lr_plot.plot(pen=line(LR_COLOR), antialias=True),
            "gpu_memory": self.gpu_plot.plot(pen=line(GPU_COLOR), fillLevel=0, brush=_faint(GPU_COLOR, 40)),
        }
        self.cards = {
            "loss": PlotCard("Loss", self.loss_plot),
            "accuracy": PlotCard("Accuracy", self.acc_plot),
            "lr": PlotCard("Learning rate", self.lr_plot),
            "gpu": PlotCard("GPU memory (peak)", self.gpu_plot),
        }
        self.cards["loss"].set_legend([("train (step)", _faint(TRAIN_COLOR, 70), "line"),
                                       ("train (smoothed)", TRAIN_COLOR, "line"), ("validation", VAL_COLOR, "dots")])
        self.cards["accuracy"].set_legend([("train (batches, smoothed)", _faint(TRAIN_COLOR, 90), "dash"),
                                           ("train", TRAIN_COLOR, "dots"), ("validation", VAL_COLOR, "dots")])
        # Drawing dominates a long run's updates: at 100,000 steps across the plots, peak
        # downsampling at pyqtgraph's 5 samples a pixel left thousands of vertices a curve,
        # and rendering the tab (1300x850) took about 70 ms, most of the 80 ms between
        # updates. Smooth curves (EMAs, the schedule) need no min/max envelope: their mean
        # at 2 samples a pixel draws the same line; GPU memory keeps its peaks, at 2 a pixel.
        # Rendering then took about 27 ms (measured alternately, 4 x 5 renders each). The
        # raw loss keeps peak mode at 5 a pixel: thin and not antialiased, it is cheap.
        for name in ("train_loss_smooth", "batch_acc_smooth", "lr", "gpu_memory"):
            curve = self.curves[name]
            curve.opts["autoDownsampleFactor"] = 2.0
            curve.setDownsampling(auto=True, method="peak" if name == "gpu_memory" else "mean")

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)
        for row, (left, right) in enumerate((("loss", "accuracy"), ("lr", "gpu"))):
            pair = QHBoxLayout()
            pair.setSpacing(8)
            pair.addWidget(self.cards[left], 3)
            pair.addWidget(self.cards[right], 2)
            grid.addLayout(pair, row, 0)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        self.set_gpu_visible(self._gpu_visible)  # after the layout: a widget without a parent would open a window
        self.set_epoch_axis(self._x_epochs)

    def set_epoch_axis(self, epochs: int | None) -> None:
        """Fix the x axis to the run's epochs (None: follow the data).

        A fixed axis is not re-laid out on every update: each live redraw costs about
        a third of what it does with auto-ranging (measured ~38 -> ~13 ms).
        """
        self._x_epochs = epochs
        if not self.built:
            return
        for widget in (self.loss_plot, self.acc_plot, self.lr_plot, self.gpu_plot):
            item = widget.getPlotItem()
            if epochs:
                item.enableAutoRange(axis="x", enable=False)
                item.setXRange(0, epochs, padding=X_PADDING)
            else:
                item.enableAutoRange(axis="x", enable=True)

    def set_gpu_visible(self, visible: bool) -> None:
        """Show the GPU memory plot (once a run reports memory: CUDA only)."""
        self._gpu_visible = visible
        if self.built:
            self.cards["gpu"].setVisible(visible)
            self.gpu_plot.setVisible(visible)

    def draw(self, buffers: CurveBuffers, names) -> None:
        """Hand the named curves their buffered points: one setData each (nothing before build())."""
        if not self.built:
            return
        for name in names:
            self.curves[name].setData(*buffers.data(name))
