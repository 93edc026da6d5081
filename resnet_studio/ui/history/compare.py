"""Compare runs: validation accuracy and loss curves overlaid, settings side by side.

Reads run folders only through the engine's RunRecord (engine.runs): no torch. One
colour per run, the same in both plots, in the legend above them (outside the plots, so
it covers no curve) and in the table's header. The axes show plain numbers (no SI
scaling); accuracy runs up to 100 % with room above it, so that tick and the points on it show.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine import runs as engine_runs

from .. import format as fmt
from .panel import epochs_text, model_text

__all__ = ["CompareView", "CompareDialog", "run_record", "SETTINGS_ROWS"]

COLORS = ("#3b6fd8", "#ef7d22", "#2a9d8f", "#c2417b", "#8e6bd8", "#6a9a23", "#d8a31b", "#5b6770")
PADDING = 0.05  # room around the points, a share of each axis' span: no point sits on the frame
LABEL_OVERHANG = 12  # pixels the last epoch's label may reach past the end of the x axis
SETTINGS_ROWS = (
    ("dataset", "Dataset"),
    ("model", "Model"),
    ("weights", "Weights"),
    ("trainable", "Trains"),
    ("image_size", "Image size"),
    ("batch_size", "Batch size"),
    ("optimizer", "Optimizer"),
    ("lr", "Learning rate"),
    ("epochs", "Epochs"),
    ("best_val_acc", "Best val acc"),
    ("best_epoch", "Best epoch"),
    ("final_val_acc", "Final val acc"),
    ("time", "Time"),
    ("status", "Status"),
)


def run_record(run_dir: str | os.PathLike) -> dict:
    """What the comparison shows of one run: its curves and its settings as text."""
    run = engine_runs.RunRecord.load(run_dir)
    config = run.config
    rows = run.epoch_rows()
    done = run.epochs_completed if run.summary else len(rows)
    weights = str(config.get("weights", "—"))
    if weights not in ("imagenet", "none", "—"):
        weights = Path(weights).name
    lr = config.get("lr")
    return {
        "path": run.path,
        "name": run.display_name,  # the name given in History, else the folder's
        "epoch": [int(r.get("epoch", 0)) for r in rows],
        "val_acc": [float(r["val_acc"]) * 100 if r.get("val_acc") is not None else float("nan") for r in rows],
        "val_loss": [float(r["val_loss"]) if r.get("val_loss") is not None else float("nan") for r in rows],
        "settings": {
            "dataset": run.dataset or "—",
            "model": model_text(run),
            "weights": {"imagenet": "ImageNet", "none": "from scratch"}.get(weights, weights),
            "trainable": str(config.get("trainable", "—")),
            "image_size": f"{config['image_size']} px" if config.get("image_size") else "—",
            "batch_size": str(config.get("batch_size", "—")),
            "optimizer": {"sgd": "SGD", "adamw": "AdamW"}.get(str(config.get("optimizer")), str(config.get("optimizer", "—"))),
            "lr": f"{float(lr):.3g}" if isinstance(lr, (int, float)) else "auto",
            "epochs": epochs_text(done, run.epochs),
            "best_val_acc": fmt.fraction(run.best_val_acc),
            "best_epoch": str(run.best_epoch or "—"),
            "final_val_acc": fmt.fraction(run.final_val_acc),
            "time": fmt.duration(run.seconds(rows) or None),
            "status": run.status,
        },
        "best_val_acc": run.best_val_acc,
    }


class CompareView(QWidget):
    """Overlaid validation curves of several runs and their settings in one table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[dict] = []
        self.labels: list[str] = []  # one per record: in the legends and the table's header
        pal = self.palette()
        background = pal.color(QPalette.ColorRole.Base)
        self._foreground = pal.color(QPalette.ColorRole.Text)
        fg = self._foreground.name()

        def plot(title: str, y_label: str) -> pg.PlotWidget:
            widget = pg.PlotWidget(background=background)
            widget.setMinimumSize(260, 200)
            item = widget.getPlotItem()
            item.setTitle(title, color=fg, size="10pt", bold=True)
            item.setLabel("bottom", "epoch", color=fg)
            item.setLabel("left", y_label, color=fg)
            item.showGrid(x=True, y=True, alpha=0.15)
            for axis in ("left", "bottom"):
                item.getAxis(axis).setPen(pg.mkPen(fg, width=1))
                item.getAxis(axis).setTextPen(pg.mkPen(fg))
                item.getAxis(axis).enableAutoSIPrefix(False)  # a loss of 0.1 to 0.5 reads so, not "(x0.001)" 100 to 500
            item.getAxis("bottom").setStyle(hideOverlappingLabels=LABEL_OVERHANG)
            item.getViewBox().setDefaultPadding(PADDING)
            return widget

        self.acc_plot = plot("Validation accuracy", "%")
        self.loss_plot = plot("Validation loss", "cross-entropy")
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.setChildrenCollapsible(False)
        plots.addWidget(self.acc_plot)
        plots.addWidget(self.loss_plot)
        self.legend = QLabel()  # the runs' colours, above both plots
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setContentsMargins(10, 6, 10, 4)
        self.legend.setBackgroundRole(QPalette.ColorRole.Base)
        self.legend.setAutoFillBackground(True)
        charts = QWidget()
        column = QVBoxLayout(charts)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.legend)
        column.addWidget(plots, 1)

        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumSectionSize(120)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        self.note = QLabel()
        self.note.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        body = QSplitter(Qt.Orientation.Vertical)
        body.setChildrenCollapsible(False)
        body.addWidget(charts)
        body.addWidget(self.table)
        body.setSizes([330, 360])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(body, 1)
        layout.addWidget(self.note)

    def set_runs(self, run_dirs: list[str]) -> None:
        self.records = [run_record(d) for d in run_dirs]
        self.labels = _labels([r["name"] for r in self.records])
        for widget in (self.acc_plot, self.loss_plot):
            widget.getPlotItem().clear()
        self.legend.setText(" &nbsp; ".join(
            f'<span style="white-space:nowrap"><span style="color:{COLORS[i % len(COLORS)]}">━●━</span>'
            f"&nbsp;{html.escape(label)}</span>" for i, label in enumerate(self.labels)
        ))
        symbol = dict(symbol="o", symbolSize=6, symbolPen=None, antialias=True)
        for i, (rec, label) in enumerate(zip(self.records, self.labels)):
            color = COLORS[i % len(COLORS)]
            for widget, key in ((self.acc_plot, "val_acc"), (self.loss_plot, "val_loss")):
                widget.plot(rec["epoch"], rec[key], pen=pg.mkPen(color, width=2), symbolBrush=color, name=label, **symbol)
        longest = max((max(r["epoch"]) for r in self.records if r["epoch"]), default=1)
        for widget in (self.acc_plot, self.loss_plot):  # whole epochs on the x axis of short runs
            widget.getPlotItem().getAxis("bottom").setTickSpacing(*((1, 1) if longest <= 20 else (None, None)))
        self.acc_plot.getPlotItem().setYRange(accuracy_floor(self.records), 100, padding=PADDING)
        self._fill_table()
        empty = [r["name"] for r in self.records if not r["epoch"]]
        self.note.setText(f"No finished epoch yet: {', '.join(empty)}" if empty else "")

    def _fill_table(self) -> None:
        self.table.clear()
        self.table.setColumnCount(len(self.records))
        self.table.setRowCount(len(SETTINGS_ROWS))
        self.table.setVerticalHeaderLabels([label for _, label in SETTINGS_ROWS])
        best = max((r["best_val_acc"] for r in self.records if isinstance(r["best_val_acc"], (int, float))), default=None)
        for col, rec in enumerate(self.records):
            swatch = QPixmap(12, 12)
            swatch.fill(QColor(COLORS[col % len(COLORS)]))
            header = QTableWidgetItem(QIcon(swatch), self.labels[col])
            header.setToolTip(rec["path"])
            self.table.setHorizontalHeaderItem(col, header)
            values = rec["settings"]
            for row, (key, _label) in enumerate(SETTINGS_ROWS):
                item = QTableWidgetItem(values.get(key, "—"))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                differs = len({r["settings"].get(key) for r in self.records}) > 1
                if differs and key not in ("best_val_acc", "final_val_acc", "time", "best_epoch", "status"):
                    font = QFont(item.font())
                    font.setItalic(True)
                    item.setFont(font)
                    item.setToolTip("Differs between the runs")
                if key == "best_val_acc" and best is not None and rec["best_val_acc"] == best and len(self.records) > 1:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                    item.setForeground(QBrush(QColor(COLORS[col % len(COLORS)])))
                self.table.setItem(row, col, item)


def accuracy_floor(records: list[dict]) -> float:
    """Where the accuracy axis starts (it ends at 100 %): the tens below the lowest point,
    at most 90, so that runs close together stay apart."""
    values = [v for r in records for v in r["val_acc"] if math.isfinite(v)]
    return float(min(90, math.floor(min(values) / 10) * 10)) if values else 0.0


def _short(name: str, seconds: bool = False) -> str:
    """'20261122-101500-photos-resnet50' -> '11-22 10:15 photos-resnet50' (or '11-22 10:15:00 …')."""
    parts = name.split("-", 2)
    if len(parts) == 3 and len(parts[0]) == 8 and parts[0].isdigit() and len(parts[1]) == 6 and parts[1].isdigit():
        d, t = parts[0], parts[1]
        clock = f"{t[:2]}:{t[2:4]}" + (f":{t[4:]}" if seconds else "")
        return f"{d[4:6]}-{d[6:8]} {clock} {parts[2]}"
    return name


def _labels(names: list[str]) -> list[str]:
    """The runs' short names; with seconds, or whole, where the short ones would read the same."""
    for seconds in (False, True):
        labels = [_short(name, seconds) for name in names]
        if len(set(labels)) == len(labels):
            return labels
    return list(names)


class CompareDialog(QDialog):
    """A window holding a CompareView of the given runs."""

    def __init__(self, run_dirs: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare {len(run_dirs)} runs")
        self.resize(1000, 720)
        self.view = CompareView()
        self.view.set_runs(run_dirs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(buttons)
        layout.addLayout(row)

    def shutdown(self, timeout_ms: int = 0) -> bool:
        """Nothing runs in the background here (the runs were read when it opened); True.
        For the window, which shuts every dialog down alike."""
        return True
