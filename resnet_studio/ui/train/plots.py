"""The Train tab's plots: loss, accuracy, learning rate and GPU memory, on an epoch axis.

`TrainPlots` is the widget that holds them. It is cheap to create; `build()` imports
pyqtgraph (~0.7 s) and makes the plots and their curves, once. After that a curve is only
ever fed with `setData` (`draw`). Step curves use peak (or, for smooth ones, mean)
downsampling and clip-to-view, so a 100,000-step run redraws as quickly as a short one.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QWidget

from .series import CurveBuffers

__all__ = ["TrainPlots", "epoch_plot", "TRAIN_COLOR", "VAL_COLOR", "LR_COLOR", "GPU_COLOR"]

TRAIN_COLOR = "#3b6fd8"
VAL_COLOR = "#ef7d22"
LR_COLOR = "#2a9d8f"
GPU_COLOR = "#9b59b6"
GRID_ALPHA = 0.15


def epoch_plot(title: str, y_label: str, palette: QPalette):
    """A pyqtgraph PlotWidget over an epoch axis in `palette`'s colours: on the Base
    colour, a bold title, axis labels and axes in the Text colour, a faint grid."""
    import pyqtgraph as pg

    foreground = palette.color(QPalette.ColorRole.Text).name()
    widget = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
    item = widget.getPlotItem()
    item.setTitle(title, color=foreground, size="10pt", bold=True)
    item.setLabel("bottom", "epoch", color=foreground)
    item.setLabel("left", y_label, color=foreground)
    item.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setPen(pg.mkPen(foreground, width=1))
        item.getAxis(axis).setTextPen(pg.mkPen(foreground))
    return widget


def _faint(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


class TrainPlots(QWidget):
    """Loss and accuracy over the epochs (top), learning rate and GPU memory (bottom).

    Until `build()` the widget is empty and the plot attributes are None; the x axis and
    the GPU plot's visibility set before then apply when it is built. `curves` maps each
    of SERIES_NAMES to its PlotDataItem.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.loss_plot = self.acc_plot = self.lr_plot = self.gpu_plot = None
        self.curves: dict = {}
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
        background = pal.color(QPalette.ColorRole.Base)
        foreground = pal.color(QPalette.ColorRole.Text).name()

        def plot(title: str, y_label: str) -> pg.PlotWidget:
            widget = epoch_plot(title, y_label, pal)
            widget.setMinimumSize(220, 150)
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

        def legend(widget: pg.PlotWidget, offset=(-8, 8)) -> None:
            lg = widget.getPlotItem().addLegend(offset=offset, labelTextColor=foreground)
            fill = QColor(background)
            fill.setAlpha(200)
            lg.setBrush(pg.mkBrush(fill))

        def line(color, width: int = 2, **style):
            return pg.mkPen(color, width=width, **style)

        def dots(color: str) -> dict:
            return dict(symbol="o", symbolSize=7, antialias=True, symbolBrush=color, symbolPen=None)

        self.loss_plot = plot("Loss", "cross-entropy")
        legend(self.loss_plot)
        self.acc_plot = plot("Accuracy", "%")
        legend(self.acc_plot, offset=(-8, -8))  # bottom right: accuracy climbs away from it
        self.acc_plot.getPlotItem().setYRange(0, 100, padding=0.04)
        self.acc_plot.getPlotItem().enableAutoRange(axis="y", enable=False)
        self.lr_plot = plot("Learning rate", "lr")
        self.gpu_plot = plot("GPU memory (peak)", "MB")

        loss, acc = self.loss_plot.plot, self.acc_plot.plot
        self.curves = {
            "train_loss": loss(pen=line(_faint(TRAIN_COLOR, 70), 1), name="train (step)"),
            "train_loss_smooth": loss(pen=line(TRAIN_COLOR), name="train (smoothed)", antialias=True),
            "val_loss": loss(pen=line(VAL_COLOR), name="validation", **dots(VAL_COLOR)),
            "batch_acc_smooth": acc(
                pen=line(_faint(TRAIN_COLOR, 90), 1, style=Qt.PenStyle.DashLine), name="train (batches, smoothed)"
            ),
            "train_acc": acc(pen=line(TRAIN_COLOR), name="train", **dots(TRAIN_COLOR)),
            "val_acc": acc(pen=line(VAL_COLOR), name="validation", **dots(VAL_COLOR)),
            "lr": self.lr_plot.plot(pen=line(LR_COLOR), antialias=True),
            "gpu_memory": self.gpu_plot.plot(pen=line(GPU_COLOR), fillLevel=0, brush=_faint(GPU_COLOR, 40)),
        }
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
        for row, (left, right) in enumerate(((self.loss_plot, self.acc_plot), (self.lr_plot, self.gpu_plot))):
            pair = QHBoxLayout()
            pair.setSpacing(8)
            pair.addWidget(left, 3)
            pair.addWidget(right, 2)
            grid.addLayout(pair, row, 0)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        self.gpu_plot.setVisible(self._gpu_visible)  # after the layout: a widget without a parent would open a window
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
                item.setXRange(0, epochs, padding=0.02)
            else:
                item.enableAutoRange(axis="x", enable=True)

    def set_gpu_visible(self, visible: bool) -> None:
        """Show the GPU memory plot (once a run reports memory: CUDA only)."""
        self._gpu_visible = visible
        if self.built:
            self.gpu_plot.setVisible(visible)

    def draw(self, buffers: CurveBuffers, names) -> None:
        """Hand the named curves their buffered points: one setData each (nothing before build())."""
        if not self.built:
            return
        for name in names:
            self.curves[name].setData(*buffers.data(name))
